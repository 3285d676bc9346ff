"""The InfluxDB 2 init script (config/compose/influxdb-init/): the DBRP mapping for InfluxQL and
Grafana's read-only user. InfluxDB 2 cannot run here, so a recording `influx` stands in for the
CLI: the test checks the commands the script gives it, as the image would run it."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

from tests.deploy.conftest import REPO

INIT_DIR = REPO / "config" / "compose" / "influxdb-init"
SCRIPT = INIT_DIR / "10-city-influxql.sh"
BUCKET_ID = "0a1b2c3d4e5f6789"


def _run(
    tmp_path: Path, password_file: Path
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    calls = tmp_path / "calls"
    stub = tmp_path / "bin" / "influx"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(calls))}\n')
    stub.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_INFLUXDB_INIT_BUCKET_ID": BUCKET_ID,
        "GRAFANA_INFLUXDB_PASSWORD_FILE": str(password_file),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    lines = calls.read_text().splitlines() if calls.exists() else []
    return result, [line.split() for line in lines]


def test_the_image_runs_it(compose: dict[str, Any]) -> None:
    # the influxdb image runs executable *.sh files of /docker-entrypoint-initdb.d
    assert os.access(SCRIPT, os.X_OK)
    mounts = dict(v.split(":")[:2] for v in compose["services"]["influxdb"]["volumes"])
    assert mounts["./config/compose/influxdb-init"] == "/docker-entrypoint-initdb.d"
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_it_maps_database_city_to_the_bucket_and_adds_a_read_only_user(
    tmp_path: Path, secrets_dir: Path
) -> None:
    password_file = secrets_dir / "grafana_influxdb_password"
    result, calls = _run(tmp_path, password_file)
    assert result.returncode == 0, result.stderr
    dbrp, auth = calls
    assert dbrp[:3] == ["v1", "dbrp", "create"]
    assert _option(dbrp, "--bucket-id") == BUCKET_ID
    assert (_option(dbrp, "--db"), _option(dbrp, "--rp")) == ("city", "autogen")
    assert "--default" in dbrp
    assert auth[:3] == ["v1", "auth", "create"]
    assert _option(auth, "--username") == "grafana"
    assert _option(auth, "--password") == password_file.read_text().strip()
    assert _option(auth, "--read-bucket") == BUCKET_ID
    assert "--write-bucket" not in auth


def test_it_stops_with_a_fix_when_the_secret_is_missing(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, tmp_path / "absent")
    assert result.returncode == 1
    assert "make secrets" in result.stderr
    assert calls == []


def _option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]
