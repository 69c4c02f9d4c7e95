"""A live session (engine + LiveVenue + BinanceStreamFeed, real ccxt clients) on the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tests.sandbox.conftest import KEY, SECRET, ManualFeed
from tradetui.config import Settings, settings_from_mapping
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineEvent
from tradetui.host import EngineHost, StoreOptions
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.session import LiveSession, open_live_session

WAIT_S = 8.0
ENV = {"TRADETUI_API_KEY": KEY, "TRADETUI_API_SECRET": SECRET}


def live_settings(sandbox: SandboxExchange, **sections: dict[str, Any]) -> Settings:
    """binanceusdm on the sandbox, quoting fast and close, with short timeouts."""
    base: dict[str, dict[str, Any]] = {
        "venue": {
            "exchange": "binanceusdm",
            "rest_url": sandbox.rest_url,
            "ws_url": sandbox.rest_url.replace("http://", "ws://"),
            "rate_limit": False,
            "recv_window_ms": 2000,
            "fill_poll_s": 0.05,
        },
        "strategy": {"decision_interval_ms": 20.0, "min_spread_ticks": 2},
        "quoting": {"min_age_ms": 0.0},
        "engine": {
            "start_timeout_s": 3.0,
            "stop_timeout_s": 3.0,
            "flatten_timeout_s": 4.0,
            "flatten_backoff_ms": 50.0,
            "flatten_backoff_max_ms": 200.0,
        },
        "feed": {"reconnect_initial_s": 0.02, "reconnect_max_s": 0.2, "stale_s": 0.0},
        "risk": {"stale_market_s": 0.0, "account_check_s": 0.5},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return settings_from_mapping(base, {})


class Live:
    """A running live session: its host, its events and helpers to wait on them."""

    def __init__(self, session: LiveSession, host: EngineHost) -> None:
        self.session = session
        self.host = host
        self.engine = session.engine
        self.events: list[EngineEvent] = []
        session.bus.subscribe(self.events.append)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        async def poll() -> None:
            while not check():
                await asyncio.sleep(0.005)

        await asyncio.wait_for(poll(), timeout_s)

    async def command(self, kind: CommandKind, **fields: Any) -> tuple[bool, str]:
        return await self.host.request(Command(kind, **fields))

    def quotes(self) -> dict[int, int]:
        """Our acked working quotes: side (+1 bid, -1 ask) → price in ticks."""
        return {int(o.side): o.price_ticks for o in self.engine.orders.values() if o.acked}


async def keep_market_moving(feed: ManualFeed, sandbox: SandboxExchange) -> None:
    """Depth diffs far from the touch every 20 ms, so the diff stream keeps flowing."""
    far = 590_000
    n = 0
    while True:
        n += 1
        feed.delta(bids=((far, 100 + n % 7),))
        sandbox.advance()
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_live(
    sandbox: SandboxExchange, feed: ManualFeed, settings: Settings, store: Path | None = None
) -> AsyncIterator[Live]:
    """Open the session on the sandbox and run its host until the block ends; with ``store``
    the session is recorded in that SQLite file (closed when the block ends)."""
    mover = asyncio.create_task(keep_market_moving(feed, sandbox))
    session = await open_live_session(settings, ENV)
    host = EngineHost(session, 1.0)
    live = Live(session, host)
    if store is not None:
        host.open_store(StoreOptions(store, "live"))
        await host.start_store()
    stop = asyncio.Event()
    runner = asyncio.create_task(host.run(stop.is_set))
    try:
        yield live
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, WAIT_S)
        if not runner.done():
            runner.cancel()
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover
        await host.close_store(host.summary())
        await session.close()
        if session.capture is not None:
            session.capture.close()
