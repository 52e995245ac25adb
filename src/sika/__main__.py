"""``python -m sika`` is the ``sika`` command."""

import sys

from sika import interrupts

interrupts.install()  # before the heavy imports, where a Ctrl-C could otherwise be dropped
try:
    from sika.cli.main import run
except KeyboardInterrupt:  # Ctrl-C (or a supervisor's SIGINT) while still importing: stop quietly
    sys.exit(130)

run()
