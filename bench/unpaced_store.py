"""A long unpaced session with the store: does the database fill as it trades, and does memory
stay flat? (prints one JSON object)

Runs ``tradetui run --headless --speed max --duration D --db X --json`` and samples, once a
second, the process's resident memory and how many fills the database holds (read-only, as
another reader would). Reports RSS at the first and last sample and its peak, the fills
stored at half the wall time, and the session's own summary figures. The default strategy
loses money over long runs, so the run's config turns the drawdown and hourly-loss halts off
(the question here is the store, not the strategy); --config replaces it.

    python bench/unpaced_store.py [--duration 20000] [--seed 1] [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_NO_LOSS_HALTS = "[risk]\nmax_drawdown_session = 0\nmax_drawdown_day = 0\nmax_loss_per_hour = 0\n"


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _stored_fills(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT count(*) FROM fills").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20_000, help="market seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--config", type=Path, help="config file (default: loss halts off)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "unpaced.db"
        config = args.config
        if config is None:
            config = Path(tmp) / "config.toml"
            config.write_text(_NO_LOSS_HALTS + f'[engine]\ncontrol_socket = "{tmp}/c.sock"\n')
        cmd = [sys.executable, "-m", "tradetui", "run", "--headless", "--speed", "max"]
        cmd += ["--duration", str(args.duration), "--seed", str(args.seed), "--json"]
        cmd += ["--db", str(db), "--config", str(config)]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tmp)
        samples: list[tuple[float, float, int]] = []
        while proc.poll() is None:
            rss = _rss_mb(proc.pid)
            if rss:  # 0 (or None) until the interpreter has started
                samples.append((time.monotonic() - t0, rss, _stored_fills(db)))
            time.sleep(1.0)
        out, _ = proc.communicate()
        wall_s = time.monotonic() - t0
    summary: dict[str, Any] = json.loads(out) if out.strip() else {}
    half = next((s for s in samples if s[0] >= wall_s / 2), samples[-1] if samples else None)
    print(
        json.dumps(
            {
                "duration_market_s": args.duration,
                "exit_code": proc.returncode,
                "state": summary.get("state"),
                "halt_reason": summary.get("halt_reason"),
                "wall_s": round(wall_s, 1),
                "fills": summary.get("fills"),
                "fills_stored": summary.get("fills_stored"),
                "fills_in_db_at_half_wall_time": half[2] if half else None,
                "rss_mb_first": round(samples[0][1], 1) if samples else None,
                "rss_mb_peak": round(max(s[1] for s in samples), 1) if samples else None,
                "rss_mb_last": round(samples[-1][1], 1) if samples else None,
                "samples": len(samples),
            }
        )
    )


if __name__ == "__main__":
    main()
