"""What the fake biller aggregator sells, and how each biller checks, prices and fulfils an order.

Plausible data, stable from run to run: CEET Cash Power meters (11 digits, the last a Luhn check
digit) and their 20-digit tokens, TdE water bills (8-digit subscribers; the bill of last month,
2,500 to 32,450 XOF drawn from the reference; references starting with ``0`` do not exist, those
ending in ``00`` owe nothing), Canal+ packages (1 to 12 months), Togocom and Moov data bundles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["BILLERS", "Refusal", "catalogue", "fulfil", "quote"]

_GB = 1_024
_DUE_MIN, _DUE_STEP, _DUE_STEPS = 2_500, 50, 600
_TARIFF_XOF_PER_KWH = 112
_MONTHS_MAX = 12
_NAMES = ("Kossi Agbeko", "Ama Mensah", "Komlan Adjavon", "Afi Lawson", "Yao Amouzou", "Akossiwa Dogbe",
          "Kodjo Tchalla", "Essi Kpodar", "Edem Ahadji", "Abla Gbeassor", "Koffi Sossou", "Adjoa Attiogbe")


class Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class _Bundle:
    code: str
    name: str
    volume_mb: int
    validity_days: int
    price: int


_BUNDLES = {
    "togocom": (_Bundle("J100MO", "Pass Jour 100 Mo", 100, 1, 100),
                _Bundle("J1GO", "Pass Jour 1 Go", _GB, 1, 500),
                _Bundle("S2GO", "Pass Semaine 2 Go", 2 * _GB, 7, 1_000),
                _Bundle("S5GO", "Pass Semaine 5 Go", 5 * _GB, 7, 2_000),
                _Bundle("M10GO", "Pass Mois 10 Go", 10 * _GB, 30, 5_000),
                _Bundle("M25GO", "Pass Mois 25 Go", 25 * _GB, 30, 10_000),
                _Bundle("M60GO", "Pass Mois 60 Go", 60 * _GB, 30, 20_000)),
    "moov": (_Bundle("DAY250", "Internet Jour 250 Mo", 250, 1, 200),
             _Bundle("DAY1500", "Internet Jour 1,5 Go", 1_536, 1, 500),
             _Bundle("WEEK3G", "Internet Semaine 3 Go", 3 * _GB, 7, 1_000),
             _Bundle("WEEK6G", "Internet Semaine 6 Go", 6 * _GB, 7, 2_000),
             _Bundle("MONTH12G", "Internet Mois 12 Go", 12 * _GB, 30, 5_000),
             _Bundle("MONTH30G", "Internet Mois 30 Go", 30 * _GB, 30, 10_000),
             _Bundle("MONTH75G", "Internet Mois 75 Go", 75 * _GB, 30, 20_000)),
}
# Monthly prices in XOF, as Canal+ sells them in Togo.
_PACKAGES = {"ACCESS": ("Canal+ Access", 5_000), "EVASION": ("Canal+ Evasion", 10_000),
             "ACCESS_PLUS": ("Canal+ Access+", 15_000), "EVASION_PLUS": ("Canal+ Evasion+", 20_000),
             "TOUT_CANAL": ("Tout Canal+", 40_000)}
BILLERS = ("ceet", "tde", "canal", "togocom", "moov")


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:16], "big")


def _name(reference: str) -> str:
    return _NAMES[_digest("customer", reference) % len(_NAMES)]


def last_month() -> str:
    today = datetime.now(UTC).date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def catalogue() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {"biller": "ceet", "kind": "electricity", "name": "CEET Cash Power", "reference": "meter_number",
         "products": [{"product": "electricity", "name": "Cash Power", "price": None, "amount_min": 500,
                       "amount_max": 500_000}]},
        {"biller": "tde", "kind": "water", "name": "TdE", "reference": "subscriber_reference",
         "products": [{"product": "water", "name": "Water bill", "price": None, "amount_min": _DUE_MIN,
                       "amount_max": _DUE_MIN + (_DUE_STEPS - 1) * _DUE_STEP}]},
        {"biller": "canal", "kind": "tv", "name": "Canal+", "reference": "card_number",
         "products": [{"product": f"tv:{code}", "name": name, "price": price, "amount_min": price,
                       "amount_max": price * _MONTHS_MAX, "validity_days": 30}
                      for code, (name, price) in _PACKAGES.items()]},
    ]
    for biller, name in (("togocom", "Togocom"), ("moov", "Moov Africa")):
        entries.append({"biller": biller, "kind": "data", "name": name, "reference": "msisdn", "products": [
            {"product": f"data:{b.code}", "name": b.name, "price": b.price, "amount_min": b.price,
             "amount_max": b.price, "volume_mb": b.volume_mb, "validity_days": b.validity_days}
            for b in _BUNDLES[biller]]})
    return entries


def quote(biller: str, product: str, reference: str, amount: int | None,
          paid: set[tuple[str, str]]) -> tuple[int, str, dict[str, str]]:
    """(amount, description, details) or :class:`Refusal`; ``paid`` holds the TdE bills paid here."""
    if biller == "ceet":
        return _ceet(product, reference, amount)
    if biller == "tde":
        return _tde(product, reference, amount, paid)
    if biller == "canal":
        return _canal(product, reference, amount)
    if biller in _BUNDLES:
        return _bundle(biller, product, reference, amount)
    raise Refusal("unknown_provider", f"no biller {biller[:20]!r}")


def fulfil(biller: str, order_id: str, product: str, reference: str, *, amount: int,
           details: dict[str, str]) -> dict[str, str]:
    """The receipt of a payment that went through."""
    if biller == "ceet":
        digits = str(_digest("token", order_id, reference) % 10**20).zfill(20)
        token = "-".join(digits[i:i + 4] for i in range(0, 20, 4))
        return {"token": token, "units_kwh": details["units_kwh"], "meter": reference}
    if biller == "tde":
        return {"subscriber": reference, "period": details["period"], "amount": str(amount)}
    if biller == "canal":
        return {"card_number": reference, "package": details["package"], "months": details["months"]}
    return {"msisdn": reference, "bundle": details["bundle"], "volume_mb": details["volume_mb"],
            "validity_days": details["validity_days"]}


def _amount(amount: int | None, least: int, most: int) -> int:
    if amount is None:
        raise Refusal("amount_required", "this product needs an amount")
    if amount < least:
        raise Refusal("amount_below_minimum", f"the least is {least} XOF")
    if amount > most:
        raise Refusal("amount_above_maximum", f"the most is {most} XOF")
    return amount


def _luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _ceet(product: str, reference: str, amount: int | None) -> tuple[int, str, dict[str, str]]:
    if product != "electricity":
        raise Refusal("unknown_product", "CEET sells electricity only")
    if len(reference) != 11 or not reference.isdigit() or not _luhn_valid(reference):
        raise Refusal("invalid_reference", "a Cash Power meter number is 11 digits; check it")
    paid = _amount(amount, 500, 500_000)
    tenths = paid * 10 // _TARIFF_XOF_PER_KWH  # integers: money never goes through a float
    units = f"{tenths // 10}.{tenths % 10}"
    return paid, f"CEET Cash Power meter {reference}: {units} kWh", {
        "meter": reference, "customer_name": _name(reference), "units_kwh": units,
        "tariff_xof_per_kwh": str(_TARIFF_XOF_PER_KWH)}


def _tde(product: str, reference: str, amount: int | None,
         paid: set[tuple[str, str]]) -> tuple[int, str, dict[str, str]]:
    if product != "water":
        raise Refusal("unknown_product", "TdE sells water only")
    if len(reference) != 8 or not reference.isdigit():
        raise Refusal("invalid_reference", "a TdE subscriber reference is 8 digits")
    if reference.startswith("0"):
        raise Refusal("invalid_reference", f"TdE has no subscriber {reference}")
    period = last_month()
    if reference.endswith("00") or (reference, period) in paid:
        raise Refusal("nothing_due", f"subscriber {reference} owes nothing")
    due = _DUE_MIN + _digest("bill", reference) % _DUE_STEPS * _DUE_STEP
    if amount is not None and amount != due:
        raise Refusal("amount_mismatch", f"the bill is {due} XOF, to be paid in full")
    return due, f"TdE subscriber {reference}: bill {period}", {
        "subscriber": reference, "customer_name": _name(reference), "period": period}


def _canal(product: str, reference: str, amount: int | None) -> tuple[int, str, dict[str, str]]:
    kind, _, code = product.partition(":")
    if kind != "tv" or code not in _PACKAGES:
        raise Refusal("unknown_product", f"Canal+ has no package {product[:40]!r}")
    if len(reference) != 14 or not reference.isdigit():
        raise Refusal("invalid_reference", "a Canal+ card number is 14 digits")
    name, price = _PACKAGES[code]
    months, rest = (1, 0) if amount is None else divmod(amount, price)
    if rest or not 1 <= months <= _MONTHS_MAX:
        raise Refusal("amount_mismatch", f"{name} is {price} XOF a month, for 1 to {_MONTHS_MAX} months")
    unit = "month" if months == 1 else "months"
    return price * months, f"{name}, {months} {unit}", {
        "card_number": reference, "customer_name": _name(reference), "package": code, "months": str(months)}


def _bundle(biller: str, product: str, reference: str, amount: int | None) -> tuple[int, str, dict[str, str]]:
    kind, _, code = product.partition(":")
    bundle = next((b for b in _BUNDLES[biller] if b.code == code), None) if kind == "data" else None
    if bundle is None:
        raise Refusal("unknown_product", f"{biller} has no bundle {product[:40]!r}")
    if not (reference.startswith("+228") and len(reference) == 12 and reference[1:].isdigit()):
        raise Refusal("invalid_reference", "a Togolese mobile number in E.164, like +22890112233")
    if amount is not None and amount != bundle.price:
        raise Refusal("amount_mismatch", f"{bundle.name} costs {bundle.price} XOF")
    return bundle.price, f"{bundle.name} for {reference}", {
        "msisdn": reference, "bundle": bundle.code, "volume_mb": str(bundle.volume_mb),
        "validity_days": str(bundle.validity_days)}
