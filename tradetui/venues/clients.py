"""ccxt clients for a configured exchange: keys, clock options, proxy and URL overrides.

``rest_url`` / ``ws_url`` replace the scheme and host of every REST / websocket URL the
exchange class knows (paths are kept: they carry the API version), which is how tests and dry
runs point the real ccxt client at ``tradetui sandbox exchange``. ccxt's Binance picks its
futures error table by the URL's host, so an overridden Binance futures client keeps its own
table: USD-M the 'linear' one (``-5022`` stays OrderNotFillable, ``-2019`` InsufficientFunds),
COIN-M the 'inverse' one (``-2019`` InsufficientFunds), as on the real hosts. ccxt logs
requests with keys and signatures at DEBUG; the ccxt logger gets a redacting filter for both.

Binance USD-M clients send an order's signed parameters in the query string of its POST
rather than in a form body: Binance takes either, and aiohttp writes a request without a body
to the socket at once, while a body waits for a task of its own (on Python 3.11 it went out
1.5-2 ms after ccxt handed the request over, behind whatever else the loop had queued). The
signature is ccxt's, over the same query, which they also encode faster: half of ccxt's
signing time went to ``urllib.parse.urlencode`` percent-encoding parameters that need none
(``plain_query``; anything else still goes through ccxt's encoder, byte for byte the same).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
from ccxt.base.exchange import Exchange as CcxtExchange

from tradetui.venues.errors import SetupError
from tradetui.venues.redact import redact_ccxt_logs


def _market_exceptions(
    exchange: Any, url: str | None, exact_or_broad: str, market_type: str
) -> dict[str, Any]:
    """ccxt's error table for ``market_type`` ('linear', 'inverse'), whatever host ``url``
    names (ccxt's own lookup knows only the real hosts)."""
    if url is None:
        return {}
    tables = exchange.safe_dict(exchange.exceptions, market_type, {})
    table: dict[str, Any] = exchange.safe_dict(tables, exact_or_broad, {})
    return table


def order_query_in_url(request: dict[str, Any], path: str, api: Any, method: str) -> dict[str, Any]:
    """ccxt's signed ``request`` for a new Binance USD-M order with its body moved into the
    URL's query string (other requests unchanged)."""
    name = api if isinstance(api, str) else api[0]
    body = request.get("body")
    if method == "POST" and path == "order" and name == "fapiPrivate" and body:
        request["url"] = f"{request['url']}?{body}"
        request["body"] = None
    return request


# What urllib.parse.quote leaves as it is with safe='': the URL's unreserved characters.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _plain(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"  # as ccxt writes booleans
    if isinstance(value, str | int | float):
        text = str(value)
        return text if _UNRESERVED.issuperset(text) else None
    return None


def plain_query(params: dict[str, Any]) -> str | None:
    """``k=v&...`` when no key or value needs percent-encoding (then it equals ccxt's
    ``urlencode``), else None."""
    parts = []
    for key, value in params.items():
        text = _plain(value)
        if text is None or not _UNRESERVED.issuperset(key):
            return None
        parts.append(f"{key}={text}")
    return "&".join(parts)


class _OrderQueryInUrl:
    """Binance USD-M signing with new orders' parameters in the URL (``order_query_in_url``)
    and a fast path for queries that need no percent-encoding (``plain_query``)."""

    @staticmethod
    def urlencode(params: Any = None, doseq: bool = False, sort: bool = False) -> str:
        params = {} if params is None else params
        plain = None if doseq or not isinstance(params, dict) else plain_query(params)
        if plain is not None:
            return plain
        encoded: str = CcxtExchange.urlencode(params, doseq, sort)
        return encoded

    def sign(
        self, path: str, api: Any = ("public",), method: str = "GET", params: Any = None
    ) -> dict[str, Any]:
        signed = super().sign(path, api, method, {} if params is None else params)  # type: ignore[misc]
        return order_query_in_url(signed, path, api, method)


class BinanceUsdmPro(_OrderQueryInUrl, ccxt_pro.binanceusdm):  # type: ignore[misc]
    """binanceusdm (REST and websockets) sending new orders' parameters in the URL.

    Its websockets go where ccxt.pro puts them on Binance's routed bases: market streams on
    ``.../public/ws/<n>`` or ``.../market/ws/<n>`` by category, the user stream on
    ``.../private/ws?listenKey=K``. ``legacy_ws`` (feed.ws_routing = "legacy") keeps them on
    the single base Binance retired on 2026-04-23: ``.../ws/<n>`` and ``.../ws/<listenKey>``.
    """

    legacy_ws = False

    def get_ws_url(self, type: str, category: str) -> str:
        if self.legacy_ws and type == "linear":
            url: str = self.urls["api"]["ws"][type]
            return url
        routed: str = super().get_ws_url(type, category)
        return routed

    def get_private_ws_url(self, type: str | None, listenKey: str | None) -> str:  # noqa: N803
        if self.legacy_ws and type == "linear" and listenKey is not None:
            return f"{self.urls['api']['ws'][type]}/{listenKey}"
        routed: str = super().get_private_ws_url(type, listenKey)
        return routed


class LoopbackBinanceUsdm(_OrderQueryInUrl, ccxt_async.binanceusdm):  # type: ignore[misc]
    """binanceusdm (REST) whose error mapping ignores the host it talks to."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:  # noqa: N803
        return _market_exceptions(self, url, exactOrBroad, "linear")


class LoopbackBinanceUsdmPro(BinanceUsdmPro):
    """binanceusdm (REST and websockets) whose error mapping ignores the host it talks to."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:  # noqa: N803
        return _market_exceptions(self, url, exactOrBroad, "linear")


class LoopbackBinanceCoinm(ccxt_async.binancecoinm):  # type: ignore[misc]
    """binancecoinm (REST) whose error mapping ignores the host it talks to."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:  # noqa: N803
        return _market_exceptions(self, url, exactOrBroad, "inverse")


class LoopbackBinanceCoinmPro(ccxt_pro.binancecoinm):  # type: ignore[misc]
    """binancecoinm (REST and websockets) whose error mapping ignores the host it talks to."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:  # noqa: N803
        return _market_exceptions(self, url, exactOrBroad, "inverse")


# Exchanges whose ccxt class is replaced: (the class, the class on an overridden URL).
_CLASSES: dict[str, tuple[Any, Any]] = {
    "binanceusdm": (BinanceUsdmPro, LoopbackBinanceUsdmPro),
    "binancecoinm": (ccxt_pro.binancecoinm, LoopbackBinanceCoinmPro),
}


# A quiet client may spend this much of its sustained request budget at once (ms of refill).
# On Binance USD-M (ccxt: 20 cost units a second, 4 per order) 10 s is 200 units, 50 orders.
# Binance's published limits, with the burst spent and the sustained rate kept up after it:
# orders in any 10 s at most 50 + 10 * 5 = 100 (limit 300); in any minute 50 + 60 * 5 = 350
# (limit 1,200); request weight in any minute, counting every ccxt unit as weight, at most
# 200 + 60 * 20 = 1,400 (limit 2,400 per IP). A 2 s burst (10 orders) made a requote burst
# wait for refill well inside those limits.
_BURST_MS = 10_000.0


class RequestBucket:
    """Paces ccxt's per-request costs with a token bucket that refills with elapsed time.

    ccxt's own leaky bucket credits no idle time: after any request the next one waits that
    request's full cost (200 ms after each Binance USD-M order), however long the client was
    quiet, so every requote went out late. Here tokens refill continuously at ccxt's rate
    (one per ``rate_limit_ms``) up to ``burst_ms`` worth; a request that finds enough tokens
    goes at once, one that does not waits its turn (callers are served in order, and the
    sustained rate is ccxt's).
    """

    def __init__(self, rate_limit_ms: float, burst_ms: float = _BURST_MS) -> None:
        self._per_s = 1000.0 / rate_limit_ms  # tokens per second
        self._capacity = burst_ms / rate_limit_ms
        self._tokens = self._capacity
        self._stamp = time.monotonic()

    async def __call__(self, cost: float | None = None) -> None:
        now = time.monotonic()
        tokens = min(self._tokens + (now - self._stamp) * self._per_s, self._capacity)
        self._stamp = now
        # Reserve at once (a negative balance is the queue ahead), then wait it out.
        self._tokens = tokens - (1.0 if cost is None else float(cost))
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self._per_s)


def rewrite_urls(api: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A copy of ccxt's ``urls['api']`` with every URL's scheme and host replaced by
    ``base_url``'s (paths kept: they carry the API version)."""
    target = urlsplit(base_url)
    out: dict[str, Any] = {}
    for name, value in api.items():
        if isinstance(value, dict):
            out[name] = rewrite_urls(value, base_url)
        elif isinstance(value, str) and "://" in value:
            parts = urlsplit(value)
            scheme = target.scheme
            if parts.scheme in ("ws", "wss"):
                scheme = "wss" if target.scheme in ("https", "wss") else "ws"
            elif scheme in ("ws", "wss"):
                scheme = "https" if scheme == "wss" else "http"
            out[name] = parts._replace(scheme=scheme, netloc=target.netloc).geturl()
        else:
            out[name] = value
    return out


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise SetupError(f"venue.{name}: expected scheme://host[:port] (got {url!r})")


def _proxy(client: Any, proxy: str) -> None:
    """Route REST and websockets through ``proxy`` (http(s):// or socks5://)."""
    scheme = urlsplit(proxy).scheme
    if scheme.startswith("socks"):
        client.socks_proxy = proxy
        client.ws_socks_proxy = proxy
    elif scheme in ("http", "https"):
        client.https_proxy = proxy
        client.wss_proxy = proxy
    else:
        raise SetupError(f"venue.proxy: expected http://, https:// or socks5:// (got {scheme!r})")


def market_data_options(exchange_id: str) -> dict[str, Any]:
    """ccxt options for a keyless client reading one exchange's markets: Binance's spot client
    loads its spot markets only (ccxt also asks the USD-M and COIN-M APIs by default: two more
    requests, to hosts some regions cannot reach, for markets a spot session does not use)."""
    return {"fetchMarkets": {"types": ["spot"]}} if exchange_id == "binance" else {}


def make_client(
    exchange_id: str,
    *,
    api_key: str = "",
    api_secret: str = "",
    rest_url: str = "",
    ws_url: str = "",
    recv_window_ms: int = 5_000,
    proxy: str = "",
    rate_limit: bool = True,
    timeout_ms: int = 10_000,
    options: dict[str, Any] | None = None,
    ws_routing: str = "split",
) -> Any:
    """A ccxt.pro client (REST and websockets) for ``exchange_id``; raises SetupError for an
    unknown exchange or a malformed URL. ``options`` are merged into ccxt's options;
    ``ws_routing`` "legacy" keeps a Binance USD-M client's websockets on the retired single
    base (``BinanceUsdmPro``)."""
    overridden = bool(rest_url or ws_url)
    cls: Any
    if exchange_id in _CLASSES:
        plain, loopback = _CLASSES[exchange_id]
        cls = loopback if overridden else plain
    else:
        cls = getattr(ccxt_pro, exchange_id, None)
        if cls is None or exchange_id not in ccxt_pro.exchanges:
            raise SetupError(
                f"venue.exchange: {exchange_id!r} is not a ccxt exchange with websocket support; "
                "use 'sim' or an id such as 'binanceusdm'"
            )
    redact_ccxt_logs(api_key, api_secret)
    client = cls(
        {
            "apiKey": api_key,
            "secret": api_secret,
            "enableRateLimit": rate_limit,
            "timeout": timeout_ms,
            "options": {
                "fetchCurrencies": False,
                "adjustForTimeDifference": False,
                "recvWindow": recv_window_ms,
                **(options or {}),
            },
        }
    )
    if rest_url:
        _check_url("rest_url", rest_url)
        client.urls["api"] = rewrite_urls(client.urls["api"], rest_url)
    if ws_url:
        _check_url("ws_url", ws_url)
        api = client.urls["api"]
        if isinstance(api.get("ws"), dict):
            api["ws"] = rewrite_urls(api["ws"], ws_url)
    if isinstance(client, BinanceUsdmPro):
        client.legacy_ws = ws_routing == "legacy"
    if rate_limit:
        client.throttler = RequestBucket(float(client.rateLimit))
    if overridden:
        # ccxt waits this long (ms) in close() for TLS shutdown; plain loopback needs none.
        client.timeout_on_exit = 0
    if proxy:
        _proxy(client, proxy)
    return client
