from __future__ import annotations

import math

from tradetui.ml.monitor import DriftThresholds, Monitor, MonitorStats, drift_reasons

S = 1_000_000_000


def feed(m: Monitor, probs: tuple[float, float, float], moves: list[float]) -> None:
    """One prediction per second; the mid then moves by each of ``moves`` (bps) in turn."""
    log_mid_bps = 1000.0
    for i, step in enumerate(moves):
        m.record(i * S, log_mid_bps, *probs)
        log_mid_bps += step


def test_predictions_resolve_after_the_horizon() -> None:
    m = Monitor(horizon_ns=5 * S, threshold_bps=1.0)
    feed(m, (0.1, 0.1, 0.8), [3.0] * 10)
    st = m.stats()
    # Predictions at 0..4 s are resolved by the records at 5..9 s: every one an up move.
    assert st.n == 5
    assert st.hit_rate == 1.0
    assert st.up_rate == 1.0
    assert math.isclose(st.brier, 0.1**2 + 0.1**2 + 0.2**2)


def test_confident_wrong_model_is_flagged_as_drifting() -> None:
    m = Monitor(horizon_ns=S, threshold_bps=1.0, window=200)
    feed(m, (0.05, 0.05, 0.9), [-3.0] * 400)
    st = m.stats()
    assert st.n == 200
    assert st.hit_rate == 0.0
    assert st.drifting


def test_window_forgets_old_predictions() -> None:
    m = Monitor(horizon_ns=S, threshold_bps=1.0, window=50)
    feed(m, (0.05, 0.05, 0.9), [3.0] * 100 + [-3.0] * 100)
    assert m.stats().hit_rate == 0.0


def test_each_limit_names_itself() -> None:
    st = MonitorStats(200, 0.30, 0.70, 0.60, 0.50, 0.20, 0.10, 0.30)
    th = DriftThresholds(min_predictions=100)
    reasons = drift_reasons(st, th)
    assert [r.split()[0] for r in reasons] == ["hit", "Brier", "calibration"]
    assert math.isclose(st.calibration_gap, 0.30)
    # Looser limits: nothing fires; too few predictions: nothing fires either.
    assert drift_reasons(st, DriftThresholds(100, 0.25, 0.2, 0.5)) == ()
    assert drift_reasons(st, DriftThresholds(min_predictions=500)) == ()


def test_calibrated_but_uninformative_model_is_not_drifting() -> None:
    # Always the true class frequencies (half up, half down): Brier equals the constant's.
    m = Monitor(horizon_ns=S, threshold_bps=1.0, window=200)
    feed(m, (0.5, 0.0, 0.5), [3.0, -3.0] * 200)
    st = m.stats()
    assert math.isclose(st.up_rate, 0.5, abs_tol=0.01)
    assert math.isclose(st.brier, st.brier_constant, abs_tol=0.01)
    assert "calibration" not in " ".join(st.drift_reasons)


def test_outcomes_read_too_late_are_dropped() -> None:
    m = Monitor(horizon_ns=5 * S, threshold_bps=1.0)
    m.record(0, 1000.0, 0.1, 0.1, 0.8)
    m.record(60 * S, 1010.0, 0.1, 0.1, 0.8)  # quoting was stopped for a minute
    assert m.stats().n == 0
    assert m.dropped == 1
