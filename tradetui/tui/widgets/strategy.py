"""'Why this quote': the inputs and terms of the last Avellaneda–Stoikov decision."""

from __future__ import annotations

from rich.text import Text

from tradetui.engine.snapshot import EngineSnapshot
from tradetui.ml.filter import MlStatus
from tradetui.tui import fmt
from tradetui.tui.widgets.pane import SnapshotPane, rows


def _half(value: float | None) -> str:
    return "pulled" if value is None else f"{value:.1f} ticks"


def _reservation(reservation_ticks: float, mid_ticks: float, tick: float) -> str:
    """The reservation price and where it sits against the mid, in words (the inventory
    term's sign convention is the model's, not the reader's)."""
    off = reservation_ticks - mid_ticks
    where = "at mid" if abs(off) < 0.05 else f"{abs(off):.1f} t {'above' if off > 0 else 'below'}"
    return f"{fmt.price(reservation_ticks, tick)} ({where})"


def _floor(floor_ticks: float, fee_bps: float, adverse_bps: float) -> str | Text:
    """The fee floor in at most 20 cells: fee + adverse allowance (bps of the mid) and the
    least half-spread they make, in ticks."""
    if not floor_ticks:
        return Text("off", "dim")
    return f"{fee_bps:.1f}+{adverse_bps:.1f} bps {floor_ticks:.0f} t"


def ml_rows(ml: MlStatus | None) -> list[tuple[str, str | Text]]:
    """The filter's last probabilities with its rolling Brier score against a constant
    forecast, and its live check (hit rate, calibration gap): at most 19 cells each."""
    if ml is None:
        return [("ML filter", Text("off", "dim"))]
    st = ml.monitor
    probs = f"↓{_p(ml.p_down)} ↑{_p(ml.p_up)}"
    if st.n:
        probs += f" B{_p(st.brier)}/{_p(st.brier_constant)}"
    if ml.disabled:
        check = Text(f"OFF drift hit{st.hit_rate:.0%}", "bold red")
    elif st.drifting:
        check = Text(f"DRIFT hit{st.hit_rate:.0%} cal{_p(st.calibration_gap)}", "bold red")
    elif st.n < ml.min_predictions:
        check = Text(f"warming up {st.n}/{ml.min_predictions}", "dim")
    else:
        check = Text(f"ok hit {st.hit_rate:.0%} cal {_p(st.calibration_gap)}", "green")
    return [("ML filter", probs), ("ML check", check)]


def _p(x: float) -> str:
    """A value in [0, 2) in three cells: .31, 1.2."""
    return f"{x:.2f}"[1:] if 0 <= x < 1 else f"{x:.1f}"


class StrategyPane(SnapshotPane):
    """Mid, reservation price, half-spreads, fee floor, σ, k, A, inventory term, clamps,
    requote reason."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Why this quote", id=id)

    def render_snapshot(self, snap: EngineSnapshot) -> Text:
        d = snap.decision
        if d is None:
            return Text("no decision yet (press s to start)", style="dim italic")
        tick = snap.tick_size
        clamps = Text("; ".join(d.adjustments) or "none", "yellow" if d.adjustments else "dim")
        return rows(
            [
                ("mid", fmt.price(d.mid_ticks, tick)),
                ("reservation", _reservation(d.reservation_ticks, d.mid_ticks, tick)),
                ("model spread", f"{d.spread_ticks:.1f} ticks"),
                ("bid half", _half(d.bid_half_spread_ticks)),
                ("ask half", _half(d.ask_half_spread_ticks)),
                ("fee floor", _floor(d.floor_ticks, d.fee_bps, d.adverse_bps)),
                ("σ", f"{d.sigma_ticks:.1f} ticks/√s"),
                ("k / A", f"{d.k:.4f} /t   {d.a:.1f} /s"),
                ("q / τ", f"{d.q:+.2f}   {d.tau_s:.2f} s"),
                *ml_rows(snap.ml),
                ("risk clamps", clamps),
                ("requote", Text(snap.requote_reason or "-", "italic")),
            ]
        )
