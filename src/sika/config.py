"""Settings, read once from ``SIKA_*`` environment variables (see the README's table)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sika.calendar.announcements import RamadanAnnouncement
from sika.calendar.places import ALL_CITIES
from sika.calendar.prayers import PrayerMethod
from sika.notices.rules import NoticeRules
from sika.payments.fees import DEFAULT_FEES, FeeSchedule
from sika.rides.cities import DEFAULT_CITIES, City
from sika.wallet.pin_keys import PinKeys
from sika.wallet.tiers import DEFAULT_TIERS, TIER_MAX, TierLimits

__all__ = ["Settings", "inbox_threads", "settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIKA_", extra="ignore")

    # "production" refuses to start on a development default secret; anything else warns about each.
    env: Literal["development", "production"] = "development"
    # Where providers and gateways reach this server (their callback URLs are built from it).
    public_url: str | None = Field(default=None, max_length=500)
    database_url: str = "sqlite:///./sika.db"
    redis_url: str | None = None
    whatsapp_verify_token: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    # The approved template for messages outside the 24-hour window (one body variable, {{1}}).
    whatsapp_template: str = Field(default="sika_notification", min_length=1, max_length=512)
    # The approved MARKETING template promotions go out as ({{1}}: the campaign's text).
    whatsapp_marketing_template: str = Field(default="sika_offer", min_length=1, max_length=512,
                                             pattern=r"^[a-z0-9_]+$")
    # Meta's throughput tier: messages a second this process sends at most.
    whatsapp_rate_per_s: float = Field(default=80.0, gt=0, le=10_000)
    # Threads of each process handling the WhatsApp inbox; by default (None) by database. On SQLite
    # one: a second thread mostly waits for the GIL and the write lock. On PostgreSQL two: a message
    # waits for the server at each of its round trips, when the other thread computes (+9 % with
    # the realistic mix at the mean of four pairs, docs/benchmarks.md). More help when Meta is slow.
    whatsapp_inbox_threads: int | None = Field(default=None, ge=1, le=16)

    # Database connections held by one process; the group-commit writer uses one of them.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # How long a SQLite writer waits for the lock before giving up.
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0, le=600_000)
    # Largest group one commit carries when concurrent requests share it.
    ledger_group_max: int = Field(default=8_190, ge=1, le=65_536)
    # How often the background worker releases pending transfers whose timeout has passed.
    ledger_expiry_interval_s: float = Field(default=1.0, gt=0, le=3_600)

    # Wallet: KYC tier limits (JSON in SIKA_TIERS), PIN lockout.
    tiers: dict[int, TierLimits] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    pin_tries_max: int = Field(default=3, ge=1, le=10)
    pin_lock_s: int = Field(default=1_800, ge=0, le=7 * 24 * 3600)
    # After a PIN reset, cash-out and transfers out wait this long (a stolen reset cannot empty it).
    pin_reset_freeze_s: int = Field(default=24 * 3600, ge=0, le=30 * 24 * 3600)
    # PIN keys, "id:secret[,id:secret…]", the first current (sika.wallet.pin_keys): PINs are then
    # hashed with HMAC-SHA-256 under a key kept outside the database; unset, argon2id alone.
    pin_pepper: str | None = Field(default=None, max_length=2_000, repr=False)
    # Client addresses whose failed logins are not limited per address (comma-separated).
    login_throttle_exempt: str = Field(default="127.0.0.1,::1", max_length=2_000)

    # Payments: the fee schedule (JSON in SIKA_FEES), vouchers, background jobs.
    fees: FeeSchedule = DEFAULT_FEES
    voucher_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    # Key of the vouchers' code digests; set a secret one in production.
    voucher_key: str = Field(default="sika-voucher-codes", min_length=8, max_length=200)
    # A movement left half-done by a crash is finished after this long (longer than any request).
    recovery_grace_s: int = Field(default=600, ge=1, le=86_400)
    # How long a stored Idempotency-Key answer is replayed.
    idempotency_ttl_s: int = Field(default=7 * 24 * 3600, ge=3600, le=365 * 24 * 3600)
    jobs_interval_s: float = Field(default=1.0, gt=0, le=3_600)
    # Providers (airtime, bills, TV, cards, operator wallets); see docs/wallet.md and docs/deploy.md.
    # "live": each provider is on when its SIKA_<PROVIDER>_* settings are complete, and off (503
    # provider_not_configured) otherwise; "sandbox": local fakes of every provider (sika-fakes),
    # driven through the real adapters, with latency, failures and late callbacks (--demo);
    # "instant": the same fakes answering at once (tests); "off": no provider at all.
    providers: Literal["live", "sandbox", "instant", "off"] = "live"
    provider_deadline_s: int = Field(default=120, ge=5, le=86_400)
    # Each HTTP call to a provider: how long to wait for an answer, how many more tries.
    provider_timeout_s: float = Field(default=15.0, gt=0, le=120)
    provider_retries_max: int = Field(default=2, ge=0, le=5)

    # PayGate Global (Flooz and T-Money top-ups, payouts). Its callbacks are not signed: register
    # <public_url>/v1/providers/paygate/callback?token=<callback token> and list its addresses.
    paygate_url: str = Field(default="https://paygateglobal.com", max_length=500)
    paygate_auth_token: str | None = Field(default=None, max_length=200)
    paygate_callback_token: str | None = Field(default=None, min_length=16, max_length=200)
    paygate_allowed_ips: str = Field(default="", max_length=2_000)
    # Whether PayGate refuses a repeated payout reference (not public): then lost answers are retried.
    paygate_disburse_reference_idempotent: bool = False

    # CinetPay (card payments on its hosted page): notifications are signed with the secret key.
    cinetpay_url: str = Field(default="https://api-checkout.cinetpay.com", max_length=500)
    cinetpay_apikey: str | None = Field(default=None, max_length=200)
    cinetpay_site_id: str | None = Field(default=None, max_length=50)
    cinetpay_secret_key: str | None = Field(default=None, max_length=200)
    # Where the card page sends the customer back (default: the public URL).
    cinetpay_return_url: str | None = Field(default=None, max_length=500)

    # The biller aggregator (CEET, TdE, Canal+, data bundles): Sika's own protocol (docs/wallet.md).
    biller_url: str | None = Field(default=None, max_length=500)
    biller_api_key: str | None = Field(default=None, max_length=200)
    biller_secret: str | None = Field(default=None, min_length=16, max_length=200)

    # Africa's Talking (USSD gateway, SMS, airtime): one account for its APIs. Its callbacks are not
    # signed: they are accepted from the allowed addresses (comma-separated IPs or CIDRs; empty: any)
    # and, when a token is set, only with ``?token=<token>`` in the callback URL.
    africastalking_url: str = Field(default="https://api.africastalking.com", max_length=500)
    africastalking_username: str | None = Field(default=None, max_length=100)
    africastalking_api_key: str | None = Field(default=None, max_length=200)
    africastalking_callback_token: str | None = Field(default=None, min_length=16, max_length=200)
    africastalking_allowed_ips: str = Field(default="", max_length=2_000)
    sms_sender_id: str | None = Field(default=None, max_length=11)
    # Airtime through Africa's Talking: its own base URL when it differs (the local fakes), the
    # currency of the amounts, and the status lookup's path (empty: rely on callbacks).
    africastalking_airtime_url: str | None = Field(default=None, max_length=500)
    africastalking_currency: str = Field(default="XOF", min_length=3, max_length=3)
    africastalking_airtime_status_path: str = Field(default="/query/transaction/find", max_length=200)

    # Rides: the cities (JSON list of sika.rides.cities.City in SIKA_CITIES), how requests are matched.
    cities: list[City] = Field(default_factory=lambda: list(DEFAULT_CITIES))
    rides_matcher: Literal["greedy", "batch"] = "greedy"
    dispatch_interval_s: float = Field(default=1.0, gt=0, le=60)

    # Calendar: how each city's prayer times are computed (JSON in SIKA_PRAYER, keyed by city id or
    # "*": sika.calendar.PrayerMethod; default the Muslim World League's angles), and the Ramadan
    # starts (and ends) operators announced (JSON list in SIKA_RAMADAN: sika.calendar.RamadanAnnouncement).
    prayer: dict[str, PrayerMethod] = Field(default_factory=dict, max_length=100)
    ramadan: list[RamadanAnnouncement] = Field(default_factory=list, max_length=1_000)
    # Notifications (docs/notifications.md): quiet hours' windows, marketing caps and staleness (JSON in
    # SIKA_NOTICES: sika.notices.NoticeRules).
    notices: NoticeRules = Field(default_factory=NoticeRules)

    # Promotions: the key of promotion codes' digests (codes are stored only as HMACs under it; set a
    # secret one in production), and of the devices customers' apps name (sika.payments.devices).
    promo_code_key: str = Field(default="sika-promotion-codes", min_length=8, max_length=200)

    @field_validator("pin_pepper")
    @classmethod
    def _pin_keys(cls, pepper: str | None) -> str | None:
        PinKeys.parse(pepper)  # refused at start, not at the first PIN
        return pepper

    @field_validator("tiers")
    @classmethod
    def _every_tier(cls, tiers: dict[int, TierLimits]) -> dict[int, TierLimits]:
        if set(tiers) != set(range(TIER_MAX + 1)):
            raise ValueError(f"SIKA_TIERS must define tiers 0 to {TIER_MAX}")
        return tiers

    @model_validator(mode="after")
    def _calendar_cities(self) -> Settings:
        ids = {city.id for city in self.cities}
        unknown = sorted(set(self.prayer) - ids - {ALL_CITIES})
        unknown += sorted({a.city for a in self.ramadan if a.city is not None and a.city not in ids})
        if unknown:
            raise ValueError(f"SIKA_PRAYER or SIKA_RAMADAN names unknown cities: {', '.join(unknown)}")
        scopes = [(a.hijri_year, a.scope) for a in self.ramadan]
        if len(set(scopes)) != len(scopes):
            raise ValueError("SIKA_RAMADAN has two announcements for the same year and scope")
        return self


def inbox_threads(database_url: str, configured: int | None) -> int:
    """The threads of a process handling the WhatsApp inbox: as configured, else by database."""
    if configured is not None:
        return configured
    return 2 if database_url.startswith("postgresql") else 1


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
