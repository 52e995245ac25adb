"""Sika: mobile money over chat, moto-taxi on demand and promotions, on a double-entry ledger."""

__version__ = "0.1.0"
