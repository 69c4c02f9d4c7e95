"""The screener's per-symbol figures from touch updates, trades and 24 h tickers."""

from __future__ import annotations

import math

import pytest

from tradetui.screener.stats import ScreenBook, ranked


def book(fee_bps: float = 2.0) -> ScreenBook:
    return ScreenBook({"AAAUSDT": 0.01, "BBBUSDT": 0.5}, fee_bps)


def row(b: ScreenBook, symbol: str):  # type: ignore[no-untyped-def]
    return next(r for r in b.rows() if r.symbol == symbol)


def test_nothing_seen_is_nan_not_zero() -> None:
    r = row(book(), "AAAUSDT")
    assert math.isnan(r.spread_bps)
    assert math.isnan(r.vol_1m_bps)
    assert math.isnan(r.quote_volume)
    assert math.isnan(r.trades_per_min)


def test_spread_in_ticks_and_bps_averages_the_second_samples() -> None:
    b = book()
    b.on_book("AAAUSDT", 100.00, 100.02)  # 2 ticks
    b.sample()
    b.on_book("AAAUSDT", 100.00, 100.04)  # 4 ticks
    b.sample()
    r = row(b, "AAAUSDT")
    assert r.spread_ticks == pytest.approx(3.0)
    assert r.spread_bps == pytest.approx(0.03 / 100.02 * 1e4, rel=1e-9)


def test_net_spread_takes_two_maker_fees_off() -> None:
    b = book(fee_bps=2.0)
    b.on_book("BBBUSDT", 99.5, 100.5)  # 100 bps wide at mid 100
    r = row(b, "BBBUSDT")
    assert r.spread_bps == pytest.approx(100.0)
    assert r.mm_net_bps == pytest.approx(96.0)


def test_volatility_scales_one_second_returns_to_the_horizon() -> None:
    b = book()
    mid = 100.0
    for i in range(61):
        mid *= math.exp(0.001 if i % 2 else -0.001)  # |r| = 10 bps each second
        b.on_book("AAAUSDT", round(mid - 0.01, 2), round(mid + 0.01, 2))
        b.sample()
    r = row(b, "AAAUSDT")
    assert r.vol_1m_bps == pytest.approx(10 * math.sqrt(60), rel=0.05)
    assert r.vol_1h_bps == pytest.approx(10 * math.sqrt(3600), rel=0.05)


def test_trade_rate_counts_trades_in_the_trailing_minute() -> None:
    b = book()
    b.on_ticker("AAAUSDT", 5e6, 14_400)
    assert row(b, "AAAUSDT").trades_per_min == pytest.approx(10.0)  # the 24 h count / 1440
    for _ in range(30):
        b.on_trades("AAAUSDT", 3)  # an aggregate of 3 trades a second
        b.sample()
    r = row(b, "AAAUSDT")
    assert r.trades_per_min == pytest.approx(180.0)
    assert r.quote_volume == 5e6
    for _ in range(90):
        b.sample()
    assert row(b, "AAAUSDT").trades_per_min == 0.0


def test_unknown_symbols_are_counted_not_added() -> None:
    b = book()
    b.on_book("ZZZUSDT", 1.0, 1.1)
    assert b.unknown == 1
    assert len(b) == 2


def test_ranked_puts_the_largest_first_and_unknown_last() -> None:
    b = book()
    b.on_ticker("AAAUSDT", 1e6, 10)
    rows = ranked(b.rows(), "volume")
    assert [r.symbol for r in rows] == ["AAAUSDT", "BBBUSDT"]
    assert len(ranked(b.rows(), "volume", top=1)) == 1
    with pytest.raises(ValueError, match="sort key"):
        ranked(b.rows(), "price")
