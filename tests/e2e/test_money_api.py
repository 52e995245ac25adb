"""Money through HTTP: cash-in and cash-out, transfers, vouchers, limits, idempotency, receipts."""

from __future__ import annotations

import json

from e2e_support import World, key
from sqlalchemy import select

from sika.payments.outbox import InboxChannel
from sika.payments.schema import outbox

AMA, KOFI, FATIMA, STRANGER = "+22890112233", "+22897112233", "+22891445566", "+22893556677"


def test_cash_in_pays_the_wallet_from_the_float_and_the_agent_earns_commission(world: World) -> None:
    world.wallet(AMA, "Ama Mensah")
    before = world.float_balance()
    done = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                             json={"msisdn": AMA, "amount": 10_000})
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["status"], body["amount"], body["kind"]) == ("completed", 10_000, "cash_in")
    assert world.balance(AMA) == 10_000
    # 0.3 % commission paid by the platform into the float.
    assert world.float_balance() == before - 10_000 + 30


def test_cash_out_with_the_pin_charges_the_fee(world: World) -> None:
    world.wallet(AMA, "Ama Mensah", cash=20_000)
    before = world.float_balance()
    done = world.client.post("/v1/cash-outs", headers={**world.agent, **key()},
                             json={"msisdn": AMA, "amount": 10_000, "pin": "4827"})
    assert done.status_code == 201, done.text
    assert (done.json()["status"], done.json()["fee"]) == ("completed", 100)
    assert world.balance(AMA) == 20_000 - 10_000 - 100
    assert world.float_balance() == before + 10_000 + 40  # 40 % of the fee


def test_cash_out_without_the_pin_waits_for_the_customers_approval(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    asked = world.client.post("/v1/cash-outs", headers={**world.agent, **key()},
                              json={"msisdn": AMA, "amount": 5_000})
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending_approval"
    pending = world.client.get("/v1/approvals", headers=ama).json()
    assert [p["id"] for p in pending] == [asked.json()["id"]]
    approved = world.client.post(f"/v1/approvals/{asked.json()['id']}/approve", headers=ama,
                                 json={"pin": "4827"})
    assert approved.status_code == 201, approved.text
    again = world.client.post(f"/v1/approvals/{asked.json()['id']}/approve", headers=ama,
                              json={"pin": "4827"})
    assert again.json()["id"] == approved.json()["id"]
    assert world.balance(AMA) == 20_000 - 5_000 - 50


def test_send_money_to_a_wallet_with_receipts_for_both(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=30_000)
    kofi = world.wallet(KOFI, "Kofi Agbeko")
    quote = world.client.get("/v1/transfers/quote", headers=ama, params={"to": KOFI, "amount": 15_000})
    assert quote.json() == {"to": KOFI, "amount": 15_000, "fee": 50, "total": 15_050,
                            "operation": "transfer", "recipient_name": "Kofi A."}
    sent = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 15_000})
    assert sent.status_code == 201, sent.text
    assert (sent.json()["status"], sent.json()["fee"]) == ("completed", 50)
    assert (world.balance(AMA), world.balance(KOFI)) == (30_000 - 15_050, 15_000)
    for headers in (ama, kofi, world.admin):
        assert world.client.get(f"/v1/transfers/{sent.json()['id']}", headers=headers).status_code == 200
    fatima = world.wallet(FATIMA, "Fatima Ouro")
    assert world.client.get(f"/v1/transfers/{sent.json()['id']}", headers=fatima).status_code == 404
    world.container.outbox.deliver_due()
    assert "receipt_transfer_received" in _kinds(world, KOFI, kofi)
    assert "receipt_transfer_sent" in _kinds(world, AMA, ama)


def test_a_retry_with_the_same_key_moves_money_once_and_another_body_conflicts(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=30_000)
    world.wallet(KOFI, "Kofi Agbeko")
    same = key()
    first = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 1_000})
    second = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 1_000})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert world.balance(KOFI) == 1_000
    other = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 2_000})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    missing = world.client.post("/v1/transfers", headers=ama, json={"to": KOFI, "amount": 1_000})
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")


def test_refusals_have_codes_and_move_nothing(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=1_000)
    world.wallet(KOFI, "Kofi Agbeko", tier=0)
    poor = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 5_000})
    assert (poor.status_code, poor.json()["code"]) == (409, "insufficient_funds")
    assert world.balance(AMA) == 1_000
    # Tier 0 receives at most 100,000 at a time.
    big = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                            json={"msisdn": KOFI, "amount": 150_000})
    assert (big.status_code, big.json()["code"]) == (403, "limit_exceeded")
    for body, code in [({"to": "+33612345678", "amount": 10}, "validation_error"),
                       ({"to": AMA, "amount": 10}, "same_wallet"),
                       ({"to": KOFI, "amount": 0}, "validation_error"),
                       ({"to": KOFI, "amount": "lots"}, "validation_error")]:
        refused = world.client.post("/v1/transfers", headers={**ama, **key()}, json=body)
        assert refused.json()["code"] == code, refused.text


def test_a_tier_0_wallet_holds_and_receives_within_its_tier(world: World) -> None:
    world.wallet(KOFI, "Kofi Agbeko", tier=0)
    for _ in range(2):  # 200,000: the tier-0 balance cap
        ok = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                               json={"msisdn": KOFI, "amount": 100_000})
        assert ok.status_code == 201, ok.text
    over = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                             json={"msisdn": KOFI, "amount": 1})
    assert (over.status_code, over.json()["code"]) == (403, "limit_exceeded")
    kofi = world.login(KOFI, "4827")
    world.wallet(AMA, "Ama Mensah")
    for _ in range(3):  # spend and reload: 500,000 a month is the tier-0 inflow limit
        sent = world.client.post("/v1/transfers", headers={**kofi, **key()},
                                 json={"to": AMA, "amount": 99_000})
        assert sent.status_code == 201, sent.text
        refill = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                                   json={"msisdn": KOFI, "amount": 99_000})
        assert refill.status_code == 201, refill.text
    assert world.balance(KOFI) == 200_000 - 3 * (99_000 + 200) + 3 * 99_000
    monthly = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                                json={"msisdn": KOFI, "amount": 1_000})
    assert (monthly.status_code, monthly.json()["code"]) == (403, "limit_exceeded")
    assert "monthly" in monthly.json()["detail"] or "tier" in monthly.json()["detail"]


def test_a_locked_pin_stops_money_movement(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=10_000)
    world.wallet(KOFI, "Kofi Agbeko")
    codes = [world.client.post("/v1/transfers", headers={**ama, **key()},
                               json={"to": KOFI, "amount": 100, "pin": "1357"}).json()["code"]
             for _ in range(3)]
    assert codes == ["invalid_pin", "invalid_pin", "pin_locked"]
    locked = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 100})
    assert (locked.status_code, locked.json()["code"]) == (429, "pin_locked")
    assert world.balance(AMA) == 10_000


def test_money_to_a_number_without_a_wallet_waits_as_a_voucher(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    sent = world.client.post("/v1/transfers", headers={**ama, **key()},
                             json={"to": STRANGER, "amount": 4_000})
    assert sent.status_code == 201, sent.text
    assert (sent.json()["kind"], sent.json()["fee"]) == ("voucher", 50)
    assert world.balance(AMA) == 20_000 - 4_050
    waiting = world.client.get("/v1/vouchers", headers=world.agent, params={"msisdn": STRANGER}).json()
    assert [v["amount"] for v in waiting] == [4_000]
    code = _voucher_code(world, STRANGER)
    wrong = world.client.post("/v1/vouchers/claim", headers={**world.agent, **key()},
                              json={"msisdn": STRANGER, "code": "00000000"})
    assert wrong.json()["code"] == "invalid_voucher"
    stranger = world.wallet(STRANGER, "Yawa Kossi", pin="6049")
    claimed = world.client.post("/v1/vouchers/claim", headers={**stranger, **key()},
                                json={"msisdn": STRANGER, "code": code})
    assert claimed.status_code == 201, claimed.text
    assert world.balance(STRANGER) == 4_000
    twice = world.client.post("/v1/vouchers/claim", headers={**world.agent, **key()},
                              json={"msisdn": STRANGER, "code": code})
    assert twice.status_code in (404, 409)
    assert world.balance(STRANGER) == 4_000


def test_an_agent_pays_a_voucher_in_cash(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": STRANGER, "amount": 4_000})
    before = world.float_balance()
    paid = world.client.post("/v1/vouchers/claim", headers={**world.agent, **key()},
                             json={"msisdn": STRANGER, "code": _voucher_code(world, STRANGER)})
    assert paid.status_code == 201, paid.text
    assert world.float_balance() == before + 4_000 + 12


def test_an_unclaimed_voucher_goes_back_to_the_sender_after_its_time(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": STRANGER, "amount": 4_000})
    payments = world.container.payments
    assert payments.refund_expired_vouchers() == 0
    from sqlalchemy import update

    from sika.payments.schema import vouchers
    with world.container.engine.begin() as connection:
        connection.execute(update(vouchers).values(expires_at_ns=0))
    assert payments.refund_expired_vouchers() == 1
    assert world.balance(AMA) == 20_000 - 50
    assert payments.refund_expired_vouchers() == 0
    late = world.client.post("/v1/vouchers/claim", headers={**world.agent, **key()},
                             json={"msisdn": STRANGER, "code": "12345678"})
    assert late.status_code == 404


def _kinds(world: World, msisdn: str, headers: dict[str, str]) -> list[str]:
    feed = world.client.get(f"/v1/wallets/{msisdn}/notifications", headers=headers)
    return [item["kind"] for item in feed.json()["items"]]


def _voucher_code(world: World, msisdn: str) -> str:
    """The code as the recipient's channel would get it: from the outbox, before delivery wipes it."""
    messages = world.container.outbox.feed(msisdn)
    codes = [m.params["secret"] for m in messages if m.kind == "voucher_received" and "secret" in m.params]
    assert codes, messages
    return str(codes[0])


def test_delivered_messages_keep_no_voucher_code(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": STRANGER, "amount": 1_000})
    world.container.outbox.channel = InboxChannel()
    while world.container.outbox.deliver_due():
        pass
    assert all("secret" not in m.params for m in world.container.outbox.feed(STRANGER))


def test_money_to_another_xof_country_pays_the_cross_border_fee(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    world.wallet("+221771234567", "Awa Diop")  # Senegal
    quote = world.client.get("/v1/transfers/quote", headers=ama,
                             params={"to": "+221771234567", "amount": 20_000}).json()
    assert (quote["operation"], quote["fee"]) == ("cross_border", 300)
    sent = world.client.post("/v1/transfers", headers={**ama, **key()},
                             json={"to": "+221771234567", "amount": 20_000})
    assert (sent.status_code, sent.json()["fee"]) == (201, 300)
    assert world.balance("+221771234567") == 20_000


def test_pin_change_by_the_customer_and_reset_by_an_agent(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah")
    pin_route = f"/v1/wallets/{AMA}/pin"
    wrong = world.client.put(pin_route, headers=ama, json={"old_pin": "1357", "new_pin": "2468"})
    assert wrong.json()["code"] == "invalid_pin"
    changed = world.client.put(pin_route, headers=ama, json={"old_pin": "4827", "new_pin": "2469"})
    assert changed.status_code == 204, changed.text
    assert world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "2469"}).status_code == 201
    for _ in range(3):
        world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "1357"})
    locked = world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "2469"})
    assert locked.json()["code"] == "pin_locked"
    # An agent resets it with the code the reset sent to the number (issue 16: never without it).
    assert world.client.post(f"/v1/wallets/{AMA}/pin-resets", headers=world.agent).status_code == 202
    reset = world.client.put(f"/v1/wallets/{AMA}/pin", headers=world.agent,
                             json={"new_pin": "3580", "reset_code": _reset_code(world)})
    assert reset.status_code == 204, reset.text
    assert world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "3580"}).status_code == 201
    world.client.post(f"/v1/wallets/{AMA}/pin-resets", headers=world.agent)
    weak = world.client.put(f"/v1/wallets/{AMA}/pin", headers=world.agent,
                            json={"new_pin": "1111", "reset_code": _reset_code(world)})
    assert weak.json()["code"] == "weak_pin"


def _reset_code(world: World) -> str:
    with world.container.engine.connect() as connection:
        params = connection.execute(select(outbox.c.params).where(outbox.c.kind == "pin_reset_code")
                                    .order_by(outbox.c.id.desc()).limit(1)).scalar_one_or_none()
    assert params is not None
    return str(json.loads(params)["secret"])


def test_an_agent_raises_the_tier_after_checking_an_id(world: World) -> None:
    world.wallet(AMA, "Ama Mensah", tier=0)
    raised = world.client.put(f"/v1/wallets/{AMA}/tier", headers=world.agent, json={"tier": 1})
    assert raised.json()["tier"] == 1
    refused = world.client.put(f"/v1/wallets/{AMA}/tier", headers=world.agent, json={"tier": 2})
    assert refused.json()["code"] == "forbidden"
    big = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                            json={"msisdn": AMA, "amount": 900_000})
    assert big.status_code == 201, big.text


def test_old_idempotency_answers_are_pruned_and_a_reused_key_still_moves_money_once(world: World) -> None:
    from sika.auth.idempotency import prune

    ama = world.wallet(AMA, "Ama Mensah", cash=10_000)
    world.wallet(KOFI, "Kofi Agbeko")
    same = key()
    first = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 1_000})
    assert prune(world.container.engine, ttl_s=-3600) >= 1
    again = world.client.post("/v1/transfers", headers={**ama, **same}, json={"to": KOFI, "amount": 1_000})
    assert again.json()["id"] == first.json()["id"]
    assert world.balance(KOFI) == 1_000
