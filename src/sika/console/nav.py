"""The console's navigation: each page registers its entry here, so that a new area adds itself with
one :func:`register` call and no template changes."""

from __future__ import annotations

from dataclasses import dataclass

from sika.console.i18n import N_

__all__ = ["NavEntry", "entries", "register"]


@dataclass(frozen=True, slots=True)
class NavEntry:
    key: str
    path: str
    label: str  # a msgid, translated when the menu is drawn
    order: int


_ENTRIES: dict[str, NavEntry] = {}


def register(entry: NavEntry) -> None:
    assert entry.key not in _ENTRIES, f"navigation entry {entry.key} registered twice"
    assert entry.path.startswith("/console")
    _ENTRIES[entry.key] = entry


def entries() -> list[NavEntry]:
    return sorted(_ENTRIES.values(), key=lambda e: (e.order, e.key))


for _key, _path, _label, _order in (
    ("dashboard", "/console", N_("Dashboard"), 10),
    ("wallets", "/console/wallets", N_("Wallets"), 20),
    ("approvals", "/console/approvals", N_("Approvals"), 30),
    ("reconcile", "/console/reconcile", N_("Reconciliation"), 40),
    ("agents", "/console/agents", N_("Agents"), 50),
    ("merchants", "/console/merchants", N_("Merchants"), 60),
    ("orders", "/console/orders", N_("Provider orders"), 70),
    ("campaigns", "/console/campaigns", N_("Campaigns"), 75),
    ("rides", "/console/rides", N_("Rides"), 80),
    ("notifications", "/console/notifications", N_("Notifications"), 90),
    ("audit", "/console/audit", N_("Audit log"), 100),
):
    register(NavEntry(_key, _path, _label, _order))
