"""Reconcile a simulator manifest with what landed in InfluxDB and the dead-letter store.

The manifest is the ground truth (contract §6): every entry expected ``written`` must be one
point of its kind's measurement, tagged with the device's public name and stamped with the
uplink time, holding exactly the manifest's values; every entry expected ``dead_letter`` must be
one dead letter on the same topic with the same reason and a detail code starting with the
expected prefix. Nothing else may be there.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.model import Kind
from ingest.schema import LINK_FIELDS
from ingest.sinks.deadletter import DeadLetter

__all__ = ["Reconciliation", "reconcile"]

Row = Mapping[str, Any]
_LINK_FIELDS = frozenset(f.name for f in LINK_FIELDS)


@dataclass(slots=True)
class Reconciliation:
    """Differences between the manifest and the stores; ``ok`` when there are none."""

    expected: Counter[str] = field(default_factory=Counter)  # by expected outcome
    points: Counter[str] = field(default_factory=Counter)  # by measurement
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    wrong_values: list[str] = field(default_factory=list)
    dead_letter_problems: list[str] = field(default_factory=list)
    redelivered: int = 0  # dead letters of messages the broker delivered again

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.wrong_values or self.dead_letter_problems)

    def report(self, limit: int = 10) -> str:
        parts = [f"expected {dict(self.expected)}, points {dict(self.points)}"]
        for title, items in (
            ("missing", self.missing),
            ("extra", self.extra),
            ("wrong values", self.wrong_values),
            ("dead letters", self.dead_letter_problems),
        ):
            if items:
                parts.append(f"{title} ({len(items)}): " + "; ".join(items[:limit]))
        return "\n".join(parts)


def reconcile(
    manifest: Iterable[Row],
    rows_of: Callable[[str], list[Row]],
    dead_letters: Iterable[DeadLetter],
    public_name: Callable[[str], str],
    *,
    redelivery: bool = False,
) -> Reconciliation:
    """Compare; ``rows_of(measurement)`` returns every point of it as dicts with ``device``,
    ``time`` (ns) and the fields; ``public_name(dev_eui)`` gives the device tag. Link fields
    (battery voltage) are looked up in the ``link`` measurement.

    With ``redelivery`` (a run where the broker restarted: MQTT QoS 1 is at-least-once), dead
    letters identical in topic, payload, reason and detail count once, the copies in
    ``redelivered``; points are idempotent and need no such leave."""
    result = Reconciliation()
    entries = list(manifest)
    result.expected.update(str(e["expect"]) for e in entries)
    written = [e for e in entries if e["expect"] == "written"]
    for kind in Kind:
        wanted = {_key(e, public_name): e for e in written if e["kind"] == kind.value}
        rows = rows_of(kind.value)
        result.points[kind.value] = len(rows)
        _compare_points(wanted, rows, _not_link, result)
    link_rows = rows_of("link")
    result.points["link"] = len(link_rows)
    _compare_points({_key(e, public_name): e for e in written}, link_rows, _is_link, result)
    _compare_dead_letters(
        [e for e in entries if e["expect"] == "dead_letter"],
        list(dead_letters),
        result,
        redelivery=redelivery,
    )
    return result


def _key(entry: Row, public_name: Callable[[str], str]) -> tuple[str, int]:
    return public_name(str(entry["dev_eui"])), int(entry["time_ns"])


def _is_link(name: str) -> bool:
    return name in _LINK_FIELDS


def _not_link(name: str) -> bool:
    return name not in _LINK_FIELDS


def _compare_points(
    wanted: dict[tuple[str, int], Row],
    rows: list[Row],
    compared: Callable[[str], bool],
    result: Reconciliation,
) -> None:
    found: set[tuple[str, int]] = set()
    for row in rows:
        key = (str(row["device"]), int(row["time"]))
        entry = wanted.get(key)
        if entry is None or key in found:
            result.extra.append(f"{key}")
            continue
        found.add(key)
        values: Mapping[str, float] = entry["values"]
        for name, value in values.items():
            if not compared(name):
                continue
            got = row.get(name)
            if got is None or not math.isclose(float(got), value, rel_tol=1e-9, abs_tol=1e-9):
                result.wrong_values.append(f"seq {entry['seq']} {name}: want {value}, got {got}")
    result.missing += [f"seq {wanted[k]['seq']} {k}" for k in wanted.keys() - found]


def _compare_dead_letters(
    expected: list[Row], letters: list[DeadLetter], result: Reconciliation, *, redelivery: bool
) -> None:
    if redelivery:  # the broker delivered some messages twice: keep one letter of each
        unique = list({(d.topic, d.payload, d.reason, d.detail): d for d in letters}.values())
        result.redelivered = len(letters) - len(unique)
        letters = unique
    by_place: dict[tuple[str, str], list[DeadLetter]] = {}
    for letter in letters:
        by_place.setdefault((letter.topic, letter.reason.value), []).append(letter)
    for entry in expected:
        candidates = by_place.get((str(entry["topic"]), str(entry["reason"])), [])
        prefix = str(entry.get("detail") or "")
        match = next((c for c in candidates if c.detail.startswith(prefix)), None)
        if match is None:
            result.dead_letter_problems.append(
                f"seq {entry['seq']}: no {entry['reason']}/{prefix} dead letter on {entry['topic']}"
            )
        else:
            candidates.remove(match)
    result.dead_letter_problems += [
        f"unexpected dead letter {d.reason.value}/{d.detail} on {d.topic}"
        for ds in by_place.values()
        for d in ds
    ]
