"""The device registry (contract §3): ``config/devices.csv`` loaded and validated at start."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from ingest.errors import ConfigError
from ingest.model import Device, Kind, Owner

__all__ = ["COLUMNS", "Registry", "load_registry"]

COLUMNS = (
    "dev_eui",
    "device_id",
    "kind",
    "decoder",
    "district",
    "site",
    "lat",
    "lon",
    "owner",
    "empty_distance_mm",
    "full_distance_mm",
)
_REQUIRED = COLUMNS[:9]
_HEX = frozenset("0123456789ABCDEF")
_E = TypeVar("_E", Kind, Owner)


@dataclass(frozen=True, slots=True)
class Registry:
    """Devices by DevEUI, with ``Device.code`` indexing the column arrays below."""

    devices: tuple[Device, ...]
    by_eui: Mapping[str, Device]
    empty_mm: npt.NDArray[np.float64]  # per device code; NaN for devices that are not bins
    full_mm: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.devices)

    def __iter__(self) -> Iterator[Device]:
        return iter(self.devices)

    def get(self, dev_eui: str) -> Device | None:
        return self.by_eui.get(dev_eui)


def load_registry(path: Path, decoder_kinds: Mapping[str, frozenset[Kind]]) -> Registry:
    """Read and check every row; ``ConfigError`` names the row, the column and the fix.

    ``decoder_kinds`` maps each decoder name to the device kinds it can decode
    (``ingest.decoders.decoder_kinds``).
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _REQUIRED if c not in (reader.fieldnames or ())]
            if missing:
                raise ConfigError(
                    f"registry {path.name}",
                    f"missing columns {missing}",
                    f"the header must name {', '.join(COLUMNS)}",
                )
            devices = [_device(i, row, path.name, decoder_kinds) for i, row in enumerate(reader)]
    except OSError as exc:
        raise ConfigError(
            "registry.path",
            f"cannot read {path} ({exc.strerror})",
            "point it at the device registry CSV",
        ) from exc
    by_eui: dict[str, Device] = {}
    for device in devices:
        if device.dev_eui in by_eui:
            raise ConfigError(
                f"{path.name} row {device.code + 2} dev_eui",
                f"DevEUI {device.dev_eui} is listed twice ({by_eui[device.dev_eui].device_id} "
                f"and {device.device_id})",
                "keep one row per device",
            )
        by_eui[device.dev_eui] = device
    nan = float("nan")
    empty = np.array([d.empty_distance_mm or nan for d in devices], dtype=np.float64)
    full = np.array([d.full_distance_mm or nan for d in devices], dtype=np.float64)
    return Registry(tuple(devices), by_eui, empty, full)


def _device(
    index: int, row: dict[str, str], name: str, decoder_kinds: Mapping[str, frozenset[Kind]]
) -> Device:
    where = f"{name} row {index + 2}"  # row 1 is the header
    dev_eui = row["dev_eui"].strip().upper()
    if len(dev_eui) != 16 or not set(dev_eui) <= _HEX:
        raise ConfigError(
            f"{where} dev_eui",
            f"'{row['dev_eui']}' is not 16 hex digits",
            "write the DevEUI as 16 hex digits, e.g. 70B3D57ED005A1F3",
        )
    kind = _choice(Kind, row["kind"], f"{where} kind")
    decoder = row["decoder"].strip()
    if decoder not in decoder_kinds:
        raise ConfigError(
            f"{where} decoder",
            f"unknown decoder '{decoder}'",
            f"use one of {', '.join(sorted(decoder_kinds))} or add a layout to decoders.toml",
        )
    if kind not in decoder_kinds[decoder]:
        raise ConfigError(
            f"{where} decoder",
            f"decoder '{decoder}' does not decode {kind.value} devices",
            f"use a decoder for {kind.value} or add a channel map / layout to decoders.toml",
        )
    empty = _optional_float(row.get("empty_distance_mm"), f"{where} empty_distance_mm")
    full = _optional_float(row.get("full_distance_mm"), f"{where} full_distance_mm")
    if kind is Kind.WASTE and (empty is None or full is None or not empty > full > 0):
        raise ConfigError(
            f"{where} empty_distance_mm",
            "a bin needs empty_distance_mm > full_distance_mm > 0",
            "measure both distances on the installed bin",
        )
    device_id = row["device_id"].strip()
    if not device_id:
        raise ConfigError(f"{where} device_id", "is empty", "give the device a public name")
    return Device(
        code=index,
        dev_eui=dev_eui,
        device_id=device_id,
        kind=kind,
        decoder=decoder,
        district=row["district"].strip(),
        site=row["site"].strip(),
        lat=_float(row["lat"], f"{where} lat", -90, 90),
        lon=_float(row["lon"], f"{where} lon", -180, 180),
        owner=_choice(Owner, row["owner"], f"{where} owner"),
        empty_distance_mm=empty,
        full_distance_mm=full,
    )


def _choice(enum: type[_E], value: str, key: str) -> _E:
    try:
        return enum(value.strip())
    except ValueError as exc:
        raise ConfigError(
            key, f"'{value}' is not allowed", f"use one of {', '.join(e.value for e in enum)}"
        ) from exc


def _float(value: str, key: str, low: float, high: float) -> float:
    number = _optional_float(value, key)
    if number is None or not low <= number <= high:
        raise ConfigError(key, f"'{value}' is not a number in [{low}, {high}]", "fix the value")
    return number


def _optional_float(value: str | None, key: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(key, f"'{value}' is not a number", "write a decimal number") from exc
    if not math.isfinite(number):
        raise ConfigError(key, f"'{value}' is not finite", "write a decimal number")
    return number
