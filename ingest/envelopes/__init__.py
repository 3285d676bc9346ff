"""Envelope parsers: one network server's message in, one normalised ``Uplink`` out.

The stage contract is ``Envelope.decode``; ``ENVELOPES`` picks the implementation by the
contract's ``network`` name. Formats: The Things Stack v3 ``ApplicationUp`` (``tts``), ChirpStack
v4 ``UplinkEvent`` (``chirpstack``), KPN Things SenML packs, RFC 8428 (``kpn``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Protocol

from ingest.envelopes.chirpstack import ChirpstackEnvelope
from ingest.envelopes.kpn import KpnEnvelope
from ingest.envelopes.tts import TtsEnvelope
from ingest.model import Message, Network, Uplink

__all__ = ["ENVELOPES", "ChirpstackEnvelope", "Envelope", "KpnEnvelope", "TtsEnvelope"]


class Envelope(Protocol):
    """Turns one message from a network server into a normalised uplink."""

    def decode(self, message: Message) -> Uplink:
        """The message's uplink; raises ``EnvelopeError`` (and nothing else) if it is unusable."""
        ...


ENVELOPES: Final[Mapping[Network, Envelope]] = MappingProxyType(
    {
        Network.TTS: TtsEnvelope(),
        Network.CHIRPSTACK: ChirpstackEnvelope(),
        Network.KPN: KpnEnvelope(),
    }
)
