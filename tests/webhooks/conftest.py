"""The service with its webhook listener, fed by simulated network-server requests.

`hooks` runs `city-ingest run` (child process, real Mosquitto and InfluxDB) with all three
endpoints open on a free port; `Hooks.post` sends a body as the network server would, with
the right credential, none, or a wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from simulators.manifest import manifest_line
from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.http_client import HttpResponse, request
from simulators.servers.process import free_port
from simulators.servers.service import CityIngest
from simulators.stream import Publication
from tests.e2e import make_registry, reconcile_run
from tests.security.conftest import certs_dir  # noqa: F401 - the TLS test's certificates

SECRETS = {
    "tts": "tts-webhook-password-3c1f",
    "chirpstack": "chirpstack-webhook-password-92ab",
    "kpn": "Kpn#Things-Shared-Secret-For-Tests-0417",
}
USERS = {"tts": "tts", "chirpstack": "chirpstack"}
PATHS = {"tts": "/tts/up", "chirpstack": "/chirpstack?event=up", "kpn": "/kpn"}
Credential = Literal["right", "missing", "wrong"]


def credential_headers(network: str, body: bytes, credential: Credential) -> dict[str, str]:
    """What the network server sends: basic auth (TTS, ChirpStack) or KPN's message token."""
    secret = SECRETS[network] if credential == "right" else "not-the-secret"
    if credential == "missing":
        return {}
    if network == "kpn":  # SHA-256 over the body followed by the shared secret (KPN Things docs)
        return {"Things-Message-Token": hashlib.sha256(body + secret.encode()).hexdigest()}
    pair = base64.b64encode(f"{USERS[network]}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def webhook_environment(workdir: Path, port: int, **more: str) -> dict[str, str]:
    secrets = workdir / "secrets"
    secrets.mkdir(exist_ok=True)
    env = {
        "CITY_INGEST_WEBHOOKS__LISTEN": f"127.0.0.1:{port}",
        "CITY_INGEST_WEBHOOKS__NETWORKS": '["tts", "chirpstack", "kpn"]',
        "CITY_INGEST_SPOOL__AFTER": "0.5",
    }
    for network, secret in SECRETS.items():
        key = "kpn_shared_secret" if network == "kpn" else f"{network}_password"
        (secrets / key).write_text(secret, encoding="utf-8")
        env[f"CITY_INGEST_WEBHOOKS__{key.upper()}_FILE"] = str(secrets / key)
    return env | {f"CITY_INGEST_{k.upper()}": v for k, v in more.items()}


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
        headers = {"Content-Type": content_type} | credential_headers(network, body, credential)
        return request(
            "POST", self.url + PATHS[network], body=body, headers=headers, timeout=timeout
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
    env = webhook_environment(workdir, port, **more)
    service = CityIngest(workdir, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=env)
    return service, Hooks(service, f"http://127.0.0.1:{port}", workdir, influxdb)


@pytest.fixture
def hooks(tmp_path: Path, mosquitto_session: Mosquitto, influxdb: InfluxV1) -> Iterator[Hooks]:
    service, hooked = start_hooks(tmp_path, mosquitto_session, influxdb)
    with service:
        yield hooked
