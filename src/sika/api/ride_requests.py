"""The bodies riders and drivers send to ``/v1/rides``: strict, and as the server takes them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sika.api.fields import WHOLE, Body
from sika.rides.geo import Point

__all__ = ["Availability", "Cancel", "CardTrip", "CashOrWalletTrip", "Complete", "Documents", "Onboard",
           "Position", "QuoteRequest", "Rating", "TripRequest"]


class Position(Body):
    lat: float = Field(ge=-90, le=90, examples=[6.1319])
    lng: float = Field(ge=-180, le=180, examples=[1.2228])

    def point(self) -> Point:
        return Point(self.lat, self.lng)


class QuoteRequest(Body):
    city: str = Field(default="lome", max_length=32)
    vehicle: Literal["moto", "tricycle", "car"] = "moto"
    pickup: Position
    dropoff: Position


class CardTrip(QuoteRequest):
    payment: Literal["card"]
    card_token: str = Field(pattern=r"^tok_[A-Za-z0-9_-]{1,60}$", description="a saved card's token")


class CashOrWalletTrip(QuoteRequest):
    payment: Literal["cash", "wallet"] = "cash"

    @property
    def card_token(self) -> None:
        return None


# A card trip names its card; the others name none (the schema says so, not a 400 after the fact).
TripRequest = CardTrip | CashOrWalletTrip


class Cancel(Body):
    reason: str = Field(default="", max_length=140)


class Complete(Body):
    distance_m: Annotated[int, Field(ge=0, le=500_000), WHOLE] | None = Field(
        default=None, description="the odometer's distance")


class Rating(Body):
    stars: Annotated[int, Field(ge=1, le=5), WHOLE]


class Onboard(Body):
    city: str = Field(default="lome", max_length=32)
    vehicle: Literal["moto", "tricycle", "car"] = "moto"
    plate: str = Field(pattern=r"^ *[A-Za-z0-9-](?: *[A-Za-z0-9-]){2,15} *$", max_length=40,
                       examples=["TG-4821-AZ"], description="3 to 16 letters, digits and dashes")


class Availability(Body):
    online: bool


class Documents(Body):
    status: Literal["pending", "approved", "rejected"]
