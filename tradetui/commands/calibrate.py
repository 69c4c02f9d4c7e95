"""``tradetui calibrate``: σ, A and k for the strategy from recorded files, checked on held-out
data, optionally written as a config file holding ``[strategy]`` priors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from tradetui.commands.common import fail
from tradetui.commands.data import (
    ContractOpt,
    FilesArg,
    InverseOpt,
    JsonOpt,
    LotOpt,
    SymbolOpt,
    TickOpt,
    VenueOpt,
    files_instrument,
    instrument_flags,
)

# Without --validate, this share of the data (its last part in exchange time) is held out.
HOLDOUT_SHARE = 0.3


def calibrate(
    files: FilesArg,
    validate: Annotated[
        list[Path] | None,
        typer.Option(
            "--validate",
            help="Held-out files of the same instrument (default: the last 30 % of FILES).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the fit to this TOML file as the strategy's priors."),
    ] = None,
    for_tick: Annotated[
        float | None,
        typer.Option(
            "--for-tick",
            help="Express σ, A, k in ticks of this size, a whole multiple of the files' tick "
            "(priors for another market of the asset: 0.1 for USD-M BTCUSDT from spot's 0.01).",
        ),
    ] = None,
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    tick_size: TickOpt = None,
    lot_size: LotOpt = None,
    contract_size: ContractOpt = None,
    inverse: InverseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit σ, A and k (λ(δ) = A·e^(−kδ)) on FILES; report the fit on held-out data."""
    from tradetui.market.cache import load_events
    from tradetui.market.files import ReplayError, no_market_data
    from tradetui.market.replay import has_market_data
    from tradetui.strategy.calibrate import CalibrationDataError, measure

    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        fail(f"--out {out}: not a file in an existing folder; name a file like params.toml")
    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    found = files_instrument(files, flags)
    inst = found.instrument
    ratio = _tick_ratio(for_tick, inst.tick)
    try:
        events, data, _ = load_events(files, inst, strict_grid=found.strict_grid)
        if not has_market_data(events):
            raise no_market_data(files, data)
        if validate:
            val_found = files_instrument(validate, flags)
            if val_found.instrument.symbol != inst.symbol:
                fail(
                    f"--validate: files of {val_found.instrument.symbol}, not {inst.symbol}; "
                    "validate on the same instrument"
                )
            held, val_data, _ = load_events(validate, inst, strict_grid=val_found.strict_grid)
            if not has_market_data(held):
                raise no_market_data(validate, val_data)
            fit_events = events
            held_what = ", ".join(str(p) for p in validate)
        else:
            start, end = events[0].exch_ns, max(ev.exch_ns for ev in events[-64:])
            cut = start + int((end - start) * (1 - HOLDOUT_SHARE))
            fit_events = [ev for ev in events if ev.exch_ns < cut]
            held = [ev for ev in events if ev.exch_ns >= cut]
            held_what = f"the last {HOLDOUT_SHARE:.0%} of the files"
    except ReplayError as exc:
        fail(str(exc))
    try:
        fit = measure(fit_events, ratio)
    except CalibrationDataError as exc:
        fail(f"{', '.join(str(f) for f in files)}: {exc}")
    try:
        check = measure(held, ratio)
    except CalibrationDataError as exc:
        fail(f"held-out data ({held_what}): {exc}")
    if not fit.fitted:
        fail(
            f"{', '.join(str(f) for f in files)}: too few trades at enough depths to fit A and k "
            f"({fit.trades} trades); give more data"
        )
    report = _report(fit, check, inst.tick * ratio, [str(f) for f in files], held_what)
    if out is not None:
        try:
            out.write_text(_toml(report))
        except OSError as exc:
            fail(f"--out {out}: cannot write ({exc.strerror or exc})")
        report["written"] = str(out)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(_text(report, inst.quote))


def _tick_ratio(for_tick: float | None, tick: float) -> int:
    """How many of the files' ticks make one ``--for-tick`` tick (1 without the option)."""
    if for_tick is None:
        return 1
    ratio = round(for_tick / tick)
    if ratio < 1 or not math.isclose(ratio * tick, for_tick, rel_tol=1e-9):
        fail(
            f"--for-tick {for_tick:g}: not a whole multiple of the files' tick {tick:g}; "
            f"give a multiple such as {tick * 10:g}"
        )
    return ratio


def _report(fit: Any, check: Any, tick: float, files: list[str], held: str) -> dict[str, Any]:
    from tradetui.strategy.calibrate import log_rate_rmse

    fit_rmse, fit_n = log_rate_rmse(fit, fit.a, fit.k)
    held_rmse, held_n = log_rate_rmse(check, fit.a, fit.k)
    depths = [
        {
            "depth_ticks": d,
            "fit_per_s": round(fit.a * math.exp(-fit.k * d), 4),
            "measured_per_s": round(r, 4),
            "held_out_per_s": round(h, 4),
            "held_out_trades": n,
        }
        for d, r, h, n in zip(
            fit.depths_ticks, fit.rates_per_s, check.rates_per_s, check.counts, strict=True
        )
    ]
    return {
        "files": files,
        "held_out": held,
        "tick_size": tick,
        "fit": {
            "seconds": round(fit.seconds, 3),
            "trades": fit.trades,
            "sigma_ticks": round(fit.sigma_ticks, 4),
            "a_per_s": round(fit.a, 4),
            "k_per_tick": round(fit.k, 6),
            "log_rate_rmse": round(fit_rmse, 4),
            "depths_used": fit_n,
        },
        "held_out_check": {
            "seconds": round(check.seconds, 3),
            "trades": check.trades,
            "sigma_ticks": round(check.sigma_ticks, 4),
            "sigma_error": round(fit.sigma_ticks / check.sigma_ticks - 1, 4)
            if check.sigma_ticks
            else None,
            "log_rate_rmse": round(held_rmse, 4) if held_n else None,
            "depths_used": held_n,
        },
        "depths": depths,
    }


def _toml(r: dict[str, Any]) -> str:
    f, h = r["fit"], r["held_out_check"]
    return (
        f"# tradetui calibrate on {', '.join(r['files'])}: {f['seconds']:.0f} s, "
        f"{f['trades']} trades\n"
        f"# held out: {r['held_out']}: ln λ RMSE {h['log_rate_rmse']} over "
        f"{h['depths_used']} depths, σ off by {h['sigma_error']:+.1%}\n"
        "[strategy]\n"
        f"sigma_prior_ticks = {f['sigma_ticks']}\n"
        f"a_prior = {f['a_per_s']}\n"
        f"k_prior = {f['k_per_tick']}\n"
    )


def _text(r: dict[str, Any], quote: str) -> str:
    f, h = r["fit"], r["held_out_check"]
    tick = r["tick_size"]
    lines = [
        f"fit       {', '.join(r['files'])}: {f['seconds']:.0f} s, {f['trades']:,} trades",
        f"held out  {r['held_out']}: {h['seconds']:.0f} s, {h['trades']:,} trades",
        f"σ         {f['sigma_ticks']:.2f} ticks/√s ({f['sigma_ticks'] * tick:.6g} {quote}/√s); "
        f"held out {h['sigma_ticks']:.2f} (fit off by {h['sigma_error']:+.1%})",
        f"A, k      {f['a_per_s']:.4g} /s, {f['k_per_tick']:.4g} /tick "
        f"(λ(δ) = A·e^(−kδ), δ in ticks from the mid)",
        f"ln λ RMSE {f['log_rate_rmse']:.3f} in sample over {f['depths_used']} depths; "
        + (
            f"{h['log_rate_rmse']:.3f} held out over {h['depths_used']} depths"
            if h["depths_used"]
            else "held out: no depth with enough trades"
        ),
        "depth (ticks)   fit /s   measured /s   held out /s",
    ]
    lines += [
        f"{d['depth_ticks']:>13g} {d['fit_per_s']:>8.3f} {d['measured_per_s']:>13.3f} "
        f"{d['held_out_per_s']:>13.3f}"
        for d in r["depths"]
    ]
    if "written" in r:
        lines.append(f"wrote     {r['written']} (use it with --config, or copy its [strategy])")
    return "\n".join(lines)
