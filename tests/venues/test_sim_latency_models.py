"""Named latency models of the sim venue: feed (recorded / constant) and orders (constant /
lognormal), and the models a backtest reports (issue 21 item 1)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.instruments import btcusdt_perpetual
from tests.venues.test_sim_venue import bid, drain, make_venue, snapshot
from tradetui.backtest.report import build_report
from tradetui.backtest.run import run_backtest
from tradetui.config import Settings
from tradetui.core.types import BookDelta, MarketEvent, OrderAccepted, Side, Trade
from tradetui.market.cache import load_events
from tradetui.market.files import ReplayReport
from tradetui.venues.latency import MeasuredLatency
from tradetui.venues.sim import SimLatency
from tradetui.venues.simtime import FeedLatency, FeedModel, clock_offset

MS = 1_000_000
OFFSET = -1_270 * MS  # the recorder's clock behind the exchange, as on the shared files
USDM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "binance-usdm"
USDM_FILE = USDM / "btcusdt_20240808.gz"


def trade(exch_ms: int, latency_ms: float) -> Trade:
    exch = exch_ms * MS
    return Trade(
        exch_ns=exch,
        local_ns=exch + int(latency_ms * MS) + OFFSET,
        trade_id=exch_ms,
        price_ticks=1000,
        qty_lots=1,
        aggressor=Side.BUY,
    )


def test_recorded_feed_removes_the_clock_offset_and_keeps_receive_order() -> None:
    # 200 events 3 to 12 ms late, one slow, one stamped by a glitching clock (its receive
    # time 50 ms before its exchange time).
    events: list[MarketEvent] = [trade(i, 3 + i % 10) for i in range(200)]
    events[50] = trade(50, 40)
    events[51] = trade(51, -50)
    assert clock_offset(events) == 3 * MS + OFFSET  # a low quantile: the glitch is ignored
    out = list(FeedLatency().retime(events))
    latencies = [(e.local_ns - e.exch_ns) // MS for e in out]
    assert latencies[:3] == [0, 1, 2]
    assert latencies[50] == 37
    assert out[51].local_ns == out[50].local_ns  # never before the event received before it
    assert all(a.local_ns <= b.local_ns for a, b in itertools.pairwise(out))
    assert all(e.local_ns >= e.exch_ns for e in out)
    retimed = FeedLatency().retime(events)
    list(retimed)
    assert retimed.describe().endswith("offset -1.267 s")


def test_constant_feed_delivers_every_event_after_the_same_latency() -> None:
    feed = FeedLatency(FeedModel.CONSTANT, 7 * MS)
    out = list(feed.retime([trade(i, 3 + i) for i in range(5)]))
    assert [e.local_ns - e.exch_ns for e in out] == [7 * MS] * 5
    assert feed.describe() == "constant 7 ms"


def test_lognormal_order_latency_is_seeded_and_keeps_requests_in_order() -> None:
    def arrivals(seed: int) -> list[int]:
        lat = SimLatency(entry_ns=5 * MS, ack_ns=3 * MS, cancel_ns=4 * MS, sigma=0.8, seed=seed)
        venue, clock = make_venue([snapshot(0)], lat)
        drain(venue, clock)
        for i in range(40):
            venue.submit(bid(f"o{i}", 990 - i))
        return [t for t, e in drain(venue, clock) if isinstance(e, OrderAccepted)]

    first = arrivals(1)
    assert first == arrivals(1)
    assert first != arrivals(2)
    assert first == sorted(first)
    gaps = {b - a for a, b in itertools.pairwise(first)}
    assert len(gaps) > 5  # drawn, not constant
    described = SimLatency(sigma=0.5).describe()
    assert described == "lognormal (medians entry 5 ms, cancel 5 ms, ack 5 ms; sigma 0.5)"
    assert SimLatency().describe() == "constant (entry 5 ms, cancel 5 ms, ack 5 ms)"


@pytest.mark.skipif(not USDM_FILE.exists(), reason=f"shared recordings not found at {USDM}")
def test_the_shared_usdm_file_backtests_with_its_own_feed_latency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path))
    inst = btcusdt_perpetual()
    events, data, cached = load_events([USDM_FILE], inst)
    # The capture's receive times run 1.27 s behind the exchange's.
    assert sorted(e.local_ns - e.exch_ns for e in events)[len(events) // 2] < -1_000 * MS
    result = run_backtest(Settings(), inst, events)
    report = build_report(result, data, cached)
    assert report["models"] == {
        "queue": "proportional",
        "feed_latency": "recorded (each event's receive time, recorder clock offset removed), "
        "offset -1.270 s",
        "order_latency": "constant (entry 5 ms, cancel 5 ms, ack 5 ms)",
    }
    # The engine's smoothed feed latency is the recording's own: positive, tens of ms at most.
    assert 0 < result.engine.feed_latency_ns < 100 * MS
    assert report["fills"] > 0


def still_book() -> list[MarketEvent]:
    """Ten depth updates 1 ms apart, the touch never moving (a backtest with no trades)."""
    t0 = 1_700_000_000_000_000_000
    return [
        BookDelta.of(
            exch_ns=t0 + i * MS,
            local_ns=t0 + i * MS,
            first_id=i,
            last_id=i,
            prev_id=i - 1,
            bids=((600_000, 10),),
            asks=((600_001, 10),),
        )
        for i in range(10)
    ]


def test_backtest_report_names_a_constant_feed_and_lognormal_orders() -> None:
    inst = btcusdt_perpetual()
    events = still_book()
    settings = (
        Settings()
        .replace("sim", feed_latency="constant", feed_latency_ms=12.0)
        .replace("sim", order_latency="lognormal", queue_model="power")
    )
    result = run_backtest(settings, inst, events)
    assert result.models == {
        "queue": "power (n = 2)",
        "feed_latency": "constant 12 ms",
        "order_latency": "lognormal (medians entry 5 ms, cancel 5 ms, ack 5 ms; sigma 0.5)",
    }
    assert build_report(result, ReplayReport(), cached=False)["models"] == result.models


def test_measured_order_latency_draws_each_request_from_the_recorded_samples() -> None:
    """One order at a time, so no request waits for the one before it: each acceptance comes
    one drawn entry plus one drawn ack after its send, both from the session's samples."""
    entry, ack = (20 * MS, 60 * MS), (1 * MS, 3 * MS)
    measured = MeasuredLatency("live.db#3", entry, (), ack)

    def round_trips(seed: int) -> list[int]:
        venue, clock = make_venue([snapshot(0)], SimLatency(measured=measured, seed=seed))
        drain(venue, clock)
        out = []
        for i in range(40):
            sent = clock.now_ns()
            venue.submit(bid(f"o{i}", 990 - i))
            out += [t - sent for t, e in drain(venue, clock) if isinstance(e, OrderAccepted)]
        return out

    trips = round_trips(1)
    assert len(trips) == 40
    assert set(trips) <= {e + a for e in entry for a in ack}
    assert len(set(trips)) == 4  # every pair drawn
    assert trips == round_trips(1)
    assert trips != round_trips(2)
    described = SimLatency(measured=measured).describe()
    assert described == (
        "measured (live.db#3: 2 places, 0 cancels; p50 entry 40 ms, cancel -, ack 2 ms)"
    )
