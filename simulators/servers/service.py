"""city-ingest itself as a child process (``city-ingest run``), for tests, benchmarks and demos.

``write_service_config`` writes a service config for a local broker and database (with a fresh
pseudonym key in a file beside it); ``CityIngest`` runs the service on it, is ready when
``/readyz`` answers 200, and reads its accounting from ``/metrics``.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from simulators.servers.http_client import request
from simulators.servers.process import CONFIG_DIR, ServerProcess

__all__ = ["CityIngest", "write_service_config"]


def write_service_config(
    workdir: Path,
    *,
    mqtt_port: int,
    influx_url: str,
    http_listen: str = "127.0.0.1:0",
    mqtt_host: str = "127.0.0.1",
    extra: str = "",
) -> Path:
    """``workdir/city-ingest.toml`` for a local broker and database; returns its path.

    The registry is ``workdir/devices.csv`` and the decoders are the shipped ones. ``extra`` is
    TOML appended verbatim (more sections, e.g. ``[influxdb]`` overrides go through the
    environment instead).
    """
    key_file = workdir / "pseudonym.key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    text = f"""\
[mqtt]
host = "{mqtt_host}"
port = {mqtt_port}
client_id = "city-ingest-{workdir.name}"

[[sources]]
network = "tts"
topic = "v3/+/devices/+/up"

[[sources]]
network = "chirpstack"
topic = "application/+/device/+/event/up"

[[sources]]
network = "kpn"
topic = "kpn/things/+"

[influxdb]
url = "{influx_url}"
flush_interval = 0.2

[influxdb.retention]
## simulations replay fixed dates, some older than the default 90 days that raw points are
## kept; the service still creates and sets both policies (tests/sinks/test_retention.py)
raw = "inf"
aggregates = "inf"

[registry]
path = "{workdir / "devices.csv"}"

[decoders]
path = "{CONFIG_DIR / "decoders.toml"}"

[dead_letter]
dir = "{workdir / "dead-letter"}"

[spool]
dir = "{workdir / "spool"}"

[http]
listen = "{http_listen}"

[processors]
state_dir = "{workdir / "state"}"

[privacy]
pseudonym_key_file = "{key_file}"
{extra}"""
    path = workdir / "city-ingest.toml"
    path.write_text(text, encoding="utf-8")
    return path


class CityIngest(ServerProcess):
    """``city-ingest run`` on a config from ``write_service_config`` (HTTP on a free port).

    ``extra`` is TOML appended to the config (e.g. a ``[nats]`` section: the service then reads
    JetStream and ``mqtt_port`` is the NATS MQTT listener).

    ``start()`` waits until ``/readyz`` answers 200, or with ``wait_ready=False`` only until
    ``/healthz`` answers (for a service that cannot become ready, e.g. a broker it may not
    reach).
    """

    name = "city-ingest"

    def __init__(
        self,
        root: Path,
        *,
        mqtt_port: int,
        influx_url: str,
        env: dict[str, str] | None = None,
        extra: str = "",
        wait_ready: bool = True,
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(root, startup_timeout=startup_timeout)
        self._probe = "/readyz" if wait_ready else "/healthz"
        self._mqtt_port = mqtt_port
        self._influx_url = influx_url
        self._env = env or {}
        self._extra = extra
        self.config_path = root / "city-ingest.toml"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def metrics(self) -> dict[str, float]:
        """The ``city_ingest_*`` samples of ``/metrics`` by name with labels, e.g.
        ``city_ingest_uplinks_total{outcome="written"}``."""
        text = request("GET", f"{self.url}/metrics", timeout=5.0).body.decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("city_ingest_"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def _configure(self) -> None:
        write_service_config(
            self.root,
            mqtt_port=self._mqtt_port,
            influx_url=self._influx_url,
            http_listen=f"{self.host}:{self.port}",
            extra=self._extra,
        )

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "ingest", "run", "--config", str(self.config_path)]

    def _environment(self) -> dict[str, str]:
        return super()._environment() | self._env

    def _is_ready(self) -> bool:
        try:
            return request("GET", f"{self.url}{self._probe}", timeout=1.0).status == 200
        except OSError:
            return False
