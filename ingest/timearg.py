"""Times given on the command line (``--start``, ``--since``): ISO 8601 with a UTC offset."""

from __future__ import annotations

import argparse
from datetime import datetime

__all__ = ["instant_ns"]


def instant_ns(text: str) -> int:
    """An ISO 8601 / RFC 3339 time with offset as ns since the epoch; an argparse type."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"expected an ISO 8601 time such as 2025-03-14T08:00:00Z, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from exc
    if moment.tzinfo is None:
        msg = f"{text!r} has no UTC offset; add Z or +01:00"
        raise argparse.ArgumentTypeError(msg)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
