"""Every golden case decodes to exactly its expected uplink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.envelopes import ENVELOPES
from ingest.model import Network

from .golden import case_dirs, expected_uplink, message_of


@pytest.mark.parametrize("case", case_dirs(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_case_decodes_to_expected_uplink(case: Path) -> None:
    network = Network(case.parent.name)
    expected = json.loads((case / "expected.json").read_bytes())
    message = message_of((case / "message.json").read_bytes(), expected["received"])

    uplink = ENVELOPES[network].decode(message)

    assert uplink == expected_uplink(network, expected["uplink"])
    # == treats False as 0.0: compare the value types of SenML records too
    assert [type(r.value) for r in uplink.records] == [
        float
        if isinstance(r["value"], int | float) and not isinstance(r["value"], bool)
        else type(r["value"])
        for r in expected["uplink"]["records"]
    ]


def test_every_network_has_golden_cases() -> None:
    assert {path.parent.name for path in case_dirs()} == {network.value for network in Network}
    assert set(ENVELOPES) == set(Network)
