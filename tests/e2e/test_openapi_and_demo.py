"""The OpenAPI document covers the contract's routes; the demo seeds a town one can try at once."""

from __future__ import annotations

from e2e_support import key
from fastapi.testclient import TestClient

from sika import demo
from sika.bootstrap import Container

CONTRACT_ROUTES = [
    ("post", "/v1/wallets"),
    ("get", "/v1/wallets/{msisdn}"),
    ("get", "/v1/wallets/{msisdn}/transactions"),
    ("post", "/v1/sessions"),
    ("post", "/v1/cash-ins"),
    ("post", "/v1/cash-outs"),
    ("post", "/v1/transfers"),
    ("get", "/v1/transfers/{transfer_id}"),
    ("get", "/healthz"),
]
MONEY_POSTS = [
    "/v1/cash-ins",
    "/v1/cash-outs",
    "/v1/transfers",
    "/v1/vouchers/claim",
    "/v1/airtime",
    "/v1/data",
    "/v1/bills",
    "/v1/top-ups",
    "/v1/payment-requests",
    "/v1/payments/{payment_id}/refunds",
    "/v1/agents/{agent_id}/float",
]


def test_contract_routes_are_documented_and_money_posts_take_an_idempotency_key(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for method, path in CONTRACT_ROUTES:
        assert method in paths.get(path, {}), (method, path)
    for path in MONEY_POSTS:
        parameters = paths[path]["post"].get("parameters", [])
        headers = [p["name"].lower() for p in parameters if p["in"] == "header"]
        assert "idempotency-key" in headers, path
    assert client.get("/docs").status_code == 200


def test_the_demo_is_seeded_once_and_its_keys_work(client: TestClient, container: Container) -> None:
    first = demo.seed(container)
    second = demo.seed(container)  # a restart: same data, fresh keys
    for msisdn, (_, _, _, opening) in demo.DEMO_WALLETS.items():
        assert client.get(f"/v1/wallets/{msisdn}", headers=_auth(second.admin)).json()["balance"] == opening
    assert client.get("/v1/agents/me", headers=_auth(first.agent)).status_code == 401  # rotated
    cash_in = client.post(
        "/v1/cash-ins",
        headers={**_auth(second.agent), **key()},
        json={"msisdn": "+22890112233", "amount": 1_000},
    )
    assert cash_in.status_code == 201, cash_in.text
    asked = client.post(
        "/v1/payment-requests",
        headers={**_auth(second.merchant), **key()},
        json={"msisdn": "+22897112233", "amount": 2_500, "description": "Demo order"},
    )
    assert asked.status_code == 201, asked.text
    providers = {entry["provider"] for entry in client.get("/v1/catalogue").json()}
    assert providers == {"togocom", "moov", "ceet", "tde", "canal", "card", "paygate"}


def test_the_demo_runs_one_live_cashback_that_a_first_transfer_earns(
    client: TestClient, container: Container
) -> None:
    first = demo.seed(container)
    second = demo.seed(container)
    assert first.campaign_id == second.campaign_id  # a restart finds it, and does not fund it again
    campaigns = client.get("/v1/campaigns", headers=_auth(second.admin)).json()["items"]
    shown = [c for c in campaigns if c["name"] == demo.DEMO_CAMPAIGN]
    assert len(shown) == 1 and shown[0]["status"] == "active"
    assert (shown[0]["budget"], shown[0]["remaining"]) == (demo.DEMO_CAMPAIGN_BUDGET,) * 2
    msisdn, (_, _, pin, _) = next(iter(demo.DEMO_WALLETS.items()))
    session = client.post("/v1/sessions", json={"msisdn": msisdn, "pin": pin})
    assert session.status_code == 201, session.text
    ama = {"Authorization": f"Bearer {session.json()['token']}"}
    sent = client.post(
        "/v1/transfers", headers={**ama, **key()}, json={"to": "+22897112233", "amount": 5_000}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["reward"] == {
        "amount": 100, "campaign_id": first.campaign_id, "campaign": demo.DEMO_CAMPAIGN, "kind": "cashback",
        "withheld": 0,  # nothing owed: nothing kept back
    }


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_the_demo_fleet_drives_a_booked_ride_to_the_end(client: TestClient, container: Container) -> None:
    from sika.rides import demo_fleet
    from sika.rides.demo_fleet import DemoFleet
    from sika.rides.geo import Point

    keys = demo.seed(container)
    rides = container.rides
    assert rides is not None and len(keys.driver_ids) == len(demo.DEMO_DRIVERS)
    now = [0.0]
    import time as clock

    now[0] = clock.time()
    fleet = DemoFleet(rides, list(keys.driver_ids), clock_s=lambda: now[0])
    rider = container.customers.get("+22890112233")
    trip = rides.request(
        "trip-demo-1",
        rider,
        city_id="lome",
        vehicle_type="moto",
        pickup=Point(6.1320, 1.2230),
        dropoff=Point(6.1725, 1.2145),
        payment_method="wallet",
    )
    for _ in range(60):
        now[0] += demo_fleet.ANSWER_AFTER_S + demo_fleet.PICKUP_WAIT_S + 60
        fleet.tick()
        if rides.trip(trip.id).status.value == "completed":
            break
    done = rides.trip(trip.id)
    assert done.status.value == "completed" and done.final_fare
    assert client.get(f"/v1/wallets/{rider.msisdn}", headers=_auth(keys.admin)).json()["balance"] < 25_000
