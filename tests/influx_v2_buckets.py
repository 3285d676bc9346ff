"""The stub's bucket, organisation and DBRP-mapping endpoints (InfluxDB v2 API reference).

Part of the v2 stub (tests/influx_v2_stub.py), for the service's retention set-up; what
InfluxDB 2.7 answers, reduced to the fields the service reads:

    GET   /api/v2/orgs?org=NAME             {"orgs": [{"id", "name"}]}; 404 for an unknown name,
                                            {"orgs": []} to a token that may not read it
    GET   /api/v2/buckets?orgID=..&name=..  {"buckets": [{"id", "name", "retentionRules"}]}
    POST  /api/v2/buckets                   201 the new bucket
    PATCH /api/v2/buckets/{id}              200 the bucket with new retentionRules
    GET   /api/v2/dbrps?orgID=..&db=..&rp=..  {"content": [mapping]}
    POST  /api/v2/dbrps                     201 the new mapping
Every call needs the stub's token (401 otherwise).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ORG_ID", "Buckets"]

ORG_ID = "0000000000000001"


@dataclass
class Buckets:
    """The stub's buckets (name → id, expiry seconds; 0 = forever) and DBRP mappings."""

    org: str
    expiry: dict[str, int]
    dbrps: list[dict[str, Any]] = field(default_factory=list)
    orgs_readable: bool = True  # False: the token may write but not read organisations
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self.expiry

    def handle(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]] | None:
        """The answer to a management call, or None when the path is not one of them."""
        with self._lock:
            if (method, path) == ("GET", "/api/v2/orgs"):
                if query.get("org") != self.org:
                    message = f'organization name "{query.get("org")}" not found'
                    return 404, {"code": "not found", "message": message}
                return 200, {
                    "orgs": [{"id": ORG_ID, "name": self.org}] if self.orgs_readable else []
                }
            if path == "/api/v2/buckets":
                return self._buckets(method, query, body)
            if method == "PATCH" and path.startswith("/api/v2/buckets/"):
                name = _name_of(path.rsplit("/", 1)[1])
                self.expiry[name] = body["retentionRules"][0]["everySeconds"]
                return 200, self._bucket(name)
            if path == "/api/v2/dbrps":
                return self._dbrps(method, query, body)
        return None

    def _buckets(
        self, method: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST":
            self.expiry[body["name"]] = body["retentionRules"][0]["everySeconds"]
            return 201, self._bucket(body["name"])
        names = [query["name"]] if "name" in query else list(self.expiry)
        return 200, {"buckets": [self._bucket(n) for n in names if n in self.expiry]}

    def _dbrps(
        self, method: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST":
            self.dbrps.append(body)
            return 201, body
        found = [
            m
            for m in self.dbrps
            if m["database"] == query.get("db") and m["retention_policy"] == query.get("rp")
        ]
        return 200, {"content": found}

    def _bucket(self, name: str) -> dict[str, Any]:
        rules = [{"type": "expire", "everySeconds": self.expiry[name]}] if self.expiry[name] else []
        return {"id": _id_of(name), "name": name, "orgID": ORG_ID, "retentionRules": rules}


def _id_of(name: str) -> str:
    return name.encode().hex()


def _name_of(bucket_id: str) -> str:
    return bytes.fromhex(bucket_id).decode()
