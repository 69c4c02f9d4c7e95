"""The walk-forward sweep table's objective columns on a COIN-M market: a PnL objective is
money in the coin (eight decimals), the Sharpe ratio a plain number."""

from __future__ import annotations

from tradetui.commands.sweep import objective_text


def test_a_coin_pnl_objective_reads_to_eight_decimals() -> None:
    assert objective_text(-0.00000201, "pnl", "ETH", "USD") == "-0.00000201"
    assert objective_text(0.0000012, "pnl_after_markout", "BTC", "USD") == "+0.00000120"


def test_a_quote_pnl_and_the_sharpe_ratio_keep_four_decimals() -> None:
    assert objective_text(1234.5, "pnl", "USDT", "USDT") == "+1,234.5000"
    assert objective_text(0.12345, "sharpe", "ETH", "USD") == "+0.1235"
