"""Demo data for ``sika serve --demo``: an agent with a float, a merchant, funded wallets, a live
cashback campaign (so "Promotions" has something to show and a first transfer earns something).

Seeding is idempotent (agents and merchants found by name, wallets by number, money moved with fixed
movement ids), so restarting the demo finds what it made before. Each start gives the demo agent and
merchant fresh API keys (the previous ones are revoked) and prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sika.auth import Role
from sika.bootstrap import Container
from sika.errors import SikaError
from sika.payments import Agent, Merchant
from sika.promotions.model import State
from sika.rides.geo import Point
from sika.wallet import Pin, UnknownWallet

__all__ = ["DEMO_AGENT", "DEMO_CAMPAIGN", "DEMO_DRIVERS", "DEMO_MERCHANT", "DEMO_WALLETS", "DemoKeys", "seed"]

DEMO_AGENT = ("Demo agent, Lomé Bè", "+22892001122", 2_000_000)
DEMO_MERCHANT = "Demo shop, Assigamé"
# msisdn -> (name, language, PIN, opening balance in XOF)
DEMO_WALLETS: dict[str, tuple[str, str, str, int]] = {
    "+22890112233": ("Ama Mensah", "fr", "4827", 25_000),
    "+22897112233": ("Kofi Agbeko", "en", "5938", 10_000),
    "+22891445566": ("Fatima Ouro", "ar", "6049", 5_000),
}


# Demo drivers in Lomé: (msisdn, name, plate, latitude, longitude). Their wallets' PIN is 7314.
DEMO_DRIVERS: list[tuple[str, str, str, float, float]] = [
    ("+22870100001", "Komlan Adzo", "TG-4821-AZ", 6.1319, 1.2228),  # Grand marché
    ("+22870100002", "Yawo Sena", "TG-7310-BK", 6.1725, 1.2145),  # Tokoin
    ("+22870100003", "Koffi Dodzi", "TG-1954-CE", 6.1390, 1.2460),  # Bè
    ("+22870100004", "Essi Amavi", "TG-6622-DA", 6.1650, 1.2400),  # Nyékonakpoè
    ("+22870100005", "Mensah Elom", "TG-3071-EF", 6.1840, 1.1980),  # Agoè road
    ("+22870100006", "Abla Dovi", "TG-8409-FG", 6.1250, 1.2050),  # Lomé port
]
DEMO_DRIVER_PIN = "7314"

# A live cashback the demo's customers earn on their first payments: 2 % of a transfer, airtime, bill
# or shop payment of 1,000 F CFA or more, 500 F CFA at most a payment and 1,500 a customer, paid from a
# real budget (the platform's promotions account) that the campaign's page shows being spent.
DEMO_CAMPAIGN = "Demo cashback"
DEMO_CAMPAIGN_BUDGET = 100_000
DEMO_CAMPAIGN_RULES = {
    "operations": ["transfer", "airtime", "bill", "merchant"],
    "percent": 2,
    "reward_max": 500,
    "amount_min": 1_000,
    "per_customer_max": 1_500,
}


@dataclass(frozen=True, slots=True)
class DemoKeys:
    agent: str
    merchant: str
    admin: str
    driver_ids: tuple[int, ...] = ()
    campaign_id: str = ""


def seed(container: Container) -> DemoKeys:
    """Create the demo agent, merchant and wallets and fund them, once; return fresh API keys."""
    agent, agent_key = _agent(container)
    merchant, merchant_key = _merchant(container)
    payments = container.payments
    name, _, float_amount = DEMO_AGENT
    payments.credit_float("demo-float", agent, float_amount).raise_for_failure()
    for msisdn, (holder, language, pin, opening) in DEMO_WALLETS.items():
        try:
            container.customers.get(msisdn)
        except UnknownWallet:
            container.customers.open(msisdn, holder, language=language, pin=Pin(pin), tier=1)
        payments.cash_in(f"demo-cash-in-{msisdn}", agent, msisdn, opening).raise_for_failure()
    _, admin_key = container.api_keys.create(Role.ADMIN, "demo operator")
    assert merchant.name and name
    campaign_id = _campaign(container)
    return DemoKeys(
        agent=agent_key,
        merchant=merchant_key,
        admin=admin_key,
        driver_ids=tuple(_drivers(container)),
        campaign_id=campaign_id,
    )


def _campaign(container: Container) -> str:
    """The demo's cashback campaign, found by name on a restart; started (its budget funded) once."""
    campaigns = container.promotions.campaigns
    existing = next((c for c in campaigns.store.list(limit=200) if c.name == DEMO_CAMPAIGN), None)
    if existing is None:
        existing = campaigns.create(
            name=DEMO_CAMPAIGN, kind="cashback", budget=DEMO_CAMPAIGN_BUDGET, rules=DEMO_CAMPAIGN_RULES
        )
    if existing.state in (State.DRAFT, State.PAUSED):  # new, or a start a stop interrupted, or paused
        campaigns.start(existing.id)
    return existing.id


def _drivers(container: Container) -> list[int]:
    """The demo fleet: wallet holders with approved documents, online where they stand."""
    rides = container.rides
    assert rides is not None
    ids = []
    for msisdn, holder, plate, lat, lng in DEMO_DRIVERS:
        try:
            customer = container.customers.get(msisdn)
        except UnknownWallet:
            customer = container.customers.open(msisdn, holder, pin=Pin(DEMO_DRIVER_PIN), tier=1)
        try:
            driver = rides.driver_of(customer.id)
        except SikaError:
            driver = rides.onboard(customer, city_id="lome", vehicle_type="moto", plate=plate)
        rides.set_documents(driver.id, "approved")
        try:
            rides.update_location(driver.id, Point(lat, lng))
        except SikaError as exc:
            if exc.code != "too_many_updates":
                raise
        rides.set_online(driver.id, online=True)
        ids.append(driver.id)
    return ids


def _agent(container: Container) -> tuple[Agent, str]:
    name, msisdn, _ = DEMO_AGENT
    existing = next((a for a in container.agents.list() if a.name == name), None)
    if existing is None:
        return container.agents.create(name, msisdn=msisdn)
    return existing, container.agents.rotate_key(existing.id, Role.AGENT, name)


def _merchant(container: Container) -> tuple[Merchant, str]:
    existing = next((m for m in container.merchants.list() if m.name == DEMO_MERCHANT), None)
    if existing is None:
        return container.merchants.create(DEMO_MERCHANT)
    return existing, container.merchants.rotate_key(existing.id, Role.MERCHANT, DEMO_MERCHANT)
