"""``city-ingest dead-letter replay``: publish dead letters again, e.g. after a registry fix.

The live store file is first renamed aside, so the running service keeps appending new dead
letters to a fresh file; the selected letters are published to the broker exactly as they were
received (topic and payload, QoS 1) and the others are appended back to the live store. Files
that a killed replay left aside are taken up again by the next one. Replays are safe to repeat:
the service deduplicates, and points are idempotent.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ingest.settings import MqttSettings, Settings
from ingest.sinks.deadletter import FILE_NAME, DeadLetterStore, read_dead_letters
from simulators.publisher import BrokerOptions, Publisher, publish_all

__all__ = ["replay_dead_letters"]

log = logging.getLogger(__name__)
_ASIDE_PREFIX = "dead-letter.replaying-"


def replay_dead_letters(settings: Settings, reason: str | None) -> int:
    """Replay every dead letter (or those with ``reason``); returns the exit code."""
    directory = settings.dead_letter.dir
    taken = _take_files(directory)
    if not taken:
        log.info("no dead letters in %s", directory)
        return 0
    letters = [letter for path in taken for letter in read_dead_letters(path)]
    selected = [d for d in letters if reason in (None, d.reason.value)]
    chosen = [d for d in selected if not d.topic.startswith("$")]
    pushed = [d for d in selected if d.topic.startswith("$")]  # came by webhook or backfill
    kept = [d for d in letters if reason not in (None, d.reason.value)] + pushed
    if pushed:
        log.warning(
            "%d dead letters came through webhooks or the backfill ($ topics), which MQTT cannot "
            "carry: kept in the store (fetch a backfill range again with `city-ingest backfill`)",
            len(pushed),
        )
    store = DeadLetterStore(directory, settings.dead_letter.max_bytes)
    try:
        with Publisher(_broker_options(settings.mqtt)) as publisher:
            report = publish_all(
                ((d.topic, d.payload) for d in chosen), publisher, rate=0, total=len(chosen)
            )
    except Exception:
        store.append(letters)  # nothing is lost: every letter goes back to the live store
        _remove(taken)
        raise
    store.append(kept)
    _remove(taken)
    log.info(
        "replayed %d dead letters (%d acknowledged); %d kept",
        len(chosen),
        report.acknowledged,
        len(kept),
    )
    return 0


def _take_files(directory: Path) -> list[Path]:
    """Files a killed replay left aside, oldest first, then the live store, renamed aside."""
    taken = sorted(directory.glob(f"{_ASIDE_PREFIX}*.jsonl"))
    live = directory / FILE_NAME
    if live.exists():
        aside = directory / f"{_ASIDE_PREFIX}{time.time_ns()}.jsonl"
        live.rename(aside)
        taken.append(aside)
    return taken


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink()


def _broker_options(mqtt: MqttSettings) -> BrokerOptions:
    return BrokerOptions(
        host=mqtt.host,
        port=mqtt.port,
        username=mqtt.username,
        password=None if mqtt.password is None else mqtt.password.get_secret_value(),
        tls=mqtt.tls,
        ca_file=mqtt.ca_file,
    )
