"""The stored-session report as an aligned text block for people."""

from __future__ import annotations

from typing import Any

from tradetui.core.units import charged_fee_rows, money_decimals, money_rows, size_decimals


def _opt(v: float | None, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def format_report(r: dict[str, Any]) -> str:
    """Rows of label and value; money named by its asset (the settlement asset, and quote at
    the final mark for inverse contracts), sizes by their unit."""
    inv = r["inventory"]
    settle, quote, unit = r["settle_asset"], r["quote_asset"], r["size_unit"]
    d = money_decimals(settle, quote)
    n = size_decimals(unit)
    # Time-weighted means are fractions of a contract too.
    mean_d = max(n, 2)
    rows = [
        ("session", f"{r['session']} ({r['mode']}, {r['venue']}, {r['symbol']})"),
        ("time", f"{r['started']} → {r['ended'] or 'running'} ({r['end_state']})"),
        # A fast or replayed run's own clock (fill times, markouts) runs apart from the wall.
        *(
            [("market time", f"{r['market_started']} → {r['market_ended'] or 'running'}")]
            if r.get("market_time_differs")
            else []
        ),
        ("fills", f"{r['fills']} ({r['maker_fills']} maker, {r['taker_fills']} taker)"),
        *money_rows(r),
        ("mark", f"{r['mark']:,.2f} {quote} (the open position is valued at this mid)"),
        ("cost per 10k", f"{r['cost_per_10k']:+.3f}"),
        ("max drawdown", f"{r['max_drawdown_settle']:,.{d}f} {settle}"),
        ("Sharpe (per min)", f"{_opt(r['sharpe_per_minute'], '+.3f')} over {r['minutes']} min"),
    ]
    for h, m in r["markouts"].items():
        amount = f"{m['total_settle']:+,.{d}f} {settle}"
        if settle != quote:
            amount += f" = {m['total_quote']:+,.2f} {quote}"
        rows.append((f"markout {h}", f"{m['mean_bps']:+.3f} bps, {amount} over {m['fills']} fills"))
    rows += [
        ("position", f"{r['position_size']:+.{n}f} {unit}".rstrip()),
        (
            "inventory",
            f"mean {inv['mean_size']:+.{mean_d}f}, mean |q| {inv['mean_abs_size']:.{mean_d}f}, "
            f"range {inv['max_short_size']:+.{n}f} … {inv['max_long_size']:+.{n}f} {unit}, "
            f"flat {inv['flat_fraction']:.1%}",
        ),
    ]
    rows += charged_fee_rows(r)
    for h in r["halts"]:
        rows.append(("halt", h))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
