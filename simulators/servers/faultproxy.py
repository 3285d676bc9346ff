"""An HTTP/1.1 reverse proxy that injects faults in front of a real server (InfluxDB in the tests).

Requests and responses pass through byte for byte: the proxy only finds where each message
ends (RFC 9112 §6: ``Content-Length``, ``Transfer-Encoding: chunked``, or no body) and never
rewrites a header. Each request meets the proxy's current ``FaultMode``:

- ``FORWARD``: forwarded over one upstream connection per client connection; when the upstream
  cannot be reached the client gets ``502 Bad Gateway`` (a proxy's answer, RFC 9110 §15.6.3);
- ``ERROR_500`` / ``UNAVAILABLE_503``: answered by the proxy, 503 with ``Retry-After``;
- ``HANG``: held until the mode changes, then forwarded (a slow server that did the work after
  the client gave up);
- ``CLOSE``: the connection is reset (``SO_LINGER`` 0) without an answer.

``counts()`` tells how many requests met each mode. Same handle style as the server processes:
``start()``/``stop()``, ``url``, and a context manager.
"""

from __future__ import annotations

import contextlib
import enum
import io
import socket
import socketserver
import struct
import threading
from collections import Counter
from typing import Self, cast
from urllib.parse import urlsplit

from simulators.servers.process import LOOPBACK, ServerError

__all__ = ["FaultMode", "FaultProxy"]

_MAX_HEAD_BYTES = 64 * 1024
_NO_BODY_STATUSES = (204, 304)  # and every 1xx (RFC 9112 §6.3, rule 1)


class FaultMode(enum.Enum):
    """What the next requests get."""

    FORWARD = "forward"
    ERROR_500 = "500"
    UNAVAILABLE_503 = "503"
    HANG = "hang"
    CLOSE = "close"


class FaultProxy:
    """A fault-injecting reverse proxy on a free loopback port in front of ``upstream``."""

    def __init__(self, upstream: str, *, retry_after: int = 1, host: str = LOOPBACK) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ServerError(f"fault proxy: upstream must be http://host:port, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.retry_after = retry_after
        self.host = host
        self.port = 0
        self._mode = FaultMode.FORWARD
        self._changed = threading.Condition()
        self._counts: Counter[FaultMode] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> FaultMode:
        return self._mode

    @mode.setter
    def mode(self, mode: FaultMode) -> None:
        """Switch the mode; requests held by ``HANG`` go on when it changes."""
        with self._changed:
            self._mode = mode
            self._changed.notify_all()

    def counts(self) -> dict[FaultMode, int]:
        """Requests seen so far, by the mode they met."""
        with self._changed:
            return {mode: self._counts[mode] for mode in FaultMode}

    def start(self) -> Self:
        if self._server is not None:
            raise ServerError(f"fault proxy already listening on {self.url}")
        self._server = _Server((self.host, 0), self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, drop held requests and close every client connection."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._changed:
            server.stopping = True
            self._changed.notify_all()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _admit(self, server: _Server) -> FaultMode:
        """Count a request under the current mode; wait out ``HANG`` (then: forward)."""
        with self._changed:
            mode = self._mode
            self._counts[mode] += 1
            if mode is FaultMode.HANG:
                self._changed.wait_for(lambda: self._mode is not mode or server.stopping)
                return FaultMode.CLOSE if server.stopping else FaultMode.FORWARD
            return mode


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: FaultProxy) -> None:
        super().__init__(address, _Handler)
        self.proxy = proxy
        self.stopping = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def close_connections(self) -> None:
        """Wake every handler blocked on its client (a plain close waits for its file objects)."""
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()


class _Handler(socketserver.StreamRequestHandler):
    """One client connection: a loop of request → mode → answer."""

    def handle(self) -> None:
        server = cast("_Server", self.server)
        server.track(self.connection, add=True)
        upstream: _Upstream | None = None
        try:
            while (request := _read_message(self.rfile, response_to=None)) is not None:
                mode = server.proxy._admit(server)
                if mode is FaultMode.CLOSE:
                    _reset(self.connection)
                    return
                if mode is not FaultMode.FORWARD:
                    self.wfile.write(_fault_answer(mode, server.proxy.retry_after))
                    continue
                upstream = upstream or _Upstream(server.proxy.upstream)
                answer, keep = upstream.exchange(request)
                self.wfile.write(answer)
                if not keep or _wants_close(request.head):
                    return
        except OSError:
            return  # the client went away (e.g. it timed out while the request hung)
        finally:
            server.track(self.connection, add=False)
            if upstream is not None:
                upstream.close()


class _Message:
    """One HTTP message as raw bytes: the head (start line + fields) and the whole of it."""

    def __init__(self, head: bytes, raw: bytes, *, until_close: bool = False) -> None:
        self.head = head
        self.raw = raw
        self.until_close = until_close

    @property
    def method(self) -> bytes:
        return self.head.split(b" ", 1)[0]

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1])


class _Upstream:
    """A keep-alive connection to the upstream server, opened on first use."""

    def __init__(self, address: tuple[str, int]) -> None:
        self._address = address
        self._sock: socket.socket | None = None
        self._rfile: io.BufferedIOBase | None = None

    def exchange(self, request: _Message) -> tuple[bytes, bool]:
        """Forward ``request``; the raw answer and whether the client connection may stay."""
        try:
            response = self._send(request)
        except OSError as exc:
            self.close()
            body = f"fault proxy: upstream {self._address[0]}:{self._address[1]}: {exc}\n"
            return _answer(502, "Bad Gateway", body.encode()), True
        keep = not (response.until_close or _wants_close(response.head))
        if not keep:
            self.close()
        return response.raw, keep

    def _send(self, request: _Message) -> _Message:
        if self._sock is None:
            self._sock = socket.create_connection(self._address, timeout=None)
            self._rfile = self._sock.makefile("rb")
        assert self._rfile is not None  # noqa: S101 - opened with the socket just above
        self._sock.sendall(request.raw)
        response = _read_message(self._rfile, response_to=request.method)
        if response is None:
            raise ConnectionResetError("upstream closed the connection without an answer")
        return response

    def close(self) -> None:
        if self._rfile is not None:
            self._rfile.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._rfile = None


def _read_message(stream: io.BufferedIOBase, *, response_to: bytes | None) -> _Message | None:
    """The next whole message on ``stream`` (None at a clean end of stream).

    ``response_to`` is the request method when reading a response (a HEAD answer has no body).
    """
    head = _read_head(stream)
    if head is None:
        return None
    fields = _fields(head)
    message = _Message(head, head)
    if response_to is not None and (
        response_to == b"HEAD" or message.status < 200 or message.status in _NO_BODY_STATUSES
    ):
        return message
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        message.raw += _read_chunked(stream)
    elif b"content-length" in fields:
        message.raw += _read_exactly(stream, int(fields[b"content-length"]))
    elif response_to is not None:  # a response without a length ends when the server closes
        message.raw += stream.read()
        message.until_close = True
    return message


def _read_head(stream: io.BufferedIOBase) -> bytes | None:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline(_MAX_HEAD_BYTES)
        if not line:
            if head:
                raise ConnectionResetError("connection closed inside a message head")
            return None
        head += line
        if len(head) > _MAX_HEAD_BYTES:
            raise ConnectionResetError("message head over 64 KiB")
    return head


def _fields(head: bytes) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def _read_chunked(stream: io.BufferedIOBase) -> bytes:
    """Chunks up to and including the last chunk and the trailer section (RFC 9112 §7.1)."""
    raw = b""
    while True:
        size_line = stream.readline(_MAX_HEAD_BYTES)
        if not size_line:
            raise ConnectionResetError("connection closed inside a chunked body")
        raw += size_line
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        raw += _read_exactly(stream, size + 2)  # the data and its CRLF
    while (line := stream.readline(_MAX_HEAD_BYTES)) not in (b"\r\n", b""):
        raw += line
    return raw + b"\r\n"


def _read_exactly(stream: io.BufferedIOBase, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ConnectionResetError(f"connection closed after {len(data)} of {size} body bytes")
    return data


def _wants_close(head: bytes) -> bool:
    return b"close" in _fields(head).get(b"connection", b"").lower()


def _fault_answer(mode: FaultMode, retry_after: int) -> bytes:
    if mode is FaultMode.UNAVAILABLE_503:
        body = b'{"error":"fault proxy: injected 503"}\n'
        return _answer(503, "Service Unavailable", body, f"Retry-After: {retry_after}\r\n")
    return _answer(500, "Internal Server Error", b'{"error":"fault proxy: injected 500"}\n')


def _answer(status: int, phrase: str, body: bytes, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN: an abrupt drop, as a crashed server's kernel sends."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
