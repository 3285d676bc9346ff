"""The stream of messages a simulated city publishes, in publish order, with its manifest.

Devices report at their kind's interval (with jitter) in simulated time; each report consumes
an fCnt. Some reports are lost on air (an fCnt gap, nothing published), some devices rejoin
(fCnt back to 0, a new session); sensor faults (``simulators.sensor_faults.SensorFaults``)
change a report's values, or drop it during a dropout. Each published message is, by one random
draw, a duplicate of a recent uplink, a malformed message or a normal uplink (possibly with a
fault).
The same scenario, devices and decoder layouts give byte-identical messages and manifest.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final

import numpy as np

from ingest.decoders.config import DecoderConfig
from ingest.model import Device, Kind, Network
from simulators.faults import (
    DUPLICATE,
    WRITTEN,
    Duplicate,
    Expectation,
    Malformation,
    applicable,
    break_body,
    break_frame,
    defect_of,
    expectation,
)
from simulators.frames import Frame, Session, new_session
from simulators.manifest import ManifestEntry
from simulators.networks import KPN_TOPIC, Renderer, network_time, via_second_path
from simulators.payloads import encode_payload
from simulators.radio import Link, plan_link, receive
from simulators.sensor_faults import SensorFault, SensorFaults
from simulators.sensors import SensorModel, build_model

__all__ = ["DEFAULT_INTERVALS_S", "MIXED", "Publication", "Scenario", "default_start", "generate"]

MIXED: Final = "mixed"
DEFAULT_INTERVALS_S: Final[Mapping[Kind, float]] = MappingProxyType(
    {Kind.AIR: 600.0, Kind.NOISE: 300.0, Kind.WASTE: 3600.0}
)
_NS: Final = 1_000_000_000
_HOUR_NS: Final = 3600 * _NS


@dataclass(frozen=True, slots=True)
class Scenario:
    """What to publish; ``ValueError`` for impossible settings.

    ``malformed`` and ``duplicates`` are fractions of the published messages, ``lost`` (frames
    lost on air) and ``resets`` (rejoins) of the devices' reports, ``faults`` of normal uplinks.
    """

    network: str  # a Network value, or MIXED: devices spread over all three
    messages: int
    seed: int
    start_ns: int
    malformed: float = 0.05
    duplicates: float = 0.02
    faults: Mapping[SensorFault, float] = field(default_factory=dict)
    intervals_s: Mapping[Kind, float] = field(default_factory=lambda: DEFAULT_INTERVALS_S)
    topic_prefix: str = ""
    kpn_topic: str = KPN_TOPIC  # "{dev_eui}" is replaced by the device's DevEUI
    lost: float = 0.01
    resets: float = 0.002
    duplicate_horizon: int = 8  # a duplicate repeats one of this many latest uplinks

    @classmethod
    def clean(cls, network: str, messages: int, seed: int, start_ns: int) -> Scenario:
        """Every uplink well-formed, delivered once, no frames lost, no rejoins (benchmarks)."""
        return cls(
            network, messages, seed, start_ns, malformed=0.0, duplicates=0.0, lost=0.0, resets=0.0
        )

    def __post_init__(self) -> None:
        fractions = {
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "resets": self.resets,
            "malformed + duplicates": self.malformed + self.duplicates,
            "faults (sum)": sum(self.faults.values()),
        }
        for name, value in fractions.items():
            if not 0.0 <= value <= 1.0:
                msg = f"{name} must be a fraction in [0, 1], got {value}"
                raise ValueError(msg)
        names = {*(n.value for n in Network), MIXED}
        if self.network not in names:
            msg = f"network {self.network!r} is not one of {', '.join(sorted(names))}"
            raise ValueError(msg)
        if self.messages < 0 or self.duplicate_horizon < 1:
            msg = "messages must be >= 0 and duplicate_horizon >= 1"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Publication:
    """One message to publish and its manifest entry."""

    topic: str
    payload: bytes
    entry: ManifestEntry


@dataclass(slots=True)
class _Node:
    """A device's running state."""

    device: Device
    network: Network
    model: SensorModel
    link: Link
    interval_ns: int
    f_cnt: int
    session: Session


@dataclass(frozen=True, slots=True)
class _Report:
    node: _Node
    time_ns: int
    f_cnt: int
    values: dict[str, float]
    fault: SensorFault | None


def default_start(
    devices: Sequence[Device], messages: int, intervals_s: Mapping[Kind, float], now_ns: int
) -> int:
    """A start time such that ``messages`` uplinks end before ``now_ns`` floored to the hour."""
    per_second = sum(1.0 / intervals_s[d.kind] for d in devices) or 1.0
    span_ns = math.ceil(messages / per_second * 1.1 * _NS / _HOUR_NS) * _HOUR_NS
    return now_ns // _HOUR_NS * _HOUR_NS - span_ns


def generate(
    scenario: Scenario, devices: Sequence[Device], decoders: DecoderConfig
) -> Iterator[Publication]:
    """The scenario's messages in publish order (lazily: pass ``list()`` to pre-build)."""
    return iter(_Stream(scenario, devices, decoders))


class _Stream:
    def __init__(
        self, scenario: Scenario, devices: Sequence[Device], decoders: DecoderConfig
    ) -> None:
        seeds = np.random.SeedSequence([scenario.seed, 0x57EA]).spawn(5)
        self._rng, self._radio_rng, setup = (np.random.default_rng(s) for s in seeds[:3])
        self._faults = SensorFaults(scenario.faults, np.random.default_rng(seeds[4]))
        self._renderer = Renderer(
            np.random.default_rng(seeds[3]), scenario.topic_prefix, scenario.kpn_topic
        )
        self._scenario = scenario
        self._decoders = decoders
        self._known = frozenset(d.dev_eui for d in devices)
        self._nodes = [self._node(i, d, setup) for i, d in enumerate(devices)]
        self._links = {n.device.dev_eui: n.link for n in self._nodes}

    def _node(self, index: int, device: Device, rng: np.random.Generator) -> _Node:
        networks = tuple(Network)
        network = (
            networks[index % len(networks)]
            if self._scenario.network == MIXED
            else Network(self._scenario.network)
        )
        return _Node(
            device=device,
            network=network,
            model=build_model(device, self._scenario.seed),
            link=plan_link(device.lat, device.lon, rng),
            interval_ns=int(self._scenario.intervals_s[device.kind] * _NS),
            f_cnt=0 if rng.random() < 0.2 else int(rng.integers(1, 20_000)),
            session=new_session(network, rng),
        )

    def __iter__(self) -> Iterator[Publication]:
        scenario, rng = self._scenario, self._rng
        start = scenario.start_ns
        heap = [(start + int(rng.integers(n.interval_ns)), i) for i, n in enumerate(self._nodes)]
        heapq.heapify(heap)
        recent: deque[tuple[Publication, Frame]] = deque(maxlen=scenario.duplicate_horizon)
        for seq in range(scenario.messages if heap else 0):
            draw = rng.random()
            if draw < scenario.duplicates and recent:
                yield self._duplicate(seq, *recent[int(rng.integers(len(recent)))])
                continue
            report = self._next_report(heap)
            if draw < scenario.duplicates + scenario.malformed:
                yield self._malformed(seq, report)
                continue
            publication, frame = self._uplink(seq, report)
            recent.append((publication, frame))
            yield publication

    def _next_report(self, heap: list[tuple[int, int]]) -> _Report:
        """The next report that reaches the network; lost ones consume their fCnt only."""
        rng = self._rng
        while True:
            time_ns, index = heap[0]
            node = self._nodes[index]
            heapq.heapreplace(
                heap, (time_ns + int(node.interval_ns * rng.uniform(0.98, 1.02)), index)
            )
            values = node.model.read(time_ns)
            if rng.random() < self._scenario.resets:  # rejoined: new session, counter from 0
                node.f_cnt, node.session = 0, new_session(node.network, rng)
            f_cnt, node.f_cnt = node.f_cnt, node.f_cnt + 1
            sensed = self._faults.apply(node.device, node.interval_ns, time_ns, values)
            if sensed.fault is not SensorFault.DROPOUT and rng.random() >= self._scenario.lost:
                return _Report(node, time_ns, f_cnt, sensed.values, sensed.fault)

    def _frame(self, report: _Report, values: Mapping[str, float]) -> Frame:
        node = report.node
        encoded = encode_payload(self._decoders, node.device.decoder, node.device.kind, values)
        variant = int(self._rng.integers(8))
        return Frame(
            device=node.device,
            network=node.network,
            time_ns=network_time(node.network, report.time_ns, variant),
            f_cnt=report.f_cnt,
            f_port=encoded.f_port,
            payload=encoded.payload,
            decoded=encoded.decoded,
            values=encoded.values,
            session=node.session,
            radio=receive(node.link, self._radio_rng),
            variant=variant,
        )

    def _uplink(self, seq: int, report: _Report) -> tuple[Publication, Frame]:
        resumed = self._faults.resumed(report.node.device.code)
        fault = SensorFault.DROPOUT if resumed else report.fault
        frame = self._frame(report, report.values)
        return self._publication(seq, self._renderer.render(frame), frame, fault, WRITTEN), frame

    def _malformed(self, seq: int, report: _Report) -> Publication:
        node, rng = report.node, self._rng
        choices = [m for m in Malformation if applicable(m, node.network, node.device.decoder)]
        malformation = choices[int(rng.integers(len(choices)))]
        frame = break_frame(malformation, self._frame(report, report.values), self._known, rng)
        topic, body = self._renderer.render(frame, defect_of(malformation))
        expected = expectation(malformation, node.network)
        message = (topic, break_body(malformation, body, rng))
        return self._publication(seq, message, frame, malformation, expected)

    def _duplicate(self, seq: int, original: Publication, frame: Frame) -> Publication:
        if self._rng.random() < 0.5:
            entry = replace(
                original.entry,
                seq=seq,
                values={},
                fault=Duplicate.REPUBLISHED,
                expect=DUPLICATE.outcome,
            )
            return Publication(original.topic, original.payload, entry)
        link = self._links[frame.device.dev_eui]
        again = via_second_path(frame, receive(link, self._radio_rng), self._rng)
        message = self._renderer.render(again)
        return self._publication(seq, message, again, Duplicate.SECOND_PATH, DUPLICATE)

    def _publication(
        self,
        seq: int,
        message: tuple[str, bytes],
        frame: Frame,
        fault: str | None,
        expected: Expectation,
    ) -> Publication:
        device = frame.device
        entry = ManifestEntry(
            seq=seq,
            topic=message[0],
            network=frame.network,
            dev_eui=device.dev_eui,
            device_id=device.device_id if device.dev_eui in self._known else None,
            kind=device.kind,
            f_cnt=None if frame.network is Network.KPN else frame.f_cnt,
            time_ns=frame.time_ns,
            values=frame.values if expected is WRITTEN else {},
            fault=fault,
            expect=expected.outcome,
            reason=expected.reason,
            detail=expected.detail,
        )
        return Publication(*message, entry)
