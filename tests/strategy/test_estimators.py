"""Live σ and λ(δ) = A·e^(−kδ) estimates, with priors on thin data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradetui.strategy.estimators import (
    BTCUSDT_A,
    BTCUSDT_K,
    AdverseSelectionEstimator,
    IntensityEstimator,
    VolatilityEstimator,
)

S = 1_000_000_000
MS = 1_000_000


def random_walk(
    sigma: float, step_ns: int, duration_s: float, seed: int
) -> list[tuple[int, float]]:
    """Mid updates (t_ns, mid_ticks) of a Gaussian walk with σ ticks/√s."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * S // step_ns)
    steps = rng.normal(0.0, sigma * math.sqrt(step_ns / S), n)
    mids = 100_000.0 + np.cumsum(steps)
    return [(i * step_ns, float(m)) for i, m in enumerate(mids)]


# ---- volatility ------------------------------------------------------------------------------


def test_volatility_returns_prior_until_min_samples() -> None:
    vol = VolatilityEstimator(
        prior_sigma_ticks=40.0, halflife_s=60.0, sample_interval_ns=S, min_samples=10
    )
    for t_ns, mid in random_walk(5.0, 100 * MS, 9.5, seed=1):
        vol.update(t_ns, mid)
    assert vol.samples == 9
    assert vol.sigma_ticks == 40.0


def test_volatility_recovers_known_sigma() -> None:
    vol = VolatilityEstimator(
        prior_sigma_ticks=40.0, halflife_s=120.0, sample_interval_ns=S, min_samples=30
    )
    for t_ns, mid in random_walk(12.0, 50 * MS, 1200.0, seed=2):
        vol.update(t_ns, mid)
    assert vol.warmed_up
    assert vol.sigma_ticks == pytest.approx(12.0, rel=0.15)


def test_volatility_samples_the_mid_once_per_interval() -> None:
    # The mid jumps wildly inside each second but is back at 1000 at every grid point, so the
    # sampled returns are all zero and the estimate decays from the prior towards zero.
    vol = VolatilityEstimator(
        prior_sigma_ticks=10.0, halflife_s=5.0, sample_interval_ns=S, min_samples=5
    )
    for second in range(60):
        base = second * S
        vol.update(base, 1000.0)
        vol.update(base + 300 * MS, 1400.0)
        vol.update(base + 600 * MS, 600.0)
        vol.update(base + 900 * MS, 1000.0)
    assert vol.samples == 59
    assert vol.sigma_ticks < 0.2


def test_volatility_handles_updates_spanning_several_intervals() -> None:
    vol = VolatilityEstimator(
        prior_sigma_ticks=40.0,
        halflife_s=600.0,
        sample_interval_ns=S,
        min_samples=30,
        max_gap_s=10.0,
    )
    for t_ns, mid in random_walk(12.0, 3_300 * MS, 6000.0, seed=3):
        vol.update(t_ns, mid)
    assert vol.sigma_ticks == pytest.approx(12.0, rel=0.15)


def test_volatility_restarts_warmup_after_a_long_gap() -> None:
    vol = VolatilityEstimator(
        prior_sigma_ticks=40.0,
        halflife_s=60.0,
        sample_interval_ns=S,
        min_samples=10,
        max_gap_s=30.0,
    )
    walk = random_walk(5.0, 100 * MS, 60.0, seed=4)
    for t_ns, mid in walk:
        vol.update(t_ns, mid)
    assert vol.warmed_up
    assert vol.sigma_ticks != 40.0
    vol.update(walk[-1][0] + 120 * S, walk[-1][1] + 3.0)
    assert vol.samples == 0
    assert vol.sigma_ticks == 40.0


def test_volatility_ignores_non_finite_mids() -> None:
    vol = VolatilityEstimator(
        prior_sigma_ticks=10.0, halflife_s=60.0, sample_interval_ns=S, min_samples=1
    )
    vol.update(0, 1000.0)
    vol.update(S // 2, math.nan)
    vol.update(S, 1001.0)
    vol.update(2 * S, 1001.0)
    assert math.isfinite(vol.sigma_ticks)


def test_volatility_rejects_bad_settings_with_a_fix() -> None:
    with pytest.raises(ValueError, match=r"halflife_s must be > 0 \(got 0\); try 60"):
        VolatilityEstimator(
            prior_sigma_ticks=10.0, halflife_s=0, sample_interval_ns=S, min_samples=1
        )


# ---- intensity -------------------------------------------------------------------------------


def feed_poisson_trades(
    est: IntensityEstimator, a: float, k: float, duration_s: float, seed: int
) -> int:
    """Trades arriving at rate ``a``/s whose depth is Exp(k): λ(δ) = a·e^(−kδ). Returns end ns."""
    rng = np.random.default_rng(seed)
    t_s = 0.0
    while True:
        t_s += rng.exponential(1.0 / a)
        if t_s > duration_s:
            return int(duration_s * S)
        depth = rng.exponential(1.0 / k)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        est.on_trade(int(t_s * S), 100_000, 1, 100_000 - sign * depth)


def test_intensity_returns_priors_on_thin_data() -> None:
    est = IntensityEstimator(prior_a=7.0, prior_k=0.2, min_trades=100)
    feed_poisson_trades(est, a=1.0, k=0.1, duration_s=60.0, seed=5)
    assert not est.fitted
    assert (est.a, est.k) == (7.0, 0.2)


def test_intensity_recovers_known_a_and_k() -> None:
    est = IntensityEstimator(prior_a=7.0, prior_k=0.2, window_s=60.0)
    end_ns = feed_poisson_trades(est, a=30.0, k=0.08, duration_s=120.0, seed=6)
    est.refresh(end_ns)
    assert est.fitted
    assert est.k == pytest.approx(0.08, rel=0.1)
    assert est.a == pytest.approx(30.0, rel=0.15)


def test_intensity_clamps_k_and_refits_a() -> None:
    est = IntensityEstimator(prior_a=7.0, prior_k=0.2, k_min=0.01, grid_ticks=(1.0, 2.0, 3.0))
    # Every trade prints 10 ticks away: the rate is flat across the grid, the fit says k = 0.
    for i in range(600):
        est.on_trade(i * 100 * MS, 100_010, 1, 100_000.0)
    est.refresh(600 * 100 * MS)
    assert est.k == 0.01
    rate = 600 / 60.0
    assert est.a == pytest.approx(rate * math.exp(0.01 * 2.0), rel=0.02)


def test_intensity_fits_at_most_every_fit_interval() -> None:
    est = IntensityEstimator(prior_a=7.0, prior_k=0.2, fit_interval_ns=3600 * S)
    end_ns = feed_poisson_trades(est, a=30.0, k=0.08, duration_s=120.0, seed=7)
    # The only fit ran on the first trade, which was thin data.
    assert not est.fitted
    est.refresh(end_ns)
    assert est.fitted


def test_intensity_falls_back_to_priors_when_the_window_empties() -> None:
    est = IntensityEstimator(prior_a=7.0, prior_k=0.2, window_s=60.0)
    end_ns = feed_poisson_trades(est, a=30.0, k=0.08, duration_s=120.0, seed=8)
    est.refresh(end_ns)
    assert est.fitted
    est.refresh(end_ns + 61 * S)
    assert (est.fitted, est.a, est.k) == (False, 7.0, 0.2)


def test_intensity_ignores_trades_below_min_size() -> None:
    est = IntensityEstimator(prior_a=7.0, prior_k=0.2, min_trade_lots=5)
    for i in range(1000):
        est.on_trade(i * 10 * MS, 100_000 + i % 40, 1, 100_000.0)
    est.refresh(10 * S)
    assert est.rates_per_s(10 * S) == [0.0] * 9
    assert not est.fitted


def test_intensity_rates_count_trades_at_or_beyond_each_depth() -> None:
    est = IntensityEstimator(grid_ticks=(1.0, 2.0, 3.0))
    for i, depth in enumerate((0.5, 1.0, 1.5, 2.0, 3.5)):
        est.on_trade(i * S, 100_000, 1, 100_000 - depth)
    assert est.rates_per_s(10 * S) == pytest.approx([4 / 10, 2 / 10, 1 / 10])


def test_default_priors_match_the_recorded_btcusdt_figures() -> None:
    # /work/shared/data/README.md: 61.9 trades/s; 51/57/65/72% within 0.5/5/20/50 ticks.
    readme = {1.0: 0.49, 5.5: 0.43, 20.5: 0.35, 50.5: 0.28}
    for depth, share in readme.items():
        assert BTCUSDT_A * math.exp(-BTCUSDT_K * depth) == pytest.approx(61.9 * share, rel=0.1)


def test_intensity_rejects_bad_settings_with_a_fix() -> None:
    with pytest.raises(ValueError, match="need 0 < k_min <= prior_k <= k_max"):
        IntensityEstimator(prior_k=20.0, k_max=10.0)


# ---- adverse selection -------------------------------------------------------------------------


def test_adverse_allowance_is_the_prior_until_a_fill_resolves() -> None:
    est = AdverseSelectionEstimator(prior_bps=0.5, horizon_s=1.0, halflife_fills=1.0)
    assert est.allowance_bps == 0.5
    est.on_fill(0, +1, 10_000.0)
    assert est.due_ns == S
    est.resolve(S - 1, 9_000.0)  # not due yet: nothing moves
    assert (est.allowance_bps, est.resolved) == (0.5, 0)
    # A buy at mid 10,000 followed by a mid of 9,990: 10 bps against us. Half-life one fill:
    # the EWMA moves half way, 0.5 → 5.25.
    est.resolve(S, 9_990.0)
    assert est.allowance_bps == pytest.approx(5.25)
    assert est.resolved == 1
    assert est.due_ns > 10**18  # none pending


def test_a_sell_followed_by_a_rise_is_adverse_and_by_a_fall_is_not() -> None:
    est = AdverseSelectionEstimator(prior_bps=0.0, horizon_s=1.0, halflife_fills=1.0)
    est.on_fill(0, -1, 10_000.0)
    est.resolve(S, 10_020.0)  # +20 bps against the sell
    assert est.ewma_bps == pytest.approx(10.0)
    est.on_fill(2 * S, -1, 10_000.0)
    est.resolve(3 * S, 9_900.0)  # −100 bps: in our favour
    assert est.ewma_bps == pytest.approx(-45.0)
    # A favourable drift never pulls the allowance below 0 (quotes stay outside the fee).
    assert est.allowance_bps == 0.0


def test_adverse_fills_resolve_in_order_each_at_its_own_horizon() -> None:
    est = AdverseSelectionEstimator(prior_bps=0.0, horizon_s=5.0, halflife_fills=1e9)
    est.on_fill(0, +1, 100.0)
    est.on_fill(2 * S, +1, 100.0)
    assert est.due_ns == 5 * S
    est.resolve(6 * S, 99.0)
    assert est.resolved == 1
    assert est.due_ns == 7 * S
    est.resolve(7 * S, 99.0)
    assert est.resolved == 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"prior_bps": -1.0}, "strategy.adverse_allowance_prior_bps"),
        ({"horizon_s": 0.0}, "strategy.adverse_horizon_s"),
        ({"halflife_fills": math.nan}, "strategy.adverse_halflife_fills"),
    ],
)
def test_adverse_estimator_names_the_setting_to_fix(
    kwargs: dict[str, float], fragment: str
) -> None:
    args: dict[str, float] = {"prior_bps": 0.5, "horizon_s": 1.0, "halflife_fills": 20.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=fragment):
        AdverseSelectionEstimator(args["prior_bps"], args["horizon_s"], args["halflife_fills"])
