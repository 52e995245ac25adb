"""``sika bench whatsapp`` as a user runs it: the real server in its own process, signed webhooks in,
replies at the fake Graph API. Speed is the benchmark's business; the test checks that every message
was answered as its step expects, that the money adds up, and that the JSON holds what the contract
names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

_TIMEOUT_S = 300
_KEYS = {"messages_per_s", "webhook_p50_ms", "webhook_p90_ms", "webhook_p99_ms", "replies_per_s", "backend",
         "processes", "messages", "seconds", "server_errors", "unanswered", "mix", "wrong_answers",
         "money_problems", "receipts", "pin_share"}


def bench(*args: str) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIKA_")}
    done = subprocess.run([sys.executable, "-m", "sika", "bench", "whatsapp", *args, "--json"],
                          env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2_000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.keys() >= _KEYS
    # Every message answered, each reply what its step expects, none refused, nothing in the logs.
    assert result["unanswered"] == 0
    assert result["wrong_answers"] == 0, result["wrong_answer_examples"]
    assert result["replies"] == result["replies_expected"] == result["messages"]
    assert result["http_errors"] == {} and result["rejected"] == 0
    assert result["server_errors"] == 0, result["server_error_lines"]
    assert result["messages_per_s"] > 0 and result["webhook_p50_ms"] <= result["webhook_p99_ms"]
    return result


def test_the_realistic_mix_pays_with_the_pin_and_every_payment_adds_up() -> None:
    result = bench("--messages", "90", "--users", "6", "--clients", "3")
    # By default the deployment the targets are set for: `sika serve --no-jobs` and two workers.
    assert (result["backend"], result["mix"], result["messages"], result["processes"]) == (
        "sqlite", "realistic", 90, 2,
    )
    # Fifteen messages a user: three PINs that move money, three taps on Confirm.
    assert result["pin_share"] == 0.2 and result["pin_or_confirm_share"] == 0.4
    # Each payment's receipt to its payer, each transfer's to its recipient: 6 x (3 + 1).
    assert result["receipts"] == result["receipts_expected"] == 24
    assert result["money_problems"] == []


def test_the_read_mix_moves_no_money() -> None:
    result = bench("--mix", "read", "--messages", "40", "--users", "8", "--clients", "4")
    assert (result["mix"], result["pin_share"], result["payment_share"]) == ("read", 0.0, 0.0)
    assert result["receipts"] == result["receipts_expected"] == 0
    assert result["money_problems"] == []
