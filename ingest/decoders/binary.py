"""Fixed-size binary layouts, decoded a whole batch at a time with one ``np.frombuffer``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ingest.decoders.config import FieldSpec, LayoutSpec
from ingest.decoders.details import LENGTH_MISMATCH, UNEXPECTED_PORT
from ingest.decoders.scale import Scale
from ingest.errors import ConfigError, PayloadError
from ingest.model import Kind, Uplink
from ingest.readings import DecodedBatch, FloatColumn

__all__ = ["BinaryDecoder", "field_values", "layout_dtype"]

_NUMPY_TYPES: Final = {"u8": "u1", "i8": "i1", "u16": "u2", "i16": "i2", "u32": "u4", "i32": "i4"}
_BYTE_ORDERS: Final = {"big": ">", "little": "<"}


def layout_dtype(layout: LayoutSpec) -> np.dtype[np.void]:
    """The packed numpy structured dtype of one frame of ``layout``."""
    order = _BYTE_ORDERS[layout.byte_order]
    return np.dtype([(spec.name, order + _NUMPY_TYPES[spec.type]) for spec in layout.fields])


def field_values(spec: FieldSpec, raw: npt.NDArray[np.integer[Any]]) -> FloatColumn:
    """``(raw & mask) * scale + offset`` per element; NaN where ``raw`` equals ``missing``."""
    ints = raw.astype(np.int64)
    if spec.mask is not None:
        ints &= spec.mask
    values = Scale.of(spec.scale).apply(ints.astype(np.float64))
    if spec.offset:
        values += spec.offset
    if spec.missing is not None:
        values[raw == spec.missing] = np.nan
    return values


class BinaryDecoder:
    """Decodes uplinks whose FRMPayload is one frame of a fixed layout."""

    def __init__(self, name: str, layout: LayoutSpec) -> None:
        self.name = name
        self.layout = layout
        self._dtype = layout_dtype(layout)
        self._ports = frozenset(layout.ports)

    def decode(self, uplinks: Sequence[Uplink], kind: Kind) -> DecodedBatch:
        """Decode the uplinks of the right port and length in one vectorised pass."""
        if kind != self.layout.kind:
            key = f"decoders.layouts.{self.name}.kind"
            raise ConfigError(
                key,
                f"layout is for {self.layout.kind} devices, used for a {kind} device",
                "give the device a layout of its kind in the registry",
            )
        checks = [(index, self._problem(uplink)) for index, uplink in enumerate(uplinks)]
        good = [index for index, problem in checks if problem is None]
        frames = np.frombuffer(b"".join(uplinks[i].payload for i in good), dtype=self._dtype)
        return DecodedBatch(
            rows=np.array(good, dtype=np.int64),
            time_ns=np.array([uplinks[i].time_ns for i in good], dtype=np.int64),
            columns={
                s.name: field_values(s, frames[s.name]) for s in self.layout.fields if s.store
            },
            errors=[(index, problem) for index, problem in checks if problem is not None],
        )

    def _problem(self, uplink: Uplink) -> PayloadError | None:
        if uplink.f_port not in self._ports:
            return PayloadError(
                UNEXPECTED_PORT,
                f"layout {self.name} expects fPort {sorted(self._ports)}, got {uplink.f_port}; "
                "check the device's decoder in the registry",
            )
        if len(uplink.payload) != self._dtype.itemsize:
            return PayloadError(
                LENGTH_MISMATCH,
                f"layout {self.name} expected {self._dtype.itemsize} bytes, "
                f"got {len(uplink.payload)}; check the device's decoder in the registry",
            )
        return None
