"""The status page in a real browser, against the service fed by the simulator.

The registry gives one device a name that is HTML with a script in it (the page must show it as
text) and holds one device the simulator never sends for (silent: a problem row). Set
``STATUS_PAGE_SCREENSHOT=docs/img/status-page.png`` to refresh the documentation's screenshot.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from simulators.servers import InfluxV1, Mosquitto, wait_until
from simulators.servers.service import CityIngest
from tests.e2e import make_registry, public_names, simulate, wait_for_accounting

pytestmark = pytest.mark.slow

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
SILENT_NAME = "zaanstad-noise-099"
SILENT_EUI = "70B3D57ED0C0FFEE"
_ROWS_JS = """
return [...document.querySelectorAll('#device-table tbody tr')].map((row) => ({
  cells: [...row.cells].map((cell) => cell.textContent),
  classes: [...row.classList],
  background: getComputedStyle(row).backgroundColor,
}));
"""
_MAP_TITLES_JS = (
    "return [...document.querySelectorAll('#map-svg circle title')].map(t => t.textContent);"
)


def _prepare_registries(workdir: Path) -> Path:
    """Rename a municipal device to ``HOSTILE_NAME`` and add ``SILENT_NAME`` to the service's
    registry; the simulator's copy lacks the silent device. Returns the simulator's registry."""
    path = workdir / "devices.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    municipal = [r for r in rows if r["owner"] == "municipal"]
    municipal[0]["device_id"] = HOSTILE_NAME
    noise = next(r for r in municipal if r["kind"] == "noise")
    simulator_registry = workdir / "simulator-devices.csv"
    _write_rows(simulator_registry, rows)
    _write_rows(path, [*rows, {**noise, "dev_eui": SILENT_EUI, "device_id": SILENT_NAME}])
    return simulator_registry


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _districts(workdir: Path) -> dict[str, str]:
    """Public name -> district of every device in the service's registry."""
    names = public_names(workdir)
    with (workdir / "devices.csv").open(newline="", encoding="utf-8") as handle:
        return {names[r["dev_eui"]]: r["district"] for r in csv.DictReader(handle)}


def _rows(browser: WebDriver) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = browser.execute_script(_ROWS_JS)
    return rows


def _rows_when(browser: WebDriver, count: int) -> list[dict[str, Any]]:
    return wait_until(
        lambda: (rows := _rows(browser)) and len(rows) == count and rows,
        10,
        message=f"the device table did not show {count} rows",
    )


def _text(browser: WebDriver, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def test_page_shows_devices_filters_them_and_highlights_problems(
    mosquitto: Mosquitto, influxdb: InfluxV1, browser: WebDriver, tmp_path: Path
) -> None:
    make_registry(tmp_path, devices=4, seed=41)
    simulator_registry = _prepare_registries(tmp_path)
    with CityIngest(tmp_path, mqtt_port=mosquitto.port, influx_url=influxdb.url) as service:
        districts = _districts(tmp_path)  # the service wrote the pseudonym key at start
        args = ("--registry", str(simulator_registry), "--faults", "out_of_range=0.05")
        first = simulate(tmp_path, mosquitto.port, "--messages", "400", "--seed", "41", *args)
        wait_for_accounting(service, len(first))
        browser.get(f"{service.url}/?poll=1")
        rows = _rows_when(browser, len(districts))

        by_name = {row["cells"][0]: row for row in rows}
        assert set(by_name) == set(districts)
        assert HOSTILE_NAME in by_name  # shown as the literal text...
        assert not browser.find_elements(By.CSS_SELECTOR, "main img")  # ...never as an element
        assert any(
            t.startswith(f"{HOSTILE_NAME} · ") for t in browser.execute_script(_MAP_TITLES_JS)
        )
        silent = by_name[SILENT_NAME]
        assert {"problem", "problem-silent"} <= set(silent["classes"])
        assert silent["cells"][3] == "never"
        assert silent["cells"][7] == "yes"
        healthy = [r for r in rows if "problem" not in r["classes"]]
        assert healthy
        assert all(r["background"] != silent["background"] for r in healthy)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#map-svg circle")) == len(rows)

        district = districts[SILENT_NAME]
        in_district = {n for n, d in districts.items() if d == district}
        Select(browser.find_element(By.ID, "filter-district")).select_by_value(district)
        assert {r["cells"][0] for r in _rows_when(browser, len(in_district))} == in_district
        Select(browser.find_element(By.ID, "filter-problem")).select_by_value("silent")
        wait_until(
            lambda: [r["cells"][0] for r in _rows(browser)] == [SILENT_NAME],
            10,
            message="the problem filter did not leave the silent device alone",
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, "#map-svg circle")) == 1
        Select(browser.find_element(By.ID, "filter-district")).select_by_value("")
        Select(browser.find_element(By.ID, "filter-problem")).select_by_value("")
        _rows_when(browser, len(districts))

        second = simulate(tmp_path, mosquitto.port, "--messages", "200", "--seed", "42", *args)
        total = len(first) + len(second)
        wait_for_accounting(service, total)
        wait_until(
            lambda: _text(browser, "total-received") == f"{total} in total", 10, message="totals"
        )
        assert float(_text(browser, "rate-received")) > 0
        assert _text(browser, "mqtt-state") == "subscribed"
        assert _text(browser, "influxdb-state") == "ready"
        letters = browser.find_elements(By.CSS_SELECTOR, "#letter-table tbody tr")
        reasons = {row.find_elements(By.TAG_NAME, "td")[2].text for row in letters}
        assert reasons <= {"bad_envelope", "bad_payload", "unknown_device"}
        assert reasons
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.accept()
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors  # no script error, no policy violation, no missing file
        _save_screenshot(browser, tmp_path / "status-page.png")


def _save_screenshot(browser: WebDriver, path: Path) -> None:
    """The test's artefact; copied to ``$STATUS_PAGE_SCREENSHOT`` when that is set."""
    browser.set_window_size(1400, browser.execute_script("return document.body.scrollHeight;"))
    assert browser.save_screenshot(str(path))
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    if target := os.environ.get("STATUS_PAGE_SCREENSHOT"):
        shutil.copyfile(path, target)
