"""A stub of The Things Stack Storage Integration's retrieval API, for the backfill tests.

This is NOT The Things Stack. It answers the one documented HTTP endpoint city-ingest reads (TTS
docs, "Storage Integration → Retrieve Messages"; API reference
``ApplicationUpStorage.GetStoredApplicationUp``), over a real socket:

    GET /api/v3/as/applications/{application_id}/packages/storage/uplink_message
        ?after=<RFC 3339>&before=<RFC 3339>&limit=<n>&order=received_at
    Authorization: Bearer <api key>

    401 {"code": 16, ...}          no or a wrong bearer token
    404 {"code": 5, ...}           another application id
    400 {"code": 3, ...}           an unreadable after/before/limit, or an unknown order
    200 Content-Type: text/event-stream, newline-delimited JSON: one {"result": <ApplicationUp>}
        per stored uplink with after < received_at < before, oldest first, at most limit

The documentation does not say whether ``after`` and ``before`` are inclusive; the stub treats
both as exclusive (the client pages so that either reading loses nothing). ``requests`` records
each request's query for the tests.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

from ingest.envelopes._parsing import parse_time
from ingest.errors import EnvelopeError

__all__ = ["TtsStorageStub"]

_PREFIX = "/api/v3/as/applications/"
_SUFFIX = "/packages/storage/uplink_message"


class TtsStorageStub:
    """Stores ``ApplicationUp`` bodies and serves them as the Storage Integration does."""

    def __init__(self, application_id: str, api_key: str) -> None:
        self.application_id = application_id
        self.api_key = api_key
        self.requests: list[dict[str, str]] = []
        self._stored: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def store(self, body: bytes) -> None:
        """Keep one uplink as the Application Server received it (its top-level received_at)."""
        received = json.loads(body)["received_at"]
        with self._lock:
            self._stored.append((parse_time(received, "received_at"), body))
            self._stored.sort(key=lambda item: item[0])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def select(self, query: dict[str, str]) -> list[bytes]:
        after = parse_time(query["after"], "after") if "after" in query else -1
        before = parse_time(query["before"], "before") if "before" in query else 1 << 62
        limit = int(query.get("limit", "1000"))
        if limit < 1 or query.get("order", "received_at") != "received_at":
            raise ValueError(f"limit {limit}, order {query.get('order')}")
        with self._lock:
            chosen = [body for t, body in self._stored if after < t < before]
        return chosen[:limit]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                stub.requests.append(query)
                if self.headers.get("Authorization") != f"Bearer {stub.api_key}":
                    self._error(401, 16, "unauthenticated")
                    return
                application = url.path.removeprefix(_PREFIX).removesuffix(_SUFFIX)
                if not url.path.startswith(_PREFIX) or application != stub.application_id:
                    self._error(404, 5, "application not found")
                    return
                try:
                    chosen = stub.select(query)
                except (ValueError, EnvelopeError) as exc:
                    self._error(400, 3, str(exc))
                    return
                body = b"".join(b'{"result":' + up + b"}\n" for up in chosen)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: int, message: str) -> None:
                body = json.dumps({"code": code, "message": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests read ``requests`` instead."""

        return Handler
