"""Fee-aware quoting on the shared recordings: spread capture, fees and PnL with the fee floor
off and on (prints one JSON object, or with ``--markdown`` the table docs/ quotes).

Each data set is backtested with the default configuration (``Settings()``: the sim's 2 bps
maker fee, the fee floor on, its allowance measured from the run's own fills) and with
``strategy.fee_floor = false`` (the quoting before issue 21). To tell "the floor is too
narrow" from "no floor can", the floor is also run at fixed widths: the allowance held at
0, 1, 2 and 4 bps (``adverse_halflife_fills`` so long it never moves), so the quotes stay
2, 3, 4 and 6 bps from the mid. The paper demo's market, 600 s of the built-in synthetic
BTCUSDT (seed 1), is run the same way.

Per run: fills, traded notional, spread capture (each fill against the mid just before it,
docs/metrics.md), fees, inventory PnL, PnL, PnL before fees,
spread capture and fees per fill in bps of notional, and the mean markout at 1 s and 5 s
(each fill against the mid one horizon later, bps). ``touch_half_spread_bps`` is the median
of half the bid-ask spread over the bookTicker updates, in bps of the mid: what a resting
order earns against the mid when a trade reaches it at the touch.

Instruments come from the catalog cache; without ``TRADETUI_CATALOG_DIR`` a private one
holding the simulated listing is used (as bench/figures.py does), so no network is needed.

    python bench/fee_floor.py [--data ../shared/data] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from figures import DATA, catalog_env

from tradetui.backtest.run import run_backtest
from tradetui.config import Settings
from tradetui.core.money import dumps
from tradetui.core.types import BestBidOffer, MarketEvent
from tradetui.market.cache import load_events
from tradetui.market.instruments import infer_instrument
from tradetui.market.synthetic import SyntheticMarket
from tradetui.session import sim_instrument

DATASETS: dict[str, tuple[str, ...]] = {
    "usdm BTCUSDT": ("binance-usdm/btcusdt_20240808.gz",),
    "spot BTCUSDT": ("binance-spot/btcusdt_20240808.gz", "binance-spot/btcusdt_20240809.gz"),
    "spot ETHUSDT": ("binance-spot/ethusdt_20240808.gz", "binance-spot/ethusdt_20240809.gz"),
    "coinm ETHUSD_PERP": ("binance-coinm/ethusd_perp_20240808.gz",),
}
FIXED_ALLOWANCES_BPS = (0.0, 1.0, 2.0, 4.0)
SYNTHETIC = "synthetic BTCUSDT"
SYNTHETIC_SECONDS = 600
_T0_NS = 1_700_000_000_000_000_000


def touch_half_spread_bps(events: list[MarketEvent]) -> float:
    """Median half bid-ask spread over the bookTicker updates, bps of the mid."""
    halves = [
        (ev.ask_ticks - ev.bid_ticks) / (ev.ask_ticks + ev.bid_ticks) * 1e4
        for ev in events
        if type(ev) is BestBidOffer and 0 < ev.bid_ticks < ev.ask_ticks
    ]
    return statistics.median(halves)


def one_run(settings: Settings, inst: Any, events: list[MarketEvent]) -> dict[str, Any]:
    result = run_backtest(settings, inst, events)
    engine = result.engine
    pnl = engine.pnl()
    marks = result.summary["markouts"]  # closed at the run's end, as every session's
    volume = pnl.volume_settle

    def per_notional_bps(x: Decimal) -> float | None:
        return round(float(x / volume) * 1e4, 3) if volume else None

    return {
        "fills": engine.fills,
        "volume_quote": round(pnl.volume_quote, 2),
        "spread_capture": pnl.spread_capture,
        "fees": pnl.fees,
        "inventory_pnl": pnl.inventory_pnl,
        "pnl_total": pnl.total,
        "pnl_before_fees": pnl.gross,
        "spread_capture_bps": per_notional_bps(pnl.spread_capture),
        "fees_bps": per_notional_bps(pnl.fees),
        "markout_1s_bps": round(marks["1s"]["mean_bps"], 3) if "1s" in marks else None,
        "markout_5s_bps": round(marks["5s"]["mean_bps"], 3) if "5s" in marks else None,
        "adverse_allowance_bps_at_end": round(engine.adverse.allowance_bps, 3),
    }


def synthetic_events(settings: Settings) -> tuple[Any, list[MarketEvent]]:
    """The paper demo's market: SYNTHETIC_SECONDS of the built-in synthetic BTCUSDT, seed 1."""
    inst = sim_instrument(settings)
    end_ns = _T0_NS + SYNTHETIC_SECONDS * 1_000_000_000
    events: list[MarketEvent] = []
    for ev in SyntheticMarket(inst, seed=1, start_ns=_T0_NS).events():
        if ev.exch_ns > end_ns:
            break
        events.append(ev)
    return inst, events


def compare(base: Settings, inst: Any, events: list[MarketEvent]) -> dict[str, Any]:
    """Floor off, floor on (the default) and the floor at fixed widths, on one market."""
    fixed = []
    for allowance in FIXED_ALLOWANCES_BPS:
        s = base.replace(
            "strategy", adverse_allowance_prior_bps=allowance, adverse_halflife_fills=10_000.0
        )
        fixed.append({"allowance_bps": allowance, **one_run(s, inst, events)})
    return {
        "settle_asset": inst.settle,
        "touch_half_spread_bps": round(touch_half_spread_bps(events), 4),
        "floor_off": one_run(base.replace("strategy", fee_floor=False), inst, events),
        "floor_on": one_run(base, inst, events),
        "floor_fixed": fixed,
    }


def measure(data: Path) -> dict[str, Any]:
    base = Settings()
    out: dict[str, Any] = {
        "bench": "fee_floor",
        "maker_fee_bps": base.sim.maker_fee_bps,
        "adverse_horizon_s": base.strategy.adverse_horizon_s,
        "adverse_allowance_prior_bps": base.strategy.adverse_allowance_prior_bps,
        "datasets": {},
    }
    for name, rel in DATASETS.items():
        paths = [data / r for r in rel]
        if not all(p.exists() for p in paths):
            out["datasets"][name] = {"skipped": f"not found under {data}"}
            continue
        inst = infer_instrument(paths).instrument
        events, _report, _hit = load_events(paths, inst, use_cache=False)
        out["datasets"][name] = {"files": [p.name for p in paths], **compare(base, inst, events)}
    inst, events = synthetic_events(base)
    out["datasets"][SYNTHETIC] = {
        "files": [f"{SYNTHETIC_SECONDS} s, seed 1"],
        **compare(base, inst, events),
    }
    return out


def markdown(r: dict[str, Any]) -> str:
    """The table docs/strategy-and-risk.md quotes: one row per data set and run."""
    head = (
        "| data | run | fills | spread capture | fees | PnL | PnL before fees "
        "| capture / fees per fill (bps) | markout 1 s / 5 s (bps) |"
    )
    rows = [head, "|" + "---|" * 9]
    for name, d in r["datasets"].items():
        if "skipped" in d:
            rows.append(f"| {name} | skipped: {d['skipped']} |" + " |" * 7)
            continue
        runs = [("floor off", d["floor_off"]), ("floor on (default)", d["floor_on"])]
        runs += [(f"floor at {2 + f['allowance_bps']:g} bps", f) for f in d["floor_fixed"]]
        for label, x in runs:
            rows.append(
                f"| {name} ({d['settle_asset']}; touch ½-spread "
                f"{d['touch_half_spread_bps']:.3f} bps) | {label} | {x['fills']} "
                f"| {_money(x['spread_capture'])} | {_money(x['fees'])} "
                f"| {_money(x['pnl_total'])} | {_money(x['pnl_before_fees'])} "
                f"| {_bps(x['spread_capture_bps'])} / {_bps(x['fees_bps'])} "
                f"| {_bps(x['markout_1s_bps'])} / {_bps(x['markout_5s_bps'])} |"
            )
    return "\n".join(rows)


def _money(x: float) -> str:
    return f"{x:+.4g}"


def _bps(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--markdown", action="store_true", help="print the docs table instead")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"error: data folder {args.data} not found; pass --data PATH")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRADETUI_CATALOG_DIR"] = catalog_env(Path(tmp))["TRADETUI_CATALOG_DIR"]
        result = measure(args.data)
    print(markdown(result) if args.markdown else dumps(result, indent=2))


if __name__ == "__main__":
    main()
