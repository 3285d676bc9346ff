"""qc-report: the scoring on a hand-made manifest, and one run against a real InfluxDB."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.decoders import load_config
from ingest.errors import SinkUnavailable
from ingest.plan import plan
from ingest.qcreport import add_arguments, run, score
from ingest.settings import load_settings
from simulators.fleet import load_or_create_fleet
from simulators.servers import InfluxV1
from simulators.servers.process import CONFIG_DIR

HOUR = 3_600 * 10**9
MIN = 60 * 10**9
T0 = 1_767_225_600 * 10**9


def _entry(
    eui: str, minute: int, fault: str | None = None, expect: str = "written"
) -> dict[str, Any]:
    return {
        "dev_eui": eui,
        "kind": "air",
        "time_ns": T0 + minute * MIN,
        "fault": fault,
        "expect": expect,
    }


def _manifest() -> list[dict[str, Any]]:
    """Device A: a spike (minute 30) and a PM inversion (60); B: a dropout ending at 190."""
    faults = {3: "spike", 6: "pm_inversion"}
    entries = [_entry("A", 10 * i, faults.get(i)) for i in range(10)]
    entries += [_entry("A", 95), _entry("A", 31, "duplicate", "duplicate")]
    entries += [_entry("A", 32, "invalid_json", "dead_letter")]
    entries += [_entry("B", 0), _entry("B", 10), _entry("B", 190, "dropout")]
    return entries


def _rows() -> dict[str, list[dict[str, Any]]]:
    flags = {3: {"pm25_qc": 4}, 4: {"pm25_qc": 3, "pm10_qc": 1}, 9: {"humidity_qc": 3}}
    air = [
        {"device": "a", "time": T0 + 10 * i * MIN, "pm25_qc": 1, **flags.get(i, {})}
        for i in range(10)
    ]
    air += [{"device": "b", "time": T0 + m * MIN, "pm25_qc": None} for m in (0, 10, 190)]
    health = [
        {"device": "b", "time": T0 + HOUR, "silent": True},  # inside B's gap
        {"device": "a", "time": T0, "silent": True},  # no dropout explains it
        {"device": "a", "time": T0 + 5 * HOUR, "silent": True},  # after A's last uplink: unknown
        {"device": "b", "time": T0 + 2 * HOUR, "silent": False},
    ]
    return {"air": air, "noise": [], "device_health": health}


def test_score_counts_recall_precision_and_false_flags() -> None:
    result = score(_manifest(), _rows(), str.lower)
    spike, inversion = result.faults["spike"], result.faults["pm_inversion"]
    assert (spike.readings, spike.flagged, spike.collateral) == (1, 1, 1)
    assert (spike.recall, spike.precision) == (1.0, 0.5)  # minute 40 is the spike's collateral
    assert (inversion.readings, inversion.flagged, inversion.recall) == (1, 0, 0.0)
    assert math.isnan(inversion.precision)
    assert math.isnan(result.faults["stuck"].recall)
    assert (result.clean.readings, result.clean.flagged) == (11, 2)  # B's return is clean
    assert result.false_flag_rate == pytest.approx(2 / 11)
    assert result.clean_fields == {"pm25": 1, "humidity": 1}
    assert result.unmatched == 1  # A at minute 95 has no point: left out of the counts


def test_score_finds_dropouts_in_silent_hours() -> None:
    dropout = score(_manifest(), _rows(), str.lower).dropout
    assert (dropout.gaps, dropout.found, dropout.recall) == (1, 1, 1.0)
    assert (dropout.silent_hours, dropout.silent_in_gaps, dropout.precision) == (2, 1, 0.5)


def test_score_without_health_misses_every_dropout() -> None:
    rows = {**_rows(), "device_health": []}
    dropout = score(_manifest(), rows, str.lower).dropout
    assert (dropout.gaps, dropout.found, dropout.silent_hours) == (1, 0, 0)
    assert math.isnan(dropout.precision)


def test_table_lists_every_fault_type() -> None:
    table = score(_manifest(), _rows(), str.lower).table()
    lines = table.splitlines()
    assert lines[0].split() == ["fault", "readings", "flagged", "recall", "collat.", "prec."]
    assert "spike                  1        1   1.000        1  0.500" in table
    assert {line.split()[0] for line in lines[1:7]} == {
        "stuck",
        "spike",
        "drift",
        "out_of_range",
        "pm_inversion",
        "fog",
    }
    assert "false-flag rate 0.1818 (pm25 1, humidity 1)" in table
    assert "1 gaps, 1 found: recall 1.000; 2 silent hours, 1 in gaps: precision 0.500" in table
    assert "1 written manifest entries have no point" in table


def _config(tmp_path: Path, influx_url: str) -> Path:
    registry = tmp_path / "devices.csv"
    devices = load_or_create_fleet(registry, 1, 3, load_config(CONFIG_DIR / "decoders.toml"))
    (tmp_path / "pseudonym.key").write_text("k" * 32)
    config = tmp_path / "city-ingest.toml"
    config.write_text(
        f'[[sources]]\nnetwork = "tts"\ntopic = "v3/+/devices/+/up"\n'
        f'[influxdb]\nurl = "{influx_url}"\n[registry]\npath = "{registry}"\n'
        f'[decoders]\npath = "{CONFIG_DIR / "decoders.toml"}"\n'
        f'[privacy]\npseudonym_key_file = "{tmp_path / "pseudonym.key"}"\n'
    )
    (tmp_path / "manifest.jsonl").write_bytes(
        b"".join(
            orjson.dumps(
                {**_entry(d.dev_eui, 10 * i, "spike" if i == 1 else None), "kind": d.kind.value}
            )
            + b"\n"
            for d in devices
            for i in range(3)
        )
    )
    return config


def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(
        [
            "--manifest",
            str(tmp_path / "manifest.jsonl"),
            "--config",
            str(tmp_path / "city-ingest.toml"),
            *extra,
        ]
    )


def test_report_reads_the_flags_from_influxdb(
    influxdb: InfluxV1, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(tmp_path, "http://127.0.0.1:9")  # the option below overrides the config's URL
    influxdb.create_database("qc")
    influxdb.create_retention_policy("qc", "aggregates", "INF")  # device_health's (none here)
    the_plan = plan(load_settings(tmp_path / "city-ingest.toml"))
    lines = []
    for device in the_plan.registry:  # any *_qc field counts; the tag is the public name
        tag = the_plan.pseudonyms.name(device)
        lines += [
            f"{device.kind.value},device={tag} x_qc={3 if i == 1 else 1}i,y_qc=1i "
            f"{T0 + 10 * i * MIN}"
            for i in range(3)
        ]
    assert any(",device=citizen-" in line for line in lines)  # one pseudonymised device
    influxdb.write("\n".join(lines), database="qc")
    assert run(_args(tmp_path, "--influx-url", influxdb.url, "--database", "qc")) == 0
    table = capsys.readouterr().out
    assert "spike                  3        3   1.000        0  1.000" in table
    assert "clean                  6        0  false-flag rate 0.0000" in table
    assert "no point" not in table  # pseudonyms of citizen devices matched


def test_report_refuses_an_url_without_scheme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(tmp_path, "http://127.0.0.1:9")
    assert run(_args(tmp_path, "--influx-url", "localhost:8086")) == 2
    assert "add http:// or https://" in capsys.readouterr().err


def test_unreachable_influxdb_is_a_runtime_error(tmp_path: Path) -> None:
    _config(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(SinkUnavailable, match="cannot query InfluxDB"):
        run(_args(tmp_path))
