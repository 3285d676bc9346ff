"""A resolution factor applied to raw integers, shared by the decoders and their encoders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

from ingest.readings import FloatColumn

__all__ = ["Scale"]

_WHOLE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Scale:
    """Multiply by ``factor``, as a division where ``1 / factor`` is a whole number.

    Dividing by 10 gives the double nearest to the decimal result (``183 / 10 == 18.3``),
    multiplying by the inexact 0.1 does not always (``3 * 0.1 == 0.30000000000000004``), so
    readings equal the decimal values a device's documentation states.
    """

    factor: float
    divisor: float | None

    @classmethod
    def of(cls, factor: float) -> Scale:
        """The scale for ``factor`` (non-zero, finite)."""
        inverse = 1.0 / factor
        whole = round(inverse)
        exact = whole != 0 and abs(inverse - whole) <= _WHOLE_TOLERANCE * abs(inverse)
        return cls(factor, float(whole) if exact else None)

    @overload
    def apply(self, raw: float) -> float: ...

    @overload
    def apply(self, raw: FloatColumn) -> FloatColumn: ...

    def apply(self, raw: float | FloatColumn) -> float | FloatColumn:
        """``raw * factor``."""
        return raw / self.divisor if self.divisor is not None else raw * self.factor

    def unapply(self, value: float) -> float:
        """The (unrounded) raw number that ``apply`` maps to ``value``."""
        return value * self.divisor if self.divisor is not None else value / self.factor
