"""The operations console in a real browser (Debian's chromium, headless), against ``sika serve --demo``:
what an operator sees and clicks, from the login to the money underneath."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import Demo

TIMEOUT_MS = 15_000
SHOTS = Path(__file__).parent / ".screenshots"


@pytest.fixture
def open_page(browser: Any, demo: Demo) -> Iterator[Any]:
    """A fresh browser context per person (its own cookies), and the page's console errors checked."""
    contexts = []
    errors: list[str] = []

    def make(name: str | None = None) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=demo.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        if name is not None:
            log_in(page, name, demo.passwords[name])
        return page

    yield make
    for context in contexts:
        context.close()
    # A refused form answers 403 on purpose; anything else (a CSP violation, a script error) is a bug.
    assert [e for e in errors if "403" not in e] == []


def log_in(page: Any, name: str, password: str) -> None:
    page.goto("/console/login?lang=en")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/console")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_operator_logs_in_sees_the_dashboard_and_logs_out(open_page: Any, demo: Demo) -> None:
    page = open_page()
    page.goto("/console/wallets")
    assert "/console/login" in page.url
    log_in(page, "ama", demo.passwords["ama"])
    assert page.inner_text("[data-testid=who]") == "ama · operator"
    page.click("[data-testid=logout]")
    page.wait_for_url("**/console/login**")
    page.goto("/console")
    assert "/console/login" in page.url
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "sika_console" not in cookies


def test_a_form_whose_csrf_token_was_tampered_with_is_refused(open_page: Any) -> None:
    page = open_page("ama")
    page.goto("/console/approvals/new?kind=wallet_credit&msisdn=%2B22890112233")
    page.fill("input[name=amount]", "700")
    page.fill("input[name=reason]", "test")
    page.eval_on_selector("form[action='/console/approvals'] input[name=_csrf]", "el => el.value = 'forged'")
    page.click("[data-testid=propose]")
    page.wait_for_selector("[data-testid=error-code]")
    assert page.inner_text("[data-testid=error-code]") == "csrf_refused"
    assert "Nothing was changed" in page.inner_text("main")


def test_a_wallet_drills_down_from_a_movement_to_its_ledger_accounts(open_page: Any) -> None:
    page = open_page("yawa")
    page.click("nav >> text=Wallets")
    page.fill("[data-testid=wallet-search]", "Mensah")
    page.keyboard.press("Enter")
    page.click("text=+22890112233")
    assert page.inner_text("[data-testid=balance]").endswith("F CFA")
    page.click("[data-testid=movement-link] >> nth=-1")
    page.wait_for_selector("[data-testid=legs]")
    legs = page.inner_text("[data-testid=legs]")
    assert "cash_in" in legs and "Ama Mensah" in legs
    shot(page, "console-movement")
    page.click("[data-testid=legs] [data-testid=account-link] >> nth=1")
    facts = page.inner_text("[data-testid=account-facts]")
    assert "+22890112233 Ama Mensah" in facts
    shot(page, "console-account")


def _balance(page: Any, msisdn: str) -> int:
    page.goto(f"/console/wallets/{msisdn}")
    return int("".join(ch for ch in page.inner_text("[data-testid=balance]") if ch.isdigit()))


def test_a_credit_moves_only_once_a_second_operator_approves_it(open_page: Any) -> None:
    maker, checker = open_page("ama"), open_page("kofi")
    before = _balance(checker, "+22897112233")
    maker.goto("/console/wallets/+22897112233")
    maker.click("text=Propose a credit")
    maker.fill("input[name=amount]", "1500")
    maker.fill("input[name=reason]", "bank deposit ref 4411")
    maker.click("[data-testid=propose]")
    maker.wait_for_selector("[data-testid=proposal-status]")
    assert maker.inner_text("[data-testid=proposal-status]") == "proposed"
    assert maker.locator("[data-testid=approve]").count() == 0
    assert maker.is_visible("[data-testid=own-proposal]")
    assert _balance(checker, "+22897112233") == before  # nothing moved yet
    checker.goto(maker.url)
    shot(checker, "console-approval")
    checker.click("[data-testid=approve]")
    checker.wait_for_selector("[data-testid=proposal-movement]")
    assert checker.inner_text("[data-testid=proposal-status]") == "executed"
    assert checker.inner_text("[data-testid=checker]").startswith("kofi")
    assert _balance(checker, "+22897112233") == before + 1_500


def test_an_approver_cannot_approve_their_own_proposal(open_page: Any) -> None:
    page = open_page("kofi")
    page.goto("/console/approvals/new?kind=agent_float&agent_id=1")
    page.fill("input[name=amount]", "10000")
    page.fill("input[name=reason]", "deposit slip 99")
    page.click("[data-testid=propose]")
    page.wait_for_selector("[data-testid=own-proposal]")
    assert page.locator("[data-testid=approve]").count() == 0
    page.click("[data-testid=reject]")  # the maker withdraws it
    page.wait_for_selector("[data-testid=proposal-status]")
    assert page.inner_text("[data-testid=proposal-status]") == "rejected"


def test_the_rides_map_shows_the_demo_drivers_and_a_trip_moving_on(open_page: Any, demo: Demo) -> None:
    page = open_page("yawa")
    page.goto("/console/rides")
    # Waits by selector, not by a JavaScript predicate: Playwright evaluates a predicate with eval,
    # which the console's Content-Security-Policy refuses once the page has reloaded (seen in CI).
    page.locator("#map path.driver-marker").nth(5).wait_for(state="attached")  # six markers at least
    assert page.get_attribute("[data-testid=map]", "data-drivers") == "6"
    page.locator("#map .place-label").first.wait_for(state="attached")  # the GeoJSON base
    rider = httpx.post(f"{demo.url}/v1/sessions", json={"msisdn": "+22891445566", "pin": "6049"}).json()
    headers = {"Authorization": f"Bearer {rider['token']}", "Idempotency-Key": "console-map-trip"}
    route = {"pickup": {"lat": 6.1380, "lng": 1.2300}, "dropoff": {"lat": 6.1700, "lng": 1.2150}}
    booked = httpx.post(f"{demo.url}/v1/rides/trips", headers=headers, json={**route, "payment": "cash"})
    assert booked.status_code == 201, booked.text
    trip = booked.json()["id"]
    # The table refreshes by htmx and the map by polling: the trip appears, then a demo driver takes it.
    page.wait_for_selector(f"[data-testid=trips] >> text={trip}")
    page.locator("#map path.trip-line").first.wait_for(state="attached")
    page.wait_for_selector("[data-testid=trips] >> text=driver assigned", timeout=45_000)
    shot(page, "console-rides")
    page.click(f"text={trip}")
    assert "requested" in page.inner_text("[data-testid=timeline]")


def test_the_dashboard_draws_its_charts(open_page: Any) -> None:
    page = open_page("yawa")
    page.wait_for_selector("[data-testid=chart-money] .uplot canvas")
    assert page.locator("[data-testid=chart-messages] .uplot canvas").count() == 1
    assert "F CFA" in page.inner_text("[data-testid=money-in]")
    shot(page, "console-dashboard")


def test_the_demo_prints_operators_who_can_run_maker_checker_alone(open_page: Any) -> None:
    maker = open_page("demo-operator")
    maker.goto("/console/approvals/new?kind=wallet_credit&msisdn=%2B22891445566")
    maker.fill("input[name=amount]", "250")
    maker.fill("input[name=reason]", "demo")
    maker.click("[data-testid=propose]")
    maker.wait_for_selector("[data-testid=own-proposal]")
    checker = open_page("demo-approver")
    checker.goto(maker.url)
    checker.click("[data-testid=approve]")
    checker.wait_for_selector("[data-testid=proposal-movement]")
    assert checker.inner_text("[data-testid=proposal-status]") == "executed"


def test_an_operator_opens_the_demo_campaign_and_sees_where_its_budget_stands(open_page: Any) -> None:
    page = open_page("yawa")
    page.click("nav >> text=Campaigns")
    listing = page.inner_text("[data-testid=campaigns]")
    assert "Demo cashback" in listing and "active" in listing and "100,000 F CFA" in listing
    page.click("[data-testid=campaign-link] >> text=Demo cashback")
    page.wait_for_selector("[data-testid=money]")
    assert page.inner_text("[data-testid=campaign-status]") == "active"
    assert page.inner_text("[data-testid=remaining]").endswith("F CFA")
    rules = page.inner_text("[data-testid=rules]")
    assert "reward_max" in rules and "500" in rules
    assert "None." in page.inner_text("[data-testid=waiting-prizes]")
    page.wait_for_selector("[data-testid=chart-burn] canvas")  # the budget's burn, drawn by uPlot
    page.click("[data-testid=forecast-7]")
    page.wait_for_selector("[data-testid=forecast]")
    assert page.inner_text("[data-testid=forecast]").startswith("Over the last 7 days: payments replayed, ")
    page.wait_for_selector("[data-testid=chart-burn] canvas")
    shot(page, "console-campaign")


def test_an_operator_ends_a_campaign_after_saying_yes_to_the_browsers_question(open_page: Any,
                                                                               demo: Demo) -> None:
    rules = {"percent": 1, "reward_max": 10, "operations": ["transfer"]}
    made = httpx.post(f"{demo.url}/v1/campaigns", headers={"Authorization": f"Bearer {demo.admin_key}"},
                      json={"name": "Browser test week", "kind": "cashback", "budget": 1_000, "rules": rules},
                      timeout=10)
    assert made.status_code == 201, made.text
    page = open_page("ama")
    page.goto(f"/console/campaigns/{made.json()['id']}")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("[data-testid=end]")
    assert asked and asked[0].startswith("End this campaign?")
    assert "/console/campaigns/" in page.url and "done=" not in page.url
    shown = httpx.get(f"{demo.url}/v1/campaigns/{made.json()['id']}",
                      headers={"Authorization": f"Bearer {demo.admin_key}"}, timeout=10).json()
    assert shown["status"] == "draft"  # "no": nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=end]")
    page.wait_for_selector("[data-testid=done]")
    assert page.inner_text("[data-testid=campaign-status]") == "ended"
