"""Mosquitto (persistence on) restarts while the service works through a backlog."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest

from simulators.servers import wait_until
from tests.faults.harness import City, Service, metric
from tests.faults.report import Figures

pytestmark = pytest.mark.faults

RESUME_WITHIN_S = 10.0


def _resumed_since(service: Service, moment: float) -> bool:
    """A message received after ``moment`` (monotonic) has been processed: the newest
    message's age, per network, is younger than the time since ``moment``."""
    since = time.monotonic() - moment
    ages = [
        value
        for name, value in service.metrics().items()
        if name.startswith("city_ingest_last_message_age_seconds{") and not math.isnan(value)
    ]
    return any(age < since for age in ages)


def test_broker_restart_mid_stream(city: City, record: Callable[[Figures], None]) -> None:
    """20,000 messages wait in the broker for the service's persistent session; a quarter
    through them the broker restarts. Ingest resumes within 10 s of its return, the queued
    messages survive (persistence), and live data published afterwards lands too."""
    with city.service() as service:
        service.stop()  # the session (and its subscriptions) stays in the broker
        with city.publishing(20_000, 46):
            pass
        service.start()
        wait_until(lambda: metric(service, "city_ingest_received_total") >= 5000, 60)
        backlog = len(city.manifest) - metric(service, "city_ingest_received_total")
        city.broker.restart()
        back = time.monotonic()
        wait_until(
            lambda: _resumed_since(service, back),
            RESUME_WITHIN_S,
            interval=0.1,
            message=f"ingest did not resume within {RESUME_WITHIN_S:g} s of the broker's return",
        )
        resumed_after = time.monotonic() - back
        with city.publishing(2000, 47, "--start", "2026-01-02T00:00:00+00:00"):
            pass
        figures, result = city.conclude("Mosquitto restart mid-stream", service, redelivery=True)
    record(figures)
    assert backlog > 0, "the backlog was gone before the restart: publish more"
    assert resumed_after <= RESUME_WITHIN_S
    assert result.ok, result.report()
