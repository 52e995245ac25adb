"""The console's campaigns, as an operator reads them: every campaign's budget, then one campaign's
money, rules, draws, the prizes waiting for a full wallet and the latest rewards."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from console_support import Desk, operator
from e2e_support import World, key
from sqlalchemy import update

from sika.console.audit import Audit
from sika.console.operators import Role
from sika.console.schema import proposals
from sika.promotions.schema import campaigns

AMA, KOFI, FULL = "+22890112233", "+22897112233", "+22890445566"


def _text(page: str) -> str:
    """The page's words, as a browser shows them (tags dropped, spaces folded)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _remaining(page: str) -> str:
    """The big figure of the campaign's budget card."""
    found = re.search(r'data-testid="remaining">([^<]+)<', page)
    assert found, page
    return html.unescape(found.group(1))


def _campaign(world: World, body: dict[str, object], fund: int) -> str:
    made = world.client.post("/v1/campaigns", headers=world.admin, json=body)
    assert made.status_code == 201, made.text
    cid = str(made.json()["id"])
    funded = world.client.post(f"/v1/campaigns/{cid}/fund", headers={**world.admin, **key()},
                               json={"amount": fund})
    assert funded.status_code == 200, funded.text
    assert world.client.post(f"/v1/campaigns/{cid}/start", headers=world.admin).status_code == 200
    return cid


def test_an_operator_follows_a_campaigns_money_rewards_and_a_prize_waiting_for_a_full_wallet(
        world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    world.wallet(KOFI, "Kofi")
    # A basic wallet (tier 0 holds 200 000 F at most) with 195 000 F: a 50 000 F prize cannot go in.
    full = world.wallet(FULL, "Abla Full", cash=97_500, tier=0)
    again = world.client.post("/v1/cash-ins", headers={**world.agent, **key()},
                              json={"msisdn": FULL, "amount": 97_500})
    assert again.status_code == 201, again.text
    rules = {"percent": 5, "reward_max": 250, "operations": ["transfer"]}
    cashback = _campaign(world, {"name": "Ramadan cashback", "kind": "cashback", "budget": 1_000,
                                 "rules": rules}, 1_000)
    sent = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 1_000})
    assert sent.status_code == 201, sent.text
    # The draw starts after Ama's transfer: Abla's is its one ticket, so Abla wins.
    draw = _campaign(world, {"name": "Ramadan draw", "kind": "prize_draw", "budget": 50_000,
                             "rules": {"prizes": [50_000], "operations": ["transfer"]}}, 50_000)
    sent = world.client.post("/v1/transfers", headers={**full, **key()}, json={"to": KOFI, "amount": 1_000})
    assert sent.status_code == 201, sent.text
    draws = world.container.promotions.draws
    revealed = draws.reveal(draws.commit(draw).id)
    assert revealed.winners is not None and len(revealed.winners) == 1
    assert world.balance(FULL) == 195_000 - 1_000 + 50  # the cashback went in, the prize did not

    desk = Desk(world.client)
    world.client.cookies.clear()
    desk.login("yawa", operator(world.container, "yawa", Role.VIEWER))
    listing = world.client.get("/console/campaigns")
    assert listing.status_code == 200
    shown = _text(listing.text)
    # The cashback paid 50 F on each of two transfers (5 % of 1 000 F).
    assert "Ramadan cashback cashback active" in shown
    # Budget, spent, reserved, remaining, rewards:
    assert re.search(r"Ramadan cashback cashback active .*? 1 000 F CFA 100 F CFA 0 F CFA 900 F CFA 2 ",
                     shown), shown
    links = re.findall(r'href="/console/campaigns/([^"]+)" data-testid="campaign-link"', listing.text)
    assert sorted(links) == sorted([cashback, draw])

    page = world.client.get(f"/console/campaigns/{cashback}")
    assert page.status_code == 200
    seen = _text(page.text)
    assert _remaining(page.text) == "900 F CFA" and "restant sur 1 000 F CFA" in seen
    assert "Dépensé : 100 F CFA" in seen and "Versé par le sponsor : 1 000 F CFA" in seen
    assert re.search(r"percent 5(\.0)? ", seen) and "reward_max 250" in seen
    rewarded = re.findall(r'href="/console/movements/([^"]+)" data-testid="reward-movement"', page.text)
    assert len(rewarded) == 2
    for movement_id in rewarded:  # each reward opens its payment, in the ledger
        assert world.client.get(f"/console/movements/{movement_id}").status_code == 200
    assert f"{AMA}" in seen and f"{FULL}" in seen and "Tirages" not in seen  # a cashback has no draws

    shown_draw = world.client.get(f"/console/campaigns/{draw}").text
    assert _remaining(shown_draw) == "0 F CFA"  # the prize is the winner's, waiting: not left to spend
    page = _text(shown_draw)
    assert "Tirages" in page and revealed.id in page and "révélé" in page
    assert re.search(rf"{re.escape(FULL)} 50 000 F CFA {revealed.id} ", page), page
    assert "En attente : 1, 50 000 F CFA en tout." in page
    assert "Gains : 0 · participations aux tirages : 1" in page  # a prize waiting is no reward yet


def test_an_unknown_campaign_is_an_error_page_with_its_code(world: World) -> None:
    world.client.cookies.clear()
    Desk(world.client).login("yawa", operator(world.container, "yawa", Role.VIEWER))
    answer = world.client.get("/console/campaigns/cp_nothing")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert '<code data-testid="error-code">unknown_campaign</code>' in answer.text
    assert "Aucune campagne pour l'instant : `sika campaign create`." in _text(
        world.client.get("/console/campaigns").text)


def _desks(world: World) -> Callable[[str], Desk]:
    """Three operators (a viewer, an operator, an approver); the function logs one in."""
    passwords = {name: operator(world.container, name, role) for name, role in (
        ("yawa", Role.VIEWER), ("ama", Role.OPERATOR), ("esi", Role.APPROVER))}

    def desk_of(name: str) -> Desk:
        world.client.cookies.clear()
        desk = Desk(world.client)
        assert desk.login(name, passwords[name]).status_code == 303
        return desk

    return desk_of


def test_funding_a_campaign_from_the_console_waits_for_a_second_operator_and_moves_once(
        world: World) -> None:
    cid = _campaign(world, {"name": "Ramadan cashback", "kind": "cashback", "budget": 1_000,
                            "rules": {"percent": 5, "reward_max": 250, "operations": ["transfer"]}}, 1_000)
    desks = _desks(world)
    desk = desks("ama")
    form = world.client.get(f"/console/approvals/new?kind=campaign_fund&campaign_id={cid}").text
    assert f'value="{cid}"' in form  # the campaign's page links here with the campaign filled in
    made = desk.post("/console/approvals", "/console/approvals/new", kind="campaign_fund", campaign_id=cid,
                     amount="4 000", reason="Ramadan week 2, sponsor's transfer ref 991")
    assert made.status_code == 303, made.text
    page = made.headers["location"]
    assert world.container.promotions.campaigns.view(cid).money.budget == 1_000  # nothing moves yet
    checker = desks("esi")
    assert checker.post(f"{page}/approve", page).status_code == 303
    again = checker.post(f"{page}/approve", page)
    assert again.status_code == 409 and "proposal_closed" in again.text  # decided: approved once
    # An approval interrupted after the ledger (the row left "approving") runs again: it funds once.
    proposal_id = page.rsplit("/", 1)[1]
    with world.container.engine.begin() as connection:
        connection.execute(update(proposals).where(proposals.c.id == proposal_id).values(status="approving"))
    assert checker.post(f"{page}/approve", page).status_code == 303
    assert world.container.promotions.campaigns.view(cid).money.funded == 5_000  # not 9 000
    assert 'data-testid="proposal-campaign"' in world.client.get(page).text  # where the money went
    money = world.container.promotions.campaigns.view(cid).money
    assert (money.budget, money.funded, money.remaining) == (5_000, 5_000, 5_000)
    shown = _text(world.client.get(f"/console/campaigns/{cid}").text)
    assert "Versé par le sponsor : 5 000 F CFA" in shown
    refused = desks("ama").post("/console/approvals", "/console/approvals/new", kind="campaign_fund",
                                       campaign_id="cp_nothing", amount="10", reason="typo")
    assert refused.status_code == 404 and "unknown_campaign" in refused.text


def test_an_operator_pauses_then_ends_a_campaign_and_a_viewer_cannot(world: World) -> None:
    cid = _campaign(world, {"name": "Ramadan cashback", "kind": "cashback", "budget": 1_000,
                            "rules": {"percent": 5, "reward_max": 250, "operations": ["transfer"]}}, 1_000)
    desks = _desks(world)
    viewer = desks("yawa")
    page = f"/console/campaigns/{cid}"
    assert 'data-testid="pause"' not in world.client.get(page).text  # a viewer sees no button
    refused = viewer.post(f"{page}/pause", page)
    assert refused.status_code == 403
    assert str(world.container.promotions.campaigns.view(cid).status) == "active"
    desk = desks("ama")
    paused = desk.post(f"{page}/pause", page)
    assert paused.status_code == 303 and paused.headers["location"] == f"{page}?done=pause"
    shown = _text(world.client.get(paused.headers["location"]).text)
    assert "En pause : aucun paiement n'est récompensé" in shown and "en pause" in shown
    ended = desk.post(f"{page}/end", page)
    assert ended.status_code == 303
    view = world.container.promotions.campaigns.view(cid)
    assert (str(view.status), view.money.returned, view.money.remaining) == ("ended", 1_000, 0)
    shown = world.client.get(ended.headers["location"]).text
    assert 'data-testid="end"' not in shown and 'data-testid="pause"' not in shown
    assert "Terminée : ce qui restait du budget est retourné au sponsor." in _text(shown)
    again = desk.post(f"{page}/end", page)  # a second click: nothing more goes back
    assert again.status_code == 303
    assert world.container.promotions.campaigns.view(cid).money.returned == 1_000
    trail = [(e.actor_name, e.action, e.outcome) for e in Audit(world.container.engine).latest(target=cid)]
    assert ("yawa", "campaign:pause", "refused") in trail and ("ama", "campaign:pause", "ok") in trail
    assert ("ama", "campaign:end", "ok") in trail


def test_a_campaigns_page_charts_its_burn_and_forecasts_on_demand(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    world.wallet(KOFI, "Kofi")
    cid = _campaign(world, {"name": "Ramadan cashback", "kind": "cashback", "budget": 1_000,
                            "rules": {"percent": 5, "reward_max": 250, "operations": ["transfer"]}}, 1_000)
    for _ in range(3):
        sent = world.client.post("/v1/transfers", headers={**ama, **key()},
                                 json={"to": KOFI, "amount": 2_000})
        assert sent.status_code == 201, sent.text
    world.client.cookies.clear()
    Desk(world.client).login("yawa", operator(world.container, "yawa", Role.VIEWER))
    page = world.client.get(f"/console/campaigns/{cid}").text
    found = re.search(r'<script type="application/json" id="burn">([^<]+)</script>', page)
    assert found
    burn = json.loads(html.unescape(found.group(1)))
    assert burn["spent"][0] == 0 and burn["spent"][-1] == 300  # from nothing to three rewards of 100 F
    assert set(burn["budget"]) == {1_000} and len(burn["t"]) == len(burn["spent"]) >= 2
    assert 'data-testid="chart-burn"' in page
    assert 'data-testid="forecast"' not in page  # replayed only when asked
    forecast = _text(world.client.get(f"/console/campaigns/{cid}?forecast=7").text)
    assert ("Sur les 7 derniers jours : paiements rejoués, 3 ; récompensés, 3 ; 300 F CFA en tout, "
            "42 F CFA par jour. À ce rythme, les 700 F CFA restants durent jusqu'au ") in forecast
    for wrong in ("5", "²", "12345", "-7"):
        answer = world.client.get(f"/console/campaigns/{cid}", params={"forecast": wrong})
        assert answer.status_code == 422 and "validation_error" in answer.text, wrong
    # Rewards after the campaign's end (a draw revealed later, a prize paid once a wallet had room)
    # still count in the chart's last point.
    view = world.container.promotions.campaigns.view(cid)
    with world.container.engine.begin() as connection:
        connection.execute(update(campaigns).where(campaigns.c.id == cid)
                           .values(ends_at_ns=view.campaign.starts_at_ns + 1))
    page = world.client.get(f"/console/campaigns/{cid}").text
    found = re.search(r'<script type="application/json" id="burn">([^<]+)</script>', page)
    assert found
    after = json.loads(html.unescape(found.group(1)))
    assert after["spent"] == [0, 300] and after["t"][1] > after["t"][0]  # drawn at the last reward


def test_an_approver_commits_then_reveals_a_draw_and_the_winner_is_paid(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah", cash=50_000)
    world.wallet(KOFI, "Kofi")
    cid = _campaign(world, {"name": "Ramadan draw", "kind": "prize_draw", "budget": 5_000,
                            "rules": {"prizes": [5_000], "operations": ["transfer"]}}, 5_000)
    other = _campaign(world, {"name": "Other draw", "kind": "prize_draw", "budget": 1_000,
                              "rules": {"prizes": [1_000], "operations": ["transfer"]}}, 1_000)
    sent = world.client.post("/v1/transfers", headers={**ama, **key()}, json={"to": KOFI, "amount": 1_000})
    assert sent.status_code == 201, sent.text  # Ama's ticket, in both draws
    desks = _desks(world)
    page = f"/console/campaigns/{cid}"
    desks("yawa")
    assert 'data-testid="commit-draw"' not in world.client.get(page).text
    assert desks("yawa").post(f"{page}/draws", page).status_code == 403
    desks("ama")  # an operator: a draw pays prizes, an approver commits and reveals it
    assert 'data-testid="commit-draw"' not in world.client.get(page).text
    assert desks("ama").post(f"{page}/draws", page).status_code == 403
    desk = desks("esi")
    committed = desk.post(f"{page}/draws", page)
    assert committed.status_code == 303, committed.text
    shown = world.client.get(committed.headers["location"]).text
    assert "Tirage engagé : ses participations sont closes" in _text(shown)
    (draw_id,) = re.findall(r'action="/console/campaigns/[^/]+/draws/([^/]+)/reveal"', shown)
    stray = desk.post(f"/console/campaigns/{other}/draws/{draw_id}/reveal", page)
    assert stray.status_code == 404 and "unknown_draw" in stray.text  # not this campaign's draw
    before = world.balance(AMA)
    viewer = desks("yawa")
    assert 'data-testid="reveal-draw"' not in world.client.get(page).text
    assert viewer.post(f"{page}/draws/{draw_id}/reveal", page).status_code == 403
    assert desks("ama").post(f"{page}/draws/{draw_id}/reveal", page).status_code == 403
    assert world.balance(AMA) == before
    desk = desks("esi")
    revealed = desk.post(f"{page}/draws/{draw_id}/reveal", page)
    assert revealed.status_code == 303
    shown = _text(world.client.get(revealed.headers["location"]).text)
    assert "Tirage révélé : sa graine est publiée" in shown and "révélé" in shown
    assert world.balance(AMA) == before + 5_000  # the one ticket won
    assert re.search(rf"{re.escape(AMA)} prix 5 000 F CFA — versé", shown), shown
    trail = [(e.actor_name, e.action, e.outcome) for e in Audit(world.container.engine).latest(target=cid)]
    assert ("yawa", "campaign:draw", "refused") in trail and ("ama", "campaign:draw", "refused") in trail
    assert ("esi", "campaign:draw", "ok") in trail and ("esi", "campaign:reveal", "ok") in trail
    assert ("yawa", "campaign:reveal", "refused") in trail
