"""Sika scaled out: two ``sika serve --no-jobs`` and one ``sika worker`` on one PostgreSQL and one
Redis, real processes, the realistic WhatsApp mix through both servers (PIN-confirmed transfers, bills
and airtime). Every message is answered as its step expects, every receipt arrives once, the money
adds up, and what the processes share lives in Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from sika.bench.whatsapp import WhatsAppBenchConfig, run_whatsapp_bench
from sika.devservers import temporary_redis


@pytest.fixture
def shared_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with temporary_redis() as url:
        monkeypatch.setenv("SIKA_REDIS_URL", url)  # the run's processes get it (see the bench)
        yield url


def test_two_servers_and_a_worker_answer_the_realistic_mix_and_the_money_adds_up(shared_redis: str) -> None:
    config = WhatsAppBenchConfig(backend="postgres", mix="realistic", messages=150, users=10, clients=4,
                                 servers=2, processes=1, redis=True)
    result = run_whatsapp_bench(config)

    assert (result.servers, result.processes, result.redis) == (2, 1, True)
    assert result.unanswered == 0
    assert result.wrong_answers == 0, result.wrong_answer_examples
    assert result.replies == result.replies_expected == 150
    assert result.receipts == result.receipts_expected > 0
    assert result.money_problems == []
    assert result.http_errors == {} and result.rejected == 0
    assert result.server_errors == 0, result.server_error_lines
    # The worker ran the jobs that must run in one place under leases kept in Redis.
    client = redis.Redis.from_url(shared_redis)
    try:
        assert client.exists("sika:lease:job:whatsapp-pruning")
        assert client.exists("sika:lease:job:conversation-pruning")
    finally:
        client.close()
