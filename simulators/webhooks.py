"""The network servers' push side: how TTS, ChirpStack and KPN Things POST an uplink.

- The Things Stack webhook: ``POST {base}/up`` with the ``ApplicationUp`` JSON and the headers
  its operator configured; here HTTP basic authentication.
- ChirpStack v4 HTTP integration: ``POST {endpoint}?event=up`` with the ``UplinkEvent`` JSON (JSON
  encoding) and the configured headers; here HTTP basic authentication.
- KPN Things HTTPS destination: ``POST {url}`` with the SenML pack and ``Things-Message-Token``,
  the hex SHA-256 of the body followed by the destination's shared secret (KPN Things docs).

``service_environment`` opens the three endpoints of ``city-ingest run`` (``[webhooks]`` through
the environment, secrets in files) for tests and benchmarks.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from ingest.model import Network

__all__ = ["PATHS", "USERS", "push_headers", "service_environment"]

PATHS: Final = {
    Network.TTS: "/tts/up",
    Network.CHIRPSTACK: "/chirpstack?event=up",
    Network.KPN: "/kpn",
}
USERS: Final = {Network.TTS: "tts", Network.CHIRPSTACK: "chirpstack"}  # the settings' defaults
_SECRET_KEYS: Final = {
    Network.TTS: "tts_password",
    Network.CHIRPSTACK: "chirpstack_password",
    Network.KPN: "kpn_shared_secret",
}


def push_headers(network: Network, body: bytes, secret: str | None) -> dict[str, str]:
    """The headers the network server sends with ``body``; no credential if ``secret`` is None."""
    headers = {"Content-Type": "application/json"}
    if secret is None:
        return headers
    if network is Network.KPN:
        token = hashlib.sha256(body + secret.encode("utf-8")).hexdigest()
        return headers | {"Things-Message-Token": token}
    pair = base64.b64encode(f"{USERS[network]}:{secret}".encode()).decode("ascii")
    return headers | {"Authorization": f"Basic {pair}"}


def service_environment(
    workdir: Path, listen: str, secrets: Mapping[Network, str]
) -> dict[str, str]:
    """``CITY_INGEST_WEBHOOKS__*`` variables opening ``secrets``' networks on ``listen``; the
    secrets go to files in ``workdir/secrets``."""
    folder = workdir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    names = ", ".join(f'"{n.value}"' for n in secrets)
    env = {"CITY_INGEST_WEBHOOKS__LISTEN": listen, "CITY_INGEST_WEBHOOKS__NETWORKS": f"[{names}]"}
    for network, secret in secrets.items():
        key = _SECRET_KEYS[network]
        (folder / key).write_text(secret, encoding="utf-8")
        (folder / key).chmod(0o600)
        env[f"CITY_INGEST_WEBHOOKS__{key.upper()}_FILE"] = str(folder / key)
    return env
