"""An outbox batch's receipts are rendered together, in a few reads whatever their number, and each
reads exactly as it would alone: the sender's and the recipient's receipts, a cash-in's, a voucher's,
in each person's language; a movement that is not the reader's gets the plain line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from reads_support import selects, statements_run
from sqlalchemy import select

from sika.bootstrap import Container, bootstrap
from sika.chat.texts.notifications import NotificationText
from sika.config import Settings
from sika.payments import new_movement_id
from sika.payments.schema import outbox
from sika.wallet import Pin

PEOPLE = [("+22890112233", "Ama Mensah", "fr"), ("+22891223344", "Kofi Agbeko", "en"),
          ("+22892334455", "Yawa Dogbe", "fr"), ("+22893445566", "Edem Kpodo", "en")]


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="off"))
    agent, _ = built.agents.create("Boutique Bè", msisdn="+22892001122")
    built.payments.credit_float(new_movement_id(), agent, 1_000_000)
    for msisdn, name, language in PEOPLE:
        built.customers.open(msisdn, name, language=language, pin=Pin("4827"), tier=1)
        built.payments.cash_in(new_movement_id(), agent, msisdn, 20_000)
    customers = built.customers
    for index, (msisdn, _, _) in enumerate(PEOPLE):
        to = PEOPLE[(index + 1) % len(PEOPLE)][0]
        built.payments.transfer(new_movement_id(), customers.get(msisdn), to, 1_000 + index)
    # and a voucher, to a number without a wallet
    built.payments.transfer(new_movement_id(), customers.get(PEOPLE[0][0]), "+22899887766", 2_500)
    yield built
    built.close()


def _queued(container: Container) -> list[tuple[str, dict[str, Any], str]]:
    with container.engine.connect() as connection:
        query = select(outbox.c.kind, outbox.c.params, outbox.c.msisdn).order_by(outbox.c.id)
        rows = connection.execute(query)
        return [(row.kind, json.loads(row.params), row.msisdn) for row in rows]


def test_a_batch_of_receipts_reads_as_each_alone_in_a_few_reads(container: Container) -> None:
    text = NotificationText(container.customers, container.statements)
    queued = _queued(container)
    wanted = list(queued)
    # a receipt of a movement that is not the reader's, and one of a movement that does not exist
    wanted.append(("receipt_transfer_sent", {"id": queued[0][1].get("id", "mv_x")}, PEOPLE[3][0]))
    # Ama's first receipt again, her number written as people write it
    wanted.append((queued[0][0], queued[0][1], "90 11 22 33"))
    wanted.append(("receipt_transfer_sent", {"id": "mv_unknown", "amount": 5}, PEOPLE[1][0]))
    assert sum(kind.startswith("receipt_") for kind, _, _ in wanted) >= 12
    alone = [text(kind, params, msisdn) for kind, params, msisdn in wanted]

    with statements_run(container.engine) as statements:
        together = text.many(wanted)
    assert together == alone
    # the wallets, the movements, their transfers, and the agents and the people on the other side
    # (one read), whatever the batch's size
    assert len(selects(statements)) == 4 and len(statements) == 4, statements

    by_reader = {(kind, msisdn): shown for (kind, _, msisdn), shown in zip(queued, together, strict=False)}
    sent = by_reader[("receipt_transfer_sent", PEOPLE[1][0])]
    received = by_reader[("receipt_transfer_received", PEOPLE[2][0])]
    assert "Yawa Dogbe" in sent and "Kofi Agbeko" in received
    assert together[-1] == alone[-1] and "mv_unknown" in together[-1]  # the plain line, no statement item
    assert queued[0][2] == PEOPLE[0][0] and together[-2] == together[0]
