"""The base of every settings section: unknown keys forbidden, frozen, documented fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    # a docstring under a field is its description: docs/configuration.md is made from them
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
