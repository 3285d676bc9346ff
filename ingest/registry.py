"""The device registry (contract §3): ``config/devices.csv`` loaded and validated at start."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
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

    def merged(self, fresh: Registry) -> Registry:
        """``fresh`` with stable codes: a device keeps its code, a new one gets the next free
        code, and a removed one keeps its slot (its aggregate state stays addressable) while
        no longer being looked up by DevEUI."""
        devices = list(self.devices)
        by_eui: dict[str, Device] = {}
        for device in fresh:
            old = self.by_eui.get(device.dev_eui)
            code = old.code if old is not None else len(devices)
            placed = replace(device, code=code)
            if old is None:
                devices.append(placed)
            else:
                devices[code] = placed
            by_eui[device.dev_eui] = placed
        return _registry(devices, by_eui)


def load_registry(
    path: Path, decoder_kinds: Mapping[str, frozenset[Kind]], max_devices: int = 1_000_000
) -> Registry:
    """Read and check every row; ``ConfigError`` names the row, the column and the fix.

    ``decoder_kinds`` maps each decoder name to the device kinds it can decode
    (``ingest.decoders.decoder_kinds``); more than ``max_devices`` rows are refused.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            _check_header(reader.fieldnames, path.name)
            rows = itertools.islice(enumerate(reader), max_devices + 1)
            devices = [_device(i, row, path.name, decoder_kinds) for i, row in rows]
    except OSError as exc:
        raise ConfigError(
            "registry.path",
            f"cannot read {path} ({exc.strerror})",
            "point it at the device registry CSV",
        ) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(
            "registry.path", f"{path} is not a UTF-8 CSV file ({exc})", "save it as UTF-8 CSV"
        ) from exc
    if len(devices) > max_devices:
        raise ConfigError(
            "registry.max_devices",
            f"{path} has more than {max_devices} devices",
            "raise registry.max_devices if the fleet really is that large",
        )
    by_eui = _by_eui(devices, path.name)
    return _registry(devices, by_eui)


def _registry(devices: Sequence[Device], by_eui: Mapping[str, Device]) -> Registry:
    nan = float("nan")
    empty = np.array([d.empty_distance_mm or nan for d in devices], dtype=np.float64)
    full = np.array([d.full_distance_mm or nan for d in devices], dtype=np.float64)
    return Registry(tuple(devices), by_eui, empty, full)


def _check_header(fieldnames: Sequence[str] | None, name: str) -> None:
    missing = [c for c in _REQUIRED if c not in (fieldnames or ())]
    if missing:
        raise ConfigError(
            f"{name} column {missing[0]}",
            f"the header lacks {', '.join(missing)}",
            f"the first row must name the columns {','.join(COLUMNS)}",
        )


def _by_eui(devices: Sequence[Device], name: str) -> dict[str, Device]:
    """Devices by DevEUI, checking that DevEUIs and public names are unique."""
    by_eui: dict[str, Device] = {}
    by_name: dict[str, Device] = {}
    for device in devices:
        where = f"{name} row {device.code + 2}"
        if (other := by_eui.get(device.dev_eui)) is not None:
            raise ConfigError(
                f"{where} dev_eui",
                f"DevEUI {device.dev_eui} is listed twice ({other.device_id} and "
                f"{device.device_id})",
                "keep one row per device",
            )
        if (other := by_name.get(device.device_id)) is not None:
            raise ConfigError(
                f"{where} device_id",
                f"'{device.device_id}' is also the name of DevEUI {other.dev_eui}",
                "give every device its own device_id: it is the `device` tag of its points",
            )
        by_eui[device.dev_eui] = by_name[device.device_id] = device
    return by_eui


def _device(
    index: int,
    row: dict[str | None, str | None],
    name: str,
    decoder_kinds: Mapping[str, frozenset[Kind]],
) -> Device:
    where = f"{name} row {index + 2}"  # row 1 is the header
    cells = _cells(row, where)
    dev_eui = cells["dev_eui"].strip().upper()
    if len(dev_eui) != 16 or not set(dev_eui) <= _HEX:
        raise ConfigError(
            f"{where} dev_eui",
            f"'{cells['dev_eui']}' is not 16 hex digits",
            "write the DevEUI as 16 hex digits, e.g. 70B3D57ED005A1F3",
        )
    kind = _choice(Kind, cells["kind"], f"{where} kind")
    decoder = _decoder(cells["decoder"].strip(), kind, f"{where} decoder", decoder_kinds)
    empty, full = _bin_distances(cells, kind, where)
    return Device(
        code=index,
        dev_eui=dev_eui,
        device_id=_tag_text(cells["device_id"], f"{where} device_id"),
        kind=kind,
        decoder=decoder,
        district=_tag_text(cells["district"], f"{where} district", required=False),
        site=cells["site"].strip(),
        lat=_float(cells["lat"], f"{where} lat", -90, 90),
        lon=_float(cells["lon"], f"{where} lon", -180, 180),
        owner=_choice(Owner, cells["owner"], f"{where} owner"),
        empty_distance_mm=empty,
        full_distance_mm=full,
    )


def _cells(row: dict[str | None, str | None], where: str) -> dict[str, str]:
    """The row's cells by column; a row with more or fewer cells than the header is an error."""
    cells = {key: value for key, value in row.items() if key is not None and value is not None}
    if len(cells) != len(row):
        raise ConfigError(
            where,
            f"has {'more' if None in row else 'fewer'} cells than the header has columns",
            "give every row one cell per column (empty where a column does not apply)",
        )
    return cells


def _decoder(
    decoder: str, kind: Kind, key: str, decoder_kinds: Mapping[str, frozenset[Kind]]
) -> str:
    if decoder not in decoder_kinds:
        raise ConfigError(
            key,
            f"unknown decoder '{decoder}'",
            f"use one of {', '.join(sorted(decoder_kinds))} or add a layout to decoders.toml",
        )
    if kind not in decoder_kinds[decoder]:
        raise ConfigError(
            key,
            f"decoder '{decoder}' does not decode {kind.value} devices",
            f"use a decoder for {kind.value} or add a channel map / layout to decoders.toml",
        )
    return decoder


def _bin_distances(
    cells: Mapping[str, str], kind: Kind, where: str
) -> tuple[float | None, float | None]:
    empty = _optional_float(cells.get("empty_distance_mm"), f"{where} empty_distance_mm")
    full = _optional_float(cells.get("full_distance_mm"), f"{where} full_distance_mm")
    if kind is Kind.WASTE and (empty is None or full is None or not empty > full > 0):
        column = "full_distance_mm" if empty is not None and full is None else "empty_distance_mm"
        raise ConfigError(
            f"{where} {column}",
            f"a bin needs empty_distance_mm > full_distance_mm > 0 (got {empty}, {full})",
            "measure both distances on the installed bin",
        )
    return empty, full


def _tag_text(value: str, key: str, *, required: bool = True) -> str:
    """A value that becomes an InfluxDB tag, which cannot carry a line break and keeps
    backslashes ambiguously (see ``ingest.lineprotocol``)."""
    text = value.strip()
    if required and not text:
        raise ConfigError(key, "is empty", "give the device a public name")
    if "\\" in text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ConfigError(
            key,
            f"{text!r} has a backslash or a control character",
            "remove them: the value becomes an InfluxDB tag",
        )
    return text


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
