"""The service with its webhook listener, fed by simulated network-server requests.

`hooks` runs `city-ingest run` (child process, real Mosquitto and InfluxDB) with all three
endpoints open on a free port; `Hooks.post` sends a body as the network server would, with
the right credential, none, or a wrong one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from ingest.model import Network
from simulators.manifest import manifest_line
from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.http_client import HttpResponse, request
from simulators.servers.process import free_port
from simulators.servers.service import CityIngest
from simulators.stream import Publication
from simulators.webhooks import PATHS, push_headers, service_environment
from tests.e2e import make_registry, reconcile_run
from tests.security.conftest import certs_dir  # noqa: F401 - the TLS test's certificates

SECRETS = {
    Network.TTS: "tts-webhook-password-3c1f",
    Network.CHIRPSTACK: "chirpstack-webhook-password-92ab",
    Network.KPN: "Kpn#Things-Shared-Secret-For-Tests-0417",
}
Credential = Literal["right", "missing", "wrong"]


def credential_headers(network: str, body: bytes, credential: Credential) -> dict[str, str]:
    """The network server's headers with the right credential, none, or a wrong one."""
    chosen = Network(network)
    secret = {"right": SECRETS[chosen], "missing": None, "wrong": "not-the-secret"}[credential]
    return push_headers(chosen, body, secret)


@dataclass
class Hooks:
    service: CityIngest
    url: str
    workdir: Path
    influxdb: InfluxV1

    def post(
        self,
        network: str,
        body: bytes,
        credential: Credential = "right",
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> HttpResponse:
        headers = credential_headers(network, body, credential) | {"Content-Type": content_type}
        return request(
            "POST", self.url + PATHS[Network(network)], body=body, headers=headers, timeout=timeout
        )

    def reconcile(self, uplinks: list[Publication]) -> None:
        manifest = [json.loads(manifest_line(u.entry)) for u in uplinks]
        result = reconcile_run(self.workdir, self.influxdb, manifest)
        assert result.ok, result.report()


def start_hooks(
    workdir: Path, mosquitto: Mosquitto, influxdb: InfluxV1, **more: str
) -> tuple[CityIngest, Hooks]:
    make_registry(workdir, devices=12, seed=5)  # the devices of tests.uplinks.clean_uplinks
    port = free_port()
    env = service_environment(workdir, f"127.0.0.1:{port}", SECRETS) | {
        "CITY_INGEST_SPOOL__AFTER": "0.5",
        **{f"CITY_INGEST_{k.upper()}": v for k, v in more.items()},
    }
    service = CityIngest(workdir, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=env)
    return service, Hooks(service, f"http://127.0.0.1:{port}", workdir, influxdb)


@pytest.fixture
def hooks(tmp_path: Path, mosquitto_session: Mosquitto, influxdb: InfluxV1) -> Iterator[Hooks]:
    service, hooked = start_hooks(tmp_path, mosquitto_session, influxdb)
    with service:
        yield hooked
