"""Risk limits on an inverse contract (BTCUSD_PERP, 100 USD a contract): each unit's limit,
its reason, and defaults that quote instead of clamping every order to zero."""

from __future__ import annotations

import pytest

from tests.coinm import coinm
from tradetui.config import ConfigError, Settings, settings_from_mapping
from tradetui.core.types import Side
from tradetui.engine.params import as_params, risk_limits
from tradetui.risk.guard import RiskAction, RiskGuard, RiskInputs, RiskLimits
from tradetui.strategy.avellaneda import DesiredQuote

INST = coinm("BTCUSD_PERP")
MID = 618_274.5  # ticks of 0.1: 61,827.45 USD
S = 1_000_000_000
BID = DesiredQuote(Side.BUY, 618_270, 80)
ASK = DesiredQuote(Side.SELL, 618_280, 80)


def _inputs(position_lots: int = 0) -> RiskInputs:
    return RiskInputs(
        now_ns=100 * S,
        mid_ticks=MID,
        position_lots=position_lots,
        open_orders=0,
        last_market_ns=100 * S,
        last_account_ns=100 * S,
        feed_latency_ns=5_000_000,
        sigma_ratio=1.0,
    )


def _guard(**kw: float) -> RiskGuard:
    return RiskGuard(RiskLimits(**kw), INST)  # type: ignore[arg-type]


def test_default_settings_quote_one_contract_without_clamping() -> None:
    settings = Settings()
    params = as_params(settings, INST)
    assert params.order_lots == 1  # strategy.order_contracts = 1: 100 USD
    guard = RiskGuard(risk_limits(settings, INST), INST)
    one = DesiredQuote(Side.BUY, 618_270, 1)
    d = guard.check(one, DesiredQuote(Side.SELL, 618_280, 1), _inputs())
    assert d.action is RiskAction.ALLOW
    assert d.bid == one
    # Defaults: 0.1 BTC (61 contracts at 61,827) is tighter than 10,000 USD (100 contracts).
    assert guard.position_limit(MID) == (61, "risk.max_position_base")


def test_position_limit_in_contracts() -> None:
    assert _guard(max_position_lots=40).position_limit(MID) == (
        40,
        "risk.max_position_contracts",
    )


def test_position_limit_in_usd_counts_face_value() -> None:
    # 1,000 USD is 10 contracts of 100 USD whatever the price.
    g = _guard(max_position_quote=1_000.0)
    assert g.position_limit(MID) == (10, "risk.max_position_quote")
    assert g.position_limit(MID * 2) == (10, "risk.max_position_quote")


def test_position_limit_in_the_coin_moves_with_the_price() -> None:
    # 0.1 BTC is worth 6,182.7 USD at 61,827: 61 contracts; at twice the price, 123.
    g = _guard(max_position_base=0.1)
    assert g.position_limit(MID) == (61, "risk.max_position_base")
    assert g.position_limit(MID * 2) == (123, "risk.max_position_base")


def test_equity_fraction_compares_coin_with_coin() -> None:
    # 0.5 BTC equity × 2 leverage × 10% = 0.1 BTC of position value: 61 contracts.
    g = _guard(equity=0.5, leverage=2.0, max_equity_fraction=0.1)
    assert g.position_limit(MID) == (61, "risk.max_equity_fraction")


def test_position_clamp_names_the_key_that_bound() -> None:
    d = _guard(max_position_quote=10_000.0, one_sided_enter=1.0, one_sided_exit=0.5).check(
        BID, ASK, _inputs(position_lots=60)
    )
    assert d.bid is not None
    assert d.bid.qty_lots == 40
    assert d.reasons == (
        "bid size 80→40 contracts to stay within the position limit 100 contracts "
        "(risk.max_position_quote)",
    )


@pytest.mark.parametrize(
    ("limits", "lots", "key"),
    [
        ({"max_order_lots": 5}, 5, "risk.max_order_contracts"),
        ({"max_order_quote": 5_000.0}, 50, "risk.max_order_quote"),
        # 0.05 BTC at 61,827.0 (the bid) is 3,091 USD: 30 contracts.
        ({"max_order_base": 0.05}, 30, "risk.max_order_base"),
    ],
)
def test_order_limit_in_each_unit(limits: dict[str, float], lots: int, key: str) -> None:
    d = _guard(**limits).check(BID, None, _inputs())
    assert d.bid is not None
    assert d.bid.qty_lots == lots
    assert d.reasons == (f"bid size 80→{lots} contracts by {key}",)


def test_drawdown_of_a_coin_account_is_valued_in_usd_at_the_mid() -> None:
    g = _guard(max_drawdown_session=250.0)
    g.on_pnl(1 * S, 0.0, MID)
    g.on_pnl(2 * S, -0.004, MID)  # 247.3 USD: within the limit
    assert g.halt_reason == ""
    g.on_pnl(3 * S, -0.0041, MID)  # 253.5 USD
    assert g.halt_reason == ("session drawdown 253.49 USD ≥ risk.max_drawdown_session 250.00 USD")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("max_position", "max_position_base"),
        ("max_position_notional", "max_position_quote"),
        ("max_order_size", "max_order_base"),
        ("max_order_notional", "max_order_quote"),
    ],
)
def test_a_renamed_risk_key_is_refused_with_its_new_name(old: str, new: str) -> None:
    with pytest.raises(ConfigError) as exc:
        settings_from_mapping({"risk": {old: 1.0}})
    assert str(exc.value) == f"risk.{old}: renamed to risk.{new} (same unit); rename the key"


def test_order_contracts_below_one_contract_is_refused_naming_the_unit() -> None:
    settings = Settings().replace("strategy", order_contracts=0.5)
    with pytest.raises(ConfigError) as exc:
        as_params(settings, INST)
    assert str(exc.value) == (
        "strategy.order_contracts: 0.5 is below one lot step (1 contracts on BTCUSD_PERP); raise it"
    )


def test_a_position_limit_worth_less_than_one_contract_allows_no_position() -> None:
    # 50 USD is half a contract: no room at all, not "no limit".
    g = _guard(max_position_quote=50.0)
    assert g.position_limit(MID) == (0, "risk.max_position_quote")
    d = g.check(BID, ASK, _inputs())
    assert (d.bid, d.ask) == (None, None)
    assert d.reasons[0] == (
        "bid size 80→0 contracts to stay within the position limit 0 contracts "
        "(risk.max_position_quote)"
    )
