"""Sharding the screener's streams under Binance's per-connection limit, and decoding."""

from __future__ import annotations

import pytest

from tradetui.venues.screener_feed import (
    STREAM_LIMITS,
    AggTradeMsg,
    BookTickerMsg,
    FrameDecoder,
    TickerMsg,
    shard_plan,
)


def test_usdm_routes_book_to_public_and_trades_and_tickers_to_market() -> None:
    shards = shard_plan(["BTCUSDT", "ETHUSDT"], routed=True, max_streams=1024)
    by_path = {s.path: s.names for s in shards}
    assert by_path == {
        "/market/stream": ("!ticker@arr", "btcusdt@aggTrade", "ethusdt@aggTrade"),
        "/public/stream": ("btcusdt@bookTicker", "ethusdt@bookTicker"),
    }


def test_shards_never_exceed_the_limit_and_cover_every_stream_once() -> None:
    symbols = [f"S{i:04d}USDT" for i in range(1500)]
    limit = STREAM_LIMITS["binanceusdm"].max_streams
    shards = shard_plan(symbols, routed=True, max_streams=limit)
    names = [n for s in shards for n in s.names]
    assert all(len(s.names) <= limit for s in shards)
    assert len(names) == len(set(names)) == 2 * 1500 + 1
    assert len(shards) == 4  # 1500 book streams and 1501 market ones: two shards each
    assert [s.index for s in shards] == list(range(4))


def test_unrouted_venues_share_one_base() -> None:
    shards = shard_plan(["BTCUSD_PERP"], routed=False, max_streams=2)
    assert [s.path for s in shards] == ["/stream", "/stream"]
    assert sum(len(s.names) for s in shards) == 3
    with pytest.raises(ValueError, match="max_streams"):
        shard_plan(["X"], routed=False, max_streams=0)


def test_decoder_dispatches_by_stream_and_counts_what_it_skips() -> None:
    books: list[BookTickerMsg] = []
    trades: list[AggTradeMsg] = []
    tickers: list[list[TickerMsg]] = []
    d = FrameDecoder(books.append, trades.append, tickers.append)
    d(
        '{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1,"s":"BTCUSDT",'
        '"b":"61000.1","B":"1","a":"61000.2","A":"2","T":1,"E":1}}'
    )
    # Spot's bookTicker carries no event type nor times.
    d(
        '{"stream":"ethusdt@bookTicker","data":{"u":2,"s":"ETHUSDT","b":"1","B":"1","a":"2","A":"1"}}'
    )
    d(
        b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":5,'
        b'"p":"61000.2","q":"0.5","f":10,"l":12,"T":1,"m":false}}'
    )
    d('{"stream":"!ticker@arr","data":[{"e":"24hrTicker","s":"BTCUSDT","q":"123.5","n":7}]}')
    d('{"result":null,"id":1}')
    assert [b.s for b in books] == ["BTCUSDT", "ETHUSDT"]
    assert (trades[0].l - trades[0].f + 1) == 3
    assert tickers[0][0].q == "123.5"
    assert tickers[0][0].n == 7
    assert d.skipped == 0
    d("not json")
    d('{"stream":"btcusdt@depth","data":{}}')
    d('{"error":{"code":2,"msg":"Invalid request"},"id":3}')
    d('{"stream":"btcusdt@bookTicker","data":{"s":"BTCUSDT"}}')
    assert d.skipped == 4
