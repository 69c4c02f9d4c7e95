"""ccxt Binance futures clients (USD-M, or COIN-M) pointed at a loopback server (the sandbox,
or any mock).

Thin wrappers over ``tradetui.venues.clients`` for tests and benches: no rate limiter (the
sandbox has no limits to respect), no currency or time-difference calls at load, the
exchange's own error table kept on loopback and keys and signatures redacted from ccxt's
request log.
"""

from __future__ import annotations

from typing import Any

from tradetui.venues.clients import (
    LoopbackBinanceCoinm,
    LoopbackBinanceUsdm,
    LoopbackBinanceUsdmPro,
    make_client,
    rewrite_urls,
)
from tradetui.venues.redact import redact_ccxt_logs

__all__ = [
    "LoopbackBinanceCoinm",
    "LoopbackBinanceUsdm",
    "LoopbackBinanceUsdmPro",
    "loopback_client",
    "loopback_pro_client",
    "rewrite_urls",
]


_REST_CLASSES: dict[str, Any] = {
    "binanceusdm": LoopbackBinanceUsdm,
    "binancecoinm": LoopbackBinanceCoinm,
}


def loopback_client(
    base_url: str, api_key: str, api_secret: str, *, exchange: str = "binanceusdm", **options: Any
) -> Any:
    """A ccxt async (REST only) ``exchange`` (binanceusdm or binancecoinm) on ``base_url``
    (e.g. ``http://127.0.0.1:8765``); ``options`` are merged into ccxt's options."""
    redact_ccxt_logs(api_key, api_secret)
    client = _REST_CLASSES[exchange](
        {
            "apiKey": api_key,
            "secret": api_secret,
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "adjustForTimeDifference": False, **options},
        }
    )
    client.urls["api"] = rewrite_urls(client.urls["api"], base_url)
    client.timeout_on_exit = 0
    return client


def loopback_pro_client(
    base_url: str,
    api_key: str,
    api_secret: str,
    *,
    exchange: str = "binanceusdm",
    ws_routing: str = "split",
    **options: Any,
) -> Any:
    """A ccxt.pro ``exchange`` (binanceusdm or binancecoinm) on ``base_url``: REST there,
    websockets on ``ws://.../ws`` (``ws_routing``: see ``make_client``)."""
    client: Any = make_client(
        exchange,
        api_key=api_key,
        api_secret=api_secret,
        rest_url=base_url,
        rate_limit=False,
        options={"recvWindow": 10_000, **options},
        ws_routing=ws_routing,
    )
    return client
