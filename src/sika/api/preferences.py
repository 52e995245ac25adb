"""``/v1/wallets/{msisdn}/preferences``: a customer's quiet hours and marketing consent.

The customer (logged in) or an admin; another customer gets 404 as on every wallet route. Marketing
is opt-in: a wallet that never said yes gets none. A change of consent records when and how.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, caller, container_of, visible_customer
from sika.api.fields import Body, MsisdnPath
from sika.auth import Role
from sika.bootstrap import Container
from sika.notices import Preferences
from sika.notices.gate import Notices
from sika.notices.preferences import Quiet
from sika.rides.cities import UnknownCity

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["wallets"])


class PreferencesIn(Body):
    quiet: Quiet | None = Field(default=None,
                                description="off, night, prayer or ramadan (docs/notifications.md)")
    marketing: bool | None = Field(default=None, description="consent to marketing messages (opt-in)")
    city: str | None = Field(default=None, max_length=32, pattern=r"^[a-z_]+$",
                             description="the city whose prayer times apply (default: the number's country)")


class PreferencesOut(BaseModel):
    msisdn: str
    quiet: Quiet
    marketing: bool
    marketing_consent_at: str | None = Field(description="ISO-8601: when consent was last given or withdrawn")
    marketing_consent_via: str | None = Field(description="api, admin, chat, whatsapp, sms, stop")
    city: str = Field(description="the city whose prayer times the quiet hours follow")


def _notices(container: Container) -> Notices:
    assert container.notices is not None
    return container.notices


def _out(notices: Notices, preferences: Preferences) -> PreferencesOut:
    at = preferences.consent_at_ns
    return PreferencesOut(
        msisdn=preferences.msisdn, quiet=preferences.quiet, marketing=preferences.marketing,
        marketing_consent_at=datetime.fromtimestamp(at / 1e9, UTC).isoformat() if at is not None else None,
        marketing_consent_via=preferences.consent_via, city=notices.city_of(preferences))


@router.get("/wallets/{msisdn}/preferences", response_model=PreferencesOut,
            summary="A customer's quiet hours and marketing consent")
async def get_preferences(msisdn: MsisdnPath, who: Annotated[Caller, Depends(caller)],
                          container: Annotated[Container, Depends(container_of)]) -> PreferencesOut:
    def run() -> PreferencesOut:
        customer = visible_customer(container, who, msisdn, Role.ADMIN)
        notices = _notices(container)
        return _out(notices, notices.store.get(customer.msisdn))

    return await run_in_threadpool(run)


@router.put("/wallets/{msisdn}/preferences", response_model=PreferencesOut,
            responses={404: {"description": "unknown_wallet, or unknown_city (no such city configured)"}},
            summary="Set a customer's quiet hours and marketing consent")
async def put_preferences(msisdn: MsisdnPath, body: PreferencesIn, who: Annotated[Caller, Depends(caller)],
                          container: Annotated[Container, Depends(container_of)]) -> PreferencesOut:
    def run() -> PreferencesOut:
        customer = visible_customer(container, who, msisdn, Role.ADMIN)
        notices = _notices(container)
        if body.city is not None and body.city not in notices.calendar.places:
            raise UnknownCity(f"no city {body.city!r}: {', '.join(notices.calendar.places)}")
        via = "api" if who.customer_id is not None else "admin"
        changes = {"city": body.city} if body.city is not None else {}
        preferences = notices.store.change(customer.msisdn, quiet=body.quiet, marketing=body.marketing,
                                           via=via, **changes)
        return _out(notices, preferences)

    return await run_in_threadpool(run)
