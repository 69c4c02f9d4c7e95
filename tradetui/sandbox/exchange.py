"""A loopback HTTP server speaking Binance futures REST, backed by the shared matching engine.

It plays the exchange of its instrument: Binance USD-M under ``/fapi`` for a linear contract,
COIN-M under ``/dapi`` for an inverse one (spot instruments get spot's ``/api/v3`` market data).
``exchangeInfo`` lists every market of the simulated listing (venues/sim_listing.py); only the
traded symbol has a market, the others answer as symbols with no activity and refuse orders.

Signed endpoints check the ``X-MBX-APIKEY`` header, the HMAC-SHA256 signature of the query
string plus body, and the timestamp against ``recvWindow`` (-1021), as Binance does. The
market advances with the wall clock: every request first applies the market events up to now,
and a background task does the same a few times a second so fills happen between requests.
Fault switches (``SandboxExchange.faults``) make the server answer with clock skew, a forced
HTTP status (429, 418, 5xx) or a delay, or carry a request out and then lose its answer (a 5xx
or a closed connection). Keys and signatures are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
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
from tradetui.sandbox.streams import StreamHub
from tradetui.venues.sim_listing import listing_entries

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_NS_PER_MS = 1_000_000
_DEFAULT_RECV_WINDOW_MS = 5_000
_MAX_RECV_WINDOW_MS = 60_000
# A timestamp this far ahead of the server clock is refused even inside the window (Binance).
_AHEAD_LIMIT_MS = 1_000
_ADVANCE_PERIOD_S = 0.05
_REQUEST_LOG_LEN = 10_000
# The futures depth snapshot's limits: "Valid limits:[5, 10, 20, 50, 100, 500, 1000]", others
# refused with -4021 INVALID_DEPTH_LIMIT (Binance USD-M and COIN-M "Order Book" and "Error
# Codes": developers.binance.com/docs/derivatives/{usds,coin}-margined-futures/...).
_DEPTH_LIMITS = frozenset((5, 10, 20, 50, 100, 500, 1000))
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_TYPES = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET}
_STATUS_BODY = {
    429: (-1003, "Too many requests; current limit is 2400 request weight per 1 MINUTE."),
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
    margin insufficient, -5022 post-only would cross, ...).
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
    ) -> None:
        self.exchange_id = exchange_of(instrument)
        self.listing = {str(e["symbol"]): e for e in listing_entries(self.exchange_id)}
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
        self.account = SandboxAccount(
            instrument,
            market,
            initial_balance=initial_balance,
            leverage=leverage,
            id_base=time.time_ns() // _NS_PER_MS,
        )
        self.faults = Faults()
        self.streams = StreamHub(instrument)
        # The latest requests as (method, path), for tests and the bench; bounded for long runs.
        self.requests: deque[tuple[str, str]] = deque(maxlen=_REQUEST_LOG_LEN)
        self._api_key = api_key
        self._secret = api_secret.encode()
        self._host = host
        self._port = port
        self._listen_key = ""
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (the ephemeral one when started with port 0)."""
        return self._port

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
        """Wall-clock time (ns); the market and order times follow it."""
        return time.time_ns()

    def server_ms(self) -> int:
        """The server clock the client must sync to: wall clock plus the skew fault (ms)."""
        return self.now_ns() // _NS_PER_MS + self.faults.skew_ms

    async def drop_websockets(self, *, private_only: bool = False) -> None:
        """Close every websocket connection, or only the user streams (the dropped-websocket
        fault)."""
        await self.streams.drop_all(private_only=private_only)

    def advance(self) -> None:
        """Apply the market up to now and publish what changed on the websockets."""
        now_ns = self.now_ns()
        self.streams.publish_market(self.account.advance(now_ns))
        self._publish_updates()

    def _publish_updates(self) -> None:
        updates = self.account.take_updates()
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
        add("POST", f"{api}/v1/order", self._signed(self._place))
        add("GET", f"{api}/v1/order", self._signed(self._get_order))
        add("DELETE", f"{api}/v1/order", self._signed(self._cancel))
        add("GET", f"{api}/v1/openOrders", self._signed(self._open_orders))
        add("DELETE", f"{api}/v1/allOpenOrders", self._signed(self._cancel_all))
        add("GET", f"{api}/v1/userTrades", self._signed(self._user_trades))
        for method in ("POST", "PUT", "DELETE"):
            add(method, f"{api}/v1/listenKey", self._keyed(self._listen_key_call))
        for prefix in ("/public/ws", "/market/ws"):
            add("GET", prefix, self._ws_market)
            add("GET", prefix + "/{stream}", self._ws_market)
        add("GET", "/ws", self._ws_market)
        # COIN-M's user stream is /ws/<listenKey> (ccxt.pro derives it from the 'inverse' URL);
        # any other /ws/<name> is a market connection.
        add("GET", "/ws/{stream}", self._ws_path)
        add("GET", "/stream", self._ws_combined)
        add("GET", "/private/ws", self._ws_private)
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
        lost = self.faults.take_lost(request.method, request.path)
        self.advance()
        try:
            answer = await handler(request)
        except ExchangeError as exc:
            answer = web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)
        finally:
            self._publish_updates()
        if lost is None:
            return answer
        if lost:
            return _forced(lost, self.faults.status_code)
        # Done, and the answer never leaves: the client sees the connection close (aiohttp
        # drops a response written to a closed transport).
        if request.transport is not None:
            request.transport.close()
        return answer

    async def _ws_market(self, request: web.Request) -> web.StreamResponse:
        return await self.streams.serve(request, private=False, allowed=lambda: True)

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
        lost; ``delay_ms`` with ``delay_count``; ``reject`` (a Binance code) with
        ``reject_count``; ``gap``, ``duplicate``, ``reorder`` (depth updates);
        ``user_duplicate``, ``user_reorder`` (user-stream updates); ``drop`` = all | private
        (close websockets). Counts of -1 mean until cleared.
        """
        f, sf = self.faults, self.streams.faults
        known = {"clear", "skew_ms", "status", "count", "delay_ms", "delay_count", "reject"}
        known |= {"reject_count", "gap", "duplicate", "reorder", "user_duplicate"}
        known |= {"user_reorder", "drop", "code", "only", "lost", "lost_count", "lost_only"}
        text = ("drop", "clear", "only", "lost_only")
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
            f.delay_next(n["delay_ms"] / 1000, n.get("delay_count", 1))
        if "reject" in n:
            f.reject_next(n["reject"], n.get("reject_count", 1))
        for name in ("gap", "duplicate", "reorder", "user_duplicate", "user_reorder"):
            if name in n:
                setattr(sf, name, n[name])
        drop = spec.get("drop")
        if drop is not None:
            if drop not in ("all", "private"):
                raise ValueError("drop must be all or private")
            await self.drop_websockets(private_only=drop == "private")
        return {
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
            "reject": f.reject_code,
            "reject_count": f.reject_count,
            "gap": sf.gap,
            "duplicate": sf.duplicate,
            "reorder": sf.reorder,
            "user_duplicate": sf.user_duplicate,
            "user_reorder": sf.user_reorder,
        }

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        return await self.streams.serve(request, private=False, allowed=lambda: True, combined=True)

    async def _ws_path(self, request: web.Request) -> web.StreamResponse:
        if self._listen_key and request.match_info["stream"] == self._listen_key:
            return await self._ws_user(request, self._listen_key)
        return await self._ws_market(request)

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
        return web.json_response(formats.exchange_info(self.instrument, entries, self.server_ms()))

    async def _depth(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        limit = _int(params, "limit", 500)
        if self.instrument.kind is not InstrumentKind.SPOT and limit not in _DEPTH_LIMITS:
            raise ExchangeError(-4021, f"'{limit}' is not valid depth limit.")
        if not self._symbol(params):
            entry = self.listing[params["symbol"]]
            return web.json_response(formats.idle_depth(entry, self.instrument, self.server_ms()))
        return web.json_response(formats.depth(self.account, limit, self.server_ms()))

    # ---- account ----------------------------------------------------------------------------

    def _account(self, params: dict[str, str]) -> Any:
        return formats.account(self.account, self.server_ms())

    def _balance(self, params: dict[str, str]) -> Any:
        return formats.balance(self.account, self.server_ms())

    def _positions(self, params: dict[str, str]) -> Any:
        if not self._symbol(params, required=False):
            return []
        return [formats.position(self.account, self.server_ms())]

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

    def _listen_key_call(self, params: dict[str, str]) -> Any:
        if not self._listen_key:
            self._listen_key = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()
        return {"listenKey": self._listen_key}

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
