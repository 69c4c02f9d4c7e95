"""Binance's REST rate limits as the sandbox enforces them: request weight per IP, new orders
per account, 429 with Retry-After when a limit is exceeded, 418 (an IP ban) for a client that
keeps going while told to back off. Sources: docs/rate-limits.md.

- Limits are the exchangeInfo ``rateLimits`` the sandbox advertises (USD-M: REQUEST_WEIGHT 2400
  per minute, ORDERS 1200 per minute and 300 per 10 s; COIN-M: 2400 and 1200 per minute),
  configurable for tests. Windows are fixed and start on the server clock's whole interval
  ("a 1 MINUTE interval starts every minute", Binance "Rate limits").
- Every answer carries ``X-MBX-USED-WEIGHT-1M``; an accepted new order's answer carries
  ``X-MBX-ORDER-COUNT-10S`` and ``-1M`` (Binance USD-M "General Info" → "Limits": IP Limits,
  Order Rate Limits).
- Weights per endpoint are the "Request Weight" of Binance's USD-M REST pages (``WEIGHTS``); a
  new order weighs 0 on the IP limit and 1 on each order limit (USD-M "New Order (TRADE)").
- A request over the weight limit is answered 429 ``-1003`` with ``Retry-After`` (seconds to
  the window's end); a new order over an order limit 429 ``-1015`` ("Too many new orders;
  current limit is %s orders per %s."). Binance: "Repeatedly violating rate limits and/or
  failing to back off after receiving 429s will result in an automated IP ban (HTTP status
  418)", bans lasting "from 2 minutes to 3 days". Binance does not publish how many requests
  that takes; the sandbox bans on the ``ban_after``-th request sent while a 429's back-off
  runs, for ``ban_s`` (doubling on each further ban), and answers every request of the ban
  418 ``-1003`` with ``Retry-After`` (seconds to its end). Refused requests add no weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}

# "Request Weight" per endpoint (method, path under /fapi or /dapi), from Binance's USD-M REST
# pages at developers.binance.com/docs/derivatives/usds-margined-futures/: Check Server Time,
# Test Connectivity, Exchange Information 1; Account Information V2/V3, Futures Account Balance
# V2, Position Information V2/V3 5; Notional and Leverage Brackets, Change Initial Leverage,
# Change Margin Type 1; New Order 0 (1 on each order limit); Query Order, Cancel Order, Cancel
# All Open Orders 1; Current All Open Orders 1 with a symbol, 40 without; Account Trade List 5;
# user data stream listenKey start, keepalive, close 1. Order Book: ``_depth_weight``.
WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/v1/ping"): 1,
    ("GET", "/v1/time"): 1,
    ("GET", "/v1/exchangeInfo"): 1,
    ("GET", "/v1/account"): 5,
    ("GET", "/v2/account"): 5,
    ("GET", "/v3/account"): 5,
    ("GET", "/v1/balance"): 5,
    ("GET", "/v2/balance"): 5,
    ("GET", "/v1/positionRisk"): 5,
    ("GET", "/v2/positionRisk"): 5,
    ("GET", "/v3/positionRisk"): 5,
    ("GET", "/v1/leverageBracket"): 1,
    ("GET", "/v2/leverageBracket"): 1,
    ("POST", "/v1/leverage"): 1,
    ("POST", "/v1/marginType"): 1,
    ("POST", "/v1/order"): 0,
    ("GET", "/v1/order"): 1,
    ("DELETE", "/v1/order"): 1,
    ("DELETE", "/v1/allOpenOrders"): 1,
    ("GET", "/v1/userTrades"): 5,
    ("POST", "/v1/listenKey"): 1,
    ("PUT", "/v1/listenKey"): 1,
    ("DELETE", "/v1/listenKey"): 1,
    # BNB fee discount: "Get BNB Burn Status" 30, "Toggle BNB Burn On Futures Trade" 1.
    ("GET", "/v1/feeBurn"): 30,
    ("POST", "/v1/feeBurn"): 1,
    # Market data and history (sources in exchange.py's market data handlers): 24hr Ticker 1
    # with a symbol (40 without: _NO_SYMBOL), Symbol Order Book Ticker 2 (5), Recent Trades
    # List 5, Compressed/Aggregate Trades List 20, Mark Price 1, Get Funding Rate History 0 (it
    # shares a 500 per 5 minutes limit with fundingInfo instead, not modelled), User
    # Commission Rate 20, All Orders 5. Klines: _kline_weight.
    ("GET", "/v1/ticker/24hr"): 1,
    ("GET", "/v1/ticker/bookTicker"): 2,
    ("GET", "/v1/trades"): 5,
    ("GET", "/v1/aggTrades"): 20,
    ("GET", "/v1/premiumIndex"): 1,
    ("GET", "/v1/fundingRate"): 0,
    ("GET", "/v1/commissionRate"): 20,
    ("GET", "/v1/allOrders"): 5,
}
# The weight of these without a symbol (all symbols at once).
_NO_SYMBOL = {("GET", "/v1/ticker/24hr"): 40, ("GET", "/v1/ticker/bookTicker"): 5}
# COIN-M's weights where they differ from USD-M's: "Index Price and Mark Price" 10, "Get
# Funding Rate History of Perpetual Futures" 1, "All Orders" 20 with a symbol, 40 with a pair.
_COINM_WEIGHTS = {
    ("GET", "/v1/premiumIndex"): 10,
    ("GET", "/v1/fundingRate"): 1,
    ("GET", "/v1/allOrders"): 20,
}
_COINM_ALL_ORDERS_PAIR = 40
# "Kline/Candlestick Data" (USD-M and COIN-M): limit [1, 100) 1, [100, 500) 2, [500, 1000] 5,
# more 10 (the default limit is 500).
_KLINE_WEIGHTS = ((99, 1), (499, 2), (1000, 5))
# COIN-M's Account Trade List weighs 20 with a symbol (COIN-M "Account Trade List"); its other
# endpoints are taken at USD-M's weights.
_COINM_USER_TRADES = 20
_OPEN_ORDERS_NO_SYMBOL = 40
# USD-M "Order Book": limit 5, 10, 20, 50 → 2; 100 → 5; 500 → 10; 1000 → 20.
_DEPTH_WEIGHTS = ((50, 2), (100, 5), (500, 10), (1000, 20))
_NEW_ORDER = ("POST", "/v1/order")
_BAN_S = 120.0  # Binance's shortest ban: 2 minutes
_BAN_AFTER = 3


def _depth_weight(limit: int) -> int:
    return next((w for top, w in _DEPTH_WEIGHTS if limit <= top), _DEPTH_WEIGHTS[-1][1])


def request_weight(method: str, sub: str, params: dict[str, str], coinm: bool) -> int:
    """The weight of ``method`` on ``sub`` (the path under /fapi or /dapi) with ``params``;
    endpoints not listed weigh 1."""
    key = (method, sub)
    if method == "GET" and sub in ("/v1/depth", "/v1/klines"):
        try:
            limit = int(params.get("limit", 500))
        except ValueError:
            return 1
        if sub == "/v1/depth":
            return _depth_weight(limit)
        return next((w for top, w in _KLINE_WEIGHTS if limit <= top), 10)
    if key in _NO_SYMBOL and "symbol" not in params:
        return _NO_SYMBOL[key]
    if coinm and key == ("GET", "/v1/allOrders") and "symbol" not in params:
        return _COINM_ALL_ORDERS_PAIR
    if coinm and key in _COINM_WEIGHTS:
        return _COINM_WEIGHTS[key]
    if method == "GET" and sub == "/v1/openOrders" and "symbol" not in params:
        return _OPEN_ORDERS_NO_SYMBOL
    if coinm and method == "GET" and sub == "/v1/userTrades":
        return _COINM_USER_TRADES
    return WEIGHTS.get((method, sub), 1)


@dataclass(slots=True)
class _Window:
    rate_limit_type: str
    interval: str
    num: int
    limit: int
    used: int = 0
    start_ms: int = -1

    @property
    def span_ms(self) -> int:
        return self.num * _SECONDS[self.interval] * 1000

    @property
    def header(self) -> str:
        kind = "USED-WEIGHT" if self.rate_limit_type == "REQUEST_WEIGHT" else "ORDER-COUNT"
        return f"X-MBX-{kind}-{self.num}{_LETTER[self.interval]}"

    def used_at(self, now_ms: int) -> int:
        start = now_ms - now_ms % self.span_ms
        if start != self.start_ms:
            self.start_ms, self.used = start, 0
        return self.used

    def left_s(self, now_ms: int) -> int:
        """Whole seconds (at least 1) until the window ends."""
        return max(math.ceil((self.start_ms + self.span_ms - now_ms) / 1000), 1)

    def advertised(self) -> dict[str, Any]:
        return {
            "rateLimitType": self.rate_limit_type,
            "interval": self.interval,
            "intervalNum": self.num,
            "limit": self.limit,
        }


class RateLimiter:
    """The sandbox's request-weight and order limits (``rate_limits``: exchangeInfo entries).

    ``limited``/``banned`` count the 429s and 418s answered and ``peak`` the most each window
    held, for tests and the bench.
    """

    def __init__(
        self,
        rate_limits: list[dict[str, Any]],
        *,
        coinm: bool = False,
        ban_after: int = _BAN_AFTER,
        ban_s: float = _BAN_S,
    ) -> None:
        self._windows = [
            _Window(
                str(r["rateLimitType"]), str(r["interval"]), int(r["intervalNum"]), int(r["limit"])
            )
            for r in rate_limits
            if r.get("rateLimitType") in ("REQUEST_WEIGHT", "ORDERS")
        ]
        self._weight = [w for w in self._windows if w.rate_limit_type == "REQUEST_WEIGHT"]
        self._orders = [w for w in self._windows if w.rate_limit_type == "ORDERS"]
        self._coinm = coinm
        self._ban_after = ban_after
        self._ban_s = ban_s
        self._back_off_until_ms = 0
        self._violations = 0
        self._banned_until_ms = 0
        self._bans = 0
        self.limited = 0
        self.banned = 0
        # The most each limit's window has held (header name → count).
        self.peak = {w.header: 0 for w in self._windows}

    def advertised(self) -> list[dict[str, Any]]:
        """The ``rateLimits`` exchangeInfo lists."""
        return [w.advertised() for w in self._windows]

    def set_limit(self, rate_limit_type: str, interval: str, num: int, limit: int) -> None:
        """Change one limit (added when the exchange has none such)."""
        for w in self._windows:
            if (w.rate_limit_type, w.interval, w.num) == (rate_limit_type, interval, num):
                w.limit = limit
                return
        w = _Window(rate_limit_type, interval, num, limit)
        self._windows.append(w)
        (self._weight if rate_limit_type == "REQUEST_WEIGHT" else self._orders).append(w)
        self.peak[w.header] = 0

    def admit(
        self, method: str, sub: str, params: dict[str, str], now_ms: int
    ) -> web.Response | None:
        """Count the request, or the 429/418 that refuses it."""
        if now_ms < self._banned_until_ms:
            return self._ban_answer(now_ms)
        if now_ms < self._back_off_until_ms:
            self._violations += 1
            if self._violations >= self._ban_after:
                self._bans += 1
                self._banned_until_ms = now_ms + round(self._ban_s * 1000 * 2 ** (self._bans - 1))
                self._violations = 0
                return self._ban_answer(now_ms)
        weight = request_weight(method, sub, params, self._coinm)
        for w in self._weight:
            if weight and w.used_at(now_ms) + weight > w.limit:
                msg = (
                    f"Too many requests; current limit is {w.limit} requests per minute. Please "
                    "use the websocket for live updates to avoid polling the API."
                )
                return self._limited(now_ms, w, -1003, msg, retry_after=True)
        new_order = (method, sub) == _NEW_ORDER
        if new_order:
            for w in self._orders:
                if w.used_at(now_ms) + 1 > w.limit:
                    msg = (
                        f"Too many new orders; current limit is {w.limit} orders per "
                        f"{w.num} {w.interval}."
                    )
                    return self._limited(now_ms, w, -1015, msg, retry_after=False)
            for w in self._orders:
                w.used += 1
                self.peak[w.header] = max(self.peak[w.header], w.used)
        for w in self._weight:
            w.used += weight
            self.peak[w.header] = max(self.peak[w.header], w.used)
        return None

    def stamp(self, answer: web.StreamResponse, new_order: bool, now_ms: int) -> None:
        """Put the used counts on ``answer``: the weight always, the order counts on an
        accepted new order's."""
        for w in self._weight:
            answer.headers[w.header] = str(w.used_at(now_ms))
        if new_order and answer.status < 300:
            for w in self._orders:
                answer.headers[w.header] = str(w.used_at(now_ms))

    def _limited(
        self, now_ms: int, w: _Window, code: int, msg: str, *, retry_after: bool
    ) -> web.Response:
        self.limited += 1
        headers = {}
        if retry_after:
            # The IP limit: requests before the window ends are what earns a ban.
            self._back_off_until_ms = max(self._back_off_until_ms, w.start_ms + w.span_ms)
            headers["Retry-After"] = str(w.left_s(now_ms))
        answer = web.json_response({"code": code, "msg": msg}, status=429, headers=headers)
        self.stamp(answer, False, now_ms)
        return answer

    def _ban_answer(self, now_ms: int) -> web.Response:
        self.banned += 1
        left_s = max(math.ceil((self._banned_until_ms - now_ms) / 1000), 1)
        msg = (
            f"Way too many requests; IP banned until {self._banned_until_ms}. Please use the "
            "websocket for live updates to avoid bans."
        )
        return web.json_response(
            {"code": -1003, "msg": msg}, status=418, headers={"Retry-After": str(left_s)}
        )
