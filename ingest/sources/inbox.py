"""What every MQTT source shares: its state, and the inbox that turns messages into batches."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from enum import Enum
from types import TracebackType

from ingest.model import Message

__all__ = ["Inbox", "SourceState"]


class SourceState(Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    SUBSCRIBED = "subscribed"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


class Inbox(abc.ABC):
    """Messages received but not yet handed out, and those handed out but not acknowledged.

    A source calls ``_deliver`` for each message it receives and lowers ``_held`` as it
    acknowledges; the pipeline takes batches with ``next_batch``.
    """

    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self._pending: list[Message] = []
        self._held = 0  # handed out by next_batch, not yet acknowledged
        self._want = 1
        self._data = asyncio.Event()
        self._full = asyncio.Event()
        self._connected = asyncio.Event()
        self.state = SourceState.IDLE
        self.received = 0
        self.redelivered = 0  # received again after a reader died (sources that can tell)
        self.last_message_ns = 0
        self.subscribed_ns = 0
        self.last_error = ""
        self.session_present = False
        self._tasks: list[asyncio.Task[None]] = []  # the connection's tasks, started on entry

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop: cancel the connection's tasks, say goodbye to the broker, wake any reader."""
        self.state = SourceState.CLOSED
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._disconnect()
        self._data.set()

    @abc.abstractmethod
    async def _disconnect(self) -> None:
        """Send DISCONNECT and close the socket; the broker keeps the session."""

    async def wait_connected(self, timeout: float) -> None:
        """Wait until subscribed; ``TimeoutError`` if the broker cannot be reached in time."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    def quiet_for(self) -> float:
        """Seconds subscribed without a message (0 while not subscribed)."""
        if self.state is not SourceState.SUBSCRIBED:
            return 0.0
        return (self._now() - max(self.last_message_ns, self.subscribed_ns)) / 1e9

    @property
    def in_flight(self) -> int:
        return len(self._pending) + self._held

    async def next_batch(self, max_messages: int, max_wait: float) -> list[Message]:
        """Up to ``max_messages`` messages; waits for the first, then up to ``max_wait`` s."""
        while not self._pending and self.state is not SourceState.CLOSED:
            self._data.clear()
            await self._data.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        self._want = max_messages
        while len(self._pending) < max_messages and self.state is not SourceState.CLOSED:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._full.clear()
            try:
                await asyncio.wait_for(self._full.wait(), remaining)
            except TimeoutError:
                break
        batch = self._pending[:max_messages]
        del self._pending[:max_messages]
        self._held += len(batch)
        return batch

    def _deliver(self, message: Message) -> None:
        self._pending.append(message)
        self._arrived(1, message.received_ns)

    def _arrived(self, count: int, now_ns: int) -> None:
        """``count`` messages were appended to ``_pending`` at ``now_ns``: wake the reader."""
        self.received += count
        self.last_message_ns = now_ns
        self._data.set()
        if len(self._pending) >= self._want:
            self._full.set()

    def _subscribed(self) -> None:
        self.state = SourceState.SUBSCRIBED
        self.subscribed_ns = self._now()
        self.last_error = ""
        self._connected.set()
