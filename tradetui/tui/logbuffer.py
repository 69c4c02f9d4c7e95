"""A logging handler that only appends to a buffer; the console drains it in batches.

``emit`` runs inside whatever code logged (often the engine), so it formats once and appends
to a deque: no widget calls, no locks held across I/O. The console takes the pending records
on its paint interval and writes them to the log pane in one call.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogLine:
    """One formatted record: wall time (s since the epoch), level number, logger and text."""

    created_s: float
    levelno: int
    name: str
    message: str

    def matches(self, min_level: int, needle: str) -> bool:
        """At or above ``min_level`` and containing ``needle`` (lower-case) when given."""
        if self.levelno < min_level:
            return False
        return not needle or needle in self.message.lower() or needle in self.name.lower()


class BufferingLogHandler(logging.Handler):
    """Keeps the last ``history`` records and the ones not yet shown."""

    def __init__(self, history: int = 5000, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.history: deque[LogLine] = deque(maxlen=history)
        self._pending: deque[LogLine] = deque(maxlen=history)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = LogLine(record.created, record.levelno, record.name, record.getMessage())
        except Exception:
            self.handleError(record)
            return
        self.history.append(line)
        self._pending.append(line)

    def drain(self) -> list[LogLine]:
        """Records emitted since the last drain, oldest first."""
        out = list(self._pending)
        self._pending.clear()
        return out


def format_time(created_s: float) -> str:
    """Local wall time as HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(created_s))
