"""An InfluxDB 1.x server (influxd, v1 HTTP API: /ping, /write, /query) in a temp dir."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path
from string import Template
from typing import Any, Self

from simulators.servers.http_client import HttpResponse, request
from simulators.servers.process import (
    CONFIG_DIR,
    ServerError,
    ServerProcess,
    find_binary,
    free_port,
)

__all__ = ["CONFIG_TEMPLATE", "InfluxV1"]

CONFIG_TEMPLATE = CONFIG_DIR / "influxdb" / "influxdb-v1-test.conf"

_READY_MARKER = "Listening on HTTP"  # logged by influxd after its HTTP listener is bound


class InfluxV1(ServerProcess):
    """influxd on a free loopback port, with meta, data and WAL under `root`.

    Its config is `config/influxdb/influxdb-v1-test.conf` with `${root}`, `${http_port}` and
    `${rpc_port}` filled in: WAL fsynced before each write is answered (`wal-fsync-delay =
    "0s"`), no usage reporting, no `_internal` monitor database, no access or query log.
    No database exists at first; see `create_database`.

    With `admin` (user, password), authentication is enabled: the first start creates that
    admin user, and this handle's own requests log in as it; see `create_writer`.
    """

    name = "influxd"

    def __init__(
        self,
        root: Path | None = None,
        *,
        admin: tuple[str, str] | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        super().__init__(root, startup_timeout=startup_timeout)
        self.rpc_port = 0
        self.admin = admin

    @property
    def url(self) -> str:
        """`http://host:port`, the base of the v1 HTTP API."""
        return f"http://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        """The rendered config influxd runs."""
        return self.root / "influxdb.conf"

    def start(self) -> Self:
        """Start; with `admin`, create the admin user (allowed while no user exists)."""
        super().start()
        if self.admin is not None:
            user, password = self.admin
            self._query(
                f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES",
                method="POST",
                login=False,
            )
        return self

    def create_writer(self, user: str, password: str, database: str = "city") -> None:
        """A non-admin user who may only write to `database`."""
        self._query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}'", method="POST")
        self._query(f'GRANT WRITE ON "{database}" TO "{user}"', method="POST")

    def create_database(self, name: str) -> None:
        """`CREATE DATABASE "<name>"` (a no-op if it exists)."""
        self._query(f'CREATE DATABASE "{name}"', method="POST")

    def create_retention_policy(self, database: str, name: str, duration: str) -> None:
        """`CREATE RETENTION POLICY` (not the default one), as an admin does once."""
        self._query(
            f'CREATE RETENTION POLICY "{name}" ON "{database}" DURATION {duration} REPLICATION 1',
            method="POST",
        )

    def write(self, lines: str, database: str = "city") -> None:
        """Write line protocol with nanosecond timestamps; raise ServerError unless 204."""
        query = urllib.parse.urlencode({"db": database})
        response = request(
            "POST", f"{self.url}/write?{query}", body=lines.encode(), headers=self._login()
        )
        if response.status != 204:
            raise ServerError(f"{self.name} write: HTTP {response.status} {response.body!r}")

    def query(self, influxql: str, database: str = "city") -> list[dict[str, Any]]:
        """Run InfluxQL and return its rows, one dict per row: tags and columns by name.

        Times are integer nanoseconds (`epoch=ns`). Rows of every statement and series are
        concatenated in the order the server sent them. An error raises ServerError.
        """
        body = self._query(influxql, method="GET", database=database).json()
        rows: list[dict[str, Any]] = []
        for result in body["results"]:
            if "error" in result:
                raise ServerError(f"{self.name} query {influxql!r}: {result['error']}")
            for series in result.get("series", []):
                tags = series.get("tags", {})
                rows.extend(
                    {**tags, **dict(zip(series["columns"], values, strict=True))}
                    for values in series["values"]
                )
        return rows

    def _login(self) -> dict[str, str]:
        """HTTP Basic credentials of the admin (RFC 7617), which the v1 API accepts."""
        if self.admin is None:
            return {}
        token = base64.b64encode(":".join(self.admin).encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def _query(
        self, influxql: str, *, method: str, database: str | None = None, login: bool = True
    ) -> HttpResponse:
        params = {"q": influxql, "epoch": "ns"} | ({"db": database} if database else {})
        encoded = urllib.parse.urlencode(params)
        login_headers = self._login() if login else {}
        if method == "GET":
            response = request("GET", f"{self.url}/query?{encoded}", headers=login_headers)
        else:
            response = request(
                "POST",
                f"{self.url}/query",
                body=encoded.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"} | login_headers,
            )
        if response.status != 200:
            raise ServerError(
                f"{self.name} query {influxql!r}: HTTP {response.status} {response.body!r}"
            )
        return response

    def _assign_ports(self) -> None:
        super()._assign_ports()
        self.rpc_port = free_port(self.host)
        while self.rpc_port == self.port:
            self.rpc_port = free_port(self.host)

    def _configure(self) -> None:
        template = Template(CONFIG_TEMPLATE.read_text(encoding="utf-8"))
        rendered = template.substitute(
            root=self.root,
            http_port=self.port,
            rpc_port=self.rpc_port,
            auth_enabled=str(self.admin is not None).lower(),
        )
        self.config_path.write_text(rendered, encoding="utf-8")

    def _command(self) -> list[str]:
        return [find_binary("influxd"), "run", "-config", str(self.config_path)]

    def _environment(self) -> dict[str, str]:
        # influxd lets INFLUXDB_* variables override its config file: keep the file in charge.
        return {k: v for k, v in super()._environment().items() if not k.startswith("INFLUXDB_")}

    def _is_ready(self) -> bool:
        if _READY_MARKER not in self.log_text():
            return False
        try:
            return request("GET", f"{self.url}/ping", timeout=1.0).status == 204
        except OSError:
            return False
