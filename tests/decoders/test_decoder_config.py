"""Loading and validating decoders.toml: every mistake names its key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.decoders import DecoderConfig, decoder_kinds, load_config, load_decoders
from ingest.errors import ConfigError
from ingest.model import Kind

from .helpers import CONFIG_PATH

GOOD_LAYOUT = """
[layouts.test]
kind = "air"
byte_order = "big"
ports = [1]
fields = [
  { name = "pm25", type = "u16", scale = 0.1 },
  { name = "pm10", type = "u16", scale = 0.1 },
  { name = "no2", type = "u16", scale = 0.1 },
]
"""


def _load(tmp_path: Path, text: str) -> DecoderConfig:
    path = tmp_path / "decoders.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_shipped_layouts_give_every_decoder_name() -> None:
    decoders = load_decoders(CONFIG_PATH)

    assert set(decoders) == {
        "city-air-v1",
        "city-noise-v1",
        "dragino-ldds75",
        "cayenne-lpp",
        "ns-decoded",
    }


def test_decoder_kinds_of_shipped_layouts(config: DecoderConfig) -> None:
    kinds = decoder_kinds(config)

    assert kinds["dragino-ldds75"] == {Kind.WASTE}
    assert kinds["city-noise-v1"] == {Kind.NOISE}
    assert kinds["cayenne-lpp"] == set(Kind)
    assert kinds["ns-decoded"] == set(Kind)


def test_good_layout_loads_with_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, GOOD_LAYOUT)

    spec = config.layouts["test"].fields[0]
    assert (spec.scale, spec.offset, spec.mask, spec.missing, spec.store) == (
        0.1,
        0.0,
        None,
        None,
        True,
    )
    assert config.cayenne_lpp == {}


def test_unstored_field_may_have_any_name(tmp_path: Path) -> None:
    text = GOOD_LAYOUT.replace('name = "no2"', 'name = "vendor_flag", store = false')

    assert _load(tmp_path, text).layouts["test"].fields[2].name == "vendor_flag"


BROKEN = [
    pytest.param(
        GOOD_LAYOUT.replace('name = "no2", type = "u16"', 'name = "no2", type = "u24"'),
        "decoders.layouts.test.fields[2].type",
        "'u24'",
        id="unknown-type",
    ),
    pytest.param(
        GOOD_LAYOUT.replace('name = "pm10"', 'name = "laeq"'),
        "decoders.layouts.test.fields[1].name",
        "not a field of kind air",
        id="field-of-other-kind",
    ),
    pytest.param(
        GOOD_LAYOUT.replace('byte_order = "big"\n', ""),
        "decoders.layouts.test.byte_order",
        "missing",
        id="missing-key",
    ),
    pytest.param(
        GOOD_LAYOUT.replace('byte_order = "big"', 'byte_order = "middle"'),
        "decoders.layouts.test.byte_order",
        "'middle'",
        id="bad-byte-order",
    ),
    pytest.param(
        GOOD_LAYOUT.replace(
            'scale = 0.1 },\n  { name = "pm10"', 'scal = 0.1 },\n  { name = "pm10"'
        ),
        "decoders.layouts.test.fields[0].scal",
        "unknown key",
        id="unknown-key",
    ),
    pytest.param(
        GOOD_LAYOUT.replace('kind = "air"', 'kind = "water"'),
        "decoders.layouts.test.kind",
        "'water'",
        id="unknown-kind",
    ),
    pytest.param(
        GOOD_LAYOUT.replace("ports = [1]", "ports = [0]"),
        "decoders.layouts.test.ports[0]",
        "greater than or equal to 1",
        id="mac-port",
    ),
    pytest.param(
        GOOD_LAYOUT.replace("ports = [1]", "ports = []"),
        "decoders.layouts.test.ports",
        "at least 1",
        id="no-port",
    ),
    pytest.param(
        GOOD_LAYOUT.replace('name = "pm10"', 'name = "pm25"'),
        "decoders.layouts.test.fields[1].name",
        "appears twice",
        id="duplicate-field",
    ),
    pytest.param(
        GOOD_LAYOUT.replace(
            'type = "u16", scale = 0.1 },\n  { name = "pm10"',
            'type = "u16", mask = 0x1FFFF },\n  { name = "pm10"',
        ),
        "decoders.layouts.test.fields[0].mask",
        "does not fit a u16",
        id="mask-too-wide",
    ),
    pytest.param(
        GOOD_LAYOUT.replace(
            'type = "u16", scale = 0.1 },\n  { name = "pm10"',
            'type = "u16", missing = -1 },\n  { name = "pm10"',
        ),
        "decoders.layouts.test.fields[0].missing",
        "is not a u16 value",
        id="missing-out-of-range",
    ),
    pytest.param(
        GOOD_LAYOUT.replace(
            'name = "no2", type = "u16", scale = 0.1', 'name = "no2", type = "u16", scale = 0.0'
        ),
        "decoders.layouts.test.fields[2].scale",
        "scale 0",
        id="zero-scale",
    ),
    pytest.param(
        GOOD_LAYOUT.replace(
            'name = "no2", type = "u16", scale = 0.1', 'name = "no2", type = "u16", scale = nan'
        ),
        "decoders.layouts.test.fields[2].scale",
        "finite",
        id="nan-scale",
    ),
    pytest.param(
        "[layouts.cayenne-lpp]\n" + GOOD_LAYOUT.split("\n", 2)[2],
        "decoders.layouts.cayenne-lpp",
        "built-in decoder name",
        id="reserved-name",
    ),
    pytest.param(
        '[cayenne_lpp.air]\n4 = { field = "pm2.5" }\n',
        "decoders.cayenne_lpp.air.4.field",
        "'pm2.5' is not a field of kind air",
        id="channel-to-unknown-field",
    ),
    pytest.param(
        '[cayenne_lpp.air]\n300 = { field = "pm25" }\n',
        "decoders.cayenne_lpp.air.300",
        "less than or equal to 255",
        id="channel-beyond-byte",
    ),
    pytest.param(
        '[cayenne_lpp.waste]\n1 = { field = "distance_mm", scale = 0 }\n',
        "decoders.cayenne_lpp.waste.1.scale",
        "scale 0",
        id="channel-zero-scale",
    ),
    pytest.param(
        '[cayenne_lpp.airr]\n1 = { field = "pm25" }\n',
        "decoders.cayenne_lpp.airr",
        "'airr'",
        id="channel-map-unknown-kind",
    ),
    pytest.param(
        '[ns_decoded.noise]\nLAeq = { field = "leq" }\n',
        "decoders.ns_decoded.noise.LAeq.field",
        "'leq' is not a field of kind noise",
        id="alias-to-unknown-field",
    ),
    pytest.param(
        '[ns_decoded.noise]\nLAeq = { fields = "laeq" }\n',
        "decoders.ns_decoded.noise.LAeq.field",
        "missing",
        id="alias-missing-field",
    ),
    pytest.param(
        "[layouts.test\nkind = 1\n",
        "decoders",
        "not valid TOML",
        id="toml-syntax",
    ),
    pytest.param(
        "[decoder]\nx = 1\n",
        "decoders.decoder",
        "unknown key",
        id="unknown-section",
    ),
]


@pytest.mark.parametrize(("text", "key", "problem"), BROKEN)
def test_broken_file_names_key_and_fix(tmp_path: Path, text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)

    assert caught.value.key == key
    assert problem in caught.value.problem
    assert caught.value.fix
    assert f"`{key}`" in str(caught.value)


def test_missing_file_names_the_path_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")

    assert caught.value.key == "decoders.path"
    assert "nope.toml" in caught.value.problem
