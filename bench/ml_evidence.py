"""Evidence for the ML filter that can say "no": the model vs a matched placebo vs filter off.

    python bench/ml_evidence.py [--data DIR] [--window-s 30] [--train-fraction 0.5]
                                [--shifts 2] [--policy SKEW WIDEN PULL]... [--fee-floor]
                                [--dataset NAME FILE...]... [--only NAME]... [--write]

For every recording chain in the shared data folder (spot BTCUSDT and ETHUSDT, two files each;
USD-M BTCUSDT; COIN-M ETHUSD_PERP), a model is trained exactly as ``tradetui train`` does on
the first ``--train-fraction`` of the chain's time; the rest is held out and backtested with
the default strategy, its fee floor off unless ``--fee-floor`` (with it, the strategy hardly
trades on these files), from a snapshot of the book rebuilt so far, three ways:

- ``off``: no filter;
- ``model``: the filter with the model (defaults: skew 2, widen 2 ticks, pull above 0.6), its
  probabilities at every decision recorded;
- ``placebo``: the same filter fed the model's own recorded probabilities shifted in time by
  k/(``--shifts`` + 1) of the held-out span (circularly), one run per shift. It pulls and skews
  as often and as far as the model (the side counts are printed to show it), but at times
  that carry no information about the coming move. A gain that comes from quoting less, or
  from a lucky sequence of skews, shows up in the placebo too; only knowledge does not.

The held-out time is cut into ``--window-s`` windows. Per window and run: fills, the 5 s
markout of those fills, and the mark-to-market PnL (fills' cash and fees plus the inventory
carried into the window, valued at the mid; USD for all four, the inverse one converted at the
mid). The table gives per-fill 5 s markouts (bps, with a block-bootstrap interval over fills)
and the mean per-window differences model − placebo and model − off (USD per window, with a
moving-block bootstrap interval over the windows of all datasets; ``tradetui.ml.metrics``).
The filter "beats the placebo" only when the interval of model − placebo PnL lies above 0.

Prints one JSON object. ``--write`` also puts the table between the evidence markers of
docs/ml-filter.md and the one-line verdict between the markers in README.md. Instruments
come from a private catalog cache of the simulated listing unless TRADETUI_CATALOG_DIR is set
(``figures.catalog_env``).
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from figures import DATA, ROOT, catalog_env

from tradetui.backtest.run import BacktestResult, run_backtest
from tradetui.config import Settings
from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument
from tradetui.core.types import BookDelta, BookSnapshot, MarketEvent, Side
from tradetui.engine.bus import Bus
from tradetui.engine.engine import Engine
from tradetui.market.cache import load_events
from tradetui.market.instruments import infer_instrument
from tradetui.ml.dataset import sample_features
from tradetui.ml.metrics import Interval, block_rows, mean_interval
from tradetui.ml.model import FilterModel
from tradetui.ml.train import TrainConfig, data_card, train_samples, write_model

DATASETS: dict[str, tuple[str, ...]] = {
    "spot BTCUSDT": ("binance-spot/btcusdt_20240808.gz", "binance-spot/btcusdt_20240809.gz"),
    "spot ETHUSDT": ("binance-spot/ethusdt_20240808.gz", "binance-spot/ethusdt_20240809.gz"),
    "usdm BTCUSDT": ("binance-usdm/btcusdt_20240808.gz",),
    "coinm ETHUSD_PERP": ("binance-coinm/ethusd_perp_20240808.gz",),
}
MARKOUT_S = 5
_NS = 1_000_000_000
DOC = ROOT / "docs" / "ml-filter.md"
README = ROOT / "README.md"
TABLE_BEGIN, TABLE_END = "<!-- ml-evidence:begin -->", "<!-- ml-evidence:end -->"
VERDICT_BEGIN, VERDICT_END = "<!-- ml-verdict:begin -->", "<!-- ml-verdict:end -->"


def held_out(events: list[MarketEvent], split_ns: int) -> list[MarketEvent]:
    """Events from ``split_ns`` (local time) on, led by a snapshot of the book rebuilt so far."""
    book = OrderBook()
    update_id = 0
    for i, ev in enumerate(events):
        if ev.local_ns >= split_ns:
            snap = BookSnapshot(
                exch_ns=ev.exch_ns,
                local_ns=ev.local_ns,
                update_id=update_id,
                bids=tuple(book.levels(Side.BUY, book.level_count(Side.BUY))),
                asks=tuple(book.levels(Side.SELL, book.level_count(Side.SELL))),
            )
            return [snap, *events[i:]]
        if type(ev) is BookDelta:
            book.apply_delta(ev)
            update_id = ev.last_id
        elif type(ev) is BookSnapshot:
            book.apply_snapshot(ev.bids, ev.asks)
            update_id = ev.update_id
    return []


class Recorder:
    """The model, recording each prediction with the engine's clock time."""

    def __init__(self, model: FilterModel, engine: Engine) -> None:
        self.model = model
        self.now = engine.clock.now_ns
        self.t: list[int] = []
        self.p: list[tuple[float, float, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def predict(self, row: Any) -> tuple[float, float, float]:
        p = self.model.predict(row)
        self.t.append(self.now())
        self.p.append(p)
        return p


class Shifted:
    """The model's recorded probabilities, read ``fraction`` of the recording's period earlier
    (circularly; the period is the span plus one mean decision interval, so each recorded
    prediction is read once per decision): the same pulls and skews as the model, at times
    that know nothing of the coming move."""

    def __init__(self, model: FilterModel, rec: Recorder, fraction: float, engine: Engine) -> None:
        self.model = model
        self.now = engine.clock.now_ns
        self.t = rec.t
        self.p = rec.p
        self.t0 = rec.t[0]
        n = len(rec.t)
        self.span = (rec.t[-1] - rec.t[0]) * n // max(1, n - 1) or 1
        self.shift_ns = int(self.span * fraction)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def predict(self, row: Any) -> tuple[float, float, float]:
        at = self.t0 + (self.now() - self.t0 - self.shift_ns) % self.span
        return self.p[max(0, bisect.bisect_right(self.t, at) - 1)]


def windows(res: BacktestResult, inst: Instrument, edges: list[int]) -> dict[str, list[float]]:
    """Per window [edges[i], edges[i+1]) of exchange time: fills, 5 s markout and PnL (USD)."""
    times, mids = res.mids.t_ns, res.mids.mid_ticks
    unit = float(inst.value_unit)
    tick = float(inst.tick_size)

    def mid_at(t: int) -> float:
        return mids[max(0, bisect.bisect_right(times, t) - 1)]

    def usd(settle: float, mid: float) -> float:
        return settle * mid * tick if inst.inverse else settle

    n = len(edges) - 1
    out: dict[str, list[float]] = {
        "fills": [0.0] * n,
        "markout_usd": [0.0] * n,
        "pnl_usd": [0.0] * n,
    }
    fills = sorted(res.fills, key=lambda fr: fr.fill.exch_ns)
    pos = 0
    k = 0
    for w in range(n):
        a, b = edges[w], edges[w + 1]
        mid_a, mid_b = mid_at(a), mid_at(b)
        pnl = pos * unit * (inst.value_float(mid_b) - inst.value_float(mid_a))
        while k < len(fills) and fills[k].fill.exch_ns < b:
            fr = fills[k]
            f = fr.fill
            k += 1
            pos = fr.position_lots
            if f.exch_ns < a:
                continue
            sign = int(f.side)
            pnl += sign * f.qty_lots * unit * (inst.value_float(mid_b) - inst.value(f.price_ticks))
            pnl -= f.fee
            out["fills"][w] += 1
            m = mid_at(f.exch_ns + MARKOUT_S * _NS)
            out["markout_usd"][w] += usd(
                sign * f.qty_lots * unit * (inst.value_float(m) - inst.value(f.price_ticks)), m
            )
        out["pnl_usd"][w] = usd(pnl, mid_b)
    return out


def fill_markouts_bps(res: BacktestResult, inst: Instrument) -> list[float]:
    """5 s markout of each fill, bps of its notional (> 0: the mid moved our way)."""
    times, mids = res.mids.t_ns, res.mids.mid_ticks
    last = times[-1] if len(times) else 0
    out = []
    for fr in sorted(res.fills, key=lambda fr: fr.fill.exch_ns):
        f = fr.fill
        t = f.exch_ns + MARKOUT_S * _NS
        if t > last:
            continue
        m = mids[max(0, bisect.bisect_right(times, t) - 1)]
        v = inst.value(f.price_ticks)
        out.append(int(f.side) * (inst.value_float(m) - v) / abs(v) * 1e4)
    return out


def policy_name(policy: tuple[float, float, float]) -> str:
    return f"skew {policy[0]:g} widen {policy[1]:g} pull {policy[2]:g}"


def policy_runs(
    base: Settings,
    policy: tuple[float, float, float],
    inst: Instrument,
    events: list[MarketEvent],
    model_dir: Path,
    shifts: int,
) -> dict[str, BacktestResult]:
    """The model's run with ``policy`` (recording its probabilities), then one placebo run
    per shift replaying them shifted in time."""
    name = policy_name(policy)
    s = base.replace("ml", skew_ticks=policy[0], widen_ticks=policy[1], pull_threshold=policy[2])
    rec: list[Recorder] = []

    def record(engine: Engine, _bus: Bus) -> None:
        assert engine.ml is not None
        r = Recorder(engine.ml.model, engine)
        engine.ml.model = r  # type: ignore[assignment]
        rec.append(r)

    runs = {f"{name} model": run_backtest(s, inst, events, ml_model=model_dir, on_engine=record)}
    for k in range(1, shifts + 1):

        def shifted(engine: Engine, _bus: Bus, k: int = k) -> None:
            assert engine.ml is not None
            fraction = k / (shifts + 1)
            engine.ml.model = Shifted(engine.ml.model, rec[0], fraction, engine)  # type: ignore[assignment]

        runs[f"{name} placebo {k}"] = run_backtest(
            s, inst, events, ml_model=model_dir, on_engine=shifted
        )
    return runs


def run_dataset(
    name: str,
    files: list[Path],
    train_fraction: float,
    window_s: float,
    shifts: int,
    policies: list[tuple[float, float, float]],
    base: Settings,
    tmp: Path,
) -> dict[str, Any]:
    inst = infer_instrument(files).instrument
    chained, _report, _cached = load_events(files, inst)
    samples = sample_features(chained)
    t0, t1 = int(samples.t_ns[0]), int(samples.t_ns[-1])
    split_ns = t0 + int((t1 - t0) * train_fraction)
    booster, card = train_samples(samples, split_ns, TrainConfig())
    card |= data_card(files, inst)
    model_dir = tmp / name.replace(" ", "_")
    write_model(booster, card, model_dir)
    events = held_out(chained, split_ns)
    runs: dict[str, BacktestResult] = {"off": run_backtest(base, inst, events)}
    for policy in policies:
        runs |= policy_runs(base, policy, inst, events, model_dir, shifts)
    start = min(ev.exch_ns for ev in events[:64])
    end = max(ev.exch_ns for ev in events[-64:])
    step = int(window_s * _NS)
    edges = list(range(start, end - step + 1, step))
    edges.append(edges[-1] + step)
    per = {k: windows(r, inst, edges) for k, r in runs.items()}
    m = card["metrics"]
    out: dict[str, Any] = {
        "files": [str(f) for f in files],
        "instrument": inst.symbol,
        "train_s": round((split_ns - t0) / _NS, 1),
        "held_out_s": round((end - start) / _NS, 1),
        "windows": len(edges) - 1,
        "log_loss": {"model": m["model"]["log_loss"], "prior": m["prior"]["log_loss"]},
        "runs": {},
        "per_window": per,
    }
    for k, r in runs.items():
        ml = r.engine.ml
        out["runs"][k] = {
            "fills": len(r.fills),
            "markouts_bps": fill_markouts_bps(r, inst),
            "pnl_usd": sum(per[k]["pnl_usd"]),
            "sides_pulled": 0 if ml is None else ml.sides_pulled,
            "sides_moved": 0 if ml is None else ml.sides_moved,
        }
    return out


def _iv(values: list[float] | npt.NDArray[np.float64]) -> Interval:
    v = np.asarray(values, dtype=np.float64)
    return mean_interval(v, block_rows(v, 1) if len(v) >= 8 else 1, seed=0)


def summarize(datasets: dict[str, dict[str, Any]], shifts: int, policy: str) -> dict[str, Any]:
    """Pooled per-window differences and per-fill markouts of every dataset, for one policy."""
    placebos = [f"{policy} placebo {k}" for k in range(1, shifts + 1)]

    def pooled(key: str) -> dict[str, npt.NDArray[np.float64]]:
        cols: dict[str, list[float]] = {"off": [], "model": [], "placebo": []}
        for d in datasets.values():
            pw = d["per_window"]
            cols["off"] += pw["off"][key]
            cols["model"] += pw[f"{policy} model"][key]
            cols["placebo"] += list(np.mean([pw[p][key] for p in placebos], axis=0))
        return {k: np.asarray(v) for k, v in cols.items()}

    out: dict[str, Any] = {"windows": sum(d["windows"] for d in datasets.values())}
    for key in ("pnl_usd", "markout_usd", "fills"):
        c = pooled(key)
        out[key] = {
            "model_minus_placebo": _iv(c["model"] - c["placebo"]).to_dict(5),
            "model_minus_off": _iv(c["model"] - c["off"]).to_dict(5),
            "placebo_minus_off": _iv(c["placebo"] - c["off"]).to_dict(5),
        }
    marks: dict[str, list[float]] = {"off": [], "model": [], "placebo": []}
    for d in datasets.values():
        marks["off"] += d["runs"]["off"]["markouts_bps"]
        marks["model"] += d["runs"][f"{policy} model"]["markouts_bps"]
        for p in placebos:
            marks["placebo"] += d["runs"][p]["markouts_bps"]
    out["fill_markout_bps"] = {k: _iv(v).to_dict(3) for k, v in marks.items()}
    beats = out["pnl_usd"]["model_minus_placebo"]["low"] > 0
    out["beats_placebo"] = beats
    return out


def _fmt(d: dict[str, float], digits: int = 3) -> str:
    return f"{d['estimate']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"


def verdict(s: dict[str, Any]) -> str:
    d = s["pnl_usd"]["model_minus_placebo"]
    if s["beats_placebo"]:
        return (
            f"the filter beats a matched placebo out of sample (PnL model − placebo "
            f"{_fmt(d, 4)} USD per window, 95 %); it may be turned on"
        )
    return (
        f"the filter has not beaten a matched placebo out of sample (PnL model − placebo "
        f"{_fmt(d, 4)} USD per {s['window_s']:g} s window, 95 %, {s['windows']} windows), so it "
        "stays off by default"
    )


def markdown(result: dict[str, Any]) -> str:
    shifts = result["shifts"]
    first = next(iter(result["summaries"].values()))
    lines = [
        f"Generated by `python bench/ml_evidence.py --write` ({result['date']}): each dataset's "
        f"model trained on the first {result['train_fraction']:.0%} of its time, the rest "
        f"backtested in {first['window_s']:g} s windows; placebo = the model's own "
        f"probabilities shifted in time ({shifts} shifts, averaged). Intervals: 95 % "
        "moving-block bootstrap. Policies: skew and widen in ticks, pull threshold. Strategy: "
        "the defaults"
        + (
            ""
            if result["fee_floor"]
            else " with the fee floor off (with it on, the strategy hardly trades on these "
            "files; `--fee-floor` shows it)"
        )
        + ".",
    ]
    for policy, s in result["summaries"].items():
        lines += [
            "",
            f"**{policy}**" + (" (the config defaults)" if policy == result["defaults"] else ""),
            "",
        ]
        lines += policy_markdown(result, policy, s)
    lines += ["", f"**Verdict: {result['verdict']}.**"]
    return "\n".join(lines)


def policy_markdown(result: dict[str, Any], policy: str, s: dict[str, Any]) -> list[str]:
    shifts = result["shifts"]
    lines = [
        "| dataset | train / held out s | log loss model (prior) | fills off / model / placebo "
        "| sides pulled model / placebo | sides moved model / placebo | PnL USD off / model / "
        "placebo |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, d in result["datasets"].items():
        r = dict(d["runs"])
        r["model"] = r[f"{policy} model"]
        pl = [r[f"{policy} placebo {k}"] for k in range(1, shifts + 1)]

        def avg(key: str, runs: list[dict[str, Any]] = pl) -> float:
            return float(np.mean([x[key] for x in runs]))

        lines.append(
            f"| {name} | {d['train_s']:g} / {d['held_out_s']:g} | {d['log_loss']['model']:.4f} "
            f"({d['log_loss']['prior']:.4f}) | {r['off']['fills']} / {r['model']['fills']} / "
            f"{avg('fills'):.0f} | {r['model']['sides_pulled']} / {avg('sides_pulled'):.0f} | "
            f"{r['model']['sides_moved']} / {avg('sides_moved'):.0f} | "
            f"{r['off']['pnl_usd']:+.3f} / {r['model']['pnl_usd']:+.3f} / {avg('pnl_usd'):+.3f} |"
        )
    fm = s["fill_markout_bps"]
    lines += [
        "",
        f"Pooled over {s['windows']} windows of {s['window_s']:g} s:",
        "",
        "| per window | model − placebo | model − off | placebo − off |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("pnl_usd", "PnL, USD"),
        ("markout_usd", f"{MARKOUT_S} s markout of the fills, USD"),
        ("fills", "fills"),
    ):
        v = s[key]
        lines.append(
            f"| {label} | {_fmt(v['model_minus_placebo'])} | {_fmt(v['model_minus_off'])} | "
            f"{_fmt(v['placebo_minus_off'])} |"
        )
    lines += [
        "",
        f"Per-fill {MARKOUT_S} s markout, bps of notional (> 0: the mid moved our way): off "
        f"{_fmt(fm['off'])}, model {_fmt(fm['model'])}, placebo {_fmt(fm['placebo'])}.",
        "",
        "Model − placebo PnL interval above 0: "
        + (
            f"**yes**, but this is one of {len(result['summaries'])} policies tried and "
            f"{len(result['datasets'])} datasets pooled; confirm it on new recordings before "
            "relying on it."
            if s["beats_placebo"]
            else "no."
        ),
    ]
    return lines


def replace_between(path: Path, begin: str, end: str, text: str, inline: bool = False) -> None:
    """Put ``text`` between the ``begin`` and ``end`` markers of ``path`` (which must exist)."""
    old = path.read_text()
    sep = "" if inline else "\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(old):
        sys.exit(f"error: {path}: markers {begin} … {end} not found; add them where it belongs")
    path.write_text(pattern.sub(lambda _m: f"{begin}{sep}{text}{sep}{end}", old, count=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--window-s", type=float, default=30.0, help="window length, s")
    ap.add_argument("--train-fraction", type=float, default=0.5, help="share of time to train on")
    ap.add_argument("--shifts", type=int, default=2, help="placebo runs (time shifts)")
    ap.add_argument("--only", action="append", help="dataset name (repeatable)")
    ap.add_argument(
        "--dataset",
        nargs="+",
        action="append",
        metavar="NAME FILE",
        help="a recording chain of your own, e.g. days of `tradetui record` files, in time "
        "order (repeatable; replaces the shared datasets)",
    )
    ap.add_argument(
        "--policy",
        nargs=3,
        type=float,
        action="append",
        metavar=("SKEW", "WIDEN", "PULL"),
        help="filter policy to test (repeatable; default: the config defaults and pull-only 0.45)",
    )
    ap.add_argument(
        "--fee-floor",
        action="store_true",
        help="keep strategy.fee_floor on (the default strategy; it hardly trades on these files)",
    )
    ap.add_argument("--write", action="store_true", help="update docs/ml-filter.md and README")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"error: data folder {args.data} not found; pass --data PATH")
    if not 0.2 <= args.train_fraction <= 0.8 or args.shifts < 1 or args.window_s < 10:
        sys.exit("error: need 0.2 <= --train-fraction <= 0.8, --shifts >= 1, --window-s >= 10")
    # The risk guard's per-decision warnings would drown the JSON on stderr.
    logging.disable(logging.WARNING)
    import datetime as dt

    # The fee floor keeps the default strategy out of the market on these files (two dozen
    # fills in the whole held-out time), which leaves the filter nothing to act on.
    base = Settings().replace("strategy", fee_floor=args.fee_floor)
    ml = base.ml
    defaults = (ml.skew_ticks, ml.widen_ticks, ml.pull_threshold)
    policies = [tuple(p) for p in args.policy] if args.policy else [defaults, (0.0, 0.0, 0.45)]
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "defaults": policy_name(defaults),
        "fee_floor": args.fee_floor,
        "train_fraction": args.train_fraction,
        "shifts": args.shifts,
        "datasets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRADETUI_CATALOG_DIR"] = catalog_env(Path(tmp))["TRADETUI_CATALOG_DIR"]
        chains = (
            {d[0]: [Path(f) for f in d[1:]] for d in args.dataset}
            if args.dataset
            else {name: [args.data / r for r in rel] for name, rel in DATASETS.items()}
        )
        for name, files in chains.items():
            missing = [f for f in files if not f.exists()]
            if args.dataset and missing:
                sys.exit(f"error: --dataset {name}: {missing[0]} not found")
            if (args.only and name not in args.only) or not all(f.exists() for f in files):
                continue
            result["datasets"][name] = run_dataset(
                name,
                files,
                args.train_fraction,
                args.window_s,
                args.shifts,
                policies,
                base,
                Path(tmp),
            )
    if not result["datasets"]:
        sys.exit("error: no dataset found in the data folder")
    result["summaries"] = {
        policy_name(p): summarize(result["datasets"], args.shifts, policy_name(p))
        | {"window_s": args.window_s}
        for p in policies
    }
    # Judged on what turning the filter on does: the default policy (else the first given).
    judged = result["summaries"].get(result["defaults"]) or next(iter(result["summaries"].values()))
    result["verdict"] = verdict(judged)
    if args.write:
        replace_between(DOC, TABLE_BEGIN, TABLE_END, markdown(result))
        replace_between(README, VERDICT_BEGIN, VERDICT_END, result["verdict"], True)
    for d in result["datasets"].values():
        for r in d["runs"].values():
            r["markouts_bps"] = len(r["markouts_bps"])  # counted, not listed, in the JSON
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
