"""The engine host: one paper session running inside an asyncio loop.

Shared by the headless CLI and the console, so both start, command and wind down the engine
the same way. Commands from any surface go through one inbox queue and are applied between
events; the engine never sees two callers at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.engine.runner import run_paced
from tradetui.engine.summary import session_summary
from tradetui.session import PaperSession

log = logging.getLogger(__name__)


class EngineHost:
    """Runs a session's engine against its venue; ``speed`` None = unpaced."""

    def __init__(self, session: PaperSession, speed: float | None) -> None:
        self.session = session
        self.engine = session.engine
        self.speed = speed
        self.inbox: asyncio.Queue[Command] = asyncio.Queue()
        self.refusals: list[Callable[[Command, str], None]] = [self._log_refusal]
        self._wall0 = time.monotonic()
        self._trading_end_ns: int | None = None

    @staticmethod
    def _log_refusal(cmd: Command, why: str) -> None:
        log.warning("%s refused: %s", cmd.kind, why)

    def _refused(self, cmd: Command, why: str) -> None:
        for callback in self.refusals:
            callback(cmd, why)

    def send(self, cmd: Command) -> None:
        """Queue a command for the engine (safe from any coroutine or callback in the loop)."""
        self.inbox.put_nowait(cmd)

    def now_ns(self) -> int:
        return self.session.clock.now_ns()

    async def run(self, done: Callable[[], bool]) -> None:
        """Run until ``done()`` is true."""
        s = self.session
        await run_paced(s.engine, s.venue, s.clock, self.inbox, self.speed, done, self._refused)

    async def wind_down(self, flatten: bool, hurry: Callable[[], bool] = lambda: False) -> None:
        """Cancel everything (and flatten if asked); bounded in market and wall time.

        ``hurry()`` true (a second Ctrl+C) stops waiting for confirmations.
        """
        self._trading_end_ns = self.now_ns()
        engine = self.engine
        kind = CommandKind.FLATTEN if flatten else CommandKind.STOP
        engine.control(Command(kind, reason="shutdown"))
        e = engine.settings.engine
        limit_s = e.stop_timeout_s + (e.flatten_timeout_s if flatten else 0.0)
        clock_end = self.now_ns() + int(limit_s * 1e9)
        wall_end = time.monotonic() + limit_s + 1.0

        def finished() -> bool:
            return (
                engine.state in (EngineState.STOPPED, EngineState.HALTED)
                or hurry()
                or self.now_ns() >= clock_end
                or time.monotonic() >= wall_end
            )

        await self.run(finished)

    def summary(self) -> dict[str, Any]:
        """Session summary; the duration is market time until trading ended."""
        end = self._trading_end_ns if self._trading_end_ns is not None else self.now_ns()
        out = session_summary(self.engine, (end - self.session.start_ns) / 1e9)
        out["seed"] = self.engine.seed
        out["speed"] = "max" if self.speed is None else self.speed
        out["wall_s"] = round(time.monotonic() - self._wall0, 3)
        return out
