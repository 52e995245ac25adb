"""What each payment earns, decided before it is recorded and paid in its own ledger chain: the
payments hook of promotions (see sika.payments.hooks).

For a payment of an operation some live campaign rewards, every such campaign judges it
(:mod:`sika.promotions.eligibility`), the stacking policy picks what pays, and each winning offer
becomes an optional group of legs: the reward (budget -> the customer's wallet; for an airtime bonus,
budget -> the provider, who delivers that much more airtime), plus one meter leg per cap. The ledger
then pays it with the payment, or refuses it (budget empty, cap reached) and the payment goes on
alone. Held payments (airtime, bills) hold their rewards too: posted or voided with them. A ride paid
from the wallet earns at its capture, on the final fare. Why a campaign did not reward a payment goes
into the payment's details (``details["promotions"][campaign]``), for "why no cashback".
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select

from sika import phones
from sika.ledger import Ledger
from sika.payments.accounts import SystemAccounts
from sika.payments.hooks import NOTHING, Additions, Draft, Extra
from sika.payments.movements import Code, Kind, Leg, Movement, Role
from sika.promotions.clawbacks import REVERSALS, plan_clawbacks
from sika.promotions.debts import Debts
from sika.promotions.eligibility import (
    Customerish,
    Facts,
    Offer,
    Reason,
    choose,
    is_exclusive,
    judge,
    preference,
)
from sika.promotions.followups import record
from sika.promotions.meters import CAP_LEG, DEVICE_LEG, OWED_LEG, Meters
from sika.promotions.model import Campaign
from sika.promotions.rules import CampaignKind, Operation
from sika.promotions.schema import claims, referrals
from sika.promotions.store import CampaignStore
from sika.promotions.timing import CalendarWhen
from sika.rides.payment_kinds import RIDE
from sika.rides.schema import trips
from sika.wallet import Customers

__all__ = ["OPERATIONS", "Grants", "campaign_of", "group_of"]

OPERATIONS: dict[Kind, Operation] = {
    Kind.TRANSFER: Operation.TRANSFER,
    Kind.VOUCHER: Operation.TRANSFER,
    Kind.AIRTIME: Operation.AIRTIME,
    Kind.BILL: Operation.BILL,
    Kind.MERCHANT_PAYMENT: Operation.MERCHANT,
    RIDE: Operation.RIDE,
}
_DAY_NS = 86_400 * 1_000_000_000
# How old a budget's figure may be when choosing among exclusive offers, and how many are kept.
BUDGET_READ_S = 1.0
BUDGETS_MAX = 1_024


def group_of(campaign_id: str) -> str:
    """The optional group a campaign's reward takes in a movement ("cp_1a2b…" -> "c1a2b…")."""
    return "c" + campaign_id.removeprefix("cp_")


def campaign_of(group: str) -> str:
    """The campaign whose reward took ``group`` (the inverse of :func:`group_of`)."""
    return "cp_" + group[1:]


class Grants:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        store: CampaignStore,
        when: CalendarWhen,
        *,
        customers: Customers,
        system: SystemAccounts,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._store = store
        self._when = when
        self._customers = customers
        self._system = system
        self.meters = Meters(engine, ledger)
        # Budgets' available francs as last read (campaign id -> (francs, monotonic s)): _payable.
        self._budgets: dict[str, tuple[int, float]] = {}
        self._budgets_lock = threading.Lock()
        self.debts = Debts(engine, ledger, self.meters)

    # The hook --------------------------------------------------------------------------------------

    def extras(self, draft: Draft) -> Additions:
        if draft.kind in REVERSALS:
            return plan_clawbacks(self._engine, self._store, draft)
        operation = OPERATIONS.get(draft.kind)
        if operation is None or draft.payer_customer_id is None or (draft.kind is RIDE and draft.holds):
            return NOTHING  # a wallet ride's hold earns nothing: its capture does, on the final fare
        live = [c for c in self._store.live() if operation in c.rules.operations]
        if not live:
            return NOTHING
        facts = self._facts(draft, operation, draft.payer_customer_id)
        offers: list[Offer] = []
        notes: dict[str, str] = {}
        for campaign in live:
            claimed = self._claim_check(campaign.id, facts.customer_id)
            verdict = judge(campaign, facts, self._when, claimed=claimed)
            if verdict is Reason.NOT_RUNNING:
                continue
            if isinstance(verdict, Reason):
                notes[campaign.id] = str(verdict)
            elif campaign.kind is CampaignKind.REFERRAL and self._referrer(campaign, facts) is None:
                notes[campaign.id] = str(Reason.NOT_REFERRED)
            elif campaign.kind is CampaignKind.AIRTIME_BONUS and not _takes_bonus(draft):
                # A bundle (an airtime purchase of a fixed price) takes no bonus: not an offer here, so
                # that it never wins over one that would pay (see _extra).
                continue
            else:
                offers.append(verdict)
        kept, lost = choose(self._payable(offers, facts, notes))
        notes.update({offer.campaign.id: str(Reason.BETTER_OFFER) for offer in lost})
        extras = tuple(extra for offer in kept if (extra := self._extra(draft, facts, offer)) is not None)
        return Additions(extras, {"promotions": notes} if notes else {})

    def completed(self, connection: Connection, movement: Movement, now_ns: int) -> None:
        record(connection, movement, now_ns)
        self._spent(movement)
        if movement.details.get("clawbacks"):
            self.debts.invalidate()  # a clawback it could not take is owed: the next rewards collect it

    def follows_up(self, movement: Movement) -> bool:
        # What record() writes: for each of this movement's groups that a campaign added, and for each
        # clawback it planned (owed when its group was dropped, which leaves it out of the extras).
        extras = movement.details.get("extras") or {}
        return bool(movement.details.get("clawbacks")) or any(
            isinstance(info, dict) and "campaign" in info for info in extras.values()) or self._refused_known(
            movement)

    def _refused_known(self, movement: Movement) -> bool:
        """Whether a budget this process keeps a figure of refused one of the movement's rewards: its
        completion then drops that figure (_spent), on PostgreSQL too where nothing else follows."""
        with self._budgets_lock:
            return bool(self._budgets) and any(
                campaign_of(str(group)) in self._budgets for group in movement.details.get("dropped") or {})

    # Choosing among exclusive offers -------------------------------------------------------------

    def _payable(self, offers: list[Offer], facts: Facts, notes: dict[str, str]) -> list[Offer]:
        """``offers`` less the best exclusive ones the ledger would refuse now (a budget with less left
        than the reward, a cap of theirs reached), while a next best remains: a campaign whose budget
        ran out must not keep the others from paying, payment after payment. Only a forecast (read
        outside the ledger's lock, a budget's figure up to ``BUDGET_READ_S`` old): a payment racing
        another for a budget's last francs may still be refused, and goes without that reward
        (``chosen_offer_refused``). The last one is left to the ledger, which records its refusal."""
        exclusive = sorted((offer for offer in offers if is_exclusive(offer.campaign)), key=preference)
        refused: dict[str, Reason] = {}
        for offer in reversed(exclusive[1:]):  # the best first; the worst is the ledger's to judge
            reason = self._refusal(offer, facts)
            if reason is None:
                break
            refused[offer.campaign.id] = reason
        if not refused:
            return offers
        notes.update({campaign_id: str(reason) for campaign_id, reason in refused.items()})
        return [offer for offer in offers if offer.campaign.id not in refused]

    def _refusal(self, offer: Offer, facts: Facts) -> Reason | None:
        """Why the ledger would refuse ``offer`` as its accounts stand, if it would: the budget (as
        last read, less what this process paid from it since), then the caps' meters (read now; a
        meter not opened yet has counted nothing)."""
        # What the budget pays: the reward less what it keeps back for rewards the customer owes the
        # campaign (sika.promotions.debts; kept in the budget, they need no francs from it). An airtime
        # bonus keeps nothing back (_extra).
        owed = 0 if offer.campaign.kind is CampaignKind.AIRTIME_BONUS else sum(
            c.amount for c in self.debts.collect(offer.campaign.id, facts.customer_id, offer.amount))
        if self._budget_left(offer.campaign) < offer.amount - owed:
            return Reason.BUDGET_EXHAUSTED
        caps = self._caps(offer.campaign, facts, offer.amount)
        open_meters = self.meters.known({cap[0] for cap in caps}) if caps else {}
        if not open_meters:
            return None
        accounts = self._ledger.get_accounts(list(open_meters.values()))
        for key, cap, count, kind in caps:
            meter = accounts.get(open_meters[key]) if key in open_meters else None
            if meter is None:
                continue
            most = meter.balance_max if meter.balance_max is not None else cap
            # As the ledger counts a credit against balance_max (sika.ledger.engine).
            if meter.credits_posted + meter.credits_pending + count - meter.debits_posted > most:
                return Reason.DEVICE_CAP_REACHED if kind == DEVICE_LEG else Reason.CAP_REACHED
        return None

    def _budget_left(self, campaign: Campaign) -> int:
        now = time.monotonic()
        with self._budgets_lock:
            known = self._budgets.get(campaign.id)
        if known is not None and now - known[1] < BUDGET_READ_S:
            return known[0]
        left = self._ledger.get_account(campaign.account_id).available
        with self._budgets_lock:
            if len(self._budgets) >= BUDGETS_MAX:
                self._budgets.clear()
            self._budgets[campaign.id] = (left, now)
        return left

    def _spent(self, movement: Movement) -> None:
        """What this movement's rewards took from budgets this process keeps a figure of (so that its
        next payments see it before the next read); a budget that refused one is read again."""
        extras = movement.details.get("extras") or {}
        dropped = movement.details.get("dropped") or {}
        with self._budgets_lock:
            if not self._budgets:
                return
            if movement.holds:
                extras = {}  # its rewards were held from the budget since it began: a read shows them
            for info in extras.values():
                campaign_id = info.get("campaign") if isinstance(info, dict) else None
                known = self._budgets.get(str(campaign_id))
                if known is not None and "clawback" not in info:
                    self._budgets[str(campaign_id)] = (known[0] - int(info.get("amount") or 0), known[1])
            for group in dropped:
                self._budgets.pop(campaign_of(str(group)), None)

    # Building a reward -----------------------------------------------------------------------------

    def _extra(self, draft: Draft, facts: Facts, offer: Offer) -> Extra | None:
        campaign, rules = offer.campaign, offer.campaign.rules
        group = group_of(campaign.id)
        base = f"{draft.id}.o{group}"

        def leg(suffix: str, debit: int, credit: int, amount: int, code: int) -> Leg:
            return Leg(
                f"{base}.{suffix}",
                debit,
                credit,
                amount,
                code,
                Role.PROMOTION,
                pending=draft.holds,
                timeout_s=draft.hold_timeout_s,
                optional=group,
            )

        info: dict[str, object] = {
            "campaign": campaign.id,
            "kind": str(campaign.kind),
            "name": campaign.name,
            "customer": facts.customer_id,
        }
        legs: list[Leg] = []
        amount = offer.amount
        if campaign.kind is CampaignKind.PRIZE_DRAW:
            info["entry"] = True
        elif campaign.kind is CampaignKind.REFERRAL:
            referrer = self._referrer(campaign, facts)
            if referrer is None:
                return None
            amount = rules.referee_amount or 0
            legs += self._paid(campaign, facts.customer_id, amount, info=info, leg=leg,
                               to=self._wallet(draft), suffix="e")
            # The referrer is paid by a movement of their own right after (Referrals.pay_due), so that
            # the money is in their statement as a movement naming them.
            info.update(referrer=referrer[0], referrer_amount=rules.referrer_amount or 0)
        elif campaign.kind is CampaignKind.AIRTIME_BONUS:
            if not _takes_bonus(draft) or draft.provider is None:  # (extras() left such offers out)
                return None  # a bundle's price is fixed: only airtime of any amount takes a bonus
            provider = self._system.provider(draft.provider)
            # Airtime the operator delivers with this very order: it keeps nothing back for a reward
            # owed (what is owed is francs, kept back from money paid into the wallet: _paid).
            legs.append(leg("r", campaign.account_id, provider, amount, Code.REWARD))
            info.update(amount=amount, order_extra=amount, delivered="airtime")
        else:
            legs += self._paid(campaign, facts.customer_id, amount, info=info, leg=leg,
                               to=self._wallet(draft), suffix="r")
        meter_source = self._system.id("meter_source")
        for index, (key, cap, count, kind) in enumerate(self._caps(campaign, facts, amount)):
            meter = self.meters.account(key, cap)
            # The kind begins the leg's id: "why no reward?" names a phone's cap as such (explain).
            legs.append(leg(f"{kind}{index}", meter_source, meter, count, Code.REWARD_METER))
        return Extra(group, tuple(legs), info)

    def _paid(self, campaign: Campaign, customer_id: int, amount: int, *, info: dict[str, object],
              leg: Callable[[str, int, int, int, int], Leg], to: int, suffix: str) -> list[Leg]:
        """The legs paying a reward of ``amount`` into the wallet ``to``, less what the customer owes the
        campaign (:mod:`sika.promotions.debts`): ``info["amount"]`` is what the wallet receives,
        ``info["withheld"]`` what is kept back for which owed rewards (``info["collects"]``)."""
        collections = self.debts.collect(campaign.id, customer_id, amount)
        withheld = sum(c.amount for c in collections)
        paid = amount - withheld
        assert 0 <= paid <= amount, (paid, amount)
        legs = [leg(suffix, campaign.account_id, to, paid, Code.REWARD)] if paid else []
        meter_source = self._system.id("meter_source")
        # What is kept back stays in the budget; its meter leg makes sure no other payment keeps it too.
        legs += [leg(f"{OWED_LEG}{i}", meter_source, c.meter, c.amount, Code.REWARD_METER)
                 for i, c in enumerate(collections)]
        info["amount"] = paid
        if withheld:
            info.update(withheld=withheld, collects=[[c.reward_id, c.amount] for c in collections])
        return legs

    def _caps(self, campaign: Campaign, facts: Facts, amount: int) -> list[tuple[str, int, int, str]]:
        """(meter key, cap, what this reward counts, the kind its leg's id begins with) for each cap of
        the campaign."""
        rules, who = campaign.rules, facts.customer_id
        caps: list[tuple[str, int, int, str]] = []
        if campaign.kind is CampaignKind.REFERRAL:
            caps.append((f"{campaign.id}:ref:{who}", 1, 1, CAP_LEG))  # a referee is rewarded once
        if rules.per_customer_max and amount:
            caps.append((f"{campaign.id}:c:{who}", rules.per_customer_max, amount, CAP_LEG))
        if rules.per_customer_count_max:
            caps.append((f"{campaign.id}:n:{who}", rules.per_customer_count_max, 1, CAP_LEG))
        if rules.per_customer_day_max or rules.per_day_max:
            day = self._when.local_date(campaign, facts.at)
            if rules.per_customer_day_max:
                caps.append((f"{campaign.id}:n:{who}:{day}", rules.per_customer_day_max, 1, CAP_LEG))
            if rules.per_day_max and amount:
                caps.append((f"{campaign.id}:d:{day}", rules.per_day_max, amount, CAP_LEG))
        if rules.per_device_max and facts.device:
            device = hashlib.sha256(facts.device.encode()).hexdigest()[:24]
            caps.append((f"{campaign.id}:v:{device}", rules.per_device_max, 1, DEVICE_LEG))
        return caps

    # Facts -----------------------------------------------------------------------------------------

    def _facts(self, draft: Draft, operation: Operation, customer_id: int) -> Facts:
        device = draft.details.get("device")
        return Facts(
            operation=operation,
            amount=int(draft.details.get("fare", draft.amount)),
            customer_id=customer_id,
            now_ns=draft.now_ns,
            at=datetime.fromtimestamp(draft.now_ns / 1e9, UTC),
            read_customer=lambda: self._customerish(customer_id),
            read_city=lambda: self._ride_city(draft) if operation is Operation.RIDE else None,
            device=str(device)[:200] if device else None,
        )

    def _customerish(self, customer_id: int) -> Customerish:
        customer = self._customers.by_id(customer_id)
        return Customerish(
            tier=customer.tier, opened_at_ns=customer.created_at_ns, country=phones.region(customer.msisdn)
        )

    def _ride_city(self, draft: Draft) -> str | None:
        trip = draft.details.get("trip")
        if not trip:
            return None
        with self._engine.connect() as connection:
            found = connection.execute(
                select(trips.c.city).where(trips.c.id == str(trip))
            ).scalar_one_or_none()
        return None if found is None else str(found)

    def _wallet(self, draft: Draft) -> int:
        account = draft.payer_account_id
        if account is None:  # a card ride: the card pays, the reward goes to the rider's wallet
            assert draft.payer_customer_id is not None
            account = self._customers.by_id(draft.payer_customer_id).account_id
        assert account is not None
        return account

    def _claim_check(self, campaign_id: str, customer_id: int) -> Callable[[], bool]:
        """Whether the customer entered one of the campaign's codes (asked only if it needs one)."""

        def claimed() -> bool:
            with self._engine.connect() as connection:
                found = connection.execute(
                    select(claims.c.customer_id).where(
                        claims.c.campaign_id == campaign_id, claims.c.customer_id == customer_id
                    )
                ).first()
            return found is not None

        return claimed

    def _referrer(self, campaign: Campaign, facts: Facts) -> tuple[int, int] | None:
        """(referrer id, referrer's wallet) when the customer was referred lately and not rewarded yet."""
        since = facts.now_ns - campaign.rules.referral_days * _DAY_NS
        with self._engine.connect() as connection:
            found = connection.execute(
                select(referrals.c.referrer_customer_id).where(
                    referrals.c.referee_customer_id == facts.customer_id,
                    referrals.c.campaign_id == campaign.id,
                    referrals.c.status == "pending",
                    referrals.c.created_at_ns >= since,
                )
            ).scalar_one_or_none()
        if found is None:
            return None
        account = self._customers.by_id(int(found)).account_id
        assert account is not None
        return int(found), account


def _takes_bonus(draft: Draft) -> bool:
    """Whether an airtime bonus can ride on this purchase: airtime of any amount, through a provider."""
    return draft.product == "airtime" and draft.provider is not None
