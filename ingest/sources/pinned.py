"""The raw JetStream API for pull consumers with a `pinned_client` priority group (ADR-42).

nats-py (2.16) has no helper for priority groups, so consumer creation, consumer info and the
pinned pull request are written here against the JSON API, in this one module:

- ``$JS.API.CONSUMER.CREATE.<stream>.<consumer>`` with ``priority_groups``,
  ``priority_policy = "pinned_client"`` and ``priority_timeout`` (ns);
- ``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`` with ``{"batch", "expires", "group", "id"}``;
  the server puts the current pin in the ``Nats-Pin-Id`` header of every message it delivers
  to the pinned client, and the client echoes it as ``id`` in its next pulls. Another client's
  pulls wait (status 423 when its pin is stale). If the pinned client pulls nothing for
  ``priority_timeout``, the server pins the next puller: that is the failover;
- ``$JS.API.CONSUMER.UNPIN.<stream>.<consumer>`` with ``{"group"}``: a clean stop hands over
  at once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

__all__ = ["ConsumerSpec", "PinnedPull", "consumer_info", "create_consumer", "unpin"]

log = logging.getLogger(__name__)
_NS = 1_000_000_000
_API_TIMEOUT_S = 10.0  # creating an R3 consumer waits for its Raft group
_PIN_HEADER = "Nats-Pin-Id"


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """One partition's durable pull consumer."""

    stream: str
    name: str
    filter_subject: str
    group: str
    priority_timeout: float
    ack_wait: float
    max_deliver: int
    max_ack_pending: int

    def config(self) -> dict[str, Any]:
        return {
            "durable_name": self.name,
            "ack_policy": "explicit",
            "deliver_policy": "all",
            "filter_subject": self.filter_subject,
            "priority_groups": [self.group],
            "priority_policy": "pinned_client",
            "priority_timeout": int(self.priority_timeout * _NS),
            "ack_wait": int(self.ack_wait * _NS),
            "max_deliver": self.max_deliver,
            "max_ack_pending": self.max_ack_pending,
        }


async def _api(client: Client, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request(subject, json.dumps(body).encode(), timeout=_API_TIMEOUT_S)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def create_consumer(client: Client, spec: ConsumerSpec) -> dict[str, Any]:
    """Create (or update to) ``spec``; the server's answer (``error`` on failure)."""
    subject = f"$JS.API.CONSUMER.CREATE.{spec.stream}.{spec.name}"
    return await _api(client, subject, {"stream_name": spec.stream, "config": spec.config()})


async def consumer_info(client: Client, stream: str, name: str) -> dict[str, Any] | None:
    """The consumer's info (with its ``config`` as the server holds it), None if missing."""
    try:
        answer = await _api(client, f"$JS.API.CONSUMER.INFO.{stream}.{name}", {})
    except NoRespondersError:
        return None
    return None if "error" in answer else answer


async def unpin(client: Client, spec: ConsumerSpec) -> bool:
    """Release the group's pin (``$JS.API.CONSUMER.UNPIN``): the next waiting puller gets it at
    once instead of after ``priority_timeout``. True if the server agreed."""
    subject = f"$JS.API.CONSUMER.UNPIN.{spec.stream}.{spec.name}"
    try:
        answer = await _api(client, subject, {"group": spec.group})
    except (NatsTimeout, NoRespondersError):
        return False
    return "error" not in answer


class PinnedPull:
    """Pull requests on one consumer's priority group, remembering the pin this client holds."""

    def __init__(self, client: Client, spec: ConsumerSpec) -> None:
        self._client = client
        self.spec = spec
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream}.{spec.name}"
        self._inbox = client.new_inbox()
        self._sub: Subscription | None = None
        self.pin = ""

    async def pull(self, batch: int, expires: float) -> tuple[list[Msg], bool]:
        """Up to ``batch`` messages within ``expires`` s, and whether this pull won a new pin
        (the partition changed hands to this client)."""
        if self._sub is None:
            self._sub = await self._client.subscribe(self._inbox)
        request: dict[str, Any] = {
            "batch": batch,
            "expires": int(expires * _NS),
            "group": self.spec.group,
        }
        if self.pin:
            request["id"] = self.pin
        await self._client.publish(self._subject, json.dumps(request).encode(), reply=self._inbox)
        return await self._read(batch, expires)

    async def _read(self, batch: int, expires: float) -> tuple[list[Msg], bool]:
        assert self._sub is not None  # noqa: S101 - set by pull
        messages: list[Msg] = []
        gained = False
        while len(messages) < batch:  # a full batch ends without a status message
            try:
                msg = await self._sub.next_msg(timeout=expires + 1.0)
            except NatsTimeout:
                break  # the request was lost (reconnect, leader change): pull again
            headers = msg.headers or {}
            status = headers.get("Status")
            if status is not None:
                if status == "423":  # our pin is stale: another client owns the partition
                    self.pin = ""
                break
            pin = headers.get(_PIN_HEADER, "")
            if pin and pin != self.pin:
                gained = True
                self.pin = pin
            messages.append(msg)
        return messages, gained

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
