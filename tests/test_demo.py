"""`city-ingest demo` end to end, as `make demo` runs it (shorter: the same code path)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_prints_a_balanced_table_with_points_read_back() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "demo", "--devices", "50", "--messages", "1500"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = dict(re.findall(r"^(\S.*?)\s{2,}(\d+)$", done.stdout, flags=re.MULTILINE))
    assert table["published by the simulator"] == table["received"] == "1500"
    outcomes = sum(int(table[k]) for k in ("written", "duplicate", "dead_letter"))
    assert outcomes == 1500
    points = sum(int(table[f"points in '{m}'"]) for m in ("air", "noise", "waste"))
    assert points == int(table["written"]) == int(table["points in 'link'"])
    assert "accounting balanced: True" in done.stdout
    assert "SELECT mean(pm25) FROM air" in done.stdout
