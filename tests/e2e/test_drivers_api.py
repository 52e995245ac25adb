"""``GET /v1/drivers/{id}``: hours online in the last 24 h and the rest after the cap, to the driver and
an admin only; fasting mode is the driver's choice (``PUT /v1/drivers/{id}/fasting``)."""

from __future__ import annotations

from datetime import UTC, datetime

from e2e_support import World

HOUR_NS = 3_600 * 10**9


class Clock:
    def __init__(self) -> None:
        self.now_ns = int(datetime(2026, 6, 3, 6, 0, tzinfo=UTC).timestamp()) * 10**9

    def __call__(self) -> int:
        return self.now_ns


def test_a_driver_sees_hours_online_then_the_rest_after_the_cap(world: World) -> None:
    client = world.client
    rides = world.container.rides
    assert rides is not None
    clock = Clock()
    rides._clock_ns = clock
    driver = world.wallet("+22897334455", "Yao Kpodar", pin="5938")
    made = client.post("/v1/rides/drivers", headers=driver,
                       json={"city": "lome", "vehicle": "moto", "plate": "TG 7001 BB"}).json()
    client.put(f"/v1/rides/drivers/{made['id']}/documents", headers=world.admin, json={"status": "approved"})
    client.put("/v1/rides/drivers/me/location", headers=driver, json={"lat": 6.1330, "lng": 1.2240})
    went = client.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": True})
    assert went.json()["online"]
    clock.now_ns += 5 * HOUR_NS + HOUR_NS // 2
    seen = client.get(f"/v1/drivers/{made['id']}", headers=driver)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    hours = (body["online_h_24"], body["rest_until"], body["cap_h"], body["fasting"])
    assert hours == (5.5, None, 12.0, False)
    assert (body["plate"], body["online"]) == ("TG7001BB", True)
    clock.now_ns += 6 * HOUR_NS + HOUR_NS // 2  # 18:00, twelve hours online
    rides.dispatch_tick()
    rested = client.get(f"/v1/drivers/{made['id']}", headers=world.admin).json()
    assert (rested["online"], rested["online_h_24"]) == (False, 12.0)
    assert rested["rest_until"] == "2026-06-04T07:00:00+00:00"  # Lomé: UTC
    again = client.put("/v1/rides/drivers/me/availability", headers=driver, json={"online": True})
    assert (again.status_code, again.json()["code"]) == (409, "driver_resting")
    fasting = client.put(f"/v1/drivers/{made['id']}/fasting", headers=driver, json={"fasting": True})
    assert (fasting.json()["fasting"], fasting.json()["cap_h"]) == (True, 8.0)


def test_nobody_else_sees_a_driver_and_unknown_drivers_are_404(world: World) -> None:
    client = world.client
    driver = world.wallet("+22897334466", "Essi Lawson", pin="5938")
    made = client.post("/v1/rides/drivers", headers=driver,
                       json={"city": "lome", "vehicle": "moto", "plate": "TG 7002 BB"}).json()
    stranger = world.wallet("+22891445577", "Fatima Ouro", pin="6049")
    hidden = client.get(f"/v1/drivers/{made['id']}", headers=stranger)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "unknown_driver")
    refused = client.put(f"/v1/drivers/{made['id']}/fasting", headers=stranger, json={"fasting": True})
    assert (refused.status_code, refused.json()["code"]) == (404, "unknown_driver")
    missing = client.get("/v1/drivers/999999", headers=world.admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_driver")
    junk = client.get("/v1/drivers/abc", headers=world.admin)
    assert (junk.status_code, junk.json()["code"]) == (422, "validation_error")
