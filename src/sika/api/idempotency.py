"""``Idempotency-Key``: a retried POST gets the first answer again and does nothing more.

The first request with a key claims it (a row keyed by caller and key, inserted before any work), runs,
and stores its answer. A retry with the same body gets the stored answer; with another body (or
route) it gets 409 ``idempotency_conflict``; while the first is still running, 409
``idempotency_in_progress``. Answers to client errors (4xx) are stored too, since they would be the
same again; an unexpected failure releases the key so that a retry runs afresh. Services that move
money also derive their ledger transfer ids from the key, so a crash between the money moving and the
answer being stored still moves it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from sika.api import owners
from sika.api.auth import Caller
from sika.api.problems import problem_body, problem_for, status_of
from sika.auth.schema import idempotency
from sika.db import UNAVAILABLE, writing
from sika.error_codes import Code
from sika.errors import SikaError
from sika.payments.crashpoints import ProcessCrash, reached

__all__ = ["KEY_CHARS_MAX", "KEY_PATTERN", "idempotent", "scope_of"]

log = logging.getLogger(__name__)

KEY_CHARS_MAX = 255
# Visible ASCII: what an HTTP header carries without ambiguity (no spaces, no controls).
KEY_PATTERN = rf"^[\x21-\x7e]{{1,{KEY_CHARS_MAX}}}$"
_KEY = re.compile(KEY_PATTERN)
_CLAIM_TRIES_MAX = 3
# A claim still unanswered after this long belongs to a request that died (a crash, a kill): a retry
# takes it over. Longer than any request runs; the services below resume what it had started. A claim
# whose owner process is known to be gone (sika.api.owners) is taken over at once.
CLAIM_LEASE_S = 60

# How many requests of this process are inside ``idempotent`` with each (scope, key). A claim this
# process made whose key no other request of ours is running belongs to a request that ended without
# storing its answer or releasing the key: the database went away under it, and the release failed
# too. Its retry takes the claim over at once, not a lease later: after a database restart, customers
# would otherwise be told "still running" for a minute about requests that had died.
_RUNNING: dict[tuple[str, str], int] = {}
_RUNNING_LOCK = threading.Lock()


def scope_of(who: Caller) -> str:
    return _scope(who)


def _scope(who: Caller) -> str:
    return f"customer:{who.customer_id}" if who.customer_id is not None else f"key:{who.key_id}"


def _digest(route: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{route}\n{canonical}".encode()).hexdigest()


async def idempotent(
    engine: Engine,
    who: Caller,
    *,
    key: str | None,
    route: str,
    body: Any,
    handler: Callable[[], Awaitable[tuple[int, Any]]],
) -> JSONResponse:
    """Run ``handler`` (which returns status and JSON body) at most once per caller and key."""
    if key is None or not key.strip():
        return problem_for(Code.IDEMPOTENCY_KEY_REQUIRED, "send an Idempotency-Key header")
    if _KEY.fullmatch(key) is None:
        return problem_for(Code.VALIDATION_ERROR,
                       f"Idempotency-Key has 1 to {KEY_CHARS_MAX} visible ASCII characters, no spaces")
    scope, digest = _scope(who), _digest(route, body)
    with _RUNNING_LOCK:
        _RUNNING[(scope, key)] = _RUNNING.get((scope, key), 0) + 1
    try:
        return await _run(engine, scope, key, digest, handler)
    finally:
        with _RUNNING_LOCK:
            left = _RUNNING.pop((scope, key)) - 1
            if left:
                _RUNNING[(scope, key)] = left


async def _run(engine: Engine, scope: str, key: str, digest: str,
               handler: Callable[[], Awaitable[tuple[int, Any]]]) -> JSONResponse:
    claimed = await run_in_threadpool(_claim, engine, scope, key, digest)
    if claimed is not None:
        return claimed
    try:
        reached("claimed")
        status, payload = await handler()
    except SikaError as exc:
        status = status_of(exc)
        if status >= 500 or exc.code == "idempotency_conflict" or hasattr(exc, "locked_until_ns"):
            # A conflict means the key belongs to another request (its movement says so): this one
            # must not take the key's answer over, or the owner's retry could never learn its outcome.
            # A lock passes: a retry once it is lifted must run afresh.
            await run_in_threadpool(_release, engine, scope, key)
            if status >= 500 or hasattr(exc, "locked_until_ns"):
                raise
        payload = problem_body(status, exc.code, exc.message)
        if exc.code == "idempotency_conflict":
            return _response(status, payload)
    except ProcessCrash:
        raise  # a dead process cleans nothing up: the claim stays, its owner gone
    except BaseException:
        await run_in_threadpool(_release, engine, scope, key)
        raise
    try:
        await run_in_threadpool(_store, engine, scope, key, status, payload)
        reached("answered")
    except UNAVAILABLE:
        # The work is done and its answer is true: a busy database must not turn it into a 5xx. The
        # claim goes (if it can); a retry runs again and finds the movement its id names.
        log.warning("could not store the answer for an Idempotency-Key; releasing it", exc_info=True)
        with contextlib.suppress(*UNAVAILABLE):
            await run_in_threadpool(_release, engine, scope, key)
    return _response(status, payload)


def _claim(engine: Engine, scope: str, key: str, digest: str) -> JSONResponse | None:
    """None when this request now owns the key; else the answer a retry gets."""
    for _ in range(_CLAIM_TRIES_MAX):
        try:
            with writing(engine).begin() as connection:
                connection.execute(insert(idempotency).values(
                    scope=scope, key=key, request_digest=digest, created_at_ns=time.time_ns(),
                    owner=owners.current()))
            return None
        except IntegrityError:
            pass
        with engine.connect() as connection:
            row = connection.execute(
                select(idempotency.c.request_digest, idempotency.c.status, idempotency.c.response,
                       idempotency.c.created_at_ns, idempotency.c.owner)
                .where(idempotency.c.scope == scope, idempotency.c.key == key)
            ).first()
        if row is not None:
            if row.status is None and row.request_digest == digest and _take_over(
                    engine, scope, key, row.created_at_ns, row.owner):
                return None
            return _answer(row, digest)
        # Released by a failed first attempt in the meantime: claim it again.
    return problem_for(Code.IDEMPOTENCY_IN_PROGRESS, "this Idempotency-Key is busy; retry later")


def _take_over(engine: Engine, scope: str, key: str, claimed_at_ns: int, owner: str | None) -> bool:
    """Take an unanswered claim over when its owner is gone (a crash, a kill: at once), is this
    process with no other request on the key (at once), or its lease ran out (an owner this process
    cannot check, on another machine)."""
    now = time.time_ns()
    if now - claimed_at_ns < CLAIM_LEASE_S * 1_000_000_000 and not owners.is_gone(owner) \
            and not (owner == owners.current() and _alone(scope, key)):
        return False
    with writing(engine).begin() as connection:
        taken = connection.execute(
            update(idempotency)
            .where(idempotency.c.scope == scope, idempotency.c.key == key,
                   idempotency.c.status.is_(None), idempotency.c.created_at_ns == claimed_at_ns)
            .values(created_at_ns=now, owner=owners.current())
        ).rowcount
    return bool(taken)


def _alone(scope: str, key: str) -> bool:
    """True when the calling request is this process's only one with the key."""
    with _RUNNING_LOCK:
        return _RUNNING.get((scope, key), 0) <= 1


def _answer(row: Any, digest: str) -> JSONResponse:
    if row.request_digest != digest:
        return problem_for(Code.IDEMPOTENCY_CONFLICT,
                       "this Idempotency-Key was used with another request")
    if row.status is None:
        return problem_for(Code.IDEMPOTENCY_IN_PROGRESS,
                       "the first request with this Idempotency-Key is still running; retry later")
    return _response(row.status, json.loads(row.response))


def _store(engine: Engine, scope: str, key: str, status: int, payload: Any) -> None:
    with writing(engine).begin() as connection:
        connection.execute(
            update(idempotency)
            .where(idempotency.c.scope == scope, idempotency.c.key == key)
            .values(status=status, response=json.dumps(payload))
        )


def _release(engine: Engine, scope: str, key: str) -> None:
    with writing(engine).begin() as connection:
        connection.execute(
            delete(idempotency).where(idempotency.c.scope == scope, idempotency.c.key == key)
        )


def _response(status: int, payload: Any) -> JSONResponse:
    media = "application/problem+json" if status >= 400 else "application/json"
    return JSONResponse(payload, status_code=status, media_type=media)
