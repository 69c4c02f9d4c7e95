from __future__ import annotations

import math

from tradetui.ml.monitor import Monitor

S = 1_000_000_000


def feed(m: Monitor, probs: tuple[float, float, float], moves: list[float]) -> None:
    """One prediction per second; the mid then moves by each of ``moves`` in turn."""
    mid = 1000.0
    for i, step in enumerate(moves):
        m.record(i * S, mid, *probs)
        mid += step


def test_predictions_resolve_after_the_horizon() -> None:
    m = Monitor(horizon_ns=5 * S, threshold_ticks=1.0)
    feed(m, (0.1, 0.1, 0.8), [3.0] * 10)
    st = m.stats()
    # Predictions at 0..4 s are resolved by the records at 5..9 s: every one an up move.
    assert st.n == 5
    assert st.hit_rate == 1.0
    assert st.up_rate == 1.0
    assert math.isclose(st.brier, 0.1**2 + 0.1**2 + 0.2**2)


def test_confident_wrong_model_is_flagged_as_drifting() -> None:
    m = Monitor(horizon_ns=S, threshold_ticks=1.0, window=200)
    feed(m, (0.05, 0.05, 0.9), [-3.0] * 400)
    st = m.stats()
    assert st.n == 200
    assert st.hit_rate == 0.0
    assert st.drifting


def test_window_forgets_old_predictions() -> None:
    m = Monitor(horizon_ns=S, threshold_ticks=1.0, window=50)
    feed(m, (0.05, 0.05, 0.9), [3.0] * 100 + [-3.0] * 100)
    assert m.stats().hit_rate == 0.0
