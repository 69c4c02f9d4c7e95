"""Queue-aware matching of our orders against an exogenous L2 market.

The market book is rebuilt from market events only; our orders are virtual and never change it.
One account (ours) is tracked: open orders, signed position in lots, fills. Pure and
synchronous, so the simulated venue and the loopback exchange server can share it.

Fill rules, in short:

- A resting order joins the back of its level: ``queue_ahead`` = displayed size on arrival.
- A public trade at our price (aggressor on the other side) first eats the queue ahead; the
  rest fills our orders at that level in arrival order, never more than the trade's size.
- A public trade strictly through our price fills us too, capped at the trade's size (the
  aggressor had at least that much left when it reached our price). hftbacktest fills fully
  here; we are more conservative, and the book moving through us still fills us fully.
- A size decrease at our level not explained by trades since the last depth update there is a
  cancel, split by the queue model (see ``tradetui.matching.queue``).
- When the opposite touch changes to our price or through it, we fill fully as maker at our
  price.
- Taker orders walk the displayed opposite levels without consuming them. The remainder of a
  crossing limit rests and is not matched against the liquidity it just walked: it fills on
  trades, or when the opposite touch next changes to its price or through it.
- A reduce-only order larger than the position is cut to it on arrival; one that finds no
  position left to reduce when it would fill is expired (OrderCancelled) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import (
    BUY,
    SELL,
    AccountEvent,
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    CancelRejected,
    Fill,
    MarketEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    RejectCode,
    Side,
    Trade,
)
from tradetui.matching.queue import QueueModel, ahead_after_cancel

MAX_CLIENT_ID_LEN = 36
# Whole lots executable from a float queue estimate: absorbs float error, never rounds up.
_LOT_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class MatchingConfig:
    """Matching settings.

    ``queue_model``: how cancels at our level move us forward (default ``risk_averse``, the
    conservative choice that needs no tuning). ``power_exponent``: n in f(x) = x**n for the
    ``power`` model (dimensionless, > 0; default 2.0, hftbacktest's square model).
    ``spot_short``: on a spot instrument, sells may exceed the base held (margin borrowing);
    off, a sell larger than the base held and not already offered by our open sells is
    refused, as Binance spot refuses it (-2010 "Account has insufficient balance for
    requested action"). The account starts with no base.
    """

    queue_model: QueueModel = QueueModel.RISK_AVERSE
    power_exponent: float = 2.0
    spot_short: bool = False

    def __post_init__(self) -> None:
        try:
            model = QueueModel(self.queue_model)
        except ValueError:
            names = ", ".join(m.value for m in QueueModel)
            raise ValueError(
                f"matching queue_model {self.queue_model!r} is unknown; use one of: {names}"
            ) from None
        object.__setattr__(self, "queue_model", model)
        if not self.power_exponent > 0:
            raise ValueError(f"matching power_exponent must be positive, got {self.power_exponent}")


class OpenOrder(NamedTuple):
    """A resting order as the matching engine sees it (ticks, lots; the queue is an estimate)."""

    side: Side
    price_ticks: int
    leaves_lots: int
    queue_ahead_lots: float


class _Order:
    __slots__ = ("ahead_lots", "client_id", "leaves_lots", "price_ticks", "reduce_only", "side")

    def __init__(
        self, client_id: str, side: Side, price_ticks: int, lots: int, reduce_only: bool
    ) -> None:
        self.client_id = client_id
        self.side = side
        self.price_ticks = price_ticks
        self.leaves_lots = lots
        self.reduce_only = reduce_only
        self.ahead_lots = 0.0


class _Level:
    """Our orders at one price, FIFO, with the level's displayed size as last seen (lots)."""

    __slots__ = ("orders", "size_lots", "traded_lots")

    def __init__(self, size_lots: int) -> None:
        self.orders: list[_Order] = []
        self.size_lots = size_lots
        # Public volume traded here since the last depth change, so the depth decrease it
        # causes is not counted a second time as a cancel.
        self.traded_lots = 0


class MatchingEngine:
    """Our virtual orders matched against a market book rebuilt from market events."""

    def __init__(self, instrument: Instrument, config: MatchingConfig) -> None:
        inst = self._inst = instrument
        self._model = config.queue_model
        self._exponent = config.power_exponent
        self._no_short = inst.kind is InstrumentKind.SPOT and not config.spot_short
        self._book = OrderBook()
        self._orders: dict[str, _Order] = {}
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._best_bid_ticks = 0  # our best resting bid, 0 = none
        self._best_ask_ticks = 0  # our best resting ask, 0 = none
        self._position_lots = 0
        self._venue_seq = 0
        self._trade_seq = 0

    # ---- read-only views --------------------------------------------------------------------

    @property
    def book(self) -> OrderBook:
        """The market book (do not mutate)."""
        return self._book

    @property
    def position_lots(self) -> int:
        """Our signed position in lots (long > 0)."""
        return self._position_lots

    @property
    def open_order_count(self) -> int:
        """Number of our resting orders."""
        return len(self._orders)

    @property
    def open_orders(self) -> dict[str, OpenOrder]:
        """Our resting orders by client id."""
        return {
            cid: OpenOrder(o.side, o.price_ticks, o.leaves_lots, o.ahead_lots)
            for cid, o in self._orders.items()
        }

    # ---- market ------------------------------------------------------------------------------

    def on_market(self, ev: MarketEvent, t_ns: int) -> list[AccountEvent]:
        """Apply a market event at exchange time ``t_ns`` (ns); returns fills of our orders."""
        book = self._book
        if type(ev) is BestBidOffer:
            prev_bid, prev_ask = book.bid_ticks, book.ask_ticks
            # A best bid/offer also says every level better than it is gone.
            book.set_touch(ev.bid_ticks, ev.bid_lots, ev.ask_ticks, ev.ask_lots)
            if not self._orders:
                return []
            # Only our levels at or through the new touch can have changed.
            if self._best_bid_ticks and self._best_bid_ticks >= ev.bid_ticks:
                self._resync(BUY, self._bids, False)
            if self._best_ask_ticks and (not ev.ask_ticks or self._best_ask_ticks <= ev.ask_ticks):
                self._resync(SELL, self._asks, False)
        elif type(ev) is Trade:
            if ev.aggressor is BUY:
                if self._best_ask_ticks and ev.price_ticks >= self._best_ask_ticks:
                    return self._trade(ev, self._asks, t_ns)
            elif self._best_bid_ticks and ev.price_ticks <= self._best_bid_ticks:
                return self._trade(ev, self._bids, t_ns)
            return []
        elif type(ev) is BookDelta:
            if not self._orders:
                book.apply_delta(ev)
                return []
            prev_bid, prev_ask = book.bid_ticks, book.ask_ticks
            book.apply_delta(ev)
            # We rest at a level or two, a delta lists dozens: read our levels' new sizes
            # off the book (a price listed twice counts at its last size, as in the book).
            if self._bids:
                self._after_delta(BUY, self._bids, ev.bids)
            if self._asks:
                self._after_delta(SELL, self._asks, ev.asks)
        elif type(ev) is BookSnapshot:
            prev_bid, prev_ask = book.bid_ticks, book.ask_ticks
            book.apply_snapshot(ev.bids, ev.asks)
            if not self._orders:
                return []
            self._resync(BUY, self._bids, True)
            self._resync(SELL, self._asks, True)
        # The same tests as ``_cross`` makes, so most touch changes skip the call.
        ask, bid = book.ask_ticks, book.bid_ticks
        if (ask and ask != prev_ask and self._best_bid_ticks and ask <= self._best_bid_ticks) or (
            bid and bid != prev_bid and self._best_ask_ticks and bid >= self._best_ask_ticks
        ):
            return self._cross(prev_bid, prev_ask, t_ns)
        return []

    def _after_delta(
        self, side: Side, levels: dict[int, _Level], listed: tuple[tuple[int, int], ...]
    ) -> None:
        """Bring our levels in line with the book after a delta that listed ``listed``.

        A level the delta did not list keeps its size. One it listed at an unchanged size
        needs a depth update only when trades were counted there since the last one (with
        none counted, the update changes nothing), so the delta is searched for it only then.
        """
        qty_at = self._book.qty_at
        for p, lvl in levels.items():
            new_lots = qty_at(side, p)
            if new_lots != lvl.size_lots or (
                lvl.traded_lots and any(price == p for price, _ in listed)
            ):
                self._depth(lvl, new_lots)

    def _resync(self, side: Side, levels: dict[int, _Level], always: bool) -> None:
        """Bring our levels' sizes in line with the book after a BBO or snapshot."""
        qty_at = self._book.qty_at
        for p, lvl in levels.items():
            new_lots = qty_at(side, p)
            if always or new_lots != lvl.size_lots:
                self._depth(lvl, new_lots)

    def _depth(self, lvl: _Level, new_lots: int) -> None:
        before_lots = lvl.size_lots
        cancelled_lots = before_lots - new_lots - lvl.traded_lots
        lvl.size_lots = new_lots
        lvl.traded_lots = 0
        for o in lvl.orders:
            o.ahead_lots = ahead_after_cancel(
                self._model, self._exponent, o.ahead_lots, before_lots, new_lots, cancelled_lots
            )

    def _cross(self, prev_bid: int, prev_ask: int, t_ns: int) -> list[AccountEvent]:
        book = self._book
        out: list[AccountEvent] = []
        ask = book.ask_ticks
        if ask and ask != prev_ask and self._best_bid_ticks and ask <= self._best_bid_ticks:
            for p in sorted(self._bids, reverse=True):
                if p < ask:
                    break
                for o in tuple(self._bids[p].orders):
                    self._fill(o, o.leaves_lots, p, True, t_ns, out)
        bid = book.bid_ticks
        if bid and bid != prev_bid and self._best_ask_ticks and bid >= self._best_ask_ticks:
            for p in sorted(self._asks):
                if p > bid:
                    break
                for o in tuple(self._asks[p].orders):
                    self._fill(o, o.leaves_lots, p, True, t_ns, out)
        return out

    def _trade(self, ev: Trade, levels: dict[int, _Level], t_ns: int) -> list[AccountEvent]:
        out: list[AccountEvent] = []
        trade_lots = ev.qty_lots
        budget_lots = trade_lots  # our fills from one print never exceed its size
        px = ev.price_ticks
        if ev.aggressor is BUY:
            prices = sorted(p for p in levels if p <= px)
        else:
            prices = sorted((p for p in levels if p >= px), reverse=True)
        for p in prices:
            lvl = levels[p]
            if p != px:
                # Strictly through our price: the whole queue ahead of us is gone.
                for o in tuple(lvl.orders):
                    o.ahead_lots = 0.0
                    if budget_lots > 0:
                        budget_lots -= self._fill(o, budget_lots, p, True, t_ns, out)
                continue
            lvl.traded_lots += trade_lots
            ours_ahead_lots = 0
            for o in tuple(lvl.orders):
                leaves_before = o.leaves_lots
                executable = trade_lots - o.ahead_lots - ours_ahead_lots
                o.ahead_lots = o.ahead_lots - trade_lots if o.ahead_lots > trade_lots else 0.0
                if executable >= 1.0 and budget_lots > 0:
                    lots = min(int(executable + _LOT_EPS), budget_lots)
                    budget_lots -= self._fill(o, lots, p, True, t_ns, out)
                ours_ahead_lots += leaves_before
        return out

    # ---- orders ------------------------------------------------------------------------------

    def place(
        self,
        client_id: str,
        side: Side,
        price: Decimal,
        qty: Decimal,
        *,
        order_type: OrderType = OrderType.LIMIT,
        post_only: bool = True,
        reduce_only: bool = False,
        t_ns: int,
    ) -> list[AccountEvent]:
        """Accept or reject an order arriving at exchange time ``t_ns`` (ns).

        ``price`` and ``qty`` are decimals in quote and base currency; ``price`` is ignored
        for market orders. A reduce-only order larger than the position is cut to it.
        """
        inst = self._inst
        book = self._book
        refused = self.refusal(
            client_id, side, price, qty, order_type=order_type, reduce_only=reduce_only
        )
        if refused is not None:
            return self._reject(client_id, *refused, t_ns)
        is_market = order_type is OrderType.MARKET
        if is_market:
            price_ticks = book.ask_ticks if side is BUY else book.bid_ticks
        else:
            price_ticks = inst.ticks_exact(price) or 0
        lots = inst.lots_exact(qty) or 0
        if reduce_only:
            lots = min(lots, abs(self._position_lots))
        touch = book.ask_ticks if side is BUY else book.bid_ticks
        crosses = bool(touch) and (price_ticks >= touch if side is BUY else price_ticks <= touch)
        if post_only and crosses and not is_market:
            return self._reject(
                client_id,
                RejectCode.POST_ONLY_WOULD_CROSS,
                f"post-only {side.name.lower()} at {price} would trade at once against "
                f"the best {'ask' if side is BUY else 'bid'} {inst.price(touch)}",
                t_ns,
            )

        self._venue_seq += 1
        out: list[AccountEvent] = [
            OrderAccepted(
                exch_ns=t_ns, local_ns=t_ns, client_id=client_id, venue_id=str(self._venue_seq)
            )
        ]
        order = _Order(client_id, side, price_ticks, lots, reduce_only)
        if is_market or crosses:
            self._take(order, None if is_market else price_ticks, t_ns, out)
        if order.leaves_lots > 0:
            if is_market:
                out.append(
                    OrderCancelled(
                        exch_ns=t_ns,
                        local_ns=t_ns,
                        client_id=client_id,
                        reason="market order remainder expired: no more displayed liquidity",
                    )
                )
            else:
                self._rest(order)
        return out

    def refusal(
        self,
        client_id: str,
        side: Side,
        price: Decimal,
        qty: Decimal,
        *,
        order_type: OrderType = OrderType.LIMIT,
        reduce_only: bool = False,
    ) -> tuple[RejectCode, str] | None:
        """Why the venue's rules refuse this order as it stands now (code, reason), or None:
        client id, price and quantity filters, the price band around the mid, the minimum
        notional and reduce-only direction. Whether a post-only order would cross is decided
        on placement."""
        inst = self._inst
        book = self._book
        if not 0 < len(client_id) <= MAX_CLIENT_ID_LEN:
            return (
                RejectCode.OTHER,
                f"client order id must be 1 to {MAX_CLIENT_ID_LEN} characters",
            )
        if client_id in self._orders:
            return (
                RejectCode.DUPLICATE_CLIENT_ID,
                f"client order id {client_id!r} is already used by an open order",
            )
        is_market = order_type is OrderType.MARKET
        if is_market:
            price_ticks = book.ask_ticks if side is BUY else book.bid_ticks
        else:
            ticks = inst.ticks_exact(price)
            if ticks is None:
                return (
                    RejectCode.OFF_TICK,
                    f"price {price} is not a multiple of the tick size {inst.tick_size}",
                )
            if ticks <= 0:
                return (RejectCode.OTHER, f"price {price} must be positive")
            price_ticks = ticks
            code = inst.check_price(side, ticks, 0)
            if code is RejectCode.ABOVE_MAX_PRICE:
                return (code, f"price {price} is above the maximum {inst.max_price}")
            if code is RejectCode.BELOW_MIN_PRICE:
                return (code, f"price {price} is below the minimum {inst.min_price}")
        lots = inst.lots_exact(qty)
        if lots is None or lots % inst.step_lots:
            return (
                RejectCode.OFF_STEP,
                f"quantity {qty} is not a multiple of the step size "
                f"{inst.order_step or inst.lot_size}",
            )
        if is_market and not price_ticks:
            return (
                RejectCode.NO_LIQUIDITY,
                f"market {side.name.lower()} has nothing to trade against: the book is empty",
            )
        code = inst.check(price_ticks, lots)
        if code is RejectCode.BELOW_MIN_QTY:
            return (code, f"quantity {qty} is below the minimum {inst.min_qty}")
        if code is RejectCode.ABOVE_MAX_QTY:
            return (code, f"quantity {qty} is above the maximum {inst.max_qty}")
        if not is_market and book.bid_ticks and book.ask_ticks:
            # The band is around the exchange's mark price; the mid stands in for it here.
            mark = (book.bid_ticks + book.ask_ticks) / 2
            band = inst.check_price(side, price_ticks, mark)
            if band is not None:
                edge = inst.band_limit_ticks(side, mark) or 0
                return (
                    band,
                    f"price {price} is {'above' if side is BUY else 'below'} the venue's "
                    f"price band {inst.price(edge)} around the mark {mark * inst.tick:g}",
                )
        # Binance exempts reduce-only orders from the minimum notional.
        if code is RejectCode.BELOW_MIN_NOTIONAL and not reduce_only:
            notional = inst.price(price_ticks) * inst.qty(lots)
            return (code, f"order value {notional} is below the minimum {inst.min_notional}")
        if self._no_short and side is SELL:
            offered = sum(o.leaves_lots for o in self._orders.values() if o.side is SELL)
            free = self._position_lots - offered
            if lots > free:
                return (
                    RejectCode.INSUFFICIENT_MARGIN,
                    f"spot sell of {qty} needs base the account does not hold: "
                    f"{inst.qty(max(free, 0)):f} free (no margin borrowing: sim.spot_short)",
                )
        if reduce_only and self._position_lots * side >= 0:
            return (
                RejectCode.REDUCE_ONLY_WOULD_INCREASE,
                f"reduce-only {side.name.lower()} would increase the position "
                f"({inst.qty(self._position_lots):f})",
            )
        return None

    def cancel(self, client_id: str, t_ns: int) -> list[AccountEvent]:
        """Cancel an open order arriving at exchange time ``t_ns`` (ns)."""
        order = self._orders.get(client_id)
        if order is None:
            return [
                CancelRejected(
                    exch_ns=t_ns,
                    local_ns=t_ns,
                    client_id=client_id,
                    code=RejectCode.UNKNOWN_ORDER,
                    reason=f"order {client_id!r} is not open (unknown, filled or cancelled)",
                )
            ]
        self._remove(order)
        return [
            OrderCancelled(
                exch_ns=t_ns, local_ns=t_ns, client_id=client_id, reason="cancelled on request"
            )
        ]

    @staticmethod
    def _reject(client_id: str, code: RejectCode, reason: str, t_ns: int) -> list[AccountEvent]:
        return [
            OrderRejected(
                exch_ns=t_ns, local_ns=t_ns, client_id=client_id, code=code, reason=reason
            )
        ]

    def _take(
        self, order: _Order, limit_ticks: int | None, t_ns: int, out: list[AccountEvent]
    ) -> None:
        book = self._book
        opposite = order.side.opposite
        for price_ticks, size_lots in book.levels(opposite, book.level_count(opposite)):
            if limit_ticks is not None and (
                price_ticks > limit_ticks if order.side is BUY else price_ticks < limit_ticks
            ):
                return
            self._fill(order, min(order.leaves_lots, size_lots), price_ticks, False, t_ns, out)
            if order.leaves_lots == 0:
                return

    def _rest(self, order: _Order) -> None:
        side = order.side
        levels = self._bids if side is BUY else self._asks
        p = order.price_ticks
        lvl = levels.get(p)
        if lvl is None:
            lvl = levels[p] = _Level(self._book.qty_at(side, p))
            self._refresh_best()
        order.ahead_lots = float(lvl.size_lots)
        lvl.orders.append(order)
        self._orders[order.client_id] = order

    def _remove(self, order: _Order) -> None:
        del self._orders[order.client_id]
        levels = self._bids if order.side is BUY else self._asks
        lvl = levels[order.price_ticks]
        lvl.orders.remove(order)
        if not lvl.orders:
            del levels[order.price_ticks]
            self._refresh_best()

    def _refresh_best(self) -> None:
        self._best_bid_ticks = max(self._bids) if self._bids else 0
        self._best_ask_ticks = min(self._asks) if self._asks else 0

    def _fill(
        self,
        order: _Order,
        lots: int,
        price_ticks: int,
        is_maker: bool,
        t_ns: int,
        out: list[AccountEvent],
    ) -> int:
        """Execute up to ``lots`` of ``order``; returns the lots actually filled."""
        lots = min(lots, order.leaves_lots)
        resting = self._orders.get(order.client_id) is order
        if order.reduce_only:
            room = abs(self._position_lots) if self._position_lots * order.side < 0 else 0
            if room == 0:
                # Nothing left to reduce: the venue expires the order instead of flipping us.
                if resting:
                    self._remove(order)
                order.leaves_lots = 0
                out.append(
                    OrderCancelled(
                        exch_ns=t_ns,
                        local_ns=t_ns,
                        client_id=order.client_id,
                        reason="reduce-only order expired: no position left to reduce",
                    )
                )
                return 0
            lots = min(lots, room)
        if lots <= 0:
            return 0
        order.leaves_lots -= lots
        self._position_lots += lots * order.side
        self._trade_seq += 1
        out.append(
            Fill(
                exch_ns=t_ns,
                local_ns=t_ns,
                client_id=order.client_id,
                trade_id=str(self._trade_seq),
                side=order.side,
                price_ticks=price_ticks,
                qty_lots=lots,
                leaves_lots=order.leaves_lots,
                fee=self._inst.fee(price_ticks, lots, is_maker),
                is_maker=is_maker,
            )
        )
        if order.leaves_lots == 0 and resting:
            self._remove(order)
        return lots
