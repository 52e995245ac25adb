"""Received WhatsApp messages stored by ``add_inbounds``, a group in one transaction, on SQLite and
PostgreSQL: each message id once, the first time, in the order received."""

from __future__ import annotations

from sqlalchemy import Engine, select

from sika.chat.messages import Inbound, InboundKind
from sika.chat.whatsapp.schema import inbox
from sika.chat.whatsapp.store import Received, add_inbounds


def _received(message_id: str, text: str, msisdn: str = "+22890112233", at: int = 1_000) -> Received:
    inbound = Inbound(channel="whatsapp", msisdn=msisdn, kind=InboundKind.TEXT, message_id=message_id,
                      text=text)
    return Received(inbound, sent_at_ns=at, now_ns=at)


def _stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [(row.message_id, row.text) for row in
                connection.execute(select(inbox.c.message_id, inbox.c.text).order_by(inbox.c.id))]


def test_each_message_id_is_stored_once_the_first_time_in_order(engine: Engine) -> None:
    assert add_inbounds(engine, [_received("wamid.1", "menu"), _received("wamid.2", "solde"),
                                 _received("wamid.1", "menu again")]) == [True, True, False]
    # Delivered again later, with a new one between.
    assert add_inbounds(engine, [_received("wamid.2", "solde"), _received("wamid.3", "1"),
                                 _received("wamid.3", "1")]) == [False, True, False]
    assert _stored(engine) == [("wamid.1", "menu"), ("wamid.2", "solde"), ("wamid.3", "1")]


def test_a_large_group_is_stored_whole_and_in_order(engine: Engine) -> None:
    count = 515
    group = [_received(f"wamid.{n}", f"text {n}", msisdn=f"+2289011{n % 100:04d}", at=1_000 + n)
             for n in range(count)]
    group.append(_received("wamid.0", "a repeat of the first, at the end"))
    added = add_inbounds(engine, group)
    assert added == [True] * count + [False]
    assert _stored(engine) == [(f"wamid.{n}", f"text {n}") for n in range(count)]
