"""Payload decoders: FRMPayload or network-server output -> columns of schema fields.

``load_decoders`` reads ``config/decoders.toml`` and returns one decoder per name a device's
``decoder`` column may hold: every binary layout, ``cayenne-lpp`` and ``ns-decoded``.
"""

from __future__ import annotations

from pathlib import Path

from ingest.decoders.binary import BinaryDecoder
from ingest.decoders.cayenne_lpp import CayenneLppDecoder
from ingest.decoders.config import CAYENNE_LPP, NS_DECODED, DecoderConfig, load_config
from ingest.decoders.ns_decoded import NsDecodedDecoder
from ingest.model import Kind
from ingest.readings import Decoder

__all__ = [
    "CAYENNE_LPP",
    "NS_DECODED",
    "DecoderConfig",
    "build_decoders",
    "decoder_kinds",
    "load_config",
    "load_decoders",
]


def load_decoders(path: Path) -> dict[str, Decoder]:
    """Every decoder defined by the layouts file at ``path``; ``ConfigError`` if it is wrong."""
    return build_decoders(load_config(path))


def build_decoders(config: DecoderConfig) -> dict[str, Decoder]:
    """Every decoder of a validated configuration, by the name the registry uses."""
    decoders: dict[str, Decoder] = {
        name: BinaryDecoder(name, layout) for name, layout in config.layouts.items()
    }
    decoders[CAYENNE_LPP] = CayenneLppDecoder(config.cayenne_lpp)
    decoders[NS_DECODED] = NsDecodedDecoder(config.ns_decoded)
    return decoders


def decoder_kinds(config: DecoderConfig) -> dict[str, frozenset[Kind]]:
    """The device kinds each decoder can decode (for cross-checking the device registry)."""
    kinds = {name: frozenset({layout.kind}) for name, layout in config.layouts.items()}
    kinds[CAYENNE_LPP] = frozenset(config.cayenne_lpp)
    kinds[NS_DECODED] = frozenset(Kind)
    return kinds
