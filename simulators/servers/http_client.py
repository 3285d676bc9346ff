"""A tiny blocking HTTP client (stdlib urllib) for talking to the test servers.

Error statuses are returned, not raised, so tests can assert on them; proxies from the
environment are ignored because every test server is on loopback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

__all__ = ["HttpResponse", "request"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class HttpResponse:
    """Status, headers (case-insensitive `get`) and the whole body of one response."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:  # noqa: ANN401 - decoded JSON is whatever the server sent
        """The body decoded as JSON."""
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """Send one request and return the response, whatever its status.

    Connection errors and timeouts are raised as OSError (urllib's URLError or TimeoutError).
    """
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310 - loopback URLs built by the harness
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return HttpResponse(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(exc.code, exc.headers, exc.read())
