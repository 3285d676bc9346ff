"""Progress display: plain lines when not on a terminal, a redrawn bar on one."""

from __future__ import annotations

import io

from ingest.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_at_most_every_period() -> None:
    now = [0.0]
    out = io.StringIO()
    with Progress("publish", 100, stream=out, every=5.0, clock=lambda: now[0]) as progress:
        for step in range(100):
            now[0] = step * 0.5  # 50 s in all: about one line every 5 s
            progress.advance()
    lines = out.getvalue().splitlines()
    assert 9 <= len(lines) <= 12
    assert lines[-1] == "publish: 100/100 (100%)"


def test_terminal_bar_redraws_in_place() -> None:
    out = Terminal()
    with Progress("read air", 4, stream=out, every=0.0) as progress:
        progress.advance(2)
    text = out.getvalue()
    assert text.startswith("\rread air: [###############...............] 2/4 (50%)")
    assert text.endswith("\n")
