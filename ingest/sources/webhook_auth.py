"""Who may post uplinks: each network's credential check, in constant time.

- The Things Stack webhooks and the ChirpStack HTTP integration send a fixed header that their
  operator configures; city-ingest expects HTTP basic authentication (RFC 7617) with the
  `[webhooks]` user name and password.
- KPN Things HTTPS destinations sign each request: the `Things-Message-Token` header is the
  hexadecimal SHA-256 of the request body followed by the destination's shared secret (KPN Things
  documentation, "HTTPS destination").

A check answers ``MISSING`` (no credential: 401), ``WRONG`` (403) or ``OK``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from enum import Enum

from pydantic import SecretStr

from ingest.model import Network
from ingest.settings.integrations import WebhookSettings, credential_key

__all__ = ["KPN_TOKEN_HEADER", "Verdict", "kpn_token", "verify"]

KPN_TOKEN_HEADER = "Things-Message-Token"  # noqa: S105 - a header name, not a secret


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"
    WRONG = "wrong"


def kpn_token(body: bytes, secret: str) -> str:
    """The token KPN Things sends with ``body``: hex SHA-256 over the body, then the secret."""
    return hashlib.sha256(body + secret.encode("utf-8")).hexdigest()


def verify(
    network: Network, settings: WebhookSettings, headers: Mapping[str, str], body: bytes
) -> Verdict:
    """Check one request's credential against the configured secret for ``network``."""
    secret = getattr(settings, credential_key(network))
    if not isinstance(secret, SecretStr):  # the settings refuse an open network without one
        return Verdict.WRONG
    if network is Network.KPN:
        given = headers.get(KPN_TOKEN_HEADER)
        expected = kpn_token(body, secret.get_secret_value())
        return _compare(None if given is None else given.strip().lower(), expected)
    username = settings.tts_username if network is Network.TTS else settings.chirpstack_username
    return _compare(_basic(headers.get("Authorization")), f"{username}:{secret.get_secret_value()}")


def _basic(header: str | None) -> str | None:
    """The ``user:password`` of a basic Authorization header; "" if it is not one."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _compare(given: str | None, expected: str) -> Verdict:
    if given is None:
        return Verdict.MISSING
    same = hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
    return Verdict.OK if same else Verdict.WRONG
