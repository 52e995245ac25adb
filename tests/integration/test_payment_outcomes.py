"""A payment's reads and its outcome. A transfer confirmed with a PIN reads its two wallets once (the
payer's PIN state and the recipient in one statement) and its receipts name them from that read; on
PostgreSQL a payment's outcome and receipts are one more statement (sika.payments.completion), a
purchase's settling too, the provider's receipt laid over the details the row holds then (a note
written meanwhile stays), the answer being the row as written. What the customers see is as before:
the receipts' names and tokens, a wrong PIN counted, a lock after too many, a merchant's callback with
its payment, a failed bill's reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from reads_support import selects, statements_run
from sqlalchemy import select

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.payments import Status, new_movement_id
from sika.payments.schema import callbacks, outbox
from sika.wallet import Pin
from sika.wallet.customers import InvalidPin, PinLocked

AMA, KOFI = "+22890112233", "+22891223344"
FUNDED = 50_000


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    agent, _ = built.agents.create("Boutique Bè", msisdn="+22892001122")
    built.payments.credit_float(new_movement_id(), agent, 100_000)
    built.customers.open(AMA, "Ama Mensah", language="fr", pin=Pin("4827"), tier=1)
    built.customers.open(KOFI, "Kofi Agbeko", language="en", pin=Pin("1593"), tier=1)
    built.payments.cash_in(new_movement_id(), agent, AMA, FUNDED)
    yield built
    built.close()


def _receipts(container: Container, movement_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    with container.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.msisdn, outbox.c.kind, outbox.c.params)
                                  .where(outbox.c.dedupe_key.like(f"{movement_id}:%")).order_by(outbox.c.id))
        return [(row.msisdn, row.kind, json.loads(row.params)) for row in rows]


def test_a_transfer_with_a_pin_reads_both_wallets_in_one_statement(container: Container) -> None:
    ama = container.customers.get(AMA)
    movement_id = new_movement_id()
    with statements_run(container.engine) as seen:
        moved = container.payments.transfer(movement_id, ama, KOFI, 1_500, pin=Pin("4827"))
    assert moved.status is Status.COMPLETED
    wallets = [s for s in selects(seen) if "FROM wallet_customers" in s]
    assert len(wallets) == 1, wallets  # the PIN's and the recipient's; the receipts read none
    sent, received = _receipts(container, movement_id)
    assert sent[0] == AMA and sent[1] == "receipt_transfer_sent" and sent[2]["to"] == "Kofi Agbeko"
    assert received[0] == KOFI and received[2]["from"] == "Ama Mensah" and received[2]["amount"] == 1_500


def test_a_wrong_pin_in_a_transfer_is_counted_then_locks(container: Container) -> None:
    ama = container.customers.get(AMA)
    with pytest.raises(InvalidPin) as wrong:
        container.payments.transfer(new_movement_id(), ama, KOFI, 1_000, pin=Pin("1111"))
    assert container.customers.get(AMA).pin_failures == 1
    left = wrong.value.tries_left
    for _ in range(left - 1):
        with pytest.raises(InvalidPin):
            container.payments.transfer(new_movement_id(), ama, KOFI, 1_000, pin=Pin("1111"))
    with pytest.raises(PinLocked):  # the last try locks
        container.payments.transfer(new_movement_id(), ama, KOFI, 1_000, pin=Pin("1111"))
    with pytest.raises(PinLocked):  # and the right PIN waits out the lock too
        container.payments.transfer(new_movement_id(), ama, KOFI, 1_000, pin=Pin("4827"))
    assert container.ledger.get_account(container.customers.get(AMA).account_id).balance == FUNDED


def test_a_transfer_to_a_number_without_a_wallet_with_a_pin_is_a_voucher(container: Container) -> None:
    ama = container.customers.get(AMA)
    movement_id = new_movement_id()
    moved = container.payments.transfer(movement_id, ama, "+22899887766", 2_500, pin=Pin("4827"))
    assert moved.status is Status.COMPLETED and moved.counterparty == "+22899887766"
    queued = {kind: (to, params) for to, kind, params in _receipts(container, movement_id)}
    assert queued["voucher_received"][0] == "+22899887766"  # the code, to collect it
    assert queued["voucher_received"][1]["sender"] == "Ama Mensah"
    assert queued["receipt_voucher_sent"] == (AMA, {"id": movement_id, "amount": 2_500, "fee": 50,
                                                    "to": "+22899887766"})


def test_a_transfer_s_outcome_and_receipts_are_one_statement_on_postgresql(container: Container) -> None:
    ama = container.customers.get(AMA)
    movement_id = new_movement_id()
    with statements_run(container.engine) as seen:
        moved = container.payments.transfer(movement_id, ama, KOFI, 1_200, pin=Pin("4827"))
    assert moved.status is Status.COMPLETED and moved.error_code is None
    outcome = [s for s in seen if "UPDATE pay_movements" in s]
    queued = [s for s in seen if "INSERT INTO pay_outbox" in s]
    if container.engine.dialect.name == "postgresql":  # (SQLite: one transaction with the ledger's)
        assert len(outcome) == 1 and outcome == queued and outcome[0].startswith("WITH moved"), seen
    assert [kind for _, kind, _ in _receipts(container, movement_id)] == [
        "receipt_transfer_sent", "receipt_transfer_received"]
    stored = container.movements.get(movement_id)
    assert stored.status is Status.COMPLETED and stored.details == moved.details


def test_an_outcome_recorded_already_is_not_recorded_again_nor_its_receipts(container: Container) -> None:
    ama = container.customers.get(AMA)
    movement_id = new_movement_id()
    moved = container.payments.transfer(movement_id, ama, KOFI, 1_000, pin=Pin("4827"))
    processing = replace(moved, status=Status.PROCESSING)
    again = container.movements.recorded_outcome(processing, Status.PROCESSING, Status.COMPLETED,
                                                 error_code=None, details=moved.details)
    assert again is None  # another try recorded it first: nothing written
    assert len(_receipts(container, movement_id)) == 2


def test_a_merchant_payment_s_outcome_queues_the_merchant_s_callback_with_it(container: Container) -> None:
    merchant, _ = container.merchants.create("Pharmacie du Port", callback_url="https://pharmacie.example/cb")
    ama = container.customers.get(AMA)
    paid = container.payments.merchant_payment(new_movement_id(), merchant, ama, 3_000, reference="ord-7")
    assert paid.status is Status.COMPLETED
    with container.engine.connect() as connection:
        payloads = connection.execute(select(callbacks.c.payload).where(
            callbacks.c.merchant_id == merchant.id)).scalars().all()
    # A kind with a follow-up: written in the outcome's transaction, with the receipt.
    assert [json.loads(p)["type"] for p in payloads] == ["payment.completed"]
    assert [kind for _, kind, _ in _receipts(container, paid.id)] == ["receipt_merchant_payment_sent"]


def test_promotions_follow_up_a_completion_that_carries_a_reward_or_a_clawback(container: Container) -> None:
    moved = container.payments.transfer(new_movement_id(), container.customers.get(AMA), KOFI, 1_000)
    grants = container.promotions.grants
    assert not grants.follows_up(moved)  # no campaign in it: recorded in one statement
    rewarded = {"extras": {"o7": {"campaign": 7, "kind": "cashback", "customer": 1, "amount": 50}}}
    assert grants.follows_up(replace(moved, details=rewarded))
    # A refund whose clawback group was dropped (the wallet could not pay it back): owed, so written.
    dropped = {"clawbacks": {"o7": {"clawback": 3, "taken": 50}}, "dropped": {"o7": "exceeds_credits"}}
    assert grants.follows_up(replace(moved, details=dropped))


def _buy_power(container: Container, movement_id: str, amount: int = 2_000) -> Any:
    payer = container.customers.get(AMA)
    return container.purchases.buy(movement_id, payer, provider="ceet", product="electricity",
                                   reference="12345678903", amount=amount, pin=Pin("4827"))


def _buy_unanswered_water(container: Container, movement_id: str) -> Any:
    due = container.purchases.quote("tde", "water", "10000002", None).amount  # the biller never answers
    return container.purchases.buy(movement_id, container.customers.get(AMA), provider="tde",
                                   product="water", reference="10000002", amount=due, pin=Pin("4827"))


def test_a_bill_settled_is_one_statement_with_its_receipt_on_postgresql(container: Container) -> None:
    movement_id = new_movement_id()
    with statements_run(container.engine) as seen:
        paid = _buy_power(container, movement_id)
    assert paid.status is Status.COMPLETED
    token = paid.details["receipt"]["token"]
    assert token and paid.provider_reference  # the answer is the row as written: the reference too
    assert container.movements.get(movement_id) == paid
    if container.engine.dialect.name == "postgresql":
        outcomes = [s for s in seen if s.startswith("WITH moved")]
        assert len(outcomes) == 2, seen  # on to pending (the hold), then completed with its receipt
        assert not any(s.startswith("INSERT INTO pay_outbox") for s in seen), seen
        assert not any("FOR UPDATE" in s for s in seen), seen  # the details merged by the statement
        by_id = [s for s in selects(seen) if "FROM pay_movements" in s and "pay_movements.id =" in s]
        assert len(by_id) == 1, by_id  # whether it was paid before; settling takes the order's copy
    ((to, kind, params),) = _receipts(container, movement_id)
    assert to == AMA and kind.startswith("receipt_") and params["receipt"]["token"] == token
    balance = container.ledger.get_account(container.customers.get(AMA).account_id).balance
    assert balance == FUNDED - 2_000 - paid.fee


def test_a_note_written_before_the_settling_stays_in_the_details(container: Container) -> None:
    movement_id = new_movement_id()
    pending = _buy_unanswered_water(container, movement_id)
    assert pending.status is Status.PENDING  # the biller has not answered
    container.movements.note(pending, payment_url="https://pay.example/10000002")  # noted meanwhile
    settled = container.payments.settle(movement_id, success=True, receipt={"reference": "TDE-77"})
    assert settled.status is Status.COMPLETED
    stored = container.movements.get(movement_id)
    assert stored.details["payment_url"] == "https://pay.example/10000002"  # kept
    assert stored.details["receipt"] == {"reference": "TDE-77"}
    assert stored.details["description"] == pending.details["description"]


def test_an_answer_settling_a_copy_out_of_date_follows_what_was_recorded_meanwhile(
        container: Container) -> None:
    # The biller's late success, applied to the pending copy the order kept, after the deadline voided
    # the hold: nothing is taken, no receipt, and the late success is kept for reconciliation.
    movement_id = new_movement_id()
    pending = _buy_unanswered_water(container, movement_id)
    container.payments.settle(movement_id, success=False, error_code="provider_timeout",
                              reason="the biller never answered")
    late = container.movements.settle(movement_id, success=True, receipt={"reference": "TDE-78"},
                                      read=pending)
    assert late.status is Status.FAILED and late.error_code == "provider_timeout"
    assert late.details["late_outcome"] == "succeeded"
    assert _receipts(container, movement_id) == []
    balance = container.ledger.get_account(container.customers.get(AMA).account_id).balance
    assert balance == FUNDED
    # A success recorded first (a callback), then the answer's on the old copy: charged and told once.
    second = new_movement_id()
    pending = _buy_unanswered_water(container, second)
    container.payments.settle(second, success=True, receipt={"reference": "TDE-79"})
    again = container.movements.settle(second, success=True, receipt={"reference": "TDE-79"}, read=pending)
    assert again.status is Status.COMPLETED and again.details["receipt"] == {"reference": "TDE-79"}
    assert len(_receipts(container, second)) == 1
    balance = container.ledger.get_account(container.customers.get(AMA).account_id).balance
    assert balance == FUNDED - pending.amount - pending.fee


def test_settling_an_older_copy_keeps_what_another_writer_changed_since(container: Container) -> None:
    movement_id = new_movement_id()
    pending = _buy_unanswered_water(container, movement_id)
    container.movements.note(pending, description="TDE water, reference corrected")  # changed meanwhile
    settled = container.movements.settle(movement_id, success=True, receipt={"reference": "TDE-81"},
                                         read=pending)
    stored = container.movements.get(movement_id)
    assert settled.status is Status.COMPLETED and stored == settled
    assert stored.details["description"] == "TDE water, reference corrected"  # not the copy's
    assert stored.details["receipt"] == {"reference": "TDE-81"}


def test_a_failed_bill_records_its_reason_and_queues_no_receipt(container: Container) -> None:
    movement_id = new_movement_id()
    pending = _buy_unanswered_water(container, movement_id)
    failed = container.payments.settle(movement_id, success=False, error_code="provider_timeout",
                                       reason="the biller never answered")
    assert failed.status is Status.FAILED and failed.error_code == "provider_timeout"
    assert failed.details["reason"] == "the biller never answered"
    assert failed.details["description"] == pending.details["description"]
    assert _receipts(container, movement_id) == []
    balance = container.ledger.get_account(container.customers.get(AMA).account_id).balance
    assert balance == FUNDED  # the hold returned


def test_details_jsonb_would_refuse_are_merged_as_before(container: Container) -> None:
    # A provider's text cut inside an emoji (a lone surrogate), as jsoncodec writes it: jsonb refuses it.
    movement_id = new_movement_id()
    _buy_unanswered_water(container, movement_id)
    receipt = {"reference": "TDE-78", "name": "KOFFI \ud83d"}
    settled = container.payments.settle(movement_id, success=True, receipt=receipt)
    assert settled.status is Status.COMPLETED
    assert container.movements.get(movement_id).details["receipt"] == receipt
    ((to, _kind, params),) = _receipts(container, movement_id)
    assert to == AMA and params["receipt"] == receipt


def test_a_row_whose_own_details_jsonb_refuses_is_recorded_as_before(container: Container) -> None:
    movement_id = new_movement_id()
    pending = _buy_unanswered_water(container, movement_id)
    # Noted after `pending` was read (as reconciliation may, while a settler holds its copy): stored
    # escaped, fine as text, refused by jsonb; the one statement fails whole and the outcome is recorded
    # by the transaction, merging in Python.
    container.movements.note(pending, operator="a\x00b")
    details = {**pending.details, "reason": "the biller never answered"}
    failed = container.movements.recorded_outcome(pending, Status.PENDING, Status.FAILED,
                                                  error_code="provider_timeout", details=details)
    assert failed is not None and failed.status is Status.FAILED
    stored = container.movements.get(movement_id)
    assert stored.details["operator"] == "a\x00b" and stored.details["reason"] == details["reason"]
    assert stored.status is Status.FAILED and stored.error_code == "provider_timeout"
