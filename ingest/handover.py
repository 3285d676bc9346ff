"""Window state hand-over: a replica that gains a partition rebuilds its open windows first.

The replay source is InfluxDB itself: every reading a replica acknowledged was written there
before the acknowledgement, so the raw points of a partition's devices over the processors'
update horizon plus the longest window (a local day) are exactly what the previous owner had
folded into its windows, plus what it wrote and did not acknowledge, which the server now
redelivers: ``Aggregator.replay`` keeps those from counting twice. Aggregates are idempotent
(timestamp = window start), so the windows the new owner emits overwrite the old owner's with
the same or more complete values.

Not covered: batches the old owner spooled (InfluxDB down) are in its own spool, not in the
database, until it comes back; QC state that looks back in time (rate of change, flat line)
starts empty for the gained devices.

Which devices a partition holds is the server's own rule, recomputed here: FNV-1a 32-bit of
the device's token in its network's topic, modulo the partition count
(config/nats/partitions.conf; nats-server ``subject_transform.go``).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from functools import cache

import aiohttp
import numpy as np

from ingest.aggregation import Aggregator
from ingest.history import read_history
from ingest.model import Device, Kind, Network
from ingest.registry import Registry
from ingest.settings import InfluxSettings
from ingest.transform import Links
from processors import Batch

__all__ = ["Handover", "partition_of"]

log = logging.getLogger(__name__)
_DAY_NS = 86_400 * 10**9
_FNV_OFFSET, _FNV_PRIME = 2166136261, 16777619


def partition_of(token: str, partitions: int) -> int:
    """The server's ``{{partition(n, …)}}``: FNV-1a 32-bit of the token modulo ``partitions``."""
    h = _FNV_OFFSET
    for byte in token.encode():
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h % partitions


def _token(device: Device, network: Network) -> str:
    """The topic level the mapping partitions on, per network (config/nats/partitions.conf)."""
    if network is Network.CHIRPSTACK:
        return device.dev_eui.lower()
    if network is Network.TTS:
        return device.device_id
    return device.dev_eui


class Handover:
    """Rebuilds gained partitions into ``aggregator`` from the raw points in InfluxDB."""

    def __init__(
        self,
        *,
        influx: InfluxSettings,
        registry: Registry,
        public_name: Callable[[Device], str],
        aggregator: Aggregator,
        partitions: int,
        horizon_s: float,
        forget_after_s: float,
        now: Callable[[], int],
    ) -> None:
        self._influx = influx
        self.use_registry(registry, public_name)
        self._aggregator = aggregator
        self._partitions = partitions
        self._replay_ns = round(horizon_s * 1e9) + _DAY_NS
        self._wanted: set[int] = set()  # gained partitions waiting for a read
        self._forget_after_s = forget_after_s
        self._replays = 0
        self._reading = asyncio.Lock()
        self._now = now

    def use_registry(self, registry: Registry, public_name: Callable[[Device], str]) -> None:
        """The devices to rebuild (again after a registry reload)."""
        self._names = {public_name(device): device.code for device in registry}
        self._devices = {device.code: device for device in registry}

    async def rebuild(self, partition: int) -> None:
        """Fold the partition's readings of the replay span into the windows. Partitions
        gained while another rebuild reads are rebuilt together by the next read. Nothing is
        written: the windows are emitted as usual when the next readings change or close them."""
        self._wanted.add(partition)
        async with self._reading:
            if partition not in self._wanted:
                return  # rebuilt by the read that just finished
            gained, self._wanted = self._wanted, set()
            await self._replay(gained)

    async def _replay(self, partitions: set[int]) -> None:
        since = self._now() - self._replay_ns
        span = (since, self._now() + _DAY_NS)
        patience = aiohttp.ClientTimeout(
            sock_connect=self._influx.timeout, sock_read=self._influx.timeout
        )
        async with aiohttp.ClientSession(timeout=patience) as session:
            readings, links = await read_history(
                session, self._influx, self._names, list(Kind), span, stream=io.StringIO()
            )
        assert links is not None  # noqa: S101 - every kind was read
        mine = self._members(links, partitions)
        kept = [(kind, _keep(batch, mine)) for kind, batch in readings]
        link_rows = _link_mask(links, mine)
        self._aggregator.replay(kept, [_take_links(links, link_rows)])
        self._forget_later()
        log.info(
            "partitions %s: rebuilt their windows from %d readings in InfluxDB",
            sorted(partitions),
            sum(len(batch) for _, batch in kept),
        )

    def _forget_later(self) -> None:
        """Drop the replayed keys ``forget_after_s`` after the last replay: the old owner's
        unacknowledged messages are redelivered within ``ack_wait`` of the hand-over."""
        self._replays += 1
        replays = self._replays

        def forget() -> None:
            if replays == self._replays:  # no replay since: nothing newer to protect
                self._aggregator.forget_replayed()

        asyncio.get_running_loop().call_later(self._forget_after_s, forget)

    def _members(self, links: Links, partitions: set[int]) -> set[tuple[int, int]]:
        """(device, time) of the partitions' uplinks among ``links``."""

        @cache
        def of(code: int, network: Network) -> int:
            return partition_of(_token(self._devices[code], network), self._partitions)

        return {
            (code, time_ns)
            for code, time_ns, network in zip(
                links.device.tolist(), links.time_ns.tolist(), links.networks, strict=True
            )
            if of(code, network) in partitions
        }


def _keep(batch: Batch, members: set[tuple[int, int]]) -> Batch:
    keys = zip(batch.device.tolist(), batch.time_ns.tolist(), strict=True)
    return batch.take(np.fromiter((key in members for key in keys), bool, len(batch)))


def _link_mask(links: Links, members: set[tuple[int, int]]) -> np.ndarray:
    keys = zip(links.device.tolist(), links.time_ns.tolist(), strict=True)
    return np.fromiter((key in members for key in keys), bool, len(links.device))


def _take_links(links: Links, rows: np.ndarray) -> Links:
    return Links(
        device=links.device[rows],
        time_ns=links.time_ns[rows],
        networks=[n for n, keep in zip(links.networks, rows.tolist(), strict=True) if keep],
        rssi=links.rssi[rows],
        snr=links.snr[rows],
        gateways=links.gateways[rows],
        f_cnt=links.f_cnt[rows],
        battery_v=links.battery_v[rows],
        qc_suspect=links.qc_suspect[rows],
        qc_fail=links.qc_fail[rows],
    )
