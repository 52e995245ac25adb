"""The wallet: customers, KYC tiers and limits, PINs (money movement arrives with issue 3's rest)."""

from sika.wallet.customers import (
    LANGUAGES,
    Customer,
    Customers,
    InvalidPin,
    PinLocked,
    UnknownWallet,
    WalletExists,
)
from sika.wallet.pins import Pin, PinHasher, PinKeyMissing, PinKeys, WeakPin
from sika.wallet.tiers import DEFAULT_TIERS, TierLimits

__all__ = [
    "DEFAULT_TIERS",
    "LANGUAGES",
    "Customer",
    "Customers",
    "InvalidPin",
    "Pin",
    "PinHasher",
    "PinKeyMissing",
    "PinKeys",
    "PinLocked",
    "TierLimits",
    "UnknownWallet",
    "WalletExists",
    "WeakPin",
]
