"""Every error code Sika emits is registered in ``sika.error_codes``; docs/errors.md is generated from
the registry; HTTP statuses are the API edge's (docs/wallet.md, "Errors"), never the domain's."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import sika
from sika.api.statuses import errors_markdown, status_for, status_of
from sika.error_codes import Category, Code
from sika.errors import SikaError
from sika.providers.base import ProviderRejected

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "sika"
_CODE_ARGUMENTS = frozenset({"code", "error_code"})
_PROBLEM_CALLS = frozenset({"problem", "problem_body"})
# A gettext call's ``code=`` is a placeholder of a sentence (a voucher's code), not an error code.
_TRANSLATIONS = frozenset({"t", "gettext", "ngettext"})


def _literals(node: ast.expr) -> list[str]:
    """The strings an expression can evaluate to, where it names them: ``"a"``, ``x or "a"``,
    ``"a" if c else "b"``, ``("a", "b")`` (a call's arguments, a subscript's key are not codes)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [text for value in node.values for text in _literals(value)]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [text for element in node.elts for text in _literals(element)]
    return []


def _callee(call: ast.Call) -> str:
    function = call.func
    return function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")


def _codes_in(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if _callee(node) not in _TRANSLATIONS:
                for keyword in node.keywords:
                    if keyword.arg in _CODE_ARGUMENTS:
                        yield from ((node.lineno, text) for text in _literals(keyword.value))
            if _callee(node) in _PROBLEM_CALLS and len(node.args) >= 2:  # problem(status, "code", ...)
                yield from ((node.lineno, text) for text in _literals(node.args[1]))
            if _callee(node) in ("from_code", "problem_for") and node.args:  # from_code("code")
                yield from ((node.lineno, text) for text in _literals(node.args[0]))
        elif isinstance(node, ast.ClassDef):  # class X(SikaError): code = "..."
            for statement in node.body:
                target = (statement.targets[0] if isinstance(statement, ast.Assign) else
                          statement.target if isinstance(statement, ast.AnnAssign) else None)
                value = getattr(statement, "value", None)
                if isinstance(target, ast.Name) and target.id == "code" and value is not None:
                    yield from ((statement.lineno, text) for text in _literals(value))
        elif isinstance(node, ast.Compare):  # exc.code == "...", outcome.error_code in (...)
            if isinstance(node.left, ast.Attribute) and node.left.attr in _CODE_ARGUMENTS:
                for comparator in node.comparators:
                    yield from ((node.lineno, text) for text in _literals(comparator))
        elif isinstance(node, ast.FunctionDef) and node.name == "refusal":
            # A ledger result as the movement's error_code: ``return "insufficient_funds", reason``.
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and isinstance(inner.value, ast.Tuple):
                    yield from ((inner.lineno, text) for text in _literals(inner.value.elts[0]))


def _emitted() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for line, code in _codes_in(ast.parse(path.read_text(encoding="utf-8"))):
            found.setdefault(code, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def test_every_code_literal_in_src_sika_is_registered() -> None:
    emitted = _emitted()
    assert {"insufficient_funds", "unknown_wallet", "unknown_order", "too_many_updates",
            "declined"} <= emitted.keys()  # the walk sees every kind of place a code is written
    unregistered = {code: places for code, places in emitted.items() if code not in set(Code)}
    assert not unregistered, f"add these to sika.error_codes.Code: {unregistered}"


def test_the_walk_finds_a_code_in_each_kind_of_place() -> None:
    source = '''
class Refused(SikaError):
    code = "class_code"
def f(exc, outcome):
    raise SikaError("no", code="keyword_code" if exc else "other_code")
    problem(409, "problem_code", "detail")
    Movement(error_code=exc.error_code or "fallback_code")
    if exc.code == "compared_code" or outcome.error_code in ("member_code",):
        ctx.t("Your code is {code}", code="not_a_code")
def refusal(result):
    return "refusal_code", "reason"
'''
    found = {code for _, code in _codes_in(ast.parse(source))}
    assert found == {"class_code", "keyword_code", "other_code", "problem_code", "fallback_code",
                     "compared_code", "member_code", "refusal_code"}


def test_every_code_has_a_category_a_meaning_and_fits_a_movement_error_code_column() -> None:
    for code in Code:
        assert re.fullmatch(r"[a-z][a-z0-9_]{1,39}", code.value), code  # error_code is String(40)
        assert isinstance(code.category, Category) and code.meaning.strip(), code
    assert Code.INSUFFICIENT_FUNDS == "insufficient_funds"  # a StrEnum: literals written as strings match


def test_docs_errors_md_is_generated_from_the_registry() -> None:
    written = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert written == errors_markdown(), "run: .venv/bin/python -m sika.api.statuses > docs/errors.md"
    assert "| `pin_locked` | too many wrong PINs: the wallet is locked for a while | too_many | 429 |" \
        in written


@pytest.mark.parametrize(("code", "status"), [
    # docs/wallet.md, "Errors": the rule every answer follows.
    ("validation_error", 422), ("weak_pin", 400), ("idempotency_key_required", 400),
    ("unauthorized", 401), ("invalid_pin", 401), ("invalid_reset_code", 401), ("forbidden", 403),
    ("limit_exceeded", 403), ("cash_out_frozen", 403), ("unknown_wallet", 404), ("unknown_transfer", 404),
    ("unknown_trip", 404), ("invalid_reference", 404), ("invalid_cursor", 404), ("insufficient_funds", 409),
    ("float_insufficient", 409), ("merchant_insufficient", 409), ("same_wallet", 409),
    ("amount_below_minimum", 409), ("outside_service_area", 409), ("idempotency_conflict", 409),
    ("idempotency_in_progress", 409), ("pin_locked", 429), ("too_many_attempts", 429),
    ("too_many_updates", 429), ("database_unavailable", 503), ("provider_not_configured", 503),
    ("provider_failed", 502), ("bill_already_paid", 409), ("forged_callback", 401),
    ("provider_timeout", 504), ("method_not_allowed", 405), ("internal_error", 500),
])
def test_the_api_edge_gives_each_code_the_status_docs_wallet_md_states(code: str, status: int) -> None:
    assert status_for(code) == status


def test_a_providers_own_refusal_code_takes_the_status_of_its_class() -> None:
    # A biller's code the registry does not list is passed through; the answer is still 422.
    assert status_of(ProviderRejected("the biller refused", code="subscriber_suspended")) == 422
    assert status_of(ProviderRejected("no such meter", code="invalid_reference")) == 404


def _classes() -> Iterator[type[BaseException]]:
    for module in pkgutil.walk_packages(sika.__path__, "sika."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("sika."):
            yield cls


def test_every_exception_sika_defines_is_a_sika_error_with_a_registered_code_and_no_http_status() -> None:
    outside, unregistered, with_status = [], [], []
    for cls in _classes():
        if not issubclass(cls, SikaError):
            outside.append(f"{cls.__module__}.{cls.__name__}")
        elif cls.code not in set(Code):
            unregistered.append(f"{cls.__module__}.{cls.__name__}")
        if "status" in vars(cls):
            with_status.append(f"{cls.__module__}.{cls.__name__}")
    # ProcessCrash simulates a kill -9: a BaseException on purpose, so no ``except Exception`` runs.
    assert outside == ["sika.payments.crashpoints.ProcessCrash"]
    assert (unregistered, with_status) == ([], [])
    assert not hasattr(SikaError("x"), "status")
