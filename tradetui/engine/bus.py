"""A synchronous fan-out of engine events to subscribers.

Subscribers must not block: they copy what they need into their own queue or snapshot slot.
With no subscribers (backtests) publishing costs one empty loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tradetui.engine.events import EngineEvent

log = logging.getLogger(__name__)

Subscriber = Callable[[EngineEvent], None]


class Bus:
    __slots__ = ("_subscribers",)

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        self._subscribers.remove(callback)

    @property
    def active(self) -> bool:
        return bool(self._subscribers)

    def publish(self, event: EngineEvent) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:
                # A broken reader must never stop trading; it is logged and skipped.
                log.exception("bus subscriber %r failed on %s", callback, type(event).__name__)
