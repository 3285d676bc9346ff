"""``city-ingest jetstream-setup``: the MQTT streams and the partition consumers, made once.

Run before the network servers publish: the MQTT stream keeps a message only while a consumer
wants it (interest retention), so a publish to a partition without its consumer is PUBACKed and
then dropped. Running it again updates the consumers to the configured limits.
"""

from __future__ import annotations

import asyncio
import socket

from ingest.errors import ConfigError
from ingest.settings import NatsSettings, Settings
from ingest.sources import wire
from ingest.sources.jetstream import consumer_specs
from ingest.sources.natsclient import connect
from ingest.sources.pinned import create_consumer

__all__ = ["provision"]

_MQTT_FIX = "point [mqtt] host and port at one node's MQTT listener"
_LOGIN_FIX = "set [nats] username and password to a user of the nodes' authorization block"
_REFUSED_LOGIN = (4, 5)  # 3.1.1 CONNACK: bad user name or password, not authorized


def _open_mqtt_session(host: str, port: int, nats: NatsSettings) -> None:
    """One MQTT 3.1.1 CONNECT (clean session, ``[nats]``'s user: the nodes' users serve both
    listeners) and DISCONNECT: the NATS MQTT listener creates its streams, ``$MQTT_msgs``
    among them, on an account's first MQTT connection."""
    password = None if nats.password is None else nats.password.get_secret_value()
    hello = wire.encode_connect(
        "city-ingest-setup",
        keepalive=60,
        clean_start=True,
        username=nats.username,
        password=password,
        version=wire.MQTT_311,
    )
    try:
        with socket.create_connection((host, port), timeout=nats.connect_timeout) as sock:
            sock.sendall(hello)
            connack = sock.recv(4)
            sock.sendall(b"\xe0\x00")
    except OSError as exc:
        raise ConfigError(
            "mqtt.host", f"cannot reach the NATS MQTT listener {host}:{port} ({exc})", _MQTT_FIX
        ) from exc
    code = connack[3] if len(connack) == 4 and connack[:1] == b"\x20" else None
    if code in _REFUSED_LOGIN:
        reason = wire.reason_name(code, wire.MQTT_311)
        raise ConfigError(
            "nats.password", f"the NATS MQTT listener {host}:{port} answered {reason!r}", _LOGIN_FIX
        )
    if code != 0:
        raise ConfigError("mqtt.host", f"{host}:{port} refused MQTT ({connack!r})", _MQTT_FIX)


async def provision(settings: Settings) -> list[str]:
    """Create the MQTT streams (through ``[mqtt]``, the NATS MQTT listener) and every
    partition's consumer (or update them); the consumers' names."""
    nats_settings = _nats_settings(settings)
    await asyncio.to_thread(
        _open_mqtt_session, settings.mqtt.host, settings.mqtt.port, nats_settings
    )
    client = await connect(nats_settings)
    try:
        names = []
        for spec in consumer_specs(nats_settings):
            answer = await create_consumer(client, spec)
            if "error" in answer:
                raise ConfigError(
                    "nats.stream",
                    f"cannot create consumer {spec.name}: {answer['error'].get('description')}",
                    "check that [mqtt] points at the cluster's MQTT listener",
                )
            names.append(spec.name)
        return names
    finally:
        await client.close()


def _nats_settings(settings: Settings) -> NatsSettings:
    if settings.nats is None:
        raise ConfigError("nats", "is missing", "add a [nats] section (docs/scaling.md)")
    return settings.nats
