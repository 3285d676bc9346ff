"""Grafana's provisioning: the datasource, the dashboards, and every panel's InfluxQL query run
against a real InfluxDB that the service filled from a simulated city."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.sinks.retention import AGGREGATE_MEASUREMENTS
from simulators.servers import InfluxV1
from tests.deploy.conftest import REPO

GRAFANA = REPO / "config" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE = yaml.safe_load(
    (GRAFANA / "provisioning" / "datasources" / "city-influxdb.yml").read_text(encoding="utf-8")
)["datasources"][0]
INIT_SCRIPT = REPO / "config" / "compose" / "influxdb-init" / "10-city-influxql.sh"
# contract §4: every measurement a dashboard may read
MEASUREMENTS = {
    "air", "noise", "waste", "link", "air_1h", "noise_1h", "noise_1d", "waste_state", "alert",
    "device_health",
}  # fmt: skip
# Measurements the service does not write yet: their panels' queries must run without error,
# but return no rows. Remove a name when the service starts writing it.
NOT_WRITTEN_YET: set[str] = set()
# Grafana's macros, as the test runs the queries (a 30-day range covers the simulated city)
MACROS = {"$timeFilter": "time > now() - 30d", "$__interval_ms": "3600000", "$__interval": "1h"}


def _board(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def _targets() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (path.stem, panel, target)
        for path in DASHBOARDS
        for panel in _board(path)["panels"]
        for target in panel.get("targets", [])
    ]


def _measurement(query: str) -> str:
    """The measurement of the innermost FROM (subqueries read one measurement), whose retention
    policy is the aggregates' for an aggregate and the database default for raw points."""
    sources = re.findall(r'FROM (?:"(\w+)"\.)?"(\w+)"', query)
    assert sources, f"no quoted measurement in {query!r}"
    assert len(set(sources)) == 1, query
    policy, name = sources[0]
    assert policy == ("aggregates" if name in AGGREGATE_MEASUREMENTS else ""), query
    return str(name)


def _expand(query: str) -> str:
    for macro, value in MACROS.items():  # longest first: $__interval_ms before $__interval
        query = query.replace(macro, value)
    assert "$" not in query, f"unknown Grafana variable in {query!r}"
    return query


def _panels_titled(uid: str, *words: str) -> list[dict[str, Any]]:
    (path,) = [p for p in DASHBOARDS if p.stem == uid]
    return [
        panel
        for panel in _board(path)["panels"]
        if all(w.lower() in panel["title"].lower() for w in words)
    ]


def _threshold_values(panel: dict[str, Any]) -> set[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return {step["value"] for step in steps if step["value"] is not None}


def test_the_datasource_reads_the_dbrp_mapping_as_the_read_only_user(
    compose: dict[str, Any],
) -> None:
    script = INIT_SCRIPT.read_text(encoding="utf-8")
    assert DATASOURCE["type"] == "influxdb"
    assert DATASOURCE["jsonData"]["version"] == "InfluxQL"
    assert DATASOURCE["url"] == "http://influxdb:8086"
    assert "influxdb" in compose["services"]
    database = DATASOURCE["jsonData"]["dbName"]
    assert f'database="${{CITY_INFLUXQL_DATABASE:-{database}}}"' in script
    assert f"--username {DATASOURCE['user']} " in script
    assert "--read-bucket" in script
    assert "--write-bucket" not in script


def test_the_datasource_password_is_a_secret_file_grafana_gets(compose: dict[str, Any]) -> None:
    match = re.fullmatch(
        r"\$__file\{/run/secrets/(\w+)\}", DATASOURCE["secureJsonData"]["password"]
    )
    assert match is not None
    assert match[1] in compose["services"]["grafana"]["secrets"]
    assert match[1] in compose["services"]["influxdb"]["secrets"]  # the init script sets it


def test_grafana_loads_the_dashboards_folder(compose: dict[str, Any]) -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "city.yml").read_text(encoding="utf-8")
    )["providers"][0]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./config/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./config/grafana/provisioning"] == "/etc/grafana/provisioning"
    home = compose["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert Path(home).parent.as_posix() == provider["options"]["path"]
    assert (GRAFANA / "dashboards" / Path(home).name).is_file()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    board = _board(path)
    assert board["uid"] == path.stem
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["description"] or panel["type"] == "text", panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == DATASOURCE["uid"]
            assert target["rawQuery"] is True
            assert "$timeFilter" in target["query"], target["query"]
            assert _measurement(target["query"]) in MEASUREMENTS


def test_dashboard_uids_and_titles_are_unique() -> None:
    boards = [_board(path) for path in DASHBOARDS]
    assert len({b["uid"] for b in boards}) == len({b["title"] for b in boards}) == len(boards) == 5


@pytest.mark.parametrize(
    ("uid", "words", "measurement", "line"),
    [
        ("city-overview", ("uplinks", "per second"), None, None),
        ("city-overview", ("silent",), "device_health", None),
        ("city-overview", ("last uplink",), None, None),
        ("city-overview", ("missed uplinks",), "link", None),
        ("city-air", ("pm2.5", "24-hour"), "air", 15),
        ("city-air", ("eaqi", "district"), "air_1h", None),
        ("city-noise", ("lden",), "noise_1d", 53),
        ("city-waste", ("fill %",), "waste", None),
        ("city-waste", ("full within 24 h",), "waste_state", 24),
        ("city-device-health", ("battery",), "link", None),
        ("city-device-health", ("rssi",), "link", None),
        ("city-device-health", ("qc flags",), None, None),
    ],
)
def test_the_panels_operations_asked_for_exist(
    uid: str, words: tuple[str, ...], measurement: str | None, line: float | None
) -> None:
    panels = _panels_titled(uid, *words)
    assert panels, f"no panel titled with {words} in {uid}"
    if measurement is not None:
        assert any(_measurement(t["query"]) == measurement for p in panels for t in p["targets"])
    if line is not None:
        assert any(line in _threshold_values(p) for p in panels)


def test_the_overview_says_where_dead_letters_are_counted() -> None:
    (text,) = [p for p in _panels_titled("city-overview", "where to look")]
    assert "outcome=..." in text["options"]["content"]
    assert "dead-letter list" in text["options"]["content"]


@pytest.mark.parametrize(
    ("board", "panel", "target"),
    _targets(),
    ids=[f"{board}:{panel['title']}:{t['refId']}" for board, panel, t in _targets()],
)
def test_every_panel_query_runs_on_the_service_data(
    city_influxdb: InfluxV1, board: str, panel: dict[str, Any], target: dict[str, Any]
) -> None:
    query = _expand(target["query"])
    rows = city_influxdb.query(query)  # raises on an InfluxQL error
    if _measurement(query) in NOT_WRITTEN_YET:
        assert rows == [], f"{_measurement(query)} is written now: remove it from NOT_WRITTEN_YET"
    else:
        assert rows, f"{board} / {panel['title']}: no rows for {query}"
