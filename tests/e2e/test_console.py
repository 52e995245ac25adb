"""The operations console over HTTP: sessions, CSRF, lockout, TOTP, maker-checker and the pages."""

from __future__ import annotations

import html
import re
import time

from console_support import Desk, operator
from e2e_support import World
from fastapi.testclient import TestClient

from sika.auth import Role as KeyRole
from sika.bootstrap import Container
from sika.console import totp
from sika.console.audit import Audit
from sika.console.nav import entries
from sika.console.operators import Operators, Role

WALLET = "+22890112233"


def _desk(client: TestClient) -> Desk:
    client.cookies.clear()
    return Desk(client)


def test_a_page_without_a_session_sends_the_browser_to_the_login_page(client: TestClient) -> None:
    answer = client.get("/console/wallets", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("/console/login?next=/console/wallets")
    htmx = client.get("/console/rides/table", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers["HX-Redirect"].startswith("/console/login")


def test_an_operator_logs_in_in_a_strict_http_only_cookie_and_logs_out(client: TestClient,
                                                                        container: Container) -> None:
    password = operator(container, "ama", Role.OPERATOR)
    desk = _desk(client)
    answer = desk.login("ama", password)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    cookie = answer.headers["set-cookie"]
    assert "sika_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http here; see the next test for https
    home = client.get("/console")
    assert home.status_code == 200 and "ama" in home.text and "Tableau de bord" in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    out = desk.post("/console/logout")
    assert out.status_code == 303
    assert client.get("/console", follow_redirects=False).status_code == 303
    actions = [(e.action, e.outcome) for e in Audit(container.engine).latest()]
    assert actions[:2] == [("logout", "ok"), ("login", "ok")]


def test_the_cookie_is_secure_when_the_proxy_says_https(client: TestClient, container: Container) -> None:
    password = operator(container, "ama", Role.VIEWER)
    desk = _desk(client)
    token = desk.csrf("/console/login")
    answer = client.post("/console/login", data={"_csrf": token, "name": "ama", "password": password},
                         headers={"X-Forwarded-Proto": "https"}, follow_redirects=False)
    assert "Secure" in answer.headers["set-cookie"]


def test_a_form_without_its_csrf_token_is_refused_and_nothing_moves(world: World) -> None:
    password = operator(world.container, "ama", Role.OPERATOR)
    world.wallet(WALLET, "Ama Mensah", cash=1_000)
    desk = _desk(world.client)
    desk.login("ama", password)
    for token in (None, "forged"):
        fields = {"kind": "wallet_credit", "msisdn": WALLET, "amount": "5000", "reason": "test"}
        if token:
            fields["_csrf"] = token
        answer = world.client.post("/console/approvals", data=fields, follow_redirects=False)
        assert answer.status_code == 403
        assert "csrf_refused" in answer.text and "Rien n'a été modifié" in html.unescape(answer.text)
    refusals = [e for e in Audit(world.container.engine).latest() if e.action == "csrf_refused"]
    expected = [("ama", "refused", "/console/approvals")] * 2
    assert [(e.actor_name, e.outcome, e.target) for e in refusals] == expected
    assert "refus CSRF" in world.client.get("/console/audit").text
    assert "pr_" not in world.client.get("/console/approvals").text
    login_without = world.client.post("/console/login", data={"name": "ama", "password": password},
                                      follow_redirects=False)
    assert login_without.status_code == 403


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client: TestClient,
                                                                      container: Container) -> None:
    password = operator(container, "ama", Role.OPERATOR)
    desk = _desk(client)
    for _ in range(5):
        refused = desk.login("ama", "not the password at all")
        assert refused.status_code == 401 and 'data-testid="login-error"' in refused.text
    locked = desk.login("ama", password)
    assert locked.status_code == 401 and "verrouillé" in locked.text
    Operators(container.engine).unlock("ama")
    assert desk.login("ama", password).status_code == 303


def test_once_totp_is_on_the_password_alone_is_not_enough(client: TestClient, container: Container) -> None:
    password = operator(container, "ama", Role.APPROVER)
    secret = Operators(container.engine).enable_totp("ama")
    desk = _desk(client)
    assert desk.login("ama", password).status_code == 401
    code = totp.hotp(secret, int(time.time() // totp.STEP_S))
    assert desk.login("ama", password, code).status_code == 303
    _desk(client)
    assert desk.login("ama", password, code).status_code == 401  # the same code twice: spent


def test_an_admin_api_key_opens_a_session_and_an_agent_key_does_not(world: World) -> None:
    _, admin_key = world.container.api_keys.create(KeyRole.ADMIN, "night shift")
    desk = _desk(world.client)
    token = desk.csrf("/console/login")
    agent_key = world.agent["Authorization"].split()[1]
    refused = world.client.post("/console/login", data={"_csrf": token, "api_key": agent_key},
                                follow_redirects=False)
    assert refused.status_code == 401
    token = desk.csrf("/console/login")
    answer = world.client.post("/console/login", data={"_csrf": token, "api_key": admin_key},
                               follow_redirects=False)
    assert answer.status_code == 303
    assert "night shift" in world.client.get("/console").text


def test_a_credit_moves_only_when_a_different_approver_approves_it(world: World) -> None:
    world.wallet(WALLET, "Ama Mensah", cash=1_000)
    passwords = {name: operator(world.container, name, role) for name, role in (
        ("yawa", Role.VIEWER), ("ama", Role.OPERATOR), ("kofi", Role.APPROVER), ("esi", Role.APPROVER))}

    def desk_of(name: str) -> Desk:
        desk = _desk(world.client)
        assert desk.login(name, passwords[name]).status_code == 303
        return desk

    refused = desk_of("yawa").post("/console/approvals", "/console/approvals", kind="wallet_credit",
                                   msisdn=WALLET, amount="5000", reason="lost deposit")
    assert refused.status_code == 403
    made = desk_of("kofi").post("/console/approvals", "/console/approvals/new", kind="wallet_credit",
                                msisdn=WALLET, amount="5 000", reason="deposit at the bank, ref 77")
    assert made.status_code == 303
    proposal = made.headers["location"].rsplit("/", 1)[1]
    page = f"/console/approvals/{proposal}"
    assert world.balance(WALLET) == 1_000  # nothing moves on a proposal
    own = desk_of("kofi").post(f"{page}/approve", page)
    assert own.status_code == 403 and "maker_cannot_approve" in own.text
    not_approver = desk_of("ama").post(f"{page}/approve", page)
    assert not_approver.status_code == 403 and ">forbidden<" in not_approver.text
    assert world.balance(WALLET) == 1_000
    checker = desk_of("esi")
    shown = world.client.get(page).text
    assert "deposit at the bank, ref 77" in shown and 'data-testid="approve"' in shown
    assert checker.post(f"{page}/approve", page).status_code == 303
    assert world.balance(WALLET) == 6_000
    again = checker.post(f"{page}/approve", page)
    assert again.status_code == 409 and "proposal_closed" in again.text
    assert world.balance(WALLET) == 6_000
    shown = world.client.get(page).text
    movement = re.search(r'data-testid="proposal-movement">(mv_[0-9a-f]+)<', shown)
    assert movement and "esi" in shown
    ledger = world.client.get(f"/console/movements/{movement.group(1)}").text
    assert "manual_adjustments" in ledger and WALLET in ledger
    entries = Audit(world.container.engine).latest(target=proposal)
    trail = [(e.actor_name, e.action, e.outcome) for e in entries]
    assert ("kofi", "propose", "ok") in trail and ("kofi", "approve", "refused") in trail
    assert ("ama", "approve", "refused") in trail
    assert ("esi", "approve", "ok") in trail and ("esi", "approve", "refused") in trail


def test_a_reversal_the_wallet_cannot_cover_fails_and_moves_nothing(world: World) -> None:
    world.wallet(WALLET, "Ama Mensah", cash=1_000)
    maker = operator(world.container, "ama", Role.OPERATOR)
    checker = operator(world.container, "kofi", Role.APPROVER)
    desk = _desk(world.client)
    desk.login("ama", maker)
    made = desk.post("/console/approvals", "/console/approvals/new", kind="wallet_reversal", msisdn=WALLET,
                     amount="4000", reason="double credit")
    proposal = made.headers["location"].rsplit("/", 1)[1]
    desk = _desk(world.client)
    desk.login("kofi", checker)
    desk.post(f"/console/approvals/{proposal}/approve", f"/console/approvals/{proposal}")
    shown = world.client.get(f"/console/approvals/{proposal}").text
    assert 'data-testid="proposal-error">insufficient_funds<' in shown
    assert world.balance(WALLET) == 1_000


def test_a_proposal_for_an_unknown_wallet_is_refused_with_its_code(world: World) -> None:
    desk = _desk(world.client)
    desk.login("ama", operator(world.container, "ama", Role.OPERATOR))
    answer = desk.post("/console/approvals", "/console/approvals/new", kind="wallet_credit",
                       msisdn="+22899999999", amount="100", reason="x")
    assert answer.status_code == 404 and 'data-testid="form-error"' in answer.text
    assert "unknown_wallet" in answer.text


def test_a_wallet_drills_down_from_a_movement_to_its_ledger_accounts(world: World) -> None:
    world.wallet(WALLET, "Ama Mensah", cash=2_500)
    desk = _desk(world.client)
    desk.login("yawa", operator(world.container, "yawa", Role.VIEWER))
    found = world.client.get("/console/wallets", params={"q": "mensah"})
    assert WALLET in found.text
    wallet = world.client.get(f"/console/wallets/{WALLET}").text
    assert "2,500 F CFA" in wallet or "2 500 F CFA" in wallet
    movement = re.search(r'href="/console/movements/([^"]+)" data-testid="movement-link"', wallet)
    assert movement
    legs = world.client.get(f"/console/movements/{movement.group(1)}").text
    accounts = re.findall(r'href="/console/accounts/(\d+)" data-testid="account-link"', legs)
    assert len(accounts) >= 2 and "cash_in" in legs.lower()
    customer = world.container.customers.get(WALLET)
    assert str(customer.account_id) in accounts
    account = world.client.get(f"/console/accounts/{customer.account_id}").text
    assert "Ama Mensah" in account and movement.group(1) in account


def test_every_page_renders_small_with_vendored_assets_only(world: World) -> None:
    world.wallet(WALLET, "Ama Mensah", cash=2_500)
    desk = _desk(world.client)
    desk.login("yawa", operator(world.container, "yawa", Role.VIEWER))
    for entry in entries():
        answer = world.client.get(entry.path)
        assert answer.status_code == 200, entry.path
        assert len(answer.content) < 150_000, entry.path
        assert not re.search(r'(src|href)="(https?:)?//', answer.text), entry.path
        for asset in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', answer.text):
            got = world.client.get(asset, headers={"Accept-Encoding": "gzip"})
            assert got.status_code == 200 and "immutable" in got.headers["cache-control"], asset
    leaflet = world.client.get("/console/rides").text
    assert "vendor/leaflet.js" in leaflet and "geo/lome.geojson" in leaflet


def test_the_console_stays_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]


def test_an_unknown_wallet_or_movement_is_a_404_page(world: World) -> None:
    desk = _desk(world.client)
    desk.login("yawa", operator(world.container, "yawa", Role.VIEWER))
    for path in ("/console/wallets/+22899999999", "/console/movements/mv_nothing", "/console/approvals/pr_x"):
        answer = world.client.get(path)
        assert answer.status_code in (404, 400), path
        assert answer.headers["content-type"].startswith("text/html")
