"""``sika.keepalive``: HTTP/1.1 on kept connections, read as the bytes on the wire say, against a
server that answers each request with the next of a script of raw answers."""

from __future__ import annotations

import errno
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sika.chat.whatsapp.graph import KeepAliveTransport
from sika.keepalive import Connections
from sika.providers._http import Http
from sika.providers.base import ProviderUnavailable

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
CLOSE = object()  # the script's step: close the connection once the request is read, without answering


class AndReset(bytes):
    """The script's step: this answer, then the connection reset (RST), as a crashing server's."""


class AndClose(bytes):
    """The script's step: this answer, then the connection closed (as a server's idle timeout does)."""


class ScriptedServer:
    """Reads each request (head and ``Content-Length`` body) and sends the script's next answer."""

    def __init__(self, script: list[bytes | object], tls: ssl.SSLContext | None = None) -> None:
        self.script = list(script)
        self._tls = tls
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request)
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            if self._tls is not None:
                try:
                    sock = self._tls.wrap_socket(sock, server_side=True)
                except OSError:  # a client that refused the certificate
                    sock.close()
                    continue
            threading.Thread(target=self._handle, args=(sock, self.connections), daemon=True).start()

    def _handle(self, sock: socket.socket, number: int) -> None:
        buffer = b""
        with sock:
            while self.script:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                self.requests.append((number, head + b"\r\n\r\n" + buffer[:length]))
                buffer = buffer[length:]
                step = self.script.pop(0)
                if step is CLOSE:
                    return
                assert isinstance(step, bytes)
                sock.sendall(step)
                if isinstance(step, AndReset):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    time.sleep(0.05)  # the answer's bytes reach the client before the reset
                    return
                if isinstance(step, AndClose):
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(*script: bytes | object) -> ScriptedServer:
        servers.append(ScriptedServer(list(script)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _post(connections: Connections, server: ScriptedServer, body: bytes = b"{}", body_max: int = 1000,
          method: str = "POST") -> tuple[int, bytes]:
    connection = connections.connection("http", "127.0.0.1", server.port, connect_s=2, timeout_s=2)
    response = connection.exchange(method, "/v1/messages?x=1", {"Content-Type": "application/json"}, body,
                                   body_max=body_max)
    return response.status, response.body


def test_one_connection_serves_request_after_request_and_the_request_is_well_formed(serve) -> None:
    server = serve(OK, OK, OK)
    connections = Connections()
    for _ in range(3):
        assert _post(connections, server, b'{"to":"228"}') == (200, b'{"ok":true}')
    assert server.connections == 1 and [n for n, _ in server.requests] == [1, 1, 1]
    request = server.requests[0][1]
    assert request.startswith(b"POST /v1/messages?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in request
    assert b"Content-Length: 12\r\n" in request and request.endswith(b'\r\n\r\n{"to":"228"}')
    connections.close()


def test_chunked_answers_with_extensions_and_trailers_and_interim_answers_before(serve) -> None:
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;name=x\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-Trailer: yes\r\n\r\n")
    server = serve(chunked, OK)
    connections = Connections()
    assert _post(connections, server) == (201, b'{"a":1}')
    assert _post(connections, server) == (200, b'{"ok":true}')  # on the same connection
    assert server.connections == 1
    connections.close()


def test_connection_close_http_1_0_and_answers_to_the_end_are_not_kept(serve) -> None:
    server = serve(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", OK)
    connections = Connections()
    assert _post(connections, server) == (200, b"{}")
    assert _post(connections, server) == (200, b'{"ok":true}')
    assert server.connections == 2
    # HTTP/1.0 without keep-alive, and no length: the body is what comes before the end.
    old = serve(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2]")
    assert _post(connections, old, method="GET", body=None) == (200, b"[1, 2]")
    connections.close()


def test_no_body_for_head_and_204(serve) -> None:
    server = serve(b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", OK)
    connections = Connections()
    assert _post(connections, server) == (204, b"")
    assert _post(connections, server, method="HEAD", body=None) == (200, b"")
    assert _post(connections, server) == (200, b'{"ok":true}')
    assert server.connections == 1
    connections.close()


def test_an_answer_larger_than_asked_is_cut_and_its_connection_dropped(serve) -> None:
    big = b"x" * 5000
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n" + big + b"\r\n0\r\n\r\n"
    server = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + big, chunked, OK)
    connections = Connections()
    assert _post(connections, server, body_max=100) == (200, b"x" * 101)
    assert _post(connections, server, body_max=100) == (200, b"x" * 101)
    assert _post(connections, server) == (200, b'{"ok":true}')
    assert server.connections == 3  # each cut answer's connection was dropped
    connections.close()


def test_bytes_no_request_asked_for_drop_the_connection(serve) -> None:
    server = serve(OK + b"HTTP/1.1 200 OK\r\n", OK)
    connections = Connections()
    assert _post(connections, server) == (200, b'{"ok":true}')
    assert _post(connections, server) == (200, b'{"ok":true}')
    assert server.connections == 2
    connections.close()


@pytest.mark.parametrize("answer", [
    b"SMTP 220 hello\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n" * 20,
    b"HTTP/1.1 099 Low\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n{}".encode("latin-1"),  # a digit to isdigit()
    "HTTP/1.1 \u00b2\u00b2\u00b2 OK\r\n\r\n".encode("latin-1"),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
])
def test_what_is_not_http_is_a_protocol_error_and_the_connection_is_dropped(serve, answer: bytes) -> None:
    server = serve(answer, OK)
    connections = Connections()
    with pytest.raises(OSError) as raised:
        _post(connections, server)
    assert raised.value.errno == errno.EPROTO
    assert _post(connections, server) == (200, b'{"ok":true}')
    assert server.connections == 2
    connections.close()


def test_an_answer_cut_short_is_an_aborted_connection(serve) -> None:
    server = serve(AndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"partial\""))
    connections = Connections()
    with pytest.raises(ConnectionAbortedError):
        _post(connections, server)
    connections.close()


def test_a_reset_inside_an_answer_is_not_taken_for_a_request_never_answered(serve) -> None:
    server = serve(OK, AndReset(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"messages\""), OK)
    transport = KeepAliveTransport()
    url = f"http://127.0.0.1:{server.port}/v1/messages"
    assert transport.post(url, b"{}", {}, 2) == (200, b'{"ok":true}')
    with pytest.raises(ConnectionAbortedError):  # the server acted on it: not said again
        transport.post(url, b"{}", {}, 2)
    assert len(server.requests) == 2
    transport.close()


def test_a_header_unfit_to_send_is_refused_before_anything_is_sent(serve) -> None:
    server = serve(OK)
    connections = Connections()
    connection = connections.connection("http", "127.0.0.1", server.port, connect_s=2, timeout_s=2)
    for headers in ({"X-Bad": "a\r\nInjected: 1"}, {"Bad Name": "x"}, {"Content-Length": "3"},
                    {"Transfer-Encoding": "chunked"}):
        with pytest.raises(ValueError, match="unfit"):
            connection.exchange("POST", "/", headers, b"{}", body_max=10)
    with pytest.raises(ValueError, match="unfit"):
        connection.exchange("POST", "/a b", {}, b"{}", body_max=10)
    assert server.requests == []
    assert _post(connections, server) == (200, b'{"ok":true}')  # the connection is still good
    connections.close()


def test_a_kept_connection_the_server_closed_while_idle_is_replaced_before_use(serve) -> None:
    server = serve(AndClose(OK), OK)
    connections = Connections()
    kept = connections.connection("http", "127.0.0.1", server.port, connect_s=2, timeout_s=2)
    assert kept.exchange("POST", "/", {}, b"{}", body_max=100).status == 200
    deadline = time.monotonic() + 2
    while kept.idle_and_open() and time.monotonic() < deadline:  # the server's close arrives
        time.sleep(0.01)
    assert _post(connections, server) == (200, b'{"ok":true}')  # on a new connection, without an error
    assert [n for n, _ in server.requests] == [1, 2]
    connections.close()


def test_the_graph_transport_says_a_request_again_only_when_a_kept_connection_was_lost(serve) -> None:
    server = serve(OK, CLOSE, OK)
    transport = KeepAliveTransport()
    url = f"http://127.0.0.1:{server.port}/v1/messages"
    assert transport.post(url, b"{}", {}, 2) == (200, b'{"ok":true}')
    # The kept connection is closed by the server on the next request, unanswered: sent again once.
    assert transport.post(url, b"{}", {}, 2) == (200, b'{"ok":true}')
    assert [n for n, _ in server.requests] == [1, 1, 2]
    transport.close()
    fresh = serve(CLOSE)
    with pytest.raises(ConnectionResetError):  # a new connection that fails is not tried again
        KeepAliveTransport().post(f"http://127.0.0.1:{fresh.port}/", b"{}", {}, 2)


def test_a_provider_request_that_is_not_idempotent_is_not_said_again(serve) -> None:
    server = serve(OK, CLOSE, OK)
    http = Http(f"http://127.0.0.1:{server.port}", provider="Test", retries_max=2, backoff_s=0)
    assert http.post_json("/pay", {"a": 1}, idempotent=False).body == {"ok": True}
    with pytest.raises(ProviderUnavailable, match="no answer"):
        http.post_json("/pay", {"a": 1}, idempotent=False)
    assert len(server.requests) == 2
    assert http.post_json("/pay", {"a": 1}, idempotent=True).body == {"ok": True}
    http.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificate with openssl")
def test_https_is_checked_against_the_given_roots(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    server = ScriptedServer([OK, OK, OK], tls=server_side)
    try:
        trusting = Connections(ssl.create_default_context(cafile=str(cert)))
        for _ in range(2):
            connection = trusting.connection("https", "localhost", server.port, connect_s=2, timeout_s=2)
            assert connection.exchange("GET", "/", {}, None, body_max=100).body == b'{"ok":true}'
        assert server.connections == 1
        assert f"Host: localhost:{server.port}".encode() in server.requests[0][1]
        trusting.close()
        with pytest.raises(ssl.SSLCertVerificationError):  # the system's roots do not know it
            Connections().connection("https", "localhost", server.port, connect_s=2, timeout_s=2)
    finally:
        server.close()
