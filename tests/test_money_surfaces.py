"""One session read through every surface a user reads money on: the backtest summary (JSON
and text), ``report`` (JSON and text), ``fills --format csv``, the sweep row (JSON and table),
Telegram's /pnl and the console's PnL pane. They agree exactly, with one fee sign (fees paid
and rebates received are amounts >= 0; a fill's fee is positive when paid, negative when a
rebate: docs/units.md), and no binary-float artefacts."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual
from tradetui.alerts.views import pnl_text
from tradetui.backtest.run import run_backtest
from tradetui.cli import app
from tradetui.config import load_settings
from tradetui.engine.snapshot import take_snapshot
from tradetui.market.cache import load_events
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
from tradetui.market.synthetic import SyntheticMarket
from tradetui.tui.widgets.pnl import PnlPane

INST = btcusdt_perpetual()
T0_NS = 1_700_000_000 * 1_000_000_000
MONEY = ("pnl_total", "pnl_realized", "spread_capture", "inventory_pnl", "fees", "rebates")
# A linear market's money is exact in ticks × lots (1e-4 USDT) and fees to 8 decimals.
EIGHT = Decimal("1e-8")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events = SyntheticMarket(INST, seed=11, start_ns=T0_NS).events()
    encoder = CaptureEncoder(INST)
    out = tmp_path_factory.mktemp("money")
    with CaptureWriter(out, "btc", encoder.snapshot, instrument=INST) as writer:
        record_events(events, encoder, writer, T0_NS + 90 * 1_000_000_000)
    return writer.files[0]


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path / "cache"))


def cli(*args: str) -> str:
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def exact_json(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def line_value(text: str, label: str) -> str:
    """The value after ``label`` on its line of an aligned text block."""
    m = re.search(rf"^\s*{re.escape(label)}\s+(\S+)", text, re.M)
    assert m, f"{label!r} not in:\n{text}"
    return m.group(1)


# 2 bps paid on every maker fill; a 1.3 bps maker rebate (1.3 / 1e4 is 0.00013000000000000002
# in floats: the rate must stay the decimal it was written as).
@pytest.mark.parametrize("maker_bps", ["2.0", "-1.3"])
def test_every_surface_shows_the_same_exact_money_with_one_fee_sign(
    recorded: Path, tmp_path: Path, maker_bps: str
) -> None:
    config = tmp_path / "config.toml"
    # The fee floor off: the surfaces are compared over many fills.
    config.write_text(f"[sim]\nmaker_fee_bps = {maker_bps}\n[strategy]\nfee_floor = false\n")
    db = tmp_path / "runs.db"
    summary_text = cli(
        "backtest", str(recorded), "--config", str(config), "--db", str(db), "--json"
    )
    summary = exact_json(summary_text)
    report = exact_json(cli("report", "--db", str(db), "--config", str(config), "--json"))
    fills = list(csv.DictReader(io.StringIO(cli("fills", "--db", str(db), "--format", "csv"))))
    sweep_args = ["sweep", str(recorded), "--config", str(config), "--jobs", "1"]
    sweep_args += ["--param", "strategy.gamma=0.02"]  # the default: the same backtest
    [row] = exact_json(cli(*sweep_args, "--json"))
    assert summary["fills"] == report["fills"] == len(fills) == row["fills"] > 10

    # Exact decimals, no float noise: every money figure is a whole number of 1e-8.
    for key in MONEY:
        assert summary[key] == summary[key].quantize(EIGHT), (key, summary[key])
        assert report[key] == summary[key], key
        assert report["in_quote"][key] == summary["in_quote"][key] == summary[key], key
    for key in ("pnl_total", "spread_capture", "inventory_pnl", "fees"):
        assert row[key] == summary[key], key
    assert not re.search(r"\d\.\d*(0{6,}|9{6,})\d", summary_text)

    # One sign: fees paid and rebates received are >= 0; a fill's fee is positive when paid,
    # negative when it is a rebate; the fills add up to fees - rebates.
    fees, rebates = summary["fees"], summary["rebates"]
    assert fees >= 0
    assert rebates >= 0
    per_fill = [Decimal(f["fee"]) for f in fills]
    assert all(re.fullmatch(r"-?\d+(\.\d{1,8})?", f["fee"]) for f in fills)
    assert sum(per_fill) == fees - rebates
    assert sum(f for f in per_fill if f > 0) == fees
    assert sum(-f for f in per_fill if f < 0) == rebates
    if maker_bps.startswith("-"):
        assert rebates > 0
        assert fees == 0
    else:
        assert fees > 0
        assert rebates == 0
    assert summary["pnl_total"] == summary["pnl_realized"] + summary["pnl_unrealized"] - fees + (
        rebates
    )

    # The texts: the same amounts at four decimals, fees and rebates without a sign.
    shown = {k: f"{summary[k]:,.4f}" for k in MONEY}
    text = cli("backtest", str(recorded), "--config", str(config))
    for name, out in (("backtest", text), ("report", cli("report", "--db", str(db)))):
        assert line_value(out, "PnL total") == f"{summary['pnl_total']:+,.4f}", name
        assert line_value(out, "fees paid") == shown["fees"], name
        assert line_value(out, "rebates") == shown["rebates"], name
    table = cli(*sweep_args)
    assert "fees paid" in table
    assert f" {shown['fees']} " in table
    assert f"+{shown['fees']} " not in table

    # Telegram /pnl and the console's PnL pane, from the same run in this process.
    settings = load_settings(config)
    result = run_backtest(settings, INST, load_events([recorded], INST)[0])
    snap = take_snapshot(result.engine, 5)
    assert (snap.pnl.fees, snap.pnl.rebates, snap.pnl.total) == (
        fees,
        rebates,
        summary["pnl_total"],
    )
    telegram = pnl_text(snap)
    assert f"fees paid {shown['fees']} USDT, rebates received {shown['rebates']} USDT" in telegram
    assert f"PnL total {summary['pnl_total']:+,.4f} USDT" in telegram
    pane = PnlPane().render_snapshot(snap).plain
    assert line_value(pane, "fees paid") == shown["fees"]
    assert f"rebates {shown['rebates']}" in pane
    assert line_value(pane, "total") == f"{summary['pnl_total']:+,.4f}"
