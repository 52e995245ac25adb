"""What a batch costs on the wire on PostgreSQL (``sika.ledger.postgres_batches``): plain and pending
transfers, and posts and voids of holds the same process made, are one statement in autocommit (the
optimistic path); the locked path is two round trips, its ``BEGIN`` and ``COMMIT`` sent in its two
pipelines, and a third first for the pending transfers a batch posts; the connection is handed back
as it was taken."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from ledger_support import open_bank, open_wallet
from sqlalchemy import Engine

import sika.ledger.postgres_batches as batches
from sika.ledger import Account, Ledger, Transfer, TransferFlags
from sika.ledger import TransferResult as R
from sika.ledger.store import BatchStore


def _traced(engine: Engine, tmp_path: Path, transfers: list[Transfer],
            store: BatchStore | None = None) -> tuple[list[R], list[str]]:
    """The batch's results on ``store`` (a fresh one: another process's), and what was sent."""
    store = store or BatchStore(engine)
    raw = engine.raw_connection()
    driver: Any = raw.dbapi_connection
    wire = tmp_path / "wire.txt"
    try:
        with wire.open("w") as out:
            driver.pgconn.trace(out.fileno())
            outcome = store.run(transfers, now_ns=time.time_ns(), connection=raw)  # the ledger's clock
            driver.pgconn.untrace()
        assert driver.autocommit is False and driver.info.transaction_status == 0  # idle, as taken
    finally:
        raw.close()
    sent = [line.split("\t")[3:] for line in wire.read_text().splitlines() if "\tF\t" in line]
    return list(outcome.results), [" ".join(part) for part in sent]


def _syncs(sent: list[str]) -> int:
    return sum(line.startswith("Sync") for line in sent)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_plain_batch_is_one_statement_and_a_refused_one_runs_again_locked(
    engine: Engine, ledger: Ledger, tmp_path: Path
) -> None:
    bank = open_bank(ledger)
    ama, kofi = open_wallet(ledger, bank, 10_000), open_wallet(ledger)
    pay = Transfer(id="pay-1", debit_account_id=ama.id, credit_account_id=kofi.id, amount=2_500)
    hold = Transfer(id="hold-1", debit_account_id=ama.id, credit_account_id=kofi.id, amount=1_000,
                    flags=TransferFlags.PENDING, timeout_s=60)
    results, sent = _traced(engine, tmp_path, [pay, hold])
    assert results == [R.OK, R.OK]
    assert _syncs(sent) == 1, sent  # one statement, its own transaction: no BEGIN, no COMMIT
    assert not any("BEGIN" in line or "COMMIT" in line for line in sent), sent
    assert ledger.get_account(kofi.id).balance == 2_500
    assert ledger.get_account(ama.id).available == 10_000 - 2_500 - 1_000
    stored = ledger.get_transfers(["pay-1", "hold-1"])
    assert stored["pay-1"].currency == "XOF" and stored["hold-1"].pending_status is not None
    assert stored["pay-1"].seq < stored["hold-1"].seq  # in the batch's order

    too_much = Transfer(id="pay-2", debit_account_id=ama.id, credit_account_id=kofi.id, amount=9_000)
    results, sent = _traced(engine, tmp_path, [too_much])
    assert results == [R.EXCEEDS_CREDITS]  # the locked path's rules name the refusal
    assert _syncs(sent) == 3, sent  # the statement that wrote nothing, then the locked path's two
    assert ledger.get_account(kofi.id).balance == 2_500

    post = Transfer(id="post-1", pending_id="hold-1", flags=TransferFlags.POST_PENDING)
    results, sent = _traced(engine, tmp_path, [post])
    assert results == [R.OK]
    # A hold this store did not make (a fresh store: another process) is posted by the locked path,
    # the held transfer read first.
    assert _syncs(sent) == 3, sent
    statements = [line for line in sent if line.startswith("Parse")]
    assert "BEGIN ISOLATION LEVEL READ COMMITTED" in statements[0], statements
    assert "COMMIT" in statements[-1], statements
    assert ledger.get_account(kofi.id).balance == 3_500

    again, sent = _traced(engine, tmp_path, [pay])  # a retried request: stored already, nothing moves
    assert again == [R.EXISTS]
    assert ledger.get_account(kofi.id).balance == 3_500


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_batch_that_fails_between_its_pipelines_leaves_nothing_and_the_connection_as_taken(
    engine: Engine, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = open_bank(ledger)
    ama, kofi = open_wallet(ledger, bank, 10_000), open_wallet(ledger)
    pay = Transfer(id="pay-2", debit_account_id=ama.id, credit_account_id=kofi.id, amount=2_500)
    store = BatchStore(engine)
    raw = engine.raw_connection()
    driver: Any = raw.dbapi_connection
    try:
        def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("the rules failed")  # after the accounts were locked, before any write

        with monkeypatch.context() as patched:
            # The locked path's rules: the optimistic path (its rules run before anything is sent) is
            # skipped, as for a batch that posts.
            patched.setattr(batches.PostgresBatches, "_run_optimistic", lambda *_, **__: None)
            patched.setattr(batches, "apply", broken)
            with pytest.raises(RuntimeError, match="the rules failed"):
                store.run([pay], now_ns=time.time_ns(), connection=raw)
        assert driver.autocommit is False and driver.info.transaction_status == 0  # rolled back, idle
        assert ledger.get_account(kofi.id).balance == 0
        (result,) = store.run([pay], now_ns=time.time_ns(), connection=raw).results  # the same one
        assert result is R.OK and ledger.get_account(kofi.id).balance == 2_500
    finally:
        raw.close()


def _holds_stored(engine: Engine, ledger: Ledger, tmp_path: Path, funded: int,
                  ids: list[str]) -> tuple[Account, Account, BatchStore]:
    """Ama (``funded``) and Kofi, and a hold of 1,000 from her to him for each id, stored by the store
    returned (which keeps them, and so may resolve them in one statement)."""
    bank = open_bank(ledger)
    ama, kofi = open_wallet(ledger, bank, funded), open_wallet(ledger)
    store = BatchStore(engine)
    holds = [Transfer(id=hold_id, debit_account_id=ama.id, credit_account_id=kofi.id, amount=1_000,
                      flags=TransferFlags.PENDING, timeout_s=60) for hold_id in ids]
    assert _traced(engine, tmp_path, holds, store)[0] == [R.OK] * len(ids)
    return ama, kofi, store


def _void_elsewhere(engine: Engine, void_id: str, hold_id: str) -> None:
    """The hold voided by another process's store: the first store's record of it is stale."""
    void = Transfer(id=void_id, pending_id=hold_id, flags=TransferFlags.VOID_PENDING)
    (result,) = BatchStore(engine).run([void], now_ns=time.time_ns()).results
    assert result is R.OK


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_hold_this_process_made_is_posted_in_one_statement_unless_resolved_elsewhere(
    engine: Engine, ledger: Ledger, tmp_path: Path
) -> None:
    ama, kofi, store = _holds_stored(engine, ledger, tmp_path, 10_000, [f"hold-{n}" for n in range(3)])

    # Part of the first posted, with a payment in the same batch: one statement, no BEGIN.
    post = Transfer(id="post-0", pending_id="hold-0", amount=600, flags=TransferFlags.POST_PENDING)
    pay = Transfer(id="pay-0", debit_account_id=ama.id, credit_account_id=kofi.id, amount=7_400)
    results, sent = _traced(engine, tmp_path, [post, pay], store)
    assert results == [R.OK, R.OK]
    assert _syncs(sent) == 1, sent
    assert ledger.get_account(kofi.id).balance == 8_000  # 600 of the hold, then 7,400 in its room
    assert ledger.get_account(ama.id).available == 0  # two holds of 1,000 still stand
    assert ledger.get_transfers(["hold-0"])["hold-0"].pending_status == "posted"

    # Voided by another process: this one's record is stale, the statement writes nothing and the
    # locked path names the refusal.
    _void_elsewhere(engine, "void-1", "hold-1")
    stale = Transfer(id="post-1", pending_id="hold-1", flags=TransferFlags.POST_PENDING)
    results, sent = _traced(engine, tmp_path, [stale], store)
    assert results == [R.PENDING_TRANSFER_ALREADY_VOIDED]
    assert _syncs(sent) == 4, sent  # the statement that wrote nothing, then the locked path's three
    assert ledger.get_account(kofi.id).balance == 8_000

    # The last one voided here: one statement; its money is free again.
    void = Transfer(id="void-2", pending_id="hold-2", flags=TransferFlags.VOID_PENDING)
    results, sent = _traced(engine, tmp_path, [void], store)
    assert results == [R.OK] and _syncs(sent) == 1, sent
    assert ledger.get_account(ama.id).available == 2_000  # both voided holds given back
    assert ledger.get_account(kofi.id).balance == 8_000
    assert _traced(engine, tmp_path, [void], store)[0] == [R.EXISTS]  # retried: stored already


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_hold_that_was_the_accounts_only_reservation_voided_elsewhere_is_refused_not_raised(
    engine: Engine, ledger: Ledger, tmp_path: Path
) -> None:
    ama, kofi, store = _holds_stored(engine, ledger, tmp_path, 5_000, ["hold-only"])
    _void_elsewhere(engine, "void-only", "hold-only")
    # Taking the stale reservation back would leave the pending totals below zero: the statement
    # leaves the rows alone, and the locked path names the refusal.
    post = Transfer(id="post-only", pending_id="hold-only", flags=TransferFlags.POST_PENDING)
    results, sent = _traced(engine, tmp_path, [post], store)
    assert results == [R.PENDING_TRANSFER_ALREADY_VOIDED]
    assert _syncs(sent) == 4, sent
    results, sent = _traced(engine, tmp_path, [post], store)  # forgotten since: locked at once
    assert results == [R.PENDING_TRANSFER_ALREADY_VOIDED] and _syncs(sent) == 3, sent
    assert ledger.get_account(ama.id).available == 5_000 and ledger.get_account(kofi.id).balance == 0
