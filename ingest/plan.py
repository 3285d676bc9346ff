"""The plan: everything loaded and checked from the settings before any connection is made."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ingest.decoders import build_decoders, decoder_kinds, load_config
from ingest.model import Kind
from ingest.privacy import Pseudonymizer
from ingest.readings import Decoder
from ingest.registry import Registry, load_registry
from ingest.settings import Settings

__all__ = ["Plan", "plan"]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything loaded and checked from the settings before any connection is made."""

    settings: Settings
    registry: Registry
    decoders: dict[str, Decoder]
    decoder_kinds: dict[str, frozenset[Kind]]
    pseudonyms: Pseudonymizer

    def reload_registry(self) -> Plan:
        """The plan with the registry read again (stable device codes); ``ConfigError`` if the
        file is now wrong."""
        s = self.settings.registry
        fresh = load_registry(s.path, self.decoder_kinds, s.max_devices)
        return replace(
            self, registry=self.registry.merged(fresh), pseudonyms=_pseudonyms(self.settings, fresh)
        )


def plan(settings: Settings) -> Plan:
    """Load decoders, registry and privacy key; ``ConfigError`` on any problem."""
    config = load_config(settings.decoders.path)
    kinds = decoder_kinds(config)
    registry = load_registry(settings.registry.path, kinds, settings.registry.max_devices)
    return Plan(
        settings, registry, dict(build_decoders(config)), kinds, _pseudonyms(settings, registry)
    )


def _pseudonyms(settings: Settings, registry: Registry) -> Pseudonymizer:
    key = settings.privacy.pseudonym_key
    return Pseudonymizer.for_registry(registry, None if key is None else key.get_secret_value())
