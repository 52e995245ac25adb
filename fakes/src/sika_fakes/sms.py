"""A local stand-in for Africa's Talking's SMS API, over real HTTP on 127.0.0.1.

Wire-compatible with what Sika's adapter (``sika.chat.sms.africastalking``) speaks, as Africa's Talking
publishes it:

- ``POST /version1/messaging``: the ``apiKey`` header, a form body ``username``, ``to`` (comma-separated
  E.164 numbers), ``message`` and an optional ``from``; answers 201 with
  ``{"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: XOF 20.0000", "Recipients": [{"statusCode":
  101, "number": …, "status": "Success", "cost": …, "messageId": "ATXid_…"}]}}``; 401 for a wrong key,
  400 for a missing field; a number that is not E.164 gets recipient status 403 InvalidPhoneNumber.
- delivery reports: for every message sent, a form POST to ``callback_url`` (``id``, ``status``,
  ``phoneNumber``, ``networkCode``, ``failureReason`` when it failed, ``retryCount``) a moment later.

For tests and people, it keeps every message it accepted:

- ``GET /messages`` (``?to=+228…`` to filter) → ``{"messages": [{"id", "to", "from", "text", "status",
  "at"}]}``, oldest first (``status``: Sent, then what the delivery report said); ``DELETE /messages``
  forgets them;
- ``POST /control`` with JSON ``{"fail_next": 2, "http_status": 500}`` (the next requests fail; 0 heals),
  ``{"refuse": "+22890000000", "status_code": 406}`` (that number is refused: 406 UserInBlacklist),
  ``{"delay_s": 1.5}`` (answer slowly), ``{"report_status": "Failed", "failure_reason":
  "AbsentSubscriber"}`` (how delivery reports end).

Run it alone: ``python -m sika_fakes.sms --port 8025 --callback http://127.0.0.1:8000/webhooks/africastalking/sms``
then point Sika at it: ``SIKA_AFRICASTALKING_URL=http://127.0.0.1:8025``,
``SIKA_AFRICASTALKING_USERNAME=sandbox``, ``SIKA_AFRICASTALKING_API_KEY=fake-at-key``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import queue
import re
import secrets
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["FakeSms", "Sms"]

REQUEST_BYTES_MAX = 64 * 1024
MESSAGES_MAX = 10_000
RECIPIENTS_MAX = 1_000
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_STATUS_TEXT = {101: "Success", 401: "RiskHold", 402: "InvalidSenderId", 403: "InvalidPhoneNumber",
                404: "UnsupportedNumberType", 405: "InsufficientBalance", 406: "UserInBlacklist",
                407: "CouldNotRoute", 409: "DoNotDisturbRejection", 500: "InternalServerError",
                501: "GatewayError", 502: "RejectedByGateway"}
COST = "XOF 20.0000"


@dataclass(frozen=True, slots=True)
class Sms:
    id: str
    to: str
    sender: str | None
    text: str
    status: str
    at: float  # time.time() when it arrived


class FakeSms:
    def __init__(self, *, username: str = "sandbox", api_key: str = "fake-at-key",
                 callback_url: str | None = None, port: int = 0, report_delay_s: float = 0.05) -> None:
        self.username = username
        self.api_key = api_key
        self.callback_url = callback_url
        self.report_delay_s = report_delay_s
        self._port = port
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[Sms] = []
        self._refused: dict[str, int] = {}
        self._fail_next: list[int] = []
        self.delay_s = 0.0
        self.report_status = "Success"
        self.failure_reason = "AbsentSubscriber"
        self.reports_sent = 0
        self.report_errors: list[str] = []
        self._serial = itertools.count(1)
        self._prefix = f"ATXid_{secrets.token_hex(4)}"
        self._reports: queue.Queue[tuple[float, dict[str, str]] | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeSms:
        assert self._server is None, "already started"
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._threads = [threading.Thread(target=self._server.serve_forever, name="fake-sms", daemon=True),
                         threading.Thread(target=self._report_loop, name="fake-sms-reports", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._reports.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSms:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def settings(self) -> dict[str, str]:
        """The Sika settings that point the SMS adapter here."""
        return {"africastalking_url": self.url, "africastalking_username": self.username,
                "africastalking_api_key": self.api_key}

    # What tests and people use -------------------------------------------------------------------

    def messages(self, to: str | None = None) -> list[Sms]:
        with self._lock:
            return [m for m in self._messages if to is None or m.to == to]

    def wait_for(self, to: str, count: int = 1, timeout_s: float = 5.0) -> list[Sms]:
        """The messages to ``to`` once there are ``count`` of them (or what arrived in time)."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len([m for m in self._messages if m.to == to]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return [m for m in self._messages if m.to == to]

    def fail_next(self, count: int = 1, http_status: int = 500) -> None:
        with self._lock:
            self._fail_next.extend([http_status] * count)

    def heal(self) -> None:
        """The gateway answers again: failures still to come are forgotten."""
        with self._lock:
            self._fail_next.clear()

    def refuse(self, number: str, status_code: int = 406) -> None:
        assert status_code in _STATUS_TEXT and status_code != 101, status_code
        with self._lock:
            self._refused[number] = status_code

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    # The wire --------------------------------------------------------------------------------------

    def handle_send(self, api_key: str | None, form: dict[str, str]) -> tuple[int, Any]:
        if api_key != self.api_key:
            return 401, "The supplied authentication is invalid"
        with self._lock:
            failure = self._fail_next.pop(0) if self._fail_next else None
        if failure is not None:
            return failure, "Internal Server Error"
        if form.get("username") != self.username:
            return 401, "The supplied authentication is invalid"
        if not form.get("to") or not form.get("message"):
            return 400, "Request is missing required form field 'to' or 'message'"
        numbers = [n.strip() for n in form["to"].split(",") if n.strip()][:RECIPIENTS_MAX]
        time.sleep(self.delay_s)
        recipients = [self._accept(number, form) for number in numbers]
        sent = sum(1 for r in recipients if r["statusCode"] == 101)
        total = f"XOF {20 * sent}.0000"
        return 201, {"SMSMessageData": {"Message": f"Sent to {sent}/{len(numbers)} Total Cost: {total}",
                                        "Recipients": recipients}}

    def _accept(self, number: str, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            code = 403 if not _E164.fullmatch(number) else self._refused.get(number, 101)
            if code != 101:
                return {"statusCode": code, "number": number, "status": _STATUS_TEXT[code], "cost": "0",
                        "messageId": "None"}
            message = Sms(id=f"{self._prefix}_{next(self._serial)}", to=number, sender=form.get("from"),
                          text=form["message"], status="Sent", at=time.time())
            self._messages.append(message)
            del self._messages[:-MESSAGES_MAX]
            self._arrived.notify_all()
        if self.callback_url:
            report = {"id": message.id, "status": self.report_status, "phoneNumber": number,
                      "networkCode": "61501", "retryCount": "0"}
            if self.report_status in ("Failed", "Rejected"):
                report["failureReason"] = self.failure_reason
            self._reports.put((time.monotonic() + self.report_delay_s, report))
        return {"statusCode": 101, "number": number, "status": "Success", "cost": COST,
                "messageId": message.id}

    def handle_control(self, body: dict[str, Any]) -> tuple[int, Any]:
        if "fail_next" in body:
            self.heal()
            self.fail_next(int(body["fail_next"]), int(body.get("http_status", 500)))
        if "refuse" in body:
            self.refuse(str(body["refuse"]), int(body.get("status_code", 406)))
        if "delay_s" in body:
            self.delay_s = max(0.0, min(float(body["delay_s"]), 30.0))
        if "report_status" in body:
            self.report_status = str(body["report_status"])
            self.failure_reason = str(body.get("failure_reason", self.failure_reason))
        return 200, {"delay_s": self.delay_s, "report_status": self.report_status,
                     "refused": dict(self._refused), "fail_next": len(self._fail_next)}

    def _report_loop(self) -> None:
        while (item := self._reports.get()) is not None:
            due, report = item
            time.sleep(max(0.0, due - time.monotonic()))
            assert self.callback_url is not None
            request = urllib.request.Request(  # noqa: S310 (the callback URL we were given)
                self.callback_url, data=urlencode(report).encode(), method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
                    answer.read()
                self.reports_sent += 1
                self._reported(report["id"], report["status"])
            except OSError as exc:
                self.report_errors.append(f"{report['id']}: {exc}")


    def _reported(self, message_id: str, status: str) -> None:
        with self._lock:
            self._messages = [replace(m, status=status) if m.id == message_id else m for m in self._messages]


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSms
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read the messages, not the access log

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > REQUEST_BYTES_MAX:
            self._answer(413, "Request too large")
            return
        raw = self.rfile.read(length).decode("utf-8", "replace")
        path = urlsplit(self.path).path
        if path == "/version1/messaging":
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            self._answer(*self.owner.handle_send(self.headers.get("apiKey"), form))
        elif path == "/control":
            try:
                body = json.loads(raw or "{}")
                self._answer(*self.owner.handle_control(body))
            except (ValueError, TypeError, AssertionError) as exc:
                self._answer(400, {"error": str(exc)})
        else:
            self._answer(404, "Not Found")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/messages":
            self._answer(404, "Not Found")
            return
        to = parse_qs(parts.query).get("to", [None])[0]
        listed = [{k: v for k, v in asdict(m).items() if k != "sender"} | {"from": m.sender}
                  for m in self.owner.messages(to)]
        self._answer(200, {"messages": listed})

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path != "/messages":
            self._answer(404, "Not Found")
            return
        self.owner.clear()
        self._answer(200, {"messages": []})

    def _answer(self, status: int, body: Any) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sika_fakes.sms", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--username", default="sandbox")
    parser.add_argument("--api-key", default="fake-at-key")
    parser.add_argument("--callback", default=None, help="where delivery reports go")
    args = parser.parse_args(argv)
    fake = FakeSms(username=args.username, api_key=args.api_key, callback_url=args.callback,
                   port=args.port).start()
    print(f"fake Africa's Talking SMS API at {fake.url} (GET {fake.url}/messages)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.close()


if __name__ == "__main__":
    main()
