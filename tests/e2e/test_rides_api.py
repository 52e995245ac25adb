"""Rides through HTTP: a driver onboards and goes online, a rider books with the wallet, the driver takes
the trip to the end, both rate; errors are problem+json with codes."""

from __future__ import annotations

from e2e_support import World, key

LOME_MARKET = {"lat": 6.1319, "lng": 1.2228}
TOKOIN = {"lat": 6.1725, "lng": 1.2145}


def test_a_trip_from_booking_to_rating(world: World) -> None:
    client = world.client
    driver = world.wallet("+22897112233", "Kofi Agbeko", pin="5938")
    rider = world.wallet("+22890112233", "Ama Mensah", cash=20_000)
    made = client.post(
        "/v1/rides/drivers", headers=driver, json={"city": "lome", "vehicle": "moto", "plate": "tg 4821 az"}
    )
    assert made.status_code == 201, made.text
    assert (made.json()["plate"], made.json()["documents"]) == ("TG4821AZ", "pending")
    refused = client.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": True})
    assert refused.json()["code"] == "documents_not_approved"
    approved = client.put(
        f"/v1/rides/drivers/{made.json()['id']}/documents", headers=world.admin, json={"status": "approved"}
    )
    assert approved.json()["documents"] == "approved"
    assert (
        client.put(
            "/v1/rides/drivers/me/location", headers=driver, json={"lat": 6.1330, "lng": 1.2240}
        ).status_code
        == 204
    )
    too_soon = client.put(
        "/v1/rides/drivers/me/location", headers=driver, json={"lat": 6.1331, "lng": 1.2240}
    )
    assert (too_soon.status_code, too_soon.json()["code"]) == (429, "too_many_updates")
    assert client.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": True}).json()[
        "online"
    ]
    quote = client.post("/v1/rides/quotes", json={"pickup": LOME_MARKET, "dropoff": TOKOIN}).json()
    assert quote["fare"] % 25 == 0 and quote["pickup_eta_s"] is not None
    body = {"pickup": LOME_MARKET, "dropoff": TOKOIN, "payment": "wallet"}
    booked = client.post("/v1/rides/trips", headers={**rider, **key()}, json=body)
    assert booked.status_code == 201, booked.text
    trip = booked.json()["id"]
    offers = client.get("/v1/rides/drivers/me/offers", headers=driver).json()
    assert [o["trip_id"] for o in offers] == [trip]
    for step in ("accept", "arrive", "start"):
        moved = client.post(f"/v1/rides/trips/{trip}/{step}", headers=driver)
        assert moved.status_code == 200, moved.text
    wrong = client.post(f"/v1/rides/trips/{trip}/arrive", headers=driver)
    assert (wrong.status_code, wrong.json()["code"]) == (409, "illegal_transition")
    done = client.post(f"/v1/rides/trips/{trip}/complete", headers=driver, json={})
    assert done.json()["status"] == "completed" and done.json()["final_fare"] >= 300
    seen = client.get(f"/v1/rides/trips/{trip}", headers=rider).json()
    assert seen["driver"]["plate"] == "TG4821AZ"
    assert (
        client.post(f"/v1/rides/trips/{trip}/rating", headers=rider, json={"stars": 5}).json()["rider_rating"]
        == 5
    )
    assert (
        client.post(f"/v1/rides/trips/{trip}/rating", headers=driver, json={"stars": 4}).json()[
            "driver_rating"
        ]
        == 4
    )
    me = client.get("/v1/rides/drivers/me", headers=driver).json()
    fare = done.json()["final_fare"]
    assert (me["completed"], me["rating"], me["balance"]) == (1, 5.0, fare - fare * 15 // 100)
    stranger = world.wallet("+22891445566", "Fatima Ouro", pin="6049")
    assert client.get(f"/v1/rides/trips/{trip}", headers=stranger).json()["code"] == "unknown_trip"


def test_bad_bookings_are_refused_with_codes(world: World) -> None:
    rider = world.wallet("+22890112233", "Ama Mensah")
    client = world.client
    outside = client.post(
        "/v1/rides/trips",
        headers={**rider, **key()},
        json={"pickup": {"lat": 9.55, "lng": 1.19}, "dropoff": TOKOIN},
    )
    assert outside.json()["code"] == "outside_service_area"
    unknown = client.post(
        "/v1/rides/quotes", json={"city": "abidjan", "pickup": LOME_MARKET, "dropoff": TOKOIN}
    )
    assert unknown.json()["code"] == "unknown_city"
    junk = client.post("/v1/rides/quotes", json={"pickup": {"lat": 95, "lng": 0}, "dropoff": TOKOIN})
    assert (junk.status_code, junk.json()["code"]) == (422, "validation_error")
    card = client.post(
        "/v1/rides/trips",
        headers={**rider, **key()},
        json={"pickup": LOME_MARKET, "dropoff": TOKOIN, "payment": "card"},
    )
    assert card.json()["code"] == "validation_error"
    cities = client.get("/v1/rides/cities").json()
    assert [c["id"] for c in cities] == ["lome", "kara", "cotonou", "ouagadougou", "bamako"]
