"""A reused Idempotency-Key with another request never resumes the first movement for it.

The key's stored answer can be gone (pruned after the TTL, or released after a server error); the
movement it made is still there. Before the movement stored its request's fingerprint, a resend of the
key with another payee found that movement, checked only payer and amount, and answered 201
"completed" for the *old* payee while the new one got nothing.
"""

from __future__ import annotations

from e2e_support import World, key
from sqlalchemy import delete

from sika.auth.schema import idempotency

AMA, KOFI, ESI, STRANGER = "+22890112233", "+22897112233", "+22891445566", "+22893556677"


def _forget_answers(world: World) -> None:
    """What pruning after the TTL, or a released claim after a 5xx, leaves: no stored answer."""
    with world.container.engine.begin() as connection:
        connection.execute(delete(idempotency))


def test_a_reused_key_to_another_payee_is_a_conflict_and_pays_nobody(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=10_000)
    world.wallet(KOFI, "Kofi Agbeko")
    world.wallet(ESI, "Esi Dede")
    same = key()
    first = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 1_000})
    assert first.status_code == 201, first.text
    _forget_answers(world)

    other = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": ESI, "amount": 1_000})

    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    assert (world.balance(KOFI), world.balance(ESI)) == (1_000, 0)
    assert world.balance(AMA) == 10_000 - 1_000 - first.json()["fee"]
    # The first request, sent again, still gets its own answer.
    again = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 1_000})
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    assert world.balance(KOFI) == 1_000


def test_a_reused_key_to_a_number_without_a_wallet_is_a_conflict_too(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=10_000)
    world.wallet(KOFI, "Kofi Agbeko")
    same = key()
    assert world.client.post("/v1/transfers", headers={**ama, **same},
                             json={"to": STRANGER, "amount": 1_000}).status_code == 201
    _forget_answers(world)
    other = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 1_000})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    assert world.balance(KOFI) == 0


def test_a_reused_cash_in_key_for_another_wallet_is_a_conflict(world: World) -> None:
    world.wallet(KOFI, "Kofi Agbeko")
    world.wallet(ESI, "Esi Dede")
    same = key()
    assert world.client.post("/v1/cash-ins", headers={**world.agent, **same},
                             json={"msisdn": KOFI, "amount": 2_000}).status_code == 201
    _forget_answers(world)
    other = world.client.post("/v1/cash-ins", headers={**world.agent, **same},
                              json={"msisdn": ESI, "amount": 2_000})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    assert (world.balance(KOFI), world.balance(ESI)) == (2_000, 0)


def test_a_reused_airtime_key_for_another_number_is_a_conflict(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=10_000)
    same = key()
    first = world.client.post("/v1/airtime", headers={**ama, **same},
                              json={"operator": "togocom", "msisdn": "+22890998877", "amount": 500})
    assert first.status_code == 201, first.text
    _forget_answers(world)
    other = world.client.post("/v1/airtime", headers={**ama, **same},
                              json={"operator": "togocom", "msisdn": "+22890998866", "amount": 500})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    assert world.balance(AMA) == 10_000 - 500 - first.json()["fee"]
