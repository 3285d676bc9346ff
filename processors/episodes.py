"""Per-device sequence helpers and alert episodes, vectorised over rows sorted by (device, time).

A *block* is the run of rows of one device. An alert condition that holds on several rows is
one *episode* while it recurs within ``rearm`` of its previous occurrence (hysteresis in time),
and optionally until a *break* (a bin emptying) ends it. Episodes depend on a bounded stretch of
history only, so they come out the same whatever order or batching the readings arrived in.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from processors.base import BoolArray, Int64Array

__all__ = ["block_starts", "episode_starts", "last_index", "previous", "unalerted"]

IntpArray = npt.NDArray[np.intp]


def block_starts(device: npt.NDArray[np.integer]) -> IntpArray:
    """Index of the first row of each row's block (``device`` sorted)."""
    index = np.arange(device.size)
    first = np.r_[True, device[1:] != device[:-1]] if device.size else np.zeros(0, bool)
    return np.maximum.accumulate(np.where(first, index, 0)).astype(np.intp)


def last_index(mask: BoolArray, start: IntpArray) -> IntpArray:
    """For each row, the last row at or before it in its block where ``mask`` holds, else -1."""
    index = np.where(mask, np.arange(mask.size), -1)
    found = np.maximum.accumulate(index) if mask.size else index
    return np.where(found >= start, found, -1).astype(np.intp)


def previous(found: IntpArray, start: IntpArray) -> IntpArray:
    """``found`` (a ``last_index`` result) taken at the row before, inside the block, else -1."""
    before = np.r_[-1, found[:-1]] if found.size else found
    return np.where(np.arange(found.size) > start, before, -1).astype(np.intp)


def episode_starts(
    active: BoolArray,
    time_ns: Int64Array,
    start: IntpArray,
    rearm_ns: int,
    breaks: Int64Array | None = None,
) -> BoolArray:
    """Rows where an episode of ``active`` begins.

    An active row continues the episode of the previous active row of its block when that row is
    at most ``rearm_ns`` earlier and (with ``breaks``, a running count) no break lies between.
    """
    prior = previous(last_index(active, start), start)
    has = prior >= 0
    safe = np.where(has, prior, 0)
    continuing = has & (time_ns - time_ns[safe] <= rearm_ns)
    if breaks is not None:
        continuing &= breaks == breaks[safe]
    return active & ~continuing


def unalerted(active: BoolArray, starts: BoolArray, alerted: BoolArray) -> BoolArray:
    """Episode starts whose episode has no row already marked ``alerted``."""
    episode = np.cumsum(starts) - 1
    rows = active & (episode >= 0)
    done = np.bincount(episode[rows], weights=alerted[rows], minlength=int(starts.sum()) + 1) > 0
    fresh: BoolArray = starts & ~done[np.maximum(episode, 0)]
    return fresh
