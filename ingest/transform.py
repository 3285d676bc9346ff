"""One batch of messages → line-protocol lines, dead letters and duplicates.

The stages in order: route (topic → network) → envelope → registry → dedup → decode (grouped by
decoder and kind, so binary layouts decode a whole group in one numpy pass) → validate → lines.
Every message leaves with exactly one outcome: a line origin (later ``written`` or
``rejected_by_db``), ``duplicate`` or a dead letter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ingest.dedup import Deduplicator, Key
from ingest.envelopes import ENVELOPES
from ingest.errors import EnvelopeError, UnknownDevice, UplinkError
from ingest.lineprotocol import FieldType, LineSpec, escape_tag, format_lines
from ingest.model import Device, Kind, Message, Network, Uplink
from ingest.readings import DecodedBatch, Decoder, IntColumn
from ingest.registry import Registry
from ingest.routes import Router
from ingest.schema import FIELDS
from ingest.settings import SourceSettings
from ingest.sinks.deadletter import DeadLetter
from ingest.validation import QC_MISSING, validate
from processors import Batch, Points
from processors.qctests import count_flags
from processors.quality import QualityChecker

__all__ = ["Links", "Prepared", "Transformer", "device_tag_suffixes"]

_LINK = (
    LineSpec("rssi", FieldType.FLOAT),
    LineSpec("snr", FieldType.FLOAT),
    LineSpec("gateways", FieldType.INT),
    LineSpec("f_cnt", FieldType.INT),
    LineSpec("battery_v", FieldType.FLOAT),
)


@dataclass(slots=True)
class Prepared:
    """A batch ready for the sinks: lines with the message each came from, and the rest."""

    messages: Sequence[Message]
    lines: list[str] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)  # message index per line
    dead: list[tuple[int, DeadLetter]] = field(default_factory=list)
    duplicates: int = 0
    readings: list[tuple[Kind, Batch]] = field(default_factory=list)
    links: list[Links] = field(default_factory=list)
    revisions: list[Points] = field(default_factory=list)  # QC flags of earlier readings
    keys: list[Key] = field(default_factory=list)  # dedup keys of the new uplinks


@dataclass(slots=True)
class _Accepted:
    index: int  # message index in the batch
    uplink: Uplink
    device: Device


class Transformer:
    """Turns message batches into ``Prepared`` batches; holds the dedup state."""

    def __init__(
        self,
        sources: Sequence[SourceSettings],
        registry: Registry,
        decoders: Mapping[str, Decoder],
        dedup: Deduplicator,
        device_tags: Sequence[str],
        *,
        quality: QualityChecker,
        max_message_bytes: int,
    ) -> None:
        self._router = Router([(s.topic, s.network) for s in sources])
        self._quality = quality
        self._max_bytes = max_message_bytes
        self.last_seen_ns: dict[Network, int] = {}  # newest receive time per network
        self._registry = registry
        self._decoders = decoders
        self._dedup = dedup
        self._device_tags = device_tags

    @property
    def device_tags(self) -> Sequence[str]:
        """The escaped tag suffix per device code."""
        return self._device_tags

    def use_registry(self, registry: Registry, device_tags: Sequence[str]) -> None:
        """Switch to a reloaded registry (codes of known devices unchanged)."""
        self._registry = registry
        self._device_tags = device_tags

    def transform(self, messages: Sequence[Message]) -> Prepared:
        prepared = Prepared(messages)
        groups: dict[tuple[str, Kind], list[_Accepted]] = defaultdict(list)
        for index, message in enumerate(messages):
            accepted = self._accept(index, message, prepared)
            if accepted is not None:
                groups[(accepted.device.decoder, accepted.device.kind)].append(accepted)
        for (decoder, kind), members in groups.items():
            self._decode_group(self._decoders[decoder], kind, members, prepared)
        return prepared

    # -- per message: route, envelope, registry, dedup ---------------------------------------
    def _accept(self, index: int, message: Message, prepared: Prepared) -> _Accepted | None:
        network = self._router.route(message.topic)
        try:
            if network is None:
                raise EnvelopeError(
                    "envelope.no_route", f"topic '{message.topic}' matches no [[sources]] filter"
                )
            self.last_seen_ns[network] = message.received_ns
            if len(message.payload) > self._max_bytes:
                raise EnvelopeError(
                    "envelope.too_large",
                    f"{len(message.payload)} bytes > mqtt.max_message_bytes ({self._max_bytes})",
                )
            uplink = ENVELOPES[network].decode(message)
            device = self._registry.get(uplink.dev_eui)
            if device is None:
                raise UnknownDevice(
                    "registry.unknown_dev_eui",
                    f"DevEUI {uplink.dev_eui} is not in the device registry",
                )
        except UplinkError as exc:
            prepared.dead.append((index, _dead_letter(message, exc, network)))
            return None
        key = self._dedup.remember(uplink)
        if key is None:
            prepared.duplicates += 1
            return None
        prepared.keys.append(key)
        return _Accepted(index, uplink, device)

    # -- per group: decode, validate, lines ---------------------------------------------------
    def _decode_group(
        self, decoder: Decoder, kind: Kind, members: list[_Accepted], prepared: Prepared
    ) -> None:
        uplinks = [m.uplink for m in members]
        batch = decoder.decode(uplinks, kind)
        messages = prepared.messages
        for row, error in batch.errors:
            member = members[row]
            prepared.dead.append(
                (member.index, _dead_letter(messages[member.index], error, member.uplink.network))
            )
        if not len(batch):
            return
        codes = np.array([m.device.code for m in members], dtype=np.int32)
        origin = np.array([m.index for m in members], dtype=np.int64)
        valid = validate(
            kind, codes[batch.rows], batch.time_ns, _kind_columns(kind, batch), self._registry
        )
        checked = self._quality.check(kind, valid.device, valid.time_ns, valid.values, valid.qc)
        readings = Batch(valid.device, valid.time_ns, valid.values, checked.flags)
        if len(checked.revised):
            prepared.revisions.append(checked.revised)
        prepared.readings.append((kind, readings))
        self._add(prepared, origin[batch.rows], _reading_lines(kind, readings, self._device_tags))
        links = _links(members, batch, count_flags(checked.flags, len(readings)))
        prepared.links.append(links)
        self._add(prepared, origin[np.unique(batch.rows)], _link_lines(links, self._device_tags))

    @staticmethod
    def _add(
        prepared: Prepared, origin: npt.NDArray[np.int64], lines: list[tuple[int, str]]
    ) -> None:
        prepared.lines += [line for _, line in lines]
        prepared.origins += origin[[row for row, _ in lines]].tolist()


def _kind_columns(kind: Kind, batch: DecodedBatch) -> dict[str, npt.NDArray[np.float64]]:
    names = {f.name for f in FIELDS[kind]}
    return {name: values for name, values in batch.columns.items() if name in names}


def _reading_lines(
    kind: Kind, readings: Batch, device_tags: Sequence[str]
) -> list[tuple[int, str]]:
    fields: dict[LineSpec, npt.NDArray[np.generic]] = {}
    for spec in FIELDS[kind]:
        if spec.name not in readings.values:
            continue
        ftype = FieldType.BOOL if spec.boolean else FieldType.FLOAT
        fields[LineSpec(spec.name, ftype)] = readings.values[spec.name]
        qc = readings.qc[spec.name].astype(np.float64)
        qc[readings.qc[spec.name] == QC_MISSING] = np.nan
        fields[LineSpec(f"{spec.name}_qc", FieldType.INT)] = qc
    tags = [device_tags[code] for code in readings.device.tolist()]
    return format_lines(kind.value, tags, readings.time_ns, fields)


@dataclass(frozen=True, slots=True)
class Links:
    """Radio metadata of decoded uplinks, one row per uplink (NaN where not reported)."""

    device: npt.NDArray[np.int32]
    time_ns: npt.NDArray[np.int64]
    networks: list[Network]
    rssi: npt.NDArray[np.float64]  # best gateway
    snr: npt.NDArray[np.float64]  # of that gateway
    gateways: npt.NDArray[np.float64]
    f_cnt: npt.NDArray[np.float64]
    battery_v: npt.NDArray[np.float64]
    qc_suspect: npt.NDArray[np.int64]  # fields of the uplink's readings flagged 3
    qc_fail: npt.NDArray[np.int64]  # and 4


def _links(
    members: list[_Accepted],
    batch: DecodedBatch,
    flagged: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
) -> Links:
    """Link columns of the members that decoded (those that failed are dead letters);
    ``flagged`` holds the suspect and fail counts per reading row."""
    decoded = np.zeros(len(members), dtype=bool)
    decoded[batch.rows] = True
    kept = [m for m, ok in zip(members, decoded.tolist(), strict=True) if ok]
    rssi, snr, gateways, f_cnt = np.ascontiguousarray(
        np.array([_radio(m.uplink) for m in kept], dtype=np.float64).reshape(-1, 4).T
    )
    battery = np.full(len(members), np.nan)
    if "battery_v" in batch.columns:
        battery[batch.rows[::-1]] = batch.columns["battery_v"][::-1]  # first row per uplink wins
    return Links(
        device=np.array([m.device.code for m in kept], dtype=np.int32),
        time_ns=np.array([m.uplink.time_ns for m in kept], dtype=np.int64),
        networks=[m.uplink.network for m in kept],
        rssi=rssi,
        snr=snr,
        gateways=gateways,
        f_cnt=f_cnt,
        battery_v=battery[decoded],
        qc_suspect=_per_uplink(batch.rows, flagged[0], len(members))[decoded],
        qc_fail=_per_uplink(batch.rows, flagged[1], len(members))[decoded],
    )


def _radio(uplink: Uplink) -> tuple[float, float, float, float]:
    """RSSI and SNR of the best gateway, gateway count and frame counter (NaN: not reported)."""
    gateways, nan = uplink.gateways, np.nan
    best = gateways[0] if gateways else None
    return (
        nan if best is None or best.rssi is None else best.rssi,
        nan if best is None or best.snr is None else best.snr,
        len(gateways) or nan,
        nan if uplink.f_cnt is None else uplink.f_cnt,
    )


def _per_uplink(rows: IntColumn, counts: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.int64]:
    return np.bincount(rows, weights=counts, minlength=size).astype(np.int64)


def _link_lines(links: Links, device_tags: Sequence[str]) -> list[tuple[int, str]]:
    columns = (links.rssi, links.snr, links.gateways, links.f_cnt, links.battery_v)
    fields = dict(zip(_LINK, columns, strict=True))
    tags = [
        f"{device_tags[code]},network={network.value}"
        for code, network in zip(links.device.tolist(), links.networks, strict=True)
    ]
    return format_lines("link", tags, links.time_ns, fields)


def _dead_letter(message: Message, error: UplinkError, network: Network | None) -> DeadLetter:
    return DeadLetter(
        topic=message.topic,
        payload=message.payload,
        reason=error.reason,
        detail=error.detail,
        message=error.message,
        received_ns=message.received_ns,
        network=None if network is None else network.value,
    )


def device_tag_suffixes(registry: Registry, name_of: Callable[[Device], str]) -> list[str]:
    """The escaped ``,device=…,district=…`` tag suffix per device code."""
    return [
        f",device={escape_tag(name_of(d))},district={escape_tag(d.district or 'unknown')}"
        for d in registry
    ]
