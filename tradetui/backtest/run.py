"""Run the same Engine the paper and live modes use on a recorded market, on the virtual clock.

Orders meet the replayed market in the queue-aware matching engine of the sim venue. The run
records what the report needs: the replayed mid (from best bid/offers, by exchange time) and
every fill with the position after it.

What a run derives from its data alone (the replay retimed and in the exchange's order, the
mid path, the event count) is prepared once per data set and feed latency model and kept for
the runs that follow on the same events list (``replay_data``): the backtests of a sweep or a
search pay for it once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent
from tradetui.engine.bus import Bus
from tradetui.engine.engine import Command, CommandKind, Engine
from tradetui.engine.events import EngineEvent, FillRecorded
from tradetui.engine.parts import build_engine
from tradetui.host import EngineHost, Host, store_options
from tradetui.lifecycle import Lifecycle, RunPlan, StopSignals
from tradetui.market.replay import drop_stale_bbo
from tradetui.session import PaperSession, feed_latency, sim_models, sim_venue, with_sim_fees
from tradetui.venues.prepared import PreparedMarket, prepare_market
from tradetui.venues.sim import ReceivedMarket, SimVenue
from tradetui.venues.simtime import FeedLatency

# The mode a backtest's stored session has (paper and live each keep their own).
MODE = "backtest"

_NS_PER_S = 1_000_000_000
# Market time run between two progress callbacks.
_PROGRESS_STEP_NS = 5 * _NS_PER_S


def count_events(ev: MarketEvent) -> int:
    """Level changes in a delta or snapshot; 1 for a trade or best bid/offer."""
    tp = type(ev)
    if tp is BookDelta or tp is BookSnapshot:
        return len(ev.bids) + len(ev.asks)  # type: ignore[union-attr]
    return 1


@dataclass(slots=True)
class MidPath:
    """Replayed mid price over exchange time: parallel arrays (ns, ticks)."""

    t_ns: array[int] = field(default_factory=lambda: array("q"))
    mid_ticks: array[float] = field(default_factory=lambda: array("d"))

    @classmethod
    def of(cls, events: Iterable[MarketEvent]) -> MidPath:
        """The mid of every two-sided best bid/offer in ``events`` where it changes."""
        path = cls()
        t_ns, mids = path.t_ns, path.mid_ticks
        last = 0.0
        for ev in events:
            if type(ev) is BestBidOffer and ev.bid_ticks and ev.ask_ticks:
                mid = (ev.bid_ticks + ev.ask_ticks) * 0.5
                if mid != last:
                    last = mid
                    t_ns.append(ev.exch_ns)
                    mids.append(mid)
        return path


@dataclass(frozen=True, slots=True, eq=False)
class ReplayData:
    """What backtests of ``events`` share under one feed latency model: the prepared replay,
    the mid path and the event count (``count_events`` summed)."""

    events: list[MarketEvent]
    prepared: PreparedMarket
    mids: MidPath
    levels: int


# Prepared data sets of this process, newest last: a sweep worker's windows under the feed
# latency models its points use. Each entry holds its events list, so its id is not reused.
_KEEP = 4
_REPLAYS: OrderedDict[tuple[int, FeedLatency, int | None], ReplayData] = OrderedDict()
_REPLAYS_LOCK = threading.Lock()


def replay_data(
    events: list[MarketEvent], feed: FeedLatency, offset_ns: int | None = None
) -> ReplayData:
    """The ReplayData of ``events`` under ``feed`` (``offset_ns``: see ``run_backtest``),
    prepared on the first call and kept for later calls with the same list (a decoded events
    list is never changed)."""
    key = (id(events), feed, offset_ns)
    with _REPLAYS_LOCK:
        data = _REPLAYS.get(key)
        if data is not None and data.events is events and len(data.events) == len(events):
            _REPLAYS.move_to_end(key)
            return data
    prepared = prepare_market(events, feed, offset_ns)
    data = ReplayData(
        events, prepared, MidPath.of(prepared.market), sum(count_events(ev) for ev in events)
    )
    with _REPLAYS_LOCK:
        _REPLAYS[key] = data
        while len(_REPLAYS) > _KEEP:
            _REPLAYS.popitem(last=False)
    return data


@dataclass(slots=True)
class BacktestResult:
    engine: Engine
    venue: SimVenue
    mids: MidPath
    fills: list[FillRecorded]
    start_ns: int
    end_ns: int
    events: int
    messages: int
    run_s: float
    # The queue and latency models of the run, by name (see session.sim_models).
    models: dict[str, str] = field(default_factory=dict)
    # The session summary the lifecycle returned (with the store's figures under --db).
    summary: dict[str, Any] = field(default_factory=dict)


def backtest_settings(settings: Settings, latency_ms: float | None) -> Settings:
    """``settings`` with every one-way sim latency set to ``latency_ms`` when given."""
    if latency_ms is None:
        return settings
    return settings.replace(
        "sim",
        entry_latency_ms=latency_ms,
        cancel_latency_ms=latency_ms,
        ack_latency_ms=latency_ms,
    )


class BacktestFace:
    """The backtest's face on the session lifecycle: quotes at once and trades on the virtual
    clock, unpaced, to the market's last event, in steps of a few seconds of market time with
    ``progress(done_ns, total_ns)`` and ``checkpoint(partial)`` after each; it installs no
    signal handler and stops on no signal (the wind-down after it is the lifecycle's)."""

    flatten_on_exit = False

    def __init__(
        self,
        result: BacktestResult,
        progress: Callable[[int, int], None] | None = None,
        checkpoint: Callable[[BacktestResult], None] | None = None,
    ) -> None:
        self.result = result
        self.progress = progress
        self.checkpoint = checkpoint

    def begin(self, host: Host, signals: StopSignals) -> None:
        host.engine.control(Command(CommandKind.START, reason="backtest"))

    async def trade(self, host: Host, signals: StopSignals) -> None:
        assert isinstance(host, EngineHost)  # a backtest is one market's session
        r = self.result
        start_ns, end_ns = r.start_ns, r.end_ns
        t = start_ns
        while t < end_ns:
            t = min(t + _PROGRESS_STEP_NS, end_ns)
            await host.run_to(t)
            if self.progress is not None:
                self.progress(t - start_ns, end_ns - start_ns)
            if self.checkpoint is not None:
                self.checkpoint(dataclasses.replace(r, end_ns=t))


def run_backtest(
    settings: Settings,
    instrument: Instrument,
    events: list[MarketEvent],
    *,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
    ml_model: Path | None = None,
    on_engine: Callable[[Engine, Bus], None] | None = None,
    checkpoint: Callable[[BacktestResult], None] | None = None,
    feed_offset_ns: int | None = None,
    start_ns: int | None = None,
    stop_ns: int | None = None,
    store: Path | None = None,
    received: bool = False,
    prepared: bool = True,
) -> BacktestResult:
    """Trade ``events`` with the configured strategy from the first event to the last.

    The run is a session of the lifecycle every session goes through (tradetui.lifecycle),
    with ``BacktestFace``: on the virtual clock, over a simulated exchange replaying
    ``events``; it winds down as any session does and its summary is the session summary.
    Nothing a backtest does not ask for is opened (control socket, Telegram, signals,
    recording); ``store`` keeps the run as a ``backtest`` session in that database (StoreError
    when it cannot).

    ``progress(done_ns, total_ns)`` is called every few seconds of market time. ``ml_model``
    (a directory from ``tradetui train``) turns the ML filter on with that model.
    ``on_engine(engine, bus)`` runs once the engine exists, before it starts.
    ``checkpoint(partial)`` gets the run so far at each progress step: its ``end_ns`` is the
    market time reached, ``events``/``messages``/``run_s`` are 0 and ``summary`` empty until
    the end (an optimiser scores partial runs there, and may stop the run by raising).
    ``feed_offset_ns`` is the recorder's clock offset the ``recorded``
    feed latency removes (default: estimated from the files; 0 for a recording made on the
    session's own clock, as a paper session's is). ``start_ns`` starts the clock and the
    engine earlier than the first event, and ``stop_ns`` stops it before the data ends (a
    stored session's start and stop, to repeat it). ``received``: the events are a recording
    of a live market a paper session traded on; the simulated exchange takes them as that
    session's did, each at its receive time (``ReceivedMarket``). ``prepared`` False
    retimes and reorders the market as the run goes instead of using (and keeping) its
    prepared form (``replay_data``): the same run, for checking that it is (a ``received``
    market is taken in the order received, never prepared).
    """
    if not events:
        raise ValueError("no market events to backtest")
    if ml_model is not None:
        settings = settings.replace("ml", enabled=True, model=str(ml_model))
    if settings.ml.enabled:
        # A backtest is deterministic: the model loaded at the start is used to the end.
        settings = settings.replace("ml", reload_check_s=0.0)
    inst = with_sim_fees(instrument, settings)
    # The market pass is part of the run's work, so run_s counts it.
    t_prep = time.perf_counter()
    source: list[MarketEvent] | PreparedMarket
    if prepared and not received:
        data = replay_data(events, feed_latency(settings), feed_offset_ns)
        source, market, mids = data.prepared, data.prepared.market, data.mids
        levels, described = data.levels, data.prepared.feed_model
    else:
        retimed = feed_latency(settings).retime(drop_stale_bbo(events), feed_offset_ns)
        source = market = list(retimed)
        mids = MidPath.of(market)
        levels, described = sum(count_events(ev) for ev in events), retimed.describe()
    prep_s = time.perf_counter() - t_prep
    first_ns = min(market[0].exch_ns, market[0].local_ns)
    start_ns = first_ns if start_ns is None else min(start_ns, first_ns)
    end_ns = max(max(ev.exch_ns, ev.local_ns) for ev in market[-64:])
    if stop_ns is not None:
        end_ns = min(end_ns, stop_ns)
    clock = VirtualClock(start_ns)
    if received:
        venue = sim_venue(settings, inst, ReceivedMarket(clock, market), clock, seed, live=True)
    else:
        venue = sim_venue(settings, inst, source, clock, seed)
    bus = Bus()
    fills: list[FillRecorded] = []

    def on_engine_event(ev: EngineEvent) -> None:
        if type(ev) is FillRecorded:
            fills.append(ev)

    bus.subscribe(on_engine_event)
    engine = build_engine(settings, inst, venue, clock, bus, seed=seed)
    if on_engine is not None:
        on_engine(engine, bus)
    result = BacktestResult(engine, venue, mids, fills, start_ns, end_ns, 0, 0, 0.0)
    session = PaperSession(engine, venue, clock, bus, start_ns, market="backtest")
    plan = RunPlan(
        speed=None,
        store=store_options(settings, store, MODE) if store is not None else None,
        signals=False,
        telegram=False,
    )
    t0 = time.perf_counter() - prep_s
    summary = asyncio.run(
        Lifecycle(settings, plan, session=session).run(BacktestFace(result, progress, checkpoint))
    )
    result.run_s = time.perf_counter() - t0
    result.events = levels
    result.messages = len(events)
    result.models = sim_models(settings, described, seed)
    # A backtest session, on the market of ``events`` (not the configured one).
    result.summary = summary | {"mode": MODE, "market_source": "replay"}
    return result
