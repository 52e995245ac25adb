"""WhatsApp's pacing shared by every process: Meta caps a phone number's sends (80 a second by
default, up to 1,000 on its highest tier), whatever the number of processes sending for it.

:class:`RedisPace` keeps one key a phone number in Redis holding the *theoretical arrival time* of
the next send (the generic cell rate algorithm): a script run on Redis's own clock reserves the next
slot and says how long to wait for it. Takers sleep outside Redis, in the order they reserved.
When Redis cannot be reached the process paces itself alone (at the full rate: Meta's throttling
answer, 130429, is retried) and says so once in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import redis

__all__ = ["Pace", "RedisPace"]

log = logging.getLogger(__name__)

# ARGV: microseconds between sends, microseconds of burst; returns the microseconds to wait.
_RESERVE = """
local now_s = redis.call('TIME')
local now = tonumber(now_s[1]) * 1000000 + tonumber(now_s[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat + interval - tonumber(ARGV[2]) - now
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.floor((tat + interval - now) / 1000) + 1000)
if wait < 0 then return 0 end
return wait
"""


class Pace(Protocol):
    rate_per_s: float

    def take(self) -> float:
        """Wait for the next send's turn; returns how long we waited (seconds)."""

    def close(self) -> None: ...


class RedisPace:
    def __init__(self, redis_url: str, key: str, rate_per_s: float, burst: float, *,
                 local: Pace, timeout_s: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        assert rate_per_s > 0 and burst >= 1, (rate_per_s, burst)
        self.rate_per_s = rate_per_s
        self._interval_us = int(1_000_000 / rate_per_s)
        self._burst_us = int(burst * self._interval_us)
        self._key = key
        self._local = local
        self._sleep = sleep
        self._client: redis.Redis = redis.Redis.from_url(
            redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._reserve = self._client.register_script(_RESERVE)
        self._warned = False

    def take(self) -> float:
        try:
            wait_us = int(self._reserve(keys=[self._key], args=[self._interval_us, self._burst_us]))
        except redis.RedisError as exc:
            if not self._warned:
                log.warning("WhatsApp pacing without Redis (%s): this process paces itself alone", exc)
                self._warned = True
            return self._local.take()
        wait_s = wait_us / 1_000_000
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s

    def close(self) -> None:
        self._client.close()
        self._local.close()
