"""`check-config` warns about sources that can only deliver at QoS 0 and have no backfill."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.cli import main
from simulators.servers.service import write_service_config
from tests.e2e import make_registry

BACKFILL = """
[backfill]
url = "https://eu1.cloud.thethings.network"
application_id = "city-sensors"
token_file = "tts.key"
"""


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, host: str, extra: str) -> str:
    make_registry(tmp_path, devices=3, seed=1)
    (tmp_path / "tts.key").write_text("NNSXS.NOT-A-REAL-KEY", encoding="utf-8")
    path = write_service_config(
        tmp_path, mqtt_port=1883, influx_url="http://127.0.0.1:8086", mqtt_host=host, extra=extra
    )
    assert main(["check-config", "--config", str(path)]) == 0  # a warning, not a problem
    return capsys.readouterr().err


def test_tts_own_mqtt_server_without_backfill_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _check(tmp_path, capsys, host="eu1.cloud.thethings.network", extra="")
    assert "warning: config key `sources[0]`: tts delivers at QoS 0 only" in err
    assert "docs/networks/tts.md" in err
    assert "sources[1]" not in err


def test_tts_with_backfill_is_not_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _check(tmp_path, capsys, host="eu1.cloud.thethings.network", extra=BACKFILL)
    assert "warning" not in err


def test_a_declared_qos0_chirpstack_source_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = '\n[[sources]]\nnetwork = "chirpstack"\ntopic = "application/#"\nupstream_qos = 0\n'
    err = _check(tmp_path, capsys, host="127.0.0.1", extra=extra)
    assert "config key `sources[3]`: chirpstack delivers at QoS 0 only" in err
    assert "qos = 1" in err
    assert "sources[0]" not in err
