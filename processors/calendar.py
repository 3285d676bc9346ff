"""Local-time day boundaries as UTC instants, looked up for whole arrays at once.

Windows that a standard defines in local time (a "day" in Europe/Amsterdam, the Lden periods
of Directive 2002/49/EC) cannot be cut with integer division: days are 23 h or 25 h long on DST
changes. ``LocalCalendar`` keeps a table of the instants "local date D at hour h" for the days
seen so far (built with ``zoneinfo``, one Python step per *day*, never per reading) and locates
timestamps in it with ``np.searchsorted``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from ingest.errors import ConfigError
from processors.base import Int64Array

__all__ = ["LocalCalendar"]

_DAY_NS: Final = 86_400 * 10**9
_HOUR_NS: Final = 3_600 * 10**9
_EPOCH: Final = date(1970, 1, 1)
_MARGIN_DAYS: Final = (
    2  # |UTC offset| < 1 day: a timestamp's local date is within ±1 of its UTC date
)


class LocalCalendar:
    """Boundaries at fixed local hours of every day, e.g. ``hours=(0,)`` for midnights.

    Days are numbered by their local date (days since 1970-01-01). ``instants(day, j)`` is the
    UTC instant of local date ``day`` at ``hours[j]``; ``locate(t)`` gives the day and segment
    ``j`` whose ``[instant(day, j), next boundary)`` holds ``t``.
    """

    def __init__(self, timezone: str, hours: tuple[int, ...]) -> None:
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                "processors.timezone", f"unknown time zone {timezone!r}", "use an IANA name"
            ) from exc
        if list(hours) != sorted(set(hours)) or not all(0 <= h < 24 for h in hours):
            raise ConfigError(
                "processors.hours", f"bad day boundaries {hours}", "give ascending hours 0-23"
            )
        self._hours = hours
        self._first_day = 0
        self._table: Int64Array = np.empty(0, dtype=np.int64)  # flat: day-major, hour-minor

    def locate(self, time_ns: Int64Array) -> tuple[Int64Array, Int64Array]:
        """Local day number and segment index of each timestamp."""
        if time_ns.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        self._cover(int(time_ns.min()) // _DAY_NS - 1, int(time_ns.max()) // _DAY_NS + 1)
        flat = np.searchsorted(self._table, time_ns, side="right") - 1
        width = len(self._hours)
        return flat // width + self._first_day, flat % width

    def instants(self, day: Int64Array, segment: int) -> Int64Array:
        """UTC instant (ns) of local date ``day`` at ``hours[segment]``."""
        if day.size == 0:
            return np.empty(0, dtype=np.int64)
        self._cover(int(day.min()), int(day.max()) + 1)
        return self._table[(day - self._first_day) * len(self._hours) + segment]

    def locate_hours(self, hour_start_ns: Int64Array) -> tuple[Int64Array, Int64Array]:
        """``locate`` for UTC hour starts, checking that no boundary falls inside an hour.

        Processors build local days from UTC hours, which needs whole-hour UTC offsets.
        """
        located = self.locate(hour_start_ns)
        if np.any(self._table % _HOUR_NS):
            raise ConfigError(
                "processors.timezone",
                f"{self._zone.key} has a UTC offset that is not a whole number of hours",
                "use a zone with whole-hour offsets such as Europe/Amsterdam",
            )
        return located

    def _cover(self, first: int, last: int) -> None:
        """Extend the table to hold days ``first - margin`` .. ``last + margin``."""
        first, last = first - _MARGIN_DAYS, last + _MARGIN_DAYS
        if self._table.size and first >= self._first_day and last < self._end_day():
            return
        if self._table.size:
            first, last = min(first, self._first_day), max(last, self._end_day() - 1)
        self._first_day = first
        self._table = np.array(
            [self._instant(day, h) for day in range(first, last + 1) for h in self._hours],
            dtype=np.int64,
        )

    def _end_day(self) -> int:
        return self._first_day + self._table.size // len(self._hours)

    def _instant(self, day: int, hour: int) -> int:
        local = datetime.combine(_EPOCH + timedelta(days=day), datetime.min.time(), self._zone)
        utc = local.replace(hour=hour).astimezone(UTC)
        return (utc - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
