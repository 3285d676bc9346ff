"""Local-day boundaries across the 2026 DST changes in Europe/Amsterdam."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ingest.errors import ConfigError
from processors.calendar import LocalCalendar
from tests.processors.reference import local_at

HOUR = 3_600 * 10**9


def day_number(d: date) -> int:
    return d.toordinal() - date(1970, 1, 1).toordinal()


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 7, 1), 24)]
)
def test_local_days_are_23_24_or_25_hours(day: date, hours: int) -> None:
    calendar = LocalCalendar("Europe/Amsterdam", (0,))
    n = np.array([day_number(day)])
    assert int(calendar.instants(n + 1, 0)[0] - calendar.instants(n, 0)[0]) == hours * HOUR


def test_locate_finds_day_and_segment() -> None:
    calendar = LocalCalendar("Europe/Amsterdam", (0, 7, 19, 23))
    day = date(2026, 10, 24)
    times = np.array([local_at(day, 6), local_at(day, 7), local_at(day, 22), local_at(day, 23)])
    located_day, segment = calendar.locate(times)
    assert located_day.tolist() == [day_number(day)] * 4
    assert segment.tolist() == [0, 1, 2, 3]


def test_zone_with_half_hour_offset_is_refused_for_hourly_days() -> None:
    calendar = LocalCalendar("Asia/Kolkata", (0,))
    with pytest.raises(ConfigError, match="whole number of hours"):
        calendar.locate_hours(np.array([0], dtype=np.int64))


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown time zone"):
        LocalCalendar("Europe/Atlantis", (0,))
