"""Order latency measured against an exchange whose clock is off ours (the sandbox's skew
fault, which shows in every time it stamps): the session's estimate of the offset (ccxt's
timeDifference) takes the skew off, so entry, ack and stream latency come out as on a clock
in step, and ``tradetui latency`` shows the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.sandbox.conftest import ManualFeed
from tests.sandbox.live_harness import live_settings, running_live
from tradetui.cli import app
from tradetui.engine.engine import CommandKind
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.store.queries import resolve_session
from tradetui.store.schema import open_readonly
from tradetui.venues.latency import PLACE, MeasuredLatency, percentile, session_timings, stream_ns

MS = 1_000_000
ENTRY_DELAY_MS = 80  # every POST /fapi/v1/order waits this long before the exchange takes it
CYCLES = 3  # start (two placements) and stop (two cancels), this many times


@pytest.mark.parametrize("skew_ms", [1500, -1500])
async def test_entry_latency_takes_the_exchange_clock_offset_off(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path, skew_ms: int
) -> None:
    db = tmp_path / "live.db"
    live_sandbox.faults.skew_ms = skew_ms
    live_sandbox.faults.delay_next(ENTRY_DELAY_MS / 1000, -1, only="POST /fapi/v1/order")
    async with running_live(live_sandbox, feed, live_settings(live_sandbox), db) as live:
        await live.until(lambda: live.engine.book.valid)
        for _ in range(CYCLES):
            ok, why = await live.command(CommandKind.START, reason="test")
            assert ok, why
            await live.until(lambda: len(live.quotes()) == 2)
            ok, why = await live.command(CommandKind.STOP, reason="test")
            assert ok, why
            await live.until(lambda: not live_sandbox.account.open_orders and not live.quotes())

    conn = open_readonly(db)
    try:
        sid = resolve_session(conn, None)
        timings = session_timings(conn, sid)
    finally:
        conn.close()
    places = [t for t in timings if t.kind == PLACE and t.outcome == "ok"]
    assert len(places) >= 2 * CYCLES
    # The offset estimated is the skew, to within a loopback round trip.
    assert all(abs(t.offset_ns - skew_ms * MS) < 50 * MS for t in timings)

    measured = MeasuredLatency.of("live.db", timings)
    entry_p50 = percentile(measured.entry_ns, 50) / MS
    # As without a skew (test_live_latency.py): the sandbox's delay, plus loopback and the
    # offset estimate's error; never the skew.
    assert ENTRY_DELAY_MS - 5 <= entry_p50 <= ENTRY_DELAY_MS + 40, entry_p50
    assert percentile(measured.cancel_ns, 50) / MS < ENTRY_DELAY_MS / 2
    assert percentile(measured.ack_ns, 50) / MS < ENTRY_DELAY_MS / 2
    streamed = [v for t in timings if (v := stream_ns(t)) is not None]
    assert len(streamed) >= CYCLES
    assert -10 * MS <= percentile(streamed, 50) < ENTRY_DELAY_MS / 2 * MS

    r = CliRunner().invoke(app, ["latency", str(sid), "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["entry"]["p50_ms"] == pytest.approx(entry_p50, abs=0.01)
