"""``tradetui screen`` refuses bad inputs with one line and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

TRADETUI = [sys.executable, "-m", "tradetui", "screen"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "needle", "code"),
    [
        (["--sort", "price"], "--sort 'price': use one of spread, vol, volume, trades, edge", 2),
        (["--duration", "soon"], "--duration 'soon': expected a positive duration", 2),
        (["--venue", "kraken"], "--venue 'kraken': the screener watches", 2),
        (["--max-streams", "2000"], "--max-streams 2000: Binance allows at most 1024", 2),
        (["--rest-url", "nonsense"], "venue.rest_url: expected scheme://host[:port]", 2),
        (
            ["--rest-url", "http://127.0.0.1:{port}"],
            "binanceusdm: the symbol list could not be read from http://127.0.0.1:",
            1,
        ),
    ],
)
def test_bad_input_is_one_line(args: list[str], needle: str, code: int) -> None:
    args = [a.format(port=_closed_port()) for a in args]
    if "--duration" not in args:
        args += ["--duration", "1s"]
    done = subprocess.run(
        [*TRADETUI, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in done.stderr


def test_many_symbols_on_spot_is_one_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradetui",
            "sandbox",
            "exchange",
            "--venue",
            "spot",
            "--symbols",
            "50",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --symbols: many symbols are served on Binance USD-M and COIN-M only; drop it or "
        "use --venue usdm or coinm"
    ]
