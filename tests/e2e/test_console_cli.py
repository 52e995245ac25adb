"""``sika operator``: console accounts from the command line, on a real database."""

from __future__ import annotations

import os
import subprocess
import sys

from sika.console.operators import LoginRefused, Operators
from sika.db import create_db_engine

_TIMEOUT_S = 60


def sika(*args: str, database_url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIKA_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "sika", *args], env=env, capture_output=True, text=True,
                          timeout=_TIMEOUT_S, check=False, input=stdin)


def test_an_operator_is_created_with_a_printed_password_that_logs_in(sqlite_url: str) -> None:
    made = sika("operator", "create", "--name", "ama", "--role", "approver", database_url=sqlite_url)
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip().splitlines()[-1]
    assert len(password) >= 12
    engine = create_db_engine(sqlite_url)
    try:
        assert Operators(engine).authenticate("ama", password).role == "approver"
        again = sika("operator", "create", "--name", "ama", "--role", "viewer", database_url=sqlite_url)
        assert again.returncode == 1
        assert again.stderr.strip() == "sika: an operator called 'ama' exists [operator_exists]"
        bad_role = sika("operator", "create", "--name", "esi", "--role", "boss", database_url=sqlite_url)
        assert bad_role.returncode != 0 and "viewer" in bad_role.stderr
        listed = sika("operator", "list", database_url=sqlite_url)
        assert "ama" in listed.stdout and "approver" in listed.stdout
        typed = sika("operator", "password", "ama", database_url=sqlite_url,
                     stdin="a new long password\na new long password\n")
        assert typed.returncode == 0, typed.stderr
        assert Operators(engine).authenticate("ama", "a new long password").name == "ama"
        disabled = sika("operator", "disable", "ama", database_url=sqlite_url)
        assert disabled.returncode == 0, disabled.stderr
        try:
            Operators(engine).authenticate("ama", "a new long password")
        except LoginRefused as refused:
            assert refused.code == "login_refused"
        else:
            raise AssertionError("a disabled operator logged in")
    finally:
        engine.dispose()


def test_totp_prints_an_authenticator_uri_and_its_secret(sqlite_url: str) -> None:
    made = sika("operator", "create", "--name", "kofi", "--role", "viewer", database_url=sqlite_url)
    assert made.returncode == 0, made.stderr
    shown = sika("operator", "totp", "kofi", database_url=sqlite_url)
    assert shown.returncode == 0, shown.stderr
    assert "otpauth://totp/Sika%3Akofi?secret=" in shown.stderr
    assert len(shown.stdout.strip().splitlines()[-1]) == 32
    unknown = sika("operator", "unlock", "nobody", database_url=sqlite_url)
    assert unknown.returncode == 1 and "[unknown_operator]" in unknown.stderr
