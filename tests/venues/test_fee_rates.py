"""Valuing a fee charged in another asset (BNB) into the settlement asset: at the rate last
read, never at a guessed one."""

from __future__ import annotations

import logging

import pytest

from tradetui.venues.fees import FeeRates


def test_a_fee_in_the_settlement_asset_is_itself() -> None:
    assert FeeRates("USDT").value("USDT", 0.12) == (0.12, 1.0)


def test_a_bnb_fee_is_valued_at_the_latest_rate() -> None:
    rates = FeeRates("USDT")
    rates.update("BNB", 580.0)
    rates.update("BNB", 612.5)
    value, rate = rates.value("BNB", 0.00018)
    assert rate == 612.5
    assert value == pytest.approx(0.00018 * 612.5, rel=1e-15)


def test_no_rate_counts_zero_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    rates = FeeRates("USDT")
    with caplog.at_level(logging.ERROR):
        assert rates.value("BNB", 0.00018) == (0.0, 0.0)
        assert rates.value("BNB", 0.00020) == (0.0, 0.0)
    said = [r for r in caplog.records if "no BNB/USDT rate" in r.getMessage()]
    assert len(said) == 1


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_nonsense_rate_is_ignored_and_the_last_good_one_kept(bad: float) -> None:
    rates = FeeRates("USDT")
    rates.update("BNB", 600.0)
    rates.update("BNB", bad)
    assert rates.value("BNB", 1.0) == (600.0, 600.0)
