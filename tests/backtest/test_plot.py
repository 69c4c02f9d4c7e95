"""`backtest --plot`: a readable PNG of price with our fills, inventory and PnL."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.backtest.test_backtest import INST, _app, market
from tradetui.backtest.plot import plot_series, write_plot
from tradetui.backtest.report import build_report
from tradetui.backtest.run import BacktestResult, run_backtest
from tradetui.config import Settings
from tradetui.market.files import ReplayReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def run() -> tuple[BacktestResult, dict[str, Any]]:
    result = run_backtest(Settings(), INST, market(120))
    return result, build_report(result, ReplayReport(), cached=False)


def test_plot_series_follow_the_run(run: tuple[BacktestResult, dict[str, Any]]) -> None:
    result, report = run
    s = plot_series(result)
    assert len(s.buy_t_s) + len(s.sell_t_s) == report["fills"] > 0
    assert s.equity[-1] == pytest.approx(float(report["pnl_total"]), abs=1e-6)
    inv = report["inventory"]
    assert s.inventory_size[-1] == pytest.approx(inv["final_size"])
    assert s.inventory_t_s[-1] == pytest.approx(report["duration_s"], abs=1.0)
    assert len(s.t_s) == len(s.mid) == len(s.equity) <= 4001
    assert s.t_s == sorted(s.t_s)
    assert all(0 <= t <= s.inventory_t_s[-1] for t in s.buy_t_s + s.sell_t_s)


def test_plot_is_a_png_of_the_stated_size(
    run: tuple[BacktestResult, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "run.png"
    write_plot(plot_series(run[0]), out)
    assert png_size(out) == (1100, 850)
    assert out.stat().st_size > 20_000, "three panels with lines, not a blank canvas"


def test_cli_plot_writes_the_png_and_names_it(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    r = CliRunner().invoke(_app(), ["record", "--out", str(rec), "--seconds", "30"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "bt.png"
    r = CliRunner().invoke(
        _app(),
        ["backtest", *map(str, sorted(rec.glob("*.gz"))), "--plot", str(out), "--json"],
        env={"TRADETUI_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["plot"] == str(out)
    assert png_size(out) == (1100, 850)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("no_such_folder/out.png", "folder"),
        ("out.txt", "ending in .png"),
        ("adir.png", "is a directory"),
    ],
)
def test_cli_bad_plot_path_is_one_line_before_any_work(
    tmp_path: Path, name: str, says: str
) -> None:
    (tmp_path / "adir.png").mkdir()
    target = tmp_path / name
    # The data file does not exist: the plot path is checked first, so that is not the error.
    r = CliRunner().invoke(
        _app(), ["backtest", str(tmp_path / "missing.gz"), "--plot", str(target)]
    )
    assert r.exit_code == 2
    assert r.output.startswith(f"error: --plot {target}: ")
    assert says in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_plotting_library_loads_only_for_a_plot() -> None:
    code = (
        "import sys, tradetui.cli, tradetui.commands.data, tradetui.backtest.plot; "
        "print('matplotlib' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
