"""What every benchmark shares: argument checks, progress reporting, clients driven in threads, and
the arithmetic of results."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sika.errors import SikaError

__all__ = [
    "SILENT",
    "BenchError",
    "Drive",
    "Progress",
    "Send",
    "check_choice",
    "check_ranges",
    "combined",
    "drive_clients",
    "percentile",
    "rounded_json",
]


class BenchError(SikaError):
    code = "bench_invalid_argument"


def check_choice(name: str, value: str, choices: Sequence[str], error: type[BenchError]) -> None:
    """Raise ``error`` when option ``name`` is not one of ``choices``."""
    if value not in choices:
        raise error(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def check_ranges(limits: Sequence[tuple[str, float, float, float]], error: type[BenchError]) -> None:
    """Raise ``error`` naming the first option (``name, value, lowest, highest``) out of its range."""
    for name, value, low, high in limits:
        if not low <= value <= high:
            raise error(f"{name} must be between {_plain(low)} and {_plain(high)}, not {_plain(value)}")


def _plain(number: float) -> str:
    """1000000 rather than 1e+06, 0.5 as 0.5."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


class Progress(Protocol):
    """Where a run reports its progress: ``phase`` starts a bar and returns its ``advance``."""

    def phase(self, description: str, total: int) -> Callable[[int], None]: ...


class _Silent:
    def phase(self, description: str, total: int) -> Callable[[int], None]:
        return lambda _n: None


# For runs nobody watches (tests, --json without a terminal); every benchmark shares it.
SILENT: Progress = _Silent()

# Transfers a client sends between two updates of the progress bar.
_ADVANCE_EVERY = 256
# Longest the clients wait for each other at the start line: a client thread that never gets there
# (it could not start) breaks the line for all rather than leaving them waiting for ever.
_START_LINE_S = 60.0
# One client's way to send a request; returns the result codes other than ``ok``.
Send = Callable[[Sequence[Any]], list[str]]


@dataclass(slots=True)
class Drive:
    """What driving one workload through the clients measured."""

    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


def combined(drives: Sequence[Drive]) -> Drive:
    """Drives of one workload's parts, as one: their seconds added, their latencies and failures
    pooled."""
    return Drive(seconds=sum(d.seconds for d in drives),
                 latencies_s=[s for d in drives for s in d.latencies_s],
                 failures=sum((d.failures for d in drives), Counter()))


def drive_clients(
    plan: Sequence[Sequence[Sequence[Any]]], senders: Sequence[Send], advance: Callable[[int], None]
) -> Drive:
    """Run every client's requests in its own thread, all released at once; time the whole."""
    latencies: list[list[float]] = [[] for _ in plan]
    failures: list[list[str]] = [[] for _ in plan]
    errors: list[BaseException] = []
    start_line = threading.Barrier(len(plan) + 1, timeout=_START_LINE_S)

    def client(index: int) -> None:
        start_line.wait()
        done = 0
        try:
            for request in plan[index]:
                began = time.perf_counter()
                failures[index].extend(senders[index](request))
                latencies[index].append(time.perf_counter() - began)
                done += len(request)
                if done >= _ADVANCE_EVERY:
                    # A progress bar's update takes a lock shared by every client: not per request.
                    advance(done)
                    done = 0
        except BaseException as exc:  # reported in the main thread, not lost with this one
            errors.append(exc)
        finally:
            advance(done)

    threads = [threading.Thread(target=client, args=(i,), name=f"bench-client-{i}") for i in range(len(plan))]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if errors:
        raise errors[0]
    return Drive(
        seconds=seconds,
        latencies_s=[s for client_latencies in latencies for s in client_latencies],
        failures=Counter(code for client_failures in failures for code in client_failures),
    )


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0.0 for no samples), in the samples' unit."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def rounded_json(result: Any) -> dict[str, Any]:
    """A result dataclass as JSON fields, floats to three decimals."""
    values: dict[str, Any] = asdict(result)
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in values.items()}
