"""The stable detail codes of the payload decoders' dead letters (reason ``bad_payload``)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "LENGTH_MISMATCH",
    "LPP_TYPE_MISMATCH",
    "LPP_UNKNOWN_TYPE",
    "NON_FINITE",
    "NOT_A_NUMBER",
    "NO_DECODED_OBJECT",
    "NO_KNOWN_FIELDS",
    "UNEXPECTED_PORT",
    "UNIT_UNKNOWN",
]

LENGTH_MISMATCH: Final = (
    "payload.length_mismatch"  # frame or LPP item shorter/longer than its layout
)
UNEXPECTED_PORT: Final = "payload.unexpected_port"  # fPort not among the layout's ports
LPP_UNKNOWN_TYPE: Final = "payload.lpp_unknown_type"  # LPP type id not in Cayenne LPP v1
LPP_TYPE_MISMATCH: Final = "payload.lpp_type_mismatch"  # mapped LPP channel of another quantity
NO_KNOWN_FIELDS: Final = "payload.no_known_fields"  # nothing in the uplink maps to a schema field
NO_DECODED_OBJECT: Final = "payload.no_decoded_object"  # ns-decoded without decoded object/SenML
NOT_A_NUMBER: Final = "payload.not_a_number"  # a mapped key's value is not numeric
UNIT_UNKNOWN: Final = "payload.unit_unknown"  # SenML unit that does not convert to the schema's
NON_FINITE: Final = "payload.non_finite"  # NaN or infinity decoded
