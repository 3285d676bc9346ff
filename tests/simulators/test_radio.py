"""Receptions: plausible gateway counts, RSSI and SNR; time on air per the LoRa formula."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.fleet import generate_fleet
from simulators.radio import GATEWAYS, airtime_s, plan_link, receive

# SNR demodulation floor per SF (uplink-formats §5.4)
SNR_FLOOR = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}


def test_receptions_are_plausible() -> None:
    rng = np.random.default_rng(3)
    gateway_counts = set()
    two_antennas = 0
    for device in generate_fleet(10, seed=3):
        link = plan_link(device.lat, device.lon, rng)
        assert 7 <= link.sf <= 12
        for _ in range(20):
            radio = receive(link, rng)
            ids = [r.gateway.gateway_id for r in radio.receptions]
            gateways = list(dict.fromkeys(ids))
            assert 1 <= len(gateways) <= 4
            gateway_counts.add(len(gateways))
            two_antennas += len(ids) > len(gateways)
            rssi = [r.rssi for r in radio.receptions if r.antenna == 0]
            assert rssi == sorted(rssi, reverse=True)
            for reception in radio.receptions:
                assert -137 <= reception.rssi <= -30
                assert SNR_FLOOR[radio.sf] <= reception.snr <= 13.0
                assert reception.snr * 4 == int(reception.snr * 4)
                assert 0 <= reception.counter_us < 1 << 32
    assert gateway_counts == {1, 2, 3, 4}
    assert two_antennas > 0
    assert {g.gateway_id for g in GATEWAYS} >= set(ids)


@pytest.mark.parametrize(
    ("sf", "payload", "expected_ms"),
    [(12, 10, 1482.8), (7, 20, 71.9), (9, 20, 246.8), (12, 51, 2793.5), (10, 10, 370.7)],
)
def test_airtime_matches_the_spec_table(sf: int, payload: int, expected_ms: float) -> None:
    assert airtime_s(sf, payload) * 1000 == pytest.approx(expected_ms, abs=0.05)
