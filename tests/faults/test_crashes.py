"""The service dies or is stopped while a city publishes: nothing is lost, nothing doubled."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulators.servers import wait_until
from tests.faults.harness import City, Service, metric
from tests.faults.report import Figures

pytestmark = pytest.mark.faults

KILLS = 3
DRAIN_TIMEOUT_S = 5.0  # influxdb.drain_timeout for the SIGTERM scenario


def _wait_received(service: Service, count: int) -> None:
    wait_until(
        lambda: metric(service, "city_ingest_received_total") >= count,
        60,
        message=f"this life of the service did not finish {count} messages",
    )


def test_sigkill_three_times_during_a_publish(
    city: City, record: Callable[[Figures], None]
) -> None:
    """SIGKILL mid-stream, restart, three times: every uplink exactly once in the stores.

    A killed service acknowledged nothing it had not made durable, so the broker redelivers the
    rest to the restarted one (same persistent session); points are idempotent, and dead
    letters of redelivered messages are counted once (``redelivered``)."""
    with city.service() as service:
        with city.publishing(20_000, 42, "--rate", "2000") as publisher:
            for _ in range(KILLS):
                _wait_received(service, 1000)
                assert not publisher.done(), "the publish ended before the kill"
                service.kill()
                service.start()
        figures, result = city.conclude(
            "SIGKILL x3 during a 20 k publish", service, redelivery=True
        )
    record(figures)
    assert service.lives == KILLS + 1
    assert result.ok, result.report()
    assert (figures.missing, figures.extra) == (0, 0)


def test_sigterm_mid_stream_exits_zero_within_the_deadline(
    city: City, record: Callable[[Figures], None]
) -> None:
    """SIGTERM drains within ``influxdb.drain_timeout`` and exits 0; whatever it did not take
    stays with the broker for the next start: no loss, and no message handled twice."""
    env = {"INFLUXDB__DRAIN_TIMEOUT": str(DRAIN_TIMEOUT_S)}
    with city.service(**env) as service:
        with city.publishing(10_000, 43, "--rate", "2000") as publisher:
            _wait_received(service, 3000)
            code, seconds = service.terminate(DRAIN_TIMEOUT_S)
            assert not publisher.done(), "the publish ended before SIGTERM"
            service.start()
        figures, result = city.conclude("SIGTERM mid-stream", service)
    record(figures)
    assert code == 0
    assert seconds <= DRAIN_TIMEOUT_S, f"exit took {seconds:.1f} s"
    assert result.ok, result.report()
    assert result.redelivered == 0
