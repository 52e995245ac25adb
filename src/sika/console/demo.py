"""Demo operators for ``sika serve --demo``: one who proposes, one who approves, so that a person can
try maker-checker from the console alone. Each start gives them fresh passwords (printed by serve)."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine

from sika.console.operators import Operators, Role
from sika.errors import SikaError

__all__ = ["DEMO_OPERATORS", "seed_operators"]

DEMO_OPERATORS = (("demo-operator", Role.OPERATOR), ("demo-approver", Role.APPROVER))


def seed_operators(engine: Engine) -> dict[str, str]:
    """Create the demo operators (or give them new passwords); returns name -> password."""
    operators = Operators(engine)
    passwords = {}
    for name, role in DEMO_OPERATORS:
        password = secrets.token_urlsafe(12)
        try:
            operators.create(name, role, password)
        except SikaError as exc:
            if exc.code != "operator_exists":
                raise
            operators.set_password(name, password)
        passwords[name] = password
    return passwords
