"""The statement model on a plain server (no SMS, no WhatsApp), one finding of issue 17 each: a wallet
ride is the fare charged (the hold is pending until then), a recipient's history names the sender and
shows neither the sender's fee nor the sender's failed attempts, Arabic lines carry the right-to-left
mark, descriptions and receipts are in the customer's language, the inbox returns sentences, a
voucher nobody can reach gives its code to the sender (once), and a driver told why nothing was paid."""

from __future__ import annotations

from typing import Any

from e2e_support import World, key

from sika.chat.messages import Inbound, InboundKind
from sika.payments import new_movement_id

AMA, KOFI, FATIMA, STRANGER = "+22890112233", "+22897112233", "+22891445566", "+22899887766"
DRIVER = "+22870100001"
LOME_MARKET = {"lat": 6.1319, "lng": 1.2228}
TOKOIN = {"lat": 6.1725, "lng": 1.2145}


def _statement(world: World, msisdn: str) -> list[dict[str, Any]]:
    page = world.client.get(f"/v1/wallets/{msisdn}/transactions", headers=world.admin, params={"limit": 200})
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


def _completed_sum(items: list[dict[str, Any]]) -> int:
    return sum(item["amount"] for item in items if item["status"] == "completed")


def _chat(world: World, msisdn: str, *texts: str) -> str:
    dialog = world.container.dialog
    assert dialog is not None
    said = ""
    for text in texts:
        turn = dialog.handle(Inbound(channel="terminal", msisdn=msisdn, kind=InboundKind.TEXT,
                                     message_id=new_movement_id(), text=text))
        said = "\n".join(reply.text for reply in turn.replies)
    return said


def _driver(world: World) -> dict[str, str]:
    driver = world.wallet(DRIVER, "Komlan Adzo", pin="7314")
    made = world.client.post("/v1/rides/drivers", headers=driver,
                             json={"city": "lome", "vehicle": "moto", "plate": "TG-4821-AZ"}).json()
    world.client.put(f"/v1/rides/drivers/{made['id']}/documents", headers=world.admin,
                     json={"status": "approved"})
    world.client.put("/v1/rides/drivers/me/location", headers=driver, json={"lat": 6.1330, "lng": 1.2240})
    world.client.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": True})
    return driver


def _ride(world: World, rider: dict[str, str], driver: dict[str, str], payment: str, *,
          finish: bool = True) -> dict[str, Any]:
    booked = world.client.post("/v1/rides/trips", headers={**rider, **key()},
                               json={"pickup": LOME_MARKET, "dropoff": TOKOIN, "payment": payment})
    assert booked.status_code == 201, booked.text
    trip = booked.json()["id"]
    for step in ("accept", "arrive", "start", *(("complete",) if finish else ())):
        done = world.client.post(f"/v1/rides/trips/{trip}/{step}", headers=driver, json={})
        assert done.status_code == 200, done.text
    return dict(done.json())


def test_a_wallet_ride_is_pending_while_held_then_shows_the_fare_charged_not_the_hold(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    driver = _driver(world)
    started = _ride(world, ama, driver, "wallet", finish=False)
    (held,) = [item for item in _statement(world, AMA) if item["kind"] == "ride"]
    hold = world.container.payments.get(f"{started['id']}.p").amount
    assert (held["status"], held["amount"]) == ("pending", -hold)
    assert _completed_sum(_statement(world, AMA)) == world.balance(AMA) == 20_000
    done = world.client.post(f"/v1/rides/trips/{started['id']}/complete", headers=driver, json={}).json()
    (charged,) = [item for item in _statement(world, AMA) if item["kind"] == "ride"]
    assert done["final_fare"] < hold
    assert (charged["status"], charged["amount"], charged["counterparty"]) == (
        "completed", -done["final_fare"], f"Komlan Adzo ({DRIVER})")
    assert _completed_sum(_statement(world, AMA)) == world.balance(AMA) == 20_000 - done["final_fare"]


def test_a_recipients_history_names_the_sender_without_the_senders_fee_or_failed_attempts(
        world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    world.wallet(KOFI, "Kofi Agbeko")
    world.container.customers.set_language(KOFI, "en")
    cross = world.wallet("+221771234567", "Awa Diop", cash=50_000)  # a cross-border fee
    sent = world.client.post("/v1/transfers", headers={**cross, **key()}, json={"to": KOFI, "amount": 20_000})
    assert sent.json()["fee"] > 0
    failed = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 99_000})
    assert failed.json()["code"] == "insufficient_funds"
    screen = _chat(world, KOFI, "history")
    assert "+20,000 F CFA Money received from Awa Diop" in screen
    assert "Ama" not in screen and "failed" not in screen and "300" not in screen and KOFI not in screen
    (item,) = _statement(world, KOFI)
    assert (item["amount"], item["fee"], item["counterparty"]) == (20_000, 0, "Awa Diop (+221771234567)")
    cli_sum = _completed_sum(_statement(world, "+221771234567"))
    assert cli_sum == world.balance("+221771234567") == 50_000 - 20_000 - sent.json()["fee"]


def test_arabic_history_lines_carry_the_right_to_left_mark_and_translated_descriptions(world: World) -> None:
    fatima = world.wallet(FATIMA, "Fatima Ouro", cash=20_000)
    world.container.customers.set_language(FATIMA, "ar")
    bought = world.client.post("/v1/bills", headers={**fatima, **key()},
                               json={"provider": "ceet", "reference": "12345678903", "amount": 5_000})
    assert bought.status_code == 201, bought.text
    screen = _chat(world, FATIMA, "history")
    lines = screen.splitlines()
    assert len(lines) >= 3 and all(line.startswith("\u200f") for line in lines), lines
    assert "كهرباء CEET Cash Power، العداد ••••8903" in screen and "electricity" not in screen
    items = _statement(world, FATIMA)
    assert items[0]["description"] == "\u200fكهرباء CEET Cash Power، العداد ••••8903"


def test_receipts_and_the_inbox_read_as_sentences_in_the_customers_language(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    world.client.post("/v1/airtime", headers={**ama, **key()},
                      json={"operator": "togocom", "msisdn": KOFI, "amount": 1_000})
    world.client.post("/v1/bills", headers={**ama, **key()},
                      json={"provider": "ceet", "reference": "12345678903", "amount": 5_000})
    while world.container.outbox.deliver_due():
        pass
    feed = world.client.get(f"/v1/wallets/{AMA}/notifications", headers=ama).json()["items"]
    texts = {item["kind"]: item["text"] for item in feed}
    assert texts["receipt_airtime_sent"].startswith("Reçu : Crédit Togocom pour le +22897112233.")
    bill = texts["receipt_bill_sent"]
    assert bill.startswith("Reçu : Électricité CEET Cash Power, compteur ••••8903. "
                           "Montant : 5 000 F CFA, frais")
    assert "Votre code électricité" in bill and "electricity" not in bill
    assert texts["receipt_cash_in_received"] == (
        f"Dépôt chez Boutique Bè : 20 000 F CFA. Référence : {feed[-1]['params']['id']}.")
    assert {item["channel"] for item in feed} == {"inbox"}


def test_a_plain_server_never_pretends_a_voucher_reached_someone_the_sender_gets_the_code_once(
        world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    said = _chat(world, AMA, "send 2000 to 99887766", "1", "4827")
    assert "Aucun de nos messages ne peut l'atteindre : nous vous envoyons le code" in said, said
    while world.container.outbox.deliver_due():
        pass
    lost = world.container.outbox.feed(STRANGER)
    assert [(m.kind, m.status, "secret" in m.params) for m in lost] == [("voucher_received", "failed", False)]
    first = world.client.get(f"/v1/wallets/{AMA}/notifications", headers=ama).json()["items"]
    (passed_on,) = [item for item in first if item["kind"] == "voucher_code_to_pass_on"]
    assert passed_on["channel"] == "inbox" and "secret" not in passed_on["params"]
    code = next(word.strip(".,:") for word in passed_on["text"].split() if word.strip(".,:").isdigit()
                and len(word.strip(".,:")) == 8)
    again = world.client.get(f"/v1/wallets/{AMA}/notifications", headers=ama).json()["items"]
    assert code not in str(again)  # shown to its owner once, then forgotten
    efua = world.wallet(STRANGER, "Efua Sena", pin="6049")
    claimed = world.client.post("/v1/vouchers/claim", headers={**efua, **key()},
                                json={"msisdn": STRANGER, "code": code})
    assert claimed.status_code == 201, claimed.text
    assert world.balance(STRANGER) == 2_000


def test_a_driver_who_owes_cash_ride_commissions_is_told_why_nothing_moved_and_what_to_do(
        world: World) -> None:
    rider = world.wallet(AMA, "Ama Mensah", cash=5_000)
    driver = _driver(world)
    trip = _ride(world, rider, driver, "cash")
    owed = trip["final_fare"] * 15 // 100
    nothing = world.client.post("/v1/rides/drivers/me/payout", headers=driver).json()
    assert (nothing["moved"], nothing["owed"], nothing["code"]) == (0, owed, "commissions_owed")
    assert f"vous devez {owed} F CFA de commissions" in nothing["explanation"]
    assert "Approvisionnez votre portefeuille" in nothing["explanation"]
    world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                      json={"msisdn": DRIVER, "amount": 1_000})
    settled = world.client.post("/v1/rides/drivers/me/payout", headers=driver).json()
    assert (settled["moved"], settled["owed"], settled["code"], settled["direction"]) == (
        owed, 0, "debt_settled", "from_wallet")
    items = _statement(world, DRIVER)
    assert [(i["kind"], i["amount"]) for i in items] == [("driver_payout", -owed), ("cash_in", 1_000)]
    assert _completed_sum(items) == world.balance(DRIVER) == 1_000 - owed
