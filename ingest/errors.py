"""The errors city-ingest raises, as one tree.

    CityIngestError
    ├── ConfigError            bad configuration: carries the key and the fix; exit code 2
    ├── UplinkError            one uplink cannot be used; it becomes a dead letter
    │   ├── EnvelopeError      reason ``bad_envelope``   (network-server JSON / SenML)
    │   ├── PayloadError       reason ``bad_payload``    (FRMPayload or decoded object)
    │   ├── UnknownDevice      reason ``unknown_device`` (DevEUI not in the registry)
    │   └── OutOfSchema        reason ``out_of_schema``  (a value the schema cannot hold)
    ├── MqttProtocolError      the broker sent bytes that are no valid MQTT packet (native source)
    ├── BackfillError          the Things Stack Storage Integration could not be read
    └── SinkError              a sink could not store something
        ├── SinkUnavailable    retry with back-off (connection refused, timeout, HTTP 5xx/429)
        │   └── SinkRefused    credentials, database or bucket refused (HTTP 401/403/404):
        │                      retried too, but only an operator can fix it (not ready)
        └── SinkRejected       the database refused points (HTTP 4xx): dead-letter, never retry

Third-party exceptions are translated once, where they enter, and chained with ``from``.
Every ``UplinkError`` carries a stable dotted ``detail`` code (``envelope.json_invalid``,
``payload.length_mismatch``) next to its human message.
"""

from __future__ import annotations

from ingest.model import Reason

__all__ = [
    "BackfillError",
    "CityIngestError",
    "ConfigError",
    "EnvelopeError",
    "MqttProtocolError",
    "OutOfSchema",
    "PayloadError",
    "SinkError",
    "SinkRefused",
    "SinkRejected",
    "SinkUnavailable",
    "UnknownDevice",
    "UplinkError",
]


class CityIngestError(Exception):
    """Root of every error city-ingest raises on purpose."""


class ConfigError(CityIngestError):
    """A configuration value is missing or wrong; ``key`` names it and ``fix`` says what to do."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"config key `{key}`: {problem}; {fix}")


class UplinkError(CityIngestError):
    """One uplink cannot be turned into readings. It is dead-lettered, never raised further."""

    reason: Reason = Reason.BAD_ENVELOPE

    def __init__(self, detail: str, message: str) -> None:
        self.detail = detail
        self.message = message
        super().__init__(f"{detail}: {message}")


class EnvelopeError(UplinkError):
    """The network server's message is not a usable uplink."""

    reason = Reason.BAD_ENVELOPE


class PayloadError(UplinkError):
    """The application payload does not decode with the device's layout."""

    reason = Reason.BAD_PAYLOAD


class UnknownDevice(UplinkError):
    """The DevEUI is not in the device registry."""

    reason = Reason.UNKNOWN_DEVICE


class OutOfSchema(UplinkError):
    """A decoded value cannot be stored in the schema (e.g. a string where a number belongs)."""

    reason = Reason.OUT_OF_SCHEMA


class MqttProtocolError(CityIngestError):
    """The broker sent bytes that are not a valid MQTT packet for this subscriber; the
    connection is dropped and made again. ``detail`` is a dotted ``mqtt.*`` code."""

    def __init__(self, detail: str, message: str) -> None:
        self.detail = detail
        self.message = message
        super().__init__(f"{detail}: {message}")


class BackfillError(CityIngestError):
    """The Storage Integration answered with an error or an unreadable stream. ``retry`` says
    whether the same request may succeed later (5xx, 429, connection) or not (401, 403, 404)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        self.retry = retry
        super().__init__(message)


class SinkError(CityIngestError):
    """A sink failed to store what it was given."""


class SinkUnavailable(SinkError):
    """The sink cannot be reached or is overloaded now; the same write may succeed later."""


class SinkRefused(SinkUnavailable):
    """InfluxDB answers but refuses the credentials, database or bucket: a configuration
    problem; writes are retried (it may be fixed on the database side) and /readyz says 503."""


class SinkRejected(SinkError):
    """The sink refused the data itself (HTTP 4xx); retrying the same data cannot help."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"database rejected the write (HTTP {status}): {body}")
