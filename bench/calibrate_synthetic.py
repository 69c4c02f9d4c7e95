"""Measure market statistics from a real Binance recording and from the synthetic market, and
write a calibration of the synthetic market from the recording.

Usage: ``python bench/calibrate_synthetic.py [FILE...] [--seconds N] [--out params.json]
[--symbol S --venue V]`` (several files: one capture split in consecutive files)

Prints one JSON object ``{"source": path, "real": {...}, "synthetic": {...}}``. Both sides go
through the same statistics code, so the figures are comparable: prices in the quote currency
or ticks, sizes in the instrument's order units (base, or contracts for inverse contracts),
rates per second of exchange time. The synthetic side runs on the measured calibration (with
``--out``, else the built-in one) and also reports its generation speed. ``--out`` writes the
calibration for ``market.synthetic_params``. The instrument comes from the file (stream names,
folders), or ``--symbol``/``--venue`` from the catalog cache or the simulated listing.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, Side, Trade
from tradetui.market.calibration import measured_on, params_for, params_to_json
from tradetui.market.files import ReplayError
from tradetui.market.instruments import InstrumentFlags, infer_instrument
from tradetui.market.synthetic import DepthBands, SyntheticMarket, SyntheticParams

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-usdm" / "btcusdt_20240808.gz"
)
NEAR_TOUCH_TICKS = 10
TRADE_MID_BANDS_QUOTE = (0.05, 0.5, 2.0, 5.0)
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
    # Sizes (lots) of the non-zero levels the depth diffs set: the spread of deep sizes.
    diff_lots: list[int] = field(default_factory=list)
    # The whole book right after the first snapshot (ticks → lots): the depth profile.
    snapshot_book: _Book | None = None
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


def _lines(paths: list[Path]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(receive ns, message) of each line of ``paths``, in order (one continuous capture)."""
    for path in paths:
        with gzip.open(path, "rt") as f:
            for line in f:
                local, _, body = line.partition(" ")
                yield int(local), json.loads(body)


def read_real(paths: list[Path], inst: Instrument) -> _Tape:
    """Parse a recording: snapshot, diffs (synced by lastUpdateId, chained by ``pu`` on
    futures and ``U`` = previous ``u`` + 1 on spot), bookTicker, trades.

    Spot bookTickers carry no exchange time: as the replay does (tradetui/market/messages.py),
    each gets its receive time plus the offset (exchange − receive time) of the latest depth
    diff or trade, so the recorder's clock offset is removed.
    """
    tape = _Tape()
    book = _Book()
    early: list[dict[str, Any]] = []
    untimed: list[tuple[int, dict[str, Any]]] = []  # bookTickers before any offset is known
    offset_ns: int | None = None
    synced = False
    last_u = 0
    next_sample_ns = 0
    for local_ns, msg in _lines(paths):
        if "lastUpdateId" in msg:
            _load_snapshot(tape, book, msg, inst)
            last_u = msg["lastUpdateId"]
            for d in early:
                if d["u"] >= last_u:
                    _apply_diff(book, d, inst)
                    synced, last_u = True, d["u"]
            continue
        stream, data = msg["stream"], msg["data"]
        exch_ms = data.get("T") or data.get("E")
        if stream.endswith("@bookTicker"):
            if exch_ms:
                tape.bbo.append(_bbo(exch_ms * _NS_PER_MS, data, inst))
            elif offset_ns is None:
                untimed.append((local_ns, data))
            else:
                tape.bbo.append(_bbo(local_ns + offset_ns, data, inst))
            continue
        t_ns = exch_ms * _NS_PER_MS
        if offset_ns is None:
            tape.bbo.extend(_bbo(t + t_ns - local_ns, d, inst) for t, d in untimed)
        offset_ns = t_ns - local_ns
        if stream.endswith("@trade"):
            sell = 1 if data["m"] else 0
            tape.trades.append(
                (t_ns, _ticks(data["p"], inst.tick), _ticks(data["q"], inst.lot), sell, 0)
            )
            continue
        tape.diff_levels.append(len(data["b"]) + len(data["a"]))
        tape.diff_lots.extend(q for _, q in _levels(data["b"] + data["a"], inst) if q)
        if not tape.snapshot_levels:
            early.append(data)
            continue
        spot = "pu" not in data
        if not synced:
            synced = data["U"] <= last_u + spot <= data["u"]
            if not synced:
                continue
        elif (data["U"] - 1 if spot else data["pu"]) != last_u:
            raise SystemExit(f"{paths[0]}: depth chain broken at u={data['u']}")
        _apply_diff(book, data, inst)
        last_u = data["u"]
        if t_ns >= next_sample_ns:
            _sample(tape, book)
            next_sample_ns = (t_ns // _NS_PER_S + 1) * _NS_PER_S
    tape.bbo.sort(key=lambda b: b[0])  # estimated times can step back when the offset moves
    _mark_orders(tape)
    return tape


def _bbo(t_ns: int, data: dict[str, Any], inst: Instrument) -> tuple[int, int, int, int, int]:
    return (
        t_ns,
        _ticks(data["b"], inst.tick),
        _ticks(data["B"], inst.lot),
        _ticks(data["a"], inst.tick),
        _ticks(data["A"], inst.lot),
    )


def _load_snapshot(tape: _Tape, book: _Book, msg: dict[str, Any], inst: Instrument) -> None:
    bids, asks = _levels(msg["bids"], inst), _levels(msg["asks"], inst)
    book.apply(book.bids, bids)
    book.apply(book.asks, asks)
    tape.snapshot_book = _Book(dict(book.bids), dict(book.asks))
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


def read_synthetic(
    inst: Instrument, params: SyntheticParams, seconds: float, seed: int
) -> tuple[_Tape, dict[str, float]]:
    """Generate ``seconds`` of synthetic market and reduce it like a recording."""
    market = SyntheticMarket(inst, params, seed=seed)
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
    size_units = trd[:, 2] * inst.lot
    spread_ticks = (bbo[:, 3] - bbo[:, 1]).astype(np.float64)
    touch_units = np.concatenate([bbo[:, 2], bbo[:, 4]]) * inst.lot
    mid_quote = (bbo[:, 1] + bbo[:, 3]) * 0.5 * inst.tick

    # Mid at each whole exchange second: the last bookTicker at or before it.
    grid = np.arange(t0 // _NS_PER_S + 1, bbo[-1, 0] // _NS_PER_S + 1) * _NS_PER_S
    mid_1s = mid_quote[np.searchsorted(bbo[:, 0], grid, side="right") - 1]
    dmid_1s = np.diff(mid_1s)

    # Prior mid: the last bookTicker strictly before the trade in exchange time.
    prior = np.searchsorted(bbo[:, 0], trd[:, 0], side="left") - 1
    ok = prior >= 0
    dist_quote = np.abs(trd[ok, 1] * inst.tick - mid_quote[prior[ok]])
    _, prints_per_order = np.unique(trd[:, 4], return_counts=True)

    diff_levels = np.array(tape.diff_levels, dtype=np.float64)
    return {
        "span_s": round(span_s, 1),
        "trades_per_s": round(len(trd) / span_s, 2),
        "taker_orders_per_s": round(len(prints_per_order) / span_s, 2),
        "prints_per_order_mean": round(float(prints_per_order.mean()), 2),
        "trade_size_units": {
            "median": _q(size_units, 0.5),
            "p90": _q(size_units, 0.9),
            "p99": _q(size_units, 0.99),
            "mean": round(float(size_units.mean()), 4),
        },
        "buyer_maker_share": round(float(trd[:, 3].mean()), 4),
        "spread_ticks": {
            "median": _q(spread_ticks, 0.5),
            "p99": _q(spread_ticks, 0.99),
            "one_tick_share": round(float((spread_ticks == 1).mean()), 4),
        },
        "touch_size_units_median": {
            "bid": _q(bbo[:, 2] * inst.lot, 0.5),
            "ask": _q(bbo[:, 4] * inst.lot, 0.5),
            "both": _q(touch_units, 0.5),
        },
        "mid_change_1s_std_quote": round(float(dmid_1s.std()), 3),
        "mid_changes_per_s": round(float((np.diff(mid_quote) != 0).sum()) / span_s, 2),
        "trade_within_quote_of_prior_mid": {
            str(b): round(float((dist_quote <= b + 1e-9).mean()), 4) for b in TRADE_MID_BANDS_QUOTE
        },
        "depth_profile": _depth_profile(tape, inst),
        "book_ticker_per_s": round(len(bbo) / span_s, 2),
        "depth_diffs_per_s": round(len(diff_levels) / span_s, 2),
        "level_updates_per_diff": round(float(diff_levels.mean()), 2),
        "level_updates_per_s": round(float(diff_levels.sum()) / span_s, 1),
    }


def _depth_profile(tape: _Tape, inst: Instrument) -> dict[str, Any]:
    """Sizes (order units) at touch + 0..9 ticks: snapshot, and book medians sampled each second."""
    out: dict[str, Any] = {
        "snapshot_levels_per_side": tape.snapshot_levels,
        "snapshot_units": {
            "bid": [round(q * inst.lot, 3) for q in tape.snapshot_bids],
            "ask": [round(q * inst.lot, 3) for q in tape.snapshot_asks],
        },
    }
    for side, samples in (("bid", tape.book_samples_bid), ("ask", tape.book_samples_ask)):
        s = np.array(samples, dtype=np.float64) * inst.lot
        present = s > 0
        out[f"book_{side}"] = {
            "median_units": [round(float(np.median(s[:, k])), 3) for k in range(NEAR_TOUCH_TICKS)],
            "occupied_share": [round(float(present[:, k].mean()), 3) for k in range(s.shape[1])],
            "median_when_present_units": [
                round(float(np.median(s[present[:, k], k])), 3) if present[:, k].any() else 0.0
                for k in range(NEAR_TOUCH_TICKS)
            ],
        }
    return out


# ---- a calibration from the recording ------------------------------------------------------

# Knots of the measured quantile tables (the built-in calibration's).
_KNOTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
# Depth bands by distance from the own touch, ticks (the built-in calibration's).
_BAND_STARTS = (1, 10, 50, 200)
# The generator's touch changes publish about 1.5 level updates per bookTicker: the built-in
# calibration's 1,288 level updates/s less 1.5 x 191.9 bookTickers/s left its 1,000 deep ones.
_TOUCH_UPDATES_PER_BOOK_TICKER = 1.5


def _table(values: FloatArray, floor: float) -> tuple[tuple[float, float], ...]:
    """Quantiles at the knots, at least ``floor`` (the sampler works on log values)."""
    if not len(values):
        return ((0.0, floor), (1.0, floor))
    qs = np.maximum(np.quantile(values, _KNOTS), floor)
    return tuple((p, round(float(v), 10)) for p, v in zip(_KNOTS, qs, strict=True))


def _bands(book: _Book | None, inst: Instrument, half_width: int) -> DepthBands:
    """Occupied share and median size (order units) of each band behind the snapshot's touch."""
    if book is None or not book.bids or not book.asks:
        return SyntheticParams().depth_bands
    bid, ask = max(book.bids), min(book.asks)
    out = []
    ends = [*_BAND_STARTS[1:], half_width + 1]
    for start, end in zip(_BAND_STARTS, ends, strict=True):
        if start >= half_width:
            break
        dist = range(start, min(end, half_width + 1))
        sizes = [book.bids.get(bid - d, 0) for d in dist] + [
            book.asks.get(ask + d, 0) for d in dist
        ]
        present = [q for q in sizes if q]
        share = len(present) / len(sizes)
        median = float(np.median(present)) * inst.lot if present else inst.lot
        out.append((start, round(max(share, 0.01), 3), round(median, 10)))
    return tuple(out)


def measure_params(tape: _Tape, inst: Instrument, stats: dict[str, Any]) -> SyntheticParams:
    """SyntheticParams measured from a recording's tape (see SyntheticParams for each one)."""
    bbo = np.array(tape.bbo, dtype=np.int64)
    trd = np.array(tape.trades, dtype=np.int64)
    start_price = float((bbo[0, 1] + bbo[0, 3]) * 0.5 * inst.tick)
    moves = np.abs(np.diff(bbo[:, 1]))
    spreads = (bbo[:, 3] - bbo[:, 1]).astype(np.float64)
    _, prints = np.unique(trd[:, 4], return_counts=True)
    sizes = trd[:, 2] * inst.lot
    touch = np.concatenate([bbo[:, 2], bbo[:, 4]]) * inst.lot
    half_width = min(SyntheticParams().book_half_width_ticks, int(start_price / inst.tick) // 4)
    diff_lots = np.array(tape.diff_lots, dtype=np.float64)
    p25, p75 = np.quantile(np.log(diff_lots), (0.25, 0.75)) if len(diff_lots) else (0.0, 0.0)
    deep = (
        stats["level_updates_per_s"] - _TOUCH_UPDATES_PER_BOOK_TICKER * stats["book_ticker_per_s"]
    )
    return SyntheticParams(
        **measured_on(inst),
        start_price_quote=start_price,
        mid_std_1s_quote=stats["mid_change_1s_std_quote"],
        jump_quantiles_ticks=_table(moves[moves > 0].astype(np.float64), 1.0),
        trade_rate_per_s=stats["trades_per_s"],
        trade_size_quantiles_units=_table(sizes, inst.lot),
        prints_per_order_quantiles=_table(prints.astype(np.float64), 1.0),
        buyer_maker_share=stats["buyer_maker_share"],
        one_tick_spread_share=stats["spread_ticks"]["one_tick_share"],
        wide_spread_quantiles_ticks=_table(spreads[spreads > 1], 2.0),
        touch_size_quantiles_units=_table(touch[touch > 0], inst.lot),
        depth_bands=_bands(tape.snapshot_book, inst, half_width),
        # A normal's interquartile range is 1.349 sigma.
        depth_size_log_sigma=round(float(p75 - p25) / 1.349, 3) or 1.0,
        book_half_width_ticks=half_width,
        depth_diff_interval_ns=int(1e9 / stats["depth_diffs_per_s"]),
        deep_updates_per_s=round(max(deep, 1.0), 1),
        book_ticker_rate_per_s=stats["book_ticker_per_s"],
    )


def _instrument(paths: list[Path], symbol: str | None, venue: str | None) -> Instrument:
    """The recording's instrument: from the file, else by symbol from the catalog cache or
    the simulated listing."""
    from tradetui.venues.lookup import UnknownInstrumentError, resolve_instrument

    if symbol is None:
        try:
            return infer_instrument(paths, InstrumentFlags(venue=venue)).instrument
        except ReplayError as exc:
            sys.exit(f"calibrate_synthetic: {exc}")
    try:
        return resolve_instrument(symbol, venue)
    except UnknownInstrumentError as exc:
        sys.exit(f"calibrate_synthetic: {exc}")


# The figures a held-out check compares (a path of keys into ``statistics``).
HELD_OUT_FIGURES = (
    ("trades_per_s",),
    ("trade_size_units", "median"),
    ("trade_size_units", "mean"),
    ("buyer_maker_share",),
    ("spread_ticks", "one_tick_share"),
    ("touch_size_units_median", "both"),
    ("mid_change_1s_std_quote",),
    ("book_ticker_per_s",),
    ("trade_within_quote_of_prior_mid", "0.5"),
)


def held_out(paths: list[Path], params: SyntheticParams, seed: int) -> dict[str, Any]:
    """``params`` scaled to the recording in ``paths`` (its instrument, its first mid) and
    generated for its span, against it: each figure's real and synthetic value and the
    relative error."""
    inst = _instrument(paths, None, None)
    tape = read_real(paths, inst)
    real = statistics(tape, inst)
    start = float((tape.bbo[0][1] + tape.bbo[0][3]) * 0.5 * inst.tick)
    synth_tape, _ = read_synthetic(inst, params_for(inst, params, start), real["span_s"], seed)
    synthetic = statistics(synth_tape, inst)
    figures = {}
    for path in HELD_OUT_FIGURES:
        r: Any = real
        s: Any = synthetic
        for key in path:
            r, s = r[key], s[key]
        figures[".".join(path)] = {
            "real": r,
            "synthetic": s,
            "error": round(s / r - 1, 4) if r else None,
        }
    errors = [abs(f["error"]) for f in figures.values() if f["error"] is not None]
    return {
        "source": ", ".join(map(str, paths)),
        "figures": figures,
        "mean_abs_error": round(sum(errors) / len(errors), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "files", nargs="*", type=Path, help="recording (.gz capture; consecutive files chain)"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="recording (old flag)")
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="synthetic span in s (default: the real span)"
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic market seed")
    parser.add_argument("--out", type=Path, help="write the calibration here (JSON)")
    parser.add_argument(
        "--validate",
        type=Path,
        nargs="+",
        help="held-out recording: the calibration, scaled to its instrument and price, against it",
    )
    parser.add_argument("--symbol", help="the recording's symbol, e.g. ETHUSD_PERP")
    parser.add_argument("--venue", help="usdm, coinm or a ccxt exchange id")
    args = parser.parse_args()
    data: list[Path] = args.files or [args.data]
    for path in data:
        if not path.is_file():
            sys.exit(
                f"calibrate_synthetic: data file {path} not found; "
                "pass a Binance capture (see shared/data/README.md)"
            )
    inst = _instrument(data, args.symbol, args.venue)
    tape = read_real(data, inst)
    real = statistics(tape, inst)
    params = measure_params(tape, inst, real) if args.out else SyntheticParams()
    if args.out:
        fields = params_to_json(params).items()
        args.out.write_text(
            "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in fields) + "\n}\n"
        )
    seconds = args.seconds or real["span_s"]
    synth_tape, speed = read_synthetic(inst, params, seconds, args.seed)
    synthetic = statistics(synth_tape, inst)
    synthetic["generation"] = speed
    out: dict[str, Any] = {"source": ", ".join(map(str, data)), "real": real}
    out["synthetic"] = synthetic
    if args.validate:
        out["held_out"] = held_out(args.validate, params, args.seed)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
