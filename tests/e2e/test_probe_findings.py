"""What an outside probe broke (issue 16, and the overlapping items of issue 17), each as a person
meets it through HTTP: takeovers, lockouts, leaks, answers that were not true, and loose inputs."""

from __future__ import annotations

import json

import pytest
from e2e_support import World, key
from sqlalchemy import select

from sika.payments.schema import outbox
from sika.wallet import Pin

AMA, KOFI, ESI, NOBODY = "+22890112233", "+22897112233", "+22891445566", "+22893556677"
LOME_MARKET = {"lat": 6.1319, "lng": 1.2228}
TOKOIN = {"lat": 6.1725, "lng": 1.2145}


def _reset_code(world: World, msisdn: str) -> str:
    with world.container.engine.connect() as connection:
        params = connection.execute(
            select(outbox.c.params).where(outbox.c.msisdn == msisdn, outbox.c.kind == "pin_reset_code")
            .order_by(outbox.c.id.desc())).scalar()
    assert params is not None
    return str(json.loads(params)["secret"])


def test_an_agent_alone_cannot_reset_a_pin_and_take_the_wallet_over(world: World) -> None:
    world.wallet(AMA, "Ama Mensah", cash=10_000)
    route = f"/v1/wallets/{AMA}/pin"
    bare = world.client.put(route, headers=world.agent, json={"new_pin": "3580"})
    assert (bare.status_code, bare.json()["code"]) == (422, "validation_error")
    guessed = world.client.put(route, headers=world.agent, json={"new_pin": "3580", "old_pin": "1111"})
    assert (guessed.status_code, guessed.json()["code"]) == (403, "forbidden")
    assert world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "3580"}).status_code == 401


def test_a_reset_with_the_code_sent_to_the_number_ends_sessions_and_freezes_cash_out(world: World) -> None:
    old_session = world.wallet(AMA, "Ama Mensah", cash=10_000)
    world.wallet(KOFI, "Kofi Agbeko")
    started = world.client.post(f"/v1/wallets/{AMA}/pin-resets", headers=world.agent)
    assert (started.status_code, started.json()["status"]) == (202, "code_sent")
    code = _reset_code(world, AMA)
    other = "000000" if code != "000000" else "111111"
    wrong = world.client.put(f"/v1/wallets/{AMA}/pin", headers=world.agent,
                             json={"new_pin": "3580", "reset_code": other})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_reset_code")
    done = world.client.put(f"/v1/wallets/{AMA}/pin", headers=world.agent,
                            json={"new_pin": "3580", "reset_code": code})
    assert done.status_code == 204, done.text

    assert world.client.get(f"/v1/wallets/{AMA}", headers=old_session).status_code == 401
    ama = world.login(AMA, "3580")
    cash_out = world.client.post("/v1/cash-outs", headers={**world.agent, **key()},
                                 json={"msisdn": AMA, "amount": 5_000, "pin": "3580"})
    assert (cash_out.status_code, cash_out.json()["code"]) == (403, "cash_out_frozen")
    sent = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 5_000})
    assert (sent.status_code, sent.json()["code"]) == (403, "cash_out_frozen")
    assert world.balance(AMA) == 10_000
    reused = world.client.put(f"/v1/wallets/{AMA}/pin", headers=world.agent,
                              json={"new_pin": "4690", "reset_code": code})
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_reset_code")


def test_a_pin_change_ends_the_sessions_the_old_pin_opened(world: World) -> None:
    first = world.wallet(AMA, "Ama Mensah")
    second = world.login(AMA, "4827")
    changed = world.client.put(f"/v1/wallets/{AMA}/pin", headers=first,
                               json={"old_pin": "4827", "new_pin": "2469"})
    assert changed.status_code == 204, changed.text
    for session in (first, second):
        assert world.client.get(f"/v1/wallets/{AMA}", headers=session).status_code == 401
    assert world.client.get(f"/v1/wallets/{AMA}", headers=world.login(AMA, "2469")).status_code == 200


def test_strangers_locking_the_login_do_not_lock_the_owners_phone(world: World) -> None:
    world.wallet(AMA, "Ama Mensah")
    for _ in range(3):
        world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "1357"})
    locked = world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "4827"})
    assert (locked.status_code, locked.json()["code"]) == (429, "pin_locked")
    assert int(locked.headers["Retry-After"]) > 0 and locked.json()["locked_until"] > 0
    assert "logins locked until" in locked.json()["detail"]
    # The owner's WhatsApp or USSD (the phone itself vouches for the number) still takes the PIN.
    assert world.container.customers.verify_pin(AMA, Pin("4827")).msisdn == AMA


def test_one_address_cannot_try_logins_without_end(world: World) -> None:
    world.wallet(AMA, "Ama Mensah")
    for number in range(10):
        world.client.post("/v1/sessions", json={"msisdn": f"+2289011{number:04d}", "pin": "1357"})
    throttled = world.client.post("/v1/sessions", json={"msisdn": AMA, "pin": "4827"})
    assert (throttled.status_code, throttled.json()["code"]) == (429, "too_many_attempts")
    assert "Retry-After" in throttled.headers
    # The wallet itself was not touched: its own count is still clean.
    assert world.container.customers.get(AMA).login_failures == 0


def test_logins_and_wallet_reads_do_not_tell_which_numbers_have_wallets(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah")
    world.wallet(KOFI, "Kofi Agbeko")
    unknown = world.client.post("/v1/sessions", json={"msisdn": NOBODY, "pin": "1357"})
    wrong = world.client.post("/v1/sessions", json={"msisdn": KOFI, "pin": "1357"})
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["detail"]) == (
        wrong.status_code, wrong.json()["code"], wrong.json()["detail"]) == (401, "invalid_pin",
                                                                             "wrong number or PIN")
    existing = world.client.get(f"/v1/wallets/{KOFI}", headers=ama)
    missing = world.client.get(f"/v1/wallets/{NOBODY}", headers=ama)
    assert (existing.status_code, existing.json()["code"]) == (missing.status_code, missing.json()["code"]) \
        == (404, "unknown_wallet")


def test_money_fields_and_booleans_take_their_own_types_only(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=10_000)
    world.wallet(KOFI, "Kofi Agbeko")
    text = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": "1000"})
    assert (text.status_code, text.json()["code"]) == (422, "validation_error")
    whole = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 1000.0})
    assert whole.status_code == 201, whole.text
    driver = world.wallet(ESI, "Esi Dede", pin="6049")
    assert world.client.post("/v1/rides/drivers", headers=driver, json={"plate": "TG-1"}).status_code == 201
    online = world.client.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": 0})
    assert online.status_code == 422
    where = world.client.put("/v1/rides/drivers/me/location", headers=driver,
                             json={"lat": 6.13, "lng": False})
    assert where.status_code == 422


def test_a_method_a_path_does_not_take_is_405_with_allow(world: World) -> None:
    answer = world.client.request("TRACE", f"/v1/wallets/{AMA}")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET"
    assert answer.headers["content-type"] == "application/problem+json"


def _driver_online(world: World, msisdn: str, name: str, *, city: str = "lome") -> dict[str, str]:
    driver = world.wallet(msisdn, name, pin="6049", cash=20_000)
    made = world.client.post("/v1/rides/drivers", headers=driver,
                             json={"city": city, "vehicle": "moto", "plate": f"TG-{msisdn[-4:]}"})
    assert made.status_code == 201, made.text
    world.client.put(f"/v1/rides/drivers/{made.json()['id']}/documents", headers=world.admin,
                     json={"status": "approved"})
    return driver


def test_a_kara_driver_cannot_stand_at_zero_zero(world: World) -> None:
    driver = _driver_online(world, ESI, "Esi Dede", city="kara")
    answer = world.client.put("/v1/rides/drivers/me/location", headers=driver, json={"lat": 0, "lng": 0})
    assert (answer.status_code, answer.json()["code"]) == (409, "outside_service_area")


def test_a_driver_is_never_offered_their_own_trip(world: World) -> None:
    driver = _driver_online(world, ESI, "Esi Dede")
    moved = world.client.put("/v1/rides/drivers/me/location", headers=driver, json=LOME_MARKET)
    assert moved.status_code == 204
    assert world.client.put("/v1/rides/drivers/me/availability", headers=driver,
                            json={"online": True}).status_code == 200
    booked = world.client.post("/v1/rides/trips", headers={**driver, **key()},
                               json={"pickup": LOME_MARKET, "dropoff": TOKOIN, "payment": "cash"})
    assert booked.status_code == 201, booked.text
    assert world.client.get("/v1/rides/drivers/me/offers", headers=driver).json() == []
    taken = world.client.post(f"/v1/rides/trips/{booked.json()['id']}/accept", headers=driver)
    assert taken.status_code == 409 and taken.json()["code"] in ("own_trip", "offer_closed", "trip_taken")
    assert world.client.get(f"/v1/rides/trips/{booked.json()['id']}", headers=driver).json()["driver"] is None


@pytest.mark.parametrize("distance_m", [500_000, None])
def test_a_wallet_ride_has_one_fare_everywhere(world: World, distance_m: int | None) -> None:
    driver = _driver_online(world, ESI, "Esi Dede")
    world.client.put("/v1/rides/drivers/me/location", headers=driver, json=LOME_MARKET)
    world.client.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": True})
    rider = world.wallet(AMA, "Ama Mensah", cash=20_000)
    booked = world.client.post("/v1/rides/trips", headers={**rider, **key()},
                               json={"pickup": LOME_MARKET, "dropoff": TOKOIN, "payment": "wallet"})
    trip = booked.json()["id"]
    for step in ("accept", "arrive", "start"):
        assert world.client.post(f"/v1/rides/trips/{trip}/{step}", headers=driver).status_code == 200
    done = world.client.post(f"/v1/rides/trips/{trip}/complete", headers=driver,
                             json={} if distance_m is None else {"distance_m": distance_m})
    fare = done.json()["final_fare"]
    payment = world.client.get(f"/v1/transfers/{done.json()['payment_id']}", headers=rider).json()
    assert (payment["status"], payment["amount"]) == ("completed", fare)
    assert world.balance(AMA) == 20_000 - fare
    earning = fare - fare * 15 // 100
    assert world.client.get("/v1/rides/drivers/me", headers=driver).json()["balance"] == earning
    with world.container.engine.connect() as connection:
        kinds = ["ride_completed", "ride_earning"]
        rows = connection.execute(select(outbox.c.kind, outbox.c.params).where(outbox.c.kind.in_(kinds)))
        notices = {row.kind: json.loads(row.params) for row in rows}
    assert notices["ride_completed"]["amount"] == fare
    assert (notices["ride_earning"]["amount"], notices["ride_earning"]["earning"]) == (fare, earning)


def test_the_openapi_document_says_what_the_server_does(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    send = document["paths"]["/v1/transfers"]["post"]
    header = next(p for p in send["parameters"] if p["name"].lower() == "idempotency-key")
    assert header["required"] is True
    assert set(send["responses"]["422"]["content"]) == {"application/problem+json"}
    assert {"400", "401", "403", "404", "409", "429"} <= set(send["responses"])
    cash_out = document["paths"]["/v1/cash-outs"]["post"]["responses"]["201"]["content"]
    schema = cash_out["application/json"]["schema"]
    assert len(schema.get("anyOf", [])) == 2  # a completed cash-out, or one waiting for approval
    opening = document["paths"]["/v1/wallets"]["post"]
    optional = next(p for p in opening["parameters"] if p["name"].lower() == "idempotency-key")
    assert optional["required"] is False  # opening a wallet moves no money
    missing = world.client.post("/v1/transfers", headers=world.wallet(AMA, "Ama Mensah"),
                                json={"to": KOFI, "amount": 1_000})
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")
