"""A ccxt Binance USD-M client pointed at a loopback server (the sandbox, or any mock).

ccxt picks Binance's futures error table by the URL's host, so on loopback -5022 and -2019
would lose their specific classes; the client here always uses the USD-M (``linear``) table.
ccxt logs every request at DEBUG with the API key header and the signature; the client
installs a filter on ccxt's logger that redacts both, and the key and secret themselves.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from tradetui.venues.redact import redact_ccxt_logs


def _linear_exceptions(exchange: Any, url: str | None, exact_or_broad: str) -> dict[str, Any]:
    if url is None:
        return {}
    linear = exchange.safe_dict(exchange.exceptions, "linear", {})
    table: dict[str, Any] = exchange.safe_dict(linear, exact_or_broad, {})
    return table


class LoopbackBinanceUsdm(ccxt_async.binanceusdm):  # type: ignore[misc]
    """binanceusdm (REST) whose error mapping ignores the host it talks to."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:  # noqa: N803
        return _linear_exceptions(self, url, exactOrBroad)


class LoopbackBinanceUsdmPro(ccxt_pro.binanceusdm):  # type: ignore[misc]
    """binanceusdm (REST and websockets) whose error mapping ignores the host it talks to."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict[str, Any]:  # noqa: N803
        return _linear_exceptions(self, url, exactOrBroad)


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
                scheme = "wss" if target.scheme == "https" else "ws"
            out[name] = parts._replace(scheme=scheme, netloc=target.netloc).geturl()
        else:
            out[name] = value
    return out


def _options(api_key: str, api_secret: str, options: dict[str, Any]) -> dict[str, Any]:
    redact_ccxt_logs(api_key, api_secret)
    return {
        "apiKey": api_key,
        "secret": api_secret,
        "enableRateLimit": False,
        "options": {"fetchCurrencies": False, "adjustForTimeDifference": False, **options},
    }


def loopback_client(
    base_url: str, api_key: str, api_secret: str, **options: Any
) -> LoopbackBinanceUsdm:
    """A ccxt async binanceusdm on ``base_url`` (e.g. ``http://127.0.0.1:8765``).

    No currency or time-difference calls at load; ``options`` are merged into ccxt's options.
    """
    client = LoopbackBinanceUsdm(_options(api_key, api_secret, options))
    client.urls["api"] = rewrite_urls(client.urls["api"], base_url)
    # ccxt waits this long (ms) in close() for TLS shutdown; plain loopback needs none.
    client.timeout_on_exit = 0
    return client


def loopback_pro_client(
    base_url: str, api_key: str, api_secret: str, **options: Any
) -> LoopbackBinanceUsdmPro:
    """A ccxt.pro binanceusdm on ``base_url``: REST there, websockets on ``ws://.../ws``."""
    client = LoopbackBinanceUsdmPro(_options(api_key, api_secret, options))
    client.urls["api"] = rewrite_urls(client.urls["api"], base_url)
    client.timeout_on_exit = 0
    ws_base = urlsplit(base_url)._replace(scheme="ws", path="/ws").geturl()
    client.urls["api"]["ws"]["linear"] = ws_base
    return client
