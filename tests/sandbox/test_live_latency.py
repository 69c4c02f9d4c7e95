"""Order latency measured on a live session (issue 21: "order entry and response ...
measured from live sessions the product recorded"): the sandbox holds every new order a known
time before handling it; the session stores each
request's times, ``tradetui latency`` shows them, and the sim's ``measured`` model draws
from them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import ManualFeed
from tests.sandbox.live_harness import live_settings, running_live
from tests.venues.test_sim_latency_models import still_book
from tradetui.backtest.run import run_backtest
from tradetui.cli import app
from tradetui.config import Settings
from tradetui.engine.engine import CommandKind
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.store.queries import resolve_session
from tradetui.store.schema import open_readonly
from tradetui.venues.latency import (
    CANCEL,
    PLACE,
    MeasuredLatency,
    RequestTiming,
    load_measured,
    percentile,
    session_timings,
)

MS = 1_000_000
ENTRY_DELAY_MS = 80  # every POST /fapi/v1/order waits this long before the exchange takes it
CYCLES = 6  # start (two placements) and stop (two cancels), this many times


async def quoting_cycles(
    sandbox: SandboxExchange, feed: ManualFeed, db: Path, cycles: int
) -> tuple[int, list[RequestTiming]]:
    """A live session that starts quoting and stops ``cycles`` times (two placements and two
    cancels each), every placement held ``ENTRY_DELAY_MS`` by the sandbox; its id and its
    stored order timings."""
    sandbox.faults.delay_next(ENTRY_DELAY_MS / 1000, -1, only="POST /fapi/v1/order")
    async with running_live(sandbox, feed, live_settings(sandbox), db) as live:
        await live.until(lambda: live.engine.book.valid)
        for _ in range(cycles):
            ok, why = await live.command(CommandKind.START, reason="test")
            assert ok, why
            await live.until(lambda: len(live.quotes()) == 2)
            ok, why = await live.command(CommandKind.STOP, reason="test")
            assert ok, why
            await live.until(lambda: not sandbox.account.open_orders and not live.quotes())
    conn = open_readonly(db)
    try:
        sid = resolve_session(conn, None)
        return sid, session_timings(conn, sid)
    finally:
        conn.close()


async def test_a_live_session_records_order_latency_that_the_sim_draws_from(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path
) -> None:
    db = tmp_path / "live.db"
    live_sandbox.faults.reject_next(-2019)  # the first placement: "Margin is insufficient"
    sid, timings = await quoting_cycles(live_sandbox, feed, db, CYCLES)
    # The refused placement: answered, with no exchange time (Binance's error has none).
    refused = [t for t in timings if t.outcome == "refused"]
    assert len(refused) == 1
    assert refused[0].answered_ns is not None
    assert refused[0].exchange_ns is None
    places = [t for t in timings if t.kind == PLACE and t.outcome == "ok"]
    cancels = [t for t in timings if t.kind == CANCEL and t.outcome == "ok"]
    assert len(places) >= 2 * CYCLES
    assert len(cancels) >= 2 * CYCLES
    assert all(t.exchange_ns is not None for t in places + cancels)
    # The sandbox's clock is ours: the offset measured is within a loopback round trip.
    assert all(abs(t.offset_ns) < 50 * MS for t in timings)
    # The user stream's NEW and CANCELED updates were matched to their requests.
    assert sum(t.stream_ns is not None for t in places) >= CYCLES
    assert sum(t.stream_ns is not None for t in cancels) >= CYCLES

    measured = MeasuredLatency.of("live.db", timings)
    entry_p50 = percentile(measured.entry_ns, 50) / MS
    cancel_p50 = percentile(measured.cancel_ns, 50) / MS
    # Entry follows the sandbox's delay (plus loopback and the clock estimate's error);
    # cancels, not delayed, are much faster.
    assert ENTRY_DELAY_MS - 5 <= entry_p50 <= ENTRY_DELAY_MS + 40, entry_p50
    assert cancel_p50 < ENTRY_DELAY_MS / 2, cancel_p50
    assert percentile(measured.ack_ns, 50) / MS < ENTRY_DELAY_MS / 2

    # The command shows the same figures.
    r = CliRunner().invoke(app, ["latency", str(sid), "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["entry"]["n"] == len(measured.entry_ns)
    assert shown["entry"]["p50_ms"] == pytest.approx(entry_p50, abs=0.01)
    assert shown["requests"]["place"] >= 2 * CYCLES
    text = CliRunner().invoke(app, ["latency", str(sid), "--db", str(db)])
    assert text.exit_code == 0, text.output
    assert "placement: send → exchange" in text.output

    # A backtest with the measured model names its source and draws from its samples.
    source = f"{db}#{sid}"
    assert load_measured(source).entry_ns == measured.entry_ns
    settings = Settings().replace("sim", order_latency="measured", order_latency_from=source)
    result = await asyncio.to_thread(run_backtest, settings, btcusdt_perpetual(), still_book())
    assert result.models["order_latency"].startswith(f"measured (live.db#{sid}: ")
