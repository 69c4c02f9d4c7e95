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
from tests.sandbox.test_live_latency import ENTRY_DELAY_MS, MS, quoting_cycles
from tradetui.cli import app
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.latency import PLACE, MeasuredLatency, percentile, stream_ns

CYCLES = 3  # start (two placements) and stop (two cancels), this many times


@pytest.mark.parametrize("skew_ms", [1500, -1500])
async def test_entry_latency_takes_the_exchange_clock_offset_off(
    live_sandbox: SandboxExchange, feed: ManualFeed, tmp_path: Path, skew_ms: int
) -> None:
    db = tmp_path / "live.db"
    live_sandbox.faults.skew_ms = skew_ms
    sid, timings = await quoting_cycles(live_sandbox, feed, db, CYCLES)
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
