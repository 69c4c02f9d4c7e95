"""The order size key an instrument does not read: a config that sizes orders in the base
asset (strategy.order_size) trading an inverse contract, or in contracts trading a linear or
spot market, is told which key sizes this market's orders instead of being silently ignored."""

from __future__ import annotations

import logging

import pytest

from tests.coinm import coinm
from tests.engine.test_engine import Harness
from tradetui.config import Settings
from tradetui.engine.engine import Command, CommandKind, CommandRefusedError
from tradetui.session import build_paper_session

COINM = Settings().replace("market", source="synthetic:coinm:BTCUSD_PERP")


def _warnings(settings: Settings, caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tradetui.engine.engine"):
        build_paper_session(settings, seed=1, virtual=True)
    return [r.getMessage() for r in caplog.records if "strategy.order_" in r.getMessage()]


def test_order_size_on_an_inverse_contract_is_told_not_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (line,) = _warnings(COINM.replace("strategy", order_size=0.05), caplog)
    assert line == (
        "strategy.order_size = 0.05 BTC does not size BTCUSD_PERP's orders: an inverse "
        "contract's are strategy.order_contracts = 1 contracts of 100 USD"
    )


def test_order_contracts_on_a_linear_market_is_told_not_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (line,) = _warnings(Settings().replace("strategy", order_contracts=5.0), caplog)
    assert line == (
        "strategy.order_contracts = 5 contracts does not size BTCUSDT's orders: they are "
        "strategy.order_size = 0.01 BTC"
    )


def test_the_defaults_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert _warnings(COINM, caplog) == []
    assert _warnings(Settings(), caplog) == []


def test_setting_the_unused_size_key_at_run_time_is_refused_with_the_right_key() -> None:
    # /set order_size=0.05 (or the params dialog) on BTCUSD_PERP would answer "applied" and
    # change nothing: it is refused, naming the key that sizes this market.
    h = Harness(instrument=coinm("BTCUSD_PERP"))
    h.start()
    before = h.engine.settings
    with pytest.raises(CommandRefusedError, match=r"strategy\.order_contracts"):
        h.engine.control(
            Command(
                CommandKind.SET_PARAMS,
                section="strategy",
                changes=(("order_size", 0.05), ("gamma", 0.05)),
            )
        )
    assert h.engine.settings is before
    h.engine.control(
        Command(CommandKind.SET_PARAMS, section="strategy", changes=(("order_contracts", 3.0),))
    )
    assert h.engine.as_params.order_lots == 3
