"""The command line as a user runs it: check-config, dead-letter list and replay (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.model import Reason
from ingest.sinks.deadletter import FILE_NAME, DeadLetter, DeadLetterStore, read_dead_letters
from simulators.servers import Mosquitto, free_port, wait_until
from tests.test_registry import AIR, BIN, write_registry

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "city-ingest.toml"
DECODERS = REPO / "config" / "decoders.toml"
SECRETS = {
    "CITY_INGEST_PRIVACY__PSEUDONYM_KEY_FILE": "pseudonym-5c0ffee5c0ffee5c0ffee",
    "CITY_INGEST_INFLUXDB__TOKEN_FILE": "influx-tok-8b1d-recognisable",
    "CITY_INGEST_MQTT__PASSWORD_FILE": "mqtt-pw-77aa-recognisable",
}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CITY_INGEST_")}
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=REPO,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def secret_env(tmp_path: Path) -> dict[str, str]:
    """Every secret given through a *_FILE variable, each a recognisable string."""
    env = {}
    for name, secret in SECRETS.items():
        path = tmp_path / name.lower()
        path.write_text(secret + "\n", encoding="utf-8")
        env[name] = str(path)
    return env


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    for secret in SECRETS.values():
        assert secret not in result.stdout + result.stderr


def write_config(folder: Path, body: str) -> Path:
    path = folder / "city-ingest.toml"
    path.write_text(body, encoding="utf-8")
    return path


def config_text(registry: Path, extra: str = "", dead_letter: Path | None = None) -> str:
    return (
        f'[[sources]]\nnetwork = "tts"\ntopic = "v3/+/devices/+/up"\n'
        f'[registry]\npath = "{registry}"\n[decoders]\npath = "{DECODERS}"\n'
        f'[dead_letter]\ndir = "{dead_letter or registry.parent / "dl"}"\n{extra}'
    )


def test_check_config_accepts_the_shipped_example(secret_env: dict[str, str]) -> None:
    result = run_cli("check-config", "--config", str(EXAMPLE), env=secret_env)
    assert result.returncode == 0, result.stderr
    assert f"config {EXAMPLE}: OK" in result.stdout
    assert "registry: 12 devices (air 4, noise 4, waste 4)" in result.stdout
    assert "tts v3/+/devices/+/up" in result.stdout
    assert "**********" in result.stdout  # the secrets are there, masked
    assert_no_secret(result)


def test_check_config_needs_the_pseudonym_key_for_citizen_devices() -> None:
    result = run_cli("check-config", "--config", str(EXAMPLE))
    assert result.returncode == 2
    assert "privacy.pseudonym_key" in result.stderr
    assert "CITY_INGEST_PRIVACY__PSEUDONYM_KEY_FILE" in result.stderr


@pytest.mark.parametrize(
    ("rows", "extra", "expected"),
    [
        ([AIR], "[mqtt]\nporrt = 1883\n", ("`mqtt.porrt`", "did you mean `port`")),
        ([AIR], '[mqtt]\nport = "abc"\n', ("`mqtt.port`", "'abc'")),
        ([AIR], '[influxdb]\napi = "v2"\n', ("`influxdb.token`", "TOKEN_FILE")),
        (
            [AIR | {"decoder": "city-air-v7"}],
            "",
            ("`devices.csv row 2 decoder`", "add a layout to decoders.toml"),
        ),
        (
            [AIR, BIN | {"dev_eui": AIR["dev_eui"]}],
            "",
            ("`devices.csv row 3 dev_eui`", "keep one row per device"),
        ),
    ],
)
def test_check_config_names_the_key_and_the_fix(
    tmp_path: Path,
    secret_env: dict[str, str],
    rows: list[dict[str, str]],
    extra: str,
    expected: tuple[str, str],
) -> None:
    key, fix = expected
    registry = write_registry(tmp_path / "devices.csv", rows)
    config = write_config(tmp_path, config_text(registry, extra))
    env = secret_env
    if "api" in extra:
        env = {k: v for k, v in env.items() if "TOKEN" not in k}
    result = run_cli("check-config", "--config", str(config), env=env)
    assert result.returncode == 2
    assert f"config key {key}: " in result.stderr
    assert fix in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert_no_secret(result)


def test_check_config_missing_required_key(tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "devices.csv", [AIR])
    text = config_text(registry).replace(f'[registry]\npath = "{registry}"\n', "[registry]\n")
    result = run_cli("check-config", "--config", str(write_config(tmp_path, text)))
    assert result.returncode == 2
    assert "config key `registry.path`: is required but missing" in result.stderr
    assert "add it to the [registry] section" in result.stderr


LETTERS = [
    DeadLetter(
        topic="v3/city@zaanstad/devices/air-9/up",
        payload=b'{"end_device_ids": {"dev_eui": "0000000000000009"}}',
        reason=Reason.UNKNOWN_DEVICE,
        detail="device.unknown",
        message="DevEUI 0000000000000009 is not in the registry",
        received_ns=1_700_000_000_000_000_000,
        network="tts",
    ),
    DeadLetter(
        topic="application/7/device/70b3d57ed0ca51ce/event/up",
        payload=b"\x00\xff\xfe binary",
        reason=Reason.BAD_PAYLOAD,
        detail="payload.length_mismatch",
        message="3 bytes, layout needs 9",
        received_ns=1_700_000_001_000_000_000,
        network="chirpstack",
    ),
    DeadLetter(
        topic="kpn/things/unknown",
        payload=b"\xc3\x28 not utf-8",
        reason=Reason.UNKNOWN_DEVICE,
        detail="device.unknown",
        message="DevEUI 0000000000000010 is not in the registry",
        received_ns=1_700_000_002_000_000_000,
        network="kpn",
    ),
]


def store_letters(folder: Path) -> Path:
    store = DeadLetterStore(folder, 1 << 20)
    store.open()
    store.append(LETTERS)
    return store.path


def test_dead_letter_list_filters_by_reason(tmp_path: Path) -> None:
    path = store_letters(tmp_path / "dl")
    config = write_config(tmp_path, config_text(tmp_path / "devices.csv", "", tmp_path / "dl"))
    args = ("dead-letter", "list", "--config", str(config))
    result = run_cli(*args, "--reason", "unknown_device", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["topic"] for r in records] == [LETTERS[0].topic, LETTERS[2].topic]
    assert [r["payload_encoding"] for r in records] == ["utf-8", "base64"]
    assert f"2 dead letters in {path}" in result.stderr

    table = run_cli(*args)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 3
    for line, letter in zip(lines, LETTERS, strict=True):
        assert letter.topic in line
        assert letter.reason.value in line
        assert letter.detail in line


class Subscriber:
    """A paho client that records every (topic, payload) it receives."""

    def __init__(self, broker: Mosquitto) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe("#", qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, msg.payload))

    def messages(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    client = Subscriber(mosquitto)
    try:
        wait_until(client.subscribed.is_set, 10, message="no SUBACK")
        yield client
    finally:
        client.close()


def test_dead_letter_replay_publishes_and_keeps_the_rest(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    folder = tmp_path / "dl"
    path = store_letters(folder)
    extra = f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
    config = write_config(tmp_path, config_text(tmp_path / "devices.csv", extra, folder))
    result = run_cli("dead-letter", "replay", "--config", str(config), "--reason", "unknown_device")
    assert result.returncode == 0, result.stderr
    expected = [(LETTERS[0].topic, LETTERS[0].payload), (LETTERS[2].topic, LETTERS[2].payload)]
    wait_until(lambda: len(subscriber.messages()) >= 2, 10, message="replayed letters")
    assert sorted(subscriber.messages()) == sorted(expected)
    assert list(read_dead_letters(path)) == [LETTERS[1]]
    assert sorted(p.name for p in folder.iterdir()) == [FILE_NAME]


def test_dead_letter_replay_without_a_broker_keeps_everything(tmp_path: Path) -> None:
    folder = tmp_path / "dl"
    path = store_letters(folder)
    extra = f'[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\n'
    config = write_config(tmp_path, config_text(tmp_path / "devices.csv", extra, folder))
    result = run_cli("dead-letter", "replay", "--config", str(config))
    assert result.returncode == 1
    assert "cannot connect" in result.stderr
    assert list(read_dead_letters(path)) == LETTERS
    assert sorted(p.name for p in folder.iterdir()) == [FILE_NAME]


def test_dead_letter_replay_takes_up_what_a_killed_replay_left(
    tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber
) -> None:
    folder = tmp_path / "dl"
    left = store_letters(folder).rename(folder / "dead-letter.replaying-1700000000000000000.jsonl")
    extra = f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
    config = write_config(tmp_path, config_text(tmp_path / "devices.csv", extra, folder))
    result = run_cli("dead-letter", "replay", "--config", str(config), "--reason", "bad_payload")
    assert result.returncode == 0, result.stderr
    wait_until(subscriber.messages, 10, message="replayed letter")
    assert subscriber.messages() == [(LETTERS[1].topic, LETTERS[1].payload)]
    assert not left.exists()
    assert list(read_dead_letters(folder / FILE_NAME)) == [LETTERS[0], LETTERS[2]]
