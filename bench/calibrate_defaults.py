"""The strategy's default σ, A and k priors, fitted on data other than the demo file.

The demo backtests the USD-M BTCUSDT recording (binance-usdm/btcusdt_20240808.gz), so the
defaults are fitted on the spot BTCUSDT recording (binance-spot/btcusdt_20240808.gz and
_20240809.gz: the same asset, another venue's order flow, 650 s, twice the demo's length)
and checked on the demo file as held-out data. The spot files are quoted in 0.01 USDT and the
default market (USD-M BTCUSDT) in 0.1, so the fit runs with ``--for-tick 0.1``: λ is counted
at the engine's depths in 0.1 ticks, σ and k are expressed per 0.1 tick.

Prints one JSON object: the ``tradetui calibrate --json`` report and the ``defaults`` it gives.
``--write`` puts those defaults into tradetui/config.py (``[strategy]`` sigma_prior_ticks,
a_prior, k_prior), so the numbers there come from this script.

    python bench/calibrate_defaults.py [--data ../shared/data] [--write]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from figures import DATA, ROOT, catalog_env

FIT_FILES = ("binance-spot/btcusdt_20240808.gz", "binance-spot/btcusdt_20240809.gz")
HELD_OUT_FILES = ("binance-usdm/btcusdt_20240808.gz",)
FOR_TICK = "0.1"
CONFIG = ROOT / "tradetui" / "config.py"
# config.py key -> the report's fit field that sets it.
KEYS = {"sigma_prior_ticks": "sigma_ticks", "a_prior": "a_per_s", "k_prior": "k_per_tick"}


def calibrate(data: Path, env: dict[str, str]) -> dict[str, object]:
    """The ``tradetui calibrate --json`` report of the spot fit, held out on the demo file."""
    cmd = [sys.executable, "-m", "tradetui", "calibrate"]
    cmd += [str(data / f) for f in FIT_FILES]
    for f in HELD_OUT_FILES:
        cmd += ["--validate", str(data / f)]
    cmd += ["--for-tick", FOR_TICK, "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"calibrate_defaults: {' '.join(cmd)} failed: {done.stderr.strip()}")
    report: dict[str, object] = json.loads(done.stdout)
    return report


def write_defaults(defaults: dict[str, float]) -> None:
    """Replace the default value of each key's ``_f(...)`` in tradetui/config.py."""
    text = CONFIG.read_text()
    for key, value in defaults.items():
        pattern = re.compile(rf"(\n    {key}: float = _f\(\s*)[-0-9.e]+,")
        text, n = pattern.subn(rf"\g<1>{value!r},", text, count=1)
        if n != 1:
            sys.exit(f"calibrate_defaults: {CONFIG}: no `{key}: float = _f(VALUE,` to update")
    CONFIG.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--write", action="store_true", help="update tradetui/config.py")
    args = ap.parse_args()
    missing = [f for f in (*FIT_FILES, *HELD_OUT_FILES) if not (args.data / f).is_file()]
    if missing:
        sys.exit(f"calibrate_defaults: {args.data}: missing {', '.join(missing)}; pass --data")
    with tempfile.TemporaryDirectory() as catalog:
        report = calibrate(args.data, catalog_env(Path(catalog)))
    fit = report["fit"]
    assert isinstance(fit, dict)
    defaults = {key: float(fit[field]) for key, field in KEYS.items()}
    if args.write:
        write_defaults(defaults)
    print(json.dumps({"calibrate": report, "defaults": defaults, "written": args.write}))


if __name__ == "__main__":
    main()
