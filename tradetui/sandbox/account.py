"""The sandbox exchange's state: one account trading one symbol on the shared matching engine.

Pure and synchronous (no asyncio, no HTTP): the server feeds it wall-clock time and requests,
and formats what it returns. Market events come from any event iterator (synthetic or
replayed) and are applied up to the time asked. Money is in the instrument's settlement (and
margin) asset: USDT on Binance USD-M, the coin on COIN-M, where margin is contracts × contract
size / price / leverage coin. The wallet starts at ``initial_balance`` and moves by realized PnL
and fees. Errors carry Binance's codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from tradetui.core.accounting import PositionLedger
from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    AccountSnapshot,
    BookDelta,
    BookSnapshot,
    Fill,
    MarketEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    RejectCode,
    Side,
)
from tradetui.matching import MatchingConfig, MatchingEngine

_NS_PER_MS = 1_000_000
_FEE_DECIMALS = 8
_FEE_STEP = Decimal(1).scaleb(-_FEE_DECIMALS)
BNB = "BNB"
# Share of the fee paid when it is paid in BNB: Binance USD-M gives 10% off ("Users will
# receive a 10% discount on standard trading fees when they use BNB to pay for trading fees",
# https://www.binance.com/en/support/faq/360033544231).
BNB_FEE_SHARE = Decimal("0.9")

# Our reject reasons in Binance's codes and messages (a user of the real venue sees the same);
# the order filters' (40xx) messages are Binance's own, from "Error Codes" of USD-M and COIN-M
# futures (developers.binance.com/docs/derivatives/usds-margined-futures/error-code and
# .../coin-margined-futures/error-code); "" keeps our reason as the message.
_BINANCE_CODE: dict[RejectCode, tuple[int, str]] = {
    RejectCode.OFF_TICK: (-4014, "Price not increased by tick size."),
    RejectCode.OFF_STEP: (-4023, "Qty not increased by step size."),
    RejectCode.BELOW_MIN_QTY: (-4004, "Quantity less than min quantity."),
    RejectCode.ABOVE_MAX_QTY: (-4005, "Quantity greater than max quantity."),
    RejectCode.ABOVE_MAX_PRICE: (-4002, "Price greater than max price."),
    RejectCode.BELOW_MIN_PRICE: (-4013, "Price less than min price."),
    RejectCode.ABOVE_PRICE_BAND: (-4016, "Price is higher than mark price multiplier cap."),
    RejectCode.BELOW_PRICE_BAND: (-4024, "Price is lower than mark price multiplier floor."),
    RejectCode.BELOW_MIN_NOTIONAL: (
        -4164,
        "Order's notional must be no smaller than {min_notional} (unless you choose reduce only)",
    ),
    RejectCode.POST_ONLY_WOULD_CROSS: (-5022, ""),
    RejectCode.REDUCE_ONLY_WOULD_INCREASE: (-2022, ""),
    RejectCode.INSUFFICIENT_MARGIN: (-2019, ""),
    RejectCode.NO_LIQUIDITY: (-2020, ""),
    RejectCode.DUPLICATE_CLIENT_ID: (-4116, ""),
    RejectCode.UNKNOWN_ORDER: (-2011, ""),
    RejectCode.OTHER: (-1102, ""),
}


class ExchangeError(Exception):
    """A Binance-style error answer: ``code`` (negative int), ``msg`` and the HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def reject_error(code: RejectCode, reason: str, inst: Instrument) -> ExchangeError:
    """The Binance error for one of our reject codes on ``inst``."""
    number, msg = _BINANCE_CODE[code]
    return ExchangeError(number, msg.format(min_notional=inst.min_notional) or reason)


@dataclass(slots=True)
class SandboxOrder:
    """One order as the exchange remembers it (ticks, lots; times in ms since the epoch)."""

    order_id: int
    client_id: str
    side: Side
    order_type: OrderType
    time_in_force: str
    price_ticks: int
    orig_lots: int
    reduce_only: bool
    time_ms: int
    executed_lots: int = 0
    # Sum of lots × the lot's value at the fill price over the fills, in the instrument's value
    # units (Instrument.value): the average price is the price of ``cum_value / executed``
    # (a harmonic mean for inverse contracts) and |cum_value| × value_unit the notional in the
    # settlement asset (cumQuote on USD-M, cumBase on COIN-M).
    cum_value: int = 0
    status: str = "NEW"
    update_ms: int = 0


@dataclass(frozen=True, slots=True)
class SandboxTrade:
    """One execution of our order (ticks, lots; realized PnL in the settlement asset; the fee
    in ``fee_asset``, '' = the settlement asset, a fee < 0 is a rebate)."""

    trade_id: int
    order: SandboxOrder
    price_ticks: int
    qty_lots: int
    fee: float
    is_maker: bool
    realized_settle: float
    time_ms: int
    fee_asset: str = ""


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A change to one order for the user stream: execution type, the order's state right
    after it (status, executed lots, cumulative value units) and, for TRADE, the fill."""

    execution: str
    order: SandboxOrder
    status: str
    executed_lots: int
    cum_value: int
    trade: SandboxTrade | None = None

    @classmethod
    def of(
        cls, execution: str, order: SandboxOrder, trade: SandboxTrade | None = None
    ) -> OrderUpdate:
        """The update for ``order`` as it stands now."""
        return cls(execution, order, order.status, order.executed_lots, order.cum_value, trade)


@dataclass(slots=True)
class _Ids:
    order: int = 8_000_000_000
    client: int = 0
    trade: int = 500_000_000


@dataclass(slots=True)
class SandboxAccount:
    """Orders, trades, position and wallet of the one sandbox account on one symbol.

    ``leverage`` bounds the initial margin (notional in the margin asset / leverage) of the
    position plus the open orders by the margin balance; an order beyond it is refused with
    -2019. ``initial_balance`` is in the margin asset.
    """

    instrument: Instrument
    market: Iterator[MarketEvent]
    initial_balance: Decimal = Decimal(10_000)
    leverage: int = 20
    # First order and trade ids (0 = fixed defaults); the server passes the time in ms so ids
    # never repeat across restarts, as a real exchange's do not.
    id_base: int = 0
    margin_type: str = "CROSSED"
    # Binance USD-M's BNB fee discount ("BNB burn", ``POST /fapi/v1/feeBurn``): while on and
    # the futures wallet holds enough BNB, a fee is charged in BNB, 10% off, at ``bnb_price``
    # (USDT per BNB); otherwise in USDT at the full rate. Binance, "Binance Futures Fee
    # Structure & Fee Calculations" (https://www.binance.com/en/support/faq/360033544231).
    fee_burn: bool = False
    bnb_balance: Decimal = Decimal(0)
    bnb_price: Decimal = Decimal(0)
    # Binance's position mode (``dualSidePosition``): False = one-way (one net position,
    # positionSide BOTH), True = hedge mode. Hedge-mode orders are checked but not booked (see
    # SandboxExchange), so the account is always flat while it is True.
    dual_side_position: bool = False
    matching_config: MatchingConfig = field(default_factory=MatchingConfig)
    engine: MatchingEngine = field(init=False)
    ledger: PositionLedger = field(init=False)
    # The L2 book the depth stream describes at ``update_id`` (snapshots and diffs only): what
    # the REST depth snapshot serves. The matching engine's book also takes bookTicker
    # touches, which run ahead of the diffs, so it cannot be the snapshot for that id.
    depth: OrderBook = field(init=False, default_factory=OrderBook)
    update_id: int = field(init=False, default=0)
    orders: dict[int, SandboxOrder] = field(init=False, default_factory=dict)
    trades: list[SandboxTrade] = field(init=False, default_factory=list)
    updates: list[OrderUpdate] = field(init=False, default_factory=list)
    _open: dict[str, SandboxOrder] = field(init=False, default_factory=dict)
    _pending: MarketEvent | None = field(init=False, default=None)
    _ids: _Ids = field(init=False, default_factory=_Ids)
    # The market runs on the wall clock (``_wall_ms``, what the matching engine sees); the
    # times the exchange stamps on orders and trades are its own clock, the wall clock plus
    # the skew fault (``skew_ms``, set by ``advance``), as /time reports it.
    _wall_ms: int = field(init=False, default=0)
    skew_ms: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.engine = MatchingEngine(self.instrument, self.matching_config)
        self.ledger = PositionLedger(self.instrument)
        if self.id_base:
            self._ids = _Ids(order=self.id_base, trade=self.id_base)

    # ---- time -------------------------------------------------------------------------------

    def advance(self, now_ns: int, skew_ms: int = 0) -> list[MarketEvent]:
        """Apply every market event up to ``now_ns`` (wall clock, ns); returns them in order.
        Orders and trades are stamped from then on with the exchange clock, ``skew_ms`` ahead."""
        self.skew_ms = skew_ms
        applied: list[MarketEvent] = []
        while True:
            ev = self._pending if self._pending is not None else next(self.market, None)
            if ev is None:
                self._pending = None
                break
            if ev.exch_ns > now_ns:
                self._pending = ev
                break
            self._pending = None
            if type(ev) is BookDelta:
                self.update_id = ev.last_id
                self.depth.apply_delta(ev)
            elif type(ev) is BookSnapshot:
                self.update_id = ev.update_id
                self.depth.apply_snapshot(ev.bids, ev.asks)
            self._wall_ms = ev.exch_ns // _NS_PER_MS
            self._apply(self.engine.on_market(ev, ev.exch_ns))
            applied.append(ev)
        self._wall_ms = max(self._wall_ms, now_ns // _NS_PER_MS)
        return applied

    @property
    def now_ms(self) -> int:
        """The exchange clock (ms): the time it stamps on orders and trades."""
        return self._wall_ms + self.skew_ms

    # ---- orders -----------------------------------------------------------------------------

    def place(
        self,
        *,
        side: Side,
        order_type: OrderType,
        time_in_force: str,
        price: Decimal,
        qty: Decimal,
        reduce_only: bool,
        client_id: str | None,
    ) -> SandboxOrder:
        """Accept an order or raise ExchangeError; the order comes back in its state after."""
        if client_id is None:
            self._ids.client += 1
            client_id = f"sandbox-{self._ids.client}"
        post_only = time_in_force == "GTX"
        # Binance checks the symbol's filters before the margin (a -4005 order too large for
        # the filter is refused as such even from an account that could not afford it).
        refused = self.engine.refusal(
            client_id, side, price, qty, order_type=order_type, reduce_only=reduce_only
        )
        if refused is not None:
            raise reject_error(*refused, self.instrument)
        if order_type is OrderType.LIMIT and not reduce_only:
            self._check_margin(price, qty)
        events = self.engine.place(
            client_id,
            side,
            price,
            qty,
            order_type=order_type,
            post_only=post_only,
            reduce_only=reduce_only,
            t_ns=self._wall_ms * _NS_PER_MS,
        )
        first = events[0]
        if type(first) is OrderRejected:
            raise reject_error(first.code, first.reason, self.instrument)
        self._ids.order += 1
        inst = self.instrument
        order = SandboxOrder(
            order_id=self._ids.order,
            client_id=client_id,
            side=side,
            order_type=order_type,
            time_in_force=time_in_force,
            price_ticks=0 if order_type is OrderType.MARKET else inst.ticks_exact(price) or 0,
            orig_lots=inst.lots_exact(qty) or 0,
            reduce_only=reduce_only,
            time_ms=self.now_ms,
            update_ms=self.now_ms,
        )
        self.orders[order.order_id] = order
        self._open[client_id] = order
        self._apply(events)
        return order

    def cancel(self, order_id: int | None, client_id: str | None) -> SandboxOrder:
        """Cancel an open order by exchange or client id, or raise -2011."""
        order = self.find(order_id, client_id)
        if order is None or order.client_id not in self._open:
            raise ExchangeError(-2011, "Unknown order sent.")
        self._apply(self.engine.cancel(order.client_id, self._wall_ms * _NS_PER_MS))
        return order

    def take_updates(self) -> list[OrderUpdate]:
        """Order updates since the last call, oldest first."""
        out, self.updates = self.updates, []
        return out

    def cancel_all(self) -> list[SandboxOrder]:
        """Cancel every open order; returns them."""
        cancelled = list(self._open.values())
        for order in cancelled:
            self._apply(self.engine.cancel(order.client_id, self._wall_ms * _NS_PER_MS))
        return cancelled

    def find(self, order_id: int | None, client_id: str | None) -> SandboxOrder | None:
        """An order (open or not) by exchange id, else by client id."""
        if order_id is not None:
            return self.orders.get(order_id)
        if client_id is not None:
            hit = self._open.get(client_id)
            if hit is not None:
                return hit
            for order in reversed(self.orders.values()):
                if order.client_id == client_id:
                    return order
        return None

    @property
    def open_orders(self) -> list[SandboxOrder]:
        """Open orders, oldest first."""
        return list(self._open.values())

    # ---- money ------------------------------------------------------------------------------

    @property
    def mark_ticks(self) -> float:
        """Mark price in ticks: the mid, or the last fill price on an empty book."""
        book = self.engine.book
        if book.bid_ticks and book.ask_ticks:
            return (book.bid_ticks + book.ask_ticks) / 2
        return float(self.ledger.avg_entry_ticks)

    def wallet_settle(self) -> float:
        """Wallet balance in the settlement asset: initial plus realized PnL minus net fees."""
        ledger = self.ledger
        realized = float(ledger.realized_units * self.instrument.value_unit)
        return float(self.initial_balance) + realized - ledger.fees + ledger.rebates

    def unrealized_settle(self) -> float:
        """Unrealized PnL of the position at the mark, in the settlement asset."""
        ledger = self.ledger
        if not ledger.position_lots:
            return 0.0
        return ledger.gross_settle(self.mark_ticks) - float(
            ledger.realized_units * self.instrument.value_unit
        )

    def position_margin_settle(self) -> float:
        """Initial margin held by the position at the mark, in the margin asset."""
        lots = abs(self.ledger.position_lots)
        return self.instrument.notional_settle(self.mark_ticks, lots) / self.leverage

    def order_margin_settle(self) -> float:
        """Initial margin held by open orders at their prices, in the margin asset."""
        notional = self.instrument.notional_settle
        return sum(
            notional(o.price_ticks, o.orig_lots - o.executed_lots)
            for o in self._open.values()
            if not o.reduce_only
        ) / max(self.leverage, 1)

    def available_settle(self) -> float:
        """Margin balance not held by the position or open orders, in the margin asset."""
        margin_balance = self.wallet_settle() + self.unrealized_settle()
        return margin_balance - self.position_margin_settle() - self.order_margin_settle()

    def _check_margin(self, price: Decimal, qty: Decimal) -> None:
        inst = self.instrument
        needed = inst.notional_settle(float(price / inst.tick_size), float(qty / inst.lot_size))
        if needed / self.leverage > self.available_settle():
            raise ExchangeError(-2019, "Margin is insufficient.")

    # ---- matching results -------------------------------------------------------------------

    def _apply(self, events: list[AccountEvent]) -> None:
        for ev in events:
            if isinstance(ev, AccountSnapshot):
                continue
            order = self._open.get(ev.client_id)
            if order is None:
                continue
            if type(ev) is OrderAccepted:
                self.updates.append(OrderUpdate.of("NEW", order))
            elif type(ev) is Fill:
                self._on_fill(order, ev)
            elif type(ev) is OrderCancelled:
                del self._open[order.client_id]
                expired = order.order_type is OrderType.MARKET or order.reduce_only
                order.status = "EXPIRED" if expired and "expired" in ev.reason else "CANCELED"
                order.update_ms = self.now_ms
                self.updates.append(OrderUpdate.of(order.status, order))

    def _on_fill(self, order: SandboxOrder, ev: Fill) -> None:
        inst = self.instrument
        # Binance charges the commission it reports, to 8 decimals of the asset.
        fee = round(ev.fee, _FEE_DECIMALS)
        in_bnb = self._bnb_fee(ev.fee)
        if in_bnb:
            self.bnb_balance -= in_bnb
        before = self.ledger.realized_units
        settle_fee = 0.0 if in_bnb else fee
        self.ledger.on_fill(ev.side, ev.price_ticks, ev.qty_lots, settle_fee, self.mark_ticks)
        realized = float((self.ledger.realized_units - before) * inst.value_unit)
        order.executed_lots += ev.qty_lots
        order.cum_value += inst.value(ev.price_ticks) * ev.qty_lots
        order.status = "FILLED" if ev.leaves_lots == 0 else "PARTIALLY_FILLED"
        order.update_ms = self.now_ms
        if ev.leaves_lots == 0:
            del self._open[order.client_id]
        self._ids.trade += 1
        trade = SandboxTrade(
            trade_id=self._ids.trade,
            order=order,
            price_ticks=ev.price_ticks,
            qty_lots=ev.qty_lots,
            fee=float(in_bnb) if in_bnb else fee,
            is_maker=ev.is_maker,
            realized_settle=realized,
            time_ms=self.now_ms,
            fee_asset=BNB if in_bnb else "",
        )
        self.trades.append(trade)
        self.updates.append(OrderUpdate.of("TRADE", order, trade))

    def _bnb_fee(self, fee_settle: float) -> Decimal:
        """The fee in BNB when the BNB fee discount applies to a fee of ``fee_settle`` USDT
        (on, a fee rather than a rebate, and enough BNB in the wallet), else 0."""
        if not (self.fee_burn and fee_settle > 0 and self.bnb_price > 0):
            return Decimal(0)
        in_bnb = (Decimal(repr(fee_settle)) * BNB_FEE_SHARE / self.bnb_price).quantize(
            _FEE_STEP, ROUND_HALF_UP
        )
        return in_bnb if 0 < in_bnb <= self.bnb_balance else Decimal(0)
