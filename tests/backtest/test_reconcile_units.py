"""`tradetui reconcile`'s text on a COIN-M session: coin amounts to eight decimals, named."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradetui.backtest.reconcile import format_reconcile


def _result(settle: str, quote: str, session: str, backtest: str) -> dict[str, Any]:
    a, b = Decimal(session), Decimal(backtest)
    return {
        "session": 1,
        "mode": "live",
        "symbol": "ETHUSD_PERP",
        "replayed": "the strategy",
        "settle_asset": settle,
        "quote_asset": quote,
        "recording": ["x.gz"],
        "tolerance": {"time_ms": 50.0, "price_ticks": 0},
        "session_fills": 6,
        "backtest_fills": 5,
        "matched": 1,
        "only_session": 5,
        "only_backtest": 4,
        "matched_share": 0.1,
        "size_differs": 0,
        "fill_time_diff_ms": {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max_abs": 0.0},
        "price_diff_ticks": {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max_abs": 0.0},
        "orders_placed": {"session": 22, "backtest": 22},
        "pnl": {"pnl_total": {"session": a, "backtest": b, "difference": b - a}},
        "markout_5s_bps": None,
        "verdict": "differ",
    }


def _lines(r: dict[str, Any]) -> list[str]:
    return [" ".join(line.split()) for line in format_reconcile(r).splitlines()]


def test_coin_pnl_reads_to_eight_decimals() -> None:
    lines = _lines(_result("ETH", "USD", "-0.00000156", "-0.00000021"))
    assert (
        "pnl total session -0.00000156, backtest -0.00000021, difference +0.00000135 ETH" in lines
    )


def test_quote_pnl_keeps_four_decimals() -> None:
    lines = _lines(_result("USDT", "USDT", "-1.2345", "0.5"))
    assert "pnl total session -1.2345, backtest +0.5000, difference +1.7345 USDT" in lines
