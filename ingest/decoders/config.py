"""The decoder layouts file (``config/decoders.toml``): pydantic models, loading and checks.

Every mistake becomes one ``ConfigError`` naming the exact key, e.g.
``decoders.layouts.city-air-v1.fields[2].type``, and how to fix it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final, Literal

import pydantic
from pydantic_core import ErrorDetails

from ingest.errors import ConfigError
from ingest.model import Kind
from ingest.schema import fields_of

__all__ = [
    "CAYENNE_LPP",
    "INT_TYPES",
    "NS_DECODED",
    "AliasSpec",
    "ChannelSpec",
    "DecoderConfig",
    "FieldSpec",
    "LayoutSpec",
    "int_range",
    "load_config",
]

CAYENNE_LPP: Final = "cayenne-lpp"
NS_DECODED: Final = "ns-decoded"

IntType = Literal["u8", "i8", "u16", "i16", "u32", "i32"]
INT_TYPES: Final[Mapping[str, tuple[int, bool]]] = {  # type -> (bytes, signed)
    "u8": (1, False),
    "i8": (1, True),
    "u16": (2, False),
    "i16": (2, True),
    "u32": (4, False),
    "i32": (4, True),
}

_KEY_ROOT: Final = "decoders"
# LoRaWAN L2 1.0.4 §4.3.2: FPort 1..223 are application ports (0 = MAC commands, 224 = test).
FPort = Annotated[int, pydantic.Field(ge=1, le=223)]
# Cayenne LPP v1: the channel is one byte.
Channel = Annotated[int, pydantic.Field(ge=0, le=255)]
Factor = Annotated[float, pydantic.Field(allow_inf_nan=False)]


class _Section(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Section):
    """One field of a binary layout: raw value -> ``(raw & mask) * scale + offset``."""

    name: str = pydantic.Field(min_length=1)
    type: IntType
    scale: Factor = 1.0
    offset: Factor = 0.0
    mask: int | None = None
    missing: int | None = None  # compared with the raw value before the mask
    store: bool = True


class LayoutSpec(_Section):
    """A fixed-size binary frame for devices of one kind."""

    kind: Kind
    byte_order: Literal["big", "little"]
    ports: tuple[FPort, ...] = pydantic.Field(min_length=1)
    fields: tuple[FieldSpec, ...] = pydantic.Field(min_length=1)


class ChannelSpec(_Section):
    """Where a Cayenne LPP channel goes: a schema field, its value multiplied by ``scale``."""

    field: str
    scale: Factor = 1.0


class AliasSpec(_Section):
    """Which schema field a network server's decoded key (or SenML record name) fills."""

    field: str


class DecoderConfig(_Section):
    """The whole decoders.toml file, validated."""

    layouts: dict[str, LayoutSpec] = pydantic.Field(default_factory=dict)
    cayenne_lpp: dict[Kind, dict[Channel, ChannelSpec]] = pydantic.Field(default_factory=dict)
    ns_decoded: dict[Kind, dict[str, AliasSpec]] = pydantic.Field(default_factory=dict)


def int_range(size: int, signed: bool) -> tuple[int, int]:
    """Lowest and highest value of a ``size``-byte integer."""
    bits = 8 * size
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def load_config(path: Path) -> DecoderConfig:
    """Read and validate the layouts file; raise ``ConfigError`` naming the first bad key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        key = f"{_KEY_ROOT}.path"
        raise ConfigError(
            key, f"cannot read {path}: {exc.strerror}", "point it at decoders.toml"
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problem = f"{path} is not valid TOML ({exc})"
        raise ConfigError(_KEY_ROOT, problem, "fix the syntax where shown") from exc
    try:
        config = DecoderConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _translated(exc.errors()[0]) from exc
    for name, layout in config.layouts.items():
        _check_layout(f"{_KEY_ROOT}.layouts.{name}", name, layout)
    _check_maps(config)
    return config


_FIXES: Final = {
    "missing": "add it (see the comments in config/decoders.toml)",
    "extra_forbidden": "remove it or correct its spelling",
    "literal_error": "use one of the values listed",
    "enum": "use one of the values listed",
}


def _translated(error: ErrorDetails) -> ConfigError:
    """A pydantic error as a ConfigError: the dotted key, the problem, the fix."""
    loc = [part for part in error["loc"] if part != "[key]"]
    key = _KEY_ROOT + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    kind = error["type"]
    if kind == "missing":
        problem = "required key is missing"
    elif kind == "extra_forbidden":
        problem = "unknown key"
    else:
        problem = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {error['input']!r}"
    return ConfigError(key, problem, _FIXES.get(kind, "correct the value"))


def _check_layout(where: str, name: str, layout: LayoutSpec) -> None:
    if name in (CAYENNE_LPP, NS_DECODED):
        raise ConfigError(where, f"'{name}' is a built-in decoder name", "rename the layout")
    known = fields_of(layout.kind)
    seen: set[str] = set()
    for index, spec in enumerate(layout.fields):
        key = f"{where}.fields[{index}]"
        name_key = f"{key}.name"
        if spec.name in seen:
            problem = f"field '{spec.name}' appears twice"
            raise ConfigError(name_key, problem, "give each field its own name")
        seen.add(spec.name)
        if spec.store and spec.name not in known:
            problem = f"'{spec.name}' is not a field of kind {layout.kind}"
            fix = f"use one of {', '.join(known)} or set store = false"
            raise ConfigError(name_key, problem, fix)
        _check_field(key, spec)


def _check_field(key: str, spec: FieldSpec) -> None:
    low, high = int_range(*INT_TYPES[spec.type])
    _check_scale(f"{key}.scale", spec.scale)
    mask_key, missing_key = f"{key}.mask", f"{key}.missing"
    if spec.mask is not None and not 0 < spec.mask <= high - low:
        problem = f"mask {spec.mask:#x} does not fit a {spec.type}"
        fix = f"use a mask between 0x1 and {high - low:#x}"
        raise ConfigError(mask_key, problem, fix)
    if spec.missing is not None and not low <= spec.missing <= high:
        problem = f"{spec.missing} is not a {spec.type} value"
        raise ConfigError(missing_key, problem, f"use a value between {low} and {high}")


def _check_maps(config: DecoderConfig) -> None:
    sections: list[tuple[str, Mapping[Kind, Mapping[int, ChannelSpec] | Mapping[str, AliasSpec]]]]
    sections = [("cayenne_lpp", config.cayenne_lpp), ("ns_decoded", config.ns_decoded)]
    for section, maps in sections:
        for kind, entries in maps.items():
            known = fields_of(kind)
            for entry, target in entries.items():
                key = f"{_KEY_ROOT}.{section}.{kind}.{entry}"
                if target.field not in known:
                    field_key = f"{key}.field"
                    problem = f"'{target.field}' is not a field of kind {kind}"
                    raise ConfigError(field_key, problem, f"use one of {', '.join(known)}")
                if isinstance(target, ChannelSpec):
                    _check_scale(f"{key}.scale", target.scale)


def _check_scale(key: str, scale: float) -> None:
    if scale == 0.0:
        raise ConfigError(key, "scale 0 erases every value", "give a non-zero factor")
