"""``city-ingest dead-letter replay``: publish dead letters again, e.g. after a registry fix.

The live store file is first renamed aside, so the running service keeps appending new dead
letters to a fresh file; the selected letters are published to the broker exactly as they were
received (topic and payload, QoS 1) and the others are appended back to the live store. Replays
are safe to repeat: the service deduplicates, and points are idempotent.
"""

from __future__ import annotations

import logging
import time

from ingest.settings import Settings
from ingest.sinks.deadletter import FILE_NAME, DeadLetterStore, read_dead_letters
from simulators.publisher import BrokerOptions, Publisher, publish_all

__all__ = ["replay_dead_letters"]

log = logging.getLogger(__name__)


def replay_dead_letters(settings: Settings, reason: str | None) -> int:
    """Replay every dead letter (or those with ``reason``); returns the exit code."""
    store = DeadLetterStore(settings.dead_letter.dir, settings.dead_letter.max_bytes)
    live = settings.dead_letter.dir / FILE_NAME
    if not live.exists():
        log.info("no dead letters at %s", live)
        return 0
    aside = live.with_name(f"dead-letter.replaying-{time.time_ns()}.jsonl")
    live.rename(aside)
    letters = list(read_dead_letters(aside))
    chosen = [d for d in letters if reason in (None, d.reason.value)]
    kept = [d for d in letters if reason not in (None, d.reason.value)]
    m = settings.mqtt
    options = BrokerOptions(
        host=m.host,
        port=m.port,
        username=m.username,
        password=None if m.password is None else m.password.get_secret_value(),
        tls=m.tls,
        ca_file=m.ca_file,
    )
    try:
        with Publisher(options) as publisher:
            report = publish_all(((d.topic, d.payload) for d in chosen), publisher, rate=0)
    except Exception:
        store.append(letters)  # nothing is lost: every letter goes back to the live store
        aside.unlink()
        raise
    store.append(kept)
    aside.unlink()
    log.info(
        "replayed %d dead letters (%d acknowledged); %d kept",
        len(chosen),
        report.acknowledged,
        len(kept),
    )
    return 0
