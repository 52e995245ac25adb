"""Start fakes by hand, for a person trying Sika against them::

    python -m sika_fakes paygate --port 9101 --callback-url http://127.0.0.1:8000
    python -m sika_fakes all --callback-url http://127.0.0.1:8000

Each prints its URL and the ``SIKA_*`` variables that point ``sika serve`` at it, then serves until
Ctrl-C. ``--instant`` turns latency and random misbehaviour off (magic references still misbehave).
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import threading
from collections.abc import Sequence

from sika_fakes._server import FakeServer
from sika_fakes.africastalking import FakeAfricasTalking
from sika_fakes.behaviour import Behaviour
from sika_fakes.biller import FakeBiller
from sika_fakes.cinetpay import FakeCinetPay
from sika_fakes.graph import FakeGraph
from sika_fakes.local import start
from sika_fakes.paygate import FakePayGate

__all__ = ["main"]

FAKES = ("graph", "paygate", "cinetpay", "africastalking", "biller", "all")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sika_fakes", description=__doc__.split("\n\n")[0])
    parser.add_argument("fake", choices=FAKES)
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--callback-url", default=None,
                        help="Sika's public URL, where the fakes call back (e.g. http://127.0.0.1:8000)")
    parser.add_argument("--instant", action="store_true", help="no latency, no random misbehaviour")
    args = parser.parse_args(argv)
    behaviour = Behaviour.at_once() if args.instant else Behaviour()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.fake == "graph":
        return _graph(stop)
    if args.fake == "all":
        fakes = start(instant=args.instant, callback_base_url=args.callback_url, behaviour=behaviour)
        _announce("all provider fakes", fakes.environment())
        stop.wait()
        fakes.close()
        return 0
    server, variables = _one(args.fake, args.port, args.callback_url, behaviour)
    with server:
        _announce(f"{args.fake} fake at {server.url}", {key: value.replace("{url}", server.url)
                                                        for key, value in variables.items()})
        stop.wait()
    return 0


def _one(name: str, port: int, callback_url: str | None,
         behaviour: Behaviour) -> tuple[FakeServer, dict[str, str]]:
    base = (callback_url or "").rstrip("/")
    token = secrets.token_urlsafe(18)

    def back(provider: str) -> str | None:
        return f"{base}/v1/providers/{provider}/callback?token={token}" if base else None

    if name == "paygate":
        paygate = FakePayGate(behaviour, port=port, callback_url=back("paygate"))
        return paygate, {"SIKA_PAYGATE_URL": "{url}", "SIKA_PAYGATE_AUTH_TOKEN": paygate.auth_token,
                         "SIKA_PAYGATE_CALLBACK_TOKEN": token}
    if name == "cinetpay":
        cinetpay = FakeCinetPay(behaviour, port=port)
        return cinetpay, {"SIKA_CINETPAY_URL": "{url}", "SIKA_CINETPAY_APIKEY": cinetpay.apikey,
                          "SIKA_CINETPAY_SITE_ID": cinetpay.site_id,
                          "SIKA_CINETPAY_SECRET_KEY": cinetpay.secret_key}
    if name == "africastalking":
        airtime = FakeAfricasTalking(behaviour, port=port, callback_url=back("africastalking"))
        return airtime, {"SIKA_AFRICASTALKING_AIRTIME_URL": "{url}",
                         "SIKA_AFRICASTALKING_USERNAME": airtime.username,
                         "SIKA_AFRICASTALKING_API_KEY": airtime.api_key,
                         "SIKA_AFRICASTALKING_CALLBACK_TOKEN": token}
    biller = FakeBiller(behaviour, port=port)
    return biller, {"SIKA_BILLER_URL": "{url}", "SIKA_BILLER_API_KEY": biller.api_key,
                    "SIKA_BILLER_SECRET": biller.secret}


def _graph(stop: threading.Event) -> int:
    with FakeGraph() as graph:
        _announce(f"fake Graph API at {graph.url}", {
            "SIKA_WHATSAPP_API_URL": graph.url, "SIKA_WHATSAPP_TOKEN": graph.token,
            "SIKA_WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id})
        stop.wait()
    return 0


def _announce(what: str, variables: dict[str, str]) -> None:
    print(f"sika_fakes: {what}; set these for `sika serve` (Ctrl-C stops):", file=sys.stderr)
    for key, value in variables.items():
        print(f"export {key}={value}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
