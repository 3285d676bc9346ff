"""The simulated city's LoRaWAN radio side: gateways, link budgets and receptions per uplink.

Path loss follows a log-distance model (urban exponent 3.5) with per-link shadowing and a
per-device loss; the spreading factor is chosen as ADR would (best gateway with a 6 dB margin).
Ranges follow uplink-formats §5.4: RSSI −30 … −137 dBm, SNR down to the SF's demodulation floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = [
    "EU868_CHANNELS_HZ",
    "GATEWAYS",
    "GatewaySite",
    "Link",
    "Radio",
    "Reception",
    "airtime_s",
    "plan_link",
    "receive",
]


@dataclass(frozen=True, slots=True)
class GatewaySite:
    """A gateway on a roof: ids as TTS shows them, location, antennas, GPS time source."""

    gateway_id: str
    eui: str  # 16 upper-case hex digits
    lat: float
    lon: float
    altitude: int
    antennas: int
    gps: bool


GATEWAYS: Final = (
    GatewaySite("gw-zaandam-stadhuis", "B827EBFFFE6A1C20", 52.4381, 4.8263, 38, 2, True),
    GatewaySite("gw-zaandam-station", "A840411D2F4C4150", 52.4337, 4.8131, 22, 1, False),
    GatewaySite("gw-poelenburg", "0016C001F1A2B3C4", 52.4300, 4.8430, 30, 1, True),
    GatewaySite("gw-koog-molen", "7276FF002E061A38", 52.4620, 4.8110, 18, 1, False),
    GatewaySite("gw-wormerveer-zaanweg", "AA555A0000000101", 52.4921, 4.7920, 25, 2, False),
    GatewaySite("gw-krommenie-watertoren", "B827EBFFFE112233", 52.5010, 4.7620, 45, 1, True),
    GatewaySite("gw-assendelft-kerk", "00800000A0001C97", 52.4690, 4.7460, 28, 1, False),
)
# EU868 default channels 868.1/868.3/868.5 MHz plus the usual five (LoRaWAN RP002 EU863-870).
EU868_CHANNELS_HZ: Final = (
    868_100_000,
    868_300_000,
    868_500_000,
    867_100_000,
    867_300_000,
    867_500_000,
    867_700_000,
    867_900_000,
)
BANDWIDTH_HZ: Final = 125_000
# SX1276 datasheet, 125 kHz: receiver sensitivity (dBm) and SNR demodulation floor (dB) per SF.
_SENSITIVITY: Final = {7: -123.0, 8: -126.0, 9: -129.0, 10: -132.0, 11: -134.5, 12: -137.0}
_SNR_FLOOR: Final = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
_NOISE_FLOOR_DBM: Final = -117.0  # −174 dBm/Hz + 10·log10(125 kHz) + 6 dB noise figure
_ADR_MARGIN_DB: Final = 6.0
_MAX_GATEWAYS: Final = 4
_METRES_PER_DEG_LAT: Final = 111_320.0


@dataclass(frozen=True, slots=True)
class Link:
    """A device's radio situation: its spreading factor and mean RSSI at every gateway."""

    sf: int
    mean_rssi: tuple[float, ...]  # per entry of GATEWAYS


@dataclass(frozen=True, slots=True)
class Reception:
    """One antenna of one gateway hearing an uplink."""

    gateway: GatewaySite
    antenna: int
    rssi: int
    snr: float
    delay_ns: int  # how long before the network server's receive time the gateway heard it
    counter_us: int  # the concentrator's free-running µs counter (uint32)


@dataclass(frozen=True, slots=True)
class Radio:
    """How one uplink travelled: SF, channel and every reception."""

    sf: int
    channel: int  # index into EU868_CHANNELS_HZ
    receptions: tuple[Reception, ...]

    @property
    def frequency_hz(self) -> int:
        return EU868_CHANNELS_HZ[self.channel]

    @property
    def data_rate(self) -> int:
        return 12 - self.sf  # EU868 DR0 = SF12 … DR5 = SF7 at 125 kHz


def plan_link(lat: float, lon: float, rng: np.random.Generator) -> Link:
    """Mean RSSI per gateway (log-distance path loss + shadowing) and the ADR spreading factor."""
    loss_db = rng.uniform(0.0, 20.0)  # the device's own losses: walls, a container lid
    means = []
    for gateway in GATEWAYS:
        dx = (lon - gateway.lon) * _METRES_PER_DEG_LAT * math.cos(math.radians(lat))
        dy = (lat - gateway.lat) * _METRES_PER_DEG_LAT
        metres = max(math.hypot(dx, dy), 50.0)
        shadowing = rng.normal(0.0, 8.0)  # urban shadowing, σ ≈ 8 dB
        means.append(-60.0 - 35.0 * math.log10(metres / 100.0) + shadowing - loss_db)
    best = max(means)
    sf = next((sf for sf, s in _SENSITIVITY.items() if best - _ADR_MARGIN_DB >= s), 12)
    return Link(sf, tuple(means))


def receive(link: Link, rng: np.random.Generator) -> Radio:
    """The receptions of one uplink: the (at most four) gateways that heard it, best first."""
    rssi = np.asarray(link.mean_rssi) + rng.normal(0.0, 3.0, len(GATEWAYS))
    order = [int(i) for i in np.argsort(-rssi, kind="stable")]
    heard = [i for i in order if rssi[i] >= _SENSITIVITY[link.sf]][:_MAX_GATEWAYS] or order[:1]
    receptions: list[Reception] = []
    for index in heard:
        gateway = GATEWAYS[index]
        receptions.append(_reception(gateway, 0, float(rssi[index]), link.sf, rng))
        if gateway.antennas > 1 and rng.random() < 0.7:
            second = float(rssi[index]) + rng.normal(0.0, 2.5)
            receptions.append(_reception(gateway, 1, second, link.sf, rng))
    return Radio(link.sf, int(rng.integers(len(EU868_CHANNELS_HZ))), tuple(receptions))


def _reception(
    gateway: GatewaySite, antenna: int, rssi: float, sf: int, rng: np.random.Generator
) -> Reception:
    level = min(max(rssi, _SENSITIVITY[sf]), -30.0)
    snr = min(level - _NOISE_FLOOR_DBM, 9.5) + rng.normal(0.0, 1.0)
    return Reception(
        gateway=gateway,
        antenna=antenna,
        rssi=round(level),
        snr=round(max(snr, _SNR_FLOOR[sf]) * 4.0) / 4.0,  # LoRa SNR has a 0.25 dB step
        delay_ns=int(rng.integers(40_000_000, 400_000_000)),
        counter_us=int(rng.integers(0, 1 << 32)),
    )


def airtime_s(sf: int, payload_bytes: int) -> float:
    """Time on air of an uplink (Semtech LoRa modem designer's formula, uplink-formats §5.3).

    Explicit header, CRC on, 8-symbol preamble, coding rate 4/5, low-data-rate optimisation
    for SF11/SF12 at 125 kHz; PHY payload = 13 bytes of LoRaWAN overhead + the application bytes.
    """
    symbol_s = (1 << sf) / BANDWIDTH_HZ
    low_rate = 1 if sf >= 11 else 0
    phy = 13 + payload_bytes
    blocks = math.ceil((8 * phy - 4 * sf + 28 + 16) / (4 * (sf - 2 * low_rate)))
    symbols = 8 + max(blocks * 5, 0)
    return (8 + 4.25) * symbol_s + symbols * symbol_s
