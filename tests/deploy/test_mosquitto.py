"""The compose broker config (config/mosquitto/production.conf) run by a real Mosquitto, with the
password file that passwd.sh makes from `make secrets`, the ACL, and the TLS listener with the
certificates of `make certs`."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from simulators.servers import Mosquitto, wait_until
from simulators.servers.mosquitto import PRODUCTION_CONFIG as PRODUCTION
from simulators.servers.mosquitto import SHIPPED_CONFIG, production_broker
from tests.deploy.conftest import REPO, make

PASSWD_SCRIPT = REPO / "config" / "mosquitto" / "passwd.sh"
# passwd.sh's users and the secret files holding their passwords
USERS = {
    "city-ingest": "mqtt_ingest_password",
    "tts": "mqtt_tts_password",
    "chirpstack": "mqtt_chirpstack_password",
    "kpn": "mqtt_kpn_password",
    "simulator": "mqtt_simulator_password",
}
TTS_UP = "v3/city-air@zaanstad/devices/air-001/up"
CHIRPSTACK_UP = "application/7/device/0004a30b00df7baf/event/up"
KPN_UP = "kpn/things/0004A30B00DF7BAF"


def _directives(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


class _Client:
    """A paho MQTT 5 client that records CONNACK, SUBACK and messages."""

    def __init__(self, user: str | None, password: str | None) -> None:
        self.connack: ReasonCode | None = None
        self.suback: list[ReasonCode] = []
        self.messages: list[tuple[str, bytes]] = []
        self.acked = threading.Event()
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        if user is not None:
            self.paho.username_pw_set(user, password)
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload))

    def _on_connect(self, _c: object, _u: object, _f: object, code: ReasonCode, _p: object) -> None:
        self.connack = code

    def _on_subscribe(
        self, _c: object, _u: object, _m: object, codes: list[ReasonCode], _p: object
    ) -> None:
        self.suback = codes
        self.acked.set()

    def subscribe(self, topic: str) -> ReasonCode:
        self.acked.clear()
        self.paho.subscribe(topic, qos=1)
        wait_until(self.acked.is_set, 5, message=f"no SUBACK for {topic}")
        return self.suback[0]

    def publish(self, topic: str, payload: bytes) -> None:
        self.paho.publish(topic, payload, qos=1).wait_for_publish(timeout=5)


@contextmanager
def _session(broker: Mosquitto, user: str | None, password: str | None) -> Iterator[_Client]:
    client = _Client(user, password)
    client.paho.connect(broker.host, broker.port)
    client.paho.loop_start()
    try:
        wait_until(lambda: client.connack is not None, 5, message=f"no CONNACK for {user}")
        yield client
    finally:
        client.paho.disconnect()
        client.paho.loop_stop()


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, secrets_dir: Path, certs_dir: Path
) -> Iterator[Mosquitto]:
    """production.conf in a real broker, laid out as docker-compose.yml mounts it."""
    root = tmp_path_factory.mktemp("production-broker")
    with production_broker(root, secrets_dir=secrets_dir, certs_dir=certs_dir) as server:
        yield server


def _password(secrets_dir: Path, user: str) -> str:
    return (secrets_dir / USERS[user]).read_text().strip()


def test_production_keeps_every_setting_of_the_development_config() -> None:
    development = set(_directives(SHIPPED_CONFIG))
    security = {"allow_anonymous true"}  # what production.conf replaces on purpose
    assert development - security <= set(_directives(PRODUCTION))
    assert "allow_anonymous false" in _directives(PRODUCTION)


def test_passwd_sh_writes_one_hashed_entry_per_user(broker: Mosquitto, secrets_dir: Path) -> None:
    entries = dict(line.split(":", 1) for line in (broker.root / "auth/passwd").read_text().split())
    assert set(entries) == set(USERS)
    assert all(hashed.startswith("$7$") for hashed in entries.values())  # PBKDF2-SHA512
    assert not any(
        _password(secrets_dir, user) in (broker.root / "auth/passwd").read_text() for user in USERS
    )


def test_passwd_sh_refuses_to_run_without_secrets(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(PASSWD_SCRIPT)],
        env={**os.environ, "SECRETS_DIR": str(tmp_path), "PASSWD_FILE": str(tmp_path / "passwd")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "make secrets" in result.stderr
    assert not (tmp_path / "passwd").exists()


@pytest.mark.parametrize(("user", "password"), [(None, None), ("tts", "wrong"), ("nobody", "x")])
def test_the_broker_refuses_clients_without_valid_credentials(
    broker: Mosquitto, user: str | None, password: str | None
) -> None:
    with _session(broker, user, password) as client:
        assert client.connack is not None
        assert client.connack.is_failure


def test_city_ingest_receives_each_network_servers_uplinks(
    broker: Mosquitto, secrets_dir: Path
) -> None:
    with _session(broker, "city-ingest", _password(secrets_dir, "city-ingest")) as ingest:
        for topic in ("v3/+/devices/+/up", "application/+/device/+/event/up", "kpn/things/+"):
            assert not ingest.subscribe(topic).is_failure
        for user, topic in (("tts", TTS_UP), ("chirpstack", CHIRPSTACK_UP), ("kpn", KPN_UP)):
            with _session(broker, user, _password(secrets_dir, user)) as network:
                network.publish(topic, user.encode())
        wait_until(lambda: len(ingest.messages) == 3, 5, message="uplinks not delivered")
    assert sorted(ingest.messages) == sorted(
        [(TTS_UP, b"tts"), (CHIRPSTACK_UP, b"chirpstack"), (KPN_UP, b"kpn")]
    )


def test_users_publish_only_on_their_own_prefix(broker: Mosquitto, secrets_dir: Path) -> None:
    with _session(broker, "city-ingest", _password(secrets_dir, "city-ingest")) as ingest:
        ingest.subscribe("v3/+/devices/+/up")
        ingest.subscribe("application/+/device/+/event/up")
        with _session(broker, "tts", _password(secrets_dir, "tts")) as tts:
            tts.publish(CHIRPSTACK_UP, b"tts pretending to be chirpstack")
            tts.publish(TTS_UP, b"last")
        ingest.publish(TTS_UP, b"city-ingest may not publish")
        with _session(broker, "simulator", _password(secrets_dir, "simulator")) as simulator:
            simulator.publish(CHIRPSTACK_UP, b"simulated")
        wait_until(lambda: len(ingest.messages) >= 2, 5, message="allowed uplinks not delivered")
    assert sorted(ingest.messages) == sorted([(TTS_UP, b"last"), (CHIRPSTACK_UP, b"simulated")])


def test_network_servers_receive_nothing(broker: Mosquitto, secrets_dir: Path) -> None:
    with (
        _session(broker, "city-ingest", _password(secrets_dir, "city-ingest")) as ingest,
        _session(broker, "tts", _password(secrets_dir, "tts")) as tts,
    ):
        ingest.subscribe("v3/+/devices/+/up")
        tts.subscribe("#")  # granted or refused (versions differ); nothing may arrive either way
        with _session(broker, "simulator", _password(secrets_dir, "simulator")) as simulator:
            simulator.publish(TTS_UP, b"for city-ingest only")
        wait_until(lambda: ingest.messages, 5, message="uplink not delivered to city-ingest")
    assert tts.messages == []


def test_network_servers_connect_over_tls_with_the_made_ca(
    broker: Mosquitto, secrets_dir: Path, certs_dir: Path
) -> None:
    (tls_port,) = broker.extra_ports
    with _session(broker, "city-ingest", _password(secrets_dir, "city-ingest")) as ingest:
        ingest.subscribe("kpn/things/+")
        client = _Client("kpn", _password(secrets_dir, "kpn"))
        client.paho.tls_set(ca_certs=str(certs_dir / "ca.crt"))
        client.paho.connect(broker.host, tls_port)
        client.paho.loop_start()
        try:
            wait_until(lambda: client.connack is not None, 5, message="no CONNACK over TLS")
            assert not client.connack.is_failure
            client.publish(KPN_UP, b"over tls")
        finally:
            client.paho.disconnect()
            client.paho.loop_stop()
        wait_until(lambda: ingest.messages, 5, message="TLS uplink not delivered")
    assert ingest.messages == [(KPN_UP, b"over tls")]


@pytest.mark.parametrize("name", ["mosquitto", "localhost"])
def test_the_broker_certificate_is_valid_for_its_names(
    broker: Mosquitto, certs_dir: Path, name: str
) -> None:
    context = ssl.create_default_context(cafile=certs_dir / "ca.crt")
    (tls_port,) = broker.extra_ports
    with (
        socket.create_connection((broker.host, tls_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}


def test_tls_with_another_ca_fails_the_handshake(broker: Mosquitto, tmp_path: Path) -> None:
    make("certs", CERTS_DIR=tmp_path / "other")
    context = ssl.create_default_context(cafile=tmp_path / "other" / "ca.crt")
    (tls_port,) = broker.extra_ports
    with (
        socket.create_connection((broker.host, tls_port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"),
    ):
        context.wrap_socket(raw, server_hostname="mosquitto")
