"""``/v1/wallets`` and ``/v1/sessions`` through HTTP, with API keys and customer tokens."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from e2e_support import World, bearer, key
from fastapi.testclient import TestClient

from sika.auth import Role
from sika.bootstrap import Container, bootstrap
from sika.config import Settings


def test_an_agent_opens_a_wallet_and_reads_it(client: TestClient, container: Container) -> None:
    agent = bearer(container, Role.AGENT)
    opened = client.post("/v1/wallets", headers=agent,
                         json={"msisdn": "90112233", "name": "Ama Mensah", "pin": "4827"})
    assert opened.status_code == 201
    assert opened.json() == {"msisdn": "+22890112233", "name": "Ama Mensah", "currency": "XOF",
                             "balance": 0, "available": 0, "tier": 0}
    read = client.get("/v1/wallets/+22890112233", headers=agent)
    assert read.status_code == 200
    assert read.json()["msisdn"] == "+22890112233"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"msisdn": "+33612345678", "name": "Jean"}, 422, "validation_error"),
        ({"msisdn": "90112233", "name": "Ama", "pin": "12"}, 422, "validation_error"),
        ({"msisdn": "90112233", "name": "Ama", "pin": "0000"}, 400, "weak_pin"),
        ({"msisdn": "90112233"}, 422, "validation_error"),
        ({"msisdn": "9" * 500, "name": "Ama"}, 422, "validation_error"),
    ],
)
def test_bad_openings_answer_problem_json_with_a_code(
    client: TestClient, container: Container, body: dict[str, str], status: int, code: str
) -> None:
    response = client.post("/v1/wallets", headers=bearer(container, Role.AGENT), json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_a_second_wallet_for_one_number_is_a_conflict(client: TestClient, container: Container) -> None:
    agent = bearer(container, Role.AGENT)
    client.post("/v1/wallets", headers=agent, json={"msisdn": "90112233", "name": "Ama"})
    again = client.post("/v1/wallets", headers=agent, json={"msisdn": "+22890112233", "name": "Kofi"})
    assert again.status_code == 409
    assert again.json()["code"] == "wallet_exists"


def test_callers_without_a_key_or_the_right_role_are_refused(
    client: TestClient, container: Container
) -> None:
    body = {"msisdn": "90112233", "name": "Ama"}
    assert client.post("/v1/wallets", json=body).json()["code"] == "unauthorized"
    wrong = client.post("/v1/wallets", headers={"Authorization": "Bearer sk_nope"}, json=body)
    assert wrong.status_code == 401
    merchant = client.post("/v1/wallets", headers=bearer(container, Role.MERCHANT), json=body)
    assert merchant.status_code == 403
    assert merchant.json()["code"] == "forbidden"


def test_a_customer_logs_in_with_the_pin_and_sees_only_their_own_wallet(
    client: TestClient, container: Container
) -> None:
    agent = bearer(container, Role.AGENT)
    client.post("/v1/wallets", headers=agent, json={"msisdn": "90112233", "name": "Ama", "pin": "4827"})
    client.post("/v1/wallets", headers=agent, json={"msisdn": "97112233", "name": "Kofi", "pin": "5938"})
    session = client.post("/v1/sessions", json={"msisdn": "90112233", "pin": "4827"})
    assert session.status_code == 201
    token = {"Authorization": f"Bearer {session.json()['token']}"}
    assert client.get("/v1/wallets/90112233", headers=token).status_code == 200
    other = client.get("/v1/wallets/97112233", headers=token)
    nobody = client.get("/v1/wallets/93556677", headers=token)
    # Another wallet, or none: the same answer (whether a number has a wallet is not for others).
    assert (other.status_code, other.json()) == (nobody.status_code, nobody.json() | {
        "detail": other.json()["detail"]}) and other.status_code == 404


def test_wrong_pins_at_login_lock_the_wallet(client: TestClient, container: Container) -> None:
    client.post("/v1/wallets", headers=bearer(container, Role.AGENT),
                json={"msisdn": "90112233", "name": "Ama", "pin": "4827"})
    codes = [client.post("/v1/sessions", json={"msisdn": "90112233", "pin": "0007"}).json()["code"]
             for _ in range(3)]
    assert codes == ["invalid_pin", "invalid_pin", "pin_locked"]
    locked = client.post("/v1/sessions", json={"msisdn": "90112233", "pin": "4827"})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert locked.json()["code"] == "pin_locked"


def test_unknown_wallets_are_404_with_a_code(client: TestClient, container: Container) -> None:
    response = client.get("/v1/wallets/+22890999999", headers=bearer(container, Role.ADMIN))
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_wallet"


def test_sika_apikey_create_prints_the_key_alone_on_the_last_line(sqlite_url: str) -> None:
    env = {**os.environ, "SIKA_DATABASE_URL": sqlite_url}
    done = subprocess.run([sys.executable, "-m", "sika", "apikey", "create", "--role", "agent",
                           "--name", "Agent Bè"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk_")
    assert " " not in secret
    created = bootstrap(Settings(database_url=sqlite_url))
    key = created.api_keys.authenticate(secret)
    created.close()
    assert key is not None and key.role is Role.AGENT and key.name == "Agent Bè"


def test_a_wallets_statement_pages_newest_first_for_admins_and_the_customer(world: World) -> None:
    client, admin = world.client, world.admin
    world.wallet("+22890112233", "Ama")
    ids = []
    for n in (1, 2, 3):
        done = client.post("/v1/cash-ins", headers={**world.agent, **key()},
                           json={"msisdn": "90112233", "amount": 1_000 * n})
        ids.append(done.json()["id"])
    first = client.get("/v1/wallets/90112233/transactions?limit=2", headers=admin).json()
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    assert first["items"][0] == {"id": ids[2], "kind": "cash_in", "status": "completed", "amount": 3_000,
                                 "fee": 0, "currency": "XOF", "counterparty": "Boutique Bè (+22892001122)",
                                 "counterparty_msisdn": "+22892001122",
                                 "description": "Dépôt chez Boutique Bè", "reward": 0,
                                 "at": first["items"][0]["at"]}
    assert first["items"][0]["at"].endswith("+00:00")
    rest = client.get(f"/v1/wallets/90112233/transactions?limit=2&cursor={first['next_cursor']}",
                      headers=admin).json()
    assert [item["id"] for item in rest["items"]] == [ids[0]]
    assert rest["next_cursor"] is None

    token = client.post("/v1/sessions", json={"msisdn": "90112233", "pin": "4827"}).json()["token"]
    own = client.get("/v1/wallets/90112233/transactions", headers={"Authorization": f"Bearer {token}"})
    assert sum(item["amount"] for item in own.json()["items"]) == world.balance("+22890112233") == 6_000
    agent = client.get("/v1/wallets/90112233/transactions", headers=bearer(world.container, Role.AGENT))
    assert agent.status_code == 403
    forged = client.get("/v1/wallets/90112233/transactions?cursor=bm9wZQ", headers=admin)
    assert forged.status_code == 404  # no page of this wallet has that cursor
    assert forged.json()["code"] == "invalid_cursor"
    too_many = client.get("/v1/wallets/90112233/transactions?limit=500", headers=admin)
    assert too_many.status_code == 422


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(
    client: TestClient, container: Container
) -> None:
    agent = {**bearer(container, Role.AGENT), "Idempotency-Key": "open-ama-1"}
    body = {"msisdn": "90112233", "name": "Ama"}
    first = client.post("/v1/wallets", headers=agent, json=body)
    again = client.post("/v1/wallets", headers=agent, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = client.post("/v1/wallets", headers=agent, json={"msisdn": "97112233", "name": "Kofi"})
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_conflict"
    # Without the key, the same opening is a real second attempt, refused as such.
    plain = client.post("/v1/wallets", headers=bearer(container, Role.AGENT), json=body)
    assert plain.json()["code"] == "wallet_exists"


def test_an_answered_client_error_is_replayed_and_keys_belong_to_their_caller(
    client: TestClient, container: Container
) -> None:
    first_agent = {**bearer(container, Role.AGENT), "Idempotency-Key": "k-1"}
    bad = {"msisdn": "90112233", "name": "Jean", "pin": "0000"}
    assert client.post("/v1/wallets", headers=first_agent, json=bad).json()["code"] == "weak_pin"
    replay = client.post("/v1/wallets", headers=first_agent, json=bad)
    assert replay.status_code == 400
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert replay.json()["code"] == "weak_pin"
    # Another caller's identical key is another key.
    second_agent = {**bearer(container, Role.AGENT), "Idempotency-Key": "k-1"}
    fresh = client.post("/v1/wallets", headers=second_agent, json={"msisdn": "90112233", "name": "Ama"})
    assert fresh.status_code == 201


def test_concurrent_retries_open_one_wallet(client: TestClient, container: Container) -> None:
    import threading

    agent = {**bearer(container, Role.AGENT), "Idempotency-Key": "race-1"}
    body = {"msisdn": "90112233", "name": "Ama"}
    answers: list[tuple[int, str]] = []
    barrier = threading.Barrier(6)

    def post() -> None:
        barrier.wait()
        response = client.post("/v1/wallets", headers=agent, json=body)
        answers.append((response.status_code, response.json().get("code", "")))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 6
    # Each answer is the first one replayed or "still running": never a second opening.
    assert all(status == 201 or code == "idempotency_in_progress" for status, code in answers)
    assert any(status == 201 for status, _ in answers)
    assert container.customers.get("90112233").name == "Ama"
