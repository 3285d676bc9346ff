"""What every fault scenario shares: a seeded city on real servers, the service as a child
process that remembers its lives, a publisher in the background, and the closing exact
reconciliation that becomes one row of the ``make faults`` table."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from simulators.reconcile import Reconciliation
from simulators.servers import InfluxV1, Mosquitto, wait_until
from simulators.servers.service import CityIngest
from tests.e2e import expected_counts, make_registry, reconcile_run, simulate
from tests.faults.report import Figures

OUTAGE_S = 60.0
"""How long database outages last: 60 s as the reliability issue asks, 30 times ``spool.after``
(2 s) and longer than the sink's longest back-off step (``influxdb.retry_max_delay``, 10 s)."""

PUBLISH_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 60.0
_TOTALS = re.compile(r"stopped; totals: (.*)$", re.MULTILINE)
_SEQ = re.compile(r"seq (\d+)")


class Service(CityIngest):
    """city-ingest that keeps, across restarts, its peak RSS and its outcome counts.

    Each life's counts are those it logged on a graceful stop, else its last ``/metrics``
    scrape before the end (a SIGKILL leaves no log line).
    """

    def __init__(self, root: Path, **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.peak_rss_mib = 0.0
        self.counted: Counter[str] = Counter()
        self.lives = 0

    def start(self) -> Self:
        super().start()
        self.lives += 1
        return self

    def vm_hwm_mib(self) -> float:
        """The running process's peak resident set size (``VmHWM``, proc(5)) in MiB."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        kib = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        assert kib is not None, status
        return int(kib.group(1)) / 1024

    def kill(self) -> None:
        if not self.running:
            return
        scraped = self._before_end()
        super().kill()
        self.counted.update(scraped)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.running:
            return
        scraped = self._before_end()
        super().stop(timeout)
        self._after_graceful_end(scraped)

    def terminate(self, deadline: float) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds it took. Killed, and fails, after ``deadline``
        plus a grace of 10 s (so a slow exit is measured, a hung one does not hang the run)."""
        scraped = self._before_end()
        proc = self._proc
        assert proc is not None, "not running"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(deadline + 10.0)
        except subprocess.TimeoutExpired:
            super().kill()
            raise AssertionError(f"no exit {deadline + 10:g} s after SIGTERM") from None
        seconds = time.monotonic() - started
        self._proc = None
        self._after_graceful_end(scraped)
        return code, seconds

    def _before_end(self) -> Counter[str]:
        if not self.running:  # it died by itself: nothing to read
            return Counter()
        self.peak_rss_mib = max(self.peak_rss_mib, self.vm_hwm_mib())
        try:
            return _outcomes(self.metrics())
        except OSError:
            return Counter()

    def _after_graceful_end(self, scraped: Counter[str]) -> None:
        logged = _TOTALS.findall(self.log_text())
        if logged:
            pairs = (item.partition("=") for item in logged[-1].split())
            scraped = Counter({key: int(value) for key, _, value in pairs})
        self.counted.update(scraped)


def _outcomes(metrics: dict[str, float]) -> Counter[str]:
    counts = Counter({"received": int(metrics.get("city_ingest_received_total", 0))})
    for outcome in ("written", "duplicate", "dead_letter"):
        counts[outcome] = int(metrics.get(f'city_ingest_uplinks_total{{outcome="{outcome}"}}', 0))
    return counts


def metric(service: CityIngest, name: str) -> float:
    """One sample of the service's ``/metrics``, 0 when absent; the log's tail if unreachable."""
    try:
        return service.metrics().get(name, 0.0)
    except OSError as exc:
        tail = "\n".join(service.log_text().splitlines()[-30:])
        state = "running" if service.running else "exited"
        raise AssertionError(f"/metrics: {exc}; the service has {state}:\n{tail}") from exc


@dataclass
class City:
    """A registry of devices, the broker, the database and the manifest of what was published."""

    workdir: Path
    broker: Mosquitto
    influx: InfluxV1
    manifest: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def build(
        cls, workdir: Path, broker: Mosquitto, influx: InfluxV1, *, devices: int, seed: int
    ) -> City:
        make_registry(workdir, devices=devices, seed=seed)
        return cls(workdir, broker, influx)

    def service(self, *, influx_url: str | None = None, **env: str) -> Service:
        """The service (not started) for this city; ``env`` keys without the prefix, e.g.
        ``SPOOL__MAX_BYTES="1048576"``."""
        return Service(
            self.workdir,
            mqtt_port=self.broker.port,
            influx_url=influx_url or self.influx.url,
            env={f"CITY_INGEST_{key}": value for key, value in env.items()},
        )

    @contextmanager
    def publishing(self, messages: int, seed: int, *args: str) -> Iterator[Future[Any]]:
        """Publish a seeded stream in the background (``args``: more ``simulate`` options, e.g.
        ``--rate``); on leaving, wait for it and add its entries to the manifest."""
        options = ("--messages", str(messages), "--seed", str(seed), *args)
        with ThreadPoolExecutor(1, thread_name_prefix="publisher") as pool:
            future = pool.submit(simulate, self.workdir, self.broker.port, *options)
            yield future
            self.manifest += future.result(PUBLISH_TIMEOUT_S)

    def reconcile(self, *, redelivery: bool = False) -> Reconciliation:
        return reconcile_run(self.workdir, self.influx, self.manifest, redelivery=redelivery)

    def settle(self, service: CityIngest, *, redelivery: bool = False) -> Reconciliation:
        """Wait until every manifest entry is in InfluxDB or the dead-letter store and the
        spool is empty; the reconciliation."""
        last: list[str] = []

        def landed() -> Reconciliation | None:
            result = self.reconcile(redelivery=redelivery)
            held = {
                name: metric(service, f"city_ingest_{name}")
                for name in ("received_total", "spool_batches")
            }
            last[:] = [result.report(), f"service: {held}"]
            if _missing_seqs(result) or held["spool_batches"]:
                return None
            return result

        try:
            return wait_until(landed, SETTLE_TIMEOUT_S, interval=1.0)
        except AssertionError as exc:
            raise AssertionError(
                "the city did not land in the stores:\n" + "\n".join(last)
            ) from exc

    def conclude(
        self, scenario: str, service: Service, *, redelivery: bool = False
    ) -> tuple[Figures, Reconciliation]:
        """Settle, stop the service (its last life's counts and RSS), and the table row."""
        result = self.settle(service, redelivery=redelivery)
        service.stop()
        return self._figures(scenario, service, result), result

    def _figures(self, scenario: str, service: Service, result: Reconciliation) -> Figures:
        expected = expected_counts(self.manifest)
        missing = _missing_seqs(result)
        letters_missing = sum(1 for p in result.dead_letter_problems if p.startswith("seq "))
        unexpected = len(result.dead_letter_problems) - letters_missing
        return Figures(
            scenario=scenario,
            published=len(self.manifest),
            written=expected["written"] - (len(missing) - letters_missing),
            duplicate=service.counted["duplicate"],
            dead_lettered=expected["dead_letter"] - letters_missing,
            redelivered=result.redelivered,
            missing=len(missing),
            extra=len(result.extra) + unexpected,
            peak_rss_mib=round(service.peak_rss_mib, 1),
            seconds=round(time.monotonic() - self.started, 1),
        )


def _missing_seqs(result: Reconciliation) -> set[int]:
    """Manifest entries (by ``seq``) with no point or no dead letter."""
    texts = [*result.missing, *(p for p in result.dead_letter_problems if p.startswith("seq "))]
    return {int(m.group(1)) for text in texts if (m := _SEQ.match(text))}
