"""Streaming and `city-ingest reaggregate` give identical aggregate points for the same data."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulators.servers import InfluxV1, Mosquitto
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, public_names, simulate, source, wait_for_accounting
from tests.processors import reference

pytestmark = pytest.mark.slow
# Streaming aggregates use the flags a reading has when it arrives; the spike and flat-line
# tests may revise them later (flagging n-1 when n arrives, or a whole stuck run), and
# reaggregation reads the revised flags. With those tests off every flag is final on arrival,
# and both paths must agree exactly.
_FIELDS_BY_KIND = (
    ("air", ("pm25", "pm10", "no2", "o3", "temperature", "humidity", "pressure")),
    ("noise", ("laeq", "lamax", "lamin")),
    ("waste", ("distance_mm", "temperature")),
)
_NO_SEQUENCE_TESTS = ", ".join(
    f"{kind} = {{{', '.join(f'{name} = {{}}' for name in names)}}}"
    for kind, names in _FIELDS_BY_KIND
)
FINAL_FLAGS_ONLY = f"{{fields = {{{_NO_SEQUENCE_TESTS}}}}}"
AGGREGATES = ("air_1h", "noise_1h", "noise_1d", "waste_state", "alert", "device_health")


def aggregates(influx: InfluxV1) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    out = {}
    for measurement in AGGREGATES:
        for row in influx.query(f"SELECT * FROM {source(measurement)} GROUP BY *"):
            out[(measurement, row["device"], int(row["time"]), row.get("type", ""))] = row
    return out


def same(a: object, b: object) -> bool:
    """Equal, numbers within float rounding (sums in another order; JSON may print 24.0 as 24)."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_reaggregate_reproduces_what_streaming_wrote(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=8, seed=21)
    env = {"CITY_INGEST_PROCESSORS__QUALITY": FINAL_FLAGS_ONLY}
    with CityIngest(
        tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url, env=env
    ) as service:
        manifest = simulate(
            tmp_path,
            mosquitto.port,
            "--messages",
            "4000",
            "--seed",
            "21",
            "--start",
            "2026-03-28T18:00:00+00:00",
        )
        wait_for_accounting(service, len(manifest))
    streamed = aggregates(influxdb)
    assert {key[0] for key in streamed} == set(AGGREGATES)  # all five land from the stream
    for measurement in AGGREGATES:
        influxdb.query(f'DROP MEASUREMENT "{measurement}"')
    times = [int(e["time_ns"]) for e in manifest]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest",
            "reaggregate",
            "--config",
            str(tmp_path / "city-ingest.toml"),
            "--start",
            "2026-03-26T00:00:00+00:00",
            "--end",
            "2026-04-05T00:00:00+00:00",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    again = aggregates(influxdb)
    assert min(times) > 0
    missing = streamed.keys() - again.keys()
    assert not missing, sorted(missing)[:5]
    differing = [
        key
        for key, row in streamed.items()
        if any(not same(value, again[key].get(name)) for name, value in row.items())
    ]
    assert not differing, [
        (
            k,
            {
                n: (v, again[k].get(n))
                for n, v in streamed[k].items()
                if not same(v, again[k].get(n))
            },
        )
        for k in differing[:3]
    ]
    assert len(again) > len(streamed)  # it also closes the windows streaming still held open
    for query in documented_queries():  # every query the README and schema doc show analysts
        influxdb.query(query)  # raises on a syntax or schema error


def documented_queries() -> list[str]:
    root = Path(__file__).resolve().parents[1]
    queries = []
    for doc in (root / "README.md", root / "docs" / "schema.md", root / "docs" / "quality.md"):
        blocks = re.findall(r"```sql\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
        queries += [
            line for block in blocks for line in block.splitlines() if line.startswith("SELECT")
        ]
    assert len(queries) >= 10
    return queries


def test_streamed_air_aggregates_equal_the_reference_from_the_manifest(
    mosquitto: Mosquitto, influxdb: InfluxV1, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=8, seed=22)
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        manifest = simulate(
            tmp_path,
            mosquitto.port,
            "--messages",
            "3000",
            "--seed",
            "22",
            "--start",
            "2026-06-01T06:00:00+00:00",
        )
        wait_for_accounting(service, len(manifest))
    names = public_names(tmp_path)
    codes = {name: code for code, name in enumerate(sorted(set(names.values())))}
    readings = [
        reference.Reading(
            codes[names[e["dev_eui"]]],
            int(e["time_ns"]),
            {k: v for k, v in e["values"].items() if k in reference.POLLUTANTS},
        )
        for e in manifest
        if e["expect"] == "written" and e["kind"] == "air"
    ]
    expected = reference.air(readings)
    rows = influxdb.query(f"SELECT * FROM {source('air_1h')} GROUP BY *")
    assert len(rows) >= 20
    for row in rows:
        want = expected["air_1h", codes[row["device"]], int(row["time"]), ""]
        for name, value in want.items():
            assert same(row[name], value), (row["device"], row["time"], name, row[name], value)
