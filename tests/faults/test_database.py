"""InfluxDB goes away mid-stream (stopped, answering 500, hanging): the spool takes the batches,
acknowledges them, and replays them once the database is back; a full spool stops the acks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from simulators.servers import request, wait_until
from simulators.servers.faultproxy import FaultMode, FaultProxy
from tests.faults.harness import OUTAGE_S, City, Service, metric
from tests.faults.report import Figures

pytestmark = pytest.mark.faults

RATE = 400  # messages per second published during an outage scenario
SPOOL_MIN_BYTES = 1 << 20  # the smallest spool.max_bytes the settings allow


@dataclass(frozen=True, slots=True)
class Sample:
    """The service seen from outside at one moment of an outage."""

    received: float
    spool_batches: float
    spool_full: float
    ready: int
    notes: str


def _sample(service: Service) -> Sample:
    m = service.metrics()
    readiness = request("GET", f"{service.url}/readyz", timeout=5.0)
    return Sample(
        m["city_ingest_received_total"],
        m["city_ingest_spool_batches"],
        m["city_ingest_spool_full"],
        readiness.status,
        " ".join([*readiness.json()["problems"], *readiness.json()["notes"]]),
    )


def _observe(service: Service, seconds: float) -> list[Sample]:
    """Samples twice a second for ``seconds``. Not a wait for a condition: the fault lasts
    this long by design, and the samples are what the test asserts on."""
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(_sample(service))
        time.sleep(0.5)
    return samples


def _outage(
    city: City, service: Service, begin: Callable[[], None], end: Callable[[], None]
) -> list[Sample]:
    """Publish at ``RATE``; after 1,000 messages a fault from ``begin`` to ``end`` lasting
    ``OUTAGE_S``; live data keeps arriving while the spool is replayed afterwards."""
    messages = int(RATE * (OUTAGE_S + 10))
    with city.publishing(messages, 44, "--rate", str(RATE)) as publisher:
        wait_until(lambda: metric(service, "city_ingest_received_total") >= 1000, 30)
        begin()
        samples = _observe(service, OUTAGE_S)
        end()
        assert not publisher.done(), "no live data after the outage: publish for longer"
        wait_until(
            lambda: metric(service, "city_ingest_spool_batches") == 0,
            60,
            message="the spool did not drain",
        )
    return samples


def _check_spooling(samples: list[Sample]) -> None:
    """Acknowledgements went on during the outage: the batches went to the spool."""
    assert samples[-1].spool_batches > 0, samples[-1]
    assert samples[-1].received > samples[len(samples) // 2].received, "acks stopped"
    assert all(s.ready == 200 for s in samples), "a spool with room keeps the service ready"
    assert "spooling" in samples[-1].notes, samples[-1]


def test_influxdb_stopped_mid_stream(city: City, record: Callable[[Figures], None]) -> None:
    with city.service() as service:
        samples = _outage(city, service, city.influx.stop, city.influx.restart)
        figures, result = city.conclude(f"InfluxDB stopped {OUTAGE_S:g} s", service)
    record(figures)
    _check_spooling(samples)
    assert result.ok, result.report()


@pytest.mark.parametrize("mode", [FaultMode.ERROR_500, FaultMode.HANG], ids=["500", "hang"])
def test_influxdb_faulty_behind_a_proxy(
    city: City, record: Callable[[Figures], None], mode: FaultMode
) -> None:
    """Through the fault proxy: every request answered 500, or held until the fault ends and
    then forwarded (the database writes what the service gave up on and spooled)."""
    hung_write_fails = {"INFLUXDB__TIMEOUT": "2"}  # not after the default 10 s

    def begin() -> None:
        proxy.mode = mode

    def end() -> None:
        proxy.mode = FaultMode.FORWARD

    with (
        FaultProxy(city.influx.url) as proxy,
        city.service(influx_url=proxy.url, **hung_write_fails) as service,
    ):
        samples = _outage(city, service, begin, end)
        figures, result = city.conclude(f"InfluxDB {mode.value} {OUTAGE_S:g} s (proxy)", service)
    record(figures)
    assert proxy.counts()[mode] >= 1
    _check_spooling(samples)
    assert result.ok, result.report()


def test_spool_full_during_a_long_outage(city: City, record: Callable[[Figures], None]) -> None:
    """A 1 MiB spool fills: the service stops acknowledging (the broker keeps the rest), drops
    nothing, says so on /readyz, and writes everything once InfluxDB is back."""
    env = {
        "SPOOL__MAX_BYTES": str(SPOOL_MIN_BYTES),
        "INFLUXDB__BATCH_SIZE": "500",  # holds at most 2,000 unacknowledged messages
    }
    with city.service(**env) as service:
        city.influx.stop()
        with city.publishing(8000, 45):
            wait_until(
                lambda: metric(service, "city_ingest_spool_full") == 1,
                60,
                message="the spool did not fill",
            )
        full = _observe(service, 3.0)
        city.influx.restart()
        figures, result = city.conclude("spool full (1 MiB) in an outage", service)
    record(figures)
    assert len({s.received for s in full}) == 1, f"acks went on with a full spool: {full}"
    assert full[-1].received < len(city.manifest), "the broker should hold the rest"
    assert all(s.ready == 503 and "spool full" in s.notes for s in full), full
    assert result.ok, result.report()
