"""Providers by brand: which adapter serves each product, which are not configured, the catalogue.

A brand's product without a live adapter is not an error in the catalogue (it is left out) but an
order for it is refused with :class:`ProviderNotConfigured` (HTTP 503 ``provider_not_configured``)
before anything is held: a plain server mints no money.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from sika.providers.base import (
    Balance,
    CatalogueEntry,
    Gateway,
    Order,
    Outcome,
    ProductKind,
    Provider,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderUnavailable,
    Quote,
    WithBalance,
)
from sika.providers.brands import BRANDS, Brand, service_of

_T = TypeVar("_T")

__all__ = ["BrandRoute", "Providers", "Route"]

log = logging.getLogger(__name__)


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class _Idle(Protocol):
    def wait_idle(self, timeout_s: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Route:
    """``brand``'s products under ``prefix`` go to ``adapter``."""

    brand: str
    prefix: str
    adapter: Provider


class BrandRoute:
    """One brand as callers see it (``providers.get("card").quote(...)``): each call goes to the
    adapter serving the product, or raises :class:`ProviderNotConfigured`."""

    def __init__(self, providers: Providers, brand: Brand) -> None:
        self._providers = providers
        self.name = brand.name
        self.brand = brand

    def quote(self, product: str, reference: str, amount: int | None) -> Quote:
        return self._providers.adapter(self.name, product).quote(product, reference, amount)

    def submit(self, order: Order) -> Outcome:
        return self._providers.adapter(self.name, order.product).submit(order)

    def status(self, order_id: str, *, product: str, provider_reference: str | None = None) -> Outcome:
        return self._providers.adapter(self.name, product).status(
            order_id, product=product, provider_reference=provider_reference)


# How long a catalogue made from the adapters' is reused (it was made anew for every menu and page).
CATALOGUE_TTL_S = 5.0


class Providers:
    def __init__(self, routes: Iterable[Route] = (), *, gateways: Iterable[Gateway] = (),
                 missing: Mapping[str, str] | None = None, owned: Iterable[object] = ()) -> None:
        """``missing``: adapter family -> why it is not live (the settings it lacks). ``owned``:
        what :meth:`close` closes (HTTP clients, local fakes) and :meth:`wait_for_callbacks` waits on."""
        self._routes: dict[tuple[str, str], Provider] = {}
        for route in routes:
            key = (route.brand, route.prefix)
            assert route.brand in BRANDS and key not in self._routes, key
            assert any(s.prefix == route.prefix for s in BRANDS[route.brand].services), key
            self._routes[key] = route.adapter
        self._gateways = {gateway.name: gateway for gateway in gateways}
        self.missing = dict(missing or {})
        self._owned = list(owned)
        # (when it was made, the catalogue): every menu and every statement page reads it.
        self._catalogue: tuple[float, list[dict[str, Any]]] | None = None

    # Routing ---------------------------------------------------------------------------------------

    def get(self, brand: str) -> BrandRoute:
        """The brand, live or not (unknown brands raise ``unknown_provider``)."""
        found = BRANDS.get(brand)
        if found is None:
            raise ProviderRejected(f"no provider {brand[:64]!r}", code="unknown_provider")
        return BrandRoute(self, found)

    def adapter(self, brand: str, product: str) -> Provider:
        """The adapter that sells ``product`` for ``brand``, or :class:`ProviderNotConfigured`."""
        found, service = service_of(brand, product)
        adapter = self._routes.get((found.name, service.prefix))
        if adapter is None:
            why = self.missing.get(service.adapter, "not configured")
            raise ProviderNotConfigured(
                f"{found.display_name} {service.label}: not available, its provider is not configured "
                f"({why})")
        return adapter

    def require(self, brand: str, product: str) -> None:
        self.adapter(brand, product)

    def gateway(self, name: str) -> Gateway | None:
        return self._gateways.get(name)

    def live(self) -> list[Route]:
        return [Route(brand, prefix, adapter) for (brand, prefix), adapter in self._routes.items()]

    def __contains__(self, brand: object) -> bool:
        return any(key[0] == brand for key in self._routes)

    def __iter__(self) -> Iterator[Provider]:
        seen: dict[int, Provider] = {}
        for adapter in self._routes.values():
            seen.setdefault(id(adapter), adapter)
        return iter(seen.values())

    def __len__(self) -> int:
        return len(self._routes)

    # What is sold ----------------------------------------------------------------------------------

    def catalogue(self) -> list[dict[str, Any]]:
        """One entry per live brand and kind, JSON-ready: ``provider``, ``kind``, ``name``,
        ``reference`` (what the customer types), ``products`` (``product`` code, ``name``, ``price``
        or None when the customer chooses, ``amount_min``, ``amount_max``, and for bundles
        ``volume_mb`` and ``validity_days``).

        Made again at most every ``CATALOGUE_TTL_S`` (the adapters' catalogues are settings, or cached
        for minutes by the adapter); the same list until then, not to be changed by the caller."""
        made = self._catalogue
        now_s = time.monotonic()
        if made is not None and now_s - made[0] < CATALOGUE_TTL_S:
            return made[1]
        entries = self._make_catalogue()
        self._catalogue = (now_s, entries)
        return entries

    def _make_catalogue(self) -> list[dict[str, Any]]:
        kinds: dict[tuple[str, int], set[ProductKind]] = {}
        adapters: dict[tuple[str, int], Provider] = {}
        for (brand, prefix), adapter in self._routes.items():
            key = (brand, id(adapter))
            adapters[key] = adapter
            kind = next(s.kind for s in BRANDS[brand].services if s.prefix == prefix)
            kinds.setdefault(key, set()).add(kind)
        entries: list[dict[str, Any]] = []
        for (brand, _), adapter in adapters.items():
            entries.extend(_entry_dict(entry) for entry in _safe_catalogue(adapter, brand)
                           if entry.kind in kinds[brand, id(adapter)])
        return entries

    def balances(self) -> tuple[list[Balance], list[str]]:
        """What each live provider that reports one holds for us, and which could not be asked."""
        found: list[Balance] = []
        failed: list[str] = []
        asked: set[int] = set()
        for adapter in [*self, *self._gateways.values()]:
            if id(adapter) in asked or not isinstance(adapter, WithBalance):
                continue
            asked.add(id(adapter))
            try:
                found.extend(adapter.balances())
            except ProviderUnavailable as exc:
                failed.append(f"{adapter.name}: {exc.message}")
        return found, failed

    # Lifecycle -------------------------------------------------------------------------------------

    def find_owned(self, kind: type[_T]) -> _T | None:
        """What this registry owns of type ``kind`` (local fakes, for tests and demos)."""
        return next((owned for owned in self._owned if isinstance(owned, kind)), None)

    def wait_for_callbacks(self, timeout_s: float = 5.0) -> bool:
        """For tests and demos with local fakes: True once they have sent every callback due."""
        deadline_s = time.monotonic() + timeout_s
        return all(owned.wait_idle(max(0.0, deadline_s - time.monotonic()))
                   for owned in self._owned if isinstance(owned, _Idle))

    def close(self) -> None:
        for owned in self._owned:
            if isinstance(owned, _Closable):
                owned.close()

    def __enter__(self) -> Providers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _safe_catalogue(adapter: Provider, brand: str) -> list[CatalogueEntry]:
    try:
        return adapter.catalogue(brand)
    except ProviderUnavailable as exc:  # a catalogue that cannot be read lists nothing for now
        log.warning("catalogue of %s unavailable: %s", brand, exc)
        return []


def _entry_dict(entry: CatalogueEntry) -> dict[str, Any]:
    products = [
        {key: value for key, value in (
            ("product", p.product), ("name", p.name), ("price", p.price), ("amount_min", p.amount_min),
            ("amount_max", p.amount_max), ("volume_mb", p.volume_mb), ("validity_days", p.validity_days),
        ) if value is not None or key == "price"}
        for p in entry.products
    ]
    return {"provider": entry.provider, "kind": str(entry.kind), "name": entry.name,
            "reference": entry.reference, "products": products}
