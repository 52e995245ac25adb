"""A Ctrl-C that lands where Python drops exceptions (a weak reference's callback, as inside an
import's module lock) is still remembered, so that a starting worker stops rather than runs on."""

from __future__ import annotations

import gc
import signal
import sys
import weakref

import pytest

from sika import interrupts


def test_a_ctrl_c_python_drops_is_still_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupts, "_requested", False)
    dropped: list[type[BaseException] | None] = []
    # Where Python prints "Exception ignored in: …" and carries on.
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: dropped.append(unraisable.exc_type))

    class Lock:
        pass

    lock = Lock()
    ref = weakref.ref(lock, lambda _gone: interrupts._on_sigint(signal.SIGINT, None))
    del lock
    gc.collect()
    assert ref() is None and dropped == [KeyboardInterrupt]  # the exception itself was lost...
    assert interrupts.requested()  # ...not the request


def test_install_leaves_an_ignored_sigint_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a shell's background job
    try:
        interrupts.install()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
