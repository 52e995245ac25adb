"""``python -m sika`` is the ``sika`` command."""

from sika.cli.main import run

run()
