"""Providers by name, and the catalogue an API or a chat menu lists products from."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from sika.providers.base import CatalogueEntry, Provider, ProviderRejected
from sika.providers.canal import CanalSandbox
from sika.providers.card import CardSandbox
from sika.providers.ceet import CeetSandbox
from sika.providers.operators import MoovSandbox, TogocomSandbox
from sika.providers.paygate import PayGateSandbox
from sika.providers.sandbox import SandboxBehaviour, SandboxProvider
from sika.providers.tde import TdeSandbox

__all__ = ["Providers", "sandbox_providers"]


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class _Catalogued(Protocol):
    def catalogue(self) -> list[CatalogueEntry]: ...


class Providers:
    def __init__(self, providers: Iterable[Provider]) -> None:
        self._by_name: dict[str, Provider] = {}
        for provider in providers:
            assert provider.name not in self._by_name, f"two providers named {provider.name!r}"
            self._by_name[provider.name] = provider

    def get(self, name: str) -> Provider:
        provider = self._by_name.get(name)
        if provider is None:
            raise ProviderRejected(f"no provider {name[:64]!r}", code="unknown_provider")
        return provider

    def names(self) -> list[str]:
        return list(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def catalogue(self) -> list[dict[str, Any]]:
        """One entry per provider and kind, JSON-ready: ``provider``, ``kind``, ``name``, ``reference``
        (what the customer types: msisdn, meter_number, ...) and ``products`` (``product`` code,
        ``name``, ``price`` or None when the customer chooses, ``amount_min``, ``amount_max``, and for
        bundles ``volume_mb`` and ``validity_days``)."""
        return [
            _entry_dict(entry)
            for provider in self._by_name.values()
            if isinstance(provider, _Catalogued)
            for entry in provider.catalogue()
        ]

    def wait_for_callbacks(self, timeout_s: float = 5.0) -> bool:
        """For tests: True once every sandbox has run its scheduled settlements and callbacks."""
        deadline_s = time.monotonic() + timeout_s
        return all(
            provider.wait_for_callbacks(max(0.0, deadline_s - time.monotonic()))
            for provider in self._by_name.values()
            if isinstance(provider, SandboxProvider)
        )

    def close(self) -> None:
        for provider in self._by_name.values():
            if isinstance(provider, _Closable):
                provider.close()

    def __enter__(self) -> Providers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def sandbox_providers(behaviour: SandboxBehaviour | None = None) -> Providers:
    """Every provider's sandbox, sharing one behaviour (the default misbehaves a little, at random)."""
    sandboxes: list[SandboxProvider] = [
        TogocomSandbox(behaviour),
        MoovSandbox(behaviour),
        CeetSandbox(behaviour),
        TdeSandbox(behaviour),
        CanalSandbox(behaviour),
        CardSandbox(behaviour),
        PayGateSandbox(behaviour),
    ]
    return Providers(sandboxes)


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
