"""``backtest --plot``: price with our fills, inventory and equity over a run, in one PNG.

``plot_series`` turns a finished backtest into plain lists (pure, no plotting library);
``write_plot`` draws them as three stacked panels sharing the time axis. matplotlib is
imported there, inside the call, with its file-only Agg backend, so the command line does not
pay for it unless a plot is asked for and no display is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tradetui.backtest.run import BacktestResult
from tradetui.core.accounting import PositionLedger
from tradetui.core.units import money

_NS_PER_S = 1_000_000_000
# Mid/equity samples drawn at most (a replay has one mid change per few ms).
_MAX_POINTS = 4000
_WIDTH_IN, _HEIGHT_IN, _DPI = 11.0, 8.5, 100


@dataclass(slots=True)
class PlotSeries:
    """What the plot shows; times in seconds from the start of the run."""

    title: str
    size_unit: str  # positions count this: the base asset, or contracts
    settle: str  # PnL is in this: the quote asset, or the coin of an inverse contract
    quote: str
    t_s: list[float] = field(default_factory=list)
    mid: list[float] = field(default_factory=list)  # quote per base
    equity: list[float] = field(default_factory=list)  # PnL total marked at the mid, settle
    inventory_t_s: list[float] = field(default_factory=list)
    inventory_size: list[float] = field(default_factory=list)  # position after each fill
    buy_t_s: list[float] = field(default_factory=list)
    buy_price: list[float] = field(default_factory=list)
    sell_t_s: list[float] = field(default_factory=list)
    sell_price: list[float] = field(default_factory=list)


def plot_series(result: BacktestResult, max_points: int = _MAX_POINTS) -> PlotSeries:
    """The run as plot data: the mid thinned to ``max_points``, equity marked at each kept
    mid with the fills up to then, inventory after each fill, our fills by side."""
    inst = result.engine.instrument
    tick, lot = inst.tick, inst.lot
    start = result.start_ns
    fills = sorted(result.fills, key=lambda fr: fr.fill.exch_ns)
    s = PlotSeries(title="", size_unit=inst.size_unit, settle=inst.settle, quote=inst.quote)
    s.inventory_t_s.append(0.0)
    s.inventory_size.append(0.0)
    for fr in fills:
        f = fr.fill
        t = (f.exch_ns - start) / _NS_PER_S
        s.inventory_t_s.append(t)
        s.inventory_size.append(fr.position_lots * lot)
        if int(f.side) > 0:
            s.buy_t_s.append(t)
            s.buy_price.append(f.price_ticks * tick)
        else:
            s.sell_t_s.append(t)
            s.sell_price.append(f.price_ticks * tick)
    times, mids = result.mids.t_ns, result.mids.mid_ticks
    n = len(times)
    step = max(1, n // max(1, max_points))
    kept = list(range(0, n, step))
    if n and kept[-1] != n - 1:
        kept.append(n - 1)
    ledger = PositionLedger(inst)
    i = 0
    for k in kept:
        t_ns, mid = times[k], mids[k]
        while i < len(fills) and fills[i].fill.exch_ns <= t_ns:
            f = fills[i].fill
            ledger.on_fill(f.side, f.price_ticks, f.qty_lots, f.fee, mid)
            i += 1
        s.t_s.append((t_ns - start) / _NS_PER_S)
        s.mid.append(mid * tick)
        s.equity.append(ledger.total_settle(mid))
    if s.equity and i < len(fills):  # fills after the last mid change count at that mid
        last_mid = mids[n - 1]
        for fr in fills[i:]:
            f = fr.fill
            ledger.on_fill(f.side, f.price_ticks, f.qty_lots, f.fee, last_mid)
        s.equity[-1] = ledger.total_settle(last_mid)
    pnl = s.equity[-1] if s.equity else 0.0
    span_s = (result.end_ns - start) / _NS_PER_S
    s.inventory_t_s.append(max(span_s, s.inventory_t_s[-1]))  # held until the end of the run
    s.inventory_size.append(s.inventory_size[-1])
    pnl_text = money(pnl, inst.settle, inst.quote)
    s.title = f"backtest {inst.symbol}: {len(fills)} fills, PnL {pnl_text} over {span_s:,.0f} s"
    return s


def plot_path_problem(path: Path) -> str:
    """Why a PNG cannot be written at ``path`` ('' when it can), checked before a run."""
    if path.suffix.lower() != ".png":
        return "the plot is a PNG: give a file name ending in .png"
    if path.is_dir():
        return "is a directory; give a file name ending in .png"
    parent = path.parent
    if not parent.is_dir():
        return f"folder {parent} does not exist"
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "not writable"
    return ""


def write_plot(s: PlotSeries, path: Path) -> None:
    """Draw ``s`` as price (with our fills), inventory and equity panels into a PNG at
    ``path``. Raises OSError when the file cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH_IN, _HEIGHT_IN), dpi=_DPI, layout="constrained")
    price, inventory, equity = fig.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1]}
    )
    fig.suptitle(s.title)
    price.plot(s.t_s, s.mid, color="0.35", linewidth=0.8, label="mid")
    price.scatter(
        s.buy_t_s, s.buy_price, marker="^", s=22, color="tab:green", label="our buys", zorder=3
    )
    price.scatter(
        s.sell_t_s, s.sell_price, marker="v", s=22, color="tab:red", label="our sells", zorder=3
    )
    price.set_ylabel(f"price ({s.quote})")
    price.legend(loc="best", fontsize="small", framealpha=0.8)
    price.ticklabel_format(axis="y", useOffset=False, style="plain")
    inventory.step(s.inventory_t_s, s.inventory_size, where="post", color="tab:blue")
    inventory.axhline(0.0, color="0.6", linewidth=0.6)
    inventory.set_ylabel(f"inventory ({s.size_unit})")
    equity.plot(s.t_s, s.equity, color="tab:purple", linewidth=1.0)
    equity.axhline(0.0, color="0.6", linewidth=0.6)
    equity.set_ylabel(f"PnL ({s.settle})")
    equity.set_xlabel("time since start (s)")
    for ax in (price, inventory, equity):
        ax.grid(True, linewidth=0.3, alpha=0.6)
    fig.savefig(path, format="png")
