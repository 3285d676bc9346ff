"""Whatever arrives, an envelope returns a well-formed ``Uplink`` or raises ``EnvelopeError``."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.envelopes import ENVELOPES
from ingest.errors import EnvelopeError
from ingest.model import Network, Uplink

from .golden import case_dirs, message_of

_FUZZ = settings(max_examples=250, deadline=None, database=None)
_DETAIL = re.compile(r"(envelope|senml)\.[a-z0-9_]+")
_RECEIVED = "2025-03-14T08:30:00Z"
_DOCUMENTS = [
    (Network(path.parent.name), json.loads((path / "message.json").read_bytes()))
    for path in case_dirs()
]
# Labels the envelopes read, so that generated objects often hit a real field.
_LABELS = [
    "uplink_message", "end_device_ids", "dev_eui", "received_at", "f_cnt", "f_port",
    "frm_payload", "decoded_payload", "rx_metadata", "gateway_ids", "gateway_id", "eui", "rssi",
    "snr", "simulated", "time", "deviceInfo", "devEui", "fCnt", "fPort", "data", "object",
    "rxInfo", "gatewayId", "bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "vd", "t",
]  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats()
    | st.text(max_size=24)
    | st.sampled_from(["2025-03-14T08:30:00Z", "AQID", "urn:dev:DEVEUI:0059AC000018F2B1:"])
)
_JSONISH = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_LABELS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=24,
)
_NETWORKS = pytest.mark.parametrize("network", list(Network), ids=str)


def _outcome(network: Network, payload: bytes) -> Uplink | EnvelopeError:
    try:
        return ENVELOPES[network].decode(message_of(payload, _RECEIVED))
    except EnvelopeError as exc:
        return exc


def _decode_or_reject(network: Network, payload: bytes) -> None:
    outcome = _outcome(network, payload)
    if isinstance(outcome, EnvelopeError):
        assert _DETAIL.fullmatch(outcome.detail), outcome.detail
    else:
        _assert_well_formed(network, outcome)


def _assert_well_formed(network: Network, uplink: Uplink) -> None:
    assert uplink.network is network
    assert re.fullmatch(r"[0-9A-F]{16}", uplink.dev_eui)
    assert isinstance(uplink.time_ns, int)
    assert isinstance(uplink.payload, bytes)
    if network is Network.KPN:
        assert uplink.f_cnt is None
    else:
        assert isinstance(uplink.f_cnt, int)
        assert 0 <= uplink.f_cnt < 2**32
    assert uplink.f_port is None or 0 <= uplink.f_port <= 255
    assert len({g.gateway_id for g in uplink.gateways}) == len(uplink.gateways)
    times = [record.time_ns for record in uplink.records]
    assert times == sorted(times)


def _paths(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield path
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in children:
        yield from _paths(child, (*path, key))


def _replaced(document: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced, or deleted if ``value`` is
    ``...`` (deleting the whole document leaves null)."""
    if not path:
        return None if value is ... else value
    changed = copy.deepcopy(document)
    *parents, last = path
    node = changed
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return changed


def _depth(node: Any) -> int:
    """Nesting depth of a JSON value the plain way: scalars 0, each array/object one level."""
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return 1 + max(map(_depth, children), default=0) if isinstance(node, dict | list) else 0


@_NETWORKS
@_FUZZ
@given(payload=st.binary(max_size=512))
def test_arbitrary_bytes(network: Network, payload: bytes) -> None:
    _decode_or_reject(network, payload)


@_NETWORKS
@_FUZZ
@given(document=_JSONISH)
def test_arbitrary_json(network: Network, document: Any) -> None:
    _decode_or_reject(network, json.dumps(document).encode())


@_FUZZ
@given(data=st.data())
def test_mutated_valid_messages(data: st.DataObject) -> None:
    network, document = data.draw(st.sampled_from(_DOCUMENTS))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(document))))
        document = _replaced(document, path, data.draw(st.just(...) | _JSONISH))
    _decode_or_reject(network, json.dumps(document).encode())


@_FUZZ
@given(data=st.data())
def test_byte_mutated_valid_messages(data: st.DataObject) -> None:
    network, document = data.draw(st.sampled_from(_DOCUMENTS))
    payload = bytearray(json.dumps(document).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at : at + data.draw(st.integers(0, 3))] = data.draw(st.binary(max_size=3))
    _decode_or_reject(network, bytes(payload))


@_FUZZ
@given(data=st.data(), levels=st.integers(1, 40))
def test_too_deep_exactly_when_nesting_exceeds_32(data: st.DataObject, levels: int) -> None:
    network, document = data.draw(st.sampled_from(_DOCUMENTS))
    nested: Any = "x"
    for _ in range(levels):
        nested = data.draw(st.sampled_from([[nested], {"k": nested}]))
    document = _replaced(document, data.draw(st.sampled_from(list(_paths(document)))), nested)
    outcome = _outcome(network, json.dumps(document).encode())
    too_deep = isinstance(outcome, EnvelopeError) and outcome.detail == "envelope.too_deep"
    assert too_deep == (_depth(document) > 32)
