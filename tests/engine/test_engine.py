"""Engine state machine, quoting and stop/flatten/halt against a scripted venue."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountSnapshot,
    BestBidOffer,
    BookSnapshot,
    CancelOrder,
    CancelRejected,
    Fill,
    OpenOrderInfo,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderType,
    OrderUnknown,
    PlaceOrder,
    RejectCode,
    RequestAccount,
    Side,
)
from tradetui.engine.bus import Bus
from tradetui.engine.engine import Command, CommandKind, CommandRefusedError
from tradetui.engine.events import (
    DecisionMade,
    EngineEvent,
    EngineState,
    FlattenFinished,
    OrderStatus,
    OrderUpdate,
)
from tradetui.engine.parts import build_engine
from tradetui.engine.snapshot import take_snapshot
from tradetui.engine.summary import format_summary, session_summary

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
BID, ASK = 617_000, 617_001


class ScriptedVenue:
    """Records intents; the test plays the exchange by feeding account events back."""

    name = "scripted"

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.sent: list[OrderIntent] = []
        self.clock_offset_ns = 0  # the exchange's clock − ours, as a live venue measures it

    def submit(self, intent: OrderIntent) -> None:
        self.sent.append(intent)

    def places(self) -> list[PlaceOrder]:
        return [i for i in self.sent if isinstance(i, PlaceOrder)]

    def cancels(self) -> list[CancelOrder]:
        return [i for i in self.sent if isinstance(i, CancelOrder)]


class Harness:
    def __init__(self, settings: Settings | None = None, instrument: Instrument | None = None):
        self.instrument = instrument or btcusdt_perpetual()
        self.clock = VirtualClock(T0)
        self.venue = ScriptedVenue(self.instrument)
        self.bus = Bus()
        self.events: list[EngineEvent] = []
        self.bus.subscribe(self.events.append)
        # The scripted market is silent between steps: no stale-data pulls here.
        settings = (settings or Settings()).replace("risk", stale_market_s=0.0, stale_account_s=0.0)
        self.engine = build_engine(settings, self.instrument, self.venue, self.clock, self.bus)
        self.trade_seq = 0
        self.engine.on_event(
            BookSnapshot(
                exch_ns=T0,
                local_ns=T0,
                update_id=1,
                bids=((BID, 2000), (BID - 1, 1000)),
                asks=((ASK, 2000), (ASK + 1, 1000)),
            )
        )

    def state(self) -> EngineState:
        # A call, not an attribute read, so type narrowing does not outlive engine calls.
        return self.engine.state

    def advance(self, ms: float) -> None:
        self.clock.advance_to(self.clock.now_ns() + int(ms * MS))

    def now(self) -> int:
        return self.clock.now_ns()

    def ack_all(self) -> None:
        for p in self.venue.places():
            if p.client_id in self.engine.orders:
                self.engine.on_event(
                    OrderAccepted(
                        exch_ns=self.now(), local_ns=self.now(), client_id=p.client_id, venue_id="1"
                    )
                )

    def confirm_cancels(self) -> None:
        for c in self.venue.cancels():
            if c.client_id in self.engine.orders:
                self.engine.on_event(
                    OrderCancelled(
                        exch_ns=self.now(), local_ns=self.now(), client_id=c.client_id, reason="ok"
                    )
                )

    def fill(self, p: PlaceOrder, qty_lots: int | None = None, price: int | None = None) -> None:
        qty = p.qty_lots if qty_lots is None else qty_lots
        self.trade_seq += 1
        self.engine.on_event(
            Fill(
                exch_ns=self.now(),
                local_ns=self.now(),
                client_id=p.client_id,
                trade_id=str(self.trade_seq),
                side=p.side,
                price_ticks=p.price_ticks if price is None else price,
                qty_lots=qty,
                leaves_lots=p.qty_lots - qty,
                fee=0.01,
                is_maker=True,
            )
        )

    def account(self, position_lots: int = 0, open_orders: tuple[OpenOrderInfo, ...] = ()) -> None:
        self.engine.on_event(
            AccountSnapshot(
                exch_ns=self.now(),
                local_ns=self.now(),
                position_lots=position_lots,
                open_orders=open_orders,
            )
        )

    def start(self) -> None:
        self.engine.control(Command(CommandKind.START))
        assert isinstance(self.venue.sent[-1], RequestAccount)
        self.account()
        self.engine.on_timer()


def test_start_quotes_both_sides_post_only_inside_the_touch_rules() -> None:
    h = Harness()
    h.start()
    places = h.venue.places()
    assert {p.side for p in places} == {Side.BUY, Side.SELL}
    bid = next(p for p in places if p.side is Side.BUY)
    ask = next(p for p in places if p.side is Side.SELL)
    assert bid.post_only
    assert ask.post_only
    assert bid.price_ticks <= ASK - 1 < ASK <= ask.price_ticks + 1
    assert bid.price_ticks < ask.price_ticks
    assert bid.qty_lots == ask.qty_lots == 10  # 0.01 BTC in 0.001 lots
    assert h.state() is EngineState.RUNNING


def test_decision_event_carries_explanation() -> None:
    h = Harness()
    h.start()
    decisions = [e for e in h.events if isinstance(e, DecisionMade)]
    assert decisions
    d = decisions[-1].decision
    assert d.mid_ticks == (BID + ASK) / 2
    assert d.sigma_ticks > 0
    assert d.k > 0
    assert d.a > 0
    assert d.spread_ticks > 0
    assert decisions[-1].placed == 2


def test_risk_status_is_the_last_decisions_verdict() -> None:
    h = Harness(Settings().replace("risk", max_open_orders=1))
    assert h.engine.risk_status == "allow"
    h.start()
    assert h.engine.risk_status == "allow"
    h.advance(200)
    h.engine.on_timer()
    assert h.engine.risk_status == "pull: 2 open orders > risk.max_open_orders 1"


@pytest.mark.parametrize("offset_ms", [-1500, 1500])
def test_feed_latency_is_measured_on_the_exchanges_clock(offset_ms: int) -> None:
    # The exchange's clock is offset_ms from ours (the venue measured it, as ccxt's
    # timeDifference does): its times are off by that much, not late. A real feed latency of
    # 5 ms must stay 5 ms, neither pulling quotes nor widening them.
    h = Harness()
    h.venue.clock_offset_ns = offset_ms * MS
    h.start()
    for _ in range(100):
        h.advance(10)
        now = h.now()
        h.engine.on_event(
            BestBidOffer(
                exch_ns=now - 5 * MS + offset_ms * MS,
                local_ns=now,
                update_id=0,
                bid_ticks=BID,
                bid_lots=2000,
                ask_ticks=ASK,
                ask_lots=2000,
            )
        )
    h.advance(200)
    h.engine.on_timer()
    assert h.engine.risk_status == "allow"


def test_client_ids_are_unique_and_short() -> None:
    h = Harness(Settings().replace("quoting", max_age_s=1.0, min_age_ms=0.0))
    h.start()
    for _ in range(50):
        h.ack_all()
        h.advance(1100)
        h.engine.on_timer()
        h.confirm_cancels()
    ids = [p.client_id for p in h.venue.places()]
    assert len(ids) > 50
    assert len(set(ids)) == len(ids)
    assert max(len(i) for i in ids) <= 36


def test_stop_cancels_all_and_is_stopped_only_after_confirmations() -> None:
    h = Harness()
    h.start()
    h.ack_all()
    h.engine.control(Command(CommandKind.STOP))
    assert h.state() is EngineState.STOPPING
    assert {c.client_id for c in h.venue.cancels()} == {p.client_id for p in h.venue.places()}
    h.confirm_cancels()
    assert h.state() is EngineState.STOPPED
    assert not h.engine.orders


def test_stop_times_out_into_halted_when_cancels_never_confirm() -> None:
    h = Harness()
    h.start()
    h.engine.control(Command(CommandKind.STOP))
    wake = h.engine.wakeup_ns
    assert wake is not None
    h.clock.advance_to(wake)
    h.engine.on_timer()
    assert h.state() is EngineState.HALTED
    assert "unconfirmed" in h.engine.halt_reason or "unconfirmed" in str(h.events[-1])


def test_cancel_rejected_unknown_order_forgets_it() -> None:
    h = Harness()
    h.start()
    h.engine.control(Command(CommandKind.STOP))
    for c in h.venue.cancels():
        h.engine.on_event(
            CancelRejected(
                exch_ns=h.now(),
                local_ns=h.now(),
                client_id=c.client_id,
                code=RejectCode.UNKNOWN_ORDER,
                reason="Unknown order sent.",
            )
        )
    assert h.state() is EngineState.STOPPED


def test_post_only_reject_is_counted_and_requoted() -> None:
    h = Harness()
    h.start()
    first = h.venue.places()[0]
    h.engine.on_event(
        OrderRejected(
            exch_ns=h.now(),
            local_ns=h.now(),
            client_id=first.client_id,
            code=RejectCode.POST_ONLY_WOULD_CROSS,
            reason="would cross",
        )
    )
    assert h.engine.post_only_rejects == 1
    assert first.client_id not in h.engine.orders
    h.advance(200)
    h.engine.on_timer()
    assert len(h.venue.places()) == 3
    assert h.venue.places()[-1].side is first.side


def test_flatten_closes_position_with_reduce_only_taker_order() -> None:
    h = Harness()
    h.start()
    h.ack_all()
    bid = next(p for p in h.venue.places() if p.side is Side.BUY)
    h.fill(bid)
    assert h.engine.ledger.position_lots == 10
    h.engine.control(Command(CommandKind.FLATTEN))
    assert h.state() is EngineState.FLATTENING
    h.confirm_cancels()
    close = h.venue.places()[-1]
    assert close.reduce_only
    assert close.order_type is OrderType.MARKET
    assert close.side is Side.SELL
    assert close.qty_lots == 10
    h.fill(close, price=BID)
    assert h.engine.ledger.position_lots == 0
    assert h.state() is EngineState.STOPPED
    done = [e for e in h.events if isinstance(e, FlattenFinished)]
    assert done
    assert done[-1].outcome == "flat"


def test_flatten_stops_retrying_at_dust() -> None:
    inst = dataclasses.replace(btcusdt_perpetual(), min_qty=Decimal("0.005"))
    h = Harness(instrument=inst)
    h.start()
    h.ack_all()
    bid = next(p for p in h.venue.places() if p.side is Side.BUY)
    h.fill(bid, qty_lots=3)
    h.engine.control(Command(CommandKind.FLATTEN))
    h.confirm_cancels()
    assert h.state() is EngineState.STOPPED
    assert h.engine.ledger.position_lots == 3
    done = [e for e in h.events if isinstance(e, FlattenFinished)]
    assert done[-1].outcome == "dust"
    assert not any(p.reduce_only for p in h.venue.places())


def test_flatten_with_every_close_rejected_ends_halted_at_deadline() -> None:
    h = Harness(Settings().replace("engine", flatten_timeout_s=2.0))
    h.start()
    h.ack_all()
    h.fill(next(p for p in h.venue.places() if p.side is Side.SELL))
    h.engine.control(Command(CommandKind.FLATTEN))
    h.confirm_cancels()
    for _ in range(1000):
        if h.state() is not EngineState.FLATTENING:
            break
        last = h.venue.places()[-1]
        if last.client_id in h.engine.orders:
            h.engine.on_event(
                OrderRejected(
                    exch_ns=h.now(),
                    local_ns=h.now(),
                    client_id=last.client_id,
                    code=RejectCode.INSUFFICIENT_MARGIN,
                    reason="margin",
                )
            )
        wake = h.engine.wakeup_ns
        assert wake is not None
        h.clock.advance_to(max(wake, h.now()))
        h.engine.on_timer()
    assert h.state() is EngineState.HALTED
    closes = [p for p in h.venue.places() if p.reduce_only]
    assert 2 <= len(closes) < 40  # backed off, not hammered
    assert "flatten timed out" in h.engine.halt_reason


def test_halt_cancels_and_restart_needs_confirmation() -> None:
    h = Harness()
    h.start()
    h.engine.control(Command(CommandKind.HALT, reason="kill switch"))
    assert h.state() is EngineState.HALTED
    assert len(h.venue.cancels()) == 2
    with pytest.raises(CommandRefusedError, match="halted"):
        h.engine.control(Command(CommandKind.START))
    h.engine.control(Command(CommandKind.START, confirm=True))
    h.account()
    assert h.state() is EngineState.RUNNING


def test_symbol_cannot_change_while_running() -> None:
    h = Harness()
    h.start()
    with pytest.raises(CommandRefusedError, match="symbol"):
        h.engine.control(
            Command(CommandKind.SET_PARAMS, section="venue", changes=(("symbol", "ETHUSDT"),))
        )


def test_invalid_parameter_is_refused_and_nothing_applied() -> None:
    h = Harness()
    before = h.engine.settings
    with pytest.raises(CommandRefusedError, match=r"strategy\.gamma: must be > 0"):
        h.engine.control(
            Command(CommandKind.SET_PARAMS, section="strategy", changes=(("gamma", -1.0),))
        )
    assert h.engine.settings is before


def test_order_size_change_replaces_working_orders() -> None:
    h = Harness(Settings().replace("quoting", min_age_ms=0.0))
    h.start()
    h.ack_all()
    h.engine.control(
        Command(CommandKind.SET_PARAMS, section="strategy", changes=(("order_size", 0.02),))
    )
    h.advance(200)
    h.engine.on_timer()
    new = h.venue.places()[2:]
    assert {p.qty_lots for p in new} == {20}
    assert len(h.venue.cancels()) == 2


def test_best_bid_offer_newer_than_book_sets_the_touch() -> None:
    h = Harness()
    h.engine.on_event(
        BestBidOffer(
            exch_ns=T0,
            local_ns=T0,
            update_id=5,
            bid_ticks=BID + 10,
            bid_lots=1,
            ask_ticks=ASK + 10,
            ask_lots=1,
        )
    )
    assert (h.engine.bid_ticks, h.engine.ask_ticks) == (BID + 10, ASK + 10)
    stale = BestBidOffer(
        exch_ns=T0, local_ns=T0, update_id=4, bid_ticks=BID, bid_lots=1, ask_ticks=ASK, ask_lots=1
    )
    h.engine.on_event(stale)
    assert h.engine.bid_ticks == BID + 10


def test_start_waits_for_the_account_and_refuses_without_it() -> None:
    h = Harness()
    h.engine.control(Command(CommandKind.START))
    assert h.state() is EngineState.STARTING
    assert not h.venue.places()
    wake = h.engine.wakeup_ns
    assert wake is not None
    h.clock.advance_to(wake)
    h.engine.on_timer()
    assert h.state() is EngineState.STOPPED
    assert not h.venue.places()


def test_start_cancels_our_leftover_orders_and_leaves_foreign_ones() -> None:
    h = Harness()
    h.engine.control(Command(CommandKind.START))
    leftovers = (
        OpenOrderInfo(client_id="tt0old-1", side=Side.BUY, price_ticks=BID - 5, leaves_lots=10),
        OpenOrderInfo(client_id="manual-7", side=Side.SELL, price_ticks=ASK + 9, leaves_lots=3),
    )
    h.account(open_orders=leftovers)
    assert h.state() is EngineState.RUNNING
    assert [c.client_id for c in h.venue.cancels()] == ["tt0old-1"]
    assert "manual-7" not in h.engine.orders


def test_start_can_adopt_our_leftover_orders() -> None:
    h = Harness(Settings().replace("engine", orders_on_start="adopt"))
    h.engine.control(Command(CommandKind.START))
    h.account(
        open_orders=(
            OpenOrderInfo(client_id="tt0old-1", side=Side.BUY, price_ticks=BID - 5, leaves_lots=10),
        )
    )
    assert not h.venue.cancels()
    assert "tt0old-1" in h.engine.orders


def test_start_adopts_a_venue_position_when_flat() -> None:
    h = Harness()
    h.engine.control(Command(CommandKind.START))
    h.account(position_lots=-7)
    assert h.state() is EngineState.RUNNING
    assert h.engine.ledger.position_lots == -7
    assert h.engine.pnl().volume_quote == 0


def test_start_refuses_when_positions_disagree() -> None:
    h = Harness()
    h.start()
    h.ack_all()
    h.fill(next(p for p in h.venue.places() if p.side is Side.BUY))
    h.engine.control(Command(CommandKind.STOP))
    h.confirm_cancels()
    h.engine.control(Command(CommandKind.START))
    h.account(position_lots=0)
    assert h.state() is EngineState.STOPPED


def test_position_drift_on_two_reads_halts_without_flattening() -> None:
    h = Harness()
    h.start()
    h.ack_all()
    h.fill(next(p for p in h.venue.places() if p.side is Side.BUY))
    h.account(position_lots=10)
    assert h.state() is EngineState.RUNNING
    h.account(position_lots=4)
    assert h.state() is EngineState.RUNNING  # one read can race a fill report
    h.account(position_lots=4)
    assert h.state() is EngineState.HALTED
    assert "position drift" in h.engine.halt_reason
    assert not any(p.reduce_only for p in h.venue.places())


def test_engine_reads_the_account_periodically_while_running() -> None:
    h = Harness()
    h.start()
    before = sum(isinstance(i, RequestAccount) for i in h.venue.sent)
    for _ in range(25):
        h.advance(1000)
        h.engine.on_timer()
    after = sum(isinstance(i, RequestAccount) for i in h.venue.sent)
    assert after - before == 2  # every risk.account_check_s = 10 s


def test_an_unknown_placement_holds_its_side_and_shows_as_unknown_until_answered() -> None:
    h = Harness(Settings().replace("quoting", min_age_ms=0.0))
    h.start()
    first = h.venue.places()[0]
    h.engine.on_event(
        OrderUnknown(
            exch_ns=h.now(),
            local_ns=h.now(),
            client_id=first.client_id,
            cancel=False,
            reason="HTTP 503 -1001",
        )
    )
    for _ in range(5):
        h.advance(200)
        h.engine.on_timer()

    # Worst case: it may be on the book, so it stays a working order and no second quote
    # goes to its side; the snapshot and the order events say it is unknown.
    assert len(h.venue.places()) == 2
    assert not h.venue.cancels()
    [quote] = [q for q in take_snapshot(h.engine, 1).quotes if q.client_id == first.client_id]
    assert quote.unknown
    statuses = [
        e.status for e in h.events if isinstance(e, OrderUpdate) and e.client_id == first.client_id
    ]
    assert statuses == [OrderStatus.SENT, OrderStatus.UNKNOWN]
    h.ack_all()
    assert not h.engine.orders[first.client_id].unknown


def test_a_frozen_engine_abandons_its_flatten_and_places_nothing_more() -> None:
    h = Harness()
    h.start()
    h.ack_all()
    h.fill(next(p for p in h.venue.places() if p.side is Side.BUY))
    h.engine.control(Command(CommandKind.FLATTEN))
    assert h.state() is EngineState.FLATTENING
    placed = len(h.venue.places())
    h.engine.freeze("hurried stop")
    assert h.state() is EngineState.STOPPING
    h.confirm_cancels()
    assert h.state() is EngineState.STOPPED
    # Neither a flatten, a start nor a halt places anything from now on.
    with pytest.raises(CommandRefusedError, match="shutting down"):
        h.engine.control(Command(CommandKind.FLATTEN))
    with pytest.raises(CommandRefusedError, match="shutting down"):
        h.engine.control(Command(CommandKind.START))
    h.engine.control(Command(CommandKind.HALT, reason="late halt"))
    h.advance(60_000)
    h.engine.on_timer()
    assert len(h.venue.places()) == placed
    assert h.engine.ledger.position_lots == 10


def test_after_a_feed_gap_the_position_is_marked_at_the_last_valid_mid() -> None:
    h = Harness()
    h.start()
    h.ack_all()
    bid = next(p for p in h.venue.places() if p.side is Side.BUY)
    h.fill(bid)
    mid = (BID + ASK) / 2
    assert h.engine.pnl().mark == pytest.approx(mid * 0.1)
    h.advance(10)
    # A sequence gap: the feed's empty snapshot, and no snapshot after it.
    h.engine.on_event(
        BookSnapshot(exch_ns=h.now(), local_ns=h.now(), update_id=9, bids=(), asks=())
    )
    assert h.engine.mid_ticks == 0
    pnl = h.engine.pnl()
    assert pnl.mark == pytest.approx(mid * 0.1)  # not the entry price (the bid)
    assert float(pnl.unrealized) == pytest.approx((mid - bid.price_ticks) * 0.1 * 0.01)
    summary = session_summary(h.engine, 1.0)
    assert summary["mark"] == pytest.approx(mid * 0.1)
    assert summary["mark_source"] == (
        "last valid mid: the book is unknown since a feed gap at 2023-11-14T22:13:20.010+00:00"
    )
    assert "marked at" in format_summary(summary)


def test_engine_measures_adverse_selection_from_its_fills_into_the_fee_floor() -> None:
    h = Harness(
        Settings().replace(
            "strategy",
            adverse_allowance_prior_bps=0.5,
            adverse_horizon_s=1.0,
            adverse_halflife_fills=1.0,
        )
    )
    h.start()
    d = h.engine.last_decision
    assert d is not None
    mid = (BID + ASK) / 2
    # btcusdt_perpetual's 2 bps maker fee plus the 0.5 bps prior, in ticks of the mid.
    assert d.fee_bps == pytest.approx(2.0)
    assert d.adverse_bps == 0.5
    assert d.floor_ticks == pytest.approx(2.5e-4 * mid)
    bid = next(p for p in h.venue.places() if p.side is Side.BUY)
    assert bid.price_ticks <= mid - d.floor_ticks
    h.ack_all()
    h.fill(bid)
    # One second later the mid is 200 ticks lower: the buy lost 200 / mid × 1e4 bps.
    h.advance(1000)
    h.engine.on_event(
        BestBidOffer(
            exch_ns=h.now(),
            local_ns=h.now(),
            update_id=10,
            bid_ticks=BID - 200,
            bid_lots=1,
            ask_ticks=ASK - 200,
            ask_lots=1,
        )
    )
    h.engine.on_timer()
    d = h.engine.last_decision
    assert d is not None
    moved = 200 / mid * 1e4
    assert d.adverse_bps == pytest.approx(0.5 + (moved - 0.5) / 2)
    assert d.floor_ticks == pytest.approx((2.0 + d.adverse_bps) * 1e-4 * (mid - 200))
    assert h.engine.adverse.resolved == 1


def test_fee_floor_off_quotes_the_model_alone() -> None:
    h = Harness(Settings().replace("strategy", fee_floor=False))
    h.start()
    d = h.engine.last_decision
    assert d is not None
    assert d.floor_ticks == 0.0
    assert not any(a.startswith("fee floor") for a in d.adjustments)


def test_changing_the_adverse_settings_at_run_time_restarts_the_measurement() -> None:
    h = Harness()
    h.start()
    before = h.engine.adverse
    h.engine.control(
        Command(CommandKind.SET_PARAMS, section="strategy", changes=(("gamma", 0.05),))
    )
    assert h.engine.adverse is before
    h.engine.control(
        Command(
            CommandKind.SET_PARAMS,
            section="strategy",
            changes=(("adverse_allowance_prior_bps", 3.0),),
        )
    )
    assert h.engine.adverse is not before
    assert h.engine.adverse.allowance_bps == 3.0
    h.advance(200)
    h.engine.on_timer()
    d = h.engine.last_decision
    assert d is not None
    assert d.adverse_bps == 3.0


def test_commands_add_no_decision_latency_sample() -> None:
    # Decision latency is event in → first intent out. A command's cancels (stop, halt,
    # flatten, freeze) answer no event: timed from the last event handled, they would add
    # how long the engine sat idle (the quit's stop showed as a p99 of milliseconds).
    for kind in (CommandKind.STOP, CommandKind.HALT, CommandKind.FLATTEN, None):
        h = Harness()
        h.start()
        h.ack_all()  # an event that decides nothing
        count = h.engine.latency_count
        assert count > 0
        if kind is None:
            h.engine.freeze("shutdown")
        else:
            h.engine.control(Command(kind))
        assert h.venue.cancels()
        assert h.engine.latency_count == count
