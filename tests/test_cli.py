"""The command line as a user runs it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TRADETUI = [sys.executable, "-m", "tradetui"]


def _run(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(cwd or "/nonexistent")}
    return subprocess.run(
        [*TRADETUI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


def test_headless_run_prints_json_summary_with_fills(tmp_path: Path) -> None:
    r = _run(
        "run",
        "--headless",
        "--duration",
        "60",
        "--seed",
        "1",
        "--json",
        "--speed",
        "max",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    for key in (
        "fills",
        "volume_quote",
        "pnl_total",
        "fees",
        "position_base",
        "orders_placed",
        "orders_cancelled",
        "duration_s",
    ):
        assert key in s, key
    assert s["fills"] > 0
    assert abs(s["duration_s"] - 60.0) < 0.1
    assert s["state"] == "stopped"
    assert s["open_orders"] == 0


def test_human_summary_is_readable(tmp_path: Path) -> None:
    r = _run("run", "--headless", "--duration", "20", "--speed", "max", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "PnL total" in r.stdout
    assert "cost per 10k" in r.stdout


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ("[strategy]\nfoo = 1\n", "strategy.foo: unknown key"),
        ('[strategy]\ngamma = "x"\n', "strategy.gamma: expected float"),
        ("[strategy]\norder_size = -1\n", "strategy.order_size: must be > 0"),
        ("[strategy]\ngamma = 0\n", "strategy.gamma: must be > 0"),
        (
            '[venue]\nsymbol = "DOGEUSDT"\n',
            "venue.symbol: no instrument 'DOGEUSDT' in the catalog cache",
        ),
        ("[strategy]\norder_size = 0.0001\n", "strategy.order_size: 0.0001 is below one lot"),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path: Path, config: str, needle: str) -> None:
    (tmp_path / "config.toml").write_text(config)
    r = _run("run", "--headless", "--duration", "1", "--speed", "max", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--speed", "fast"), "--speed"),
        (("--speed", "0"), "--speed"),
        (("--duration", "-5"), "--duration"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    r = _run("run", "--headless", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    r = _run("run", "--headless", "--config", str(tmp_path / "none.toml"), cwd=tmp_path)
    assert r.returncode == 2
    assert "config file not found" in r.stderr


def test_sigterm_cancels_orders_prints_summary_exits_0(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    p = subprocess.Popen(
        [*TRADETUI, "run", "--headless", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        # Wait until the engine is running (it logs the transition), then let it quote.
        deadline = time.monotonic() + 30
        assert p.stderr is not None
        while time.monotonic() < deadline:
            line = p.stderr.readline()
            if "→ running" in line:
                break
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0, err
    s = json.loads(out)
    assert s["open_orders"] == 0
    assert s["state"] == "stopped"
    assert s["orders_placed"] > 0
    assert "SIGTERM received" in err


def test_verify_as_paper_json_has_both_strategies() -> None:
    r = _run("verify", "as-paper", "--gamma", "0.1", "--paths", "200", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["gamma"] == 0.1
    assert out["paths"] == 200
    for strat in ("inventory", "symmetric"):
        assert set(out[strat]) >= {"spread", "profit_mean", "profit_std", "q_mean", "q_std"}
    assert out["inventory"]["q_std"] < out["symmetric"]["q_std"]


def test_verify_rejects_nonpositive_gamma() -> None:
    r = _run("verify", "as-paper", "--gamma", "0")
    assert r.returncode == 2
    assert "--gamma: must be > 0" in r.stderr


def test_config_example_matches_the_file() -> None:
    r = _run("config", "example")
    assert r.returncode == 0
    assert r.stdout == (Path(__file__).resolve().parents[1] / "config.toml.example").read_text()


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, tradetui.cli; "
        "mods = ('numpy', 'ccxt', 'textual', 'xgboost', 'pandas'); "
        "print([m for m in mods if m in sys.modules])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("train", "x.gz", "--horizon", "abc"), "Invalid value for '--horizon'"),
        (("backtest", "x.gz", "--latency-ms", "soon"), "Invalid value for '--latency-ms'"),
        (("sandbox", "telegram", "--port", "http"), "Invalid value for '--port'"),
        (("sandbox", "telegram", "--port", "99999"), "Invalid value for '--port'"),
        (("sandbox", "exchange", "--port", "-1"), "Invalid value for '--port'"),
        (("backtest", "x.gz", "--no-such-flag"), "No such option: --no-such-flag"),
        (("telegram", "tset"), "No such command 'tset'"),
    ],
)
def test_argument_the_parser_rejects_is_one_line_exit_2(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    r = _run(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ")
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--help" in r.stderr


def test_the_console_takes_config_before_any_command(tmp_path: Path) -> None:
    # `tradetui --config FILE` is how README opens the console on a config (e.g. a dry run).
    r = _run("--config", str(tmp_path / "none.toml"), cwd=tmp_path)
    assert r.returncode == 2
    assert "none.toml: config file not found" in r.stderr


def test_a_console_option_before_a_command_is_one_line(tmp_path: Path) -> None:
    r = _run("--db", str(tmp_path / "x.db"), "sessions", cwd=tmp_path)
    assert r.returncode == 2
    assert "--db before 'sessions' is a console option" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_status_without_xdg_runtime_dir_says_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    r = subprocess.run(
        [*TRADETUI, "status"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "no running tradetui" in r.stderr
