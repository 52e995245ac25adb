"""Every answer of a ``sika bench whatsapp`` run, checked user by user at the fake Graph API.

A user's replies arrive in the order of their messages (the inbox keeps one person's messages in
order): the ``n``-th reply must be what the user's ``n``-th step expects. Receipts from the payments
outbox arrive whenever the outbox's worker sends them, so they are told apart (a plain text naming a
movement) and counted. A user short of replies lacks them for their last messages: those messages
are the unanswered ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sika.bench.whatsapp_mix import Person, Step, is_receipt, reply_problem

if TYPE_CHECKING:
    from sika_fakes.graph import Sent

__all__ = ["Checked", "check_replies"]

# Problems named in full, at most; the rest are counted.
_EXAMPLES_MAX = 20


@dataclass(slots=True)
class Checked:
    replies: int = 0
    receipts: int = 0
    unanswered: int = 0
    # Replies that are not what their step expects, and users with the wrong number of receipts;
    # the first few named ("user message n (step): what is wrong").
    wrong: int = 0
    examples: list[str] = field(default_factory=list)


def check_replies(people: Sequence[Person], plan: Sequence[Sequence[Step]], sent: Sequence[Sent],
                  receipts_expected: Mapping[str, int]) -> Checked:
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in sorted(sent, key=lambda s: s.at_s):
        by_user[message.to].append(message.body)
    checked = Checked()
    for person, steps in zip(people, plan, strict=True):
        bodies = by_user.get(person.wa_id, [])
        replies = [body for body in bodies if not is_receipt(body)]
        receipts = len(bodies) - len(replies)
        checked.replies += min(len(replies), len(steps))
        checked.receipts += receipts
        checked.unanswered += max(0, len(steps) - len(replies))
        for position, (step, body) in enumerate(zip(steps, replies, strict=False)):
            problem = reply_problem(step, body, person)
            if problem is not None:
                _wrong(checked, f"{person.wa_id} message {position + 1} ({step.name}): {problem}")
        if len(replies) > len(steps):
            _wrong(checked, f"{person.wa_id}: {len(replies) - len(steps)} replies more than messages")
        wanted = receipts_expected.get(person.wa_id, 0)
        if receipts != wanted:
            _wrong(checked, f"{person.wa_id}: {receipts} receipts, not {wanted}")
    return checked


def _wrong(checked: Checked, problem: str) -> None:
    checked.wrong += 1
    if len(checked.examples) < _EXAMPLES_MAX:
        checked.examples.append(problem)
