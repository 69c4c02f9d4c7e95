"""Measure market statistics from a real Binance USD-M recording and from the synthetic market.

Usage: ``.venv/bin/python bench/calibrate_synthetic.py [--data PATH] [--seconds N]``

Prints one JSON object ``{"source": path, "real": {...}, "synthetic": {...}}``. Both sides go
through the same statistics code, so the figures are comparable: prices in USD or ticks, sizes in
BTC, rates per second of exchange time. The synthetic side also reports its generation speed.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.core.instrument import Instrument, btcusdt_perpetual
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, Side, Trade
from tradetui.market.synthetic import SyntheticMarket

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-usdm" / "btcusdt_20240808.gz"
)
NEAR_TOUCH_TICKS = 10
TRADE_MID_BANDS_USD = (0.05, 0.5, 2.0, 5.0)
_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000

FloatArray = npt.NDArray[np.floating[Any]]


@dataclass
class _Book:
    """Sparse L2 book on integer ticks/lots, sampled near the touch."""

    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def apply(self, side: dict[int, int], levels: Iterable[tuple[int, int]]) -> None:
        for price_ticks, qty_lots in levels:
            if qty_lots:
                side[price_ticks] = qty_lots
            else:
                side.pop(price_ticks, None)

    def near_touch(self) -> tuple[list[int], list[int]]:
        """Sizes in lots at best bid - k and best ask + k, k = 0..NEAR_TOUCH_TICKS-1."""
        if not self.bids or not self.asks:
            return [], []
        bid, ask = max(self.bids), min(self.asks)
        return (
            [self.bids.get(bid - k, 0) for k in range(NEAR_TOUCH_TICKS)],
            [self.asks.get(ask + k, 0) for k in range(NEAR_TOUCH_TICKS)],
        )


@dataclass
class _Tape:
    """A market stream reduced to arrays; times are exchange ns, prices ticks, sizes lots."""

    bbo: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    trades: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # +order key
    diff_levels: list[int] = field(default_factory=list)
    snapshot_bids: list[int] = field(default_factory=list)
    snapshot_asks: list[int] = field(default_factory=list)
    snapshot_levels: int = 0
    book_samples_bid: list[list[int]] = field(default_factory=list)
    book_samples_ask: list[list[int]] = field(default_factory=list)


# ---- real recording -----------------------------------------------------------------------------


def _ticks(price: str, tick: float) -> int:
    return round(float(price) / tick)


def _levels(raw: list[list[str]], inst: Instrument) -> list[tuple[int, int]]:
    return [(_ticks(p, inst.tick), _ticks(q, inst.lot)) for p, q in raw]


def read_real(path: Path, inst: Instrument) -> _Tape:
    """Parse a recording: snapshot, diffs (synced by lastUpdateId / pu), bookTicker, trades."""
    tape = _Tape()
    book = _Book()
    early: list[dict[str, Any]] = []
    synced = False
    last_u = 0
    next_sample_ns = 0
    with gzip.open(path, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            if "lastUpdateId" in msg:
                _load_snapshot(tape, book, msg, inst)
                last_u = msg["lastUpdateId"]
                for d in early:
                    if d["u"] >= last_u:
                        _apply_diff(book, d, inst)
                        synced, last_u = True, d["u"]
                continue
            stream, data = msg["stream"], msg["data"]
            t_ns = data["T"] * _NS_PER_MS
            if stream.endswith("@bookTicker"):
                tape.bbo.append(
                    (
                        t_ns,
                        _ticks(data["b"], inst.tick),
                        _ticks(data["B"], inst.lot),
                        _ticks(data["a"], inst.tick),
                        _ticks(data["A"], inst.lot),
                    )
                )
            elif stream.endswith("@trade"):
                sell = 1 if data["m"] else 0
                tape.trades.append(
                    (t_ns, _ticks(data["p"], inst.tick), _ticks(data["q"], inst.lot), sell, 0)
                )
            else:
                tape.diff_levels.append(len(data["b"]) + len(data["a"]))
                if not tape.snapshot_levels:
                    early.append(data)
                    continue
                if not synced:
                    synced = data["U"] <= last_u <= data["u"]
                    if not synced:
                        continue
                elif data["pu"] != last_u:
                    raise SystemExit(f"{path}: depth chain broken at u={data['u']}")
                _apply_diff(book, data, inst)
                last_u = data["u"]
                if t_ns >= next_sample_ns:
                    _sample(tape, book)
                    next_sample_ns = (t_ns // _NS_PER_S + 1) * _NS_PER_S
    _mark_orders(tape)
    return tape


def _load_snapshot(tape: _Tape, book: _Book, msg: dict[str, Any], inst: Instrument) -> None:
    bids, asks = _levels(msg["bids"], inst), _levels(msg["asks"], inst)
    book.apply(book.bids, bids)
    book.apply(book.asks, asks)
    tape.snapshot_levels = max(len(bids), len(asks))
    tape.snapshot_bids, tape.snapshot_asks = book.near_touch()


def _apply_diff(book: _Book, data: dict[str, Any], inst: Instrument) -> None:
    book.apply(book.bids, _levels(data["b"], inst))
    book.apply(book.asks, _levels(data["a"], inst))


def _sample(tape: _Tape, book: _Book) -> None:
    bids, asks = book.near_touch()
    if bids:
        tape.book_samples_bid.append(bids)
        tape.book_samples_ask.append(asks)


def _mark_orders(tape: _Tape) -> None:
    """Number taker orders: prints sharing exchange time and aggressor side are one order."""
    order = 0
    prev: tuple[int, int] | None = None
    for i, (t_ns, px, qty, sell, _) in enumerate(tape.trades):
        if (t_ns, sell) != prev:
            order += 1
            prev = (t_ns, sell)
        tape.trades[i] = (t_ns, px, qty, sell, order)


# ---- synthetic market ---------------------------------------------------------------------------


def read_synthetic(inst: Instrument, seconds: float, seed: int) -> tuple[_Tape, dict[str, float]]:
    """Generate ``seconds`` of synthetic market and reduce it like a recording."""
    market = SyntheticMarket(inst, seed=seed)
    end_ns = int(seconds * _NS_PER_S)
    started = time.perf_counter()
    events = list(itertools.takewhile(lambda e: e.exch_ns < end_ns, market.events()))
    elapsed_s = time.perf_counter() - started

    tape = _Tape()
    book = _Book()
    next_sample_ns = 0
    counted = 0
    order = 0
    prev_trade_ns = -1
    for ev in events:
        if isinstance(ev, BestBidOffer):
            counted += 1
            tape.bbo.append((ev.exch_ns, ev.bid_ticks, ev.bid_lots, ev.ask_ticks, ev.ask_lots))
        elif isinstance(ev, Trade):
            counted += 1
            if ev.exch_ns != prev_trade_ns:
                order, prev_trade_ns = order + 1, ev.exch_ns
            sell = 1 if ev.aggressor is Side.SELL else 0
            tape.trades.append((ev.exch_ns, ev.price_ticks, ev.qty_lots, sell, order))
        elif isinstance(ev, BookDelta):
            n = len(ev.bids) + len(ev.asks)
            counted += n
            tape.diff_levels.append(n)
            book.apply(book.bids, ev.bids)
            book.apply(book.asks, ev.asks)
            if ev.exch_ns >= next_sample_ns:
                _sample(tape, book)
                next_sample_ns = (ev.exch_ns // _NS_PER_S + 1) * _NS_PER_S
        elif isinstance(ev, BookSnapshot):
            book.apply(book.bids, ev.bids)
            book.apply(book.asks, ev.asks)
            tape.snapshot_levels = max(len(ev.bids), len(ev.asks))
            tape.snapshot_bids, tape.snapshot_asks = book.near_touch()
    speed = {
        "events": counted,
        "wall_s": round(elapsed_s, 3),
        "events_per_s": round(counted / elapsed_s),
        "simulated_s_per_wall_s": round(seconds / elapsed_s, 1),
    }
    return tape, speed


# ---- statistics, shared by both sides -----------------------------------------------------------


def _q(values: FloatArray, q: float, digits: int = 4) -> float:
    return round(float(np.quantile(values, q)), digits) if len(values) else 0.0


def statistics(tape: _Tape, inst: Instrument) -> dict[str, Any]:
    """The calibration figures of one tape (units in each key's name)."""
    bbo = np.array(tape.bbo, dtype=np.int64)
    trd = np.array(tape.trades, dtype=np.int64)
    t0 = min(bbo[0, 0], trd[0, 0])
    span_s = (max(bbo[-1, 0], trd[-1, 0]) - t0) / _NS_PER_S
    size_btc = trd[:, 2] * inst.lot
    spread_ticks = (bbo[:, 3] - bbo[:, 1]).astype(np.float64)
    touch_btc = np.concatenate([bbo[:, 2], bbo[:, 4]]) * inst.lot
    mid_usd = (bbo[:, 1] + bbo[:, 3]) * 0.5 * inst.tick

    # Mid at each whole exchange second: the last bookTicker at or before it.
    grid = np.arange(t0 // _NS_PER_S + 1, bbo[-1, 0] // _NS_PER_S + 1) * _NS_PER_S
    mid_1s = mid_usd[np.searchsorted(bbo[:, 0], grid, side="right") - 1]
    dmid_1s = np.diff(mid_1s)

    # Prior mid: the last bookTicker strictly before the trade in exchange time.
    prior = np.searchsorted(bbo[:, 0], trd[:, 0], side="left") - 1
    ok = prior >= 0
    dist_usd = np.abs(trd[ok, 1] * inst.tick - mid_usd[prior[ok]])
    _, prints_per_order = np.unique(trd[:, 4], return_counts=True)

    diff_levels = np.array(tape.diff_levels, dtype=np.float64)
    return {
        "span_s": round(span_s, 1),
        "trades_per_s": round(len(trd) / span_s, 2),
        "taker_orders_per_s": round(len(prints_per_order) / span_s, 2),
        "prints_per_order_mean": round(float(prints_per_order.mean()), 2),
        "trade_size_btc": {
            "median": _q(size_btc, 0.5),
            "p90": _q(size_btc, 0.9),
            "p99": _q(size_btc, 0.99),
            "mean": round(float(size_btc.mean()), 4),
        },
        "buyer_maker_share": round(float(trd[:, 3].mean()), 4),
        "spread_ticks": {
            "median": _q(spread_ticks, 0.5),
            "p99": _q(spread_ticks, 0.99),
            "one_tick_share": round(float((spread_ticks == 1).mean()), 4),
        },
        "touch_size_btc_median": {
            "bid": _q(bbo[:, 2] * inst.lot, 0.5),
            "ask": _q(bbo[:, 4] * inst.lot, 0.5),
            "both": _q(touch_btc, 0.5),
        },
        "mid_change_1s_std_usd": round(float(dmid_1s.std()), 3),
        "mid_changes_per_s": round(float((np.diff(mid_usd) != 0).sum()) / span_s, 2),
        "trade_within_usd_of_prior_mid": {
            str(b): round(float((dist_usd <= b + 1e-9).mean()), 4) for b in TRADE_MID_BANDS_USD
        },
        "depth_profile": _depth_profile(tape, inst),
        "book_ticker_per_s": round(len(bbo) / span_s, 2),
        "depth_diffs_per_s": round(len(diff_levels) / span_s, 2),
        "level_updates_per_diff": round(float(diff_levels.mean()), 2),
        "level_updates_per_s": round(float(diff_levels.sum()) / span_s, 1),
    }


def _depth_profile(tape: _Tape, inst: Instrument) -> dict[str, Any]:
    """Sizes (BTC) at touch + 0..9 ticks: snapshot, and book medians sampled once a second."""
    out: dict[str, Any] = {
        "snapshot_levels_per_side": tape.snapshot_levels,
        "snapshot_btc": {
            "bid": [round(q * inst.lot, 3) for q in tape.snapshot_bids],
            "ask": [round(q * inst.lot, 3) for q in tape.snapshot_asks],
        },
    }
    for side, samples in (("bid", tape.book_samples_bid), ("ask", tape.book_samples_ask)):
        s = np.array(samples, dtype=np.float64) * inst.lot
        present = s > 0
        out[f"book_{side}"] = {
            "median_btc": [round(float(np.median(s[:, k])), 3) for k in range(NEAR_TOUCH_TICKS)],
            "occupied_share": [round(float(present[:, k].mean()), 3) for k in range(s.shape[1])],
            "median_when_present_btc": [
                round(float(np.median(s[present[:, k], k])), 3) if present[:, k].any() else 0.0
                for k in range(NEAR_TOUCH_TICKS)
            ],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="recording (.gz)")
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="synthetic span in s (default: the real span)"
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic market seed")
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(
            f"calibrate_synthetic: data file {args.data} not found; "
            "pass --data PATH to a Binance USD-M recording (see shared/data/README.md)"
        )
    inst = btcusdt_perpetual()
    real = statistics(read_real(args.data, inst), inst)
    seconds = args.seconds or real["span_s"]
    synth_tape, speed = read_synthetic(inst, seconds, args.seed)
    synthetic = statistics(synth_tape, inst)
    synthetic["generation"] = speed
    print(json.dumps({"source": str(args.data), "real": real, "synthetic": synthetic}))


if __name__ == "__main__":
    main()
