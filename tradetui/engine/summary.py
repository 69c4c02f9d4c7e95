"""The end-of-session summary a user reads (and scripts parse with --json).

Money (``pnl_*``, ``spread_capture``, ``inventory_pnl``, ``fees``, ``rebates``) is in
``settle_asset``: the quote asset for linear and spot markets, the coin for inverse contracts.
``in_quote`` repeats it in ``quote_asset`` valued at the final mark (the same numbers when the
two are one). ``volume_quote`` is the traded notional in quote (USD face value for inverse
contracts), ``volume_settle`` the same in the settlement asset. Sizes (``position_size``,
``max_abs_position_size``) count ``size_unit``: the base asset, or contracts; the ``_base``
keys are present only where sizes count the base asset. ``markouts`` (per horizon) and the
PnL split follow core/metrics.py (docs/metrics.md).
"""

from __future__ import annotations

from typing import Any

from tradetui.core import units
from tradetui.engine.engine import Engine


def close_markouts(engine: Engine) -> None:
    """End the engine's mid path at its clock's now and current mid, as a stored session's
    last mark does, so fills due by then count (a run that is over: backtest, sweep)."""
    engine.markouts.on_mid(engine.clock.now_ns(), engine.mid_ticks)
    engine.markouts.close()


def session_summary(engine: Engine, duration_s: float) -> dict[str, Any]:
    """Session figures: fills, volume, PnL split, inventory, order rates, latency."""
    pnl = engine.pnl()
    inst = engine.instrument
    minutes = duration_s / 60 if duration_s > 0 else 0.0
    lat = engine.latency_percentiles_us()
    max_abs_size = float(inst.qty(engine.max_abs_position_lots))
    out: dict[str, Any] = {
        "symbol": inst.symbol,
        **units.asset_names(inst),
        "state": str(engine.state),
        "duration_s": round(duration_s, 3),
        "market_events": engine.market_events,
        "fills": engine.fills,
        "volume_quote": pnl.volume_quote,
        "volume_settle": pnl.volume_settle,
        "pnl_total": pnl.total,
        "pnl_realized": pnl.realized,
        "pnl_unrealized": pnl.unrealized,
        "spread_capture": pnl.spread_capture,
        "inventory_pnl": pnl.inventory_pnl,
        "markouts": engine.markouts.summary(),
        "fees": pnl.fees,
        "rebates": pnl.rebates,
        "cost_per_10k": pnl.cost_per_10k,
        "in_quote": units.in_quote(pnl, inst),
        "position_size": pnl.position_size,
        "max_abs_position_size": max_abs_size,
        "mid": float(engine.mid_ticks * inst.tick),
        # Where the open position is valued: "mid", or after a feed gap that no snapshot
        # repaired, the last valid mid before it (``mark`` is that price).
        "mark": float(engine.mark_ticks * inst.tick),
        "mark_source": _mark_source(engine),
        "orders_placed": engine.orders_placed,
        "orders_cancelled": engine.orders_cancelled,
        "orders_rejected": engine.orders_rejected,
        "post_only_rejects": engine.post_only_rejects,
        "open_orders": len(engine.orders),
        "fills_per_min": engine.fills / minutes if minutes else 0.0,
        "cancels_per_min": engine.orders_cancelled / minutes if minutes else 0.0,
        "decision_latency_us": {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"]},
        # Decisions timed (the percentiles are over the last 65,536): over a few dozen, p99 is
        # the slowest one.
        "decisions_timed": lat["count"],
        "last_requote_reason": engine.last_requote_reason,
        "halt_reason": engine.halt_reason,
    }
    if engine.fees_charged:
        # Fees the exchange charged in another asset (BNB), as charged; ``fees`` holds them
        # valued in the settlement asset, except those under ``fees_unvalued`` (no rate known,
        # counted 0: PnL is incomplete by that much).
        out["fees_charged"] = dict(engine.fees_charged)
        out["fees_unvalued"] = dict(engine.fees_unvalued)
    if not inst.inverse:
        out["position_base"] = pnl.position_size
        out["max_abs_position_base"] = max_abs_size
    return out


def _mark_source(engine: Engine) -> str:
    if engine.mid_ticks or not engine.last_valid_mid_ticks:
        return "mid"
    from tradetui.store.queries import iso_utc

    since = iso_utc(engine.book_unknown_since_ns)
    return f"last valid mid: the book is unknown since a feed gap at {since}"


def format_summary(s: dict[str, Any]) -> str:
    """A compact aligned text block for people."""
    lat = s["decision_latency_us"]
    unit = s["size_unit"]
    n = units.size_decimals(unit)
    rows = [
        ("state", s["state"]),
        *_market_rows(s),
        ("duration", f"{s['duration_s']:.1f} s, {s['market_events']:,} market events"),
        ("fills", f"{s['fills']}  ({s['fills_per_min']:.1f}/min)"),
        *units.money_rows(s),
        ("cost per 10k", f"{s['cost_per_10k']:+.3f}"),
        (
            "position",
            f"{s['position_size']:+.{n}f} {unit} (max |{s['max_abs_position_size']:.{n}f}|)",
        ),
        (
            "orders",
            f"{s['orders_placed']} placed, {s['orders_cancelled']} cancelled "
            f"({s['cancels_per_min']:.1f}/min), {s['orders_rejected']} rejected "
            f"({s['post_only_rejects']} post-only), {s['open_orders']} open",
        ),
        (
            "decision latency",
            f"p50 {lat['p50']:.1f} µs, p99 {lat['p99']:.1f} µs "
            f"over {s['decisions_timed']:,} decisions",
        ),
    ]
    rows += units.charged_fee_rows(s)
    if s["mark_source"] != "mid":
        rows.append(("marked at", f"{s['mark']:,} ({s['mark_source']})"))
    if s["halt_reason"]:
        rows.append(("halt reason", s["halt_reason"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def fee_floor_summary(engine: Engine) -> dict[str, Any]:
    """The fee floor at the end of a session: on or off, the maker fee and the
    adverse-selection allowance (bps of the mid) and how many fills measured it."""
    adverse = engine.adverse
    return {
        "enabled": engine.as_params.fee_floor,
        "maker_fee_bps": round(engine.instrument.maker_fee_rate * 1e4, 6),
        "adverse_allowance_bps": round(adverse.allowance_bps, 4),
        "adverse_ewma_bps": round(adverse.ewma_bps, 4),
        "adverse_fills_measured": adverse.resolved,
        "adverse_horizon_s": engine.settings.strategy.adverse_horizon_s,
    }


def _market_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """How and on what the session traded ("paper, BTCUSDT on the live market of
    binanceusdm"), when the summary says (a host's summary does)."""
    if "mode" not in s:
        return []
    venue = f" of {s['market_venue']}" if s.get("market_venue") else ""
    return [("market", f"{s['mode']}, {s['symbol']} on the {s['market_source']} market{venue}")]


def book_total(markets: list[dict[str, Any]]) -> dict[str, Any]:
    """Several markets' summaries (or stored reports) summed in USD (``in_quote``: USDT and
    USD both count as USD; a coin-settled market's money valued at its final mark)."""

    def total(key: str) -> float:
        return round(sum(float(m["in_quote"][key]) for m in markets), 6)

    return {
        "markets": len(markets),
        "fills": sum(m["fills"] for m in markets),
        "volume_usd": total("volume"),
        "pnl_usd": total("pnl_total"),
        "spread_capture_usd": total("spread_capture"),
        "inventory_pnl_usd": total("inventory_pnl"),
        "fees_usd": total("fees"),
        "rebates_usd": total("rebates"),
    }


def format_book_summary(s: dict[str, Any]) -> str:
    """A several-market summary for people: one line per market, the book's total and the
    portfolio figures (and the limit that halted it)."""
    lines = [f"state     {s['state']}  ({s['duration_s']:.1f} s)"]
    for m in s["markets"]:
        q = m["in_quote"]
        lat = m["decision_latency_us"]
        lines.append(
            f"{m['symbol']:<12} {m['state']:<8} pos {m['position_size']:+g} {m['size_unit']}"
            f"  fills {m['fills']:>4}  PnL {float(q['pnl_total']):+,.2f} {q['asset']}"
            f"  p99 {lat['p99']:.0f} µs ({m['decisions_timed']:,} decisions)"
            + (f"  halt: {m['halt_reason']}" if m["halt_reason"] else "")
        )
    t, p = s["total"], s["portfolio"]
    lines.append(
        f"{'total':<12} {t['markets']} markets  fills {t['fills']}  volume "
        f"{t['volume_usd']:,.0f} USD  PnL {t['pnl_usd']:+,.2f} USD  fees {t['fees_usd']:,.2f}"
    )
    lines.append(
        f"portfolio    gross {p['gross_usd']:,.0f} USD  net {p['net_usd']:,.0f} USD  "
        f"drawdown {p['drawdown_usd']:,.2f} USD"
    )
    if p["halt_reason"]:
        lines.append(f"portfolio halt ({p['halt_limit']}): {p['halt_reason']}")
    return "\n".join(lines)
