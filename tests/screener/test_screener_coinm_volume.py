"""COIN-M's 24 h tickers count volume in contracts (``v``) and in the coin (``q``), not in a
quote asset as USD-M's ``q`` (binance-docs.github.io/apidocs/delivery/en/
#all-market-tickers-streams): the screener's quote volume there is contracts × contract size,
in USD, so symbols compare in one unit."""

from __future__ import annotations

import json

import pytest

from tradetui.screener.service import Screener
from tradetui.venues.sim_listing import listed_instrument


def test_coinm_quote_volume_is_the_contracts_worth_in_usd() -> None:
    btc = listed_instrument("BTCUSD_PERP", "binancecoinm")  # 100 USD a contract
    eth = listed_instrument("ETHUSD_PERP", "binancecoinm")  # 10 USD a contract
    screener = Screener("binancecoinm", [btc, eth], "ws://127.0.0.1:9", routed=False)
    tickers = [
        {"e": "24hrTicker", "s": "BTCUSD_PERP", "ps": "BTCUSD", "v": "5000", "q": "8.1", "n": 9},
        {"e": "24hrTicker", "s": "ETHUSD_PERP", "ps": "ETHUSD", "v": "7000", "q": "26.0", "n": 4},
    ]
    screener.decoder(json.dumps({"stream": "!ticker@arr", "data": tickers}))

    volume = {r.symbol: r.quote_volume for r in screener.rows()}
    assert volume == {
        "BTCUSD_PERP": pytest.approx(500_000.0),
        "ETHUSD_PERP": pytest.approx(70_000.0),
    }


def test_usdm_quote_volume_is_the_tickers_q() -> None:
    btc = listed_instrument("BTCUSDT")
    screener = Screener("binanceusdm", [btc], "ws://127.0.0.1:9", routed=False)
    ticker = {"e": "24hrTicker", "s": "BTCUSDT", "v": "10.000", "q": "617000.00", "n": 3}
    screener.decoder(json.dumps({"stream": "!ticker@arr", "data": [ticker]}))

    assert [r.quote_volume for r in screener.rows()] == [pytest.approx(617_000.0)]
