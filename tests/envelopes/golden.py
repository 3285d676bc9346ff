"""Golden cases of the envelope parsers: ``cases/<network>/<case>/{message.json,expected.json}``.

``expected.json`` holds the time the message arrived (``received``) and the normalised uplink,
with times written as RFC 3339 UTC strings and the payload as hex so the files stay readable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.model import Gateway, Message, Network, SenmlRecord, Uplink

CASES = Path(__file__).parent / "cases"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns_of(text: str) -> int:
    """A ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` time as ns: the tests' own reference conversion."""
    whole, _, fraction = text.removesuffix("Z").partition(".")
    seconds = (datetime.fromisoformat(whole).replace(tzinfo=UTC) - _EPOCH) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))


def case_dirs() -> list[Path]:
    return sorted(CASES.glob("*/*"))


def document(network: str, case: str) -> Any:
    """The case's message as Python data, for tests that change it."""
    return json.loads((CASES / network / case / "message.json").read_bytes())


def message_of(payload: bytes | Any, received: str = "2025-03-14T08:30:00Z") -> Message:
    """A message with ``payload`` (bytes as given, anything else as compact JSON)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Message(topic="test", payload=raw, received_ns=ns_of(received))


def expected_uplink(network: Network, expected: dict[str, Any]) -> Uplink:
    return Uplink(
        network=network,
        dev_eui=expected["dev_eui"],
        time_ns=ns_of(expected["time"]),
        f_cnt=expected["f_cnt"],
        f_port=expected["f_port"],
        payload=bytes.fromhex(expected["payload_hex"]),
        decoded=expected["decoded"],
        records=tuple(
            SenmlRecord(r["name"], r["unit"], r["value"], ns_of(r["time"]))
            for r in expected["records"]
        ),
        gateways=tuple(Gateway(g["gateway_id"], g["rssi"], g["snr"]) for g in expected["gateways"]),
    )
