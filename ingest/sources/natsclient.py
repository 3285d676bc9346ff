"""The connection to the NATS cluster, shared by the JetStream source and `jetstream-setup`.

At start the client gets ``nats.connect_timeout`` seconds in all to reach a node and be
accepted; after that it stops with a ``ConfigError`` naming what to fix (the addresses, or the
credentials when a node answered "Authorization Violation") instead of retrying for ever, as
the client library does by itself. Once connected, it reconnects for as long as it takes.
Connection errors are logged one line each, never with the password.
"""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError

from ingest.errors import ConfigError
from ingest.settings import NatsSettings

__all__ = ["MIN_SERVER", "connect"]

log = logging.getLogger(__name__)
MIN_SERVER = (2, 11)
"""Pinned-client priority groups need nats-server 2.11; older servers ignore them silently."""

_REFUSED = "authorization violation"  # the server's answer to unknown or wrong credentials


async def connect(settings: NatsSettings) -> Client:
    """A client of the cluster, refused unless the server is at least ``MIN_SERVER``."""
    # The last error and the last refusal only: the callback stays for the client's lifetime.
    seen: dict[str, Exception] = {}

    async def note(exc: Exception) -> None:
        seen["last"] = exc
        if _REFUSED in str(exc).lower():
            seen["refused"] = exc
        log.warning("NATS connection: %s", exc or type(exc).__name__)

    credentials = {}
    if settings.username is not None and settings.password is not None:
        credentials = {"user": settings.username, "password": settings.password.get_secret_value()}
    try:
        async with asyncio.timeout(settings.connect_timeout):
            client = await nats.connect(
                settings.servers,
                connect_timeout=settings.connect_timeout,
                max_reconnect_attempts=-1,
                allow_reconnect=True,
                error_cb=note,
                **credentials,
            )
    except TimeoutError:
        raise _unreachable(settings, seen) from None
    except (NatsError, OSError) as exc:
        await note(exc)
        raise _unreachable(settings, seen) from exc
    version = client.connected_server_version
    if (version.major, version.minor) < MIN_SERVER:
        await client.close()
        raise ConfigError(
            "nats.servers",
            f"nats-server {version} is older than 2.11 and ignores pinned consumers",
            "upgrade every node to nats-server 2.11 or later",
        )
    return client


def _unreachable(settings: NatsSettings, seen: dict[str, Exception]) -> ConfigError:
    """The error to stop with: refused credentials if any node said so (the connection it
    closed afterwards may have been noted last), else the addresses."""
    noted = seen.get("refused", seen.get("last"))
    why = "no answer" if noted is None else f"{type(noted).__name__}: {noted}"
    if "refused" in seen:
        user = "no user" if settings.username is None else f"user {settings.username!r}"
        return ConfigError(
            "nats.password",
            f"the NATS servers refused the credentials ({user}; {why})",
            "set nats.username and the password (nats.password_file or "
            "CITY_INGEST_NATS__PASSWORD_FILE) to a user of the servers' authorization block",
        )
    return ConfigError(
        "nats.servers",
        f"cannot connect to {settings.servers} within {settings.connect_timeout:g} s ({why})",
        "check the addresses and that the nodes run",
    )
