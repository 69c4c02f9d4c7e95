"""The backtest report: the session summary plus the inventory path and the run's data.

Markouts, spread capture and inventory PnL are the engine's own, as core/metrics.py defines
them (docs/metrics.md), with the mid path ended at the end of the run as a stored session's
last mark ends it; so ``report`` on the run stored with ``--db`` prints the same figures.
"""

from __future__ import annotations

from typing import Any

from tradetui.backtest.run import BacktestResult
from tradetui.core.units import money_decimals, size_decimals
from tradetui.engine.summary import fee_floor_summary
from tradetui.market.files import ReplayReport

# Points kept in the JSON inventory path (evenly spaced fills, plus the last).
_PATH_POINTS = 200
_NS_PER_S = 1_000_000_000


def inventory_path(result: BacktestResult) -> dict[str, Any]:
    """Position (order units: base, or contracts) after fills: extremes, final value and a
    thinned path; the ``_base`` keys only where sizes count the base asset."""
    inst = result.engine.instrument
    pts = [(fr.fill.exch_ns, fr.position_lots) for fr in result.fills]
    step = max(1, len(pts) // _PATH_POINTS)
    kept = pts[::step]
    if kept and kept[-1] != pts[-1]:
        kept.append(pts[-1])
    lots = [p for _, p in pts] or [0]
    out: dict[str, Any] = {
        "size_unit": inst.size_unit,
        "min_size": float(inst.qty(min(lots))),
        "max_size": float(inst.qty(max(lots))),
        "final_size": float(inst.qty(lots[-1])),
        "path": [
            [round((t - result.start_ns) / _NS_PER_S, 3), float(inst.qty(p))] for t, p in kept
        ],
    }
    if not inst.inverse:
        out |= {"min_base": out["min_size"], "max_base": out["max_size"]}
        out["final_base"] = out["final_size"]
    return out


def build_report(result: BacktestResult, data: ReplayReport, cached: bool) -> dict[str, Any]:
    """Everything a user or a script reads after a backtest (JSON-ready)."""
    # The session summary, from the lifecycle's wind-down as for every session.
    summary = dict(result.summary)
    summary.update(
        {
            "data": {
                "messages": data.messages,
                "gaps": data.gaps,
                "crossed": data.crossed,
                "issues": data.issue_count,
                "first_issues": [str(i) for i in data.issues[:5]],
                "decoded_from_cache": cached,
            },
            "events": result.events,
            "messages": result.messages,
            "run_s": round(result.run_s, 3),
            "events_per_s": round(result.events / result.run_s) if result.run_s else 0,
            "inventory": inventory_path(result),
            "models": result.models,
        }
    )
    if result.engine.ml is not None:
        summary["ml"] = result.engine.ml.summary()
    summary["fee_floor"] = fee_floor_summary(result.engine)
    return summary


def format_report(r: dict[str, Any]) -> str:
    """The human-readable tail added under the session summary."""
    lines = [
        f"data          {r['messages']:,} messages, {r['events']:,} events, "
        f"{r['data']['gaps']} gaps, {r['data']['issues']} issues"
        + (" (decoded form from cache)" if r["data"]["decoded_from_cache"] else ""),
        f"speed         {r['events_per_s']:,} events/s ({r['run_s']:.2f} s)",
    ]
    settle, quote = r["settle_asset"], r["quote_asset"]
    d = money_decimals(settle, quote)
    for h, m in r["markouts"].items():
        amount = f"{m['total_settle']:+,.{d}f} {settle}"
        if settle != quote:
            amount += f" = {m['total_quote']:+,.2f} {quote}"
        lines.append(f"markout {h:<5} {m['mean_bps']:+.3f} bps  ({amount} over {m['fills']} fills)")
    m = r["models"]
    lines.append(f"queue model   {m['queue']}")
    lines.append(f"feed latency  {m['feed_latency']}")
    lines.append(f"order latency {m['order_latency']}")
    inv = r["inventory"]
    n = size_decimals(inv["size_unit"])
    lines.append(
        f"inventory     min {inv['min_size']:+.{n}f}  max {inv['max_size']:+.{n}f}  "
        f"final {inv['final_size']:+.{n}f} {inv['size_unit']}"
    )
    ml = r.get("ml")
    if ml is not None:
        lc = ml["live_check"]
        lines.append(
            f"ml filter     {ml['predictions']:,} predictions, moved {ml['sides_moved']:,} and "
            f"pulled {ml['sides_pulled']:,} quote sides; hit rate {lc['hit_rate']:.2f}, Brier "
            f"{lc['brier']:.3f} vs constant {lc['brier_constant']:.3f} over {lc['resolved']}"
            + ("; switched off by drift" if ml.get("disabled_by_drift") else "")
        )
    if "plot" in r:
        lines.append(f"plot          {r['plot']} (price with our fills, inventory, PnL)")
    return "\n".join(lines)
