"""The pieces every adapter stands on: bounded retries that never repeat what is not idempotent, what
providers' numbers and callbacks look like, magic references, and the fakes' command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from sika.providers import CallbackRequest, ForgedCallback, ProviderUnavailable
from sika.providers._checks import check_origin
from sika.providers._http import Http
from sika.providers._wire import amount_of, form, integer
from sika.providers.brands import service_of
from sika_fakes._server import FakeServer, Handler, Request, Response
from sika_fakes.behaviour import Behaviour, Magic, magic_of, significant_digits


class Flaky(FakeServer):
    """Answers 503 ``outages`` times, or sleeps ``slow_s`` before answering, then 200."""

    name = "flaky"

    def __init__(self, *, outages: int = 0, slow_s: float = 0.0) -> None:
        super().__init__(Behaviour.at_once())
        self.outages = outages
        self.slow_s = slow_s
        self.seen = 0

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("POST", "/charge"): self._charge}

    def _charge(self, _request: Request) -> Response:
        with self.lock:
            self.seen += 1
            outage = self.outages > 0
            self.outages -= 1
        if outage:
            return 503, {"error": "down"}
        time.sleep(self.slow_s)
        return 200, {"ok": True}


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    with Flaky() as server:
        yield server


def test_an_idempotent_request_is_retried_through_outages_and_gives_up_after_its_tries(flaky: Flaky) -> None:
    http = Http(flaky.url, provider="flaky", timeout_s=2, retries_max=2, backoff_s=0.01)
    flaky.outages = 2
    assert http.post_json("/charge", {}, idempotent=True).body == {"ok": True}
    assert flaky.seen == 3
    flaky.outages, flaky.seen = 5, 0
    with pytest.raises(ProviderUnavailable):
        http.post_json("/charge", {}, idempotent=True)
    assert flaky.seen == 3  # 1 + retries_max, never more
    http.close()


def test_a_request_that_is_not_idempotent_is_sent_once_when_its_answer_is_lost(flaky: Flaky) -> None:
    http = Http(flaky.url, provider="flaky", timeout_s=0.2, retries_max=3, backoff_s=0.01)
    flaky.slow_s = 0.5
    with pytest.raises(ProviderUnavailable):
        http.post_json("/charge", {}, idempotent=False)
    assert flaky.seen == 1
    flaky.slow_s, flaky.outages, flaky.seen = 0.0, 1, 0
    with pytest.raises(ProviderUnavailable):
        http.post_json("/charge", {}, idempotent=False)  # a 503 may have charged: not repeated
    assert flaky.seen == 1
    http.close()


def test_a_request_that_never_left_is_retried_even_when_not_idempotent() -> None:
    dead = Http("http://127.0.0.1:9", provider="nobody", timeout_s=0.5, retries_max=1, backoff_s=0.01)
    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        dead.post_json("/charge", {}, idempotent=False)
    dead.close()


def test_numbers_and_amounts_as_providers_write_them() -> None:
    assert [integer(v) for v in (1000, "1000", "1000.00", 1000.0, "10.5", True, None, "x")] == [
        1000, 1000, 1000, 1000, None, None, None, None]
    assert amount_of("XOF 1000.0000") == 1000 and amount_of("KES 1000") is None
    assert form(b"a=1&b=%C3%A9&a=2", "p") == {"a": "2", "b": "é"}
    with pytest.raises(ForgedCallback):
        form(b"x" * 20_000, "p")


def test_an_unsigned_callback_must_come_from_an_allowed_address_with_its_token() -> None:
    def request(host: str, token: str | None) -> CallbackRequest:
        query = {"token": token} if token else {}
        return CallbackRequest(headers={}, query=query, body=b"", client_host=host)

    check_origin(request("10.1.2.3", "s3cret"), provider="p", allowed_ips="10.0.0.0/8", token="s3cret")
    refused = (("192.168.1.1", "s3cret"), ("10.1.2.3", None), ("10.1.2.3", "guess"), ("x", "s3cret"))
    for host, token in refused:
        with pytest.raises(ForgedCallback):
            check_origin(request(host, token), provider="p", allowed_ips="10.0.0.0/8", token="s3cret")


def test_brands_name_their_products_whether_or_not_their_provider_is_live() -> None:
    assert str(service_of("togocom", "data:J1GO")[1].kind) == "data"
    assert service_of("card", "card_topup")[1].adapter == "cinetpay"
    with pytest.raises(Exception, match="sells no") as unknown:
        service_of("ceet", "water")
    assert getattr(unknown.value, "code", None) == "unknown_product"


def test_magic_references_end_in_five_zeros_and_a_digit() -> None:
    assert magic_of(significant_digits("+22890000003")) is Magic.CALLS_BACK_TWICE
    assert magic_of(significant_digits("10000000017", check_digit=True)) is Magic.DECLINED
    assert magic_of(significant_digits("tok_test_000008")) is Magic.NO_CALLBACK
    assert magic_of(significant_digits("+22890112233")) is None and magic_of("000009") is None


def test_the_fakes_start_from_the_command_line_and_say_what_to_set() -> None:
    process = subprocess.Popen([sys.executable, "-m", "sika_fakes", "biller", "--instant"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout.readline() for _ in range(3)))
    reader.start()
    reader.join(30)
    process.terminate()
    process.communicate(timeout=30)
    assert process.returncode == 0
    assert lines[0].startswith("export SIKA_BILLER_URL=http://127.0.0.1:")
    assert [line.split("=")[0] for line in lines] == ["export SIKA_BILLER_URL", "export SIKA_BILLER_API_KEY",
                                                      "export SIKA_BILLER_SECRET"]


def test_a_kept_connection_is_reused_whatever_its_descriptor_number_and_a_path_without_its_slash(
        flaky: Flaky) -> None:
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1_100)]  # the next socket's number > 1023
    try:
        http = Http(flaky.url, provider="flaky", timeout_s=2, retries_max=0)
        for _ in range(3):  # the second and third reuse the kept connection (a select() would fail)
            assert http.post_json("charge", {}, idempotent=False).body == {"ok": True}
        assert flaky.seen == 3
        http.close()
    finally:
        for descriptor in held:
            os.close(descriptor)


def test_a_fake_that_sleeps_between_polls_still_stops_at_once_when_closed(monkeypatch: pytest.MonkeyPatch
                                                                            ) -> None:
    # The fakes run inside Sika's processes: their serving loops poll rarely, and close() wakes
    # them. With an hour between polls, a close that waited for the next one would hang here.
    monkeypatch.setattr("sika_fakes._server.POLL_S", 3600.0)
    servers = [Flaky().start() for _ in range(3)]
    client = Http(servers[0].url, provider="flaky", timeout_s=2, retries_max=0)
    client.post_json("/charge", {}, idempotent=True)
    client.close()
    closing = threading.Thread(target=lambda: [server.close() for server in servers], daemon=True)
    closing.start()
    closing.join(30)
    assert not closing.is_alive()
    assert servers[0].seen == 1


def test_a_biller_quote_that_says_a_lot_keeps_what_sika_reads_first() -> None:
    from sika.providers.biller import _bounded

    said = {f"note_{n}": "x" * 500 for n in range(30)} | {"months": 2, "period": "2026-10", "k" * 99: "v"}
    kept = _bounded(said)
    assert len(kept) == 16 and list(kept)[:2] == ["period", "months"]
    assert kept["period"] == "2026-10" and kept["months"] == "2"  # the bill's period claims it once
    assert all(len(key) <= 40 and len(value) <= 200 for key, value in kept.items())
