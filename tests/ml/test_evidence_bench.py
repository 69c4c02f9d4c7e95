"""bench/ml_evidence.py's pieces: the placebo is matched, the window PnL adds up (issue 23)."""

from __future__ import annotations

import importlib.util
import sys
from array import array
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.core.types import Side

BENCH = Path(__file__).resolve().parents[2] / "bench"
S = 1_000_000_000


@pytest.fixture(scope="module")
def evidence() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the bench imports its sibling figures.py
    try:
        spec = importlib.util.spec_from_file_location("ml_evidence", BENCH / "ml_evidence.py")
        assert spec is not None
        assert spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


class Clock:
    def __init__(self) -> None:
        self.t = 0

    def now_ns(self) -> int:
        return self.t


def test_placebo_replays_the_models_probabilities_shifted_in_time(evidence: Any) -> None:
    clock = Clock()
    engine = SimpleNamespace(clock=clock)
    calls = iter(range(1000))

    class Model:
        horizon_s = 5.0

        def predict(self, row: Any) -> tuple[float, float, float]:
            i = next(calls)
            return (i / 1000, 0.0, 1 - i / 1000)

    rec = evidence.Recorder(Model(), engine)
    times = [i * S // 10 for i in range(100)]  # a decision every 100 ms for 10 s
    model_out = []
    for t in times:
        clock.t = t
        model_out.append(rec.predict(None))
    assert rec.horizon_s == 5.0  # everything else is the model's
    placebo = evidence.Shifted(Model(), rec, 0.5, engine)
    placebo_out = []
    for t in times:
        clock.t = t
        placebo_out.append(placebo.predict(None))
    # The same probabilities, as many times each (so as many pulls and skews) ...
    assert sorted(placebo_out) == sorted(model_out)
    # ... each at another time: half the 10 s period earlier, circularly.
    assert placebo_out != model_out
    assert placebo_out[50] == model_out[0]
    assert placebo_out[0] == model_out[50]


def test_window_pnl_is_the_fills_cash_and_the_carried_inventory_at_the_mid(
    evidence: Any,
) -> None:
    inst = btcusdt_perpetual()  # tick 0.1 USDT, lot 0.001 BTC
    mids = SimpleNamespace(
        t_ns=array("q", [0, 10 * S, 20 * S, 30 * S]),
        mid_ticks=array("d", [600_000.0, 600_010.0, 599_990.0, 600_020.0]),
    )

    def fill(t: int, side: Side, price: int, lots: int, pos: int, fee: float) -> Any:
        f = SimpleNamespace(exch_ns=t, side=side, price_ticks=price, qty_lots=lots, fee=fee)
        return SimpleNamespace(fill=f, position_lots=pos)

    fills = [
        fill(2 * S, Side.BUY, 599_995, 10, 10, 0.01),  # 0.01 BTC at 59999.5
        fill(25 * S, Side.SELL, 600_000, 10, 0, 0.01),  # sold back at 60000.0
    ]
    res = SimpleNamespace(mids=mids, fills=fills)
    w = evidence.windows(res, inst, [0, 10 * S, 20 * S, 30 * S])
    assert w["fills"] == [1.0, 0.0, 1.0]
    # Window 1: bought 0.01 at 59999.5, marked at 60001.0 (mid at 10 s), fee 0.01.
    assert w["pnl_usd"][0] == pytest.approx(0.01 * 1.5 - 0.01)
    # Window 2: 0.01 BTC carried from 60001.0 to 59999.0.
    assert w["pnl_usd"][1] == pytest.approx(0.01 * -2.0)
    # Window 3: carried 59999.0 → 60002.0, and the sale at 60000.0 marked at 60002.0.
    assert w["pnl_usd"][2] == pytest.approx(0.01 * 3.0 - 0.01 * 2.0 - 0.01)
    # The windows add up to the round trip: bought 59999.5, sold 60000.0, two fees.
    assert sum(w["pnl_usd"]) == pytest.approx(0.01 * 0.5 - 0.02)
    # 5 s markouts: the buy against the mid at 7 s (60000.0), the sale against 30 s (60002.0).
    assert w["markout_usd"] == pytest.approx([0.01 * 0.5, 0.0, 0.01 * -2.0])


def test_the_filter_is_off_by_default_while_the_evidence_says_it_has_not_won() -> None:
    from tradetui.config import Settings

    readme = (BENCH.parent / "README.md").read_text()
    verdict = readme.split("<!-- ml-verdict:begin -->")[1].split("<!-- ml-verdict:end -->")[0]
    assert "matched placebo" in verdict  # written by bench/ml_evidence.py --write
    if "has not beaten" in verdict:
        assert Settings().ml.enabled is False
    example = (BENCH.parent / "config.toml.example").read_text()
    section = example.split("\n[ml]\n")[1].split("\n[")[0]
    assert "\nenabled = false\n" in f"\n{section}\n"
