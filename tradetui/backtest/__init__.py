"""Backtests: the paper engine and strategy on recorded markets, on the virtual clock."""

from tradetui.backtest.run import BacktestResult, run_backtest

__all__ = ["BacktestResult", "run_backtest"]
