"""The HTTP/1.1 side of the mock server: persistent connections, and faults below HTTP.

werkzeug's development server closes the connection after every answer, so a client's
connection pool (urllib3's, httpx's) would never be exercised against a mock. The handler here
keeps werkzeug's WSGI environment and threading, and answers the way a production server does:
every answer carries a ``Content-Length``, the request body is drained before the next request
is read, and the connection stays open unless the client asked otherwise (``Connection: close``,
HTTP/1.0) or stays idle for :attr:`KeepAliveHandler.timeout` seconds.

A WSGI application asks for what HTTP cannot express by setting :data:`ABORT` in the environ
and returning no answer: ``"reset"`` closes the connection with a TCP reset (the client sees
"connection reset by peer"), ``"close"`` closes it cleanly without an answer (the client sees
the server hang up). :data:`CONNECTION` gives the application the client's socket, to notice a
client that gave up while a request is held.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

__all__ = ["ABORT", "CONNECTION", "TRICKLE", "ConnectionRegistry", "KeepAliveHandler", "client_gone"]

log = logging.getLogger("cloudcat.mock")

#: Environ key: set to ``"reset"`` or ``"close"`` to drop the connection instead of answering.
ABORT = "cloudcat.abort"
#: Environ key: ``(pause_s, stopping)`` to send the answer's body one byte at a time, ``pause_s``
#: before each, until it is sent, the client goes or ``stopping`` (a :class:`threading.Event`) is set.
TRICKLE = "cloudcat.trickle"
#: Environ key: the client's socket.
CONNECTION = "cloudcat.connection"

_NO_BODY = frozenset({204, 304})


class ConnectionRegistry:
    """The connections a server holds open, so that stopping it ends idle keep-alive connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def add(self, conn: socket.socket) -> None:
        """Note an accepted connection."""
        with self._lock:
            self._open.add(conn)

    def discard(self, conn: socket.socket) -> None:
        """Forget a closed connection."""
        with self._lock:
            self._open.discard(conn)

    def close_all(self) -> None:
        """Shut every open connection down (the handler threads then see end of stream)."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def client_gone(conn: socket.socket | None) -> bool:
    """Whether a client waiting for an answer has closed its side (or sent anything: it gave up on
    this request). Never blocks."""
    if conn is None:
        return False
    try:
        readable, _, _ = select.select([conn], [], [], 0)
    except (OSError, ValueError):  # already closed
        return True
    return bool(readable)


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler, answering with persistent HTTP/1.1 connections.

    Bodies are buffered (mock answers are small), so each answer has an exact ``Content-Length``.
    """

    protocol_version = "HTTP/1.1"
    #: Seconds an idle connection is kept open.
    timeout = 60
    #: Set per server by :func:`handler_for`.
    registry: ClassVar[ConnectionRegistry]

    def setup(self) -> None:
        """Track the connection; send small answers at once (no Nagle delay on a kept-alive socket)."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.registry.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        try:
            super().finish()
        finally:
            self.registry.discard(self.connection)

    def run_wsgi(self) -> None:
        """Run the application for one request and answer it, keeping the connection open."""
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.environ = self.make_environ()
        body = _request_body(environ, self.rfile)
        environ[CONNECTION] = self.connection
        try:
            status, headers, payload = _call(self.server.app, environ)
        except Exception:  # the application's bug: answer 500 and start afresh on a new connection
            log.exception("mock application failed on %s %s", self.command, self.path)
            status, headers, payload = "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"mock failed"
            self.close_connection = True
        _drain(body)
        abort = environ.get(ABORT)
        if abort:
            self._abort(str(abort))
            return
        self._answer(status, headers, payload, environ.get(TRICKLE))

    def _answer(self, status: str, headers: list[tuple[str, str]], payload: bytes,
                trickle: tuple[float, threading.Event] | None = None) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        if any(k.lower() == "connection" and v.lower().strip() == "close" for k, v in headers):
            self.close_connection = True
        self.send_response(code, reason)
        length = str(len(payload))
        for key, value in headers:
            if key.lower() == "content-length" and self.command == "HEAD":
                length = value  # the length a GET would have had
            elif key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        if code not in _NO_BODY and not 100 <= code < 200:
            self.send_header("Content-Length", length)
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command == "HEAD" or code in _NO_BODY:
            return
        if trickle is None:
            self.wfile.write(payload)
        else:
            self._trickle(payload, *trickle)

    def _trickle(self, payload: bytes, pause: float, stopping: threading.Event) -> None:
        """Send ``payload`` a byte at a time, ``pause`` before each, until the client goes or the
        server stops (the connection is then closed after it)."""
        for i in range(len(payload)):
            if stopping.wait(pause):
                self.close_connection = True
                return
            try:
                self.wfile.write(payload[i:i + 1])
            except OSError:  # the client went
                self.close_connection = True
                return

    def _abort(self, how: str) -> None:
        self.close_connection = True
        if how != "reset":
            return  # the server then closes the connection as after any last answer
        with contextlib.suppress(OSError):
            # a zero linger turns close() into a TCP reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # the file holds a reference that would keep the socket open
            self.connection.close()


def handler_for(registry: ConnectionRegistry) -> type[KeepAliveHandler]:
    """A handler class bound to one server's connection registry."""
    return type("MockRequestHandler", (KeepAliveHandler,), {"registry": registry})


def _request_body(environ: dict[str, Any], rfile: Any) -> Any:
    """Bound the request body so that what the application leaves unread can be drained."""
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug decodes it up to its end
        return environ["wsgi.input"]
    try:
        length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        length = 0
    stream = LimitedStream(rfile, length)
    environ["wsgi.input"] = stream
    environ["wsgi.input_terminated"] = True
    return stream


def _drain(body: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        if isinstance(body, LimitedStream):
            body.exhaust()
        else:
            while body.read(65536):
                pass


def _call(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI application to completion: its status, headers and whole body."""
    answer: dict[str, Any] = {"status": "500 INTERNAL SERVER ERROR", "headers": []}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, list(headers)
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], b"".join(chunks)
