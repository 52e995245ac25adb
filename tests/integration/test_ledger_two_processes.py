"""Two ledgers over one database, as two processes run them: what one process saw of an account never
outweighs what the other wrote.

On PostgreSQL a batch of plain and pending transfers is written by one statement that adds its
changes to each account where the row, as it is under its lock, has the room the batch needs
(``sika.ledger.postgres_batches``, the optimistic path); else the locked path decides. These tests
change the accounts behind one ledger's back, through a second ledger, and check every answer and
balance against what really happened. On SQLite the same stories must hold too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_support import open_bank, open_wallet
from sqlalchemy import Engine

from sika.ledger import Account, Ledger, Transfer, TransferFlags
from sika.ledger import TransferResult as R


@pytest.fixture
def other(engine: Engine) -> Iterator[Ledger]:
    """A second ledger on the same database, standing for another process."""
    book = Ledger(engine)
    yield book
    book.close()


def pay(ledger: Ledger, tid: str, debit: Account, credit: Account, amount: int) -> R:
    [result] = ledger.submit([Transfer(id=tid, debit_account_id=debit.id,
                                       credit_account_id=credit.id, amount=amount)])
    return result


def balance(ledger: Ledger, account: Account) -> int:
    return ledger.get_account(account.id).balance


def test_a_payment_is_refused_when_another_process_spent_the_money_first(
    ledger: Ledger, other: Ledger
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 100)
    shop = open_wallet(ledger)
    assert pay(ledger, "warm", wallet, shop, 10) is R.OK  # this ledger last saw 90
    assert pay(other, "elsewhere", wallet, shop, 80) is R.OK
    assert pay(ledger, "too-much", wallet, shop, 50) is R.EXCEEDS_CREDITS
    assert pay(ledger, "just-enough", wallet, shop, 10) is R.OK
    assert balance(other, wallet) == 0
    assert balance(other, shop) == 100


def test_a_payment_goes_through_when_another_process_topped_up_the_wallet(
    ledger: Ledger, other: Ledger
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 30)
    shop = open_wallet(ledger)
    assert pay(ledger, "all-of-it", wallet, shop, 30) is R.OK  # as this ledger last saw it: nothing left
    assert pay(other, "top-up", bank, wallet, 50) is R.OK
    assert pay(ledger, "after-top-up", wallet, shop, 40) is R.OK
    assert balance(ledger, wallet) == 10
    assert balance(ledger, shop) == 70


def test_a_request_retried_through_another_process_moves_money_once(
    ledger: Ledger, other: Ledger
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 100)
    shop = open_wallet(ledger)
    assert pay(ledger, "warm", wallet, shop, 1) is R.OK
    assert pay(other, "order-7", wallet, shop, 60) is R.OK
    # The first ledger still believes 99 are there, enough for the retry to pass its own rules.
    assert pay(ledger, "order-7", wallet, shop, 60) is R.EXISTS
    assert pay(ledger, "order-7", wallet, shop, 61) is R.EXISTS_WITH_DIFFERENT_FIELDS
    assert balance(ledger, wallet) == 39


def test_a_retried_request_reads_as_existing_even_once_the_money_is_gone(
    ledger: Ledger, other: Ledger
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 100)
    shop = open_wallet(ledger)
    assert pay(ledger, "order-8", wallet, shop, 70) is R.OK
    assert pay(other, "rest", wallet, shop, 30) is R.OK
    assert pay(ledger, "order-8", wallet, shop, 70) is R.EXISTS
    assert balance(other, shop) == 100


def test_an_account_closed_by_another_process_refuses_transfers(
    ledger: Ledger, other: Ledger
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 100)
    shop = open_wallet(ledger)
    assert pay(ledger, "warm", wallet, shop, 10) is R.OK
    other.close_account(shop.id)
    assert pay(ledger, "to-closed", wallet, shop, 10) is R.CREDIT_ACCOUNT_CLOSED
    assert balance(ledger, wallet) == 90


def test_a_cap_lowered_by_another_process_refuses_what_it_would_exceed(
    ledger: Ledger, other: Ledger
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 100)
    shop = open_wallet(ledger)
    assert pay(ledger, "warm", wallet, shop, 10) is R.OK
    other.set_balance_max(shop.id, 15)
    assert pay(ledger, "over-cap", wallet, shop, 10) is R.EXCEEDS_BALANCE_MAX
    assert pay(ledger, "under-cap", wallet, shop, 5) is R.OK
    assert balance(ledger, shop) == 15


def test_a_reservation_made_on_remembered_accounts_holds_the_money_until_posted(
    ledger: Ledger, other: Ledger
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 100)
    shop = open_wallet(ledger)
    assert pay(ledger, "warm", wallet, shop, 10) is R.OK
    hold = Transfer(id="hold", debit_account_id=wallet.id, credit_account_id=shop.id, amount=50,
                    flags=TransferFlags.PENDING, timeout_s=60)
    assert ledger.submit([hold]) == [R.OK]
    assert pay(other, "while-held", wallet, shop, 50) is R.EXCEEDS_CREDITS
    post = Transfer(id="post", pending_id="hold", flags=TransferFlags.POST_PENDING)
    assert other.submit([post]) == [R.OK]
    found = other.get_account(wallet.id)
    assert (found.balance, found.debits_pending) == (40, 0)
    assert pay(ledger, "after-post", wallet, shop, 40) is R.OK
    assert balance(other, shop) == 100
