"""Wires the adapters once: settings -> engine -> ledger. Commands and the HTTP app start here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from sika.auth import ApiKeys, Sessions
from sika.auth.throttle import LoginThrottle
from sika.calendar import Calendar, MemoryAnnouncements
from sika.chat.dialog import Dialog
from sika.chat.routes import outbox_router, sms_channel
from sika.chat.services import ChatServices
from sika.chat.sms.channel import SmsChannel
from sika.chat.texts.notifications import NotificationText
from sika.chat.whatsapp import GraphClient, WhatsApp
from sika.chat.wiring import chat_services
from sika.config import Settings
from sika.coordination.leases import DatabaseLeases, RedisLeases, leases_for
from sika.coordination.pacing import RedisPace
from sika.db import create_db_engine
from sika.ledger import Ledger
from sika.migration import upgrade
from sika.notices.gate import Notices
from sika.payments import Agents, Merchants, Movements, Outbox, Payments
from sika.payments.approvals import Approvals
from sika.payments.callbacks import Callbacks
from sika.payments.outbox import SECRET, enqueue
from sika.payments.payouts import PayoutService
from sika.payments.purchases import Purchases
from sika.payments.statement import Statements
from sika.payments.wiring import payments_over
from sika.promotions import Promotions
from sika.providers.wiring import CallbackRelay, build_providers, payouts
from sika.rides import payment_kinds as ride_kinds
from sika.rides.index import location_index
from sika.rides.service import Rides
from sika.wallet import Customers, PinHasher, PinKeys
from sika.wallet.pin_resets import PinResets

__all__ = ["Container", "bootstrap"]


@dataclass(slots=True)
class Container:
    settings: Settings
    engine: Engine
    ledger: Ledger
    customers: Customers
    api_keys: ApiKeys
    sessions: Sessions
    agents: Agents
    merchants: Merchants
    payments: Payments
    # The movement runner: the port the services that post movements are given (sika.payments.runner).
    movements: Movements
    outbox: Outbox
    approvals: Approvals
    callbacks: Callbacks
    purchases: Purchases
    payouts: PayoutService
    statements: Statements
    calendar: Calendar
    promotions: Promotions
    # Which process runs a job that must run in one place at a time (Redis, else the database).
    leases: DatabaseLeases | RedisLeases
    # The chat, wired after the container exists: its ports over the services above, the dialog
    # and the channels.
    chat: ChatServices | None = None
    dialog: Dialog | None = None
    whatsapp: WhatsApp | None = None
    rides: Rides | None = None
    sms: SmsChannel | None = None
    pin_resets: PinResets | None = None
    notices: Notices | None = None

    def close(self) -> None:
        self.purchases.providers.close()
        if self.payouts.provider is not None:
            self.payouts.provider.close()
        if self.sms is not None:
            self.sms.close()
        if self.rides is not None:
            self.rides.index.close()
        if self.whatsapp is not None and self.whatsapp.graph is not None:
            self.whatsapp.graph.close()
        if isinstance(self.leases, RedisLeases):
            self.leases.close()
        self.ledger.close()
        self.engine.dispose()


def bootstrap(settings: Settings, *, migrate: bool = True) -> Container:
    engine = create_db_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    if migrate:
        upgrade(engine)
    ledger = Ledger(engine, group_max=settings.ledger_group_max)
    customers = Customers(engine, ledger, hasher=PinHasher(keys=PinKeys.parse(settings.pin_pepper)),
                          pin_tries_max=settings.pin_tries_max,
                          pin_lock_s=settings.pin_lock_s, tiers=settings.tiers)
    api_keys = ApiKeys(engine)
    parts = payments_over(engine, ledger, customers, tiers=settings.tiers, fees=settings.fees,
                          voucher_ttl_s=settings.voucher_ttl_s, recovery_grace_s=settings.recovery_grace_s,
                          voucher_key=settings.voucher_key.encode())
    payments, movements = parts.payments, parts.movements
    agents = Agents(engine, ledger, api_keys)
    merchants = Merchants(engine, ledger, api_keys)
    relay = CallbackRelay()  # local fakes without a public URL call back through it
    purchases = Purchases(engine, movements, customers, build_providers(settings, relay), fees=settings.fees,
                          deadline_s=settings.provider_deadline_s)
    relay.target = purchases.callback
    calendar = Calendar(settings.cities, prayer=settings.prayer,
                        announcements=MemoryAnnouncements(settings.ramadan))
    # Registers its hook with the runner: rewards go into the chains of the movements that earn them.
    promotions = Promotions(engine, ledger, customers, movements, merchants=merchants, calendar=calendar,
                            code_key=settings.promo_code_key.encode())
    container = Container(
        settings=settings,
        engine=engine,
        ledger=ledger,
        customers=customers,
        api_keys=api_keys,
        sessions=Sessions(engine, customers, throttle=LoginThrottle(engine, exempt=[
            address.strip() for address in settings.login_throttle_exempt.split(",") if address.strip()])),
        agents=agents,
        merchants=merchants,
        payments=payments,
        movements=movements,
        outbox=Outbox(engine),
        approvals=Approvals(engine, customers, payments, agents, merchants, limits=movements.limits),
        callbacks=Callbacks(engine),
        purchases=purchases,
        payouts=PayoutService(movements, payouts(settings)),
        statements=Statements(engine, ledger, purchases.catalogue),
        calendar=calendar,
        promotions=promotions,
        leases=leases_for(settings.redis_url, engine),
    )
    # Rides post their fares and payouts through the runner, and register their kinds on it (billing).
    container.rides = Rides(engine, ledger, customers, movements, container.purchases, cities=settings.cities,
                            index=location_index(settings.redis_url), matcher=settings.rides_matcher,
                            calendar=calendar)
    ride_kinds.show_in(container.statements)
    container.pin_resets = PinResets(engine, customers, enqueue, code_key=settings.voucher_key.encode(),
                                     secret_param=SECRET, freeze_cash_out_s=settings.pin_reset_freeze_s)
    container.notices = Notices(engine, calendar, settings.notices)
    container.outbox.gate = container.notices  # every outbound message passes the policy
    _chat(container)
    return container


def _chat(container: Container) -> None:
    """The dialog for every channel; WhatsApp and SMS when configured; the outbox's routes."""
    settings = container.settings
    customers = container.customers
    assert container.rides is not None and container.notices is not None
    container.chat = chat_services(
        container.engine, customers=customers, accounts=container.ledger, payments=container.payments,
        purchases=container.purchases, approvals=container.approvals, statements=container.statements,
        rides=container.rides, promotions=container.promotions, notices=container.notices,
        outbox=container.outbox,
        voucher_ttl_s=settings.voucher_ttl_s)
    container.dialog = Dialog(container.chat)
    text = NotificationText(customers, container.statements)
    if settings.whatsapp_verify_token and settings.whatsapp_app_secret:
        container.whatsapp = _whatsapp(container, text)
    container.sms = sms_channel(settings, container.engine, text, outbox=container.outbox,
                                payments=container.payments)
    container.outbox.channel = outbox_router(container.engine, customers, whatsapp=container.whatsapp,
                                             sms=container.sms)


def _whatsapp(container: Container, text: NotificationText) -> WhatsApp:
    settings = container.settings
    graph = None
    if settings.whatsapp_token and settings.whatsapp_phone_number_id:
        graph = GraphClient(settings.whatsapp_api_url, settings.whatsapp_phone_number_id,
                            settings.whatsapp_token, rate_per_s=settings.whatsapp_rate_per_s)
        if settings.redis_url:
            # Meta caps the number, not the process: every process sending for it shares one pace.
            key = f"sika:whatsapp:pace:{settings.whatsapp_phone_number_id}"
            graph.pace = RedisPace(settings.redis_url, key, graph.pace.rate_per_s, graph.burst,
                                   local=graph.pace)
    customers = container.customers

    def template_language(msisdn: str) -> str:
        customer = customers.find(msisdn)
        return customer.language if customer is not None else "fr"

    assert container.dialog is not None
    return WhatsApp(
        container.engine, verify_token=settings.whatsapp_verify_token,
        app_secret=settings.whatsapp_app_secret, graph=graph, handler=container.dialog.handle,
        prefetch=container.dialog.prefetch,
        template_name=settings.whatsapp_template, template_language=template_language,
        notification_text=text, marketing_template=settings.whatsapp_marketing_template,
        on_marketing_limit=container.notices.store.pause_marketing if container.notices else None)

