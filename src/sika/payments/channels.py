"""Where an outbox message goes: the channels that can really reach a person, and the choice among them.

A :class:`Route` is a channel (WhatsApp, SMS, the in-app inbox) with the test of whether it reaches a
number now. The :class:`Router` takes the first route that reaches the message's number, in the
order it was given (bootstrap: WhatsApp for people who write to us there, then SMS, then the in-app
inbox for wallet holders). A message carrying a secret (a voucher's code, a PIN-reset code) goes by
SMS first and only through routes that deliver to the phone itself; the in-app inbox carries a secret
only when it is meant for the wallet's owner (:data:`OWNER_SECRET_KINDS`: the code a sender passes on),
and keeps it until the owner has read it. When no route reaches a number the message is given up at
once and its ``fallback`` (if any) is sent instead: see :class:`sika.payments.outbox.Outbox`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sika.errors import SikaError

__all__ = ["FALLBACK", "OWNER_SECRET_KINDS", "SECRET", "BatchChannel", "Channel", "Gate", "InboxChannel",
           "Message", "Route", "Router", "Unreachable", "Verdict"]

log = logging.getLogger(__name__)

# Params under this key are secrets (a voucher's code): wiped once the message is delivered.
SECRET = "secret"  # noqa: S105 (a key name, not a password)
# Params under this key name who is told instead when nobody can reach the recipient:
# {"msisdn": …, "kind": …}; the fallback message gets the same params (secret included) plus "to".
FALLBACK = "fallback"
# Secrets meant for a wallet's owner, which the in-app inbox may hold until the owner reads them.
OWNER_SECRET_KINDS = frozenset({"voucher_code_to_pass_on"})


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    msisdn: str
    kind: str
    params: dict[str, Any]
    status: str
    attempts: int
    created_at_ns: int
    delivered_at_ns: int | None
    lease_until_ns: int | None = None
    channel: str | None = None
    reason: str | None = None  # why the notification policy held, dropped or sent it (JSON)

    @property
    def secret(self) -> bool:
        return self.params.get(SECRET) not in (None, "")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The notification policy's answer for one message (:mod:`sika.notices`): send when
    ``send_at_ns`` is now or past, hold until it, drop when it is None; ``reason`` says why (JSON)."""

    send_at_ns: int | None
    reason: str


class Gate(Protocol):
    def verdict(self, message: Message, now_ns: int) -> Verdict: ...


class Channel(Protocol):
    def deliver(self, message: Message) -> None:
        """Deliver or raise; called again for the same ``message.id`` after a failure or crash.
        :class:`Unreachable` gives the message up at once (no retry)."""


@runtime_checkable
class BatchChannel(Channel, Protocol):
    def deliver_many(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """:meth:`deliver` for several messages at once (fewer transactions): for each, None when
        delivered, else the error :meth:`deliver` would have raised."""


class Unreachable(SikaError):
    """This channel can never deliver this message (an invalid or blacklisted number, …)."""

    code = "unreachable"


class InboxChannel:
    """The in-app inbox: a delivered message is one a customer reads from their notifications feed."""

    def deliver(self, message: Message) -> None:
        log.debug("notification %s (%s) to %s in the inbox", message.id, message.kind, message.msisdn)


def _everyone(_msisdn: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    channel: Channel
    reaches: Callable[[str], bool] = _everyone
    # ``reaches`` for several numbers at once (one read for an outbox batch): those it reaches.
    reaches_many: Callable[[Collection[str]], Collection[str]] | None = None
    # Delivers to the phone itself (SMS, WhatsApp): may carry any secret.
    carries_secrets: bool = True
    # Read behind the owner's login (the in-app inbox): carries the owner's secrets and keeps them
    # until read.
    for_owner: bool = False


class Router:
    """Picks the route of each message; ``secrets_first`` names the route secrets prefer (SMS)."""

    def __init__(self, routes: Sequence[Route], *, secrets_first: str = "sms") -> None:
        assert len({r.name for r in routes}) == len(routes), "two routes with one name"
        self.routes = tuple(routes)
        self._secret_routes = sorted(routes, key=lambda r: r.name != secrets_first)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(route.name for route in self.routes)

    def route(self, msisdn: str, kind: str, *, secret: bool) -> Route | None:
        """The first route that reaches ``msisdn`` for this kind of message, or None."""
        return next((route for route in self._candidates(kind, secret) if route.reaches(msisdn)), None)

    def route_many(self, messages: Sequence[Message]) -> list[Route | None]:
        """:meth:`route` for each message, asking a route with ``reaches_many`` once for all of them
        (when some message needs its answer)."""
        reached: dict[str, Collection[str]] = {}

        def reaches(route: Route, msisdn: str) -> bool:
            if route.reaches_many is None:
                return route.reaches(msisdn)
            if route.name not in reached:
                reached[route.name] = set(route.reaches_many({m.msisdn for m in messages}))
            return msisdn in reached[route.name]

        return [next((r for r in self._candidates(m.kind, m.secret) if reaches(r, m.msisdn)), None)
                for m in messages]

    def _candidates(self, kind: str, secret: bool) -> Sequence[Route]:
        if not secret:
            return self.routes
        return [r for r in self._secret_routes
                if r.carries_secrets or (r.for_owner and kind in OWNER_SECRET_KINDS)]

    def deliver(self, message: Message) -> None:
        """As a :class:`Channel`: deliver through the chosen route (raises when none reaches)."""
        route = self.route(message.msisdn, message.kind, secret=message.secret)
        if route is None:
            raise Unreachable(f"no channel reaches {message.msisdn}")
        route.channel.deliver(message)
