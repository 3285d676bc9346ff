"""The likeliest deployment mistakes are named with their key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from ingest.diagnose import probe_problems, static_problems
from ingest.model import Network
from ingest.settings import (
    InfluxApi,
    InfluxSettings,
    MqttSettings,
    PathSettings,
    RegistrySettings,
    Settings,
    SourceSettings,
)
from simulators.servers import InfluxV1, Mosquitto, free_port


def settings(
    tmp_path: Path,
    *,
    sources: list[SourceSettings] | None = None,
    mqtt_port: int = 1883,
    influx: InfluxSettings | None = None,
) -> Settings:
    return Settings(
        mqtt=MqttSettings(host="127.0.0.1", port=mqtt_port),
        sources=sources or [SourceSettings(network=Network.TTS, topic="v3/+/devices/+/up")],
        influxdb=influx or InfluxSettings(),
        registry=RegistrySettings(path=tmp_path / "devices.csv"),
        decoders=PathSettings(path=tmp_path / "decoders.toml"),
        spool={"dir": tmp_path / "spool"},
        dead_letter={"dir": tmp_path / "dead"},
        processors={"state_dir": tmp_path / "state"},
    )


@pytest.mark.parametrize(
    ("network", "topic", "wrong"),
    [
        (Network.TTS, "v3/+/devices/+/up", False),
        (Network.TTS, "v3/+/device/+/up", True),  # "device" for "devices"
        (Network.CHIRPSTACK, "application/+/device/+/event/up", False),
        (Network.CHIRPSTACK, "application/+/device/+/up", True),
        (Network.KPN, "anything/the/operator/chose", False),
    ],
)
def test_topic_filters_that_match_nothing(
    tmp_path: Path, network: Network, topic: str, wrong: bool
) -> None:
    problems = static_problems(
        settings(tmp_path, sources=[SourceSettings(network=network, topic=topic)])
    )
    assert bool(problems) is wrong
    if wrong:
        assert "`sources[0].topic`" in problems[0]


def test_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    config = settings(tmp_path).model_dump()
    config["spool"]["dir"] = blocker / "spool"  # a file stands where the folder should be
    assert any("`spool.dir`" in p for p in static_problems(Settings.model_validate(config)))


def test_probe_names_wrong_port_api_and_database(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxV1
) -> None:
    good = settings(tmp_path, mqtt_port=mosquitto.port, influx=InfluxSettings(url=influxdb.url))
    assert probe_problems(good) == []
    wrong_port = settings(tmp_path, mqtt_port=free_port(), influx=InfluxSettings(url=influxdb.url))
    assert any("`mqtt.host`/`mqtt.port`" in p for p in probe_problems(wrong_port, timeout=2))
    v2 = InfluxSettings(url=influxdb.url, api=InfluxApi.V2, token=SecretStr("t"))
    [problem] = probe_problems(settings(tmp_path, mqtt_port=mosquitto.port, influx=v2))
    assert "`influxdb.api`" in problem
    assert 'api = "auto"' in problem
    missing = InfluxSettings(url=influxdb.url, database="nope")
    [problem] = probe_problems(settings(tmp_path, mqtt_port=mosquitto.port, influx=missing))
    assert "`influxdb.database`" in problem
    assert "CREATE DATABASE" in problem
    no_server = InfluxSettings(url=f"http://127.0.0.1:{free_port()}")
    [problem] = probe_problems(settings(tmp_path, mqtt_port=mosquitto.port, influx=no_server))
    assert "`influxdb.url`" in problem
