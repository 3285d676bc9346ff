"""The contract between the pipeline and whatever delivers uplinks (MQTT, webhooks, JetStream).

A source hands out batches of ``Message`` and is told, in order, which of them are durable
(written, spooled or dead-lettered); only then may it acknowledge them upstream. Everything
downstream of ``next_batch`` is the same for every transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from ingest.model import Message
from ingest.sources.inbox import SourceState

__all__ = ["Source"]


class Source(Protocol):
    """A transport the pipeline reads from; an async context manager (connect … disconnect)."""

    state: SourceState
    last_error: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def in_flight(self) -> int:
        """Messages received and not yet acknowledged (the source's memory bound)."""
        ...

    async def next_batch(self, max_messages: int, max_wait: float) -> list[Message]:
        """Up to ``max_messages``: waits for the first, then up to ``max_wait`` s for more."""
        ...

    def ack(self, messages: Sequence[Message]) -> None:
        """These messages, taken earlier with ``next_batch``, are durable: acknowledge them."""
        ...

    def pause(self) -> None:
        """Stop taking new messages (shutdown); batches already taken are still acknowledged."""
        ...

    def quiet_for(self) -> float:
        """Seconds ready without a message (0 while not ready)."""
        ...
