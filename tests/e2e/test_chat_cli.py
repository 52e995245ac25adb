"""``sika chat``: the terminal client talks to the same dialog engine, on the configured database."""

from __future__ import annotations

import os
import subprocess
import sys

from sika.bootstrap import bootstrap
from sika.config import Settings
from sika.payments import new_movement_id
from sika.wallet import Pin


def test_a_terminal_conversation_opens_a_wallet_and_reads_the_balance(sqlite_url: str) -> None:
    env = {**os.environ, "SIKA_DATABASE_URL": sqlite_url, "SIKA_PROVIDERS": "off"}
    # A new number: French by default; choose English, a name, a PIN twice, then "balance".
    typed = "2\nYao Mensah\n2580\n2580\nbalance\n"
    done = subprocess.run([sys.executable, "-m", "sika", "chat", "--phone", "+22893000111"], input=typed,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Bienvenue sur Sika !" in done.stdout  # +228: French until English is chosen
    assert "Your Sika wallet is open, Yao Mensah!" in done.stdout
    assert "Your balance: 0 F CFA." in done.stdout
    assert "2580" not in done.stdout  # the PIN is never echoed
    container = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    try:
        customer = container.customers.get("+22893000111")
        assert (customer.name, customer.language) == ("Yao Mensah", "en")
    finally:
        container.close()


def test_lang_shows_another_language_and_a_bad_number_is_one_line(sqlite_url: str) -> None:
    container = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    try:
        agent, _ = container.agents.create("Boutique")
        container.payments.credit_float(new_movement_id(), agent, 100_000)
        container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"), tier=1)
        container.payments.cash_in(new_movement_id(), agent, "+22890112233", 12_500)
    finally:
        container.close()
    env = {**os.environ, "SIKA_DATABASE_URL": sqlite_url, "SIKA_PROVIDERS": "off"}
    done = subprocess.run([sys.executable, "-m", "sika", "chat", "--phone", "90112233", "--lang", "ru"],
                          input="баланс\n", env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "12 500 F CFA" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "sika", "chat", "--phone", "+33612345678"], input="",
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "unsupported_country" in bad.stderr


def test_a_ride_is_booked_in_the_terminal_by_typing_place_names(sqlite_url: str) -> None:
    container = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    try:
        container.customers.open("+22890112233", "Ama Mensah", language="en", pin=Pin("4827"), tier=1)
    finally:
        container.close()
    env = {**os.environ, "SIKA_DATABASE_URL": sqlite_url, "SIKA_PROVIDERS": "off"}
    # Book a ride; "hedz" (no accent) is Hédzranawoé; "port" is the port; a moto, cash, confirm.
    done = subprocess.run([sys.executable, "-m", "sika", "chat", "--phone", "+22890112233"],
                          input="5\nhedz\nport\n1\n1\n1\n", env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Type the first letters of a place" in done.stdout and "WhatsApp" not in done.stdout
    assert "Pick-up: Hédzranawoé. Destination: Port autonome." in done.stdout
    assert "Moto" in done.stdout and "F CFA" in done.stdout
    assert "no driver is free near you" in done.stdout  # nobody drives in this test town
