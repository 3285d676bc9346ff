"""VictoriaMetrics single-node, as a line-protocol sink that speaks /write and /api/v2/write.

What its InfluxDB endpoints do, tried against victoria-metrics 1.79.5 (Debian 12);
tests/test_servers.py pins the token/org/bucket, bad-line and duplicate facts:

- `/api/v2/write` verifies nothing InfluxDB 2 verifies: any `Authorization` header (or
  none) is accepted, `org` and `bucket` are ignored (not even stored as labels; only v1
  `/write?db=x` adds a label `db="x"`). Use tests/influx_v2_stub.py for token, org and
  bucket behaviour.
- A line that does not parse is skipped and logged; the request still gets 204 (InfluxDB
  answers 400). A body with `Content-Encoding: gzip` is inflated; broken gzip is a 400.
- `precision` (ns, us, ms, s) is honoured; timestamps are then truncated to milliseconds
  (`-influxTrimTimestamp`, default 1ms).
- Each field becomes a metric `<measurement>_<field>` with the tags as labels. Values are
  float64: integers are converted, booleans become 0/1 and string fields become 0.
- Writing the same series and timestamp twice keeps both samples: there is no
  "last write wins" overwrite as in InfluxDB, so idempotency cannot be tested here.
- Points older than `-retentionPeriod` (100 years here; 1 month by default) or more than
  about two days in the future are dropped with a log warning, still answering 204.
- New samples become visible to queries only after an in-memory flush; `export()` and
  `count_points()` force one (`/internal/force_flush`) first.
- `/ping` answers 204 without `X-Influxdb-Version`; write responses carry
  `X-Influxdb-Version: 1.8.0`.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from simulators.servers.http_client import request
from simulators.servers.process import ServerError, ServerProcess, find_binary

__all__ = ["VictoriaMetrics"]


class VictoriaMetrics(ServerProcess):
    """victoria-metrics on a free loopback port with its storage in `root/data`."""

    name = "victoria-metrics"

    @property
    def url(self) -> str:
        """`http://host:port`; line protocol goes to `/write` or `/api/v2/write`."""
        return f"http://{self.host}:{self.port}"

    def flush(self) -> None:
        """Make everything written so far visible to queries."""
        response = request("GET", f"{self.url}/internal/force_flush")
        if response.status != 200:
            raise ServerError(f"{self.name} force_flush: HTTP {response.status}")

    def export(self, selector: str) -> list[dict[str, Any]]:
        """All series matching a selector (`{__name__=~"air_.*"}`), flushed first.

        Each item is `{"metric": {labels}, "values": [...], "timestamps": [ms, ...]}`.
        """
        self.flush()
        query = urllib.parse.urlencode({"match[]": selector})
        response = request("GET", f"{self.url}/api/v1/export?{query}")
        if response.status != 200:
            raise ServerError(f"{self.name} export {selector}: HTTP {response.status}")
        return [json.loads(line) for line in response.body.splitlines() if line.strip()]

    def count_points(self, selector: str) -> int:
        """How many samples the series matching `selector` hold."""
        return sum(len(series["values"]) for series in self.export(selector))

    def _configure(self) -> None:
        (self.root / "data").mkdir(exist_ok=True)

    def _command(self) -> list[str]:
        return [
            find_binary("victoria-metrics"),
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.root / 'data'}",
            "-retentionPeriod=100y",  # keep old fixture timestamps; the default is 1 month
        ]

    def _is_ready(self) -> bool:
        # /flags lists this process's own flags: proof that the port is ours, not a
        # neighbour's (VictoriaMetrics logs "starting http server" before it binds).
        try:
            response = request("GET", f"{self.url}/flags", timeout=1.0)
        except OSError:
            return False
        return f'-storageDataPath="{self.root / "data"}"'.encode() in response.body
