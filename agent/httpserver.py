"""A small threaded HTTP/1.1 server base: JSON in and out, size limits, read timeouts.

The agent's control API and activator are control-plane paths (the warm data path is HAProxy),
so the standard library's threaded server is enough and keeps the agent's footprint small.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("plat.agent.http")


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for HTTPS: TLS 1.2 or newer, the certificate chain and key from PEM files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return ctx


class Server(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them (more get a 503 at once),
    and a whole-request deadline: a client has `request_deadline` seconds from its first byte
    (or from the end of its previous request) to the end of its headers and body, however
    slowly it trickles them. Responses (a log stream) are not under the deadline."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    max_connections = 1024
    request_deadline = 30.0
    ssl_context: ssl.SSLContext | None = None
    """When set, every connection is TLS: its handshake runs in the connection's own thread
    (under the handler's timeout), so a slow client never holds up `accept`."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._deadlines: dict[socket.socket, float] = {}
        self._watch_lock = threading.Lock()
        threading.Thread(target=self._reap, name="deadlines", daemon=True).start()

    def watch(self, conn: socket.socket) -> None:
        with self._watch_lock:
            self._deadlines[conn] = time.monotonic() + self.request_deadline

    def unwatch(self, conn: socket.socket) -> None:
        with self._watch_lock:
            self._deadlines.pop(conn, None)

    def _reap(self) -> None:
        """Cut connections past their deadline: their blocked read returns and the thread ends."""
        while True:
            time.sleep(min(1.0, self.request_deadline / 4))
            now = time.monotonic()
            with self._watch_lock:  # held while cutting: a request that just got in is unwatched first
                for c in [c for c, t in self._deadlines.items() if t < now]:
                    del self._deadlines[c]
                    try:
                        c.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                if self.ssl_context is None:
                    request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                    b"Retry-After: 1\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.unwatch(request)
            self._slots.release()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up, timing out or failing the TLS handshake are routine; anything
        else is logged, not printed."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        if isinstance(exc, ssl.SSLError):
            log.debug("TLS error from %s: %s", client_address, exc)
            return
        log.error("error serving %s", client_address, exc_info=exc)


HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                        "transfer-encoding", "upgrade", "content-length"})
"""Headers about one connection's framing: never forwarded, never replayed."""


class BodyTooLarge(Exception):
    pass


class BadFraming(ValueError):
    """A body framed in a way this server will not guess at (answered 400, connection closed)."""


_CHUNK_SIZE = re.compile(rb"^[0-9a-fA-F]{1,16}$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may take to send headers/body: slow clients are cut off
    max_body = 10 * 1024 * 1024
    server_version = "plat-agent"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    server: Server

    def handle_one_request(self) -> None:
        self.server.watch(self.connection)  # until this request's headers and body are in
        super().handle_one_request()

    def parse_request(self) -> bool:
        self._body_read = False  # one handler serves every request of a keep-alive connection
        ok = super().parse_request()
        if ok and not self._body_pending():
            self.server.unwatch(self.connection)
        return ok

    def _body_pending(self) -> bool:
        """Whether body bytes of this request may still be on the wire (refused or never read)."""
        if getattr(self, "_body_read", True):
            return False
        if self.headers.get("Transfer-Encoding"):
            return True
        try:
            return int(self.headers.get("Content-Length") or 0) != 0
        except ValueError:
            return True

    def read_body(self) -> bytes:
        """The request's body, at most `max_body` bytes held at any time, however it is framed.

        Only `chunked` or one Content-Length is accepted (both at once, or any other transfer
        coding, could be read two ways by two parsers: request smuggling)."""
        coding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if coding is not None:
            if coding.strip().lower() != "chunked" or lengths:
                raise BadFraming("send either Transfer-Encoding: chunked or one Content-Length")
            body = self._read_chunked()
        else:
            if len(lengths) > 1 or (lengths and not lengths[0].strip().isdigit()):
                raise BadFraming("Content-Length must be one non-negative integer")
            length = int(lengths[0]) if lengths else 0
            if length > self.max_body:
                raise BodyTooLarge(length)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                raise BadFraming("the body ended before its Content-Length")
        self._body_read = True
        self.server.unwatch(self.connection)
        return body

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            field = self.rfile.readline(1024).split(b";")[0].strip()
            if field.startswith(b"-"):
                raise BodyTooLarge(field)  # a negative size: refused like a huge one
            if not _CHUNK_SIZE.fullmatch(field):
                raise BadFraming("a chunk's size must be hexadecimal")
            size = int(field, 16)
            if len(out) + size > self.max_body:
                raise BodyTooLarge(len(out) + size)  # before reading it: memory never grows past the limit
            if size == 0:
                for _ in range(64):  # trailers, ignored, up to the blank line
                    if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                        return bytes(out)
                raise BadFraming("too many trailer lines")
            data = self.rfile.read(size)
            if len(data) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BadFraming("a chunk ended early or without its CRLF")
            out += data

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self._body_pending():
            # Unread body bytes must never be parsed as the next request (a proxy that reuses
            # this connection for another client would get its answers out of step).
            self.send_header("Connection", "close")
            self.close_connection = True
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_json(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        self.send_json(status, {"error": message, **extra}, headers=headers)
