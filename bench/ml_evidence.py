"""The ML filter on held-out real data: backtest the test file with and without the model.

Usage: .venv/bin/python bench/ml_evidence.py MODEL_DIR [SKEW WIDEN PULL]...
MODEL_DIR comes from ``tradetui train`` on earlier data; its card names the data files and
the split time. The files are replayed as one chain (so the depth book stays rebuilt, as in
training) and the backtest starts at the split from a snapshot of that book: only held-out
time is traded. Runs the default configuration without the filter, then for each
(skew_ticks, widen_ticks, pull_threshold) triple given (default: the config defaults) with the
model and with a placebo model trained on shuffled labels (so a gain that only comes from
quoting less shows up in the placebo too). Prints one JSON object: fills, markouts 1 s / 5 s,
PnL per run.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tradetui.backtest.report import build_report
from tradetui.backtest.run import run_backtest
from tradetui.config import Settings
from tradetui.core.book import OrderBook
from tradetui.core.types import BookDelta, BookSnapshot, MarketEvent, Side
from tradetui.market.cache import load_events
from tradetui.market.instruments import infer_instrument
from tradetui.ml.dataset import Samples, sample_features
from tradetui.ml.train import TrainConfig, train_samples, write_model


def _row(r: dict[str, Any], model: Any) -> dict[str, Any]:
    m = r["markouts"]
    row = {
        "fills": r["fills"],
        "markout_1s_bps": round(m["1s"]["mean_bps"], 3),
        "markout_5s_bps": round(m["5s"]["mean_bps"], 3),
        "markout_5s_quote": round(float(m["5s"]["total_quote"]), 4),
        "pnl_quote": round(float(r["pnl_total"]), 4),
        "fees_quote": round(float(r["fees"]), 4),
        "max_abs_position_base": r["max_abs_position_base"],
    }
    if model is not None:
        row["predictions"] = model.predictions
        row["inference_errors"] = model.errors
        st = model.monitor.stats()
        row["live_hit_rate"] = round(st.hit_rate, 3)
        row["live_brier"] = round(st.brier, 4)
        row["live_brier_constant"] = round(st.brier_constant, 4)
        row["drifting_at_end"] = st.drifting
    return row


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


def placebo(card: dict[str, Any], events: list[MarketEvent], out: Path) -> Path:
    """The same training with the fit labels shuffled: a model that knows nothing but has the
    real model's probability spread, so it trades as often. Written to ``out``."""
    samples = sample_features(events)
    sp = card["split"]
    cfg = TrainConfig(
        horizon_s=card["horizon_s"], threshold_bps=card["threshold_bps"], gap_s=sp["gap_s"]
    )
    rng = np.random.default_rng(0)
    # Shuffle the mids in time before the split: features keep their distribution, labels
    # lose any link with them; the held-out part is untouched.
    before = samples.t_ns < sp["split_ns"]
    mids = samples.mid_ticks.copy()
    idx = np.flatnonzero(before)
    mids[idx] = mids[rng.permutation(idx)]
    booster, pcard = train_samples(Samples(samples.x, samples.t_ns, mids), sp["split_ns"], cfg)
    # Trained on the real model's data: the same instrument (the engine checks it).
    pcard |= {k: card[k] for k in ("data", "instrument", "instrument_agnostic") if k in card}
    write_model(booster, pcard, out)
    return out


def main() -> None:
    # The risk guard's per-decision warnings would drown the JSON on stderr.
    logging.disable(logging.WARNING)
    model_dir = Path(sys.argv[1])
    rest = [float(a) for a in sys.argv[2:]]
    triples: list[tuple[float, ...] | None] = [
        tuple(rest[i : i + 3]) for i in range(0, len(rest), 3)
    ] or [None]
    card = json.loads((model_dir / "card.json").read_text())
    files = [Path(d["path"]) for d in card["data"]]
    inst = infer_instrument(files).instrument
    chained, data, cached = load_events(files, inst)
    events = held_out(chained, card["split"]["split_ns"])
    base = Settings()
    out: dict[str, Any] = {
        "files": [str(f) for f in files],
        "held_out_s": round((events[-1].local_ns - events[0].local_ns) / 1e9, 1),
        "model": str(model_dir),
        "runs": {},
    }
    res = run_backtest(base, inst, events)
    out["runs"]["off"] = _row(build_report(res, data, cached), None)
    with tempfile.TemporaryDirectory() as tmp:
        models = {"model": model_dir, "placebo": placebo(card, chained, Path(tmp))}
        for t in triples:
            s = base
            name = "defaults"
            if t is not None:
                s = base.replace("ml", skew_ticks=t[0], widen_ticks=t[1], pull_threshold=t[2])
                name = f"skew {t[0]:g} widen {t[1]:g} pull {t[2]:g}"
            for kind, path in models.items():
                res = run_backtest(s, inst, events, ml_model=path)
                out["runs"][f"{kind} {name}"] = _row(build_report(res, data, cached), res.engine.ml)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
