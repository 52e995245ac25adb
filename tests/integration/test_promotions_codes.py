"""A batch of promotion codes: written a chunk a transaction (other writers never wait for a whole
batch), all or nothing as far as anyone can tell, and a code drawn twice drawn again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from promotions_support import Town, audited_containers
from sqlalchemy import event, func, select

from sika.bootstrap import Container
from sika.promotions import CodeRefused
from sika.promotions import codes as codes_module
from sika.promotions.codes import ALPHABET, as_csv
from sika.promotions.schema import codes


@pytest.fixture
def containers(database_url: str) -> Iterator[list[Container]]:
    with audited_containers(database_url, 1) as built:
        yield built


@pytest.fixture
def town(containers: list[Container]) -> Town:
    return Town.open(containers[0])


def _stored(town: Town, batch: str) -> int:
    with town.container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).where(codes.c.batch == batch)).scalar_one())


def _code_rows(town: Town) -> int:
    with town.container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(codes)).scalar_one())


def test_a_batch_is_written_a_chunk_a_transaction_and_every_code_works(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codes_module, "_INSERT_CHUNK", 100)
    campaign = town.campaign(rules={"percent": 5, "reward_max": 250, "operations": ["transfer"],
                                    "code_required": True})
    commits: list[int] = []
    engine = town.container.engine
    listener = lambda _connection: commits.append(1)  # noqa: E731
    event.listen(engine, "commit", listener)
    try:
        batch, made = town.container.promotions.codes.generate(campaign.id, 250, prefix="rmd")
    finally:
        event.remove(engine, "commit", listener)
    assert len(commits) == 3  # 100, 100 and 50 codes: never the whole batch under one lock
    assert len(set(made)) == 250 and _stored(town, batch) == 250
    for code in made:
        prefix, first, second = code.split("-")
        assert prefix == "RMD" and len(first) == len(second) == 5
        assert set(first + second) <= set(ALPHABET)
    assert len(as_csv(campaign, batch, made).splitlines()) == 251
    # The last code of the last chunk opens the offer, as the first does.
    for code, name in ((made[0], "First"), (made[-1], "Last")):
        customer = town.wallet(name, 1_000)
        assert town.container.promotions.redeem(customer, code.lower().replace("-", " ")).id == campaign.id


def test_a_batch_that_fails_part_way_leaves_no_code_behind(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codes_module, "_INSERT_CHUNK", 100)
    campaign = town.campaign()
    before = _code_rows(town)
    chunks: list[int] = []
    engine = town.container.engine

    def third_chunk_fails(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO promo_codes"):
            chunks.append(1)
            if len(chunks) == 3:
                raise RuntimeError("the disk is full")

    event.listen(engine, "before_cursor_execute", third_chunk_fails)
    try:
        with pytest.raises(RuntimeError, match="the disk is full"):
            town.container.promotions.codes.generate(campaign.id, 250)
    finally:
        event.remove(engine, "before_cursor_execute", third_chunk_fails)
    assert len(chunks) == 3 and _code_rows(town) == before  # the two chunks written went again


def test_a_code_another_batch_holds_is_drawn_again(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = town.campaign()
    generator = town.container.promotions.codes
    _, (held,) = generator.generate(campaign.id, 1)
    fresh = iter(["AAAAA-BBBBB", "CCCCC-DDDDD"])
    monkeypatch.setattr(codes_module, "_new_codes", lambda _prefix, _count: [held, "EEEEE-FFFFF"])
    monkeypatch.setattr(codes_module, "_new_code", lambda _prefix: next(fresh))
    batch, made = generator.generate(campaign.id, 2)
    assert made == ["AAAAA-BBBBB", "CCCCC-DDDDD"]  # the whole chunk drawn again, none of it twice
    assert _stored(town, batch) == 2
    customer = town.wallet("Ama", 1_000)
    generator.redeem(customer.id, held)
    for code in made:
        other = town.wallet(f"Holder of {code}", 1_000)
        generator.redeem(other.id, code)
    with pytest.raises(CodeRefused):
        generator.redeem(town.wallet("Late", 1_000).id, "EEEEE-FFFFF")  # never stored
