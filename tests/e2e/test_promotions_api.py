"""Promotions over HTTP: an operator runs a cashback campaign, customers see their rewards in the
answers of their payments and under /v1/me/rewards, a draw is published and re-run from its public
pages; and a real ``sika serve`` under concurrent transfers keeps the campaign within its budget."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from e2e_support import World, key
from test_crash import Server

from sika.auth import Role
from sika.bootstrap import bootstrap
from sika.chat.i18n import translator
from sika.chat.texts.statement import history_line
from sika.config import Settings
from sika.payments import new_movement_id
from sika.wallet import Pin

CASHBACK = {
    "name": "Ramadan cashback",
    "kind": "cashback",
    "budget": 1_000,
    "starts_at": "2026-01-01T00:00:00+00:00",
    "ends_at": "2030-01-01T00:00:00+00:00",
    "rules": {"percent": 5, "reward_max": 250, "operations": ["transfer"]},
}


def _identity(answer: dict[str, int]) -> None:
    assert answer["spent"] + answer["reserved"] + answer["remaining"] == answer["budget"], answer


def test_an_operator_runs_a_cashback_campaign_and_customers_see_their_rewards(world: World) -> None:
    client, admin = world.client, world.admin
    ama = world.wallet("+22890112233", "Ama", cash=50_000)
    world.wallet("+22897112233", "Kofi")
    made = client.post("/v1/campaigns", headers=admin, json=CASHBACK)
    assert made.status_code == 201, made.text
    campaign = made.json()
    assert (campaign["status"], campaign["budget"], campaign["spent"], campaign["remaining"]) == (
        "draft",
        1_000,
        0,
        1_000,
    )
    cid = campaign["id"]
    funding = {**admin, **key()}
    funded = client.post(f"/v1/campaigns/{cid}/fund", headers=funding, json={"amount": 1_000})
    again = client.post(f"/v1/campaigns/{cid}/fund", headers=funding, json={"amount": 1_000})
    assert funded.status_code == again.status_code == 200 and funded.json() == again.json()
    assert funded.json()["funded"] == 1_000
    started = client.post(f"/v1/campaigns/{cid}/start", headers=admin)
    assert started.json()["status"] == "active" and started.json()["funded"] == 1_000  # no top-up needed
    rewards = []
    for _ in range(5):
        sent = client.post(
            "/v1/transfers", headers={**ama, **key()}, json={"to": "+22897112233", "amount": 5_000}
        )
        assert sent.status_code == 201, sent.text
        rewards.append(sent.json()["reward"])
    assert (
        rewards[:4]
        == [{"amount": 250, "campaign_id": cid, "campaign": "Ramadan cashback", "kind": "cashback",
            "withheld": 0}] * 4
    )
    assert rewards[4] is None
    shown = client.get(f"/v1/campaigns/{cid}", headers=admin).json()
    _identity(shown)
    assert (shown["spent"], shown["remaining"], shown["rewards"]) == (1_000, 0, 4)
    # The statement names the cashback inside each line rather than showing a bare net figure.
    history = client.get("/v1/wallets/+22890112233/transactions?limit=5", headers=ama).json()["items"]
    sends = [item for item in history if item["kind"] == "transfer"]
    assert [item["reward"] for item in sends] == [0, 250, 250, 250, 250]  # newest first
    assert {item["amount"] - item["reward"] for item in sends} == {sends[0]["amount"]}
    line = history_line(translator("fr"), world.container.statements.page(
        world.container.customers.get("+22890112233"), limit=2).items[1])
    assert line.endswith("Argent envoyé à Kofi (dont une récompense de 250 F CFA)"), line
    mine = client.get("/v1/me/rewards", headers=ama).json()
    assert [r["amount"] for r in mine["rewards"]] == [250] * 4
    assert (
        mine["offers"][0]["text"]
        == "Ramadan cashback : 5 % remboursés sur transferts, jusqu'à 250 F CFA par paiement."
    )
    last = sent.json()["id"]
    why = client.get(f"/v1/me/rewards/why?movement={last}", headers=ama).json()
    assert why["items"][0]["reason"] == "budget_exhausted"
    assert why["items"][0]["message"] == "Ramadan cashback : le budget de l'offre est épuisé."
    ended = client.post(f"/v1/campaigns/{cid}/end", headers=admin).json()
    assert ended["status"] == "ended"
    _identity(ended)


def test_one_reward_a_device_counts_the_phone_the_app_names_not_the_wallet(world: World) -> None:
    client, admin = world.client, world.admin
    ama = world.wallet("+22890112233", "Ama", cash=50_000)
    kofi = world.wallet("+22897112233", "Kofi", cash=50_000)
    world.wallet("+22891445566", "Efua")
    made = client.post("/v1/campaigns", headers=admin, json={
        **CASHBACK, "rules": {**CASHBACK["rules"], "per_device_max": 1}})  # type: ignore[dict-item]
    cid = made.json()["id"]
    assert client.post(f"/v1/campaigns/{cid}/start", headers={**admin, **key()}).status_code == 200
    small = client.post("/v1/campaigns", headers=admin, json={
        **CASHBACK, "name": "Small cashback", "rules": {**CASHBACK["rules"], "percent": 2}})  # type: ignore[dict-item]
    assert client.post(f"/v1/campaigns/{small.json()['id']}/start", headers=admin).status_code == 200

    def send(who: dict[str, str], device: str | None) -> dict[str, object]:
        named = {} if device is None else {"X-Sika-Device": device}
        sent = client.post("/v1/transfers", headers={**who, **named, **key()},
                           json={"to": "+22891445566", "amount": 1_000})
        assert sent.status_code == 201, sent.text
        return dict(sent.json())

    first = send(ama, "install-7f3a9c21")
    assert first["reward"] is not None and first["reward"]["amount"] == 50  # type: ignore[index]
    again = send(kofi, "install-7f3a9c21")  # another wallet on the same phone
    # The better offer's cap on this phone is reached: the smaller one pays in its place.
    assert again["reward"] is not None and again["reward"]["campaign"] == "Small cashback"  # type: ignore[index]
    why = client.get(f"/v1/me/rewards/why?movement={again['id']}", headers=kofi).json()
    assert [(item["reason"], item["message"]) for item in why["items"]] == [
        (None, "Small cashback : vous avez gagné 20 F CFA."),
        ("device_cap_reached", "Ramadan cashback : cette offre a déjà servi sur ce téléphone.")]
    paid = client.get(f"/v1/me/rewards/why?movement={first['id']}", headers=ama).json()
    assert [item["reason"] for item in paid["items"]] == [None, "better_offer"]
    assert send(kofi, "install-0b5e2d88")["reward"] is not None  # Kofi's own phone
    assert send(ama, None)["reward"] is not None  # no device named (the chat's case): no device cap
    movement = world.container.payments.get(str(first["id"]))
    assert movement.details["device"] != "install-7f3a9c21" and len(movement.details["device"]) == 24
    # Never shown: it would let the payee link the payer's phone to their other wallets.
    assert "device" not in first["details"]  # type: ignore[operator]
    efua = world.login("+22891445566", "4827")
    seen = client.get(f"/v1/transfers/{first['id']}", headers=efua)
    assert seen.status_code == 200 and "device" not in seen.json()["details"]
    # Ama's reward and the campaigns' verdicts on her payment are hers, not the payee's to read.
    assert seen.json()["reward"] is None
    assert not {"extras", "dropped", "promotions"} & seen.json()["details"].keys()
    assert client.get(f"/v1/me/rewards/why?movement={first['id']}", headers=efua).json()["items"] == []
    own = client.get(f"/v1/transfers/{first['id']}", headers=ama).json()
    assert own["reward"]["amount"] == 50 and {"extras", "promotions"} <= own["details"].keys()
    bad = client.post("/v1/transfers", headers={**ama, "X-Sika-Device": "short", **key()},
                      json={"to": "+22891445566", "amount": 1_000})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    assert world.balance("+22890112233") == 50_000 - 2_000 + 50 + 50
    assert world.balance("+22897112233") == 50_000 - 2_000 + 20 + 50


def test_once_the_best_offer_s_budget_is_spent_the_next_best_pays(world: World) -> None:
    """Two exclusive cashbacks: while the larger one's budget lasts it pays; once spent, the smaller
    one pays in its place, payment after payment (not "no reward" for everyone until an operator acts)."""
    client, admin = world.client, world.admin
    ama = world.wallet("+22890112233", "Ama", cash=50_000)
    world.wallet("+22897112233", "Kofi")
    big = client.post("/v1/campaigns", headers=admin, json={
        **CASHBACK, "name": "Big cashback", "budget": 300,
        "rules": {**CASHBACK["rules"], "percent": 5}})  # type: ignore[dict-item]
    small = client.post("/v1/campaigns", headers=admin, json={
        **CASHBACK, "name": "Small cashback", "rules": {**CASHBACK["rules"], "percent": 2}})  # type: ignore[dict-item]
    for made in (big, small):
        assert client.post(f"/v1/campaigns/{made.json()['id']}/start", headers=admin).status_code == 200

    def send() -> dict[str, object]:
        sent = client.post("/v1/transfers", headers={**ama, **key()},
                           json={"to": "+22897112233", "amount": 5_000})
        assert sent.status_code == 201, sent.text
        return dict(sent.json())

    sent = [send() for _ in range(3)]
    assert [(s["reward"]["campaign"], s["reward"]["amount"]) for s in sent] == [  # type: ignore[index]
        ("Big cashback", 250), ("Small cashback", 100), ("Small cashback", 100)]
    why = client.get(f"/v1/me/rewards/why?movement={sent[2]['id']}", headers=ama).json()
    assert [(item["reason"], item["message"]) for item in why["items"]] == [
        (None, "Small cashback : vous avez gagné 100 F CFA."),
        ("budget_exhausted", "Big cashback : le budget de l'offre est épuisé.")]
    assert client.get(f"/v1/campaigns/{big.json()['id']}", headers=admin).json()["remaining"] == 50
    assert world.balance("+22890112233") == 50_000 - 15_000 + 250 + 100 + 100


def test_admin_routes_refuse_customers_and_explain_bad_campaigns(world: World) -> None:
    client, admin = world.client, world.admin
    ama = world.wallet("+22890112233", "Ama")
    assert client.post("/v1/campaigns", headers=ama, json=CASHBACK).status_code == 403
    assert client.get("/v1/campaigns/cp_nothing", headers=admin).json()["code"] == "unknown_campaign"
    bad = client.post("/v1/campaigns", headers=admin, json={**CASHBACK, "rules": {"percent": 5}})
    # 409: the body is well formed, its rules do not hold together (docs/promotions.md, "Errors")
    assert (bad.status_code, bad.json()["code"]) == (409, "invalid_campaign")
    assert "reward_max" in bad.json()["detail"]
    window = {**CASHBACK, "rules": {**CASHBACK["rules"], "windows": [{"start": "magrib", "end": "isha"}]}}
    assert client.post("/v1/campaigns", headers=admin, json=window).json()["code"] == "invalid_campaign"
    # Strict bodies, as every body of the API: a budget in quotes is not a number.
    quoted = client.post("/v1/campaigns", headers=admin, json={**CASHBACK, "budget": "5000"})
    assert (quoted.status_code, quoted.json()["code"]) == (422, "validation_error")
    far = client.post("/v1/campaigns", headers=admin, json={**CASHBACK, "starts_at": 1.7e16})  # no date
    assert (far.status_code, far.json()["code"]) == (422, "validation_error")
    assert client.get("/v1/campaigns", headers=admin).json()["items"] == []
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/campaigns",
        "/v1/campaigns/{campaign_id}/fund",
        "/v1/campaigns/{campaign_id}/start",
        "/v1/campaigns/{campaign_id}/draws",
        "/v1/draws/{draw_id}/reveal",
        "/v1/draws/{draw_id}/entrants",
        "/v1/me/rewards",
    ):
        assert path in paths, path


def test_a_draw_is_published_and_anyone_can_re_run_it(world: World) -> None:
    client, admin = world.client, world.admin
    world.wallet("+22897112233", "Kofi")
    payers = [world.wallet(f"+2289011223{i}", f"Player {i}", cash=5_000) for i in range(5)]
    draw_campaign = {
        **CASHBACK,
        "kind": "prize_draw",
        "budget": 3_000,
        "rules": {"prizes": [2_000, 1_000], "operations": ["transfer"]},
    }
    cid = client.post("/v1/campaigns", headers=admin, json=draw_campaign).json()["id"]
    client.post(f"/v1/campaigns/{cid}/start", headers=admin)
    for payer in payers:
        sent = client.post(
            "/v1/transfers", headers={**payer, **key()}, json={"to": "+22897112233", "amount": 1_000}
        )
        assert sent.status_code == 201
    committed = client.post(f"/v1/campaigns/{cid}/draws", headers=admin)
    assert committed.status_code == 201 and committed.json()["seed"] is None
    draw_id, commitment = committed.json()["id"], committed.json()["commitment"]
    revealed = client.post(f"/v1/draws/{draw_id}/reveal", headers=admin).json()
    public = client.get(f"/v1/draws/{draw_id}").json()  # no credentials
    # An absolute address, fetched as published (a verifier needs no base to join it to).
    assert public["entrants_url"] == f"http://testserver/v1/draws/{draw_id}/entrants"
    entrants = client.get(public["entrants_url"]).json()["items"]
    assert public == revealed and len(entrants) == 5
    seed = bytes.fromhex(public["seed"])
    assert hashlib.sha256(seed).hexdigest() == commitment
    assert hashlib.sha256("\n".join(entrants).encode()).hexdigest() == public["entrants_sha256"]
    ranked = sorted(entrants, key=lambda e: hmac.new(seed, e.encode(), hashlib.sha256).digest())
    assert public["winners"] == ranked[:2]
    mine = [client.get("/v1/me/rewards", headers=p).json() for p in payers]
    assert sum(e["won"] for m in mine for e in m["entries"]) == 2


@pytest.mark.postgres
def test_concurrent_rest_transfers_against_a_real_server_stay_within_the_budget(
    postgres_url: str, tmp_path: Path
) -> None:
    container = bootstrap(Settings(database_url=postgres_url, providers="off"))
    try:
        _, admin = container.api_keys.create(Role.ADMIN, "ops")
        agent, _ = container.agents.create("Boutique Bè")
        container.payments.credit_float(new_movement_id(), agent, 10_000_000)
        senders = [f"+2289011{i:04d}" for i in range(12)]
        for msisdn in [*senders, "+22897112233"]:
            container.customers.open(msisdn, f"Client {msisdn[-4:]}", pin=Pin("4827"), tier=1)
        for msisdn in senders:
            container.payments.cash_in(new_movement_id(), agent, msisdn, 100_000)
        tokens = [container.sessions.open(msisdn, Pin("4827")).token for msisdn in senders]
    finally:
        container.close()
    server = Server(postgres_url, tmp_path / "serve.log")
    server.start()
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=server.url, timeout=60) as client:
            cid = client.post("/v1/campaigns", headers=headers, json={**CASHBACK, "budget": 5_000}).json()[
                "id"
            ]
            client.post(
                f"/v1/campaigns/{cid}/fund",
                headers={**headers, "Idempotency-Key": "f"},
                json={"amount": 5_000},
            )
            assert client.post(f"/v1/campaigns/{cid}/start", headers=headers).json()["status"] == "active"

            def send(n: int) -> tuple[int, int]:
                answer = client.post(
                    "/v1/transfers",
                    json={"to": "+22897112233", "amount": 5_000},
                    headers={
                        "Authorization": f"Bearer {tokens[n % len(tokens)]}",
                        "Idempotency-Key": f"t-{n}",
                    },
                )
                return answer.status_code, (answer.json().get("reward") or {}).get("amount", 0)

            with ThreadPoolExecutor(max_workers=12) as pool:
                results = list(pool.map(send, range(60)))
            shown = client.get(f"/v1/campaigns/{cid}", headers=headers).json()
    finally:
        server.stop()
    assert [status for status, _ in results] == [201] * 60
    assert sum(amount for _, amount in results) == shown["spent"] == 5_000  # twenty rewards of 250
    _identity(shown)
    env = {**os.environ, "SIKA_DATABASE_URL": postgres_url}
    checked = subprocess.run(
        [sys.executable, "-m", "sika", "ledger", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
