"""The sandbox answers the public market data and account history a ccxt client asks Binance
USD-M for (fetch_ticker(s), fetch_bids_asks, fetch_trades, fetch_ohlcv, fetch_funding_rate,
fetch_mark_price, fetch_funding_rate_history, fetch_trading_fee, fetch_orders) for every symbol
it lists, consistently with its book and its trades."""

from __future__ import annotations

import time

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from tests.sandbox.conftest import (
    ASK_TICKS,
    BID_TICKS,
    KEY,
    SECRET,
    SYMBOL,
    ManualFeed,
    rest_client,
    still_market,
)
from tradetui.core.types import Side
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.sandbox.tape import Tape
from tradetui.sandbox.universe import UniverseSpec
from tradetui.venues.sim_listing import listed_instrument

_MINUTE_MS = 60_000
_EIGHT_HOURS_MS = 8 * 3_600_000


def _check_candles(candles: list[list[float]], trades: list[dict[str, float]]) -> None:
    """Each candle's volume is its trades' (a bucket without trades has none), its open and
    close their first and last prices, and its range holds them."""
    assert candles
    for open_ms, o, h, low, c, volume in candles:
        inside = [t for t in trades if open_ms <= t["timestamp"] < open_ms + _MINUTE_MS]
        assert volume == pytest.approx(sum(t["amount"] for t in inside))
        assert h >= max(o, c)
        assert low <= min(o, c)
        if inside:
            assert (o, c) == (inside[0]["price"], inside[-1]["price"])
            assert (h, low) == (max(t["price"] for t in inside), min(t["price"] for t in inside))


async def test_ticker_book_trades_and_klines_of_the_traded_symbol_agree(
    live_sandbox: SandboxExchange, feed: ManualFeed
) -> None:
    feed.trade(BID_TICKS, 5, Side.SELL)
    feed.trade(ASK_TICKS, 3, Side.BUY)
    feed.trade(BID_TICKS, 2, Side.SELL)
    live_sandbox.advance()
    async with rest_client(live_sandbox) as client:
        await client.load_markets()
        ticker = await client.fetch_ticker(SYMBOL)
        tickers = await client.fetch_tickers()
        book = await client.fetch_order_book(SYMBOL, 5)
        touch = (await client.fetch_bids_asks([SYMBOL]))[SYMBOL]
        trades = await client.fetch_trades(SYMBOL)
        raw_trades = await client.fapiPublicGetTrades({"symbol": "BTCUSDT"})
        candles = await client.fetch_ohlcv(SYMBOL, "1m")

    assert [(t["side"], t["price"], t["amount"]) for t in trades] == [
        ("sell", 60000.0, 0.005),
        ("buy", 60000.1, 0.003),
        ("sell", 60000.0, 0.002),
    ]
    assert ticker["last"] == trades[-1]["price"]
    assert ticker["info"]["lastQty"] == "0.002"
    # The 24 h figures count the trades the list shows, under the same ids.
    ids = [int(t["id"]) for t in raw_trades]
    assert ids == list(range(ids[0], ids[0] + 3))
    assert int(ticker["info"]["lastId"]) == ids[-1]
    assert raw_trades[0]["quoteQty"] == "300.00000000"
    assert (touch["bid"], touch["ask"]) == (book["bids"][0][0], book["asks"][0][0])
    assert (touch["bidVolume"], touch["askVolume"]) == (book["bids"][0][1], book["asks"][0][1])
    assert sorted(tickers) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    _check_candles(candles, trades)
    assert sum(c[5] for c in candles) == pytest.approx(0.010)


async def test_our_orders_and_fills_show_in_the_public_trades_and_the_order_history(
    live_sandbox: SandboxExchange,
) -> None:
    async with rest_client(live_sandbox) as client:
        await client.load_markets()
        resting = await client.create_order(SYMBOL, "limit", "buy", 0.002, 59000.0)
        cancelled = await client.create_order(SYMBOL, "limit", "buy", 0.003, 59000.0)
        await client.cancel_order(cancelled["id"], SYMBOL)
        filled = await client.create_order(SYMBOL, "market", "buy", 0.004)
        trades = await client.fetch_trades(SYMBOL)
        orders = await client.fetch_orders(SYMBOL)
        closed = await client.fetch_closed_orders(SYMBOL)
        from_cancelled = await client.fetch_orders(SYMBOL, params={"orderId": cancelled["id"]})
        latest = await client.fetch_orders(SYMBOL, limit=1)
        ticker = await client.fetch_ticker(SYMBOL)
        fee = await client.fetch_trading_fee(SYMBOL)
        eth_orders = await client.fetch_orders("ETH/USDT:USDT")

    # A market buy takes the ask: a buyer-taker print of our size at our fill price.
    assert (trades[-1]["side"], trades[-1]["price"], trades[-1]["amount"]) == (
        "buy",
        60000.1,
        0.004,
    )
    assert ticker["last"] == 60000.1
    assert {o["id"]: o["status"] for o in orders} == {
        resting["id"]: "open",
        cancelled["id"]: "canceled",
        filled["id"]: "closed",
    }
    assert [o["id"] for o in orders] == [resting["id"], cancelled["id"], filled["id"]]
    assert [o["id"] for o in closed] == [filled["id"]]
    assert closed[0]["filled"] == 0.004
    assert [o["id"] for o in from_cancelled] == [cancelled["id"], filled["id"]]
    assert [o["id"] for o in latest] == [filled["id"]]
    inst = live_sandbox.instrument
    assert (fee["maker"], fee["taker"]) == (inst.maker_fee_rate, inst.taker_fee_rate)
    assert eth_orders == []


async def test_funding_and_mark_price_are_binances_defaults_on_the_8h_grid(
    live_sandbox: SandboxExchange,
) -> None:
    async with rest_client(live_sandbox) as client:
        await client.load_markets()
        funding = await client.fetch_funding_rate(SYMBOL)
        mark = await client.fetch_mark_price(SYMBOL)
        history = await client.fetch_funding_rate_history(SYMBOL)
        everyone = await client.fapiPublicGetPremiumIndex()
    now_ms = time.time_ns() // 1_000_000

    assert funding["fundingRate"] == 0.0001
    assert funding["markPrice"] == funding["indexPrice"] == 60000.05  # the mid
    assert mark["markPrice"] == 60000.05
    next_ms = funding["fundingTimestamp"]
    assert next_ms % _EIGHT_HOURS_MS == 0
    assert 0 < next_ms - now_ms <= _EIGHT_HOURS_MS
    # The day the sandbox's 24 h figures model: three funding times, the last one past.
    assert len(history) == 3
    times = [h["timestamp"] for h in history]
    assert all(t % _EIGHT_HOURS_MS == 0 for t in times)
    assert times == sorted(times)
    assert now_ms - _EIGHT_HOURS_MS < times[-1] <= now_ms
    assert {h["fundingRate"] for h in history} == {0.0001}
    assert sorted(e["symbol"] for e in everyone) == ["BTCUSDT", "ETHUSDT"]


async def test_the_synthetic_markets_symbols_are_served_consistently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = SandboxExchange(
        listed_instrument("BTCUSDT"),
        still_market(),
        api_key=KEY,
        api_secret=SECRET,
        universe=UniverseSpec(20, trade_hz=200.0),
    )
    async with server, rest_client(server) as client:
        markets = await client.load_markets()
        eth = "ETH/USDT:USDT"
        # Trades every few ms: a while of market, then the clock stands still for the checks.
        eth_tape = server.universe.tape("ETHUSDT")
        assert eth_tape is not None
        deadline = time.monotonic() + 5
        while len(eth_tape.prints) < 20 and time.monotonic() < deadline:
            await client.fetch_time()
        frozen = time.time_ns()
        monkeypatch.setattr(server, "now_ns", lambda: frozen)
        ticker = await client.fetch_ticker(eth)
        tickers = await client.fetch_tickers()
        book = await client.fetch_order_book(eth, 5)
        touch = (await client.fetch_bids_asks([eth]))[eth]
        trades = await client.fetch_trades(eth, limit=1000)
        singles = await client.fapiPublicGetTrades({"symbol": "ETHUSDT", "limit": 1000})
        candles = await client.fetch_ohlcv(eth, "1m")
        funding = await client.fetch_funding_rate(eth)
        last_symbol = next(m for m in markets.values() if m["id"] == server.universe.symbols[-1])
        quiet = await client.fetch_ticker(last_symbol["symbol"])

    assert len(trades) >= 20
    # The single trades are the aggregates' split: the same ids, the same volume.
    assert [int(t["id"]) for t in singles] == list(
        range(int(trades[0]["info"]["f"]), int(trades[-1]["info"]["l"]) + 1)
    )
    assert sum(float(t["qty"]) for t in singles) == pytest.approx(sum(t["amount"] for t in trades))
    assert ticker["last"] == trades[-1]["price"]
    assert (touch["bid"], touch["ask"]) == (book["bids"][0][0], book["asks"][0][0])
    assert touch["bid"] < funding["markPrice"] < touch["ask"]
    assert len(tickers) == len(markets) == 20
    assert quiet["last"] > 0
    _check_candles(candles, trades)
    assert sum(c[5] for c in candles) == pytest.approx(sum(t["amount"] for t in trades))


async def test_unknown_symbols_and_bad_parameters_are_refused_with_binances_codes(
    sandbox: SandboxExchange,
) -> None:
    async with rest_client(sandbox) as client:
        await client.load_markets()
        for call in (
            client.fapiPublicGetTicker24hr,
            client.fapiPublicGetTickerBookTicker,
            client.fapiPublicGetTrades,
            client.fapiPublicGetAggTrades,
            client.fapiPublicGetPremiumIndex,
            client.fapiPublicGetFundingRate,
            client.fapiPrivateGetCommissionRate,
            client.fapiPrivateGetAllOrders,
        ):
            with pytest.raises(ccxt_async.BadSymbol, match="-1121"):
                await call({"symbol": "NOPEUSDT"})
        with pytest.raises(ccxt_async.BadSymbol, match="-1121"):
            await client.fapiPublicGetKlines({"symbol": "NOPEUSDT", "interval": "1m"})
        with pytest.raises(ccxt_async.BadRequest, match="-1120"):
            await client.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "7m"})
        with pytest.raises(ccxt_async.BadRequest, match="-1102"):
            await client.fapiPublicGetKlines({"symbol": "BTCUSDT"})
        with pytest.raises(ccxt_async.BadRequest, match="-1102"):
            await client.fapiPublicGetTrades({})
        with pytest.raises(ccxt_async.BadRequest, match="-1100"):
            await client.fapiPublicGetTrades({"symbol": "BTCUSDT", "limit": "many"})


async def test_the_market_data_weighs_what_binance_says(sandbox: SandboxExchange) -> None:
    async def used(path: str) -> int:
        async with http.get(f"{sandbox.rest_url}/fapi/v1/{path}") as resp:
            assert resp.status == 200, await resp.text()
            return int(resp.headers["X-MBX-USED-WEIGHT-1M"])

    async with aiohttp.ClientSession() as http:
        steps = [
            ("ticker/24hr", 40),
            ("ticker/24hr?symbol=BTCUSDT", 1),
            ("ticker/bookTicker", 5),
            ("aggTrades?symbol=BTCUSDT", 20),
            ("klines?symbol=BTCUSDT&interval=1m", 5),
            ("klines?symbol=BTCUSDT&interval=1m&limit=1500", 10),
            ("klines?symbol=BTCUSDT&interval=1h&limit=99", 1),
        ]
        before = await used("time")
        for path, weight in steps:
            after = await used(path)
            # The window may roll over between two requests: then it holds this one only.
            assert after - before == weight or after == weight, path
            before = after


def test_klines_repeat_the_last_close_with_no_volume_where_nothing_traded() -> None:
    tape = Tape(0.1, 0.001, 1, 3, 0.0)
    t0 = 1_796_601_600_000  # a Monday, 00:00 UTC
    tape.add(t0 + 1_000, 100.0, 5, 1, 1, False)
    tape.add(t0 + 2_000, 101.0, 2, 2, 2, True)
    tape.add(t0 + 3 * _MINUTE_MS + 5, 99.0, 1, 1, 4, True)
    now = t0 + 4 * _MINUTE_MS + 1

    rows = tape.klines("1m", None, None, 500, now)
    assert [r[0] for r in rows] == [t0 + i * _MINUTE_MS for i in range(5)]
    assert rows[0][1:6] == ["100.0", "101.0", "100.0", "101.0", "0.007"]
    assert rows[0][6] == t0 + _MINUTE_MS - 1
    assert rows[0][8] == 3
    assert rows[0][9] == "0.005"
    assert rows[1][1:6] == rows[2][1:6] == ["101.0", "101.0", "101.0", "101.0", "0.000"]
    assert rows[3][1:6] == ["99.0", "99.0", "99.0", "99.0", "0.001"]
    assert rows[4][1:6] == ["99.0", "99.0", "99.0", "99.0", "0.000"]  # the open minute
    assert [r[0] for r in tape.klines("1m", t0 + 1, None, 2, now)] == [
        t0 + _MINUTE_MS,
        t0 + 2 * _MINUTE_MS,
    ]
    assert [r[0] for r in tape.klines("1m", t0, None, 2, now, latest=True)] == [
        t0 + 3 * _MINUTE_MS,
        t0 + 4 * _MINUTE_MS,
    ]
    assert [r[0] for r in tape.klines("1m", None, t0 + _MINUTE_MS, 500, now)] == [
        t0,
        t0 + _MINUTE_MS,
    ]
    (week,) = tape.klines("1w", None, None, 500, now)
    assert week[0] == t0
    assert week[5] == "0.008"
    (month,) = tape.klines("1M", None, None, 500, now)
    assert month[0] == 1_796_083_200_000  # 2026-12-01
    assert month[6] == 1_798_761_600_000 - 1  # 2027-01-01, less 1 ms
