"""A loopback HTTP server speaking Binance futures REST, backed by the shared matching engine.

It plays the exchange of its instrument: Binance USD-M under ``/fapi`` for a linear contract,
COIN-M under ``/dapi`` for an inverse one (spot instruments get spot's ``/api/v3`` market data).
``exchangeInfo`` lists every market of the simulated listing (venues/sim_listing.py), and with
``universe`` (``UniverseSpec``) synthetic symbols beyond it whose public streams run at
realistic rates (sandbox/universe.py); only the traded symbol has a matching engine and takes
orders, the others' books are their touch (depth snapshot and diff stream) and they refuse
orders.

Signed endpoints check the ``X-MBX-APIKEY`` header, the HMAC-SHA256 signature of the query
string plus body, and the timestamp against ``recvWindow`` (-1021), as Binance does. The
market advances with the wall clock: every request first applies the market events up to now,
and a background task does the same a few times a second so fills happen between requests.
Fault switches (``SandboxExchange.faults``) make the server answer with clock skew, a forced
HTTP status (429, 418, 5xx) or a delay, or carry a request out and then lose its answer (a 5xx
or a closed connection). Binance's rate limits are enforced (sandbox/limits.py): the used-weight
and order-count headers on answers, 429 over a limit, 418 for a client that keeps going. Keys
and signatures are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import MarketEvent, OrderType, Side
from tradetui.sandbox import formats
from tradetui.sandbox.account import ExchangeError, SandboxAccount
from tradetui.sandbox.limits import RateLimiter
from tradetui.sandbox.streams import PUBLIC, StreamHub
from tradetui.sandbox.tape import Tape, valid_interval
from tradetui.sandbox.universe import Universe, UniverseSpec, universe_entries
from tradetui.venues.sim_listing import listing_entries

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_NS_PER_MS = 1_000_000
_DEFAULT_RECV_WINDOW_MS = 5_000
_DAY_MS = 86_400_000
_MAX_RECV_WINDOW_MS = 60_000
# A timestamp this far ahead of the server clock is refused even inside the window (Binance).
_AHEAD_LIMIT_MS = 1_000
_ADVANCE_PERIOD_S = 0.05
_REQUEST_LOG_LEN = 10_000
# The futures depth snapshot's limits: "Valid limits:[5, 10, 20, 50, 100, 500, 1000]", others
# refused with -4021 INVALID_DEPTH_LIMIT (Binance USD-M and COIN-M "Order Book" and "Error
# Codes": developers.binance.com/docs/derivatives/{usds,coin}-margined-futures/...).
_DEPTH_LIMITS = frozenset((5, 10, 20, 50, 100, 500, 1000))
# The exchanges whose listing the sandbox can extend with synthetic symbols (sandbox/universe.py).
_MANY_SYMBOLS = ("binanceusdm", "binancecoinm")
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
# Position mode, as Binance USD-M and COIN-M document it (sources in docs/position-mode.md):
# "New Order": positionSide "Default BOTH for One-way Mode; LONG or SHORT for Hedge Mode. It
# must be sent in Hedge Mode", reduceOnly "Cannot be sent in Hedge Mode"; "Error Codes":
# -4060 INVALID_POSITION_SIDE, -4061 POSITION_SIDE_NOT_MATCH (also no positionSide, or BOTH,
# in hedge mode: dev.binance.vision/t/5970), -1106 PARAM_NOT_REQUIRED (reduceOnly in hedge
# mode, as quoted from the live exchange in nautilus_trader issue 4231 and go-binance issue
# 521), and for "Change Position Mode" -4059 (unchanged), -4067 (open orders), -4068 (a
# position).
_POSITION_SIDES = frozenset(("BOTH", "LONG", "SHORT"))
_NOT_MATCH = (-4061, "Order's position side does not match user's setting.")
_TYPES = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET}
_STATUS_BODY = {
    # USD-M "Error Codes" -1003 (sandbox/limits.py answers the same when a limit is exceeded).
    429: (
        -1003,
        "Too many requests; current limit is 2400 requests per minute. Please use the "
        "websocket for live updates to avoid polling the API.",
    ),
    418: (-1003, "Way too many requests; IP banned until further notice."),
}
# Binance USD-M "Error Codes", 10xx (General Server or Network issues): the bodies of its 5xx
# answers, whose execution status is unknown ("General Info": a 5XX "could have been a
# success"). -1001 is what a busy matching engine answers most, so it is the default.
UNKNOWN_STATUS_MSGS = {
    -1000: "An unknown error occured while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
}
_DEFAULT_5XX_CODE = -1001
# Binance futures "User Data Streams" (developers.binance.com/docs/derivatives/
# usds-margined-futures/user-data-streams/Connect and .../Keepalive-User-Data-Stream): a listenKey
# is valid 60 minutes after creation; POST returns the account's active key (extended) or a new
# one; PUT extends the active key, and a PUT with none active answers -1125 "This listenKey does
# not exist." (spelled out on Binance's Portfolio Margin "User Data Streams" page; ccxt's
# binance error table quotes the same answer). On expiry the stream pushes listenKeyExpired
# (formats.listen_key_expired) and then no more user events (docs/user-stream.md).
LISTEN_KEY_TTL_S = 3600.0
# Funding as Binance charges it by default: every 8 h (00:00, 08:00, 16:00 UTC) at the interest
# rate, 0.01 % per 8 h, when the premium is 0 (Binance "Introduction to Binance Futures Funding
# Rates", https://www.binance.com/en/support/faq/360033525031): the sandbox's constant rate.
_FUNDING_PERIOD_MS = 8 * 3_600_000
_FUNDING_RATE = "0.00010000"
# "The query time period must be less then 7 days (default as the recent 7 days)" (All Orders).
_ORDER_HISTORY_MS = 7 * 86_400_000
_NO_LISTEN_KEY = (-1125, "This listenKey does not exist.")


@dataclass(slots=True)
class Faults:
    """Switches for misbehaviour; all off by default.

    ``skew_ms``: the server clock runs this far ahead of the wall clock (ms, may be negative).
    ``status``/``status_count``: answer the next ``status_count`` requests (-1 = all; with
    ``status_only`` = "METHOD /path" just those) with HTTP ``status`` without handling them
    (429 and 418 with Binance's -1003 body and Retry-After, 5xx with Binance's body for
    ``status_code``, or an empty body when it is 0, as a proxy in front of the exchange
    answers). ``lost_status``/``lost_count``/``lost_only``: handle the
    next ``lost_count`` requests (-1 = all; with ``lost_only`` = "METHOD /path" just those)
    and then lose the answer: HTTP ``lost_status`` with the body for ``status_code``, or, when
    ``lost_status`` is 0, the connection closed without an answer.
    ``delay_s``/``delay_count``: hold the next ``delay_count`` requests (-1 = all) this long
    (s) before handling them, as if they arrived late. ``reject_code``/``reject_count``:
    refuse the next ``reject_count`` new orders (-1 = all) with that Binance code (-2019
    margin insufficient, -5022 post-only would cross, ...). ``legacy_ws_404``: USD-M's legacy
    websocket bases (``/ws``, ``/stream``) answer HTTP 404, stricter than Binance (which serves
    them as ``/public``), to prove a client uses only the routed bases.
    """

    skew_ms: int = 0
    status: int = 0
    status_count: int = 0
    delay_s: float = 0.0
    delay_count: int = -1
    # Only requests "METHOD /path" are delayed when set (e.g. "POST /fapi/v1/order").
    delay_only: str = ""
    reject_code: int = 0
    reject_count: int = 0
    status_code: int = _DEFAULT_5XX_CODE
    status_only: str = ""
    lost_status: int = 0
    lost_count: int = 0
    lost_only: str = ""
    legacy_ws_404: bool = False

    def fail_next(
        self, status: int, count: int = 1, code: int = _DEFAULT_5XX_CODE, only: str = ""
    ) -> None:
        """Answer the next ``count`` requests (-1 = until cleared; ``only`` = "METHOD /path"
        just those) with HTTP ``status`` (a 5xx with Binance's body for ``code``, 0 = none)."""
        self.status, self.status_count, self.status_code = status, count, code
        self.status_only = only

    def lose_next(
        self, status: int = 0, count: int = 1, only: str = "", code: int = _DEFAULT_5XX_CODE
    ) -> None:
        """Carry out the next ``count`` requests (-1 = until cleared; ``only`` = "METHOD
        /path" just those) and lose their answers: HTTP ``status`` (a 5xx) with Binance's body
        for ``code``, or the connection closed when ``status`` is 0."""
        self.lost_status, self.lost_count, self.lost_only = status, count, only
        self.status_code = code

    def delay_next(self, seconds: float, count: int = 1, only: str = "") -> None:
        """Hold the next ``count`` requests (-1 = until cleared) ``seconds`` (s); with
        ``only`` ("METHOD /path") just those requests."""
        self.delay_s, self.delay_count = seconds, count
        self.delay_only = only

    def reject_next(self, code: int, count: int = 1) -> None:
        """Refuse the next ``count`` new orders (-1 = until cleared) with Binance ``code``."""
        self.reject_code, self.reject_count = code, count

    def clear(self) -> None:
        """Turn every fault off."""
        self.skew_ms, self.status, self.status_count = 0, 0, 0
        self.delay_s, self.delay_count, self.delay_only = 0.0, -1, ""
        self.reject_code, self.reject_count = 0, 0
        self.status_code, self.status_only = _DEFAULT_5XX_CODE, ""
        self.lost_status, self.lost_count, self.lost_only = 0, 0, ""
        self.legacy_ws_404 = False

    def take_lost(self, method: str, path: str) -> int | None:
        """How this request's answer is lost (an HTTP status, 0 = connection closed), or None
        when it is answered, counting it down."""
        if self.lost_count == 0 or (self.lost_only and self.lost_only != f"{method} {path}"):
            return None
        if self.lost_count > 0:
            self.lost_count -= 1
        return self.lost_status

    def take_reject(self) -> int:
        """The forced reject code for this new order (0 = none), counting it down."""
        if not self.reject_code or self.reject_count == 0:
            return 0
        if self.reject_count > 0:
            self.reject_count -= 1
        return self.reject_code

    def take_delay(self, method: str = "", path: str = "") -> float:
        """The delay for this request in seconds (0 = none), counting it down."""
        if self.delay_s <= 0 or self.delay_count == 0:
            return 0.0
        if self.delay_only and self.delay_only != f"{method} {path}":
            return 0.0
        if self.delay_count > 0:
            self.delay_count -= 1
        return self.delay_s

    def take_status(self, method: str = "", path: str = "") -> int:
        """The forced status for this request (0 = none), counting it down."""
        if not self.status or self.status_count == 0:
            return 0
        if self.status_only and self.status_only != f"{method} {path}":
            return 0
        if self.status_count > 0:
            self.status_count -= 1
        return self.status


def exchange_of(inst: Instrument) -> str:
    """The ccxt id of the Binance exchange ``inst`` trades on: its own ``venue`` when it names
    one, else by its kind (spot, inverse COIN-M, linear USD-M)."""
    if inst.venue:
        return inst.venue
    if inst.kind is InstrumentKind.SPOT:
        return "binance"
    return "binancecoinm" if inst.inverse else "binanceusdm"


class SandboxExchange:
    """One traded symbol, one account: Binance USD-M REST on ``http://host:port/fapi/...``,
    or COIN-M's on ``/dapi/...`` for an inverse instrument.

    Raises ValueError (one line) when the simulated listing of the instrument's exchange does
    not list its symbol. ``initial_balance`` is in the margin asset (USDT, or the coin).
    USD-M only: ``bnb_balance`` BNB in the futures wallet, priced ``bnb_price`` USDT (what
    ``GET /fapi/v1/ticker/price?symbol=BNBUSDT`` answers), and the BNB fee discount
    (``fee_burn``, also switched by ``POST /fapi/v1/feeBurn``) charge fees in BNB.

    ``hedge_mode``: the account starts in Binance's hedge mode (``dualSidePosition`` true;
    ``POST .../positionSide/dual`` switches it as Binance does): orders must then carry
    positionSide LONG or SHORT and no reduceOnly, and such orders are refused as not modelled.

    Websockets as Binance serves them since it retired USD-M's legacy bases (2026-04-23):
    ``/public`` and ``/market`` (``/ws/<names>`` and ``/stream?streams=``) for market data,
    ``/private/ws?listenKey=K`` for the user stream; the legacy ``/ws`` and ``/stream`` are
    served as ``/public`` ("a connection with no routed path only receives /public data",
    Binance's CAAS "Market Data Streams"), so a user stream there gets nothing.
    ``legacy_ws=True`` plays Binance before the retirement instead: the legacy bases carry
    every stream and the user stream (``/ws/<listenKey>``). COIN-M and spot have no routed
    bases (Binance lists ``wss://dstream.binance.com`` and ``wss://stream.binance.com``
    alone): they always serve the legacy ones.

    ``listen_key_ttl_s``: a listenKey's lifetime without keepalive (Binance: 60 minutes).
    """

    def __init__(
        self,
        instrument: Instrument,
        market: Iterator[MarketEvent],
        *,
        api_key: str,
        api_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        initial_balance: Decimal = Decimal(10_000),
        leverage: int = 20,
        fee_burn: bool = False,
        bnb_balance: Decimal = Decimal(0),
        bnb_price: Decimal = Decimal(0),
        hedge_mode: bool = False,
        legacy_ws: bool = False,
        listen_key_ttl_s: float = LISTEN_KEY_TTL_S,
        weight_limit: int = 0,
        order_limit_10s: int = 0,
        order_limit_1m: int = 0,
        universe: UniverseSpec | None = None,
    ) -> None:
        self.exchange_id = exchange_of(instrument)
        # USD-M's websocket bases are routed by category (see the class docstring).
        self.routed_ws = instrument.kind is not InstrumentKind.SPOT and not instrument.inverse
        self.legacy_ws = legacy_ws or not self.routed_ws
        entries = listing_entries(self.exchange_id)
        spec = universe or UniverseSpec()
        if spec.symbols > len(entries) and self.exchange_id not in _MANY_SYMBOLS:
            raise ValueError(
                f"sandbox: many symbols are served on binanceusdm and binancecoinm only, not on "
                f"{self.exchange_id}"
            )
        if entries:
            entries = entries + universe_entries(entries, spec, inverse=instrument.inverse)
        self.listing = {str(e["symbol"]): e for e in entries}
        if not listen_key_ttl_s > 0:
            raise ValueError(f"sandbox: listen_key_ttl_s must be positive, not {listen_key_ttl_s}")
        if instrument.symbol not in self.listing:
            listed = ", ".join(self.listing) or "nothing"
            raise ValueError(
                f"sandbox: {self.exchange_id} does not list {instrument.symbol} "
                f"(the simulated listing has {listed})"
            )
        # Binance's REST root for the instrument's exchange: futures under /fapi (USD-M) or
        # /dapi (COIN-M); spot's market data is under /api/v3 beside the /fapi account routes.
        self.api = "/dapi" if instrument.inverse else "/fapi"
        if instrument.kind is not InstrumentKind.SPOT:
            instrument = _with_listed_filters(instrument, self.listing[instrument.symbol])
        self.instrument = instrument
        if (fee_burn or bnb_balance or bnb_price) and self.exchange_id != "binanceusdm":
            raise ValueError(
                f"sandbox: the BNB fee discount is Binance USD-M's; {self.exchange_id} has none"
            )
        if (fee_burn or bnb_balance) and bnb_price <= 0:
            raise ValueError("sandbox: BNB fees need a BNB price (bnb_price > 0)")
        self.account = SandboxAccount(
            instrument,
            market,
            initial_balance=initial_balance,
            leverage=leverage,
            id_base=time.time_ns() // _NS_PER_MS,
            fee_burn=fee_burn,
            bnb_balance=bnb_balance,
            bnb_price=bnb_price,
            dual_side_position=hedge_mode,
        )
        self.faults = Faults()
        # Binance's rate limits (sandbox/limits.py), as exchangeInfo advertises them; a limit
        # given here (> 0) replaces the published figure.
        self.limits = RateLimiter(
            formats.rate_limits(instrument, weight_limit, order_limit_10s, order_limit_1m),
            coinm=instrument.inverse,
        )
        self.streams = StreamHub(instrument)
        self.universe = Universe(instrument, entries, spec, self.streams, self.now_ns())
        # The latest requests as (method, path), for tests and the bench; bounded for long runs.
        self.requests: deque[tuple[str, str]] = deque(maxlen=_REQUEST_LOG_LEN)
        self._api_key = api_key
        self._secret = api_secret.encode()
        self._host = host
        self._port = port
        self._listen_key = ""
        # Settable while running (tests): keys made or extended from then on live this long.
        self.listen_key_ttl_s = listen_key_ttl_s
        self._listen_key_until = 0.0  # time.monotonic() at which the key expires
        self._runner: web.AppRunner | None = None
        # The funding history starts a day before the sandbox (the day its 24 h figures model).
        self._history_from_ms = self.server_ms() - _DAY_MS
        self._ticker: asyncio.Task[None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (the ephemeral one when started with port 0)."""
        return self._port

    @property
    def listen_key(self) -> str:
        """The account's active listenKey ('' when none)."""
        return self._listen_key

    @property
    def rest_url(self) -> str:
        """Scheme, host and port to put in front of ``/fapi/v1/...`` (``/dapi``) paths."""
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Bind and serve; the market starts advancing."""
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self.advance()
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Stop serving and the market."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self.streams.drop_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def now_ns(self) -> int:
        """Wall-clock time (ns); the market advances with it."""
        return time.time_ns()

    def server_ms(self) -> int:
        """The exchange clock (ms): wall clock plus the skew fault. The client syncs to it
        by /time, and every time the sandbox stamps (REST answers, orders, trades, user and
        market stream events) comes from it, as all of Binance's come from its one clock."""
        return formats.exchange_ms(self.now_ns(), self.faults.skew_ms)

    async def drop_websockets(self, *, private_only: bool = False) -> None:
        """Close every websocket connection, or only the user streams (the dropped-websocket
        fault)."""
        await self.streams.drop_all(private_only=private_only)

    def advance(self) -> None:
        """Apply the market up to now and publish what changed on the websockets."""
        now_ns, skew_ms = self.now_ns(), self.faults.skew_ms
        events = self.account.advance(now_ns, skew_ms)
        self.streams.publish_market(events, skew_ms)
        self.universe.on_traded(events, skew_ms)
        self.universe.advance(now_ns, skew_ms)
        self._publish_updates()
        if self._listen_key and time.monotonic() >= self._listen_key_until:
            self.streams.expire_user_streams(self._listen_key, self.server_ms())
            self._listen_key = ""

    def _publish_updates(self) -> None:
        updates = self.account.take_updates()
        for u in updates:
            t = u.trade
            if t is not None:  # our fill prints as a public trade of the symbol
                buyer_maker = (t.order.side is Side.BUY) == t.is_maker
                self.universe.on_own_fill(t.price_ticks, t.qty_lots, buyer_maker, t.time_ms)
        if updates:
            now_ms = self.server_ms()
            # Binance pushes the balance and position after fills; one event covers the batch.
            filled = any(u.trade is not None for u in updates)
            account = formats.account_update(self.account, now_ms) if filled else None
            self.streams.publish_updates(updates, now_ms, account)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_ADVANCE_PERIOD_S)
            self.advance()

    # ---- plumbing ---------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        add = app.router.add_route
        api = self.api
        add("GET", f"{api}/v1/ping", self._ping)
        add("GET", f"{api}/v1/time", self._time)
        if self.instrument.kind is InstrumentKind.SPOT:
            add("GET", "/api/v3/exchangeInfo", self._exchange_info)
            add("GET", "/api/v3/depth", self._depth)
        else:
            add("GET", f"{api}/v1/exchangeInfo", self._exchange_info)
            add("GET", f"{api}/v1/depth", self._depth)
        if self.instrument.inverse:
            # COIN-M: account, balance and positions under v1, brackets under v2 (what ccxt's
            # binancecoinm calls: dapiPrivateGetAccount, ...PositionRisk, ...V2GetLeverageBracket).
            add("GET", f"{api}/v1/account", self._signed(self._account))
            add("GET", f"{api}/v1/positionRisk", self._signed(self._positions))
            add("GET", f"{api}/v1/balance", self._signed(self._balance))
            add("GET", f"{api}/v2/leverageBracket", self._signed(self._brackets))
        else:
            for version in ("v2", "v3"):
                add("GET", f"{api}/{version}/account", self._signed(self._account))
                add("GET", f"{api}/{version}/positionRisk", self._signed(self._positions))
            add("GET", f"{api}/v2/balance", self._signed(self._balance))
            add("GET", f"{api}/v1/leverageBracket", self._signed(self._brackets))
        add("POST", f"{api}/v1/leverage", self._signed(self._set_leverage))
        add("POST", f"{api}/v1/marginType", self._signed(self._set_margin_type))
        add("GET", f"{api}/v1/positionSide/dual", self._signed(self._position_mode))
        add("POST", f"{api}/v1/positionSide/dual", self._signed(self._set_position_mode))
        add("POST", f"{api}/v1/order", self._signed(self._place))
        add("GET", f"{api}/v1/order", self._signed(self._get_order))
        add("DELETE", f"{api}/v1/order", self._signed(self._cancel))
        add("GET", f"{api}/v1/openOrders", self._signed(self._open_orders))
        add("DELETE", f"{api}/v1/allOpenOrders", self._signed(self._cancel_all))
        add("GET", f"{api}/v1/userTrades", self._signed(self._user_trades))
        if self.exchange_id == "binanceusdm":
            add("GET", f"{api}/v1/feeBurn", self._signed(self._get_fee_burn))
            add("POST", f"{api}/v1/feeBurn", self._signed(self._set_fee_burn))
            add("GET", f"{api}/v2/ticker/price", self._ticker_price)
        if self.instrument.kind is InstrumentKind.SPOT:
            add("GET", "/api/v3/ticker/price", self._ticker_price)
        else:
            add("GET", f"{api}/v1/ticker/price", self._ticker_price)
        self._market_routes(add)
        add("POST", f"{api}/v1/listenKey", self._keyed(self._listen_key_call))
        add("PUT", f"{api}/v1/listenKey", self._keyed(self._keep_listen_key))
        add("DELETE", f"{api}/v1/listenKey", self._keyed(self._close_listen_key))
        if self.routed_ws:
            for category in ("public", "market"):
                market = self._ws_routed(category)
                add("GET", f"/{category}/ws", market)
                add("GET", f"/{category}/ws/{{names:.+}}", market)
                add("GET", f"/{category}/stream", market)
            add("GET", "/private/ws", self._ws_private)
        add("GET", "/ws", self._ws_legacy)
        # The legacy user stream is /ws/<listenKey> (COIN-M's today; ccxt.pro derives it from
        # the 'inverse' URL); any other /ws/<names> is a market connection.
        add("GET", "/ws/{names:.+}", self._ws_legacy)
        add("GET", "/stream", self._ws_legacy)
        add("POST", "/sandbox/faults", self._set_faults)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if not request.path.startswith(self.api + "/"):
            return await handler(request)
        delay_s = self.faults.take_delay(request.method, request.path)
        if delay_s > 0:
            # The request has arrived whole; only its handling is late.
            await request.read()
            await asyncio.sleep(delay_s)
        status = self.faults.take_status(request.method, request.path)
        if status:
            return _forced(status, self.faults.status_code)
        sub = request.path[len(self.api) :]
        refused = self.limits.admit(request.method, sub, dict(request.query), self.server_ms())
        if refused is not None:
            return refused
        lost = self.faults.take_lost(request.method, request.path)
        self.advance()
        try:
            answer = await handler(request)
        except ExchangeError as exc:
            answer = _error_answer(exc)
        finally:
            self._publish_updates()
        new_order = request.method == "POST" and sub == "/v1/order"
        self.limits.stamp(answer, new_order, self.server_ms())
        if lost is None:
            return answer
        if lost:
            return _forced(lost, self.faults.status_code)
        # Done, and the answer never leaves: the client sees the connection close (aiohttp
        # drops a response written to a closed transport).
        if request.transport is not None:
            request.transport.close()
        return answer

    def _ws_routed(self, category: str) -> Handler:
        """The handler of USD-M's market base ``/<category>``: its streams only."""

        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._ws_market(request, category)

        return handler

    async def _ws_market(self, request: web.Request, category: str | None) -> web.StreamResponse:
        return await self.streams.serve(
            request,
            private=False,
            allowed=lambda: True,
            combined=request.path.endswith("/stream"),
            category=category,
            names=request.match_info.get("names", ""),
        )

    async def _ws_legacy(self, request: web.Request) -> web.StreamResponse:
        """A legacy base (``/ws``, ``/ws/<names>``, ``/stream``): every stream and the user
        stream with ``legacy_ws``, else served as ``/public`` (Binance after the retirement)."""
        if not self.legacy_ws:
            if self.faults.legacy_ws_404:
                raise web.HTTPNotFound(text="sandbox: legacy websocket base refused (fault)")
            return await self._ws_market(request, PUBLIC)
        names = request.match_info.get("names", "")
        if self._listen_key and names == self._listen_key:
            return await self._ws_user(request, self._listen_key)
        return await self._ws_market(request, None)

    async def _set_faults(self, request: web.Request) -> web.StreamResponse:
        """``POST /sandbox/faults?...``: switch faults on a running server (dry runs, demos)."""
        try:
            state = await self.apply_faults(dict(request.query))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(state)

    async def apply_faults(self, spec: dict[str, str]) -> dict[str, Any]:
        """Apply fault switches named as in ``POST /sandbox/faults``; returns them all.

        ``clear``; ``skew_ms``; ``status`` with ``count``, ``code`` (the Binance code of a
        5xx body, 0 = none) and ``only`` ("METHOD /path"); ``lost`` (a 5xx, or 0 = connection
        closed) with ``lost_count`` and ``lost_only`` ("METHOD /path"): carried out, answer
        lost; ``delay_ms`` with ``delay_count`` and ``delay_only`` ("METHOD /path");
        ``reject`` (a Binance code) with ``reject_count``; ``gap``, ``duplicate``, ``reorder``
        (depth updates); ``user_duplicate``, ``user_reorder`` (user-stream updates);
        ``user_stall`` = 1 (the user streams open now get nothing more, yet stay open);
        ``drop`` = all | private (close websockets); ``drop_stream`` = a stream name (close
        the market connections subscribed to it; ``dropped`` says how many);
        ``legacy_ws_404`` = 1 | 0 (USD-M's legacy websocket bases answer HTTP 404);
        ``weight_limit``, ``order_limit_10s``, ``order_limit_1m`` (rate limits from now on).
        Counts of -1 mean until cleared.
        """
        f, sf = self.faults, self.streams.faults
        known = {"clear", "skew_ms", "status", "count", "delay_ms", "delay_count", "reject"}
        known |= {"reject_count", "gap", "duplicate", "reorder", "user_duplicate"}
        known |= {"user_reorder", "drop", "code", "only", "lost", "lost_count", "lost_only"}
        known |= {"legacy_ws_404", "delay_only", "user_stall", "drop_stream", *_LIMIT_SWITCHES}
        text = ("drop", "clear", "only", "lost_only", "delay_only", "drop_stream")
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known: {', '.join(sorted(known))}")
        try:
            n = {k: int(v) for k, v in spec.items() if k not in text}
        except ValueError:
            raise ValueError("fault values must be whole numbers") from None
        if "clear" in spec:
            f.clear()
            sf.gap = sf.duplicate = sf.reorder = sf.user_duplicate = sf.user_reorder = 0
        if "skew_ms" in n:
            f.skew_ms = n["skew_ms"]
        code = n.get("code", f.status_code)
        if code and code not in UNKNOWN_STATUS_MSGS:
            raise ValueError(f"code must be 0 or one of {sorted(UNKNOWN_STATUS_MSGS)}")
        if "status" in n:
            f.fail_next(n["status"], n.get("count", 1), code, spec.get("only", ""))
        if "lost" in n:
            lost = n["lost"]
            if lost and not 500 <= lost <= 599:
                raise ValueError("lost must be 0 (connection closed) or a 5xx status")
            f.lose_next(lost, n.get("lost_count", 1), spec.get("lost_only", ""), code)
        if "delay_ms" in n:
            f.delay_next(n["delay_ms"] / 1000, n.get("delay_count", 1), spec.get("delay_only", ""))
        if "reject" in n:
            f.reject_next(n["reject"], n.get("reject_count", 1))
        if "legacy_ws_404" in n:
            f.legacy_ws_404 = bool(n["legacy_ws_404"])
        for name, (kind, interval, num) in _LIMIT_SWITCHES.items():
            if name in n:
                if n[name] <= 0:
                    raise ValueError(f"{name} must be a positive whole number")
                self.limits.set_limit(kind, interval, num, n[name])
        for name in ("gap", "duplicate", "reorder", "user_duplicate", "user_reorder"):
            if name in n:
                setattr(sf, name, n[name])
        if n.get("user_stall"):
            self.streams.mute_user_streams()
        drop = spec.get("drop")
        if drop is not None:
            if drop not in ("all", "private"):
                raise ValueError("drop must be all or private")
            await self.drop_websockets(private_only=drop == "private")
        dropped = 0
        if "drop_stream" in spec:
            dropped = await self.streams.drop_subscribers(spec["drop_stream"])
        return {
            "dropped": dropped,
            "skew_ms": f.skew_ms,
            "status": f.status,
            "count": f.status_count,
            "code": f.status_code,
            "only": f.status_only,
            "lost": f.lost_status,
            "lost_count": f.lost_count,
            "lost_only": f.lost_only,
            "delay_ms": round(f.delay_s * 1000),
            "delay_count": f.delay_count,
            "delay_only": f.delay_only,
            "reject": f.reject_code,
            "reject_count": f.reject_count,
            "legacy_ws_404": int(f.legacy_ws_404),
            "gap": sf.gap,
            "duplicate": sf.duplicate,
            "reorder": sf.reorder,
            "user_duplicate": sf.user_duplicate,
            "user_reorder": sf.user_reorder,
            # Rate limiting so far (read-only): 429s and 418s answered, the most each limit's
            # window held.
            "limited": self.limits.limited,
            "banned": self.limits.banned,
            "peak": self.limits.peak,
        }

    async def _ws_private(self, request: web.Request) -> web.StreamResponse:
        return await self._ws_user(request, request.query.get("listenKey", ""))

    async def _ws_user(self, request: web.Request, key: str) -> web.StreamResponse:
        return await self.streams.serve(
            request,
            private=True,
            allowed=lambda: (
                bool(self._listen_key)
                and hmac.compare_digest(key.encode(), self._listen_key.encode())
            ),
            key=key,
        )

    def _keyed(self, fn: Callable[[dict[str, str]], Any]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            self._check_key(request)
            return web.json_response(fn(dict(request.query)))

        return handler

    def _signed(self, fn: Callable[[dict[str, str]], Any]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            self._check_key(request)
            params = self._verify(request.query_string, await request.text())
            return web.json_response(fn(params))

        return handler

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("X-MBX-APIKEY", "")
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            raise ExchangeError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    def _verify(self, query: str, body: str) -> dict[str, str]:
        """Parameters of a signed request after the signature and timestamp checks."""
        total = query + body if not query or not body else f"{query}&{body}"
        parts = total.split("&")
        given = [p[len("signature=") :] for p in parts if p.startswith("signature=")]
        if len(given) != 1:
            raise ExchangeError(-1102, "Mandatory parameter 'signature' was not sent.")
        payload = "&".join(p for p in parts if not p.startswith("signature="))
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given[0].encode()):
            raise ExchangeError(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(payload, keep_blank_values=True))
        try:
            stamp_ms = int(params["timestamp"])
            window_ms = int(params.get("recvWindow", _DEFAULT_RECV_WINDOW_MS))
        except (KeyError, ValueError):
            raise ExchangeError(-1102, "Parameter 'timestamp' was not sent or malformed.") from None
        if not 0 < window_ms <= _MAX_RECV_WINDOW_MS:
            raise ExchangeError(-1131, "recvWindow must be less than 60000")
        now_ms = self.server_ms()
        if stamp_ms >= now_ms + _AHEAD_LIMIT_MS or now_ms - stamp_ms > window_ms:
            raise ExchangeError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def _symbol(self, params: dict[str, str], required: bool = True) -> bool:
        """True when the request names the traded symbol (or none, when not ``required``),
        False for another listed symbol (no market here: it answers as a symbol with no
        activity); -1121 for a symbol the listing does not have."""
        symbol = params.get("symbol")
        if symbol is None and not required:
            return True
        if symbol == self.instrument.symbol:
            return True
        if symbol in self.listing:
            return False
        raise ExchangeError(-1121, "Invalid symbol.")

    # ---- public -----------------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"serverTime": self.server_ms()})

    async def _exchange_info(self, request: web.Request) -> web.StreamResponse:
        entries = list(self.listing.values())
        info = formats.exchange_info(self.instrument, entries, self.server_ms())
        if self.instrument.kind is not InstrumentKind.SPOT:
            info["rateLimits"] = self.limits.advertised()
        return web.json_response(info)

    async def _depth(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        limit = _int(params, "limit", 500)
        if self.instrument.kind is not InstrumentKind.SPOT and limit not in _DEPTH_LIMITS:
            raise ExchangeError(-4021, f"'{limit}' is not valid depth limit.")
        if not self._symbol(params):
            entry = self.listing[params["symbol"]]
            out = formats.idle_depth(entry, self.instrument, self.server_ms())
            book = self.universe.book(params["symbol"])
            if book is not None:  # a synthetic market's symbol: its touch
                out["lastUpdateId"], out["bids"], out["asks"] = book
            return web.json_response(out)
        return web.json_response(formats.depth(self.account, limit, self.server_ms()))

    async def _ticker_price(self, request: web.Request) -> web.StreamResponse:
        """ "Symbol Price Ticker": the last price of every listed symbol (the traded one at its
        mid, the others from their synthetic market) and, on USD-M, of BNBUSDT (the configured
        BNB price); one object for ``symbol``, a list without it. Symbols the sandbox cannot
        price are -1121. Per venue, as Binance documents them:
        USD-M ``GET /fapi/v1|v2/ticker/price`` {symbol, price, time}
        (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/
        rest-api/Symbol-Price-Ticker and ...-v2); COIN-M ``GET /dapi/v1/ticker/price`` always
        a list, each naming its pair ``ps``, filtered by ``symbol`` or ``pair``
        (https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/
        rest-api/Symbol-Price-Ticker); spot ``GET /api/v3/ticker/price`` {symbol, price}, with
        no time (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/
        market-data-endpoints#symbol-price-ticker)."""
        now_ms = self.server_ms()
        inst = self.instrument
        # Before its first trade the traded symbol's last price is its mark, on the tick grid.
        prices = {inst.symbol: str(inst.price(round(self.account.mark_ticks)))}
        prices.update(self.universe.last_prices())
        if self.account.bnb_price and self.exchange_id == "binanceusdm":
            prices["BNBUSDT"] = f"{self.account.bnb_price:f}"
        symbol, pair = request.query.get("symbol"), request.query.get("pair")
        if symbol is not None and symbol not in prices:
            # Answered here: spot's /api/v3 is outside the middleware that answers errors.
            return _error_answer(ExchangeError(-1121, "Invalid symbol."))
        picked = [symbol] if symbol is not None else list(prices)
        rows: list[dict[str, str | int]]
        if inst.kind is InstrumentKind.SPOT:
            rows = [{"symbol": s, "price": prices[s]} for s in picked]
        elif inst.inverse:
            pairs = {s: str(self.listing[s].get("pair", "")) for s in picked}
            rows = [
                {"symbol": s, "ps": pairs[s], "price": prices[s], "time": now_ms}
                for s in picked
                if pair is None or pairs[s] == pair
            ]
            return web.json_response(rows)
        else:
            rows = [{"symbol": s, "price": prices[s], "time": now_ms} for s in picked]
        return web.json_response(rows[0] if symbol is not None else rows)

    # ---- account ----------------------------------------------------------------------------

    def _get_fee_burn(self, params: dict[str, str]) -> Any:
        """``GET /fapi/v1/feeBurn``: the BNB fee discount's state (Binance USD-M "Get BNB Burn
        Status", https://developers.binance.com/docs/derivatives/usds-margined-futures/
        account/rest-api/Get-BNB-Burn-Status)."""
        return {"feeBurn": self.account.fee_burn}

    def _set_fee_burn(self, params: dict[str, str]) -> Any:
        """``POST /fapi/v1/feeBurn`` with ``feeBurn`` "true" or "false" (Binance USD-M "Toggle
        BNB Burn On Futures Trade", https://developers.binance.com/docs/derivatives/
        usds-margined-futures/account/rest-api/Toggle-BNB-Burn-On-Futures-Trade)."""
        value = params.get("feeBurn")
        if not value:
            raise ExchangeError(
                -1102, "Mandatory parameter 'feeBurn' was not sent, was empty/null, or malformed."
            )
        if value not in ("true", "false"):
            raise ExchangeError(-1130, "Data sent for parameter 'feeBurn' is not valid.")
        self.account.fee_burn = value == "true"
        return {"code": 200, "msg": "success"}

    def _account(self, params: dict[str, str]) -> Any:
        return formats.account(self.account, self.server_ms())

    def _balance(self, params: dict[str, str]) -> Any:
        return formats.balance(self.account, self.server_ms())

    def _positions(self, params: dict[str, str]) -> Any:
        if not self._symbol(params, required=False):
            return []
        position = formats.position(self.account, self.server_ms())
        if self.account.dual_side_position:
            # Hedge mode lists a LONG and a SHORT entry per symbol (Binance "Position
            # Information"); both flat here, as no hedge-mode order is booked.
            return [position | {"positionSide": side} for side in ("LONG", "SHORT")]
        return [position]

    def _brackets(self, params: dict[str, str]) -> Any:
        self._symbol(params, required=False)
        return formats.leverage_brackets(self.instrument)

    def _set_leverage(self, params: dict[str, str]) -> Any:
        self._symbol(params)
        leverage = _int(params, "leverage", 0)
        if not 1 <= leverage <= 125:
            raise ExchangeError(-4028, f"Leverage {leverage} is not valid")
        symbol = params["symbol"]
        if symbol == self.instrument.symbol:
            self.account.leverage = leverage
        if self.instrument.inverse:
            # COIN-M answers with the largest position allowed at that leverage, in contracts.
            return {
                "leverage": leverage,
                "maxQty": str(self.instrument.max_qty or 0),
                "symbol": symbol,
            }
        return {"leverage": leverage, "maxNotionalValue": "50000", "symbol": symbol}

    def _set_margin_type(self, params: dict[str, str]) -> Any:
        traded = self._symbol(params)
        wanted = params.get("marginType", "").upper()
        if wanted not in ("CROSSED", "ISOLATED"):
            raise ExchangeError(-1116, "Invalid marginType.")
        if not traded:
            return {"code": 200, "msg": "success"}
        if wanted == self.account.margin_type:
            raise ExchangeError(-4046, "No need to change margin type.")
        self.account.margin_type = wanted
        return {"code": 200, "msg": "success"}

    def _position_mode(self, params: dict[str, str]) -> Any:
        """``GET /fapi/v1/positionSide/dual`` (COIN-M: /dapi): true = hedge mode."""
        return {"dualSidePosition": self.account.dual_side_position}

    def _set_position_mode(self, params: dict[str, str]) -> Any:
        """``POST /fapi/v1/positionSide/dual`` ("Change Position Mode"): refused unchanged
        (-4059), with open orders (-4067) or with a position (-4068)."""
        raw = params.get("dualSidePosition", "").lower()
        if raw not in ("true", "false"):
            raise ExchangeError(
                -1102,
                "Mandatory parameter 'dualSidePosition' was not sent, was empty/null, "
                "or malformed.",
            )
        wanted, acct = raw == "true", self.account
        if wanted == acct.dual_side_position:
            raise ExchangeError(-4059, "No need to change position side.")
        if acct.open_orders:
            raise ExchangeError(
                -4067, "Position side cannot be changed if there exists open orders."
            )
        if acct.ledger.position_lots:
            raise ExchangeError(-4068, "Position side cannot be changed if there exists position.")
        acct.dual_side_position = wanted
        return {"code": 200, "msg": "success"}

    def _listen_key_call(self, params: dict[str, str]) -> Any:
        """POST: the active listenKey, extended, or a new one when none is active."""
        if not self._listen_key:
            self._listen_key = secrets.token_hex(32)
        self._listen_key_until = time.monotonic() + self.listen_key_ttl_s
        return {"listenKey": self._listen_key}

    def _keep_listen_key(self, params: dict[str, str]) -> Any:
        """PUT: extend the active listenKey (futures send no key: it is the account's);
        -1125 when none is active or the one named is not it."""
        named = params.get("listenKey")
        if not self._listen_key or (named is not None and named != self._listen_key):
            raise ExchangeError(*_NO_LISTEN_KEY)
        self._listen_key_until = time.monotonic() + self.listen_key_ttl_s
        return {"listenKey": self._listen_key}

    def _close_listen_key(self, params: dict[str, str]) -> Any:
        """DELETE: invalidate the active listenKey (if any); its streams get no more user
        events. Answers ``{}`` ("Close User Data Stream")."""
        if self._listen_key:
            self.streams.mute_user_streams(self._listen_key)
            self._listen_key = ""
        return {}

    # ---- orders -----------------------------------------------------------------------------

    def _place(self, params: dict[str, str]) -> Any:
        if not self._symbol(params):
            # Listed, but the sandbox runs no market for it: refused as Binance refuses an
            # order on a symbol that is not trading (Binance "Error Codes", 11xx request
            # issues: -1122 INVALID_SYMBOLSTATUS, "Invalid symbolStatus.").
            raise ExchangeError(-1122, "Invalid symbolStatus.")
        side = _SIDES.get(params.get("side", ""))
        kind = _TYPES.get(params.get("type", ""))
        if side is None or kind is None:
            raise ExchangeError(-1116, "Invalid orderType or side.")
        # IOC and FOK are not modelled: the sandbox serves a market maker's GTC and GTX quotes.
        tif = params.get("timeInForce", "GTC")
        if tif not in ("GTC", "GTX"):
            raise ExchangeError(-1115, f"Invalid timeInForce {tif}.")
        self._check_position_side(params)
        forced = self.faults.take_reject()
        if forced:
            raise ExchangeError(forced, _FORCED_REJECTS.get(forced, "sandbox: injected reject"))
        qty = _decimal(params, "quantity", (-4003, "Quantity less than or equal to zero."))
        price = _decimal(params, "price") if kind is OrderType.LIMIT else Decimal(0)
        order = self.account.place(
            side=side,
            order_type=kind,
            time_in_force=tif,
            price=price,
            qty=qty,
            reduce_only=params.get("reduceOnly", "false").lower() == "true",
            client_id=params.get("newClientOrderId"),
        )
        return formats.order(self.instrument, order)

    def _check_position_side(self, params: dict[str, str]) -> None:
        """A new order's positionSide and reduceOnly against the account's position mode."""
        hedge = self.account.dual_side_position
        if hedge and "reduceOnly" in params:
            raise ExchangeError(-1106, "Parameter 'reduceonly' sent when not required.")
        side = params.get("positionSide", "BOTH")
        if side not in _POSITION_SIDES:
            raise ExchangeError(-4060, "Invalid position side.")
        if (side == "BOTH") == hedge:
            raise ExchangeError(*_NOT_MATCH)
        if hedge:
            # A well-formed hedge-mode order: Binance books it on its LONG or SHORT position;
            # the sandbox keeps one net position and says so rather than net it silently.
            raise ExchangeError(
                -1020, "This operation is not supported. (sandbox: hedge-mode positions)"
            )

    def _order_ref(self, params: dict[str, str]) -> tuple[int | None, str | None]:
        if not self._symbol(params):
            return None, None  # no order of a symbol with no activity exists
        order_id = _int(params, "orderId", 0) or None
        client_id = params.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise ExchangeError(-1102, "Either orderId or origClientOrderId must be sent.")
        return order_id, client_id

    def _get_order(self, params: dict[str, str]) -> Any:
        order = self.account.find(*self._order_ref(params))
        if order is None:
            raise ExchangeError(-2013, "Order does not exist.")
        return formats.order(self.instrument, order)

    def _cancel(self, params: dict[str, str]) -> Any:
        return formats.order(self.instrument, self.account.cancel(*self._order_ref(params)))

    def _open_orders(self, params: dict[str, str]) -> Any:
        if not self._symbol(params, required=False):
            return []
        return [formats.order(self.instrument, o) for o in self.account.open_orders]

    def _cancel_all(self, params: dict[str, str]) -> Any:
        if self._symbol(params):
            self.account.cancel_all()
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _user_trades(self, params: dict[str, str]) -> Any:
        if not self._symbol(params):
            return []
        # Binance USD-M "Account Trade List" (developers.binance.com/docs/derivatives/
        # usds-margined-futures/trade/rest-api/Account-Trade-List): fromId, startTime and
        # endTime, limit 500 by default and at most 1000; oldest first.
        from_id = _int(params, "fromId", 0)
        start_ms = _int(params, "startTime", 0)
        end_ms = _int(params, "endTime", 0) or None
        limit = min(_int(params, "limit", 500), 1000)
        hits = [
            t
            for t in self.account.trades
            if t.trade_id >= from_id
            and t.time_ms >= start_ms
            and (end_ms is None or t.time_ms <= end_ms)
        ]
        return [formats.user_trade(self.instrument, t) for t in hits[:limit]]

    # ---- public market data and the account's history ---------------------------------------
    #
    # Binance's pages, by endpoint (USD-M: developers.binance.com/docs/derivatives/
    # usds-margined-futures/market-data/rest-api/<page>; COIN-M: .../coin-margined-futures/
    # market-data/<page>; spot: developers.binance.com/docs/binance-spot-api-docs/rest-api/
    # market-data-endpoints), "24hr Ticker Price Change Statistics", "Symbol Order Book Ticker",
    # "Recent Trades List", "Compressed/Aggregate Trades List", "Kline/Candlestick Data",
    # "Mark Price" (COIN-M "Index Price and Mark Price"), "Get Funding Rate History" (COIN-M
    # "... of Perpetual Futures"); USD-M .../trade/rest-api/All-Orders and .../account/rest-api/
    # User-Commission-Rate, and COIN-M's. Weights: sandbox/limits.py.

    def _market_routes(self, add: Callable[..., Any]) -> None:
        """The public market data of every listed symbol, and the account's order history and
        commission rates; spot's under /api/v3 (no funding there)."""
        spot = self.instrument.kind is InstrumentKind.SPOT
        base = "/api/v3" if spot else f"{self.api}/v1"
        add("GET", f"{base}/ticker/24hr", self._public(self._ticker_24h))
        add("GET", f"{base}/ticker/bookTicker", self._public(self._book_ticker))
        add("GET", f"{base}/trades", self._public(self._recent_trades))
        add("GET", f"{base}/aggTrades", self._public(self._agg_trades))
        add("GET", f"{base}/klines", self._public(self._klines))
        if spot:
            return
        add("GET", f"{base}/premiumIndex", self._public(self._premium_index))
        add("GET", f"{base}/fundingRate", self._public(self._funding_history))
        add("GET", f"{base}/commissionRate", self._signed(self._commission_rate))
        add("GET", f"{base}/allOrders", self._signed(self._all_orders))

    def _public(self, fn: Callable[[dict[str, str]], Any]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                return web.json_response(fn(dict(request.query)))
            except ExchangeError as exc:  # spot's /api/v3 is outside the middleware
                return _error_answer(exc)

        return handler

    def _listed(self, params: dict[str, str], name: str = "symbol") -> str | None:
        """The listed symbol ``params`` names (None when it names none); -1121 for a symbol
        the listing does not have."""
        symbol = params.get(name)
        if symbol is None:
            return None
        if symbol not in self.listing:
            raise ExchangeError(-1121, "Invalid symbol.")
        return symbol

    def _required(self, params: dict[str, str], name: str = "symbol") -> str:
        symbol = self._listed(params, name)
        if symbol is None:
            raise ExchangeError(*_mandatory(name))
        return symbol

    def _selection(self, params: dict[str, str]) -> list[str] | None:
        """COIN-M's ``symbol`` or ``pair`` choice: the symbols named (every symbol when
        neither), or None for a single-symbol answer (USD-M and spot with ``symbol``)."""
        symbol = self._listed(params)
        if self.instrument.inverse:
            pair = params.get("pair")
            if symbol is not None:
                return [symbol]
            return [s for s in self.listing if pair is None or self._pair(s) == pair]
        return None if symbol is not None else list(self.listing)

    def _pair(self, symbol: str) -> str:
        return str(self.listing[symbol].get("pair", ""))

    def _tape(self, symbol: str) -> Tape:
        tape = self.universe.tape(symbol)
        assert tape is not None  # every listed symbol has one
        return tape

    def _mark(self, symbol: str) -> float:
        """The mark price: the traded symbol's mid (or last fill), another's model mid."""
        if symbol == self.instrument.symbol:
            return self.account.mark_ticks * self.instrument.tick
        return self.universe.mid(symbol) or 0.0

    def _touch(self, symbol: str) -> formats.Touch:
        """The best bid and ask: the traded symbol's from the book the depth snapshot serves,
        another's from its model's touch."""
        if symbol != self.instrument.symbol:
            book = self.universe.book(symbol)
            assert book is not None
            update_id, bids, asks = book
            return formats.Touch(bids[0][0], bids[0][1], asks[0][0], asks[0][1], update_id)
        inst, acct = self.instrument, self.account
        bid, ask = acct.depth.levels(Side.BUY, 1), acct.depth.levels(Side.SELL, 1)
        bid_p, bid_q = (
            (str(inst.price(bid[0][0])), format(inst.qty(bid[0][1]), "f")) if bid else ("0", "0")
        )
        ask_p, ask_q = (
            (str(inst.price(ask[0][0])), format(inst.qty(ask[0][1]), "f")) if ask else ("0", "0")
        )
        return formats.Touch(bid_p, bid_q, ask_p, ask_q, acct.update_id)

    def _day(self, symbol: str, now_ms: int) -> Any:
        stats = self.universe.ticker(symbol, self._mark(symbol))
        if stats is None:  # the traded symbol before any price
            return None
        tape, kind = self._tape(symbol), formats.dialect(self.instrument)
        touch = self._touch(symbol) if kind == formats.SPOT else None
        return formats.rest_ticker_24h(
            kind,
            symbol,
            stats,
            now_ms,
            tape.price_text,
            tape.units_text,
            self._pair(symbol),
            touch,
        )

    def _ticker_24h(self, params: dict[str, str]) -> Any:
        """``GET .../ticker/24hr``: one symbol's 24 h figures, or every symbol's in a list
        (COIN-M: always a list, by ``symbol`` or ``pair``). The figures start from a day at the
        symbol's rates (sandbox/universe.py) and count every trade since, ours included."""
        now_ms, chosen = self.server_ms(), self._selection(params)
        if chosen is None:
            return self._day(params["symbol"], now_ms)
        return [d for d in (self._day(s, now_ms) for s in chosen) if d is not None]

    def _book_ticker(self, params: dict[str, str]) -> Any:
        """``GET .../ticker/bookTicker``: the touch of one symbol or of every one (COIN-M: a
        list by ``symbol`` or ``pair``)."""
        now_ms, chosen = self.server_ms(), self._selection(params)
        kind = formats.dialect(self.instrument)
        if chosen is None:
            symbol = params["symbol"]
            return formats.rest_book_ticker(kind, symbol, self._touch(symbol), now_ms)
        return [
            formats.rest_book_ticker(kind, s, self._touch(s), now_ms, self._pair(s)) for s in chosen
        ]

    def _recent_trades(self, params: dict[str, str]) -> Any:
        """``GET .../trades``: the most recent trades, oldest first (limit 500 by default, at
        most 1000)."""
        symbol = self._required(params)
        limit = _limit(params, 500, 1000)
        tape = self._tape(symbol)
        return formats.rest_trades(formats.dialect(self.instrument), tape, tape.prints, limit)

    def _agg_trades(self, params: dict[str, str]) -> Any:
        """``GET .../aggTrades``: from ``fromId`` (inclusive), or between ``startTime`` and
        ``endTime`` (inclusive), the first ``limit``; else the most recent (limit 500 by
        default, at most 1000)."""
        symbol = self._required(params)
        limit = _limit(params, 500, 1000)
        from_id = _int(params, "fromId", 0) or None
        start_ms, end_ms = _int(params, "startTime", 0), _int(params, "endTime", 0) or None
        tape = self._tape(symbol)
        if from_id is None and not start_ms and end_ms is None:
            hits = list(tape.prints)[-limit:]
        else:
            hits = [
                p
                for p in tape.prints
                if (from_id is None or p.agg_id >= from_id)
                and p.time_ms >= start_ms
                and (end_ms is None or p.time_ms <= end_ms)
            ][:limit]
        return formats.rest_agg_trades(formats.dialect(self.instrument), tape, hits)

    def _klines(self, params: dict[str, str]) -> Any:
        """``GET .../klines`` of the sandbox's own trades (sandbox/tape.py): limit 500 by
        default, at most 1500 (spot 1000); -1120 for an interval Binance does not have (and
        spot's 1s, finer than the sandbox keeps). COIN-M answers the most recent ``limit``
        up to ``endTime`` even with a ``startTime``; the others the first from it."""
        symbol = self._required(params)
        interval = params.get("interval")
        if interval is None:
            raise ExchangeError(*_mandatory("interval"))
        if not valid_interval(interval):
            raise ExchangeError(-1120, "Invalid interval.")
        spot = self.instrument.kind is InstrumentKind.SPOT
        limit = _limit(params, 500, 1000 if spot else 1500)
        start_ms = _int(params, "startTime", 0) or None
        end_ms = _int(params, "endTime", 0) or None
        return self._tape(symbol).klines(
            interval, start_ms, end_ms, limit, self.server_ms(), latest=self.instrument.inverse
        )

    def _premium_index(self, params: dict[str, str]) -> Any:
        """``GET .../premiumIndex``: the mark price (the mid), the index (the mark: the
        sandbox has no premium) and Binance's default funding: the interest rate, 0.01 % per
        8 h, and the next funding time on the 8 h grid (docs/sandbox.md). USD-M answers one
        object for a symbol; COIN-M a list by ``symbol`` or ``pair``."""
        now_ms, chosen = self.server_ms(), self._selection(params)
        next_ms = now_ms - now_ms % _FUNDING_PERIOD_MS + _FUNDING_PERIOD_MS
        kind = formats.dialect(self.instrument)

        def entry(symbol: str) -> Any:
            mark = f"{self._mark(symbol):.8f}"
            pair = self._pair(symbol)
            return formats.premium_index(kind, symbol, mark, _FUNDING_RATE, next_ms, now_ms, pair)

        return entry(params["symbol"]) if chosen is None else [entry(s) for s in chosen]

    def _funding_history(self, params: dict[str, str]) -> Any:
        """``GET .../fundingRate``: Binance's default rate at every 8 h funding time since the
        day the 24 h figures model (a day before the sandbox started), ascending; the mark at
        each is the last trade price then (the day's open before the first trade). The first
        ``limit`` from ``startTime``, else the most recent (limit 100 by default, at most
        1000). USD-M may name no symbol (every symbol's); COIN-M must."""
        if self.instrument.inverse:
            symbols = [self._required(params)]
        else:
            named = self._listed(params)
            symbols = [named] if named is not None else list(self.listing)
        limit = _limit(params, 100, 1000)
        now_ms = self.server_ms()
        start_ms = _int(params, "startTime", 0) or None
        end_ms = min(_int(params, "endTime", 0) or now_ms, now_ms)
        first = self._history_from_ms - self._history_from_ms % _FUNDING_PERIOD_MS
        grid = range(first + _FUNDING_PERIOD_MS, end_ms + 1, _FUNDING_PERIOD_MS)
        times = [t for t in grid if t >= self._history_from_ms and t >= (start_ms or 0)]
        rows = []
        for t in times:
            for symbol in symbols:
                tape = self._tape(symbol)
                price = tape.close_at(t)
                if price is None:
                    stats = self.universe.ticker(symbol, self._mark(symbol))
                    price = stats.open if stats is not None else self._mark(symbol)
                rows.append(formats.funding_rate(symbol, t, _FUNDING_RATE, tape.price_text(price)))
        return rows[:limit] if start_ms is not None else rows[-limit:]

    def _commission_rate(self, params: dict[str, str]) -> Any:
        """``GET .../commissionRate``: the account's maker and taker rates for a symbol."""
        return formats.commission_rate(self.instrument, self._required(params))

    def _all_orders(self, params: dict[str, str]) -> Any:
        """``GET .../allOrders``: the account's orders, open, cancelled or filled, oldest first:
        from ``orderId`` on, else the most recent, within ``startTime``/``endTime`` (default the
        last 7 days). USD-M: ``symbol``, limit 500 by default, at most 1000; COIN-M: ``symbol``
        or ``pair``, limit 50, at most 100."""
        coinm = self.instrument.inverse
        symbol = self._listed(params)
        pair = params.get("pair") if coinm else None
        if symbol is None and pair is None:
            raise ExchangeError(*_mandatory("symbol"))
        inst = self.instrument
        ours = symbol == inst.symbol if symbol is not None else pair == self._pair(inst.symbol)
        limit = _limit(params, 50, 100) if coinm else _limit(params, 500, 1000)
        if not ours:
            return []
        from_id = _int(params, "orderId", 0) or None
        end_ms = _int(params, "endTime", 0) or self.server_ms()
        start_ms = _int(params, "startTime", 0) or end_ms - _ORDER_HISTORY_MS
        hits = [
            o
            for o in sorted(self.account.orders.values(), key=lambda o: o.order_id)
            if (from_id is None or o.order_id >= from_id) and start_ms <= o.time_ms <= end_ms
        ]
        hits = hits[:limit] if from_id is not None else hits[-limit:]
        return [formats.order(inst, o) for o in hits]


# Rate-limit switches of ``apply_faults``: the exchangeInfo rateLimits entry each one sets.
_LIMIT_SWITCHES = {
    "weight_limit": ("REQUEST_WEIGHT", "MINUTE", 1),
    "order_limit_10s": ("ORDERS", "SECOND", 10),
    "order_limit_1m": ("ORDERS", "MINUTE", 1),
}

_FORCED_REJECTS = {
    -2019: "Margin is insufficient.",
    -5022: "Due to the order could not be executed as maker, the Post Only order will be "
    "rejected. The order will not be recorded in the order history",
}


def _with_listed_filters(inst: Instrument, entry: dict[str, Any]) -> Instrument:
    """``inst`` bound by the order filters its listing ``entry`` advertises, which the
    matching engine then enforces: PRICE_FILTER's minPrice/maxPrice (0 disables either),
    LOT_SIZE's maxQty and PERCENT_PRICE's multipliers (Binance futures "Common Definition",
    Filters)."""
    filters = {str(f.get("filterType")): f for f in entry.get("filters", [])}

    def value(kind: str, key: str) -> Decimal | None:
        raw = filters.get(kind, {}).get(key)
        return Decimal(str(raw)) if raw is not None and Decimal(str(raw)) > 0 else None

    return replace(
        inst,
        max_qty=value("LOT_SIZE", "maxQty"),
        min_price=value("PRICE_FILTER", "minPrice"),
        max_price=value("PRICE_FILTER", "maxPrice"),
        percent_price_up=value("PERCENT_PRICE", "multiplierUp"),
        percent_price_down=value("PERCENT_PRICE", "multiplierDown"),
    )


def _error_answer(exc: ExchangeError) -> web.Response:
    """Binance's error body for ``exc``."""
    return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)


def _forced(status: int, code_5xx: int) -> web.Response:
    """A forced answer: 429/418 with -1003 and Retry-After; a 5xx with Binance's body for
    ``code_5xx`` (none when 0); any other status bare."""
    code_msg = _STATUS_BODY.get(status)
    if code_msg is not None:
        code, msg = code_msg
        return web.json_response(
            {"code": code, "msg": msg}, status=status, headers={"Retry-After": "1"}
        )
    if 500 <= status <= 599 and code_5xx:
        return web.json_response(
            {"code": code_5xx, "msg": UNKNOWN_STATUS_MSGS[code_5xx]}, status=status
        )
    return web.Response(status=status)


def _mandatory(name: str) -> tuple[int, str]:
    """Binance's -1102 for a mandatory parameter left out."""
    return -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."


def _limit(params: dict[str, str], default: int, most: int) -> int:
    """A ``limit`` parameter: ``default`` when not sent, at most ``most``, at least 1."""
    return max(1, min(_int(params, "limit", default), most))


def _int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ExchangeError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def _decimal(
    params: dict[str, str], name: str, not_positive: tuple[int, str] | None = None
) -> Decimal:
    raw = params.get(name)
    if raw is None:
        raise ExchangeError(-1102, f"Mandatory parameter '{name}' was not sent.")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ExchangeError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite():
        raise ExchangeError(-1100, f"Illegal characters found in parameter '{name}'.")
    if value <= 0:
        # Binance has its own code for a quantity of zero or less: -4003 QTY_LESS_THAN_ZERO
        # ("Error Codes"); its answers read "Quantity less than or equal to zero." (as quoted
        # from the live exchange in public bug reports, e.g. python-binance issue 1308).
        raise ExchangeError(*(not_positive or (-1100, f"Parameter '{name}' must be positive.")))
    return value
