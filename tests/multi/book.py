"""A three-market book (BTCUSDT and ETHUSDT on USD-M, BTCUSD_PERP on COIN-M) for the
several-market tests."""

from __future__ import annotations

import tomllib
from typing import Any

from tradetui.config import Settings, settings_from_mapping

BOOK_TOML = """
[[markets]]
symbol = "BTCUSDT"

[[markets]]
symbol = "ETHUSDT"
[markets.market]
start_price = 3000.0
[markets.risk]
max_position_base = 2.0

[[markets]]
symbol = "BTCUSD_PERP"
venue = "coinm"
[markets.paper]
equity = 1.0
"""

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTCUSD_PERP"]


def book_settings(extra: str = "", env: dict[str, Any] | None = None) -> Settings:
    """The book's settings, with ``extra`` TOML (e.g. a [portfolio] table) before it."""
    return settings_from_mapping(tomllib.loads(extra + BOOK_TOML), env or {})
