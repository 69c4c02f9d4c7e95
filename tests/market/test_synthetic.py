"""The synthetic market: deterministic, a valid venue-like stream, and calibrated."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.instruments import btcusdt_perpetual
from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Side, Trade
from tradetui.market import SyntheticMarket, SyntheticParams

NS_PER_S = 1_000_000_000
PARAMS = SyntheticParams()


def _take(seed: int, seconds: float) -> list[MarketEvent]:
    events = SyntheticMarket(btcusdt_perpetual(), seed=seed).events()
    end_ns = int(seconds * NS_PER_S)
    return list(itertools.takewhile(lambda e: e.exch_ns < end_ns, events))


@pytest.fixture(scope="module")
def inst() -> Instrument:
    return btcusdt_perpetual()


@pytest.fixture(scope="module")
def minute() -> list[MarketEvent]:
    return _take(seed=7, seconds=60)


@pytest.fixture(scope="module")
def five_minutes() -> list[MarketEvent]:
    return _take(seed=0, seconds=300)


def _replay(events: list[MarketEvent]) -> Iterator[tuple[MarketEvent, OrderBook]]:
    """Each event with the book rebuilt from the snapshot and deltas up to and including it."""
    book = OrderBook()
    for ev in events:
        if isinstance(ev, BookSnapshot):
            book.apply_snapshot(ev.bids, ev.asks)
        elif isinstance(ev, BookDelta):
            book.apply_delta(ev)
        yield ev, book


def _mid_1s_usd(events: list[MarketEvent], inst: Instrument) -> np.ndarray:
    """Mid (USD) of the last BBO at or before each whole second."""
    mids: list[float] = []
    next_ns, last = NS_PER_S, 0.0
    for ev in events:
        if isinstance(ev, BestBidOffer):
            while ev.exch_ns >= next_ns:
                mids.append(last)
                next_ns += NS_PER_S
            last = (ev.bid_ticks + ev.ask_ticks) * 0.5 * inst.tick
    return np.array(mids)


# ---- determinism --------------------------------------------------------------------------------


def test_same_seed_gives_identical_events() -> None:
    a = list(itertools.islice(SyntheticMarket(btcusdt_perpetual(), seed=3).events(), 5000))
    b = list(itertools.islice(SyntheticMarket(btcusdt_perpetual(), seed=3).events(), 5000))
    assert a == b


def test_different_seed_gives_different_events() -> None:
    a = list(itertools.islice(SyntheticMarket(btcusdt_perpetual(), seed=3).events(), 5000))
    b = list(itertools.islice(SyntheticMarket(btcusdt_perpetual(), seed=4).events(), 5000))
    assert a != b


def test_events_can_be_iterated_only_once() -> None:
    market = SyntheticMarket(btcusdt_perpetual())
    next(market.events())
    with pytest.raises(RuntimeError):
        next(market.events())


# ---- a valid stream -----------------------------------------------------------------------------


def test_stream_opens_with_one_bounded_snapshot(minute: list[MarketEvent]) -> None:
    snap = minute[0]
    assert isinstance(snap, BookSnapshot)
    assert 200 <= len(snap.bids) <= 1000
    assert 200 <= len(snap.asks) <= 1000
    assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
    assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)
    assert not any(isinstance(ev, BookSnapshot) for ev in minute[1:])


def test_rebuilt_book_is_never_crossed_and_stays_bounded(minute: list[MarketEvent]) -> None:
    for ev, book in _replay(minute):
        if isinstance(ev, BookDelta):
            assert book.valid
            assert all(p > 0 and q >= 0 for p, q in ev.bids + ev.asks)
            assert book.level_count(Side.BUY) <= 2 * PARAMS.book_half_width_ticks
            assert book.level_count(Side.SELL) <= 2 * PARAMS.book_half_width_ticks


def test_every_bbo_equals_the_rebuilt_touch(minute: list[MarketEvent]) -> None:
    bbos = 0
    for ev, book in _replay(minute):
        if isinstance(ev, BestBidOffer):
            bbos += 1
            assert (ev.bid_ticks, ev.bid_lots, ev.ask_ticks, ev.ask_lots) == (
                book.bid_ticks,
                book.bid_lots,
                book.ask_ticks,
                book.ask_lots,
            )
    assert bbos > 60 * 100


def test_delta_ids_chain_from_the_snapshot(minute: list[MarketEvent]) -> None:
    snap = minute[0]
    assert isinstance(snap, BookSnapshot)
    last_id = snap.update_id
    for ev in minute[1:]:
        if isinstance(ev, BookDelta):
            assert ev.prev_id == last_id
            assert ev.first_id == last_id + 1
            assert ev.last_id >= ev.first_id
            last_id = ev.last_id
        elif isinstance(ev, BestBidOffer):
            assert ev.update_id == last_id


def test_trades_walk_the_touch_and_the_next_delta_shows_them(minute: list[MarketEvent]) -> None:
    ladder: list[tuple[int, int]] = []
    at, left = 0, 0
    consumed: set[tuple[Side, int]] = set()
    trades = 0
    for ev, book in _replay(minute):
        if isinstance(ev, Trade):
            hit = ev.aggressor.opposite
            if not consumed:
                ladder, at = book.levels(hit, 2000), 0
                left = ladder[0][1]
            assert ev.price_ticks == ladder[at][0]
            assert 0 < ev.qty_lots <= left
            left -= ev.qty_lots
            consumed.add((hit, ev.price_ticks))
            if left == 0 and at + 1 < len(ladder):
                at += 1
                left = ladder[at][1]
            trades += 1
        elif isinstance(ev, BookDelta) and consumed:
            shown = {(Side.BUY, p) for p, _ in ev.bids} | {(Side.SELL, p) for p, _ in ev.asks}
            assert consumed <= shown
            consumed.clear()
        else:
            assert not consumed, "a trade must be followed by the delta that shows it"
    assert trades > 60 * 40


def test_time_never_goes_back_and_local_lags_by_feed_latency(minute: list[MarketEvent]) -> None:
    times = [ev.exch_ns for ev in minute]
    assert times == sorted(times)
    assert {ev.local_ns - ev.exch_ns for ev in minute} == {PARAMS.feed_latency_ns}


def test_start_ns_offsets_the_stream() -> None:
    start_ns = 1_723_161_256_000_000_000
    events = SyntheticMarket(btcusdt_perpetual(), start_ns=start_ns).events()
    assert all(ev.exch_ns >= start_ns for ev in itertools.islice(events, 1000))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_seed_gives_a_valid_consistent_book(seed: int) -> None:
    for ev, book in _replay(_take(seed, seconds=3)):
        if isinstance(ev, BookDelta):
            assert book.valid
        elif isinstance(ev, BestBidOffer):
            assert (ev.bid_ticks, ev.ask_ticks) == (book.bid_ticks, book.ask_ticks)


# ---- calibration --------------------------------------------------------------------------------


def test_trade_rate_matches_calibration(five_minutes: list[MarketEvent]) -> None:
    trades = sum(isinstance(ev, Trade) for ev in five_minutes)
    assert trades / 300 == pytest.approx(PARAMS.trade_rate_per_s, rel=0.10)


def test_trade_size_median_matches_calibration(
    five_minutes: list[MarketEvent], inst: Instrument
) -> None:
    sizes = [ev.qty_lots * inst.lot for ev in five_minutes if isinstance(ev, Trade)]
    target = dict(PARAMS.trade_size_quantiles_units)[0.5]
    assert float(np.median(sizes)) == pytest.approx(target, rel=0.25)


def test_buyer_maker_share_matches_calibration(five_minutes: list[MarketEvent]) -> None:
    sells = [ev.aggressor is Side.SELL for ev in five_minutes if isinstance(ev, Trade)]
    assert float(np.mean(sells)) == pytest.approx(PARAMS.buyer_maker_share, abs=0.05)


def test_median_spread_is_one_tick(five_minutes: list[MarketEvent]) -> None:
    spreads = [ev.ask_ticks - ev.bid_ticks for ev in five_minutes if isinstance(ev, BestBidOffer)]
    assert float(np.median(spreads)) == 1


def test_mid_volatility_matches_calibration(
    five_minutes: list[MarketEvent], inst: Instrument
) -> None:
    changes = np.diff(_mid_1s_usd(five_minutes, inst))
    assert float(changes.std()) == pytest.approx(PARAMS.mid_std_1s_quote, rel=0.25)


def test_mid_has_no_systematic_drift(five_minutes: list[MarketEvent], inst: Instrument) -> None:
    changes = np.diff(_mid_1s_usd(five_minutes, inst))
    assert abs(float(changes.mean())) < 4 * float(changes.std()) / np.sqrt(len(changes))
