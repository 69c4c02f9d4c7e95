"""[[markets]] and `run --symbol A,B`: each market's own settings, one clear line per bad entry,
and a config without [[markets]] unchanged."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.instruments import cache_unpriced_solusdt
from tests.multi.book import book_settings
from tradetui.cli import app
from tradetui.config import ConfigError, Settings, settings_from_mapping


def test_each_market_gets_its_own_settings() -> None:
    markets = book_settings().per_market()
    assert [m.venue.symbol for m in markets] == ["BTCUSDT", "ETHUSDT", "BTCUSD_PERP"]
    assert [m.market.source for m in markets] == [
        "synthetic:BTCUSDT",
        "synthetic:ETHUSDT",
        "synthetic:coinm:BTCUSD_PERP",
    ]
    assert [m.market.seed for m in markets] == [1, 2, 3]  # different synthetic markets
    assert [m.risk.max_position_base for m in markets] == [0.1, 2.0, 0.1]
    assert markets[2].paper.equity == 1.0
    assert all(m.markets == () for m in markets)


def test_one_market_config_has_no_book() -> None:
    settings = settings_from_mapping(tomllib.loads('[venue]\nsymbol = "BTCUSDT"\n'), {})
    assert settings.markets == ()
    assert settings.per_market() == []
    assert settings == Settings()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[markets]]\nvenue = 'usdm'\n", 'markets[0].symbol: missing; write symbol = "ETHUSDT"'),
        ("[[markets]]\nsymbol = 'X'\ncolour = 1\n", "markets[0].colour: unknown key"),
        (
            "[[markets]]\nsymbol = 'A'\n[[markets]]\nsymbol = 'BTCUSDT'\n"
            "[markets.risk]\nmax_position_base = -1\n",
            "markets[1] (BTCUSDT).risk.max_position_base: must be >= 0",
        ),
        (
            "[[markets]]\nsymbol = 'A'\n[[markets]]\nsymbol = 'a'\n",
            "markets[1].symbol: A is listed twice",
        ),
        ("markets = 3\n", "markets: expected [[markets]] tables"),
        (
            "[venue]\nexchange = 'binanceusdm'\n[[markets]]\nsymbol = 'A'\n",
            "markets: several markets are paper traded for now",
        ),
    ],
)
def test_a_bad_entry_is_named_with_the_fix(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping(tomllib.loads(toml), {})
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_run_symbol_list_names_the_bad_market() -> None:
    # A listed symbol of another asset with no price known anywhere: one line, exit 2.
    cache_unpriced_solusdt(Path(os.environ["TRADETUI_CATALOG_DIR"]))
    r = CliRunner().invoke(
        app,
        ["run", "--headless", "--speed", "max", "--duration", "5", "--symbol", "BTCUSDT,SOLUSDT"],
    )
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: markets[1] (SOLUSDT): market.start_price:")
