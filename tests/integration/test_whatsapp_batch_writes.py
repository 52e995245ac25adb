"""A pass's writes made by one statement, on SQLite and PostgreSQL (where they go as arrays through
``unnest``): the messages a claim handled, the sends Meta accepted, a batch's conversations, a webhook
group's messages. Each must write exactly what the row-by-row statements wrote, whatever the text."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update

from sika.chat.messages import MASK, Inbound, InboundKind
from sika.chat.state import Conversations, State, batch
from sika.chat.whatsapp.schema import contacts, inbox, outbound
from sika.chat.whatsapp.store import (
    Handled,
    LeaseLost,
    Outgoing,
    Received,
    add_inbounds,
    enqueue_outbound,
    finish_inbounds,
    sent_outbounds,
)
from sika.db import writing
from sika.payments.queue import claim_due

# Characters an array literal gives a meaning to, and others a driver could mangle.
AWKWARD = ['say "hi"', "back\\slash", "{braces}", "a,b", "NULL", "", "two\nlines", "Ça marche 👍",
           "مرحبا", "' OR 1=1 --"]


def _received(message_id: str, text: str, msisdn: str, at: int) -> Received:
    inbound = Inbound(channel="whatsapp", msisdn=msisdn, kind=InboundKind.TEXT, message_id=message_id,
                      text=text)
    return Received(inbound, sent_at_ns=at, now_ns=at)


def test_awkward_texts_are_stored_as_sent_and_each_window_opens_at_its_latest(engine: Engine) -> None:
    group = [_received(f"wamid.{n}", text, f"+2289011{n % 3:04d}", 1_000 + n)
             for n, text in enumerate(AWKWARD)]
    assert add_inbounds(engine, group) == [True] * len(AWKWARD)
    # A later group with an older message of one number does not move its window back.
    assert add_inbounds(engine, [_received("wamid.old", "late", "+22890110000", 5)]) == [True]
    with engine.connect() as connection:
        stored = [row.text for row in connection.execute(select(inbox.c.text).order_by(inbox.c.id))]
        windows = dict(connection.execute(select(contacts.c.msisdn, contacts.c.last_inbound_at_ns)).all())
    assert stored == [*AWKWARD, "late"]
    assert windows == {"+22890110000": 1_009, "+22890110001": 1_007, "+22890110002": 1_008}


def test_a_window_stored_within_the_minute_is_not_written_again(engine: Engine) -> None:
    second = 1_000_000_000
    number = "+22890110000"
    add_inbounds(engine, [_received("wamid.a", "hi", number, 100 * second)])
    add_inbounds(engine, [_received("wamid.b", "again", number, 130 * second)])
    with engine.connect() as connection:
        assert connection.execute(select(contacts.c.last_inbound_at_ns)).scalar_one() == 100 * second
    add_inbounds(engine, [_received("wamid.c", "later", number, 161 * second)])
    with engine.connect() as connection:
        assert connection.execute(select(contacts.c.last_inbound_at_ns)).scalar_one() == 161 * second
        assert connection.execute(select(inbox.c.text).order_by(inbox.c.id)).scalars().all() == [
            "hi", "again", "later"]


def _claimed(engine: Engine, count: int) -> list[dict[str, object]]:
    add_inbounds(engine, [_received(f"wamid.{n}", f"text {n}", "+22890112233", 1_000 + n)
                          for n in range(count)])
    return [dict(row) for row in claim_due(engine, inbox, now_ns=2_000, limit=count, lease_s=60)]


def test_a_claims_messages_are_marked_handled_together(engine: Engine) -> None:
    rows = _claimed(engine, 3)
    handled = [Handled(row=row, lease=int(str(row["lease_until_ns"])), outgoing=[], secret=False)
               for row in rows]
    with writing(engine).begin() as connection:
        finish_inbounds(connection, handled, now_ns=3_000, send_lease_until_ns=None)
    with engine.connect() as connection:
        found = connection.execute(select(inbox.c.status, inbox.c.handled_at_ns,
                                          inbox.c.lease_until_ns)).all()
    assert sorted(found) == [("done", 3_000, None)] * 3


def test_a_pin_is_masked_as_its_message_is_marked_handled_with_the_others(engine: Engine) -> None:
    rows = _claimed(engine, 3)
    handled = [Handled(row=row, lease=int(str(row["lease_until_ns"])), outgoing=[], secret=n == 1)
               for n, row in enumerate(rows)]
    with writing(engine).begin() as connection:
        finish_inbounds(connection, handled, now_ns=3_000, send_lease_until_ns=None)
    with engine.connect() as connection:
        found = connection.execute(select(inbox.c.text, inbox.c.payload_json, inbox.c.status)
                                   .order_by(inbox.c.id)).all()
    assert [(text_, status) for text_, _, status in found] == [
        ("text 0", "done"), (MASK, "done"), ("text 2", "done")]
    assert "text 1" not in found[1][1] and "text 0" in found[0][1]  # the stored message masked too


def test_one_lost_lease_rolls_the_whole_batch_back(engine: Engine) -> None:
    rows = _claimed(engine, 3)
    handled = [Handled(row=row, lease=int(str(row["lease_until_ns"])), outgoing=[], secret=False)
               for row in rows]
    with writing(engine).begin() as connection:  # another worker took the second one meanwhile
        connection.execute(update(inbox).where(inbox.c.id == rows[1]["id"]).values(lease_until_ns=9_999))
    with pytest.raises(LeaseLost), writing(engine).begin() as connection:
        finish_inbounds(connection, handled, now_ns=3_000, send_lease_until_ns=None)
    with engine.connect() as connection:
        assert {row.status for row in connection.execute(select(inbox.c.status))} == {"queued"}


def test_sends_are_recorded_with_their_own_ids_and_a_stale_lease_is_left_alone(engine: Engine) -> None:
    with writing(engine).begin() as connection:
        ids = enqueue_outbound(connection, "+22890112233", [Outgoing(body_json=f'{{"n":{n}}}',
                                                                     secret_body_json="secret")
                                                            for n in range(3)], keys=None, now_ns=1_000)
        connection.execute(update(outbound).values(lease_until_ns=5_000))
    sent_outbounds(engine, [(ids[0], 5_000, 'wamid."a"'), (ids[1], 4_000, "wamid.b"),
                            (ids[2], 5_000, "wamid.c\\")], now_ns=2_000)
    with engine.connect() as connection:
        found = connection.execute(select(outbound.c.id, outbound.c.status, outbound.c.wamid,
                                          outbound.c.secret_body_json, outbound.c.updated_at_ns)
                                   .order_by(outbound.c.id)).all()
    assert [tuple(row) for row in found] == [
        (ids[0], "sent", 'wamid."a"', None, 2_000),
        (ids[1], "queued", None, "secret", 1_000),  # its lease was another's: not ours to record
        (ids[2], "sent", "wamid.c\\", None, 2_000),
    ]


def test_a_batchs_conversations_are_saved_together_new_and_known(engine: Engine) -> None:
    clock = iter(range(1_000, 2_000))
    talks = Conversations(engine, clock_ns=lambda: next(clock))
    talks.save("whatsapp", "+22890110000", "+22890110000", State(flow="send", step="amount"))
    keys = [f"+2289011{n:04d}" for n in range(len(AWKWARD))]
    with batch(engine, "whatsapp", keys) as held:
        for key, text in zip(keys, AWKWARD, strict=True):
            talks.save("whatsapp", key, key, State(flow="menu", step="menu", data={"typed": text}))
        with writing(engine).begin() as connection:
            assert held.write(connection) == len(keys)
    for key, text in zip(keys, AWKWARD, strict=True):
        state = talks.load("whatsapp", key)
        assert (state.flow, state.data) == ("menu", {"typed": text})
