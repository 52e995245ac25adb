"""Who holds an Idempotency-Key claim: this process, named so that another can tell it is gone.

An owner is ``host/boot/pid/start``: the machine's name, its boot id (Linux: a new one at each boot),
the process id and the process's start time (so that a pid used again by a later process is not
taken for the old one). A claim whose owner ran on this machine and is gone (the machine rebooted,
or no such process runs any more) is taken over at once by a retry; an owner on another machine
cannot be checked from here, and its claim waits for the lease as before.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

__all__ = ["OWNER_CHARS_MAX", "current", "is_gone"]

OWNER_CHARS_MAX = 120
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@functools.cache
def current() -> str:
    """This process's owner name (made once: the pid and start time do not change)."""
    return _name(os.getpid())


def is_gone(owner: str | None) -> bool:
    """True when ``owner`` is certainly not running: on this machine, and rebooted away or exited."""
    if owner is None:
        return False
    host, boot, pid, start = _parts(owner)
    if host != _host() or not boot or boot != _boot_id():
        # Another machine: unknown. The same machine after a reboot: every process of before is gone.
        return host == _host() and bool(boot) and boot != _boot_id()
    if pid <= 0:
        return False
    return _start_time(pid) != start


def _name(pid: int) -> str:
    return f"{_host()}/{_boot_id()}/{pid}/{_start_time(pid)}"[:OWNER_CHARS_MAX]


def _parts(owner: str) -> tuple[str, str, int, str]:
    host, _, rest = owner.partition("/")
    boot, _, rest = rest.partition("/")
    pid, _, start = rest.partition("/")
    return host, boot, int(pid) if pid.isdigit() else 0, start


@functools.cache
def _host() -> str:
    return socket.gethostname()[:40]


@functools.cache
def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()[:40]
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat``, field 22), or ""
    when no such process runs. Without /proc, a running process is found by signal 0 alone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if Path("/proc/self/stat").exists():
            return ""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return ""
        except PermissionError:
            return "?"
        return "?"
    # The command name (field 2) may hold spaces and parentheses: count from the last ")".
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else "?"
