"""The one timing check of the suite (issue 23): the ML filter's per-decision cost on the shared
spot BTC recording, measured by bench/ml_latency.py itself. The bench carries the real target
(p99 within 50 µs). On the wall clock each p50 over the ~2,700 decisions of the file must stay
within four times it, a margin wide enough for a loaded shared machine and narrow enough to
catch the order-book regression that made the feature row cost ~500 µs. The tail is checked on
the bench's per-decision minimum over identical replays, which other processes cannot inflate,
against the target itself: that catches a structural tail such as the old book's (reads that
sorted or walked what changed since the last read: p99 ~90 µs by this measure) however loaded
the machine is, where a wall-clock p99 on a shared machine measures the load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPOT_0808 = ROOT / ".." / "shared/data/binance-spot/btcusdt_20240808.gz"
MARGIN = 4.0


@pytest.mark.skipif(not SPOT_0808.exists(), reason=f"shared recording not found: {SPOT_0808}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_feature_row_and_inference_stay_within_budget() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ml_latency.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    budget = MARGIN * figures["target_p99_us"]
    target = figures["target_p99_us"]
    for name in ("features", "inference_compiled"):
        assert figures[name]["n"] > 1000, figures
        assert figures[name]["p50_us"] <= budget, f"{name}: {figures[name]} (budget {budget} µs)"
        least = figures[f"{name}_min_of_passes"]
        assert least["p99_us"] <= target, f"{name}: {least} (target {target} µs)"
