"""Waiting for a condition with a deadline: the only way tests wait (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy; return that.

    Raises AssertionError with `message` once `timeout` seconds have passed, so a test that
    waits in vain fails with a sentence instead of hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        time.sleep(interval)
