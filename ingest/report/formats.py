"""The report as text: an aligned table for a terminal, Markdown, or CSV.

CSV holds one block per section: a header row whose first column is ``section``, the rows with
the section's name in that column, and an empty line before the next block.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from enum import StrEnum

from ingest.report.sections import Cell, Table

__all__ = ["Format", "render"]


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    MD = "md"


def render(tables: Sequence[Table], heading: str, style: Format) -> str:
    """All sections in one text, under ``heading`` (a title line; not in CSV)."""
    return _RENDERERS[style](tables, heading)


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _table(tables: Sequence[Table], heading: str) -> str:
    parts = [heading, "=" * len(heading)]
    for table in tables:
        parts += ["", table.title, "-" * len(table.title)]
        if not table.rows:
            parts.append("(none)")
            continue
        cells = [list(table.columns), *([_cell(v) for v in row] for row in table.rows)]
        widths = [max(len(line[i]) for line in cells) for i in range(len(table.columns))]
        parts += [
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in cells
        ]
    return "\n".join(parts) + "\n"


def _markdown(tables: Sequence[Table], heading: str) -> str:
    parts = [f"# {heading}"]
    for table in tables:
        parts += ["", f"## {table.title}", ""]
        if not table.rows:
            parts.append("(none)")
            continue
        parts.append(_markdown_line(table.columns))
        parts.append(_markdown_line(["---"] * len(table.columns)))
        parts += [_markdown_line([_cell(v) for v in row]) for row in table.rows]
    return "\n".join(parts) + "\n"


def _markdown_line(cells: Sequence[str]) -> str:
    escaped = (c.replace("\\", "\\\\").replace("|", "\\|") for c in cells)
    return f"| {' | '.join(escaped)} |"


def _csv(tables: Sequence[Table], heading: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, table in enumerate(tables):
        if index:
            out.write("\n")
        writer.writerow(["section", *table.columns])
        writer.writerows([table.name, *(_cell(v) for v in row)] for row in table.rows)
    return out.getvalue()


_RENDERERS: dict[Format, Callable[[Sequence[Table], str], str]] = {
    Format.TABLE: _table,
    Format.CSV: _csv,
    Format.MD: _markdown,
}
