"""The end-of-session summary a user reads (and scripts parse with --json)."""

from __future__ import annotations

from typing import Any

from tradetui.engine.engine import Engine


def session_summary(engine: Engine, duration_s: float) -> dict[str, Any]:
    """Session figures: fills, volume, PnL split, inventory, order rates, latency."""
    pnl = engine.pnl()
    inst = engine.instrument
    minutes = duration_s / 60 if duration_s > 0 else 0.0
    lat = engine.latency_percentiles_us()
    return {
        "symbol": inst.symbol,
        "state": str(engine.state),
        "duration_s": round(duration_s, 3),
        "market_events": engine.market_events,
        "fills": engine.fills,
        "volume_quote": pnl.volume_quote,
        "pnl_total": pnl.total,
        "pnl_realized": pnl.realized,
        "pnl_unrealized": pnl.unrealized,
        "spread_capture": pnl.spread_capture,
        "inventory_pnl": pnl.inventory_pnl,
        "fees": pnl.fees,
        "rebates": pnl.rebates,
        "cost_per_10k": pnl.cost_per_10k,
        "position_base": pnl.position_size,
        "max_abs_position_base": float(inst.qty(engine.max_abs_position_lots)),
        "mid": float(engine.mid_ticks * inst.tick),
        "orders_placed": engine.orders_placed,
        "orders_cancelled": engine.orders_cancelled,
        "orders_rejected": engine.orders_rejected,
        "post_only_rejects": engine.post_only_rejects,
        "open_orders": len(engine.orders),
        "fills_per_min": engine.fills / minutes if minutes else 0.0,
        "cancels_per_min": engine.orders_cancelled / minutes if minutes else 0.0,
        "decision_latency_us": {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"]},
        "last_requote_reason": engine.last_requote_reason,
        "halt_reason": engine.halt_reason,
    }


def format_summary(s: dict[str, Any]) -> str:
    """A compact aligned text block for people."""
    lat = s["decision_latency_us"]
    rows = [
        ("state", s["state"]),
        ("duration", f"{s['duration_s']:.1f} s, {s['market_events']:,} market events"),
        ("fills", f"{s['fills']}  ({s['fills_per_min']:.1f}/min)"),
        ("volume", f"{s['volume_quote']:,.2f} quote"),
        ("PnL total", f"{s['pnl_total']:+,.4f}"),
        ("  realized", f"{s['pnl_realized']:+,.4f}"),
        ("  unrealized", f"{s['pnl_unrealized']:+,.4f}"),
        ("  spread capture", f"{s['spread_capture']:+,.4f}"),
        ("  inventory", f"{s['inventory_pnl']:+,.4f}"),
        ("  fees / rebates", f"-{s['fees']:,.4f} / +{s['rebates']:,.4f}"),
        ("cost per 10k", f"{s['cost_per_10k']:+.3f}"),
        ("position", f"{s['position_base']:+.6f} (max |{s['max_abs_position_base']:.6f}|)"),
        (
            "orders",
            f"{s['orders_placed']} placed, {s['orders_cancelled']} cancelled "
            f"({s['cancels_per_min']:.1f}/min), {s['orders_rejected']} rejected "
            f"({s['post_only_rejects']} post-only), {s['open_orders']} open",
        ),
        ("decision latency", f"p50 {lat['p50']:.1f} µs, p99 {lat['p99']:.1f} µs"),
    ]
    if s["halt_reason"]:
        rows.append(("halt reason", s["halt_reason"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
