"""The shapes of what clients send, declared once so that the OpenAPI document says exactly what the
server accepts: a request the schema allows is accepted (or refused for the state of things: 401,
403, 404, 409, 429), and a request the schema forbids is refused with 422 ``validation_error``.

Request bodies are strict (:class:`Body`): no string where a number is due (``"1000"``), no number
or boolean standing in for another type (``{"online": 0}``, ``{"lng": false}``), no unknown field.
"""

from __future__ import annotations

from typing import Annotated, Any

import phonenumbers
from fastapi import Path, Query
from phonenumbers import PhoneMetadata
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from sika.payments.limits import AMOUNT_MAX
from sika.phones import DEFAULT_REGION, XOF_REGIONS
from sika.wallet.pins import PIN_DIGITS, WEAK_PINS

__all__ = [
    "AMOUNT_MAX",
    "MSISDN_PATTERN",
    "WHOLE",
    "Amount",
    "Body",
    "IdPath",
    "Msisdn",
    "MsisdnPath",
    "MsisdnQuery",
    "Name",
    "NewPinDigits",
    "PinDigits",
    "RowIdPath",
    "msisdn_schema",
]



def _mobile_pattern() -> str:
    """Mobile numbers of the XOF zone in E.164, or a Togolese one without its country code (as
    :func:`sika.phones.normalize` reads a number typed so), from the same metadata the server checks
    numbers against: a number the pattern admits is one the server takes."""
    countries = []
    for region in sorted(XOF_REGIONS):
        national = _national_mobile(region)
        countries.append(f"{phonenumbers.country_code_for_region(region)}(?:{national})")
    home = _national_mobile(DEFAULT_REGION)
    return r"^(?:\+(?:" + "|".join(countries) + f")|{home})$"


def _national_mobile(region: str) -> str:
    metadata = PhoneMetadata.metadata_for_region(region)
    assert metadata is not None and metadata.mobile is not None, region
    national = metadata.mobile.national_number_pattern
    assert national is not None, region
    return national


MSISDN_PATTERN = _mobile_pattern()


def _whole(value: Any) -> Any:
    """JSON Schema's ``integer`` is any number without a fraction: ``1000.0`` is ``1000``. Strings and
    booleans stay what they are, and strict validation refuses them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# After an integer field's constraints (``Annotated[int, Field(...), WHOLE]``): placed before them,
# pydantic would no longer write the constraints into the JSON schema.
WHOLE = BeforeValidator(_whole)


class Body(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


Msisdn = Annotated[str, StringConstraints(pattern=MSISDN_PATTERN, max_length=16),
                   Field(description="a mobile number of the XOF zone in E.164 (a Togolese one may leave "
                                     "+228 out)", examples=["+22890112233"])]
PinDigits = Annotated[str, StringConstraints(pattern=rf"^[0-9]{{{PIN_DIGITS}}}$"),
                      Field(description="the wallet's 4-digit PIN", examples=["4827"])]
# A new PIN: four digits, not a run nor a repeated digit (the server refuses those as weak_pin).
NewPinDigits = Annotated[str, StringConstraints(pattern=rf"^[0-9]{{{PIN_DIGITS}}}$"),
                         Field(description="a new 4-digit PIN: not a run nor a repeated digit",
                               examples=["4827"], json_schema_extra={"not": {"enum": sorted(WEAK_PINS)}})]
Amount = Annotated[int, Field(gt=0, le=AMOUNT_MAX, description="XOF (no minor unit)", examples=[5000]), WHOLE]
# Letters or digits somewhere (Latin, Cyrillic, Arabic: the languages Sika speaks); the server
# collapses spaces and drops invisible characters.
NAME_PATTERN = r"^[\s\S]*[0-9A-Za-z\u00c0-\u024f\u0400-\u04ff\u0620-\u064a][\s\S]*$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, min_length=1, max_length=80),
                 Field(examples=["Ama Mensah"])]


def msisdn_schema() -> dict[str, Any]:
    """The JSON schema of a number in a path or query parameter."""
    return {"type": "string", "pattern": MSISDN_PATTERN, "maxLength": 16}


MsisdnPath = Annotated[str, Path(pattern=MSISDN_PATTERN, max_length=16,
                                 description="the wallet's number in E.164", examples=["+22890112233"])]
MsisdnQuery = Annotated[str, Query(pattern=MSISDN_PATTERN, max_length=16,
                                   description="a number in E.164", examples=["+22890112233"])]
# Ids the server made (movements, trips, approvals): short, visible ASCII.
IdPath = Annotated[str, Path(min_length=1, max_length=40)]
# Ids the database numbers (agents, drivers): a 64-bit row id.
RowIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
