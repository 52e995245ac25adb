"""A statement item's amount is what the ledger did to the wallet for that movement: a hold and its
post count once, a void or an expiry counts nothing, a partial capture counts what was captured, and a
leg id another movement owns is that movement's."""

from __future__ import annotations

from sika.ledger import PendingStatus, TransferFlags, TransferRecord
from sika.payments.movements import Code, Kind, Leg, Movement, Status
from sika.payments.statement import Effect, effect
from sika.rides.payment_kinds import RIDE

WALLET, PROVIDER, FEES, CLEARING, HOLDING = 1, 2, 3, 4, 5


def _movement(mid: str, legs: list[Leg], kind: Kind = Kind.BILL) -> Movement:
    return Movement(id=mid, kind=kind, status=Status.COMPLETED, amount=legs[0].amount, fee=0, commission=0,
                    currency="XOF", payer_customer_id=7, payee_customer_id=None, agent_id=None,
                    merchant_id=None, counterparty=None, provider=None, product=None,
                    provider_reference=None, details={}, error_code=None, created_at_ns=1, updated_at_ns=1,
                    legs=legs)


def _record(tid: str, debit: int, credit: int, amount: int, *, movement: str, code: int = 0,
            flags: TransferFlags = TransferFlags.NONE,
            pending: PendingStatus | None = None) -> TransferRecord:
    return TransferRecord(id=tid, debit_account_id=debit, credit_account_id=credit, amount=amount,
                          currency="XOF", code=code, flags=flags, pending_id=None, timeout_s=0,
                          metadata={"movement": movement}, created_at_ns=1, pending_status=pending)


def _records(*records: TransferRecord) -> dict[str, TransferRecord]:
    return {r.id: r for r in records}


def test_a_bill_held_then_posted_counts_once_with_its_fee() -> None:
    bill = _movement("mv_b", [
        Leg("mv_b.0", WALLET, PROVIDER, 5_000, Code.PROVIDER_PAYMENT, "payer", pending=True),
        Leg("mv_b.1", WALLET, FEES, 100, Code.FEE, "payer", pending=True)])
    held = _records(
        _record("mv_b.0", WALLET, PROVIDER, 5_000, movement="mv_b", flags=TransferFlags.PENDING,
                pending=PendingStatus.PENDING),
        _record("mv_b.1", WALLET, FEES, 100, movement="mv_b", code=Code.FEE, flags=TransferFlags.PENDING,
                pending=PendingStatus.PENDING))
    assert effect(bill, WALLET, held) == Effect(held=-5_100, fee_held=100)
    posted = _records(
        _record("mv_b.0", WALLET, PROVIDER, 5_000, movement="mv_b", flags=TransferFlags.PENDING,
                pending=PendingStatus.POSTED),
        _record("mv_b.0.post", WALLET, PROVIDER, 5_000, movement="mv_b", flags=TransferFlags.POST_PENDING),
        _record("mv_b.1", WALLET, FEES, 100, movement="mv_b", code=Code.FEE, flags=TransferFlags.PENDING,
                pending=PendingStatus.POSTED),
        _record("mv_b.1.post", WALLET, FEES, 100, movement="mv_b", code=Code.FEE,
                flags=TransferFlags.POST_PENDING))
    done = effect(bill, WALLET, posted)
    assert (done.posted, done.held, done.fee_posted) == (-5_100, 0, 100)


def test_a_voided_or_expired_hold_counts_nothing() -> None:
    bill = _movement("mv_v", [
        Leg("mv_v.0", WALLET, PROVIDER, 2_000, Code.PROVIDER_PAYMENT, "payer", pending=True)])
    voided = _records(
        _record("mv_v.0", WALLET, PROVIDER, 2_000, movement="mv_v", flags=TransferFlags.PENDING,
                pending=PendingStatus.VOIDED),
        _record("mv_v.0.void", WALLET, PROVIDER, 2_000, movement="mv_v", flags=TransferFlags.VOID_PENDING))
    expired = _records(_record("mv_v.0", WALLET, PROVIDER, 2_000, movement="mv_v",
                               flags=TransferFlags.PENDING, pending=PendingStatus.EXPIRED))
    assert (effect(bill, WALLET, voided).posted, effect(bill, WALLET, voided).held) == (0, 0)
    assert (effect(bill, WALLET, expired).posted, effect(bill, WALLET, expired).held) == (0, 0)


def test_a_wallet_ride_counts_the_fare_captured_not_the_hold() -> None:
    ride = _movement("t1.p", [Leg("t1.p.0", WALLET, CLEARING, 1_475, Code.RIDE_FARE, "payer", pending=True)],
                     kind=RIDE)
    captured = _records(
        _record("t1.p.0", WALLET, CLEARING, 1_475, movement="t1.p", flags=TransferFlags.PENDING,
                pending=PendingStatus.POSTED),
        _record("t1.p.0.post", WALLET, CLEARING, 800, movement="t1.p", flags=TransferFlags.POST_PENDING))
    assert effect(ride, WALLET, captured).posted == -800


def test_a_leg_another_movement_owns_is_not_counted_twice() -> None:
    # A voucher's settle leg: the refund paid it out, so the claim that lost the race moved nothing.
    claim = _movement("mv_c", [Leg("mv_v.settle", HOLDING, WALLET, 3_000, Code.VOUCHER_CLAIM, "holding")],
                      kind=Kind.VOUCHER_CLAIM)
    owned = _records(_record("mv_v.settle", HOLDING, WALLET, 3_000, movement="mv_r"))
    assert effect(claim, WALLET, owned).posted == 0
