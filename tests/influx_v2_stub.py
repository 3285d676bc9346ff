"""A stub of the InfluxDB 2 HTTP API, for v2-only behaviour that no real server here speaks.

This is NOT a database and not a fake sink for pipeline tests. The machine has InfluxDB 1.6
(v1 API only) and VictoriaMetrics (whose `/api/v2/write` checks no token, org or bucket, see
tests/support/victoria.py). Token authentication, org and bucket lookups, the v2 JSON error
bodies and server faults are what this stub adds, answering as InfluxDB 2.7 does
(InfluxDB v2 API reference, `POST /api/v2/write`):

    GET|HEAD /ping       204 with `X-Influxdb-Version: v2.7.11`
    GET /health          200 {"status": "pass", ...}
    POST /api/v2/write?org=..&bucket=..&precision=ns|us|ms|s
        401 {"code":"unauthorized", ...}  no `Authorization: Token <token>`, or a wrong one
        404 {"code":"not found", ...}     unknown org or bucket
        400 {"code":"invalid", ...}       bad precision, bad gzip, or a line that does not
                                          parse (the whole request is refused)
        204                               lines recorded in `writes` / `lines`
                                          (`Content-Encoding: gzip` bodies are inflated)
    /api/v2/orgs, /api/v2/buckets, /api/v2/dbrps   see tests/influx_v2_buckets.py

`set_failure()` switches write requests to a fault: 500, 503 with `Retry-After`, or HANG
(held until the failure is cleared or the stub stops, then answered normally: a slow
server that did write after the client gave up).
"""

from __future__ import annotations

import enum
import functools
import gzip
import json
import re
import sys
import threading
import urllib.parse
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.influx_v2_buckets import Buckets

__all__ = ["FailureMode", "InfluxV2Stub", "StubWrite", "line_error"]

VERSION = "v2.7.11"
PRECISIONS = ("ns", "us", "ms", "s")

# Field value syntax of the InfluxDB line protocol reference (docs.influxdata.com, "Line protocol").
_FIELD_VALUE = re.compile(
    r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"  # float
    r"|[-+]?\d+i|\d+u"  # integer, unsigned integer
    r"|t|T|true|True|TRUE|f|F|false|False|FALSE"  # boolean
    r'|"(\\.|[^"\\])*"'  # string
)
_TIMESTAMP = re.compile(r"-?\d+")


class FailureMode(enum.Enum):
    """What write requests get instead of normal handling."""

    NONE = "none"
    ERROR_500 = "500"
    UNAVAILABLE_503 = "503"
    HANG = "hang"


@dataclass(frozen=True)
class StubWrite:
    """One accepted write request."""

    org: str
    bucket: str
    precision: str
    lines: tuple[str, ...]


def _split(text: str, separator: str) -> list[str]:
    """Split at `separator` unless backslash-escaped or inside a double-quoted string."""
    parts, current, quoted, escaped = [], "", False, False
    for char in text:
        if not escaped and char == separator and not quoted:
            parts.append(current)
            current = ""
            continue
        quoted ^= char == '"' and not escaped
        escaped = char == "\\" and not escaped
        current += char
    return [*parts, current]


def _pair_error(pair: str, what: str, value: re.Pattern[str] | None = None) -> str | None:
    key_value = _split(pair, "=")
    if len(key_value) != 2 or not all(key_value):
        return f"{what} {pair!r} is not key=value"
    if value is not None and not value.fullmatch(key_value[1]):
        return f"{what} {pair!r} has an invalid value"
    return None


def line_error(line: str) -> str | None:
    """Why one line-protocol line does not parse, or None if it does (a minimal check:
    measurement, tags as key=value, at least one field with a valid value, optional integer
    timestamp)."""
    sections = _split(line, " ")
    if len(sections) not in (2, 3):
        return "expected `measurement[,tags] fields [timestamp]`"
    key, *tags = _split(sections[0], ",")
    if not key:
        return "missing measurement"
    if len(sections) == 3 and not _TIMESTAMP.fullmatch(sections[2]):
        return f"invalid timestamp {sections[2]!r}"
    errors = [_pair_error(tag, "tag") for tag in tags]
    errors += [_pair_error(field, "field", _FIELD_VALUE) for field in _split(sections[1], ",")]
    return next((error for error in errors if error), None)


class InfluxV2Stub:
    """The stub server on a free loopback port; a context manager, or start() and stop()."""

    def __init__(
        self,
        *,
        org: str = "city",
        bucket: str = "city",
        token: str = "stub-token",  # noqa: S107 - a fixed test token
    ) -> None:
        self.org = org
        self.bucket = bucket
        self.token = token
        self.host = "127.0.0.1"
        self.port = 0
        self.write_attempts = 0
        self.buckets = Buckets(org, {bucket: 0})
        self._writes: list[StubWrite] = []
        self._failure = FailureMode.NONE
        self._failures_left: int | None = None
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://host:port`."""
        return f"http://{self.host}:{self.port}"

    @property
    def writes(self) -> list[StubWrite]:
        """The accepted write requests, oldest first."""
        with self._lock:
            return list(self._writes)

    @property
    def lines(self) -> list[str]:
        """Every accepted line, in arrival order."""
        return [line for write in self.writes for line in write.lines]

    def set_failure(self, mode: FailureMode, times: int | None = None) -> None:
        """Fail the next `times` write requests (all of them if None) with `mode`.

        `FailureMode.NONE` restores normal answers and releases requests held by HANG.
        """
        with self._lock:
            self._failure = mode
            self._failures_left = times
        if mode is FailureMode.HANG:
            self._released.clear()
        else:
            self._released.set()

    def start(self) -> Self:
        """Listen on a free port and serve from a background thread."""
        self._server = _Server((self.host, 0), _Handler, self)
        self.port = self._server.server_address[1]
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release held requests, stop serving and close the socket."""
        self._released.set()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _reply_to_write(self, query: dict[str, str], headers: Message, body: bytes) -> _Reply:
        """The answer to one write request: an injected fault, or the real handling."""
        fault = self._take_failure()
        if fault is FailureMode.HANG:
            self._released.wait()
        elif fault is not FailureMode.NONE:
            return _FAULTS[fault]
        return self._check_and_record(query, headers, body)

    def _take_failure(self) -> FailureMode:
        """The fault for this write request (counting it down), or NONE."""
        with self._lock:
            self.write_attempts += 1
            mode = self._failure
            if mode is not FailureMode.NONE and self._failures_left is not None:
                self._failures_left -= 1
                if self._failures_left <= 0:
                    self._failure = FailureMode.NONE
            return mode

    def _check_and_record(self, query: dict[str, str], headers: Message, body: bytes) -> _Reply:
        org, bucket = query.get("org", ""), query.get("bucket", "")
        precision = query.get("precision", "ns")
        refusal = self._refusal(headers, org, bucket, precision)
        if refusal is not None:
            return refusal
        lines = _parse_lines(body, gzipped=headers.get("Content-Encoding") == "gzip")
        if isinstance(lines, _Reply):
            return lines
        with self._lock:
            self._writes.append(StubWrite(org, bucket, precision, tuple(lines)))
        return _Reply(204)

    def _refusal(self, headers: Message, org: str, bucket: str, precision: str) -> _Reply | None:
        """Why InfluxDB 2 would refuse this request before reading its body, if it would."""
        if headers.get("Authorization") != f"Token {self.token}":
            return _Reply(401, {"code": "unauthorized", "message": "unauthorized access"})
        if org != self.org:
            return _not_found(f'organization name "{org}" not found')
        if bucket not in self.buckets:
            return _not_found(f'bucket "{bucket}" not found')
        if precision not in PRECISIONS:
            return _invalid(f"invalid precision {precision!r}; use one of {PRECISIONS}")
        return None


def _parse_lines(body: bytes, *, gzipped: bool) -> list[str] | _Reply:
    """The body's line-protocol lines (blank and # comment lines dropped), or a 400 reply."""
    try:
        text = (gzip.decompress(body) if gzipped else body).decode()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        return _invalid(f"cannot read the body: {exc}")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for number, line in enumerate(lines, start=1):
        if (error := line_error(line)) is not None:
            return _invalid(f"line {number}: unable to parse {line!r}: {error}")
    return lines


@dataclass(frozen=True)
class _Reply:
    status: int
    body: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()


def _not_found(message: str) -> _Reply:
    return _Reply(404, {"code": "not found", "message": message})


def _invalid(message: str) -> _Reply:
    return _Reply(400, {"code": "invalid", "message": message})


_FAULTS = {
    FailureMode.ERROR_500: _Reply(500, {"code": "internal error", "message": "stub: injected 500"}),
    FailureMode.UNAVAILABLE_503: _Reply(
        503, {"code": "unavailable", "message": "stub: injected 503"}, (("Retry-After", "1"),)
    ),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], stub: InfluxV2Stub
    ) -> None:
        super().__init__(address, handler)
        self.stub = stub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that gave up (timeouts in fault tests) are expected; report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/ping":
            self._send(_Reply(204))
        elif path == "/health":
            self._send(_Reply(200, {"name": "influxdb", "status": "pass", "version": VERSION}))
        else:
            self._manage()

    do_HEAD = do_GET

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/v2/write":
            self._manage()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        query = dict(urllib.parse.parse_qsl(url.query))
        self._send(self.server.stub._reply_to_write(query, self.headers, body))

    do_PATCH = do_POST

    def _manage(self) -> None:
        """Bucket, organisation and DBRP calls (tests/influx_v2_buckets.py)."""
        url = urllib.parse.urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        stub = self.server.stub
        if self.headers.get("Authorization") != f"Token {stub.token}":
            self._send(_Reply(401, {"code": "unauthorized", "message": "unauthorized access"}))
            return
        query = dict(urllib.parse.parse_qsl(url.query))
        answer = stub.buckets.handle(self.command, url.path, query, json.loads(raw or b"{}"))
        self._send(_not_found("path not found") if answer is None else _Reply(*answer))

    def _send(self, reply: _Reply) -> None:
        payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        self.send_header("X-Influxdb-Version", VERSION)
        for name, value in reply.headers:
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on answers, not on an access log."""
