"""The stored-session report as an aligned text block for people."""

from __future__ import annotations

from typing import Any


def _opt(v: float | None, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def format_report(r: dict[str, Any]) -> str:
    """Rows of label and value; money in quote currency, sizes in base units."""
    inv = r["inventory"]
    rows = [
        ("session", f"{r['session']} ({r['mode']}, {r['venue']}, {r['symbol']})"),
        ("time", f"{r['started']} → {r['ended'] or 'running'} ({r['end_state']})"),
        ("fills", f"{r['fills']} ({r['maker_fills']} maker, {r['taker_fills']} taker)"),
        ("volume", f"{r['volume_quote']:,.2f} quote"),
        ("PnL total", f"{r['pnl_total']:+,.4f}"),
        ("  realized", f"{r['pnl_realized']:+,.4f}"),
        ("  unrealized", f"{r['pnl_unrealized']:+,.4f} at mid {r['mark']:,.2f}"),
        ("  spread capture", f"{r['spread_capture']:+,.4f}"),
        ("  inventory", f"{r['inventory_pnl']:+,.4f}"),
        ("  fees / rebates", f"-{r['fees']:,.4f} / +{r['rebates']:,.4f}"),
        ("cost per 10k", f"{r['cost_per_10k']:+.3f}"),
        ("max drawdown", f"{r['max_drawdown_quote']:,.4f}"),
        ("Sharpe (per min)", f"{_opt(r['sharpe_per_minute'], '+.3f')} over {r['minutes']} min"),
    ]
    for h, m in r["markouts"].items():
        rows.append(
            (
                f"markout {h}",
                f"{m['mean_ticks']:+.3f} ticks/fill ({m['mean_bps']:+.3f} bps), "
                f"{m['total_quote']:+,.4f} total over {m['count']} fills",
            )
        )
    rows += [
        ("position", f"{r['position_base']:+.6f}"),
        (
            "inventory",
            f"mean {inv['mean_base']:+.6f}, mean |q| {inv['mean_abs_base']:.6f}, "
            f"range {inv['max_short_base']:+.6f} … {inv['max_long_base']:+.6f}, "
            f"flat {inv['flat_fraction']:.1%}",
        ),
    ]
    for h in r["halts"]:
        rows.append(("halt", h))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
