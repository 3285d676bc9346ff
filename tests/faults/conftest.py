"""Fault scenarios: a fresh city per test, and the table of figures at the end of the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from simulators.servers import InfluxV1, Mosquitto
from tests.faults.harness import City
from tests.faults.report import Figures, render_table, report_path, save_figures

_FIGURES = pytest.StashKey[list[Figures]]()


@pytest.fixture
def city(tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxV1) -> City:
    """A registry of 20 devices per kind in ``tmp_path/city`` on a fresh broker and database."""
    workdir = tmp_path / "city"
    workdir.mkdir()
    return City.build(workdir, mosquitto, influxdb, devices=20, seed=41)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[Figures], None]:
    """Add a scenario's row to the run's table (printed and saved when the run ends)."""
    return request.config.stash.setdefault(_FIGURES, []).append


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    rows = config.stash.get(_FIGURES, [])
    if not rows:
        return
    path = report_path()
    save_figures(rows, path)
    terminalreporter.section("fault scenarios")
    terminalreporter.write_line(render_table(rows))
    terminalreporter.write_line(f"(figures saved to {path})")
