"""``sika bench whatsapp``: inbound WhatsApp messages per second, wire to wire, and the webhook's latency.

One run measures the real path, every piece in its own process as in production:

1. starts :class:`sika_fakes.graph.FakeGraph` (a local Graph API, strict about Meta's
   limits) in this process, served from an asyncio event loop on a thread of its own (the lean mode:
   the load generator must not take the CPU the system under test needs);
2. a fresh database (a SQLite file in a temporary directory, or a throwaway PostgreSQL cluster with
   fsync on), migrated, with ``users`` wallets opened through :class:`~sika.wallet.Customers`, PINs
   included (hashed with argon2id at its cheapest settings, so that a thousand wallets open in seconds;
   no step of this workload asks for a PIN);
3. ``python -m sika serve`` (HTTP, webhook and workers) with ``SIKA_WHATSAPP_*`` pointing at the fake,
   plus ``processes`` ``sika worker`` processes, which share the inbox with the server;
4. ``clients`` clients of :class:`~sika.bench.webhook_load.WebhookLoad` (one asyncio event loop, each
   client on its own keep-alive connection) POST signed, Meta-shaped notifications (one message
   each), built and signed before the clock starts, and record each answer's latency. Every user goes
   round the same script, each message meaningful where the conversation stands: "menu" (the menu),
   a tap on "balance" in the menu, the shortcut "solde" or "balance", a tap on "history", "mon solde"
   or "my balance". All but "menu" read the database (the ledger's account, the payments' history);
   the WhatsApp messages each step's answer makes are in :data:`_SCRIPT`;
5. waits until the fake has received every reply the script calls for, and checks each user got
   exactly theirs, in the numbers expected.

``messages_per_s`` is end to end: from the first POST to the last reply at the fake. Meta paces a
phone number (80 messages a second by default, up to 1,000 on its highest tier):
``SIKA_WHATSAPP_RATE_PER_S`` is set far above that here, so that the pacing is not what is measured.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sika.bench.common import (
    SILENT,
    BenchError,
    Progress,
    check_choice,
    check_ranges,
    percentile,
    rounded_json,
)
from sika.bench.webhook_load import LoadResult, WebhookLoad
from sika.db import create_db_engine
from sika.devservers import free_port, temporary_postgres
from sika.ledger import Ledger
from sika.migration import upgrade
from sika.wallet import Customers, Pin, PinHasher

if TYPE_CHECKING:  # the fakes are a separate distribution, imported when the bench runs
    from sika_fakes.graph import FakeGraph

__all__ = [
    "BACKENDS",
    "MESSAGES_DEFAULT",
    "TARGET_MESSAGES_PER_S",
    "TARGET_WEBHOOK_P99_MS",
    "USERS_DEFAULT",
    "WhatsAppBenchConfig",
    "WhatsAppBenchError",
    "WhatsAppBenchResult",
    "run_whatsapp_bench",
]

BACKENDS = ("sqlite", "postgres")
MESSAGES_DEFAULT = 10_000
USERS_DEFAULT = 1_000
CLIENTS_DEFAULT = 16
# Limits, so that a typo cannot start an hour-long run or exhaust the machine.
MESSAGES_MAX = 1_000_000
USERS_MAX = 100_000
CLIENTS_MAX = 256
PROCESSES_MAX = 16
INBOX_THREADS_MAX = 16
RATE_PER_S_MAX = 100_000.0
# Issue 4: Meta's highest throughput tier, and a webhook that answers well within Meta's timeout.
TARGET_MESSAGES_PER_S = 1_000.0
TARGET_WEBHOOK_P99_MS = 250.0

# The server's own pacing of sends (Meta's cap per number); far above what is measured.
SEND_RATE_PER_S = 10_000
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
# A run whose replies stop coming for this long is over: what is missing is reported.
STALL_S = 60.0
REQUEST_TIMEOUT_S = 60.0
POLL_S = 0.05
ERROR_LINES_MAX = 10
LANGUAGES = ("fr", "en")
WEBHOOK = "/webhooks/whatsapp"
HOST = "127.0.0.1"
# The cheapest argon2id the library takes: seeding is not what is measured.
_SEED_HASHER = PinHasher(time_cost=1, memory_cost_kib=8)
_SEED_PIN = "2580"
# uvicorn's access and info lines, and the workers' INFO lines: anything else in the logs is reported.
# Also quiet: what `sika serve` and `sika worker` say at start (live providers, development defaults).
_QUIET_LINE = re.compile(r"^(INFO|DEBUG):|^\d{4}-\d\d-\d\d [\d:,.]+ (INFO|DEBUG) |^\s*$"
                         r"|^sika: (live providers|no provider is live|not configured|warning: )")


class WhatsAppBenchError(BenchError):
    code = "bench_invalid_argument"



@dataclass(frozen=True, slots=True)
class WhatsAppBenchConfig:
    backend: str = "sqlite"
    messages: int = MESSAGES_DEFAULT
    users: int = USERS_DEFAULT
    clients: int = CLIENTS_DEFAULT
    # `sika worker` processes besides `sika serve` (which runs the inbox too).
    processes: int = 0
    # Messages a second all clients together send at most; 0: as fast as the webhook answers.
    rate_per_s: float = 0.0
    # The server's line per HTTP request (off, as at this rate in production: every message is
    # recorded in the inbox; on costs about a fifth of the server's CPU).
    access_log: bool = False
    # Threads handling the inbox in each process that runs it (SIKA_WHATSAPP_INBOX_THREADS).
    inbox_threads: int = 1

    def validate(self) -> None:
        """Raise :class:`WhatsAppBenchError` naming the first argument out of its range."""
        check_choice("--backend", self.backend, BACKENDS, WhatsAppBenchError)
        check_ranges((
            ("--messages", self.messages, 1, MESSAGES_MAX),
            ("--users", self.users, 1, USERS_MAX),
            ("--clients", self.clients, 1, CLIENTS_MAX),
            ("--processes", self.processes, 0, PROCESSES_MAX),
            ("--inbox-threads", self.inbox_threads, 1, INBOX_THREADS_MAX),
            ("--rate", self.rate_per_s, 0, RATE_PER_S_MAX),
        ), WhatsAppBenchError)


@dataclass(frozen=True, slots=True)
class WhatsAppBenchResult:
    backend: str
    processes: int
    clients: int
    users: int
    messages: int
    # End to end: from the first POST to the last reply at the fake Graph API.
    seconds: float
    messages_per_s: float
    replies: int
    replies_expected: int
    replies_per_s: float
    # Messages whose replies did not all arrive (counted per user, in the script's numbers).
    unanswered: int
    webhook_p50_ms: float
    webhook_p90_ms: float
    webhook_p99_ms: float
    webhook_max_ms: float
    # How fast the clients got their notifications accepted (all POSTs, first to last answer).
    webhook_per_s: float
    rate_per_s: float
    access_log: bool
    inbox_threads: int
    # Non-200 answers (or failed connections) by status; bodies the fake refused.
    http_errors: dict[str, int]
    rejected: int
    # Warnings, errors and tracebacks in the server's and workers' logs.
    server_errors: int
    server_error_lines: list[str]
    # CPU seconds each side spent during the run, and how busy the whole machine was (0..1).
    server_cpu_s: float
    workers_cpu_s: float
    bench_cpu_s: float
    # The rest of the machine's busy CPU time: the database server on postgres, and whatever else ran.
    other_cpu_s: float
    machine_cpu_busy: float
    target: str = field(default="")
    target_met: bool = field(default=False)

    def as_json(self) -> dict[str, Any]:
        return rounded_json(self)


@dataclass(frozen=True, slots=True)
class _Step:
    """One message of the script: what is typed or tapped, and how many replies it gets."""

    kind: str  # "text" or "choice"
    words: dict[str, str]  # by language: the text typed, or the tapped option's title
    choice_id: str | None
    replies: int  # WhatsApp messages its answer makes, each checked for at the fake


# The replies column is the one to change when the rendering of a turn changes.
_SCRIPT = (
    _Step("text", {"fr": "menu", "en": "menu"}, None, 1),
    _Step("choice", {"fr": "Solde", "en": "Balance"}, "balance", 1),
    _Step("text", {"fr": "solde", "en": "balance"}, None, 1),
    _Step("choice", {"fr": "Historique", "en": "History"}, "history", 1),
    _Step("text", {"fr": "mon solde", "en": "my balance"}, None, 1),
)
assert all(step.replies >= 1 for step in _SCRIPT), "a message without a reply cannot be checked for"


@dataclass(slots=True)
class _Plan:
    """Every POST, as the bytes that go on the wire, dealt to the clients (a user's messages all go
    through one client, in order)."""

    per_client: list[list[bytes]]
    expected_by_user: dict[str, int]

    @property
    def replies_expected(self) -> int:
        return sum(self.expected_by_user.values())


def run_whatsapp_bench(config: WhatsAppBenchConfig, *,
                       progress: Progress | None = None) -> WhatsAppBenchResult:
    """One run, on a fresh database and fresh processes, all cleaned up afterwards."""
    config.validate()
    reporter = progress or SILENT
    fake_graph = _fake_graph_class()
    with tempfile.TemporaryDirectory(prefix="sika-bench-wa-") as directory, \
            _database(config.backend, Path(directory)) as url, fake_graph(serving="asyncio") as graph:
        users = _seed(url, config.users, reporter)
        secret = secrets.token_hex(16)
        port = free_port()
        plan = _plan(config, users, secret, port)
        env = _environment(url, graph, secret, config.inbox_threads)
        with _processes(config.processes, port, env, Path(directory), reporter,
                        access_log=config.access_log) as fleet, _heap_frozen():
            machine_before, own_before, fleet_before = _machine_cpu(), _own_cpu_s(), fleet.cpu_s()
            drive, answered_s = _drive(config, plan, port, graph, reporter)
            own_cpu_s = _own_cpu_s() - own_before
            machine_busy, machine_cpu_s = _busy(machine_before, _machine_cpu())
            fleet_after = fleet.cpu_s()
            server_cpu_s, workers_cpu_s = (fleet_after[0] - fleet_before[0], fleet_after[1] - fleet_before[1])
        error_lines = fleet.problem_lines()
        sent = graph.sent
        rejected = len(graph.rejected)
    return _result(config, plan, drive, answered_s, sent_to=Counter(s.to for s in sent), rejected=rejected,
                   error_lines=error_lines,
                   cpu=(server_cpu_s, workers_cpu_s, own_cpu_s, machine_busy, machine_cpu_s))


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Hide what lives before the run (modules, the plan's requests) from the garbage collector: its
    full collections during the run, as the fake keeps every reply, would walk them all, in the
    benchmark's CPU time."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# The database ------------------------------------------------------------------------------------


@contextmanager
def _database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        # Under the system's temporary directory: on this machine's disk, so fsync is real.
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    with temporary_postgres(durable=True) as url:
        yield url


def _seed(url: str, count: int, progress: Progress) -> list[tuple[str, str]]:
    """Open ``count`` wallets with PINs; returns (msisdn, language) of each."""
    engine = create_db_engine(url)
    ledger = Ledger(engine)
    try:
        upgrade(engine)
        customers = Customers(engine, ledger, hasher=_SEED_HASHER)
        advance = progress.phase("opening wallets", count)
        users: list[tuple[str, str]] = []
        for index in range(count):
            msisdn = f"+22890{index:06d}"
            language = LANGUAGES[index % len(LANGUAGES)]
            customers.open(msisdn, f"Client {index}", language=language, pin=Pin(_SEED_PIN))
            users.append((msisdn, language))
            advance(1)
        return users
    finally:
        ledger.close()
        engine.dispose()


# The workload ------------------------------------------------------------------------------------


def _plan(config: WhatsAppBenchConfig, users: Sequence[tuple[str, str]], secret: str, port: int) -> _Plan:
    """Message ``j`` comes from user ``j % users``, as its ``j // users``-th; users are dealt to the
    clients in turn, so each user's messages are far apart and always in order. Every request is built
    and signed here, before the clock starts: signing is Meta's work, not the system's."""
    run = secrets.token_hex(4)
    per_client: list[list[bytes]] = [[] for _ in range(config.clients)]
    expected: Counter[str] = Counter()
    now_s = int(time.time())
    for j in range(config.messages):
        user = j % len(users)
        msisdn, language = users[user]
        step = _SCRIPT[(j // len(users)) % len(_SCRIPT)]
        body = _notification(msisdn, f"wamid.bench{run}.{j}", step, language, now_s)
        per_client[user % config.clients].append(_request(body, secret, port))
        expected[msisdn.removeprefix("+")] += step.replies
    return _Plan(per_client=[c for c in per_client if c], expected_by_user=dict(expected))


def _request(body: bytes, secret: str, port: int) -> bytes:
    """The whole POST as Meta sends it: the notification, signed with the app's secret."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return (f"POST {WEBHOOK} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("ascii") + body


def _notification(msisdn: str, message_id: str, step: _Step, language: str, now_s: int) -> bytes:
    wa_id = msisdn.removeprefix("+")
    message: dict[str, Any] = {"from": wa_id, "id": message_id, "timestamp": str(now_s)}
    if step.choice_id is None:
        message.update(type="text", text={"body": step.words[language]})
    else:
        message.update(type="interactive", interactive={
            "type": "list_reply", "list_reply": {"id": step.choice_id, "title": step.words[language]}})
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "22870000000", "phone_number_id": "bench"},
            "contacts": [{"profile": {"name": "Client"}, "wa_id": wa_id}],
            "messages": [message]}}]}]}, separators=(",", ":")).encode()


def _drive(config: WhatsAppBenchConfig, plan: _Plan, port: int, graph: FakeGraph,
           progress: Progress) -> tuple[LoadResult, float | None]:
    """Run the clients, then wait for the replies; returns the clients' figures and when the last
    reply came."""
    load = WebhookLoad(HOST, port, plan.per_client, rate_per_s=config.rate_per_s,
                       timeout_s=REQUEST_TIMEOUT_S)
    advance = progress.phase("messages answered (replies at the fake Graph API)", plan.replies_expected)
    load.start()
    answered_s = _await_replies(graph, plan.replies_expected, load, advance)
    return load.join(), answered_s


def _await_replies(graph: FakeGraph, expected: int, load: WebhookLoad,
                   advance: Callable[[int], None]) -> float | None:
    """Wait until the fake has ``expected`` replies, or they stop coming; when the last one came."""
    seen = 0
    last_change = time.monotonic()
    while True:
        # The fake's request counter moves the bar; its list of messages is read once, at the end.
        time.sleep(POLL_S)
        complete = graph.wait_for(expected, timeout_s=0.0)
        requests = min(graph.requests, expected)
        if requests > seen:
            advance(requests - seen)
            seen = requests
            last_change = time.monotonic()
        if complete:
            break
        if not load.running and time.monotonic() - last_change > STALL_S:
            break
    return max((s.at_s for s in graph.sent), default=None)


# The server and workers --------------------------------------------------------------------------


def _environment(url: str, graph: FakeGraph, secret: str, inbox_threads: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIKA_")}
    env.update({
        "SIKA_DATABASE_URL": url,
        "SIKA_VOUCHER_KEY": secrets.token_urlsafe(32),
        "SIKA_WHATSAPP_VERIFY_TOKEN": secrets.token_hex(8),
        "SIKA_WHATSAPP_APP_SECRET": secret,
        "SIKA_WHATSAPP_TOKEN": graph.token,
        "SIKA_WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        "SIKA_WHATSAPP_API_URL": graph.url,
        "SIKA_WHATSAPP_RATE_PER_S": str(SEND_RATE_PER_S),
        # No provider is called by this workload: keep local fakes and HTTP clients out of it.
        "SIKA_PROVIDERS": "off",
        "SIKA_WHATSAPP_INBOX_THREADS": str(inbox_threads),
    })
    return env


class _Fleet:
    """``sika serve`` and the ``sika worker`` processes, with their logs in files."""

    def __init__(self, server: subprocess.Popen[bytes], workers: list[subprocess.Popen[bytes]],
                 logs: list[Path]) -> None:
        self.server = server
        self.workers = workers
        self.logs = logs

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds used so far by the server, and by the workers together."""
        return _process_cpu_s(self.server.pid), sum(_process_cpu_s(w.pid) for w in self.workers)

    def problem_lines(self) -> list[str]:
        """Every log line that is not routine (access lines, INFO), in order."""
        lines: list[str] = []
        for log in self.logs:
            if log.exists():
                lines += [f"{log.stem}: {line}" for line in log.read_text(errors="replace").splitlines()
                          if not _QUIET_LINE.search(line)]
        return lines


@contextmanager
def _processes(workers: int, port: int, env: dict[str, str], directory: Path,
               progress: Progress, *, access_log: bool) -> Iterator[_Fleet]:
    advance = progress.phase("starting sika serve" + (f" and {workers} sika worker" if workers else ""),
                             1 + workers)
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    with contextlib.ExitStack() as files:
        def start(name: str, *argv: str) -> subprocess.Popen[bytes]:
            log = directory / f"{name}.log"
            logs.append(log)
            out = files.enter_context(log.open("wb"))
            process = subprocess.Popen([sys.executable, "-m", "sika", *argv], env=env, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            started.append(process)
            return process

        try:
            # With workers, the server answers HTTP alone (the usual split); else it runs the jobs too.
            server = start("serve", "serve", "--port", str(port), *(["--no-jobs"] if workers else []),
                           "--access-log" if access_log else "--no-access-log")
            _wait_for_health(port, server, logs[0])
            advance(1)
            fleet = _Fleet(server, [start(f"worker-{n}", "worker") for n in range(workers)], logs)
            time.sleep(0.5 if workers else 0)  # the workers bootstrap (and check the migrations) first
            advance(workers)
            yield fleet
        finally:
            _stop(started)


def _wait_for_health(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(errors="replace")[-1_500:] if log.exists() else ""
            raise WhatsAppBenchError(f"sika serve exited with {server.returncode} while starting: {tail}",
                                     code="bench_server_failed")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise WhatsAppBenchError(f"sika serve did not answer /healthz within {START_TIMEOUT_S} s",
                             code="bench_server_failed")


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Ask each process to stop (as Ctrl-C would), then kill what is still there."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Measuring CPU -----------------------------------------------------------------------------------


def _process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of a running process (0 when it is gone or not on Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are the 14th and 15th fields; the split above starts at the 3rd.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_cpu() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, (0, 0) where /proc/stat is missing."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0, 0
    values = [int(v) for v in first[1:]]
    return values[3] + values[4], sum(values[:8])


def _busy(before: tuple[int, int], after: tuple[int, int]) -> tuple[float, float]:
    """How busy the machine was (0..1), and its busy CPU seconds, between two readings."""
    total = after[1] - before[1]
    busy = total - (after[0] - before[0])
    return (busy / total if total > 0 else 0.0), busy / os.sysconf("SC_CLK_TCK")


# Results -----------------------------------------------------------------------------------------


def _result(config: WhatsAppBenchConfig, plan: _Plan, drive: LoadResult, answered_s: float | None, *,
            sent_to: Counter[str], rejected: int, error_lines: list[str],
            cpu: tuple[float, float, float, float, float]) -> WhatsAppBenchResult:
    replies = sum(sent_to.values())
    short_by_user = {user: expected - sent_to.get(user, 0)
                     for user, expected in plan.expected_by_user.items()}
    unanswered = _unanswered(config, plan, short_by_user)
    end_s = answered_s if answered_s is not None else drive.finished_s
    seconds = max(end_s - drive.began_s, 1e-9)
    answered = config.messages - unanswered
    posting_s = max(drive.finished_s - drive.began_s, 1e-9)
    server_cpu_s, workers_cpu_s, bench_cpu_s, machine_busy, machine_cpu_s = cpu
    result = WhatsAppBenchResult(
        backend=config.backend,
        processes=config.processes,
        clients=len(plan.per_client),
        users=config.users,
        messages=config.messages,
        seconds=seconds,
        messages_per_s=answered / seconds,
        replies=replies,
        replies_expected=plan.replies_expected,
        replies_per_s=replies / seconds,
        unanswered=unanswered,
        webhook_p50_ms=percentile(drive.latencies_s, 0.50) * 1_000,
        webhook_p90_ms=percentile(drive.latencies_s, 0.90) * 1_000,
        webhook_p99_ms=percentile(drive.latencies_s, 0.99) * 1_000,
        webhook_max_ms=max(drive.latencies_s, default=0.0) * 1_000,
        webhook_per_s=len(drive.latencies_s) / posting_s,
        rate_per_s=config.rate_per_s,
        access_log=config.access_log,
        inbox_threads=config.inbox_threads,
        http_errors=dict(drive.errors),
        rejected=rejected,
        server_errors=len(error_lines),
        server_error_lines=list(dict.fromkeys(error_lines))[:ERROR_LINES_MAX],
        server_cpu_s=server_cpu_s,
        workers_cpu_s=workers_cpu_s,
        bench_cpu_s=bench_cpu_s,
        other_cpu_s=max(0.0, machine_cpu_s - server_cpu_s - workers_cpu_s - bench_cpu_s),
        machine_cpu_busy=machine_busy,
    )
    met = (result.unanswered == 0 and result.messages_per_s >= TARGET_MESSAGES_PER_S
           and result.webhook_p99_ms < TARGET_WEBHOOK_P99_MS)
    return _replace_target(result, met)


def _unanswered(config: WhatsAppBenchConfig, plan: _Plan, short_by_user: dict[str, int]) -> int:
    """Messages without all their replies: a user short of replies lacks them for their last messages."""
    if not any(short > 0 for short in short_by_user.values()):
        return 0
    missing = 0
    for user, short in short_by_user.items():
        # Walk back through this user's messages, newest first, until the shortfall is covered.
        left = short
        index = int(user[-6:])
        count = len(range(index, config.messages, config.users))
        for position in reversed(range(count)):
            if left <= 0:
                break
            left -= _SCRIPT[position % len(_SCRIPT)].replies
            missing += 1
    return missing


def _replace_target(result: WhatsAppBenchResult, met: bool) -> WhatsAppBenchResult:
    text = f">= {TARGET_MESSAGES_PER_S:,.0f} messages/s, webhook p99 < {TARGET_WEBHOOK_P99_MS:.0f} ms"
    return replace(result, target=text, target_met=met)


def _fake_graph_class() -> type[FakeGraph]:
    """The fake Graph API, from the ``sika-fakes`` distribution (never part of a production install)."""
    try:
        from sika_fakes.graph import FakeGraph  # noqa: PLC0415 (optional: only this bench needs it)
    except ImportError as exc:
        raise BenchError("sika bench whatsapp needs the fake Graph API of the sika-fakes distribution: "
                         "`pip install -e fakes` (make installs it)", code="fakes_not_installed") from exc
    return FakeGraph
