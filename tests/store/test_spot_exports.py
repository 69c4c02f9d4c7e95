"""A spot session's stored fills as ``fills`` exports them: spot counts the base asset in 1e-8
lots, and a flat position reads 0.00000000, never Decimal's 0E-8."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tradetui.cli import app


def test_a_flat_spot_position_is_exported_in_plain_digits(tmp_path: Path) -> None:
    db = tmp_path / "spot.db"
    runner = CliRunner()
    env = {"TRADETUI_MARKET__START_PRICE": "2680"}
    run = [
        *("run", "--headless", "--speed", "max", "--duration", "900", "--seed", "3"),
        *("--market", "synthetic:spot:ETHUSDT", "--flatten-on-exit", "--db", str(db)),
    ]
    res = runner.invoke(app, run, env=env)
    assert res.exit_code == 0, res.stderr
    res = runner.invoke(app, ["fills", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.stderr
    fills = json.loads(res.stdout)
    assert fills, "the run should have traded"
    assert fills[-1]["position"] == "0.00000000"  # flattened on exit
    assert not [f for f in fills if "E" in f["qty"] + f["position"]]
