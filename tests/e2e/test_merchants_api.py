"""Merchants through HTTP: request-to-pay, the customer's approval with the PIN, refunds, and the
signed callbacks a merchant's server receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from e2e_support import World, key
from sqlalchemy import update

from sika.payments.callbacks import verify
from sika.payments.schema import approvals, callbacks

AMA, KOFI = "+22890112233", "+22897112233"
PRICE = 12_500
FEE = 125  # 1 % of the price, paid by the merchant


def _ask(
    world: World,
    msisdn: str,
    amount: int,
    *,
    merchant: dict[str, str] | None = None,
    reference: str = "order-1042",
    idempotency: dict[str, str] | None = None,
) -> dict[str, Any]:
    asked = world.client.post(
        "/v1/payment-requests",
        headers={**(merchant or world.merchant), **(idempotency or key())},
        json={"msisdn": msisdn, "amount": amount, "description": "2 pagnes", "reference": reference},
    )
    assert asked.status_code == 201, asked.text
    body: dict[str, Any] = asked.json()
    return body


def _approve(world: World, customer: dict[str, str], request_id: str, pin: str = "4827") -> Any:
    return world.client.post(f"/v1/approvals/{request_id}/approve", headers=customer, json={"pin": pin})


def _merchant_balance(world: World, merchant: dict[str, str] | None = None) -> int:
    me = world.client.get("/v1/merchants/me", headers=merchant or world.merchant)
    assert me.status_code == 200, me.text
    return int(me.json()["balance"])


def _paid(
    world: World,
    customer: dict[str, str],
    msisdn: str,
    amount: int = PRICE,
    merchant: dict[str, str] | None = None,
) -> str:
    request = _ask(world, msisdn, amount, merchant=merchant)
    approved = _approve(world, customer, request["id"])
    assert approved.status_code == 201, approved.text
    return str(approved.json()["id"])


def _new_merchant(world: World, name: str, callback_url: str | None = None) -> dict[str, Any]:
    made = world.client.post(
        "/v1/merchants", headers=world.admin, json={"name": name, "callback_url": callback_url}
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def _refund(
    world: World,
    payment_id: str,
    amount: int | None = None,
    *,
    merchant: dict[str, str] | None = None,
    idempotency: dict[str, str] | None = None,
) -> Any:
    return world.client.post(
        f"/v1/payments/{payment_id}/refunds",
        headers={**(merchant or world.merchant), **(idempotency or key())},
        json={} if amount is None else {"amount": amount},
    )


# Request to pay ----------------------------------------------------------------------------------


def test_a_customer_approves_a_merchants_request_with_the_pin_and_pays_once(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    same = key()
    request = _ask(world, AMA, PRICE, idempotency=same)
    assert (request["status"], request["amount"], request["reference"]) == (
        "pending_approval",
        PRICE,
        "order-1042",
    )
    assert _ask(world, AMA, PRICE, idempotency=same)["id"] == request["id"]  # a retried request
    assert [a["id"] for a in world.client.get("/v1/approvals", headers=ama).json()] == [request["id"]]

    wrong = _approve(world, ama, request["id"], pin="1357")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_pin")
    assert (world.balance(AMA), _merchant_balance(world)) == (50_000, 0)

    paid = _approve(world, ama, request["id"])
    assert paid.status_code == 201, paid.text
    assert (paid.json()["kind"], paid.json()["status"], paid.json()["fee"]) == (
        "merchant_payment",
        "completed",
        FEE,
    )
    again = _approve(world, ama, request["id"])
    assert (again.status_code, again.json()["id"]) == (201, paid.json()["id"])
    assert world.balance(AMA) == 50_000 - PRICE
    assert _merchant_balance(world) == PRICE - FEE
    assert world.client.get("/v1/approvals", headers=ama).json() == []
    polled = world.client.get(f"/v1/payment-requests/{request['id']}", headers=world.merchant).json()
    assert (polled["status"], polled["payment_id"]) == ("approved", paid.json()["id"])
    seen = world.client.get(f"/v1/transfers/{paid.json()['id']}", headers=world.merchant)
    assert (seen.status_code, seen.json()["status"]) == (200, "completed")


def test_a_declined_request_moves_nothing_and_cannot_be_approved_later(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    request = _ask(world, AMA, PRICE)
    declined = world.client.post(f"/v1/approvals/{request['id']}/decline", headers=ama)
    assert (declined.status_code, declined.json()["status"]) == (200, "declined")
    late = _approve(world, ama, request["id"])
    assert (late.status_code, late.json()["code"]) == (409, "approval_closed")
    twice = world.client.post(f"/v1/approvals/{request['id']}/decline", headers=ama)
    assert (twice.status_code, twice.json()["code"]) == (409, "approval_closed")
    assert (world.balance(AMA), _merchant_balance(world)) == (50_000, 0)
    polled = world.client.get(f"/v1/payment-requests/{request['id']}", headers=world.merchant).json()
    assert (polled["status"], polled["payment_id"]) == ("declined", None)


def test_an_expired_request_cannot_be_approved(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    request = _ask(world, AMA, PRICE)
    with world.container.engine.begin() as connection:
        connection.execute(update(approvals).where(approvals.c.id == request["id"]).values(expires_at_ns=0))
    assert world.client.get("/v1/approvals", headers=ama).json() == []
    before_sweep = _approve(world, ama, request["id"])
    assert (before_sweep.status_code, before_sweep.json()["code"]) == (409, "approval_expired")
    assert world.container.approvals.expire() == 1
    assert world.container.approvals.expire() == 0
    after_sweep = _approve(world, ama, request["id"])
    assert (after_sweep.status_code, after_sweep.json()["code"]) == (409, "approval_closed")
    assert (world.balance(AMA), _merchant_balance(world)) == (50_000, 0)
    polled = world.client.get(f"/v1/payment-requests/{request['id']}", headers=world.merchant).json()
    assert polled["status"] == "expired"


def test_a_customer_without_the_money_gets_insufficient_funds_and_the_request_fails(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=1_000)
    request = _ask(world, AMA, PRICE)
    poor = _approve(world, ama, request["id"])
    assert (poor.status_code, poor.json()["code"]) == (409, "insufficient_funds")
    assert (world.balance(AMA), _merchant_balance(world)) == (1_000, 0)
    polled = world.client.get(f"/v1/payment-requests/{request['id']}", headers=world.merchant).json()
    assert polled["status"] == "failed"


def test_requests_are_private_to_their_merchant_and_customer(world: World) -> None:
    world.wallet(AMA, "Ama Mensah", cash=50_000)
    kofi = world.wallet(KOFI, "Kofi Agbeko", cash=50_000)
    request = _ask(world, AMA, PRICE)
    stranger = {"Authorization": f"Bearer {_new_merchant(world, 'Zongo Shop')['api_key']}"}
    for headers in (stranger, kofi, world.agent):
        seen = world.client.get(f"/v1/payment-requests/{request['id']}", headers=headers)
        assert seen.status_code == 404, (headers, seen.text)
    not_yours = _approve(world, kofi, request["id"])
    assert (not_yours.status_code, not_yours.json()["code"]) == (404, "unknown_approval")
    declined = world.client.post(f"/v1/approvals/{request['id']}/decline", headers=kofi)
    assert declined.status_code == 404
    by_merchant = world.client.post(
        f"/v1/approvals/{request['id']}/approve", headers=world.merchant, json={"pin": "4827"}
    )
    assert by_merchant.status_code == 403
    unknown = world.client.post(
        "/v1/payment-requests",
        headers={**world.merchant, **key()},
        json={"msisdn": "+22893556677", "amount": 100},
    )
    assert unknown.status_code == 404


# Refunds -----------------------------------------------------------------------------------------


def test_a_full_refund_gives_the_whole_amount_back_once(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    kofi = world.wallet(KOFI, "Kofi Agbeko", cash=50_000)
    payment = _paid(world, ama, AMA)
    _paid(world, kofi, KOFI)  # the merchant's other sales cover the fee it keeps paying
    assert _merchant_balance(world) == 2 * (PRICE - FEE)
    same = key()
    refunded = _refund(world, payment, idempotency=same)
    assert refunded.status_code == 201, refunded.text
    assert (refunded.json()["kind"], refunded.json()["amount"], refunded.json()["status"]) == (
        "merchant_refund",
        PRICE,
        "completed",
    )
    assert _refund(world, payment, idempotency=same).json() == refunded.json()  # a retry
    assert world.balance(AMA) == 50_000
    assert _merchant_balance(world) == 2 * (PRICE - FEE) - PRICE
    again = _refund(world, payment)
    assert (again.status_code, again.json()["code"]) == (409, "already_refunded")
    assert world.balance(AMA) == 50_000
    assert _merchant_balance(world) == 2 * (PRICE - FEE) - PRICE
    seen = world.client.get(f"/v1/transfers/{refunded.json()['id']}", headers=ama)
    assert (seen.status_code, seen.json()["kind"]) == (200, "merchant_refund")


def test_a_partial_refund_is_the_only_refund(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    payment = _paid(world, ama, AMA)
    part = _refund(world, payment, 5_000)
    assert (part.status_code, part.json()["amount"]) == (201, 5_000)
    rest = _refund(world, payment, PRICE - 5_000)
    assert (rest.status_code, rest.json()["code"]) == (409, "already_refunded")
    too_much = _refund(world, payment, PRICE + 1)
    assert (too_much.status_code, too_much.json()["code"]) == (400, "invalid_amount")
    assert world.balance(AMA) == 50_000 - PRICE + 5_000
    assert _merchant_balance(world) == PRICE - FEE - 5_000


def test_a_refund_the_merchant_cannot_cover_moves_nothing_and_a_smaller_one_still_can(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    payment = _paid(world, ama, AMA)
    # The merchant holds the price less the fee: the whole price is more than it has.
    short = _refund(world, payment)
    assert (short.status_code, short.json()["code"]) == (409, "merchant_insufficient")
    assert (world.balance(AMA), _merchant_balance(world)) == (50_000 - PRICE, PRICE - FEE)
    # Nothing was refunded, so a refund the merchant can cover goes through.
    covered = _refund(world, payment, PRICE - FEE)
    assert covered.status_code == 201, covered.text
    assert (world.balance(AMA), _merchant_balance(world)) == (50_000 - FEE, 0)


def test_a_stranger_merchant_cannot_refund_or_see_another_merchants_payment(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    payment = _paid(world, ama, AMA)
    stranger = {"Authorization": f"Bearer {_new_merchant(world, 'Zongo Shop')['api_key']}"}
    refused = _refund(world, payment, merchant=stranger)
    assert (refused.status_code, refused.json()["code"]) == (404, "unknown_transfer")
    assert world.client.get(f"/v1/transfers/{payment}", headers=stranger).status_code == 404
    by_customer = world.client.post(f"/v1/payments/{payment}/refunds", headers={**ama, **key()}, json={})
    assert by_customer.status_code == 403
    assert (world.balance(AMA), _merchant_balance(world)) == (50_000 - PRICE, PRICE - FEE)
    assert _merchant_balance(world, stranger) == 0


def test_a_refund_of_a_request_not_yet_paid_is_refused(world: World) -> None:
    world.wallet(AMA, "Ama Mensah", cash=50_000)
    request = _ask(world, AMA, PRICE)
    early = _refund(world, request["id"])
    assert early.status_code == 404, early.text
    assert world.balance(AMA) == 50_000


# Signed callbacks --------------------------------------------------------------------------------


@dataclass
class _Hit:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class MerchantServer:
    """A merchant's callback endpoint: answers 500 to the first try of each event, then 200."""

    url: str
    hits: list[_Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            event_id = headers.get("Sika-Event-Id", "")
            tried = any(hit.headers.get("Sika-Event-Id") == event_id for hit in self.hits)
            status = 200 if tried else 500
            self.hits.append(_Hit(headers, body, status))
            return status

    def acknowledged(self) -> dict[str, list[_Hit]]:
        by_event: dict[str, list[_Hit]] = {}
        for hit in self.hits:
            if hit.status == 200:
                by_event.setdefault(hit.headers["Sika-Event-Id"], []).append(hit)
        return by_event


@pytest.fixture
def merchant_server() -> Iterator[MerchantServer]:
    recorder: list[MerchantServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = recorder[0].answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorder.append(MerchantServer(url=f"http://127.0.0.1:{server.server_address[1]}/sika/callbacks"))
    thread = threading.Thread(target=server.serve_forever, name="merchant-callbacks", daemon=True)
    thread.start()
    try:
        yield recorder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _deliver_until_quiet(world: World, tries_max: int = 5) -> list[int]:
    """Run the callbacks worker, making every retry due at once instead of sleeping."""
    claimed = []
    for _ in range(tries_max):
        claimed.append(world.container.callbacks.deliver_due())
        with world.container.engine.begin() as connection:
            connection.execute(
                update(callbacks).where(callbacks.c.status == "queued").values(next_attempt_ns=0)
            )
        if claimed[-1] == 0:
            break
    return claimed


def test_a_merchant_gets_signed_callbacks_once_each_despite_a_failed_first_try(
    world: World, merchant_server: MerchantServer
) -> None:
    shop = _new_merchant(world, "Assigame Online", callback_url=merchant_server.url)
    assert shop["callback_secret"].startswith("whsec_")
    headers = {"Authorization": f"Bearer {shop['api_key']}"}
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    kofi = world.wallet(KOFI, "Kofi Agbeko", cash=50_000)
    payment = _paid(world, ama, AMA, merchant=headers)
    _paid(world, kofi, KOFI, merchant=headers)
    refund = _refund(world, payment, 2_000, merchant=headers)
    assert refund.status_code == 201, refund.text
    declined = _ask(world, AMA, 700, merchant=headers, reference="order-1043")
    assert world.client.post(f"/v1/approvals/{declined['id']}/decline", headers=ama).status_code == 200

    claimed = _deliver_until_quiet(world)
    assert claimed[:3] == [4, 4, 0], claimed  # every event failed once, then went through

    acknowledged = merchant_server.acknowledged()
    assert all(len(hits) == 1 for hits in acknowledged.values()), acknowledged
    events = {json.loads(hits[0].body)["type"]: json.loads(hits[0].body) for hits in acknowledged.values()}
    assert sorted(t for t in (json.loads(h[0].body)["type"] for h in acknowledged.values())) == [
        "payment.completed",
        "payment.completed",
        "payment.declined",
        "refund.completed",
    ]
    for hit in merchant_server.hits:
        assert verify(shop["callback_secret"], hit.body, hit.headers["Sika-Signature"]), hit
        assert not verify(
            world.container.merchants.list()[0].callback_secret, hit.body, hit.headers["Sika-Signature"]
        )
        assert json.loads(hit.body)["id"] == hit.headers["Sika-Event-Id"]
    # The retry carried the same event id and the same body.
    tries: dict[str, list[_Hit]] = {}
    for hit in merchant_server.hits:
        tries.setdefault(hit.headers["Sika-Event-Id"], []).append(hit)
    assert len(tries) == 4
    for hits in tries.values():
        assert [hit.status for hit in hits] == [500, 200]
        assert hits[0].body == hits[1].body
    assert events["refund.completed"]["data"]["amount"] == 2_000
    assert events["refund.completed"]["data"]["payment_id"] == payment
    assert events["payment.declined"]["data"]["reference"] == "order-1043"
    assert world.container.callbacks.undelivered() == []


def test_a_callback_body_changed_in_transit_does_not_verify(
    world: World, merchant_server: MerchantServer
) -> None:
    shop = _new_merchant(world, "Assigame Online", callback_url=merchant_server.url)
    # Approved from Ama's app, which names her phone: kept on the payment, never sent to the merchant.
    ama = {**world.wallet(AMA, "Ama Mensah", cash=50_000), "X-Sika-Device": "install-7f3a9c21"}
    # A cashback on merchant payments: Ama's reward, and the campaigns' verdicts, are hers alone.
    campaigns = world.container.promotions.campaigns
    cashback = campaigns.create(name="Shop cashback", kind="cashback", budget=10_000,
                                rules={"percent": 2, "reward_max": 500, "operations": ["merchant"]})
    campaigns.start(cashback.id)
    payment = _paid(world, ama, AMA, merchant={"Authorization": f"Bearer {shop['api_key']}"})
    assert {"device", "extras"} <= world.container.payments.get(payment).details.keys()
    _deliver_until_quiet(world)
    hit = merchant_server.hits[-1]
    body = json.loads(hit.body)
    assert (body["type"], body["data"]["payment_id"], body["data"]["amount"]) == (
        "payment.completed",
        payment,
        PRICE,
    )
    assert not {"device", "extras", "promotions", "dropped"} & body["data"].keys()
    assert body["data"]["reference"] == "order-1042"
    assert verify(shop["callback_secret"], hit.body, hit.headers["Sika-Signature"])
    forged = hit.body.replace(str(PRICE).encode(), b"99999")
    assert not verify(shop["callback_secret"], forged, hit.headers["Sika-Signature"])
    # A replay long after the event is refused too.
    timestamp = int(dict(p.split("=", 1) for p in hit.headers["Sika-Signature"].split(","))["t"])
    assert not verify(
        shop["callback_secret"], hit.body, hit.headers["Sika-Signature"], now_s=timestamp + 3_600
    )
    # The refund takes Ama's cashback back: she reads it in the refund; the merchant does not.
    merchant = {"Authorization": f"Bearer {shop['api_key']}"}
    refunded = _refund(world, payment, PRICE // 2, merchant=merchant)
    assert refunded.status_code == 201, refunded.text
    assert not {"clawbacks", "extras", "dropped", "promotions"} & refunded.json()["details"].keys()
    seen = world.client.get(f"/v1/transfers/{refunded.json()['id']}", headers=merchant).json()
    assert not {"clawbacks", "extras"} & seen["details"].keys()
    own = world.client.get(f"/v1/transfers/{refunded.json()['id']}", headers=ama).json()
    assert "clawbacks" in own["details"] and "clawbacks" in world.container.payments.get(
        refunded.json()["id"]).details


def test_a_request_the_customer_cannot_pay_reports_payment_failed(
    world: World, merchant_server: MerchantServer
) -> None:
    shop = _new_merchant(world, "Assigame Online", callback_url=merchant_server.url)
    ama = world.wallet(AMA, "Ama Mensah", cash=1_000)
    request = _ask(world, AMA, PRICE, merchant={"Authorization": f"Bearer {shop['api_key']}"})
    assert _approve(world, ama, request["id"]).json()["code"] == "insufficient_funds"
    _deliver_until_quiet(world)
    types = [json.loads(hits[0].body)["type"] for hits in merchant_server.acknowledged().values()]
    assert types == ["payment.failed"]
    data = json.loads(merchant_server.hits[-1].body)["data"]
    assert (data["request_id"], data["error_code"]) == (request["id"], "insufficient_funds")


def test_too_small_requests_and_refused_approvals_leave_nothing_stuck(world: World) -> None:
    tiny = world.client.post(
        "/v1/payment-requests",
        headers={**world.merchant, **key()},
        json={"msisdn": "+22890112233", "amount": 1},
    )
    # docs/wallet.md, "Errors": a wallet that does not exist is 404, whatever else is wrong with the
    # request; the amount is judged (409) only against a wallet that exists, below.
    assert (tiny.status_code, tiny.json()["code"]) == (404, "unknown_wallet")
    ama = world.wallet("+22890112233", "Ama Mensah", tier=0, cash=100_000)
    tiny = world.client.post(
        "/v1/payment-requests",
        headers={**world.merchant, **key()},
        json={"msisdn": "+22890112233", "amount": 1},
    )
    assert (tiny.status_code, tiny.json()["code"]) == (409, "amount_below_minimum")
    big = world.client.post(
        "/v1/payment-requests",
        headers={**world.merchant, **key()},
        json={"msisdn": "+22890112233", "amount": 150_000},
    )
    assert big.status_code == 201, big.text
    refused = world.client.post(
        f"/v1/approvals/{big.json()['id']}/approve", headers=ama, json={"pin": "4827"}
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "limit_exceeded")
    # Still pending: the customer can decline it, and it expires like any other.
    assert (
        world.client.get(f"/v1/payment-requests/{big.json()['id']}", headers=world.merchant).json()["status"]
        == "pending_approval"
    )
    declined = world.client.post(f"/v1/approvals/{big.json()['id']}/decline", headers=ama)
    assert declined.json()["status"] == "declined"


def test_a_customer_sees_who_asks_by_the_registered_name_and_the_description_as_a_note(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    posted = world.client.post("/v1/payment-requests", headers={**world.merchant, **key()},
                               json={"msisdn": AMA, "amount": PRICE, "description": "Sika Support refund"})
    assert posted.status_code == 201, posted.text
    (listed,) = world.client.get("/v1/approvals", headers=ama).json()
    assert (listed["requester"], listed["description"]) == ("Assigame Market", "Sika Support refund")
