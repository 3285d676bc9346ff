"""Topic routing: which ``[[sources]]`` entry a message's topic belongs to.

The MQTT topic filters (``+`` one level, ``#`` the rest, MQTT 3.1.1 §4.7) are compiled once into
one regular expression whose alternatives keep the configured order, so the first matching
filter wins and a topic costs one match instead of a filter walk per source. As in MQTT, a
wildcard in the first level does not match a topic starting with ``$`` (§4.7.2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.model import Network

__all__ = ["Router"]

_NOT_SYSTEM = r"(?!\$)"  # §4.7.2: wildcards at the first level skip $SYS-style topics


class Router:
    """The network of the first filter that matches a topic, or ``None``."""

    def __init__(self, routes: Sequence[tuple[str, Network]]) -> None:
        self._networks = [network for _, network in routes]
        alternatives = (f"(?P<r{i}>{_pattern(topic)})" for i, (topic, _) in enumerate(routes))
        self._regex = re.compile("|".join(alternatives) or r"(?!)")

    def route(self, topic: str) -> Network | None:
        match = self._regex.fullmatch(topic)
        if match is None or match.lastgroup is None:
            return None
        return self._networks[int(match.lastgroup[1:])]


def _pattern(topic_filter: str) -> str:
    """The regular expression of one topic filter."""
    levels = topic_filter.split("/")
    parts: list[str] = []
    for i, level in enumerate(levels):
        guard = _NOT_SYSTEM if i == 0 else ""
        if level == "#":
            rest = f"{guard}.*"
            return "/".join(parts) + f"(?:/{rest})?" if parts else rest
        parts.append(guard + "[^/]*" if level == "+" else re.escape(level))
    return "/".join(parts)
