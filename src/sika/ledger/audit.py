"""Audits the whole ledger: the invariants ``sika ledger check`` enforces.

Each check is one set-based query, so the audit scales with the database, not with Python:

* per currency, total debits equal total credits, posted and pending alike;
* every account's totals equal what its transfers add up to;
* no account is past the limit its flags set, and no total is negative;
* a transfer's accounts share its currency;
* every pending transfer is resolved at most once, never for more than it reserved, and its status
  agrees with the transfer that resolved it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

__all__ = ["Violation", "check"]

_PENDING = 2
_VOID = 8

_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "account_totals_disagree_with_transfers",
        "WITH moves AS ("
        f" SELECT debit_account_id AS account, amount AS dp, 0 AS cp FROM ledger_transfers"
        f"  WHERE (flags & {_PENDING | _VOID}) = 0"
        f" UNION ALL SELECT credit_account_id, 0, amount FROM ledger_transfers"
        f"  WHERE (flags & {_PENDING | _VOID}) = 0),"
        " reserved AS ("
        " SELECT debit_account_id AS account, amount AS dpe, 0 AS cpe FROM ledger_pending"
        "  WHERE status = 'pending'"
        " UNION ALL SELECT credit_account_id, 0, amount FROM ledger_pending WHERE status = 'pending'),"
        " posted AS (SELECT account, SUM(dp) AS dp, SUM(cp) AS cp FROM moves GROUP BY account),"
        " held AS (SELECT account, SUM(dpe) AS dpe, SUM(cpe) AS cpe FROM reserved GROUP BY account)"
        " SELECT a.id, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending"
        " FROM ledger_accounts a LEFT JOIN posted ON posted.account = a.id"
        " LEFT JOIN held ON held.account = a.id"
        " WHERE a.debits_posted <> COALESCE(posted.dp, 0) OR a.credits_posted <> COALESCE(posted.cp, 0)"
        " OR a.debits_pending <> COALESCE(held.dpe, 0) OR a.credits_pending <> COALESCE(held.cpe, 0)",
    ),
    (
        "account_past_its_limit",
        "SELECT id, flags, debits_posted, credits_posted, debits_pending, credits_pending"
        " FROM ledger_accounts WHERE debits_posted < 0 OR credits_posted < 0"
        " OR debits_pending < 0 OR credits_pending < 0"
        " OR ((flags & 1) <> 0 AND debits_posted + debits_pending > credits_posted)"
        " OR ((flags & 2) <> 0 AND credits_posted + credits_pending > debits_posted)",
    ),
    (
        "transfer_currency_mismatch",
        "SELECT t.id, t.currency, d.currency, c.currency FROM ledger_transfers t"
        " JOIN ledger_accounts d ON d.id = t.debit_account_id"
        " JOIN ledger_accounts c ON c.id = t.credit_account_id"
        " WHERE t.currency <> d.currency OR t.currency <> c.currency",
    ),
    (
        "pending_without_transfer",
        "SELECT p.transfer_id FROM ledger_pending p"
        " LEFT JOIN ledger_transfers t ON t.id = p.transfer_id"
        f" WHERE t.id IS NULL OR (t.flags & {_PENDING}) = 0 OR t.amount <> p.amount"
        " OR t.debit_account_id <> p.debit_account_id OR t.credit_account_id <> p.credit_account_id",
    ),
    (
        "pending_transfer_not_tracked",
        "SELECT t.id FROM ledger_transfers t LEFT JOIN ledger_pending p ON p.transfer_id = t.id"
        f" WHERE (t.flags & {_PENDING}) <> 0 AND p.transfer_id IS NULL",
    ),
    (
        "resolution_disagrees_with_pending",
        "SELECT r.id, r.pending_id, p.status, r.amount, p.amount FROM ledger_transfers r"
        " LEFT JOIN ledger_pending p ON p.transfer_id = r.pending_id WHERE r.pending_id IS NOT NULL"
        " AND (p.transfer_id IS NULL OR r.amount > p.amount"
        "  OR ((r.flags & 4) <> 0 AND p.status <> 'posted')"
        "  OR ((r.flags & 8) <> 0 AND (p.status <> 'voided' OR r.amount <> p.amount))"
        "  OR r.debit_account_id <> p.debit_account_id OR r.credit_account_id <> p.credit_account_id)",
    ),
    (
        "resolved_pending_without_resolution",
        "SELECT p.transfer_id, p.status FROM ledger_pending p"
        " LEFT JOIN ledger_transfers r ON r.pending_id = p.transfer_id"
        " WHERE p.status IN ('posted', 'voided') AND r.id IS NULL",
    ),
)

_ROWS_SHOWN_MAX = 20


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    detail: str


# Per currency, each total summed in two halves: a currency's total may pass 64 bits (SQLite's SUM
# raises then) even though no account's does. Python adds the halves back exactly.
_HALF = 2**32
_CURRENCY_TOTALS = "SELECT currency, " + ", ".join(
    f"SUM({column} / {_HALF}), SUM({column} % {_HALF})"
    for column in ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
) + " FROM ledger_accounts GROUP BY currency"


def _unbalanced_currencies(connection: Connection) -> list[Violation]:
    violations = []
    for currency, *halves in connection.execute(text(_CURRENCY_TOTALS)):
        dp, cp, dpe, cpe = (int(halves[i]) * _HALF + int(halves[i + 1]) for i in range(0, 8, 2))
        if dp != cp or dpe != cpe:
            violations.append(Violation("unbalanced_currency", repr((currency, dp - cp, dpe - cpe))))
    return violations


def check(engine: Engine) -> list[Violation]:
    """Run every check in one read transaction; return the violations found (empty: all good)."""
    violations: list[Violation] = []
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # One snapshot for every query, so a busy ledger audits consistently.
            connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        violations += _unbalanced_currencies(connection)
        for name, query in _CHECKS:
            rows = connection.execute(text(query)).fetchmany(_ROWS_SHOWN_MAX)
            violations.extend(Violation(name, repr(tuple(row))) for row in rows)
    return violations


def check_names() -> list[str]:
    return ["unbalanced_currency", *(name for name, _ in _CHECKS)]
