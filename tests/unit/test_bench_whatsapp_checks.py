"""The WhatsApp benchmark's checks of each answer: a wrong reply, a missing one and a receipt too many
are each reported, and a right conversation passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sika.bench.whatsapp_check import check_replies
from sika.bench.whatsapp_mix import Person, mix_steps
from sika.chat.i18n import translator

ALICE = Person(index=0, msisdn="+22890100000", language="en", recipient="+22890100001", pin="2580")


@dataclass
class Sent:
    body: dict[str, Any]
    at_s: float

    @property
    def to(self) -> str:
        return str(self.body["to"])


def text(body: str) -> dict[str, Any]:
    return {"to": ALICE.wa_id, "type": "text", "text": {"body": body}}


def buttons(body: str, *ids: str) -> dict[str, Any]:
    return {"to": ALICE.wa_id, "type": "interactive", "interactive": {
        "type": "button", "body": {"text": body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": i, "title": i}} for i in ids]}}}


def menu(body: str) -> dict[str, Any]:
    rows = [{"id": i, "title": i} for i in ("balance", "send", "airtime", "bills", "history")]
    return {"to": ALICE.wa_id, "type": "interactive", "interactive": {
        "type": "list", "body": {"text": body}, "action": {"button": "Menu", "sections": [{"rows": rows}]}}}


def conversation() -> list[dict[str, Any]]:
    """The right replies to Alice's first three messages: a transfer of 500 with its PIN."""
    return [
        buttons("Send 500 F CFA to Client 1 (+22890100001)?", "confirm", "cancel"),
        text(translator("en")("Type your 4-digit PIN to confirm.")),
        menu("Sent 500 F CFA to Client 1. Reference: mv_1.\n\nWhat would you like to do?"),
    ]


def check(bodies: list[dict[str, Any]], receipts: int = 1) -> Any:
    steps = [mix_steps("realistic", 0, 3)]
    sent = [Sent(body, at_s=float(n)) for n, body in enumerate(bodies)]
    return check_replies([ALICE], steps, sent, {ALICE.wa_id: receipts})  # type: ignore[arg-type]


def test_the_right_replies_and_receipt_pass() -> None:
    checked = check([*conversation(), text("Receipt: Money sent to Client 1. Reference: mv_1.")])
    assert (checked.replies, checked.receipts, checked.unanswered, checked.wrong) == (3, 1, 0, 0)


def test_a_reply_that_is_not_what_its_step_expects_is_reported() -> None:
    replies = conversation()
    replies[1] = text("Something else")
    checked = check([*replies, text("Receipt: mv_1")])
    assert checked.wrong == 1
    assert "message 2 (confirm send)" in checked.examples[0]


def test_a_missing_reply_leaves_its_message_unanswered() -> None:
    checked = check([*conversation()[:2], text("Receipt: mv_1")])
    assert (checked.replies, checked.unanswered) == (2, 1)


def test_a_receipt_too_many_is_reported() -> None:
    checked = check([*conversation(), text("Receipt: mv_1"), text("Receipt: mv_2")])
    assert checked.wrong == 1
    assert "2 receipts, not 1" in checked.examples[0]
