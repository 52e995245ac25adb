"""``sika bench whatsapp`` as a user runs it: the real server in its own process, signed webhooks in,
replies at the fake Graph API. Speed is the benchmark's business; the test checks that every message
was answered and that the JSON holds what the contract names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_TIMEOUT_S = 180


def test_the_whatsapp_benchmark_answers_every_message_and_prints_its_figures_as_json() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIKA_")}
    done = subprocess.run(
        [sys.executable, "-m", "sika", "bench", "whatsapp", "--messages", "200", "--users", "40",
         "--clients", "4", "--json"],
        env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2_000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"messages_per_s", "webhook_p50_ms", "webhook_p90_ms", "webhook_p99_ms", "replies_per_s",
            "backend", "processes", "messages", "seconds", "server_errors"} <= result.keys()
    assert (result["backend"], result["messages"], result["processes"]) == ("sqlite", 200, 0)
    # Every message answered: each user got exactly the replies the script calls for, none refused.
    assert result["unanswered"] == 0
    assert result["replies"] == result["replies_expected"] >= result["messages"]
    assert result["http_errors"] == {} and result["rejected"] == 0
    assert result["server_errors"] == 0, result["server_error_lines"]
    assert result["messages_per_s"] > 0 and result["webhook_p50_ms"] <= result["webhook_p99_ms"]
