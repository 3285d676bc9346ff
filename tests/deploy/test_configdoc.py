"""docs/configuration.md is the generated reference of the current settings models."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ingest.configdoc import main, reference_sections, render_reference
from tests.deploy.conftest import REPO

REFERENCE = REPO / "docs" / "configuration.md"


def test_the_committed_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "docs/configuration.md is out of date: run `make docs`"
    )


def test_every_section_and_key_is_described() -> None:
    for section in reference_sections():
        assert section.description, section.heading
        for row in section.rows:
            assert row.description, f"{section.heading} {row.key}: add a docstring under the field"


def test_secrets_show_their_file_variant() -> None:
    mqtt = {row.key: row for row in reference_sections()[0].rows}
    assert mqtt["`password` / `password_file`"].type == "secret"
    assert mqtt["`port`"].type == "integer, ≥ 1, ≤ 65535"
    assert mqtt["`port`"].default == "`1883`"


@pytest.mark.parametrize(
    "config",
    [REPO / "config" / "city-ingest.toml", REPO / "config" / "compose" / "city-ingest.toml"],
)
def test_every_key_the_shipped_configs_set_is_in_the_reference(config: Path) -> None:
    documented = {
        section.name: {row.key.split("`")[1] for row in section.rows}
        for section in reference_sections()
    }
    for name, table in tomllib.loads(config.read_text(encoding="utf-8")).items():
        for entry in table if isinstance(table, list) else [table]:
            for key, value in entry.items():
                if isinstance(value, dict):
                    assert set(value) <= documented[f"{name}.{key}"]
                else:
                    assert key.removesuffix("_file") in documented[name], f"[{name}] {key}"


def test_main_writes_the_reference(tmp_path: Path) -> None:
    target = tmp_path / "configuration.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_reference()
