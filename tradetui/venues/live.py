"""A live venue on a ccxt client (REST through ccxt.async_support, user stream through ccxt.pro).

``connect`` loads the market (refusing one whose tick, step, min qty or min notional cannot be
read), syncs the clock, checks the exchange has what tradetui needs, refuses a hedge-mode
(dual-side) account before anything is sent, sets leverage and margin mode when configured,
reads the balance and starts the user stream. ``submit`` never blocks: each intent runs as an
asyncio task and its outcome is delivered as an account event, to ``on_event`` when set, else
queued for ``pop``/``wait``.

Hygiene: orders are post-only limits (GTX) under our client order id, placed and cancelled
through ccxt (venues/orders.py: on Binance USD-M its own order endpoints, elsewhere the unified
calls). A placement or cancel whose answer does not settle its outcome (no answer, a lost
connection, a 5xx, Binance's -1000/-1001/-1006/-1007) is never resent blindly nor assumed to
have failed: the order is reported unknown (``OrderUnknown``) and asked of the exchange by
that id until it answers (a placement not found is asked again once ``recvWindow`` has passed,
after which it can no longer land); a cancel of an order whose placement is unsettled waits
for it. -1021 resyncs the clock (and only then is a refused order sent again); reads are
retried with exponential backoff and jitter; requests are paced by Binance's rate-limit
headers against exchangeInfo's limits (venues/pacing.py); a 429 cools placements down for the
exchange's Retry-After; a 418 (IP ban) stops every request and asks for a halt. Fills come
from the user stream (``watch_my_trades``) and, while it is down, from polling
``fetch_my_trades`` at most once per ``fill_poll_s``; both paths are deduplicated by trade id.

The user stream is proven alive, not assumed (docs/user-stream.md): while orders are working,
fills are also fetched by REST every ``fill_reconcile_s`` with the stream up; a fill found so
that the stream has still not sent a reconcile later proves it deaf. That, Binance's
``listenKeyExpired`` event (which ccxt.pro ignores), a keepalive answered -1125, and any stream
error renew it: marked down, ccxt made to fetch a listenKey again, its sockets dropped, the
watches subscribe again and the reconnect fetches the gap's fills. With orders working and no
user-stream message for ``stream_silence_s``, the key is probed with a keepalive (Binance).
Messages never carry keys, signatures or the listenKey.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async

from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    AccountSnapshot,
    CancelOrder,
    CancelRejected,
    Fill,
    OpenOrderInfo,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderUnknown,
    PlaceOrder,
    RejectCode,
    RequestAccount,
    Side,
)
from tradetui.venues.binance_stream import ReconnectPolicy
from tradetui.venues.catalog import cache_loaded_markets
from tradetui.venues.errors import (
    AuthFailedError,
    ClockSkewError,
    IpBannedError,
    RateLimitedError,
    RefusedError,
    SetupError,
    VenueError,
    VenueUnavailableError,
    map_error,
)
from tradetui.venues.fees import FeeRates
from tradetui.venues.latency import CANCEL, PLACE, RequestClock, RequestTiming
from tradetui.venues.markets import (
    find_market,
    instrument_from_market,
    missing_capabilities,
    to_lots,
    to_ticks,
)
from tradetui.venues.orders import OrderRoute, order_route
from tradetui.venues.pacing import Kind, Pacer, limits_from, rate_limits
from tradetui.venues.redact import RedactSecrets

log = logging.getLogger(__name__)
T = TypeVar("T")

_NS_PER_MS = 1_000_000
_MAX_CLIENT_ID = 36  # Binance's limit; the engine's ids are far shorter
_SEEN_TRADES = 20_000
_HELD_TRADES = 1_000
_TERMINAL = ("canceled", "cancelled", "expired", "rejected")
# The ccxt call that reads one symbol's last price (Binance's ``GET .../ticker/price``, weight
# 1), by exchange: how a fee charged in another asset is valued. COIN-M has no BNB fee
# discount (fees are in the coin), so it needs none.
_PRICE_CALLS = {"binanceusdm": "fapiPublicGetTickerPrice", "binance": "publicGetTickerPrice"}
# How long an order's end waits for its missing fills on the user stream before asking REST.
_STREAM_GRACE_S = 0.5
# Binance's keepalive of the account's listenKey, by ccxt class (futures name no key).
_KEEPALIVE = {"binanceusdm": "fapiPrivatePutListenKey", "binancecoinm": "dapiPrivatePutListenKey"}
_NO_LISTEN_KEY = "-1125"  # Binance: "This listenKey does not exist."


class _StreamRenewed(ccxt_async.NetworkError):  # type: ignore[misc]
    """Ends the watches of a user-stream socket the venue dropped to renew the stream."""


# Binance "Account Trade List": at most 1000 trades per request, and at most 7 days between
# startTime and endTime (docs/shutdown.md).
_TRADES_PAGE = 1000
_WEEK_MS = 7 * 86_400_000


ConnectionCallback = Callable[[bool, str, str], None]
"""(connected, stream, detail): the user stream went down (False) or came back (True)."""


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How the live venue talks to the exchange (times in seconds unless named otherwise).

    ``fill_poll_s``: at most one REST fill poll per this long, and only while the user stream
    is down (or off). ``fill_reconcile_s``: with the stream up and orders working, fills are
    fetched by REST this often too. ``stream_silence_s``: with orders working and no
    user-stream message for this long, the listenKey is probed with a keepalive.
    ``read_attempts``/``backoff``: retries of reads and cancels.
    ``reconnect``: the user stream's reconnect policy. ``leverage`` (0 = leave as is) and
    ``margin_mode`` ('' = leave, 'cross' or 'isolated') are set at connect.
    ``native_orders``: on Binance USD-M, orders go through ccxt's own order endpoints rather
    than its unified layer (venues/orders.py; False = unified, as on every other exchange).
    """

    fill_poll_s: float = 0.5
    fill_reconcile_s: float = 5.0
    stream_silence_s: float = 60.0
    read_attempts: int = 4
    backoff: ReconnectPolicy = field(default_factory=lambda: ReconnectPolicy(0.05, max_s=2.0))
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    user_stream: bool = True
    leverage: int = 0
    margin_mode: str = ""
    # The longest wait for the user stream's first connection at connect.
    connect_timeout_s: float = 10.0
    native_orders: bool = True
    # How often the rate of a fee asset other than the settlement asset (BNB under Binance's
    # fee discount) is read again from the exchange; fills are valued at the latest one.
    fee_rate_refresh_s: float = 30.0
    # Rate-limit pacing (venues/pacing.py): from this fraction of an exchange limit requests
    # are spread over what is left of its window; a placement that would wait longer than
    # ``pace_max_wait_s`` is not sent (the engine hears OrderRejected RATE_LIMITED).
    pace_soft: float = 0.8
    pace_max_wait_s: float = 1.0


def _hedge_mode_refusal(exchange_id: str, inverse: bool) -> str:
    """The one line refusing a hedge-mode account, with how to switch it to one-way mode."""
    how = "in the exchange's position mode settings"
    if exchange_id.startswith("binance"):
        path = "/dapi" if inverse else "/fapi"
        how = (
            f"(Binance Futures' settings: Position Mode, One-way Mode; or "
            f"POST {path}/v1/positionSide/dual dualSidePosition=false)"
        )
    return (
        f"venue.exchange: the {exchange_id} account is in hedge mode (dual-side positions) and "
        f"tradetui trades one net position: with no order or position open, switch it to "
        f"one-way mode {how}, then start again"
    )


@dataclass(slots=True)
class _Tracked:
    """One order of ours the venue knows: its size, what has filled, its exchange id."""

    orig_lots: int
    filled_lots: int = 0
    order_id: str = ""
    done: bool = False
    placed_ms: int = 0  # the exchange's time of the placement answer (0: not known)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What the next account read recovers: our trades since ``since_ms`` (exchange time)
    not in ``known`` (stored already) nor delivered, made by an order whose client id starts
    with ``prefix``; those made before the position was read go to ``store`` (not the
    engine: the position it adopts holds them)."""

    since_ms: int
    prefix: str
    known: frozenset[str]
    store: Callable[[list[Fill]], None]


class LiveVenue:
    """One symbol on a ccxt client; results come back as account events.

    ``symbol``: ccxt's unified symbol (``BTC/USDT:USDT``) or the exchange's id (``BTCUSDT``).
    ``instrument`` may be given for REST-only use without ``connect``.
    """

    def __init__(
        self,
        client: Any,
        symbol: str,
        *,
        options: LiveOptions | None = None,
        secrets: tuple[str, ...] = (),
        instrument: Instrument | None = None,
    ) -> None:
        self._client = client
        self._symbol = symbol
        self.options = options or LiveOptions()
        self._inst = instrument
        self._orders_route: OrderRoute | None = None
        self.on_event: Callable[[AccountEvent], None] | None = None
        self.on_connection: ConnectionCallback | None = None
        self.on_halt: Callable[[str], None] | None = None
        # Each order request's times (venues/latency.py), when someone records them.
        self.on_request: Callable[[RequestTiming], None] | None = None
        self._requests_timed = RequestClock(self._timed_request, self._offset_ns)
        self._events: deque[AccountEvent] = deque()
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: list[asyncio.Task[None]] = []
        self._orders: dict[str, _Tracked] = {}
        # Placements not yet settled (answered, or resolved by asking): set once they are.
        self._unsettled: dict[str, asyncio.Event] = {}
        self._cid_by_order_id: dict[str, str] = {}
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._held: dict[str, list[dict[str, Any]]] = {}
        self._since_ms = 0
        self._last_poll = -float("inf")
        self._stream_up = False
        self._was_up = False
        # The user stream's last sign of life (a message, its connection, a keepalive), and
        # the trades REST found while it was up that it has not sent (id -> when found).
        self._alive_at = 0.0
        self._rest_only: dict[str, float] = {}
        self._up_ms = 0  # the exchange's time when the user stream last came up
        self._cool_until = 0.0
        self._banned = ""
        self._resync_lock = asyncio.Lock()
        self._closing = False
        # Set by ``sweep`` (a hurried shutdown): placements not yet sent are refused.
        self._frozen = False
        self._recovery: Recovery | None = None
        self._rng = random.Random()
        # Filled at connect from exchangeInfo's rateLimits; fed by every answer's headers.
        self._pacer = Pacer([], soft=self.options.pace_soft)
        self._pacing = False
        self._account_read = False
        # Balance of the margin asset (USDT on USD-M, the coin on COIN-M), from read_balance.
        self.equity_margin: float | None = None
        self.free_margin: float | None = None
        # Rates of fee assets other than the settlement asset, and the assets to keep fresh.
        self._fee_rates = FeeRates(instrument.settle) if instrument is not None else None
        self._fee_assets: set[str] = set()
        self._redact = RedactSecrets()
        self._redact.add(*secrets)
        log.addFilter(self._redact)

    # ---- identity ---------------------------------------------------------------------------

    @property
    def instrument(self) -> Instrument:
        if self._inst is None:
            raise RuntimeError("LiveVenue.instrument is known only after connect()")
        return self._inst

    @property
    def name(self) -> str:
        return f"live:{self._client.id}"

    @property
    def symbol(self) -> str:
        """ccxt's unified symbol of the market traded."""
        return self._symbol

    @property
    def stream_up(self) -> bool:
        """True while the user stream is connected."""
        return self._stream_up

    @property
    def banned(self) -> str:
        """Why the exchange refuses us (418), or '' when it does not."""
        return self._banned

    # ---- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> Instrument:
        """Load the market, sync the clock, check capabilities, configure, read the balance and
        start the user stream; raises VenueError (one line) when the venue cannot be traded."""
        client = self._client
        markets = await self._read(client.load_markets)
        self._start_pacing()
        # The markets just loaded refresh the instrument catalog (no extra request).
        await asyncio.to_thread(cache_loaded_markets, client)
        market = find_market(markets, self._symbol, client.id)
        self._symbol = str(market["symbol"])
        self._inst = instrument_from_market(market, client.precisionMode, client.id)
        self._orders_route = None  # chosen again for this market
        if self.options.user_stream:
            missing = missing_capabilities(client.has)
            if missing:
                raise SetupError(
                    f"venue.exchange: {client.id} lacks what tradetui needs: {', '.join(missing)}"
                )
        await self.sync_clock()
        await self._check_position_mode(market)
        await self._configure()
        await self._read_commission()
        await self.read_balance()
        self._fee_rates = FeeRates(self._inst.settle)
        await self._read_fee_discount()
        self._since_ms = client.milliseconds() - 1_000
        if self.options.user_stream:
            self._hook_messages()
            self._streams = [
                asyncio.create_task(self._watch_trades(), name="user-stream-trades"),
                asyncio.create_task(self._watch_orders(), name="user-stream-orders"),
            ]
            await self._wait_stream_up()
        self._streams.append(asyncio.create_task(self._poll_loop(), name="fill-poll"))
        self._streams.append(asyncio.create_task(self._rate_loop(), name="fee-rates"))
        return self._inst

    async def _read_commission(self) -> None:
        """The account's own maker and taker rates on this symbol (ccxt ``fetch_trading_fee``:
        Binance's ``GET /fapi/v1/commissionRate`` / ``/dapi/v1/commissionRate``, the account's
        VIP tier) replace the exchange-wide table ccxt ships with its markets, which can be
        wrong for the account (it says 1 bps maker on COIN-M, where the basic tier is 2):
        the fee floor and the fee estimates quote on them. Stored fees are always the ones the
        exchange charged. A failure keeps the table's rates, with a warning."""
        client, inst = self._client, self._inst
        if inst is None or not client.has.get("fetchTradingFee"):
            return
        try:
            fee = await self._read(partial(client.fetch_trading_fee, self._symbol))
        except VenueError as exc:
            log.warning(
                "commission rates of the account not readable (%s); quoting on the exchange's "
                "table: maker %g bps, taker %g bps",
                exc,
                inst.maker_fee_rate * 1e4,
                inst.taker_fee_rate * 1e4,
            )
            return
        maker, taker = fee.get("maker"), fee.get("taker")
        if maker is None or taker is None:
            return
        self._inst = dataclasses.replace(
            inst, maker_fee_rate=float(maker), taker_fee_rate=float(taker)
        )
        log.info(
            "commission rates of the account on %s: maker %g bps, taker %g bps",
            inst.symbol,
            float(maker) * 1e4,
            float(taker) * 1e4,
        )

    async def _read_fee_discount(self) -> None:
        """On Binance USD-M, read whether the BNB fee discount is on (``GET /fapi/v1/feeBurn``);
        when it is, fees may come in BNB, so BNB's rate is read now and kept fresh."""
        read = getattr(self._client, "fapiPrivateGetFeeBurn", None)
        if self._client.id != "binanceusdm" or read is None:
            return
        try:
            answer = await self._read(read)
        except VenueError as exc:
            log.warning("BNB fee discount state not readable (%s); BNB fees valued once seen", exc)
            return
        if str(answer.get("feeBurn")).lower() == "true":
            log.info("BNB fee discount is on: fees paid in BNB are valued at BNB's price")
            self._fee_assets.add("BNB")
            await self._refresh_rates()

    async def _refresh_rates(self) -> None:
        """Read the price of each fee asset in the settlement asset; a failure keeps the last."""
        rates = self._fee_rates
        call = getattr(self._client, _PRICE_CALLS.get(self._client.id, ""), None)
        if rates is None or call is None:
            return
        for asset in sorted(self._fee_assets):
            pair = asset + rates.settle
            try:
                answer = await self._read(partial(call, {"symbol": pair}))
                rates.update(asset, float(answer["price"]))
            except (VenueError, KeyError, TypeError, ValueError) as exc:
                log.warning("the price of %s could not be read: %s", pair, exc)

    async def _rate_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.options.fee_rate_refresh_s)
            if self._fee_assets:
                await self._refresh_rates()

    def _start_pacing(self) -> None:
        """Pace by the limits the exchangeInfo just read advertises (its answer is still the
        client's last one: no request of its own); none found, none paced."""
        body = self._client.last_http_response
        limits = limits_from(rate_limits(body)) if isinstance(body, str) else []
        self._pacer = Pacer(limits, soft=self.options.pace_soft)
        if limits:
            log.info("rate limits: %s", self._pacer.figures(self._exchange_s()))
        else:
            log.info("%s: no rate limits advertised; requests are not paced", self._client.id)

    async def _wait_stream_up(self) -> None:
        deadline = time.monotonic() + self.options.connect_timeout_s
        while not self._stream_up:
            if time.monotonic() > deadline:
                raise VenueUnavailableError(
                    f"{self._client.id}: the user stream did not connect within "
                    f"{self.options.connect_timeout_s:g} s"
                )
            await asyncio.sleep(0.01)

    async def _check_position_mode(self, market: dict[str, Any]) -> None:
        """Refuse a hedge-mode account (Binance ``GET /fapi|dapi/v1/positionSide/dual`` true),
        where every order must name a LONG or SHORT position: the engine's ledger, risk guard
        and flatten hold one signed position per symbol (docs/position-mode.md). Contracts on
        exchanges that can tell only."""
        client = self._client
        if not market.get("contract") or not client.has.get("fetchPositionMode"):
            return
        mode = await self._read(lambda: client.fetch_position_mode(self._symbol))
        if mode.get("hedged"):
            raise SetupError(_hedge_mode_refusal(client.id, bool(market.get("inverse"))))

    async def _configure(self) -> None:
        client, o = self._client, self.options
        if o.margin_mode:
            try:
                await self._read(lambda: client.set_margin_mode(o.margin_mode, self._symbol))
            except RefusedError as exc:
                if "no need to change" not in str(exc).lower():
                    raise SetupError(f"venue.margin_mode: {exc}") from None
            log.info("margin mode %s on %s", o.margin_mode, self._symbol)
        if o.leverage:
            try:
                await self._read(lambda: client.set_leverage(o.leverage, self._symbol))
            except RefusedError as exc:
                raise SetupError(f"venue.leverage: {exc}") from None
            log.info("leverage %d× on %s", o.leverage, self._symbol)

    async def sync_clock(self) -> None:
        """Measure the offset to the exchange clock (ccxt signs with it); one at a time."""
        if not hasattr(self._client, "load_time_difference"):
            return
        if self._resync_lock.locked():
            async with self._resync_lock:
                return  # someone else just did it
        async with self._resync_lock:
            await self._read(self._client.load_time_difference, resync=False)
            offset = self._client.options.get("timeDifference", 0)
            log.info("exchange clock offset %s ms", offset)

    async def read_balance(self) -> tuple[float, float]:
        """Total and free balance of the margin asset (the quote on linear markets, the coin
        on inverse ones), retried; raises rather than guess."""
        asset = self.instrument.margin_asset
        balance = await self._read(self._client.fetch_balance)
        entry = balance.get(asset) or {}
        total, free = entry.get("total"), entry.get("free")
        if total is None:
            raise VenueError(f"{self._client.id}: the balance has no {asset} total")
        self.equity_margin, self.free_margin = float(total), float(free or 0.0)
        log.info("balance %s %s (free %s)", total, asset, free)
        return self.equity_margin, self.free_margin

    async def close(self) -> None:
        """Stop the streams and the intents still running; detach the log filter."""
        self._closing = True
        for task in [*self._streams, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._streams, *self._tasks, return_exceptions=True)
        self._streams = []
        log.removeFilter(self._redact)

    # ---- engine side ------------------------------------------------------------------------

    def submit(self, intent: OrderIntent) -> None:
        """Start the place, cancel or account request; its outcome is delivered later."""
        if isinstance(intent, PlaceOrder):
            self._spawn(self._place(intent))
        elif isinstance(intent, CancelOrder):
            self._spawn(self._cancel(intent))
        else:
            self._spawn(self._account(intent), after_orders=True)

    def pop(self) -> AccountEvent | None:
        """The oldest queued account event, or None (when no ``on_event`` is set)."""
        if not self._events:
            self._ready.clear()
            return None
        return self._events.popleft()

    async def wait(self) -> None:
        """Return once an account event is queued."""
        await self._ready.wait()

    async def idle(self) -> None:
        """Return once every submitted intent has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def working(self) -> bool:
        """True while some order of ours may still fill."""
        return any(not t.done for t in self._orders.values())

    async def cancel_all_ours(self, prefix: str) -> int:
        """Cancel every open order whose client id starts with ``prefix`` (the last resort when
        the engine cannot); foreign orders are left alone. Returns how many were cancelled."""
        orders = await self._read(lambda: self._client.fetch_open_orders(self._symbol))
        count = 0
        for o in orders:
            cid = str(o.get("clientOrderId") or "")
            if cid.startswith(prefix):
                await self._cancel(CancelOrder(client_id=cid))
                count += 1
        return count

    def recover(self, recovery: Recovery) -> None:
        """Recover fills made while tradetui was down at the next account read (the start's)."""
        self._recovery = recovery

    async def sweep(self, timeout_s: float, prefix: str, *, mass_cancel: bool) -> list[str]:
        """The end of a hurried stop: refuse every placement not yet sent, cancel, then make
        sure within ``timeout_s`` that no order whose client id starts with ``prefix`` works
        at the exchange and that every fill of ours is in. Returns what could not be confirmed
        (empty: everything was).

        ``mass_cancel`` sends one cancel-all for the symbol (Binance ``DELETE
        /fapi/v1/allOpenOrders``, ccxt ``cancel_all_orders``) first: it reaches orders whose
        placement is still unanswered and needs no order ids, but cancels orders of the symbol
        placed by others too (docs/shutdown.md). Then the venue waits for the placements and
        cancels in flight (a placement the exchange has not seen within ``recvWindow`` of its
        timestamp never lands), reads the open orders and our trades, cancels any order of
        ours still open, and reads again, until nothing of ours is open or time is up.
        """
        self._frozen = True
        end = time.monotonic() + timeout_s
        unconfirmed: list[str] = []

        async def bounded(call: Awaitable[T]) -> T:
            return await asyncio.wait_for(call, max(end - time.monotonic(), 0.0))

        if mass_cancel:
            log.warning("cancel-all sent for %s", self._symbol)
            try:
                # Sent once: what counts is what the reads below find, and any of ours they
                # find open is cancelled one by one.
                await bounded(self._call(lambda: self._client.cancel_all_orders(self._symbol)))
            except (VenueError, TimeoutError) as exc:
                log.warning("cancel-all for %s failed: %s", self._symbol, _why(exc))
        still: list[str] = []
        while True:
            with contextlib.suppress(TimeoutError):
                # Shielded: at the deadline the venue stops waiting, but a placement's own
                # lookup goes on (cancelling it would leave its outcome unknown for good).
                await bounded(asyncio.shield(self.idle()))
            try:
                orders, _ = await bounded(
                    asyncio.gather(
                        self._read(lambda: self._client.fetch_open_orders(self._symbol)),
                        self.poll_fills(force=True),
                    )
                )
            except (VenueError, TimeoutError) as exc:
                unconfirmed.append(f"open orders and fills unread: {_why(exc)}")
                break
            still = [
                str(o.get("clientOrderId") or "")
                for o in orders
                if str(o.get("clientOrderId") or "").startswith(prefix)
            ]
            if not still or time.monotonic() >= end:
                break
            for cid in still:
                self._spawn(self._cancel(CancelOrder(client_id=cid)))
        if still:
            unconfirmed.append(f"order(s) of ours still open at the exchange: {', '.join(still)}")
        unanswered = sorted(self._unsettled)
        if unanswered:
            unconfirmed.append(f"placement(s) without an answer: {', '.join(unanswered)}")
        if not unconfirmed:
            # The exchange holds nothing of ours and every fill it reported is in: whatever
            # the engine still tracks has ended there (cancelled, or filled as reported).
            for cid, tracked in list(self._orders.items()):
                if not tracked.done:
                    self._terminal(cid, "not open at the venue after the stop")
        return unconfirmed

    # ---- intents ----------------------------------------------------------------------------

    async def _place(self, intent: PlaceOrder) -> None:
        cid = intent.client_id
        refusal = self._place_refusal(cid)
        if refusal:
            self._reject(
                cid, RejectCode.RATE_LIMITED if self._limited() else RejectCode.OTHER, refusal
            )
            return
        # Tracked before sending: the user stream may report a fill before the REST answer.
        self._orders[cid] = _Tracked(intent.qty_lots)
        settled = self._unsettled[cid] = asyncio.Event()
        try:
            order = await self._send_place(intent)
            if order is not None:
                self._on_placed(cid, order)
        finally:
            del self._unsettled[cid]
            settled.set()

    async def _send_place(self, intent: PlaceOrder) -> dict[str, Any] | None:
        """The exchange's order for ``intent``, or None once it is refused (reported)."""
        cid = intent.client_id
        route = self._route()
        kind = Kind.REDUCE if intent.reduce_only else Kind.PLACE
        wait = self._pacer.delay(kind, self._exchange_s())
        if wait > self.options.pace_max_wait_s:
            self._orders.pop(cid, None)
            self._pacing_changed()
            figures = self._pacer.figures(self._exchange_s())
            self._reject(
                cid, RejectCode.RATE_LIMITED, f"not sent: pacing for {wait:.1f} s ({figures})"
            )
            return None
        sent = time.monotonic()
        try:
            try:
                return await self._call(lambda: self._timed(cid, PLACE, route.place, intent), kind)
            except ClockSkewError:
                # -1021 is a definite refusal, so sending again after a clock resync is safe.
                log.warning("place %s: timestamp outside recvWindow; resyncing the clock", cid)
                await self.sync_clock()
                sent = time.monotonic()
                return await self._call(lambda: self._timed(cid, PLACE, route.place, intent), kind)
        except VenueUnavailableError as exc:
            self._unknown(cid, False, f"{exc}; asking the exchange by client id")
            found = await self._reconcile(cid, sent)
            if found is None:
                self._orders.pop(cid, None)
                self._reject(cid, RejectCode.OTHER, f"not at the venue after: {exc}")
            elif to_lots(self.instrument, found.get("filled") or 0):
                # It traded while unknown: fetch its fills now (the stream's are deduplicated).
                self._spawn(self.poll_fills(force=True), after_orders=True)
            return found
        except VenueError as exc:
            self._orders.pop(cid, None)
            self._refused(cid, exc)
            return None

    async def _timed(self, cid: str, kind: str, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``call(*args)``, an order request, with its send and answer times noted."""
        if self.on_request is None:
            return await call(*args)
        sent = self._requests_timed.sent(cid, kind)
        try:
            answer = await call(*args)
        except Exception as exc:
            unanswered = isinstance(self._mapped(exc), VenueUnavailableError)
            outcome = "no answer" if unanswered else "refused"
            self._requests_timed.answered(cid, kind, sent, None, outcome)
            raise
        self._requests_timed.answered(cid, kind, sent, answer)
        return answer

    def _timed_request(self, timing: RequestTiming) -> None:
        if self.on_request is not None:
            self.on_request(timing)

    @property
    def clock_offset_ns(self) -> int:
        return self._offset_ns()

    def _offset_ns(self) -> int:
        """Exchange clock − ours (ns), as ccxt measured it (its timeDifference is ours − the
        exchange's, ms)."""
        return -int(float(self._client.options.get("timeDifference") or 0) * 1_000_000)

    def _route(self) -> OrderRoute:
        """How orders go out (chosen once the market is known)."""
        if self._orders_route is None:
            self._orders_route = order_route(
                self._client, self._symbol, self.instrument, self.options.native_orders
            )
        return self._orders_route

    def _place_refusal(self, cid: str) -> str:
        if self._frozen:
            return "not sent: shutting down"
        if self._banned:
            return f"not sent: {self._banned}"
        if self._limited():
            left = self._cool_until - time.monotonic()
            return f"not sent: cooling down {left:.1f} s after a rate limit (429)"
        if len(cid) > _MAX_CLIENT_ID or not cid:
            return f"client order id {cid!r} is not 1 to {_MAX_CLIENT_ID} characters"
        return ""

    def _limited(self) -> bool:
        return bool(self._banned) or time.monotonic() < self._cool_until

    def _refused(self, cid: str, exc: VenueError) -> None:
        if isinstance(exc, RateLimitedError):
            self._rate_limited(exc)
            self._reject(cid, RejectCode.RATE_LIMITED, str(exc))
        elif isinstance(exc, RefusedError):
            self._reject(cid, exc.code, str(exc))
        else:
            if isinstance(exc, AuthFailedError):
                self._ask_halt(f"the exchange refused our API key: {exc}")
            self._reject(cid, RejectCode.OTHER, str(exc))

    async def _reconcile(self, cid: str, sent: float) -> dict[str, Any] | None:
        """The order placed under our id (``sent`` at this monotonic time, s), or None when
        the exchange says it does not exist once it can no longer arrive."""
        found = await self._query(cid)
        # Binance refuses a request arriving after timestamp + recvWindow, so once that has
        # passed the order either exists now or never will.
        window_s = float(self._client.options.get("recvWindow", 10_000)) / 1000
        wait_s = window_s - (time.monotonic() - sent)
        if found is None and wait_s > 0:
            await asyncio.sleep(wait_s)
            found = await self._query(cid)
        return found

    async def _query(self, cid: str) -> dict[str, Any] | None:
        """Our order by client id as the exchange has it, or None when it says there is no
        such order; asked again after a backoff until it answers (a ban or a refusal other
        than "no such order" is raised)."""
        attempt = 0
        while True:
            try:
                found: dict[str, Any] = await self._read(
                    lambda: self._client.fetch_order(None, self._symbol, {"clientOrderId": cid})
                )
                return found
            except IpBannedError:
                raise
            except RefusedError as refused:
                if refused.code is RejectCode.UNKNOWN_ORDER:
                    return None
                raise
            except (VenueUnavailableError, RateLimitedError, ClockSkewError) as exc:
                log.warning("order %s still unknown (%s); asking again", cid, exc)
            await asyncio.sleep(self.options.reconnect.delay_s(attempt, self._rng))
            attempt += 1

    def _unknown(self, cid: str, cancel: bool, reason: str) -> None:
        log.warning("%s %s: outcome unknown: %s", "cancel" if cancel else "place", cid, reason)
        now = time.time_ns()
        self._deliver(
            OrderUnknown(exch_ns=now, local_ns=now, client_id=cid, cancel=cancel, reason=reason)
        )

    def _on_placed(self, cid: str, order: dict[str, Any]) -> None:
        tracked = self._orders.get(cid)
        if tracked is None:
            return
        order_id = str(order.get("id") or "")
        tracked.order_id = order_id
        if order_id:
            self._cid_by_order_id[order_id] = cid
        now = time.time_ns()
        stamp = order.get("timestamp")
        tracked.placed_ms = int(stamp or 0)
        self._deliver(
            OrderAccepted(
                exch_ns=int(stamp) * _NS_PER_MS if stamp else now,
                local_ns=now,
                client_id=cid,
                venue_id=order_id,
            )
        )
        for trade in self._held.pop(order_id, []):
            self._on_trade(trade)
        status = str(order.get("status") or "")
        if status in _TERMINAL:
            # A market order that found too little liquidity, or an order the venue dropped.
            self._end(cid, order, lambda: self._terminal(cid, f"order {status} at the venue"))

    async def _cancel(self, intent: CancelOrder) -> None:
        cid = intent.client_id
        if self._banned:
            self._cancel_rejected(cid, RejectCode.RATE_LIMITED, f"not sent: {self._banned}")
            return
        settling = self._unsettled.get(cid)
        if settling is not None:
            # Sent now, the cancel could meet "unknown order" and the order land afterwards
            # with nothing left to cancel it: wait until the placement is settled.
            await settling.wait()
            if cid not in self._orders:
                return  # never placed: the engine has its rejection
        tracked = self._orders.get(cid)
        order_id = tracked.order_id if tracked is not None and tracked.order_id else None
        route = self._route()
        for _ in range(self.options.read_attempts):
            try:
                ended = await self._read(
                    lambda: self._timed(cid, CANCEL, route.cancel, cid, order_id),
                    retry_unavailable=False,
                    kind=Kind.CANCEL,
                )
            except VenueUnavailableError as exc:
                self._unknown(cid, True, f"{exc}; asking the exchange by client id")
                order = await self._query(cid)
                if order is not None and order.get("status") == "open":
                    continue  # still working: cancel it again
                await self._cancel_settled(cid, order)
                return
            except VenueError as exc:
                await self._cancel_failed(cid, exc)
                return
            self._end(cid, ended, lambda: self._terminal(cid, "cancelled on request"))
            return
        self._cancel_rejected(cid, RejectCode.OTHER, "still open after cancels without an answer")

    async def _cancel_settled(
        self, cid: str, order: dict[str, Any] | None, refusal: str = ""
    ) -> None:
        """A cancel whose answer was lost (or, with ``refusal``, was "unknown order"), ended by
        the exchange's view of the order (None: no such order) once its fills are in."""
        status = str((order or {}).get("status") or "")
        if status == "open":
            # Still working although the cancel did not end it: the engine keeps it and
            # cancels again.
            self._cancel_rejected(cid, RejectCode.OTHER, "still open at the venue")
        elif status in _TERMINAL and not refusal:
            await self._ended(
                cid, order, lambda: self._terminal(cid, f"order {status} at the venue")
            )
        else:
            reason = refusal or f"not open at the venue ({status or 'no such order'})"
            await self._ended(
                cid, order, lambda: self._cancel_rejected(cid, RejectCode.UNKNOWN_ORDER, reason)
            )

    async def _cancel_failed(self, cid: str, exc: VenueError) -> None:
        """The cancel was answered with a refusal, or not sent."""
        if isinstance(exc, RefusedError):
            if exc.code is RejectCode.UNKNOWN_ORDER:
                # Gone already, most likely filled: how much it filled is asked of the exchange
                # and those fills are delivered before the order's end.
                try:
                    order = await self._query(cid)
                except VenueError as query_exc:
                    log.warning("order %s could not be asked after %s: %s", cid, exc, query_exc)
                    order = None
                await self._cancel_settled(cid, order, str(exc))
                return
            self._cancel_rejected(cid, exc.code, str(exc))
            return
        if isinstance(exc, IpBannedError):
            self._ban(exc)
        self._cancel_rejected(
            cid,
            RejectCode.RATE_LIMITED if isinstance(exc, RateLimitedError) else RejectCode.OTHER,
            str(exc),
        )

    def _end(self, cid: str, order: dict[str, Any] | None, report: Callable[[], None]) -> None:
        """Deliver an order's end (``report``) now, or once the fills the exchange counts for
        it (``order['filled']``) have all been delivered: the engine must never see an order
        gone while a fill of it is still on its way (a flatten would call itself done)."""
        if self._fills_missing(cid, order):
            self._spawn(self._ended(cid, order, report))
        else:
            report()

    def _fills_missing(self, cid: str, order: dict[str, Any] | None) -> int:
        tracked = self._orders.get(cid)
        if tracked is None or not order or order.get("filled") is None:
            return 0
        return max(to_lots(self.instrument, order["filled"]) - tracked.filled_lots, 0)

    async def _ended(
        self, cid: str, order: dict[str, Any] | None, report: Callable[[], None]
    ) -> None:
        """``report`` once the order's fills are in: the user stream usually brings them
        within moments; failing that they are fetched by REST, a few times with backoff."""
        tracked = self._orders.get(cid)
        waited = 0.0
        while self._stream_up and waited < _STREAM_GRACE_S and self._fills_missing(cid, order):
            await asyncio.sleep(0.01)
            waited += 0.01
        for attempt in range(self.options.read_attempts):
            if not self._fills_missing(cid, order):
                break
            since = tracked.placed_ms - 1_000 if tracked and tracked.placed_ms else None
            try:
                await self.poll_fills(force=True, since_ms=since)
            except VenueError as exc:
                log.warning("fills of %s could not be fetched: %s", cid, exc)
            await asyncio.sleep(self.options.backoff.delay_s(attempt, self._rng))
        missing = self._fills_missing(cid, order)
        if missing:
            log.error(
                "order %s: the exchange counts %d lot(s) filled that never reached us; the "
                "position check will tell",
                cid,
                missing,
            )
        report()

    def _terminal(self, cid: str, reason: str) -> None:
        tracked = self._orders.get(cid)
        if tracked is None or tracked.done:
            return
        tracked.done = True
        now = time.time_ns()
        self._deliver(OrderCancelled(exch_ns=now, local_ns=now, client_id=cid, reason=reason))

    def _cancel_rejected(self, cid: str, code: RejectCode, reason: str) -> None:
        now = time.time_ns()
        if code is RejectCode.UNKNOWN_ORDER:
            tracked = self._orders.get(cid)
            if tracked is not None:
                tracked.done = True
        self._deliver(
            CancelRejected(exch_ns=now, local_ns=now, client_id=cid, code=code, reason=reason)
        )

    async def _account(self, intent: RequestAccount) -> None:
        inst = self.instrument
        # The periodic account check can wait when the limits are near; the first one (the
        # engine's start) cannot.
        kind = Kind.POLL if self._account_read else Kind.READ
        recovery, self._recovery = self._recovery, None
        positions = await self._read(
            lambda: self._client.fetch_positions([self._symbol]), kind=kind
        )
        read_ms = self._exchange_ms()
        orders = await self._read(lambda: self._client.fetch_open_orders(self._symbol), kind=kind)
        self._account_read = True
        late: list[dict[str, Any]] = []
        if recovery is not None:
            try:
                late = await self._recover(recovery, read_ms)
            except VenueError as exc:
                # No start on a record with a hole in it: the next start asks again.
                self._recovery = recovery
                log.error("fills made while down could not be fetched: %s", exc)
                raise
        position_lots = sum(self._position_lots(p) for p in positions)
        entries = [p.get("entryPrice") for p in positions if self._position_lots(p)]
        entry_ticks = to_ticks(inst, entries[0]) if len(entries) == 1 and entries[0] else 0
        listed = []
        for o in orders:
            cid = str(o.get("clientOrderId") or "")
            side = Side.BUY if o.get("side") == "buy" else Side.SELL
            orig = to_lots(inst, o.get("amount") or 0)
            filled = to_lots(inst, o.get("filled") or 0)
            if cid and cid not in self._orders:
                # An order from before this start: known from now on, so its fills count.
                self._orders[cid] = _Tracked(orig, filled, str(o.get("id") or ""))
                self._cid_by_order_id[str(o.get("id") or "")] = cid
            listed.append(
                OpenOrderInfo(
                    client_id=cid,
                    side=side,
                    price_ticks=to_ticks(inst, o.get("price") or 0),
                    leaves_lots=orig - filled,
                )
            )
        now = time.time_ns()
        self._deliver(
            AccountSnapshot(
                exch_ns=now,
                local_ns=now,
                position_lots=position_lots,
                open_orders=tuple(listed),
                entry_price_ticks=entry_ticks,
            )
        )
        for t in late:
            self._on_trade(t)  # after the position read: the engine counts them

    async def _recover(self, r: Recovery, read_ms: int) -> list[dict[str, Any]]:
        """Store our trades since ``r.since_ms`` made before the position read (``read_ms``)
        through ``r.store``; returns those made after it, for the engine. Raises VenueError
        when the trades or their orders cannot be read."""
        trades = await self._trades_since(r.since_ms)
        done = r.known | self._seen
        fresh = [t for t in trades if str(t.get("id") or "") not in done]
        owners = await self._owners({str(t.get("order") or "") for t in fresh})
        recovered: list[Fill] = []
        late: list[dict[str, Any]] = []
        for t in fresh:
            cid = owners.get(str(t.get("order") or ""), "")
            if not cid.startswith(r.prefix):
                continue
            if int(t.get("timestamp") or 0) > read_ms:
                late.append(t)
                continue
            trade_id = str(t.get("id") or "")
            self._remember(trade_id)
            recovered.append(self._fill_of(t, cid, 0))
        if recovered:
            log.warning(
                "recovered %d fill(s) made while tradetui was down (stored, not counted by the "
                "engine: the position it adopts holds them)",
                len(recovered),
            )
            r.store(recovered)
        return late

    async def _trades_since(self, since_ms: int) -> list[dict[str, Any]]:
        """Our trades of the symbol from ``since_ms`` to now, page by page: Binance serves at
        most 1000 per request and 7 days between startTime and endTime."""
        out: dict[str, dict[str, Any]] = {}
        start, now = since_ms, self._exchange_ms()
        while start <= now:
            stop = min(start + _WEEK_MS - 1, now)
            page = await self._read(
                partial(
                    self._client.fetch_my_trades, self._symbol, start, _TRADES_PAGE, {"until": stop}
                )
            )
            for t in page:
                out[str(t.get("id") or "")] = t
            if len(page) < _TRADES_PAGE:
                start = stop + 1
            else:
                start = max(int(page[-1].get("timestamp") or 0), start + 1)
        return sorted(out.values(), key=lambda t: int(t.get("timestamp") or 0))

    async def _owners(self, order_ids: set[str]) -> dict[str, str]:
        """Client order id by exchange order id (REST trades name only the order): known
        ones, the rest asked of the exchange (one query per order)."""
        owners = {oid: cid for oid, cid in self._cid_by_order_id.items() if oid in order_ids}
        ask = sorted(order_ids - owners.keys() - {""})

        async def one(oid: str) -> None:
            order = await self._read(lambda: self._client.fetch_order(oid, self._symbol))
            owners[oid] = str(order.get("clientOrderId") or "")

        await asyncio.gather(*(one(oid) for oid in ask))
        return owners

    def _exchange_ms(self) -> int:
        """The exchange's clock now (ms), by the offset measured at connect."""
        c = self._client
        return int(c.milliseconds() - (c.options.get("timeDifference") or 0))

    def _position_lots(self, p: dict[str, Any]) -> int:
        inst = self.instrument
        info = p.get("info") or {}
        if "positionAmt" in info:  # Binance: signed, exact
            return to_lots(inst, info["positionAmt"])
        contracts = Decimal(str(p.get("contracts") or 0)) * Decimal(str(p.get("contractSize") or 1))
        lots = to_lots(inst, contracts)
        return -lots if p.get("side") == "short" else lots

    # ---- fills ------------------------------------------------------------------------------

    async def poll_fills(self, force: bool = False, since_ms: int | None = None) -> int:
        """Fetch our recent trades by REST (within the poll budget unless ``force``; from
        ``since_ms`` when given, else from shortly before the last trade seen); returns the
        fills delivered (trades already seen are skipped)."""
        now = time.monotonic()
        if not force and (now - self._last_poll < self.options.fill_poll_s or not self.working):
            return 0
        self._last_poll = now
        since = since_ms if since_ms is not None else self._since_ms or None
        # The timer's poll can wait when the limits are near; a forced one is awaited by an
        # order's end or a reconnect's catch-up.
        kind = Kind.READ if force else Kind.POLL
        trades = await self._read(
            lambda: self._client.fetch_my_trades(self._symbol, since), kind=kind
        )
        delivered = [t for t in trades if self._on_trade(t)]
        if self._stream_up and len(self._rest_only) < _HELD_TRADES:
            # The stream should send these too (not those of a gap before it came up: a
            # second's margin for the clocks); if it never does, it is deaf.
            found = time.monotonic()
            self._rest_only.update(
                (str(t["id"]), found)
                for t in delivered
                if int(t.get("timestamp") or 0) > self._up_ms + 1_000
            )
        return len(delivered)

    def _on_trade(self, t: dict[str, Any]) -> bool:
        """Deliver one trade of ours as a Fill unless seen before; True when delivered."""
        trade_id = str(t.get("id") or "")
        if not trade_id or trade_id in self._seen:
            return False
        info = t.get("info") or {}
        order_id = str(t.get("order") or "")
        cid = str(info.get("c") or info.get("clientOrderId") or "")
        if cid not in self._orders:
            cid = self._cid_by_order_id.get(order_id, "")
        if not cid:
            if order_id and self._placing() and len(self._held) < _HELD_TRADES:
                # Our placement's answer (which names the order) may still be on its way.
                self._held.setdefault(order_id, []).append(t)
            else:
                log.debug("trade %s of order %s is not ours; ignored", trade_id, order_id)
            return False
        self._remember(trade_id)
        stamp = int(t.get("timestamp") or 0)
        self._since_ms = max(self._since_ms, stamp - 1_000)
        tracked = self._orders[cid]
        tracked.filled_lots += to_lots(self.instrument, t.get("amount") or 0)
        leaves = max(tracked.orig_lots - tracked.filled_lots, 0)
        if leaves == 0:
            tracked.done = True
        self._deliver(self._fill_of(t, cid, leaves))
        return True

    def _fill_of(self, t: dict[str, Any], cid: str, leaves: int) -> Fill:
        """A ccxt trade of our order ``cid`` as a Fill (``leaves``: what is left of it)."""
        trade_id = str(t.get("id") or "")
        stamp = int(t.get("timestamp") or 0)
        inst = self.instrument
        lots = to_lots(inst, t.get("amount") or 0)
        fee = t.get("fee") or {}
        fee_settle = float(fee.get("cost") or 0.0)
        asset = str(fee.get("currency") or inst.settle)
        charged, rate = "", 0.0
        if asset != inst.settle:
            charged = self._stated_fee(t.get("info") or {}, fee_settle)
            if self._fee_rates is None:
                self._fee_rates = FeeRates(inst.settle)
            fee_settle, rate = self._fee_rates.value(asset, fee_settle)
            if asset not in self._fee_assets:
                self._fee_assets.add(asset)  # valued from now on, when the exchange prices it
                self._spawn(self._refresh_rates())
        else:
            asset = ""
        return Fill(
            exch_ns=stamp * _NS_PER_MS if stamp else time.time_ns(),
            local_ns=time.time_ns(),
            client_id=cid,
            trade_id=trade_id,
            side=Side.BUY if t.get("side") == "buy" else Side.SELL,
            price_ticks=to_ticks(inst, t.get("price") or 0),
            qty_lots=lots,
            leaves_lots=leaves,
            fee=fee_settle,
            is_maker=t.get("takerOrMaker") == "maker",
            fee_asset=asset,
            fee_charged=charged,
            fee_rate=rate,
        )

    @staticmethod
    def _stated_fee(info: dict[str, Any], cost: float) -> str:
        """The fee exactly as the exchange wrote it (stream ``n``, REST ``commission``) when
        it is the amount ccxt parsed, else ccxt's number."""
        for key in ("n", "commission"):
            text = info.get(key)
            if isinstance(text, str):
                try:
                    if float(text) == cost:
                        return text
                except ValueError:
                    pass
        return repr(cost)

    def _placing(self) -> bool:
        return any(not t.order_id and not t.done for t in self._orders.values())

    def _remember(self, trade_id: str) -> None:
        self._seen.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > _SEEN_TRADES:
            self._seen.discard(self._seen_order.popleft())

    # ---- user stream ------------------------------------------------------------------------

    async def _watch_trades(self) -> None:
        await self._watch(self._client.watch_my_trades, self._on_streamed_trade, track=True)

    def _on_streamed_trade(self, t: dict[str, Any]) -> None:
        self._rest_only.pop(str(t.get("id") or ""), None)
        self._on_trade(t)

    async def _watch_orders(self) -> None:
        await self._watch(self._client.watch_orders, self._on_order_update, track=False)

    async def _watch(
        self,
        watch: Callable[..., Awaitable[list[dict[str, Any]]]],
        handle: Callable[[dict[str, Any]], object],
        *,
        track: bool,
    ) -> None:
        """Watch one user-stream channel forever; ``track`` makes this loop the one that tells
        when the stream goes down and comes back."""
        attempt = 0
        while not self._closing:
            call = asyncio.ensure_future(watch(self._symbol))
            try:
                if track and not self._stream_up:
                    await self._until_connected(call)
                    attempt = 0
                items = await call
            except asyncio.CancelledError:
                call.cancel()
                raise
            except Exception as exc:
                err = self._mapped(exc)
                if isinstance(err, IpBannedError):
                    self._ban(err)
                if track and not isinstance(exc, _StreamRenewed):
                    # Whatever broke it (a close, a keepalive refused with -1125), the next
                    # subscription asks for a listenKey again: the one held may have expired.
                    await self._renew_stream(str(err))
                delay = self.options.reconnect.delay_s(attempt, self._rng)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            for item in items:
                handle(item)

    async def _until_connected(self, call: asyncio.Future[Any]) -> None:
        """Wait until the watch's websocket is open (then mark the stream up) or it fails."""
        while not call.done():
            if self._ws_open():
                self._stream_changed(True, "user stream connected")
                return
            await asyncio.sleep(0.005)
        call.result()  # raises the failure
        self._stream_changed(True, "user stream connected")

    def _ws_open(self) -> bool:
        for ws in list(getattr(self._client, "clients", {}).values()):
            fut = ws.connected
            conn = getattr(ws, "connection", None)
            if (
                fut.done()
                and not fut.cancelled()
                and fut.exception() is None
                and conn is not None
                and not conn.closed
            ):
                return True
        return False

    def _stream_changed(self, up: bool, detail: str) -> None:
        if up == self._stream_up:
            return
        self._stream_up = up
        self._note_listen_keys()
        self._rest_only.clear()
        if up:
            # The REST reconciliation timer runs from here (a reconnect fetches the gap at once).
            self._alive_at = self._last_poll = time.monotonic()
            offset = self._client.options.get("timeDifference", 0) or 0
            self._up_ms = int(self._client.milliseconds() - offset)
            log.info(
                "%s user stream %s", self._client.id, "reconnected" if self._was_up else "connected"
            )
            if self._was_up:
                # Fills made while we were away arrive only by REST: fetch them now.
                self._spawn(self.poll_fills(force=True), after_orders=True)
                self._tell(True, "user stream reconnected")
            self._was_up = True
        else:
            log.warning("%s user stream down: %s", self._client.id, detail)
            self._tell(False, detail)

    def _tell(self, up: bool, detail: str) -> None:
        if self.on_connection is not None:
            self.on_connection(up, "account", detail)

    def _on_order_update(self, o: dict[str, Any]) -> None:
        cid = str(o.get("clientOrderId") or "")
        if cid not in self._orders:
            cid = self._cid_by_order_id.get(str(o.get("id") or ""), "")
        status = str(o.get("status") or "")
        if cid and status in _TERMINAL:
            self._end(cid, o, lambda: self._terminal(cid, f"order {status} at the venue"))

    async def _poll_loop(self) -> None:
        o = self.options
        while not self._closing:
            await asyncio.sleep(o.fill_poll_s)
            if not self.working:
                continue
            try:
                if not self._stream_up or not o.user_stream:
                    await self.poll_fills()
                elif time.monotonic() - self._last_poll >= o.fill_reconcile_s:
                    await self._reconcile_fills()
                elif time.monotonic() - self._alive_at >= o.stream_silence_s:
                    await self._probe_listen_key()
            except VenueError as exc:
                log.warning("fill poll failed: %s", exc)

    async def _reconcile_fills(self) -> None:
        """With the stream up: fetch fills by REST; renew the stream when fills found so a
        reconcile ago have still not come on it (it is deaf)."""
        cutoff = time.monotonic() - self.options.fill_reconcile_s
        missed = sum(1 for found in self._rest_only.values() if found <= cutoff)
        if missed:
            await self._renew_stream(
                f"the user stream never sent {missed} fill(s) found by REST; renewing it"
            )
            return
        await self.poll_fills(force=True)

    async def _probe_listen_key(self) -> None:
        """Silence while orders work proves nothing (an idle stream sends nothing): ask the
        exchange whether the listenKey still lives with a keepalive (Binance; which also
        extends it); -1125 says it expired, so the stream is renewed."""
        self._alive_at = time.monotonic()
        name = _KEEPALIVE.get(str(self._client.id))
        if name is None:
            return  # no way to ask: the fill reconcile still catches what the stream misses
        try:
            await self._call(getattr(self._client, name))
        except VenueError as exc:
            if _NO_LISTEN_KEY in str(exc):
                await self._renew_stream("the listenKey expired (keepalive answered -1125)")
            else:
                log.warning("listenKey keepalive failed: %s", exc)

    # ---- user stream: renewal -----------------------------------------------------------------

    def _hook_messages(self) -> None:
        """See each user-stream message before ccxt.pro handles it (the client serves only the
        user stream): any message is a sign of life, and ``listenKeyExpired`` (which ccxt.pro
        ignores, leaving the socket open and silent) renews the stream."""
        client = self._client
        handle = client.handle_message
        if getattr(handle, "venue_hook", False):
            return

        def hooked(ws: Any, message: Any) -> Any:
            self._on_stream_message(message)
            return handle(ws, message)

        hooked.venue_hook = True  # type: ignore[attr-defined]
        client.handle_message = hooked

    def _on_stream_message(self, message: Any) -> None:
        self._alive_at = time.monotonic()
        if not isinstance(message, dict):
            return
        data = message.get("data", message)
        if not isinstance(data, dict):
            return
        if data.get("e") == "listenKeyExpired":
            self._spawn(self._renew_stream("the exchange expired the listenKey"))
        elif data.get("e") == "ORDER_TRADE_UPDATE" and self.on_request is not None:
            self._order_streamed(data)

    def _order_streamed(self, data: dict[str, Any]) -> None:
        """Note when an order's user-stream update for a request of ours arrived: NEW for a
        placement, CANCELED for a cancel (Binance "Event: Order Update": ``x`` the execution
        type, ``c`` the client order id, ``T`` the transaction time)."""
        o = data.get("o")
        if not isinstance(o, dict):
            return
        kind = {"NEW": PLACE, "CANCELED": CANCEL}.get(str(o.get("x")))
        stamp = o.get("T") or data.get("T") or data.get("E")
        if kind is not None and stamp:
            self._requests_timed.streamed(str(o.get("c") or ""), kind, int(stamp))

    async def _renew_stream(self, reason: str) -> None:
        """Mark the user stream down (``reason``), make ccxt fetch a listenKey again (POST:
        the same key while it lives, else a new one) and drop its sockets: the watch loops
        subscribe again, and the reconnect fetches the gap's fills by REST."""
        if self._closing:
            return
        self._stream_changed(False, reason)
        for bucket in list(self._client.options.values()):
            if isinstance(bucket, dict) and "lastAuthenticatedTime" in bucket:
                # What ccxt.pro's binance does itself when a keepalive fails.
                bucket["listenKey"] = None
                bucket["lastAuthenticatedTime"] = 0
        clients = getattr(self._client, "clients", None) or {}
        for url, ws in list(clients.items()):
            if getattr(ws, "connection", None) is None:
                continue  # never dialed (ccxt's authentication bookkeeping)
            del clients[url]
            renewed = _StreamRenewed(f"{self._client.id} user stream renewed")
            # Set before closing, so ccxt's close handler leaves the client list alone (a new
            # socket may already be there under the same URL).
            ws.error = renewed
            ws.reject(renewed)
            with contextlib.suppress(Exception):
                await ws.close()

    def _note_listen_keys(self) -> None:
        """Redact the listenKeys ccxt holds from our log lines (COIN-M's sit bare in URLs)."""
        for bucket in list(self._client.options.values()):
            if isinstance(bucket, dict) and isinstance(bucket.get("listenKey"), str):
                self._redact.add(bucket["listenKey"])

    # ---- plumbing ---------------------------------------------------------------------------

    def _mapped(self, exc: Exception) -> VenueError:
        if isinstance(exc, VenueError):
            return exc
        headers = getattr(self._client, "last_response_headers", None) or {}
        try:
            retry_after = float(headers.get("Retry-After", 1.0))
        except (TypeError, ValueError):
            retry_after = 1.0
        return map_error(exc, self._redact.redact, min(max(retry_after, 0.5), 60.0))

    async def _call(self, call: Callable[[], Awaitable[T]], kind: Kind = Kind.READ) -> T:
        """One request, paced (``kind``: how much it matters); its failure as our error type
        (a ban also stops everything)."""
        pacer = self._pacer
        if pacer.limits:
            wait = pacer.schedule(kind, self._exchange_s())
            if wait > 0:
                self._pacing_changed()
                await asyncio.sleep(wait)
            pacer.sent(kind, self._exchange_s())
            self._client.last_response_headers = None  # no answer must not reuse a stale one
        try:
            result = await call()
        except Exception as exc:
            if pacer.limits:
                self._observe()
            err = self._mapped(exc)
            if isinstance(err, IpBannedError):
                self._ban(err)
            raise err from None
        if pacer.limits:
            self._observe()
        return result

    def _exchange_s(self) -> float:
        """The exchange clock (s), on which its rate-limit windows start."""
        return time.time() - float(self._client.options.get("timeDifference", 0)) / 1000

    def _observe(self) -> None:
        """Feed the pacer the used counts the last answer's headers carry."""
        now = self._exchange_s()
        self._pacer.observe(self._client.last_response_headers, now)
        self._pacing_changed(now)

    def _pacing_changed(self, now: float | None = None) -> None:
        """Log once when pacing starts and once when it ends, with the figures."""
        now = self._exchange_s() if now is None else now
        engaged = self._pacer.engaged(now)
        if engaged == self._pacing:
            return
        self._pacing = engaged
        if engaged:
            log.warning(
                "rate pacing on from %d%% of a limit: %s",
                round(self._pacer.soft * 100),
                self._pacer.figures(now),
            )
        else:
            log.info("rate pacing off: %s", self._pacer.figures(now))

    async def _read(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        resync: bool = True,
        retry_unavailable: bool = True,
        kind: Kind = Kind.READ,
    ) -> T:
        """``call`` retried on no answer (unless not ``retry_unavailable``; and on a clock
        skew, after a resync) with capped exponential backoff and jitter, and on a rate limit
        after the exchange's Retry-After (placements are not reads: they cool down instead); a
        ban or a refusal is raised at once."""
        attempts = self.options.read_attempts
        for attempt in range(attempts):
            try:
                return await self._call(call, kind)
            except IpBannedError:
                raise
            except RateLimitedError as exc:
                self._rate_limited(exc)
                if attempt + 1 == attempts:
                    raise
                await asyncio.sleep(exc.retry_after_s)
                continue
            except ClockSkewError:
                if not resync or attempt + 1 == attempts:
                    raise
                await self.sync_clock()
                continue
            except VenueUnavailableError as exc:
                if not retry_unavailable or attempt + 1 == attempts:
                    raise
                log.warning("request failed (%s); retrying", exc)
            await asyncio.sleep(self.options.backoff.delay_s(attempt, self._rng))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _rate_limited(self, exc: RateLimitedError) -> None:
        self._cool_until = max(self._cool_until, time.monotonic() + exc.retry_after_s)
        log.warning("rate limited: placements pause %.1f s (%s)", exc.retry_after_s, exc)

    def _ban(self, exc: IpBannedError) -> None:
        if self._banned:
            return
        self._banned = f"{self._client.id} banned this IP (418): {exc}"
        log.error("%s; no further requests will be sent", self._banned)
        self._ask_halt(self._banned)

    def _ask_halt(self, reason: str) -> None:
        if self.on_halt is not None:
            self.on_halt(reason)

    def _spawn(self, coro: Awaitable[object], *, after_orders: bool = False) -> None:
        """Run ``coro`` as a task; ``after_orders`` lets the order requests submitted in the
        same loop step (the rest of a decision) build and send theirs first."""

        async def run() -> None:
            try:
                if after_orders:
                    await asyncio.sleep(0)
                await coro
            except VenueError as exc:
                log.error("venue request failed: %s", exc)
            except Exception:
                log.exception("venue request failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reject(self, client_id: str, code: RejectCode, reason: str) -> None:
        now = time.time_ns()
        self._deliver(
            OrderRejected(exch_ns=now, local_ns=now, client_id=client_id, code=code, reason=reason)
        )

    def _deliver(self, ev: AccountEvent) -> None:
        if self.on_event is not None:
            self.on_event(ev)
            return
        self._events.append(ev)
        self._ready.set()


def _why(exc: Exception) -> str:
    """An error's message, or what a bare timeout means."""
    return str(exc) or "no answer in time"
