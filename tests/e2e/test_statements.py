"""A day of mixed operations over the real server, then every wallet's statement is checked.

Cash-in, transfers both ways (and a failed one), money to a number without a wallet (its code goes by
SMS to the fake Africa's Talking, and is collected with the code read there), airtime, a bill, a
merchant payment and its refund, a wallet ride and the driver's payout. Then, for every wallet: the
amounts of completed items add up to the ledger balance; each movement appears once on each side with
the right counterparty and fee; nobody sees their own number as the other party, the other side's
fee, or the other side's failed attempts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from e2e_support import eventually, served

from sika.auth import Role
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.devservers import free_port
from sika.ledger import audit
from sika_fakes.sms import FakeSms

AMA, KOFI, DRIVER, STRANGER = "+22890112233", "+22897112233", "+22870100001", "+22899887766"
LOME_MARKET = {"lat": 6.1319, "lng": 1.2228}
TOKOIN = {"lat": 6.1725, "lng": 1.2145}
_keys = iter(range(10**9))


@dataclass
class Town:
    http: httpx.Client
    container: Container
    sms: FakeSms
    admin: dict[str, str]
    agent: dict[str, str]
    merchant: dict[str, str]

    def post(self, path: str, headers: dict[str, str], body: dict[str, Any] | None = None,
             *, money: bool = True) -> httpx.Response:
        extra = {"Idempotency-Key": f"day-{next(_keys)}"} if money else {}
        return self.http.post(path, headers={**headers, **extra}, json=body or {})

    def wallet(self, msisdn: str, name: str, pin: str, *, cash: int = 0,
               language: str = "fr") -> dict[str, str]:
        opened = self.post("/v1/wallets", self.agent, {"msisdn": msisdn, "name": name, "pin": pin,
                                                       "language": language}, money=False)
        assert opened.status_code == 201, opened.text
        self.container.customers.set_tier(msisdn, 1)
        if cash:
            done = self.post("/v1/cash-ins", self.agent, {"msisdn": msisdn, "amount": cash})
            assert done.status_code == 201, done.text
        token = self.http.post("/v1/sessions", json={"msisdn": msisdn, "pin": pin}).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def balance(self, msisdn: str) -> int:
        return int(self.http.get(f"/v1/wallets/{msisdn}", headers=self.admin).json()["balance"])

    def statement(self, msisdn: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        """Every item, following the cursor three at a time."""
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100):
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = self.http.get(f"/v1/wallets/{msisdn}/transactions", headers=headers, params=params)
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return items
        raise AssertionError("the statement never ends")


@pytest.fixture
def town(database_url: str) -> Iterator[Town]:
    token = secrets.token_urlsafe(16)
    port = free_port()
    with FakeSms(callback_url=f"http://127.0.0.1:{port}/webhooks/africastalking/sms?token={token}") as sms:
        container = bootstrap(Settings(database_url=database_url, providers="instant", jobs_interval_s=0.05,
                                       africastalking_callback_token=token, sms_sender_id="Sika",
                                       **sms.settings))
        admin_key = container.api_keys.create(Role.ADMIN, "day admin")[1]
        with served(container, port=port) as url, httpx.Client(base_url=url, timeout=30) as http:
            admin = {"Authorization": f"Bearer {admin_key}"}
            made = http.post("/v1/agents", headers=admin,
                             json={"name": "Boutique Bè", "msisdn": "+22892001122"})
            agent = {"Authorization": f"Bearer {made.json()['api_key']}"}
            funded = http.post(f"/v1/agents/{made.json()['id']}/float",
                               headers={**admin, "Idempotency-Key": "float"}, json={"amount": 5_000_000})
            assert funded.status_code == 201, funded.text
            shop = http.post("/v1/merchants", headers=admin, json={"name": "Assigame Market"}).json()
            yield Town(http=http, container=container, sms=sms, admin=admin, agent=agent,
                       merchant={"Authorization": f"Bearer {shop['api_key']}"})
        assert audit.check(container.engine) == []
        container.close()


def _ride(town: Town, rider: dict[str, str], driver: dict[str, str]) -> dict[str, Any]:
    made = town.post("/v1/rides/drivers", driver, {"city": "lome", "vehicle": "moto", "plate": "TG-4821-AZ"},
                     money=False)
    assert made.status_code == 201, made.text
    town.http.put(f"/v1/rides/drivers/{made.json()['id']}/documents", headers=town.admin,
                  json={"status": "approved"})
    town.http.put("/v1/rides/drivers/me/location", headers=driver, json={"lat": 6.1330, "lng": 1.2240})
    town.http.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": True})
    booked = town.post("/v1/rides/trips", rider,
                       {"pickup": LOME_MARKET, "dropoff": TOKOIN, "payment": "wallet"})
    assert booked.status_code == 201, booked.text
    trip = booked.json()["id"]
    for step in ("accept", "arrive", "start"):
        assert town.post(f"/v1/rides/trips/{trip}/{step}", driver, money=False).status_code == 200
    done = town.post(f"/v1/rides/trips/{trip}/complete", driver, money=False)
    assert done.json()["status"] == "completed", done.text
    return dict(done.json())


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), "a movement appears twice on one side"
    return {item["id"]: item for item in items}


def test_a_day_of_mixed_operations_leaves_statements_that_add_up_on_every_side(town: Town) -> None:
    ama = town.wallet(AMA, "Ama Mensah", "4827", cash=50_000)
    kofi = town.wallet(KOFI, "Kofi Agbeko", "5938", cash=20_000, language="en")
    driver = town.wallet(DRIVER, "Komlan Adzo", "7314")
    sent = town.post("/v1/transfers", ama, {"to": KOFI, "amount": 5_000}).json()
    back = town.post("/v1/transfers", kofi, {"to": AMA, "amount": 2_000}).json()
    refused = town.post("/v1/transfers", kofi, {"to": AMA, "amount": 900_000})
    assert refused.json()["code"] == "insufficient_funds"
    voucher = town.post("/v1/transfers", ama, {"to": STRANGER, "amount": 3_000}).json()
    airtime = town.post("/v1/airtime", ama, {"operator": "togocom", "msisdn": KOFI, "amount": 1_000}).json()
    bill = town.post("/v1/bills", ama,
                     {"provider": "ceet", "reference": "12345678903", "amount": 5_000}).json()
    asked = town.post("/v1/payment-requests", town.merchant,
                      {"msisdn": AMA, "amount": 4_000, "reference": "order-7", "description": "Pagne"}).json()
    paid = town.post(f"/v1/approvals/{asked['id']}/approve", ama, {"pin": "4827"}).json()
    refund = town.post(f"/v1/payments/{paid['id']}/refunds", town.merchant, {"amount": 1_500}).json()
    trip = _ride(town, ama, driver)
    payout = town.post("/v1/rides/drivers/me/payout", driver, money=False).json()
    assert (payout["code"], payout["direction"]) == ("paid_out", "to_wallet")

    # The stranger's code reached the SMS gateway; a wallet opened on that number takes it with the code.
    (sms,) = town.sms.wait_for(STRANGER)
    code = next(word.strip(".") for word in sms.text.split() if word.strip(".").isdigit()
                and len(word.strip(".")) == 8)
    assert "Ama Mensah" in sms.text and sms.sender == "Sika"
    stranger = town.wallet(STRANGER, "Efua Sena", "6049")
    claimed = town.post("/v1/vouchers/claim", stranger, {"msisdn": STRANGER, "code": code})
    assert claimed.status_code == 201, claimed.text

    people = {AMA: ama, KOFI: kofi, DRIVER: driver, STRANGER: stranger}
    seen = {msisdn: _by_id(town.statement(msisdn, headers)) for msisdn, headers in people.items()}
    for msisdn, items in seen.items():
        done = [item["amount"] for item in items.values() if item["status"] == "completed"]
        assert sum(done) == town.balance(msisdn), msisdn
        assert all(item["counterparty_msisdn"] != msisdn and msisdn not in item["counterparty"]
                   for item in items.values()), msisdn

    a, k, d, s = seen[AMA], seen[KOFI], seen[DRIVER], seen[STRANGER]
    # A transfer: once on each side, the fee on the sender's only, each naming the other.
    assert (a[sent["id"]]["amount"], a[sent["id"]]["fee"]) == (-5_000 - sent["fee"], sent["fee"])
    assert (k[sent["id"]]["amount"], k[sent["id"]]["fee"]) == (5_000, 0)
    assert KOFI in a[sent["id"]]["counterparty"] and AMA in k[sent["id"]]["counterparty"]
    assert (a[back["id"]]["amount"], k[back["id"]]["amount"]) == (2_000, -2_000 - back["fee"])
    # The failed attempt is Kofi's to see, not Ama's.
    failed = [item for item in k.values() if item["status"] == "failed"]
    assert [(item["kind"], item["amount"]) for item in failed] == [("transfer", 0)]
    assert failed[0]["id"] not in a
    # The voucher: the sender paid amount and fee; the recipient got the amount, from the sender.
    assert (a[voucher["id"]]["amount"], a[voucher["id"]]["counterparty"]) == (
        -3_000 - voucher["fee"], STRANGER)
    (collected,) = s.values()
    assert (collected["kind"], collected["amount"], collected["fee"]) == ("voucher_claim", 3_000, 0)
    assert AMA in collected["counterparty"] and "Ama Mensah" in collected["counterparty"]
    # Purchases name the provider and a masked reference; the hold and its post count once.
    assert (a[airtime["id"]]["amount"], a[airtime["id"]]["counterparty"]) == (
        -1_000 - airtime["fee"], f"Togocom ({KOFI})")
    assert a[bill["id"]]["amount"] == -5_000 - bill["fee"] and a[bill["id"]]["fee"] == bill["fee"]
    # Described from structured fields, in Ama's language (French), the meter masked.
    assert a[bill["id"]]["description"] == "Électricité CEET Cash Power, compteur ••••8903"
    # The merchant pays its fee: the customer sees the price; the refund comes from the same name.
    assert (a[paid["id"]]["amount"], a[paid["id"]]["fee"], a[paid["id"]]["counterparty"]) == (
        -4_000, 0, "Assigame Market")
    assert (a[refund["id"]]["amount"], a[refund["id"]]["counterparty"]) == (1_500, "Assigame Market")
    # The wallet ride shows the fare charged, not the hold; the driver's payout is the driver's.
    (ride,) = [item for item in a.values() if item["kind"] == "ride"]
    assert (ride["amount"], ride["status"], ride["counterparty"]) == (-trip["final_fare"], "completed",
                                                                      f"Komlan Adzo ({DRIVER})")
    (earned,) = d.values()
    fare = trip["final_fare"]
    assert (earned["kind"], earned["amount"]) == ("driver_payout", fare - fare * 15 // 100)
    # Receipts went by SMS, rendered from the same statement, in each person's language.
    eventually(lambda: any(sent["id"] in m.text for m in town.sms.messages(KOFI)))
    kofi_receipt = next(m.text for m in town.sms.messages(KOFI) if sent["id"] in m.text)
    assert kofi_receipt.startswith("Money received from Ama Mensah: 5,000 F CFA")
    eventually(lambda: town.sms.reports_sent > 0)
