"""A simulated city's device fleet: generated from a seed, written as or read from the registry.

The fleet lives in Zaanstad (North Holland): devices scatter around real district centres, carry
DevEUIs under their vendors' IEEE OUIs and use the decoders of ``config/decoders.toml``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ingest.decoders import CAYENNE_LPP, NS_DECODED, DecoderConfig, decoder_kinds
from ingest.model import Device, Kind, Owner
from ingest.registry import COLUMNS, load_registry

__all__ = ["CITY", "generate_fleet", "load_or_create_fleet", "read_fleet", "write_fleet"]

CITY: Final = "zaanstad"


@dataclass(frozen=True, slots=True)
class _District:
    name: str
    lat: float
    lon: float
    streets: tuple[str, ...]


_DISTRICTS: Final = (
    _District("Zaandam-Centrum", 52.4389, 4.8258, ("Gedempte Gracht", "Westzijde", "Peperstraat")),
    _District("Zaandam-Oost", 52.4423, 4.8452, ("Oostzijde", "Ankersmidplein", "Heijermansstraat")),
    _District(
        "Zaandam-Zuid", 52.4252, 4.8196, ("Provincialeweg", "Wilhelminastraat", "Vinkenstraat")
    ),
    _District("Koog aan de Zaan", 52.4637, 4.8082, ("Lagedijk", "Hoogstraat", "Stationsstraat")),
    _District("Wormerveer", 52.4906, 4.7895, ("Zaanweg", "Marktstraat", "Wandelweg")),
    _District("Krommenie", 52.4992, 4.7637, ("Zuiderhoofdstraat", "Padlaan", "Rosariumlaan")),
    _District("Assendelft", 52.4702, 4.7451, ("Dorpsstraat", "Communicatieweg", "Kaatsbaan")),
)
# Decoders per kind, cycled so that even a small fleet has each of them (decoders.toml names).
_DECODER_CYCLE: Final[Mapping[Kind, tuple[str, ...]]] = {
    Kind.AIR: ("city-air-v1", CAYENNE_LPP, "city-air-v1", NS_DECODED),
    Kind.NOISE: ("city-noise-v1", CAYENNE_LPP, "city-noise-v1"),
    Kind.WASTE: ("dragino-ldds75", "dragino-ldds75", NS_DECODED),
}
# DevEUI prefixes: IEEE OUIs of the usual vendors (TTN's 70B3D57ED block for reference designs,
# Microchip 0004A3 for RN2483 LPP nodes, Dragino A84041, Milesight 24E124).
_EUI_PREFIX: Final[Mapping[tuple[Kind, str], str]] = {
    (Kind.AIR, "city-air-v1"): "70B3D57ED0",
    (Kind.AIR, CAYENNE_LPP): "0004A30B00",
    (Kind.AIR, NS_DECODED): "24E124",
    (Kind.NOISE, "city-noise-v1"): "70B3D57ED0",
    (Kind.NOISE, CAYENNE_LPP): "0004A30B00",
    (Kind.WASTE, "dragino-ldds75"): "A84041",
    (Kind.WASTE, NS_DECODED): "A84041",
}
# Bin types: (empty distance, full distance) in mm; full stays above the LDDS75 blind zone
# (≈ 280 mm, Dragino LDDS75 manual).
_BINS: Final = ((1100.0, 300.0), (1100.0, 300.0), (1500.0, 350.0), (800.0, 290.0))
_SITE_PREFIX: Final[Mapping[Kind, str]] = {
    Kind.AIR: "lamp post",
    Kind.NOISE: "façade",
    Kind.WASTE: "container",
}
_CITIZEN_SHARE: Final = 0.1
_SPREAD_DEG: Final = 0.006  # ≈ 650 m around the district centre


def generate_fleet(per_kind: int, seed: int) -> list[Device]:
    """``per_kind`` devices of each kind, the same for the same seed."""
    rng = np.random.default_rng([seed, 0xF1EE7])
    devices: list[Device] = []
    taken: set[str] = set()
    for kind in Kind:
        for number in range(1, per_kind + 1):
            decoder = _DECODER_CYCLE[kind][(number - 1) % len(_DECODER_CYCLE[kind])]
            eui = _unique_eui(_EUI_PREFIX[kind, decoder], rng, taken)
            devices.append(
                _device(
                    len(devices),
                    kind=kind,
                    number=number,
                    per_kind=per_kind,
                    decoder=decoder,
                    eui=eui,
                    rng=rng,
                )
            )
    return devices


def _unique_eui(prefix: str, rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        eui = prefix + rng.bytes(8).hex().upper()[: 16 - len(prefix)]
        if eui not in taken:
            taken.add(eui)
            return eui


def _device(
    code: int,
    *,
    kind: Kind,
    number: int,
    per_kind: int,
    decoder: str,
    eui: str,
    rng: np.random.Generator,
) -> Device:
    district = _DISTRICTS[int(rng.integers(len(_DISTRICTS)))]
    street = district.streets[int(rng.integers(len(district.streets)))]
    lat, lon = np.round(
        np.array((district.lat, district.lon)) + rng.uniform(-_SPREAD_DEG, _SPREAD_DEG, 2), 6
    )
    empty, full = _BINS[int(rng.integers(len(_BINS)))] if kind is Kind.WASTE else (None, None)
    width = max(3, len(str(per_kind)))
    return Device(
        code=code,
        dev_eui=eui,
        device_id=f"{CITY}-{kind}-{number:0{width}d}",
        kind=kind,
        decoder=decoder,
        district=district.name,
        site=f"{_SITE_PREFIX[kind]} {street} {int(rng.integers(1, 120))}",
        lat=float(lat),
        lon=float(lon),
        owner=Owner.CITIZEN if rng.random() < _CITIZEN_SHARE else Owner.MUNICIPAL,
        empty_distance_mm=empty,
        full_distance_mm=full,
    )


def write_fleet(devices: Sequence[Device], path: Path) -> None:
    """Write ``devices`` as a registry CSV (contract §3 columns)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for d in devices:
            writer.writerow(
                (
                    d.dev_eui,
                    d.device_id,
                    d.kind,
                    d.decoder,
                    d.district,
                    d.site,
                    f"{d.lat:.6f}",
                    f"{d.lon:.6f}",
                    d.owner,
                    _millimetres(d.empty_distance_mm),
                    _millimetres(d.full_distance_mm),
                )
            )


def _millimetres(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def read_fleet(path: Path, decoders: DecoderConfig) -> list[Device]:
    """The devices of an existing registry CSV, checked as the service checks them."""
    return list(load_registry(path, decoder_kinds(decoders)).devices)


def load_or_create_fleet(
    path: Path | None, per_kind: int, seed: int, decoders: DecoderConfig
) -> list[Device]:
    """Read ``path`` if it exists; otherwise generate a fleet and write it there (if given)."""
    if path is not None and path.exists():
        return read_fleet(path, decoders)
    devices = generate_fleet(per_kind, seed)
    if path is not None:
        write_fleet(devices, path)
    return devices
