"""OrderBook against a plain dict model under random snapshots, deltas, touches and level sets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tradetui.core import book as book_module
from tradetui.core.book import OrderBook
from tradetui.core.types import BookDelta, Level, Side

# A narrow price band makes updates hit existing levels, the best level and removals often.
prices = st.integers(min_value=1, max_value=40)
sizes = st.integers(min_value=0, max_value=5)  # 0 removes (or is ignored in a snapshot)
level_lists = st.lists(st.tuples(prices, sizes), max_size=12)
depths = st.integers(min_value=0, max_value=45)


def delta(bids: list[Level], asks: list[Level]) -> BookDelta:
    return BookDelta.of(
        exch_ns=0, local_ns=0, first_id=0, last_id=0, prev_id=0, bids=tuple(bids), asks=tuple(asks)
    )


class BookMachine(RuleBasedStateMachine):
    """Every rule changes the book and the model the same way; invariants compare them."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook()
        self.model: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}

    def _model_set(self, side: Side, price: int, qty: int) -> None:
        if qty > 0:
            self.model[side][price] = qty
        else:
            self.model[side].pop(price, None)

    @rule(bids=level_lists, asks=level_lists)
    def snapshot(self, bids: list[Level], asks: list[Level]) -> None:
        self.book.apply_snapshot(bids, asks)
        # A snapshot lists levels, not changes: a zero size is skipped, never a removal.
        self.model = {
            Side.BUY: {p: q for p, q in bids if q > 0},
            Side.SELL: {p: q for p, q in asks if q > 0},
        }

    @rule(bids=level_lists, asks=level_lists)
    def delta(self, bids: list[Level], asks: list[Level]) -> None:
        self.book.apply_delta(delta(bids, asks))
        for p, q in bids:
            self._model_set(Side.BUY, p, q)
        for p, q in asks:
            self._model_set(Side.SELL, p, q)

    @rule(batch=st.lists(st.tuples(level_lists, level_lists), min_size=2, max_size=6))
    def deltas(self, batch: list[tuple[list[Level], list[Level]]]) -> None:
        # Several updates between two reads: the band follows every one of them.
        for bids, asks in batch:
            self.delta(bids, asks)

    @rule(side=st.sampled_from(Side), price=prices, qty=sizes)
    def set_level(self, side: Side, price: int, qty: int) -> None:
        self.book.set_level(side, price, qty)
        self._model_set(side, price, qty)

    @rule(bid=st.integers(0, 40), bid_lots=sizes, ask=st.integers(0, 40), ask_lots=sizes)
    def touch(self, bid: int, bid_lots: int, ask: int, ask_lots: int) -> None:
        self.book.set_touch(bid, bid_lots, ask, ask_lots)
        # A best bid/offer removes every level better than it; price 0 means an empty side.
        bids, asks = self.model[Side.BUY], self.model[Side.SELL]
        self.model[Side.BUY] = {p: q for p, q in bids.items() if p <= bid}
        self.model[Side.SELL] = {p: q for p, q in asks.items() if ask and p >= ask}
        if bid:
            self._model_set(Side.BUY, bid, bid_lots)
        if ask:
            self._model_set(Side.SELL, ask, ask_lots)

    @rule(side=st.sampled_from(Side))
    def remove_best(self, side: Side) -> None:
        levels = self.model[side]
        if not levels:
            return
        best = max(levels) if side is Side.BUY else min(levels)
        self.book.set_level(side, best, 0)
        del levels[best]
        next_best = self.book.bid_ticks if side is Side.BUY else self.book.ask_ticks
        if levels:
            assert next_best == (max(levels) if side is Side.BUY else min(levels))
        else:
            assert next_best == 0

    @invariant()
    def best_prices_match_model(self) -> None:
        bids, asks = self.model[Side.BUY], self.model[Side.SELL]
        assert self.book.bid_ticks == (max(bids) if bids else 0)
        assert self.book.ask_ticks == (min(asks) if asks else 0)
        assert self.book.bid_lots == bids.get(self.book.bid_ticks, 0)
        assert self.book.ask_lots == asks.get(self.book.ask_ticks, 0)

    @invariant()
    def levels_are_the_model_sorted_best_first(self) -> None:
        for side in Side:
            expected = sorted(self.model[side].items(), reverse=side is Side.BUY)
            assert self.book.levels(side, 10**6) == expected
            assert self.book.level_count(side) == len(expected)

    @invariant()
    def queries_match_model(self) -> None:
        for side in Side:
            ordered = sorted(self.model[side].items(), reverse=side is Side.BUY)
            for n in (0, 1, 3):
                assert self.book.levels(side, n) == ordered[:n]
                assert self.book.depth_lots(side, n) == sum(q for _, q in ordered[:n])
            for price in range(42):
                assert self.book.qty_at(side, price) == self.model[side].get(price, 0)

    @invariant()
    def derived_prices_are_within_the_touch(self) -> None:
        book = self.book
        assert -1.0 <= book.imbalance(1) <= 1.0
        assert -1.0 <= book.imbalance(5) <= 1.0
        if book.bid_ticks and book.ask_ticks:
            low, high = sorted((book.bid_ticks, book.ask_ticks))
            assert low <= book.microprice_ticks() <= high
            assert book.mid_ticks() == (book.bid_ticks + book.ask_ticks) / 2
        else:
            assert book.mid_ticks() == 0.0
        assert book.valid == (0 < book.bid_ticks < book.ask_ticks)
        assert book.spread_ticks() == (book.ask_ticks - book.bid_ticks if book.valid else 0)


TestBookAgainstModel = BookMachine.TestCase
TestBookAgainstModel.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


TIGHT = {
    "_BAND_DEPTH": 0,
    "_BAND_MIN_TICKS": 1,
    "_BAND_MAX_LEVELS": 2,
    "_SWEEP_MIN_KEYS": 6,
}


class TightBookMachine(BookMachine):
    """The same rules with a band one tick deeper than the levels read, sweeps of a few keys
    and whole-side reads from three levels on: reads run past the band, rebuild it, narrow it
    and sort the side all the time, and updates add and drop its prices at its edge."""

    def __init__(self) -> None:
        self._saved = {name: getattr(book_module, name) for name in TIGHT}
        for name, value in TIGHT.items():
            setattr(book_module, name, value)
        super().__init__()

    def teardown(self) -> None:
        for name, value in self._saved.items():
            setattr(book_module, name, value)


TestTightBookAgainstModel = TightBookMachine.TestCase
TestTightBookAgainstModel.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)


def make_book(bids: list[Level], asks: list[Level]) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot(bids, asks)
    return book


def test_microprice_leans_toward_the_thinner_side() -> None:
    book = make_book([(100, 9)], [(102, 1)])  # little ask size: the next trade likely lifts it
    assert book.mid_ticks() == 101.0
    assert book.microprice_ticks() == pytest.approx(101.8)


def test_imbalance_is_signed_by_the_heavier_side() -> None:
    assert make_book([(100, 3)], [(101, 1)]).imbalance() == pytest.approx(0.5)
    assert make_book([(100, 1)], [(101, 3)]).imbalance() == pytest.approx(-0.5)
    assert OrderBook().imbalance() == 0.0


def test_removing_the_best_level_exposes_the_next() -> None:
    book = make_book([(100, 1), (99, 2), (97, 3)], [(101, 1), (103, 2)])
    book.set_level(Side.BUY, 100, 0)
    book.apply_delta(delta([], [(101, 0)]))
    assert (book.bid_ticks, book.bid_lots) == (99, 2)
    assert (book.ask_ticks, book.ask_lots) == (103, 2)


def test_snapshot_ignores_zero_sizes_and_replaces_the_book() -> None:
    book = make_book([(100, 1)], [(101, 1)])
    book.apply_snapshot([(90, 0), (89, 4)], [(95, 2)])
    assert book.levels(Side.BUY, 5) == [(89, 4)]
    assert book.levels(Side.SELL, 5) == [(95, 2)]


def test_removing_an_absent_level_changes_nothing() -> None:
    book = make_book([(100, 1)], [(101, 1)])
    book.set_level(Side.BUY, 98, 0)
    assert book.levels(Side.BUY, 5) == [(100, 1)]


@given(st.lists(st.tuples(prices, st.integers(min_value=1, max_value=5)), min_size=1))
def test_one_sided_book_has_no_mid(bids: list[Level]) -> None:
    book = make_book(bids, [])
    assert book.mid_ticks() == 0.0
    assert book.microprice_ticks() == 0.0
    assert not book.valid


# Prices far apart (more than the book's tick-stepping budgets) exercise its fallbacks.
wide_levels = st.lists(
    st.tuples(st.integers(min_value=1, max_value=200_000), sizes), min_size=1, max_size=8
)


@given(st.lists(st.tuples(wide_levels, wide_levels), min_size=1, max_size=25))
@settings(max_examples=100, deadline=None)
def test_sparse_books_find_their_best_and_top_levels(
    deltas: list[tuple[list[Level], list[Level]]],
) -> None:
    book = OrderBook()
    model: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}
    for bids, asks in deltas:
        book.apply_delta(delta(bids, asks))
        for side, levels in ((Side.BUY, bids), (Side.SELL, asks)):
            for p, q in levels:
                if q > 0:
                    model[side][p] = q
                else:
                    model[side].pop(p, None)
        for side in Side:
            ordered = sorted(model[side].items(), reverse=side is Side.BUY)
            assert book.levels(side, 3) == ordered[:3]
            assert book.levels(side, 10**6) == ordered
        assert book.bid_ticks == max(model[Side.BUY], default=0)
        assert book.ask_ticks == min(model[Side.SELL], default=0)


def test_a_negative_size_reads_as_no_level() -> None:
    book = make_book([(100, 1), (99, 2)], [(101, 1)])
    book.apply_delta(delta([(100, -1)], []))
    assert (book.bid_ticks, book.bid_lots) == (99, 2)
    assert book.qty_at(Side.BUY, 100) == 0
    assert book.levels(Side.BUY, 5) == [(99, 2)]
