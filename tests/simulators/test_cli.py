"""``city-ingest simulate`` end to end against a real Mosquitto, and its usage errors."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from ingest.model import Outcome
from simulators.__main__ import main
from simulators.manifest import read_manifest
from simulators.servers import Mosquitto, free_port, wait_until
from tests.simulators.helpers import CONFIG, subscribed

START = "2025-03-14T08:00:00Z"


def _argv(broker_port: int, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--host", "127.0.0.1", "--port", str(broker_port), "--decoders",
        str(CONFIG / "decoders.toml"), "--registry", str(tmp_path / "devices.csv"),
        "--start", START, "--seed", "5", "--devices", "2", *extra,
    ]  # fmt: skip


def test_publishes_what_the_manifest_lists_the_same_twice(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = []
    for run in ("first", "second"):
        manifest = tmp_path / f"{run}.jsonl"
        argv = _argv(mosquitto.port, tmp_path, "--messages", "400", "--manifest", str(manifest),
                     "--faults", "out_of_range=0.05", "--topic-prefix", f"{run}/")  # fmt: skip
        with subscribed(mosquitto, f"{run}/#") as subscriber:
            assert main([*argv, *(["--prebuild"] if run == "second" else [])]) == 0
            wait_until(lambda: subscriber.count() >= 400, 30, message="messages missing")
        entries = read_manifest(manifest)
        assert [e["topic"] for e in entries] == [t for t, _ in subscriber.received]
        runs.append((entries, [p for _, p in subscriber.received]))
    assert (tmp_path / "devices.csv").exists()
    (first, first_payloads), (second, second_payloads) = runs
    assert first_payloads == second_payloads
    assert [{**e, "topic": ""} for e in first] == [{**e, "topic": ""} for e in second]
    written = sum(e["expect"] == Outcome.WRITTEN for e in first)
    out = capsys.readouterr().out
    assert f"published 400 messages from 6 devices (expected: {written} written," in out
    assert "400 acknowledged" in out
    assert any(e["fault"] == "out_of_range" for e in first)
    assert orjson.loads(second_payloads[0])  # published as sent: JSON bytes


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--faults", "gremlins=0.1"], "unknown fault 'gremlins'"),
        (["--malformed", "1.5"], "expected a fraction in [0, 1]"),
        (["--start", "2025-03-14T08:00:00"], "has no UTC offset"),
        (["--intervals", "air=5"], "SECONDS >= 10"),
        (["--network", "lorawan"], "invalid choice: 'lorawan'"),
    ],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(_argv(1883, tmp_path, *extra))
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_configuration_exits_2_and_dead_broker_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _argv(free_port(), tmp_path, "--messages", "5")
    assert main([*argv, "--decoders", str(tmp_path / "missing.toml")]) == 2
    assert "decoders.path" in capsys.readouterr().err
    assert main([*argv, "--malformed", "0.6", "--duplicates", "0.6"]) == 2
    assert "malformed + duplicates must be a fraction" in capsys.readouterr().err
    assert main(argv) == 1
    assert "cannot connect to MQTT broker" in capsys.readouterr().err


def test_default_start_puts_the_whole_run_in_the_past(mosquitto: Mosquitto, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    argv = _argv(mosquitto.port, tmp_path, "--messages", "200", "--manifest", str(manifest))
    before = time.time_ns()
    assert main([a for a in argv if a not in ("--start", START)]) == 0
    times = [int(str(e["time_ns"])) for e in read_manifest(manifest)]
    assert max(times) < before
    assert min(times) > before - 2 * 86_400 * 1_000_000_000
