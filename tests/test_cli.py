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


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_halted_session_exits_3(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        f'[risk]\nmax_drawdown_session = 0.0001\n[engine]\ncontrol_socket = "{tmp_path}/c.sock"\n',
    )
    r = _run(
        "run", "--headless", "--duration", "300", "--speed", "max", "--json",
        "--config", str(cfg), "--db", str(tmp_path / "h.db"), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert json.loads(r.stdout)["state"] == "halted"


def test_a_session_whose_store_failed_exits_4(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path, f'[store]\nqueue_rows = 1\n[engine]\ncontrol_socket = "{tmp_path}/c.sock"\n'
    )
    r = _run(
        "run", "--headless", "--duration", "60", "--speed", "max", "--json",
        "--config", str(cfg), "--db", str(tmp_path / "f.db"), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 4, r.stderr
    summary = json.loads(r.stdout)
    assert summary["store_failed"]
    assert summary["fills_journaled"] + summary["fills_stored"] == summary["fills"]


def test_a_start_refused_because_another_instance_runs_exits_5(tmp_path: Path) -> None:
    cfg = _config(tmp_path, f'[engine]\ncontrol_socket = "{tmp_path}/c.sock"\n')
    first = subprocess.Popen(
        [*TRADETUI, "run", "--headless", "--duration", "60", "--config", str(cfg),
         "--db", str(tmp_path / "a.db")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    try:
        for _ in range(300):
            if (tmp_path / "c.sock").exists():
                break
            time.sleep(0.1)
        r = _run(
            "run", "--headless", "--duration", "5", "--config", str(cfg),
            "--db", str(tmp_path / "b.db"), cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 5, r.stderr
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1
        assert "another tradetui is running" in errors[0]
        assert "Traceback" not in r.stderr
        assert not (tmp_path / "b.db").exists()  # refused before the store opened
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "inf"], "--duration: must be > 0 and at most"),
        (["--duration", "1e300"], "--duration: must be > 0 and at most"),
        (["--speed", "1e-300"], "--speed: must be between 0.001 and 1e+06"),
        (["--speed", "inf"], "--speed: must be between 0.001 and 1e+06"),
        (["--seed", str(2**70)], "Invalid value for '--seed'"),
        (["--seed", "-5"], "Invalid value for '--seed'"),
    ],
)
def test_unbounded_run_options_are_refused_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    r = _run("run", "--headless", "--db", str(tmp_path / "x.db"), *args, cwd=tmp_path, timeout=30)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().startswith(f"error: {message}"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_control_socket_that_cannot_exist_refuses_the_start_and_exits(tmp_path: Path) -> None:
    # A socket path under a regular file used to raise after the store started, whose thread
    # then kept the process alive for ever.
    (tmp_path / "plain").write_text("")
    cfg = _config(tmp_path, f'[engine]\ncontrol_socket = "{tmp_path}/plain/c.sock"\n')
    r = _run(
        "run", "--headless", "--duration", "5", "--speed", "max", "--config", str(cfg),
        "--db", str(tmp_path / "x.db"), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert r.returncode == 5, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [
        f"error: engine.control_socket: cannot listen on {tmp_path}/plain/c.sock "
        "(File exists); set it to a path in a folder you own"
    ]
    assert "Traceback" not in r.stderr
