"""``sika bench whatsapp``: inbound WhatsApp messages per second, wire to wire, and the webhook's latency.

One run measures the real path, every piece in its own process as in production:

1. starts :class:`sika_fakes.graph.FakeGraph` (a local Graph API, strict about Meta's limits) in
   this process, served from an asyncio event loop on a thread of its own (the lean mode: the load
   generator must not take the CPU the system under test needs);
2. a fresh database (a SQLite file in a temporary directory, or a throwaway PostgreSQL cluster with
   fsync on), migrated, with ``users`` funded wallets (see :mod:`sika.bench.whatsapp_money`);
3. ``python -m sika serve`` with ``SIKA_WHATSAPP_*`` pointing at the fake and the providers' fakes
   of the ``sika-fakes`` distribution in each process (``SIKA_PROVIDERS=instant``), plus
   ``processes`` ``sika worker`` processes, which share the inbox and the outbox with the server;
4. ``clients`` clients of :class:`~sika.bench.webhook_load.WebhookLoad` (one asyncio event loop, each
   client on its own keep-alive connection) POST signed, Meta-shaped notifications (one message
   each), built and signed before the clock starts, and record each answer's latency. What users
   write is the ``mix`` (:mod:`sika.bench.whatsapp_mix`): ``realistic`` by default, with
   PIN-confirmed transfers, bills and airtime; ``read`` for balance and history alone;
5. waits until the fake has every reply and receipt the mix calls for, checks each user's replies
   one by one, and the money (:func:`~sika.bench.whatsapp_money.check_money`).

``messages_per_s`` is end to end: from the first POST to the last reply or receipt at the fake, for
the messages whose replies all arrived. Meta paces a phone number (80 messages a second by default,
up to 1,000 on its highest tier): ``SIKA_WHATSAPP_RATE_PER_S`` is set far above that here, so that
the pacing is not what is measured.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import os
import secrets
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
from sika.bench.whatsapp_check import Checked, check_replies
from sika.bench.whatsapp_fleet import busy, fleet, machine_cpu, own_cpu_s
from sika.bench.whatsapp_mix import MIXES, Person, Step, mix_steps, shares
from sika.bench.whatsapp_money import check_money, persons, seed_wallets
from sika.config import Settings, inbox_threads
from sika.devservers import free_port, temporary_postgres, temporary_redis

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
MIX_DEFAULT = "realistic"
MESSAGES_DEFAULT = 10_000
USERS_DEFAULT = 1_000
CLIENTS_DEFAULT = 16
# Limits, so that a typo cannot start an hour-long run or exhaust the machine.
MESSAGES_MAX = 1_000_000
USERS_MAX = 100_000
CLIENTS_MAX = 256
PROCESSES_MAX = 16
SERVERS_MAX = 8
INBOX_THREADS_MAX = 16
RATE_PER_S_MAX = 100_000.0
# Issue 4: Meta's highest throughput tier, and a webhook that answers well within Meta's timeout.
TARGET_MESSAGES_PER_S = 1_000.0
TARGET_WEBHOOK_P99_MS = 250.0

# The server's own pacing of sends (Meta's cap per number); far above what is measured.
SEND_RATE_PER_S = 10_000
# A run whose replies stop coming for this long is over: what is missing is reported.
STALL_S = 60.0
REQUEST_TIMEOUT_S = 60.0
POLL_S = 0.05
ERROR_LINES_MAX = 10
WEBHOOK = "/webhooks/whatsapp"
HOST = "127.0.0.1"


class WhatsAppBenchError(BenchError):
    code = "bench_invalid_argument"


@dataclass(frozen=True, slots=True)
class WhatsAppBenchConfig:
    backend: str = "sqlite"
    mix: str = MIX_DEFAULT
    messages: int = MESSAGES_DEFAULT
    users: int = USERS_DEFAULT
    clients: int = CLIENTS_DEFAULT
    # `sika worker` processes besides `sika serve` (which runs the inbox too).
    processes: int = 0
    # `sika serve` processes, the clients dealt to them in turn (each answers the webhook; with
    # workers, none runs the jobs).
    servers: int = 1
    # Every process shares a Redis (SIKA_REDIS_URL if set, else a throwaway redis-server): leases
    # and WhatsApp's pacing live there instead of the database and each process.
    redis: bool = False
    # Messages a second all clients together send at most; 0: as fast as the webhook answers.
    rate_per_s: float = 0.0
    # The server's line per HTTP request (off, as at this rate in production: every message is
    # recorded in the inbox; on costs about a fifth of the server's CPU).
    access_log: bool = False
    # Threads handling the inbox in each process that runs it (SIKA_WHATSAPP_INBOX_THREADS); None:
    # the processes' default for the database (sika.config.inbox_threads).
    inbox_threads: int | None = None

    def validate(self) -> None:
        """Raise :class:`WhatsAppBenchError` naming the first argument out of its range."""
        check_choice("--backend", self.backend, BACKENDS, WhatsAppBenchError)
        check_choice("--mix", self.mix, tuple(MIXES), WhatsAppBenchError)
        check_ranges((
            ("--messages", self.messages, 1, MESSAGES_MAX),
            # Users send money to one another: a realistic run needs two at least.
            ("--users", self.users, 2 if self.mix == "realistic" else 1, USERS_MAX),
            ("--clients", self.clients, 1, CLIENTS_MAX),
            ("--processes", self.processes, 0, PROCESSES_MAX),
            ("--servers", self.servers, 1, SERVERS_MAX),
            ("--inbox-threads", 1 if self.inbox_threads is None else self.inbox_threads, 1,
             INBOX_THREADS_MAX),
            ("--rate", self.rate_per_s, 0, RATE_PER_S_MAX),
        ), WhatsAppBenchError)


@dataclass(frozen=True, slots=True)
class WhatsAppBenchResult:
    backend: str
    mix: str
    processes: int
    servers: int
    redis: bool
    clients: int
    users: int
    messages: int
    # Of the messages: the PINs; the PINs and taps on Confirm; all messages of payments.
    pin_share: float
    pin_or_confirm_share: float
    payment_share: float
    # End to end: from the first POST to the last reply at the fake Graph API.
    seconds: float
    messages_per_s: float
    replies: int
    replies_expected: int
    replies_per_s: float
    # Receipts the payments outbox sent over WhatsApp (payers, and transfers' recipients).
    receipts: int
    receipts_expected: int
    # Messages whose replies did not all arrive; replies that were not what their step expects.
    unanswered: int
    wrong_answers: int
    wrong_answer_examples: list[str]
    # What the audit of the ledger and of every user's money found (nothing: an empty list).
    money_problems: list[str]
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


@dataclass(slots=True)
class _Plan:
    """Every POST, as the bytes that go on the wire, dealt to the clients (a user's messages all go
    through one client, in order), and each user's steps."""

    per_client: list[list[bytes]]
    people: list[Person]
    steps: list[list[Step]]  # by user, in the order they are sent

    def receipts_expected(self) -> dict[str, int]:
        """Receipts by user: one per payment made, one per transfer received."""
        counts: Counter[str] = Counter()
        for person, steps in zip(self.people, self.steps, strict=True):
            for step in steps:
                if step.pays is not None:
                    counts[person.wa_id] += 1
                if step.pays == "transfer":
                    counts[person.recipient.removeprefix("+")] += 1
        return dict(counts)


def run_whatsapp_bench(config: WhatsAppBenchConfig, *,
                       progress: Progress | None = None) -> WhatsAppBenchResult:
    """One run, on a fresh database and fresh processes, all cleaned up afterwards."""
    config.validate()
    reporter = progress or SILENT
    fake_graph = _fake_graph_class()
    with tempfile.TemporaryDirectory(prefix="sika-bench-wa-") as directory, \
            _database(config.backend, Path(directory)) as url, _redis(config.redis) as redis_url, \
            fake_graph(serving="asyncio") as graph:
        secret = secrets.token_hex(16)
        env = _environment(url, graph, secret, config.inbox_threads, redis_url)
        settings = Settings(database_url=url, voucher_key=env["SIKA_VOUCHER_KEY"],
                            pin_pepper=env["SIKA_PIN_PEPPER"])
        people = persons(config.users)
        seed_wallets(settings, people, reporter.phase("opening and funding wallets", len(people)))
        ports = [free_port() for _ in range(config.servers)]
        plan = _plan(config, people, secret, ports)
        with fleet(ports, config.processes, env, Path(directory), reporter,
                   access_log=config.access_log) as running, _heap_frozen():
            machine_before, own_before, fleet_before = machine_cpu(), own_cpu_s(), running.cpu_s()
            drive, answered_s = _drive(config, plan, ports, graph, reporter)
            own_cpu = own_cpu_s() - own_before
            machine_busy, machine_cpu_s = busy(machine_before, machine_cpu())
            fleet_after = running.cpu_s()
            cpu = (fleet_after[0] - fleet_before[0], fleet_after[1] - fleet_before[1], own_cpu,
                   machine_busy, machine_cpu_s)
        error_lines = running.problem_lines()
        checked = check_replies(plan.people, plan.steps, graph.sent, plan.receipts_expected())
        money = check_money(settings, plan.people, plan.steps)
        rejected = len(graph.rejected)
    return _result(config, plan, drive, answered_s, checked=checked, money=money, rejected=rejected,
                   error_lines=error_lines, cpu=cpu)


@contextmanager
def _redis(wanted: bool) -> Iterator[str | None]:
    """SIKA_REDIS_URL, or a throwaway redis-server, when the run shares a Redis; else None."""
    if not wanted:
        yield None
        return
    configured = os.environ.get("SIKA_REDIS_URL")
    if configured:
        yield configured
        return
    with temporary_redis() as url:
        yield url


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


@contextmanager
def _database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        # Under the system's temporary directory: on this machine's disk, so fsync is real.
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    with temporary_postgres(durable=True, unix_socket=True) as url:
        yield url


# The workload ------------------------------------------------------------------------------------


def _plan(config: WhatsAppBenchConfig, people: Sequence[Person], secret: str, ports: Sequence[int]) -> _Plan:
    """Message ``j`` comes from user ``j % users``, as its ``j // users``-th; users are dealt to the
    clients in turn, so each user's messages are far apart and always in order, and clients to the
    servers in turn. Every request is built and signed here, before the clock starts: signing is
    Meta's work, not the system's."""
    run = secrets.token_hex(4)
    count = len(people)
    steps = [mix_steps(config.mix, user, len(range(user, config.messages, count))) for user in range(count)]
    per_client: list[list[bytes]] = [[] for _ in range(config.clients)]
    now_s = int(time.time())
    for j in range(config.messages):
        user = j % count
        step = steps[user][j // count]
        body = _notification(people[user], f"wamid.bench{run}.{j}", step, now_s)
        client = user % config.clients
        per_client[client].append(_request(body, secret, ports[client % len(ports)]))
    return _Plan(per_client=per_client, people=list(people), steps=steps)


def _request(body: bytes, secret: str, port: int) -> bytes:
    """The whole POST as Meta sends it: the notification, signed with the app's secret."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return (f"POST {WEBHOOK} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("ascii") + body


def _notification(person: Person, message_id: str, step: Step, now_s: int) -> bytes:
    wa_id = person.wa_id
    message: dict[str, Any] = {"from": wa_id, "id": message_id, "timestamp": str(now_s)}
    typed = step.typed(person)
    if step.choice_id is None:
        message.update(type="text", text={"body": typed})
    else:
        kind = "button_reply" if step.choice_id == "confirm" else "list_reply"
        message.update(type="interactive", interactive={"type": kind, kind: {"id": step.choice_id,
                                                                            "title": typed}})
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "22870000000", "phone_number_id": "bench"},
            "contacts": [{"profile": {"name": "Client"}, "wa_id": wa_id}],
            "messages": [message]}}]}]}, separators=(",", ":")).encode()


def _drive(config: WhatsAppBenchConfig, plan: _Plan, ports: Sequence[int], graph: FakeGraph,
           progress: Progress) -> tuple[LoadResult, float | None]:
    """Run the clients (one load generator a server), then wait for the replies and receipts; returns
    the clients' figures and when the last reply came."""
    loads = []
    for number, port in enumerate(ports):
        mine = [requests for client, requests in enumerate(plan.per_client)
                if client % len(ports) == number and requests]
        if mine:
            loads.append(WebhookLoad(HOST, port, mine, rate_per_s=config.rate_per_s / len(ports),
                                     timeout_s=REQUEST_TIMEOUT_S))
    expected = sum(len(steps) for steps in plan.steps) + sum(plan.receipts_expected().values())
    advance = progress.phase("messages answered (replies at the fake Graph API)", expected)
    for load in loads:
        load.start()
    answered_s = _await_replies(graph, expected, loads, advance)
    results = [load.join() for load in loads]
    merged = LoadResult(began_s=min(r.began_s for r in results),
                        finished_s=max(r.finished_s for r in results),
                        latencies_s=[s for r in results for s in r.latencies_s],
                        errors=sum((r.errors for r in results), Counter()))
    return merged, answered_s


def _await_replies(graph: FakeGraph, expected: int, loads: Sequence[WebhookLoad],
                   advance: Callable[[int], None]) -> float | None:
    """Wait until the fake has ``expected`` messages, or they stop coming; when the last one came."""
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
        if not any(load.running for load in loads) and time.monotonic() - last_change > STALL_S:
            break
    return max((s.at_s for s in graph.sent), default=None)


# The server and workers --------------------------------------------------------------------------


def _environment(url: str, graph: FakeGraph, secret: str, threads: int | None,
                 redis_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIKA_")}
    if redis_url is not None:
        env["SIKA_REDIS_URL"] = redis_url
    env.update({
        "SIKA_DATABASE_URL": url,
        "SIKA_VOUCHER_KEY": secrets.token_urlsafe(32),
        "SIKA_PROMO_CODE_KEY": secrets.token_urlsafe(32),
        # PINs keyed as production should run them (sika.wallet.pin_keys), not argon2id alone.
        "SIKA_PIN_PEPPER": f"bench:{secrets.token_urlsafe(32)}",
        "SIKA_WHATSAPP_VERIFY_TOKEN": secrets.token_hex(8),
        "SIKA_WHATSAPP_APP_SECRET": secret,
        "SIKA_WHATSAPP_TOKEN": graph.token,
        "SIKA_WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        "SIKA_WHATSAPP_API_URL": graph.url,
        "SIKA_WHATSAPP_RATE_PER_S": str(SEND_RATE_PER_S),
        # The providers' fakes (sika-fakes), in each process, answering at once and without
        # random misbehaviour: what is measured is Sika's side of a purchase.
        "SIKA_PROVIDERS": "instant",
    })
    if threads is not None:
        env["SIKA_WHATSAPP_INBOX_THREADS"] = str(threads)
    return env


# Results -----------------------------------------------------------------------------------------


def _result(config: WhatsAppBenchConfig, plan: _Plan, drive: LoadResult, answered_s: float | None, *,
            checked: Checked, money: list[str], rejected: int, error_lines: list[str],
            cpu: tuple[float, float, float, float, float]) -> WhatsAppBenchResult:
    end_s = answered_s if answered_s is not None else drive.finished_s
    seconds = max(end_s - drive.began_s, 1e-9)
    answered = config.messages - checked.unanswered
    posting_s = max(drive.finished_s - drive.began_s, 1e-9)
    server_cpu_s, workers_cpu_s, bench_cpu_s, machine_busy, machine_cpu_s = cpu
    mix_shares = shares(plan.steps)
    result = WhatsAppBenchResult(
        backend=config.backend,
        mix=config.mix,
        processes=config.processes,
        servers=config.servers,
        redis=config.redis,
        clients=sum(1 for requests in plan.per_client if requests),
        users=config.users,
        messages=config.messages,
        pin_share=mix_shares["pin_share"],
        pin_or_confirm_share=mix_shares["pin_or_confirm_share"],
        payment_share=mix_shares["payment_share"],
        seconds=seconds,
        messages_per_s=answered / seconds,
        replies=checked.replies,
        replies_expected=sum(len(steps) for steps in plan.steps),
        replies_per_s=checked.replies / seconds,
        receipts=checked.receipts,
        receipts_expected=sum(plan.receipts_expected().values()),
        unanswered=checked.unanswered,
        wrong_answers=checked.wrong,
        wrong_answer_examples=checked.examples[:ERROR_LINES_MAX],
        money_problems=money[:ERROR_LINES_MAX],
        webhook_p50_ms=_percentile_ms(drive.latencies_s, 0.50),
        webhook_p90_ms=_percentile_ms(drive.latencies_s, 0.90),
        webhook_p99_ms=_percentile_ms(drive.latencies_s, 0.99),
        webhook_max_ms=max(drive.latencies_s, default=0.0) * 1_000,
        webhook_per_s=len(drive.latencies_s) / posting_s,
        rate_per_s=config.rate_per_s,
        access_log=config.access_log,
        inbox_threads=inbox_threads("postgresql" if config.backend == "postgres" else "sqlite",
                                    config.inbox_threads),
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
    met = (result.unanswered == 0 and result.wrong_answers == 0 and not result.money_problems
           and result.messages_per_s >= TARGET_MESSAGES_PER_S
           and result.webhook_p99_ms < TARGET_WEBHOOK_P99_MS)
    text = f">= {TARGET_MESSAGES_PER_S:,.0f} messages/s, webhook p99 < {TARGET_WEBHOOK_P99_MS:.0f} ms"
    return replace(result, target=text, target_met=met)


def _percentile_ms(samples: Sequence[float], fraction: float) -> float:
    return percentile(samples, fraction) * 1_000


def _fake_graph_class() -> type[FakeGraph]:
    """The fake Graph API, from the ``sika-fakes`` distribution (never part of a production install)."""
    try:
        from sika_fakes.graph import FakeGraph  # noqa: PLC0415 (optional: only this bench needs it)
    except ImportError as exc:
        raise BenchError("sika bench whatsapp needs the fake Graph API of the sika-fakes distribution: "
                         "`pip install -e fakes` (make installs it)", code="fakes_not_installed") from exc
    return FakeGraph
