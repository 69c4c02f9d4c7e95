"""A backtest over the prepared replay (retimed and in exchange order once per data set) is the
backtest the sim venue's on-the-fly reordering gives: same fills, same report, figure for
figure, on a shared recording and on a recording of the sandbox, under every latency model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.backtest.test_backtest import DATA, USDM
from tests.instruments import btcusdt_perpetual
from tests.market.test_feed_recorder import ThreadedSandbox
from tests.venues.test_sim_exchange_order import _OP, OURS, PRICE, _scenario, make_instrument
from tradetui.backtest.report import build_report
from tradetui.backtest.run import BacktestResult, replay_data, run_backtest
from tradetui.cli import app
from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.money import dumps
from tradetui.core.types import AccountEvent, CancelOrder, MarketEvent, PlaceOrder, Side
from tradetui.market.cache import load_events
from tradetui.market.files import ReplayReport
from tradetui.market.instruments import infer_instrument
from tradetui.market.replay import drop_stale_bbo
from tradetui.matching import MatchingConfig, QueueModel
from tradetui.session import feed_latency
from tradetui.venues.prepared import PreparedMarket, prepare_market
from tradetui.venues.sim import SimLatency, SimVenue
from tradetui.venues.simtime import FeedLatency, FeedModel

pytestmark = pytest.mark.usefixtures("simulated_catalogs")

SPOT = DATA / "binance-spot" / "btcusdt_20240808.gz"
# The report figures that time the run rather than describe it.
# Seconds of the sandbox's market recorded.
SANDBOX_S = 10
_TIMING = ("run_s", "events_per_s", "wall_s", "decision_latency_us")


def _settings(**sim: Any) -> Settings:
    return Settings().replace("sim", **sim) if sim else Settings()


MODELS = {
    "default": _settings(),
    "constant feed, lognormal orders": _settings(
        feed_latency="constant",
        feed_latency_ms=12.0,
        order_latency="lognormal",
        order_latency_sigma=0.8,
        queue_model="power",
    ),
    "recorded feed, slow orders": _settings(
        entry_latency_ms=25.0, cancel_latency_ms=3.0, ack_latency_ms=40.0, queue_model="risk_averse"
    ),
}


def report(result: BacktestResult) -> dict[str, Any]:
    """The ``backtest --json`` report of ``result`` without the run's timings."""
    r: dict[str, Any] = json.loads(dumps(build_report(result, ReplayReport(), cached=False)))
    for key in _TIMING:
        r.pop(key)
    return r


def assert_same_runs(
    settings: Settings, inst: Instrument, events: list[MarketEvent], seed: int = 0
) -> BacktestResult:
    fly = run_backtest(settings, inst, events, seed=seed, prepared=False)
    ready = run_backtest(settings, inst, events, seed=seed)
    again = run_backtest(settings, inst, events, seed=seed)  # from the kept preparation
    assert [f.fill for f in ready.fills] == [f.fill for f in fly.fills]
    assert [f.fill for f in again.fills] == [f.fill for f in fly.fills]
    assert report(ready) == report(fly) == report(again)
    assert (ready.start_ns, ready.end_ns) == (fly.start_ns, fly.end_ns)
    assert list(ready.mids.t_ns) == list(fly.mids.t_ns)
    return ready


@pytest.mark.skipif(not USDM.exists(), reason=f"shared recording not found: {USDM}")
@pytest.mark.parametrize("model", list(MODELS))
def test_a_prepared_backtest_of_the_shared_usdm_file_is_the_on_the_fly_one(model: str) -> None:
    inst = infer_instrument([USDM]).instrument
    events = load_events([USDM], inst, use_cache=False)[0]
    result = assert_same_runs(MODELS[model], inst, events)
    assert result.engine.fills > 0


@pytest.mark.skipif(not SPOT.exists(), reason=f"shared recording not found: {SPOT}")
def test_a_prepared_backtest_of_a_spot_file_with_its_bookticker_times_is_the_same() -> None:
    inst = infer_instrument([SPOT]).instrument
    events = load_events([SPOT], inst, use_cache=False)[0]
    assert_same_runs(MODELS["constant feed, lognormal orders"], inst, events)


def test_lognormal_order_latencies_stay_drawn_per_run_from_its_seed() -> None:
    if not USDM.exists():
        pytest.skip(f"shared recording not found: {USDM}")
    inst = infer_instrument([USDM]).instrument
    events = load_events([USDM], inst, use_cache=False)[0]
    settings = MODELS["constant feed, lognormal orders"]
    one = assert_same_runs(settings, inst, events, seed=1)
    two = assert_same_runs(settings, inst, events, seed=2)
    # One preparation served both seeds, and the seeds drew different latencies.
    assert replay_data(events, feed_latency(settings)) is replay_data(
        events, feed_latency(settings)
    )
    assert [f.fill.local_ns for f in one.fills] != [f.fill.local_ns for f in two.fills]


def test_the_preparation_is_kept_per_events_list_and_feed_model() -> None:
    if not USDM.exists():
        pytest.skip(f"shared recording not found: {USDM}")
    inst = infer_instrument([USDM]).instrument
    events = load_events([USDM], inst, use_cache=False)[0][:5000]
    recorded = feed_latency(MODELS["default"])
    constant = feed_latency(MODELS["constant feed, lognormal orders"])
    first = replay_data(events, recorded)
    assert replay_data(events, recorded) is first
    assert replay_data(events, constant) is not first
    assert replay_data(list(events), recorded) is not first  # another list: prepared afresh
    assert replay_data(events, recorded, offset_ns=0) is not first
    times = [ev.local_ns for ev in replay_data(events, constant).prepared.market]
    assert times != [ev.local_ns for ev in first.prepared.market]


@pytest.fixture
def sandbox_recording(tmp_path: Path) -> list[MarketEvent]:
    """Some seconds of the sandbox's market, recorded from its streams by `tradetui record`."""
    out = tmp_path / "rec"
    with ThreadedSandbox() as server:
        urls = ["--ws-url", f"ws://127.0.0.1:{server.port}", "--rest-url", server.rest_url]
        args = ["record", "--venue", "binanceusdm", "--symbol", "BTCUSDT", "--out", str(out)]
        res = CliRunner().invoke(app, [*args, *urls, "--duration", str(SANDBOX_S)])
    assert res.exit_code == 0, res.output
    files = sorted(out.glob("binanceusdm_btcusdt_*.gz"))
    return load_events(files, btcusdt_perpetual(), use_cache=False)[0]


def test_a_prepared_backtest_of_a_sandbox_recording_is_the_on_the_fly_one(
    sandbox_recording: list[MarketEvent],
) -> None:
    inst = btcusdt_perpetual()
    fills = 0
    for settings in MODELS.values():
        fills += assert_same_runs(settings, inst, sandbox_recording, seed=3).engine.fills
        # On the recording's own clock (no offset to remove), as reconcile runs a session's.
        fly = run_backtest(settings, inst, sandbox_recording, feed_offset_ns=0, prepared=False)
        ready = run_backtest(settings, inst, sandbox_recording, feed_offset_ns=0)
        assert report(ready) == report(fly)
        assert [f.fill for f in ready.fills] == [f.fill for f in fly.fills]
    assert fills > 0


def _delivered(market: list[MarketEvent] | PreparedMarket, sigma: float) -> list[tuple[int, Any]]:
    """Everything the venue hands the engine, with the clock at each, while a bid is placed at
    the first event, cancelled at the fifth and placed again at the ninth."""
    clock = VirtualClock()
    venue = SimVenue(
        make_instrument(),
        market,
        SimLatency(entry_ns=2_000_000, ack_ns=1_000_000, cancel_ns=3_000_000, sigma=sigma, seed=5),
        MatchingConfig(queue_model=QueueModel.PROPORTIONAL),
        clock,
    )
    out: list[tuple[int, Any]] = []
    while (t := venue.peek_ns()) is not None:
        clock.advance_to(t)
        ev: MarketEvent | AccountEvent | None = venue.pop()
        out.append((t, ev))
        if len(out) in (1, 9):
            cid = f"b{len(out)}"
            venue.submit(PlaceOrder(client_id=cid, side=Side.BUY, price_ticks=PRICE, qty_lots=OURS))
        elif len(out) == 5:
            venue.submit(CancelOrder(client_id="b1"))
    return out


@hypothesis_settings(max_examples=150, deadline=None)
@given(
    ahead=st.integers(1, 15),
    ops=st.lists(_OP, min_size=1, max_size=25),
    constant_ms=st.sampled_from([None, 0, 7]),
    sigma=st.sampled_from([0.0, 0.7]),
)
def test_the_venue_hands_out_the_same_events_at_the_same_times_prepared_or_not(
    ahead: int,
    ops: list[tuple[str, int, int, float, int, int]],
    constant_ms: int | None,
    sigma: float,
) -> None:
    market, _ = _scenario(ahead, ops)
    feed = (
        FeedLatency()
        if constant_ms is None
        else FeedLatency(FeedModel.CONSTANT, constant_ms * 1_000_000)
    )
    on_the_fly = list(feed.retime(drop_stale_bbo(market)))
    assert _delivered(prepare_market(market, feed), sigma) == _delivered(on_the_fly, sigma)
