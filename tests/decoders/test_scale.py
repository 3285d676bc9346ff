"""Scale: decimal resolutions divide, so readings equal the documented decimal values."""

from __future__ import annotations

import numpy as np

from ingest.decoders.scale import Scale


def test_decimal_resolution_divides() -> None:
    scale = Scale.of(0.1)

    assert scale.divisor == 10.0
    assert scale.apply(3.0) == 0.3  # 3 * 0.1 would give 0.30000000000000004
    assert scale.apply(np.array([3.0, 183.0])).tolist() == [0.3, 18.3]


def test_other_factors_multiply() -> None:
    assert Scale.of(10.0).divisor is None
    assert Scale.of(10.0).apply(81.2) == 812.0
    assert Scale.of(2.5).apply(4.0) == 10.0


def test_unapply_inverts_apply() -> None:
    assert Scale.of(0.001).unapply(3.412) == 3412.0
    assert Scale.of(10.0).unapply(812.0) == 81.2
