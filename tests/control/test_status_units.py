"""How `status`, `flatten` and the other control commands print one instance's answer: whole
contracts on an inverse contract, the base asset to 1e-6 elsewhere."""

from __future__ import annotations

from typing import Any

from tradetui.commands.control import _line


def _answer(size: float, unit: str, settle: str, quote: str) -> dict[str, Any]:
    return {
        "message": "status",
        "state": "running",
        "position_size": size,
        "size_unit": unit,
        "open_orders": 2,
        "pnl_total": -0.00000109,
        "settle_asset": settle,
        "quote_asset": quote,
    }


def test_an_inverse_position_reads_in_whole_contracts() -> None:
    line = _line(_answer(-3.0, "contracts", "BTC", "USD"))
    assert line == (
        "status: state running, position -3 contracts, open orders 2, PnL -0.00000109 BTC"
    )


def test_a_base_position_keeps_six_decimals() -> None:
    line = _line(_answer(0.012, "BTC", "USDT", "USDT"))
    assert "position +0.012000 BTC, " in line
