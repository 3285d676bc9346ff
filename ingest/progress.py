"""Progress of long commands: a bar on a terminal, a plain line now and then otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TextIO

__all__ = ["Progress"]

_BAR = 30


class Progress:
    """Counts work done; redraws at most every ``every`` seconds (a bar when ``stream`` is a
    terminal, a line like ``publish: 12000/50000 (24 %)`` otherwise)."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        stream: TextIO = sys.stderr,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._total = total
        self._stream = stream
        self._tty = stream.isatty()
        self._every = every if every is not None else (0.2 if self._tty else 5.0)
        self._clock = clock
        self._last = clock()
        self.done = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._draw()
        if self._tty:
            self._stream.write("\n")
        self._stream.flush()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = self._clock()
        if now - self._last >= self._every:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self._total:
            share = min(self.done / self._total, 1.0)
            text = f"{self.done}/{self._total} ({share:.0%})"
            if self._tty:
                filled = int(share * _BAR)
                text = f"[{'#' * filled}{'.' * (_BAR - filled)}] {text}"
        else:
            text = str(self.done)
        if self._tty:
            self._stream.write(f"\r{self._label}: {text}")
        else:
            self._stream.write(f"{self._label}: {text}\n")
        self._stream.flush()
