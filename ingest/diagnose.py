"""Checks for the likeliest deployment mistakes, each with the key to change and the fix.

``static_problems`` needs nothing running (topic filters that cannot match their network's
topics, folders that cannot be written); ``probe_problems`` asks the broker and InfluxDB
(``check-config --probe``): unreachable host or wrong port, refused credentials, an InfluxDB
whose version does not match ``influxdb.api``, a missing database.
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import aiohttp
from paho.mqtt.client import topic_matches_sub

from ingest.errors import SinkUnavailable
from ingest.history import query_rows
from ingest.model import Network
from ingest.settings import InfluxApi, InfluxSettings, Settings
from ingest.sinks.influx import detect_api

__all__ = ["probe_problems", "static_problems"]

# One real topic per network (contract §5 and the network servers' docs): a filter that matches
# none of them is almost surely a typo.
_EXAMPLE_TOPICS = {
    Network.TTS: ("v3/city-air@ttn/devices/aq-0017/up", "v3/city-air/devices/aq-0017/up"),
    Network.CHIRPSTACK: (
        "application/9f6c1d2e-4b7a-4e3f-8c21-5a0d7e9b3f10/device/a84041000181c3d2/event/up",
    ),
}


def static_problems(settings: Settings) -> list[str]:
    problems = []
    for i, source in enumerate(settings.sources):
        examples = _EXAMPLE_TOPICS.get(source.network, ())
        if examples and not any(topic_matches_sub(source.topic, t) for t in examples):
            problems.append(
                f"config key `sources[{i}].topic`: '{source.topic}' matches no "
                f"{source.network.value} uplink topic such as '{examples[0]}'; "
                f"check the spelling (uplinks end in /up)"
            )
    for key, folder in (
        ("spool.dir", settings.spool.dir),
        ("dead_letter.dir", settings.dead_letter.dir),
        ("processors.state_dir", settings.processors.state_dir),
    ):
        if not _writable(folder):
            problems.append(
                f"config key `{key}`: cannot create or write {folder}; "
                "point it at a writable folder (a volume in docker compose)"
            )
    return problems


def probe_problems(settings: Settings, timeout: float = 5.0) -> list[str]:
    """Connect to the broker and InfluxDB; what is wrong, in words an operator can act on."""
    problems = []
    mqtt = settings.mqtt
    try:
        socket.create_connection((mqtt.host, mqtt.port), timeout=timeout).close()
    except OSError as exc:
        problems.append(
            f"config keys `mqtt.host`/`mqtt.port`: cannot reach {mqtt.host}:"
            f"{mqtt.port} ({exc.strerror or exc}); check the host name and the "
            "port (1883 plain, 8883 TLS)"
        )
    problems += asyncio.run(_probe_influx(settings.influxdb, timeout))
    return problems


async def _probe_influx(influx: InfluxSettings, timeout: float) -> list[str]:
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        try:
            found = await detect_api(session, influx.url)
        except SinkUnavailable as exc:
            return [f"config key `influxdb.url`: {exc}; check the host and port (8086)"]
        if influx.api is not InfluxApi.AUTO and influx.api is not found:
            return [
                f"config key `influxdb.api`: set to {influx.api.value} but {influx.url} "
                f'speaks {found.value}; set api = "auto" or "{found.value}"'
            ]
        if found is InfluxApi.V2:
            return []  # buckets and tokens are checked by the first write (401/404 are logged)
        try:
            rows = await query_rows(session, influx, "SHOW DATABASES")
        except SinkUnavailable as exc:
            return [f"config keys `influxdb.username`/`password`: {exc}"]
    if influx.database not in {str(r.get("name")) for r in rows}:
        return [
            f"config key `influxdb.database`: '{influx.database}' does not exist on "
            f'{influx.url}; create it (CREATE DATABASE "{influx.database}") or fix the name'
        ]
    return []


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)
