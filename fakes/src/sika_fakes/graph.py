"""A local stand-in for the Cloud API's messages endpoint, strict about Meta's limits.

``FakeGraph`` is a real HTTP/1.1 server on 127.0.0.1 (keep-alive, a thread per connection) that
answers ``POST /{version}/{phone_number_id}/messages`` as Meta does: it checks the bearer token,
validates the body against Meta's documented limits (texts, reply buttons, lists, templates) and
answers ``400`` with Meta's error JSON when one is broken, or ``200`` with a fresh ``wamid``. It keeps
every accepted message, and can be told to fail the next requests (``500``, throttling codes).
Tests and ``sika bench`` point ``SIKA_WHATSAPP_API_URL`` at :attr:`FakeGraph.url`.

    with FakeGraph() as graph:
        client = GraphClient(graph.url, graph.phone_number_id, graph.token)

The limits are the fake's own copy of Meta's documentation (:mod:`sika_fakes.meta_limits`), not
Sika's: a fake that checked Sika's renderer against Sika's own numbers would prove nothing.

``FakeGraph(serving="asyncio")`` serves the same answers from one event loop (uvloop when installed) on
one thread, with a minimal HTTP/1.1 parser (request line, headers, a ``Content-Length`` body; ``400``
for anything else): a load test's fake must not cost more CPU than the system it measures, and
``http.server``'s thread per connection and ``email``-module header parsing cost more than the JSON
validation. Both modes validate, answer and record through :meth:`FakeGraph.handle`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from sika_fakes import meta_limits as limit
from sika_fakes._graph_lean import HEAD_BYTES_MAX, LeanServer, new_event_loop
from sika_fakes.meta_limits import width

__all__ = ["HEAD_BYTES_MAX", "FakeGraph", "Refused", "Sent", "Serving", "new_event_loop", "validate"]

REQUEST_BYTES_MAX = 1024 * 1024
Serving = Literal["threads", "asyncio"]
# Meta's codes: 100 invalid parameter, 131008 required parameter missing, 131009 value not valid,
# 190 bad access token, 132000/132018 template parameters.
INVALID_PARAMETER = 100
MISSING_PARAMETER = 131008
INVALID_VALUE = 131009
INVALID_TOKEN = 190
TEMPLATE_PARAMETERS = 132018
_WA_ID = re.compile(r"\+?[0-9]{6,15}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")


@dataclass(frozen=True, slots=True)
class Sent:
    wamid: str
    phone_number_id: str
    body: dict[str, Any]
    at_s: float  # time.monotonic() when it arrived

    @property
    def to(self) -> str:
        return str(self.body["to"]).removeprefix("+")

    @property
    def text(self) -> str:
        """What the person reads first: a text's body, an interactive body, a template's parameters."""
        kind = self.body["type"]
        if kind == "text":
            return str(self.body["text"]["body"])
        if kind == "interactive":
            return str(self.body["interactive"]["body"]["text"])
        parameters = [p["text"] for c in self.body["template"].get("components", [])
                      for p in c.get("parameters", [])]
        return " ".join(parameters)


class Refused(Exception):
    """Why Meta would answer 400: its error ``code`` and the ``details`` it gives."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class FakeGraph:
    def __init__(self, *, token: str = "fake-graph-token",  # noqa: S107 (a fake's token)
                 phone_number_id: str = "106540352242922", version: str = "v21.0",
                 serving: Serving = "threads") -> None:
        assert serving in ("threads", "asyncio"), serving
        self.token = token
        self.serving = serving
        self.phone_number_id = phone_number_id
        self.version = version
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._sent: list[Sent] = []
        self._rejected: list[tuple[dict[str, Any] | None, str]] = []
        self._failures: list[tuple[int, int | None]] = []
        self.requests = 0
        # wamids: unique across fakes (a database keeps them unique) without a uuid4 per message.
        self._wamid_prefix = f"wamid.{secrets.token_hex(6)}."
        self._serial = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lean: LeanServer | None = None

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> FakeGraph:
        assert self._server is None and self._lean is None, "already started"
        if self.serving == "asyncio":
            self._lean = LeanServer(self.handle)
            return self
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._lean is not None:
            self._lean.close()
            self._lean = None
            return
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.drop_connections()
        server.server_close()  # joins the connection threads, now that their sockets are shut
        self._server = self._thread = None

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base, like ``https://graph.facebook.com/v21.0``."""
        if self._lean is not None:
            host, port = self._lean.address
            return f"http://{host}:{port}/{self.version}"
        assert self._server is not None, "not started"
        address, number = self._server.server_address[:2]
        return f"http://{address!s}:{number}/{self.version}"

    # What tests look at --------------------------------------------------------------------------

    @property
    def sent(self) -> list[Sent]:
        with self._lock:
            return list(self._sent)

    @property
    def rejected(self) -> list[tuple[dict[str, Any] | None, str]]:
        """Bodies answered with a 400, and why."""
        with self._lock:
            return list(self._rejected)

    def texts_to(self, msisdn: str) -> list[str]:
        digits = msisdn.removeprefix("+")
        return [message.text for message in self.sent if message.to == digits]

    def wait_for(self, count: int, timeout_s: float = 5.0) -> bool:
        """Whether ``count`` messages were accepted within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len(self._sent) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
            return True

    def fail_next(self, count: int, *, status: int | None = None, error_code: int | None = None) -> None:
        """Answer the next ``count`` requests with an error: ``500`` by default, or Meta's
        ``error_code`` (130429 throughput, 131056 pair rate, 131049 per-user marketing limit, …) with
        ``status`` (400 by default), in Meta's words."""
        answer = status if status is not None else (400 if error_code is not None else 500)
        with self._lock:
            self._failures.extend([(answer, error_code)] * count)

    # Serving -------------------------------------------------------------------------------------

    def handle(self, path: str, authorization: str | None, raw: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            failure = self._failures.pop(0) if self._failures else None
        if authorization != f"Bearer {self.token}":
            return 401, _error(INVALID_TOKEN, "Invalid OAuth access token - Cannot parse access token",
                               "OAuthException")
        segments = [s for s in path.split("?", 1)[0].split("/") if s]
        if not 2 <= len(segments) <= 3 or segments[-1] != "messages":
            return 400, _error(INVALID_PARAMETER, f"Unknown path components: {path[:80]}")
        if segments[-2] != self.phone_number_id:
            return 400, _error(INVALID_PARAMETER, f"Unsupported post request. Object with ID "
                                                  f"'{segments[-2][:40]}' does not exist")
        if failure is not None:
            status, code = failure
            if code is None:
                return status, _error(1, "An unknown error occurred")
            message, details = _LIMITS.get(code, ("Rate limit hit", "Rate limit hit"))
            return status, _error(code, f"(#{code}) {message}", details=details)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        problem = validate(body)
        if problem is not None:
            with self._lock:
                self._rejected.append((body if isinstance(body, dict) else None, problem.details))
            return 400, _error(problem.code, f"(#{problem.code}) {problem.details}")
        assert isinstance(body, dict)
        with self._arrived:
            wamid = f"{self._wamid_prefix}{next(self._serial)}"
            self._sent.append(Sent(wamid=wamid, phone_number_id=segments[-2], body=body,
                                   at_s=time.monotonic()))
            self._arrived.notify_all()
        to = str(body["to"])
        return 200, {"messaging_product": "whatsapp",
                     "contacts": [{"input": to, "wa_id": to.removeprefix("+")}], "messages": [{"id": wamid}]}


def validate(body: object) -> Refused | None:
    """What Meta would refuse in a message body, or None."""
    try:
        _validate(body)
    except Refused as problem:
        return problem
    return None


def _validate(body: object) -> None:
    message = _object(body, "body")
    if message.get("messaging_product") != "whatsapp":
        raise Refused(MISSING_PARAMETER, "messaging_product must be 'whatsapp'")
    if message.get("recipient_type", "individual") != "individual":
        raise Refused(INVALID_VALUE, "recipient_type must be 'individual'")
    to = message.get("to")
    if not isinstance(to, str) or _WA_ID.fullmatch(to) is None:
        raise Refused(INVALID_VALUE, "to is not a phone number")
    kind = message.get("type")
    if kind == "text":
        text = _object(message.get("text"), "text")
        _string(text.get("body"), "text.body", limit.TEXT_BODY)
        if not isinstance(text.get("preview_url", False), bool):
            raise Refused(INVALID_VALUE, "text.preview_url must be a boolean")
    elif kind == "interactive":
        _interactive(_object(message.get("interactive"), "interactive"))
    elif kind == "template":
        _template(_object(message.get("template"), "template"))
    else:
        raise Refused(INVALID_VALUE, f"type {str(kind)[:20]!r} is not supported here")


def _interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    _string(_object(interactive.get("body"), "interactive.body").get("text"), "interactive.body.text",
            limit.INTERACTIVE_BODY)
    if "header" in interactive:
        header = _object(interactive["header"], "interactive.header")
        if header.get("type") != "text":
            raise Refused(INVALID_VALUE, "interactive.header.type must be 'text' here")
        _string(header.get("text"), "interactive.header.text", limit.HEADER_TEXT)
    if "footer" in interactive:
        _string(_object(interactive["footer"], "interactive.footer").get("text"), "interactive.footer.text",
                limit.FOOTER_TEXT)
    action = _object(interactive.get("action"), "interactive.action")
    if kind == "button":
        _buttons(action)
    elif kind == "list":
        _list(action)
    else:
        raise Refused(INVALID_VALUE, "interactive.type must be 'button' or 'list'")


def _buttons(action: dict[str, Any]) -> None:
    buttons = _array(action.get("buttons"), "action.buttons", 1, limit.BUTTONS_MAX)
    ids, titles = [], []
    for item in buttons:
        button = _object(item, "action.buttons[]")
        if button.get("type") != "reply":
            raise Refused(INVALID_VALUE, "a button's type must be 'reply'")
        reply = _object(button.get("reply"), "action.buttons[].reply")
        ids.append(_string(reply.get("id"), "button id", limit.BUTTON_ID))
        titles.append(_string(reply.get("title"), "button title", limit.BUTTON_TITLE))
    if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
        raise Refused(INVALID_VALUE, "button ids and titles must be unique")


def _list(action: dict[str, Any]) -> None:
    _string(action.get("button"), "action.button", limit.LIST_BUTTON)
    sections = _array(action.get("sections"), "action.sections", 1, limit.LIST_SECTIONS_MAX)
    ids: list[str] = []
    for item in sections:
        section = _object(item, "action.sections[]")
        if len(sections) > 1 or "title" in section:
            _string(section.get("title"), "section title", limit.SECTION_TITLE)
        rows = _array(section.get("rows"), "section rows", 1, limit.LIST_ROWS_MAX)
        for cell in rows:
            row = _object(cell, "row")
            ids.append(_string(row.get("id"), "row id", limit.ROW_ID))
            _string(row.get("title"), "row title", limit.ROW_TITLE)
            if "description" in row:
                _string(row.get("description"), "row description", limit.ROW_DESCRIPTION)
    if len(ids) > limit.LIST_ROWS_MAX:
        raise Refused(INVALID_VALUE, f"a list holds at most {limit.LIST_ROWS_MAX} rows in all")
    if len(set(ids)) != len(ids):
        raise Refused(INVALID_VALUE, "row ids must be unique")


def _template(template: dict[str, Any]) -> None:
    _string(template.get("name"), "template.name", limit.TEMPLATE_NAME)
    code = _object(template.get("language"), "template.language").get("code")
    if not isinstance(code, str) or _LANGUAGE.fullmatch(code) is None:
        raise Refused(INVALID_VALUE, "template.language.code is not a language")
    if "components" not in template:
        return
    for item in _array(template.get("components"), "template.components", 1, 10):
        component = _object(item, "template.components[]")
        if component.get("type") not in ("header", "body", "button"):
            raise Refused(INVALID_VALUE, "a template component's type is header, body or button")
        for value in _array(component.get("parameters"), "parameters", 1, 20):
            parameter = _object(value, "parameter")
            if parameter.get("type") != "text":
                raise Refused(INVALID_VALUE, "only text parameters are supported here")
            text = _string(parameter.get("text"), "parameter text", limit.TEMPLATE_PARAM)
            spaces = " " * (limit.TEMPLATE_PARAM_SPACES_MAX + 1)
            if "\n" in text or "\t" in text or spaces in text:
                raise Refused(TEMPLATE_PARAMETERS, "Param text cannot have new-line/tab characters or "
                                                    "more than 4 consecutive spaces")


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused(MISSING_PARAMETER, f"{name} must be an object")
    return value


def _array(value: object, name: str, count_min: int, count_max: int) -> list[Any]:
    if not isinstance(value, list) or not count_min <= len(value) <= count_max:
        raise Refused(INVALID_VALUE, f"{name} must hold {count_min} to {count_max} items")
    return value


def _string(value: object, name: str, units_max: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(MISSING_PARAMETER, f"{name} is required")
    # width() walks the text in Python: an ASCII text, most of them, is as long as it is in UTF-16.
    if (len(value) if value.isascii() else width(value)) > units_max:
        raise Refused(INVALID_VALUE, f"{name} is longer than {units_max} characters")
    return value


# Meta's wording for the limits a test can ask for (Cloud API error codes page): the message, and
# error_data.details.
_LIMITS = {
    130429: ("Rate limit hit", "Message failed to send because there were too many messages sent from this "
             "phone number in a short period of time."),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
    131056: ("(Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone number to "
             "the same phone number in a short period of time."),
}


def _error(code: int, message: str, kind: str = "OAuthException", *,
           details: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": details or message},
                      "fbtrace_id": uuid.uuid4().hex[:24]}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    wbufsize = -1   # one write per answer (headers and body together)
    timeout = 60    # an idle kept-alive connection is closed after this long

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        length_header = self.headers.get("Content-Length", "")
        if not length_header.isdigit() or int(length_header) > REQUEST_BYTES_MAX:
            self._answer(413 if length_header.isdigit() else 411, _error(INVALID_PARAMETER, "bad length"))
            self.close_connection = True
            return
        raw = self.rfile.read(int(length_header))
        status, answer = self.server.fake.handle(self.path, self.headers.get("Authorization"), raw)
        self._answer(status, answer)

    def _answer(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark sends thousands of requests."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def __init__(self, fake: FakeGraph) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake the threads that wait on kept-alive connections, so that they end."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by its client
                sock.shutdown(socket.SHUT_RDWR)
