"""The token never reaches a log line; `tradetui telegram test`; the headless done-when run."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.telegram.conftest import (
    STRANGER,
    TOKEN,
    TRADER,
    VIEWER,
    start_rig,
    stop_rig,
    telegram_settings,
)
from tradetui.alerts.message import AlertKind, Level
from tradetui.sandbox.telegram import SandboxBotApi

TRADETUI = [sys.executable, "-m", "tradetui"]


async def test_token_never_appears_in_any_log_line(
    api: SandboxBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = await start_rig(api, telegram_settings(api.base_url))
    try:
        await rig.ask(TRADER, "/status", "running")
        rig.api.inject_message(STRANGER, "/status")
        api.faults.drop_next(1, methods=("sendMessage",))
        rig.service.notifier.alert(Level.WARNING, AlertKind.ERROR, "ERROR", "after a drop")
        assert await api.wait_for_message(TRADER, "after a drop", timeout_s=10) is not None
        api.faults.fail_next(429, count=1, retry_after_s=1, methods=("sendMessage",))
        rig.service.notifier.alert(Level.WARNING, AlertKind.ERROR, "ERROR", "after a 429")
        assert await api.wait_for_message(TRADER, "after a 429", timeout_s=10) is not None
        api.faults.drop_next(1, methods=("getUpdates",))
        await rig.ask(TRADER, "/pnl", "PnL total", timeout_s=10)
    finally:
        await stop_rig(rig)
    secret = TOKEN.split(":", 1)[1]
    lines = [caplog.handler.format(r) for r in caplog.records]
    assert len(lines) > 20, "the run logged (so the check below means something)"
    assert any("<redacted>" in line for line in lines), "the token was there to redact"
    leaked = [line for line in lines if secret in line]
    assert leaked == []


def _env(tmp_path: Path, token: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock"),
    }
    env.pop("TRADETUI_TELEGRAM_TOKEN", None)
    if token is not None:
        env["TRADETUI_TELEGRAM_TOKEN"] = token
    return env


def _config(tmp_path: Path, api: SandboxBotApi, chats: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(
        f'[telegram]\nenabled = true\napi_base_url = "{api.base_url}"\nchats = "{chats}"\n'
    )
    return p


async def _run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *TRADETUI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_telegram_test_reaches_each_chat(api: SandboxBotApi, tmp_path: Path) -> None:
    cfg = _config(tmp_path, api, f"{TRADER}:trader, {VIEWER}:viewer")
    code, out, err = await _run(["telegram", "test", "-c", str(cfg)], _env(tmp_path, TOKEN))
    assert code == 0, err
    assert f"ok: chat {TRADER} (trader) reached" in out
    assert f"ok: chat {VIEWER} (viewer) reached" in out
    assert "TEST · PAPER" in api.sent_to(VIEWER)[0].text
    assert TOKEN not in out + err


async def test_telegram_test_fails_with_one_line(api: SandboxBotApi, tmp_path: Path) -> None:
    cfg = _config(tmp_path, api, f"{TRADER}:trader, {VIEWER}:viewer")
    code, out, err = await _run(["telegram", "test", "-c", str(cfg)], _env(tmp_path, None))
    assert code != 0
    assert err.strip().count("\n") == 0
    assert "TRADETUI_TELEGRAM_TOKEN is empty" in err
    code, out, err = await _run(["telegram", "test", "-c", str(cfg)], _env(tmp_path, "1:wrong"))
    assert code != 0
    assert "refused the token" in err
    api.blocked_chats.add(VIEWER)
    code, out, err = await _run(["telegram", "test", "-c", str(cfg)], _env(tmp_path, TOKEN))
    assert code != 0
    assert f"FAIL: chat {VIEWER} (viewer): Forbidden" in out
    assert "1 of 2 chat(s) unreachable" in err
    api.inject_message(VIEWER, "hello bot")
    code, out, err = await _run(
        ["telegram", "test", "-c", str(_config(tmp_path, api, ""))], _env(tmp_path, TOKEN)
    )
    assert code != 0
    assert (
        'telegram.chats is empty; add e.g. chats = "CHAT_ID:trader"; '
        f"chats that wrote to the bot lately: {VIEWER}" in err
    )


async def test_telegram_test_refuses_a_malformed_token_before_any_call(
    api: SandboxBotApi, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, api, f"{TRADER}:trader")
    code, _, err = await _run(["telegram", "test", "-c", str(cfg)], _env(tmp_path, "abc def"))
    assert code != 0
    assert err.strip() == (
        "error: TRADETUI_TELEGRAM_TOKEN: does not look like a bot token "
        "(expected <bot id>:<secret> from @BotFather)"
    )
    assert api.calls == type(api.calls)(), "nothing was sent"


async def test_run_refuses_enabled_telegram_without_token(
    api: SandboxBotApi, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, api, f"{TRADER}:trader")
    args = ["run", "--headless", "--duration", "1", "-c", str(cfg)]
    code, _, err = await _run(args, _env(tmp_path, None))
    assert code == 2
    assert "error: telegram.enabled is true but the environment variable" in err
    assert api.calls == type(api.calls)(), "nothing was sent"


async def test_headless_run_alerts_answers_ignores_and_flattens(
    api: SandboxBotApi, tmp_path: Path
) -> None:
    """The issue's done-when, end to end through the CLI and the real client."""
    cfg = _config(tmp_path, api, f"{TRADER}:trader")
    proc = await asyncio.create_subprocess_exec(
        *TRADETUI,
        "run",
        "--headless",
        "--speed",
        "10",
        "--json",
        "-c",
        str(cfg),
        "--db",
        str(tmp_path / "paper.db"),
        env=_env(tmp_path, TOKEN),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        started = await api.wait_for_message(TRADER, "STARTED · PAPER", timeout_s=30)
        assert started is not None, "no start message"
        before = len(api.sent_to(TRADER))
        api.inject_message(STRANGER, "/status")
        api.inject_message(TRADER, "/status")
        status = await api.wait_for_message(TRADER, "running", timeout_s=5, after=before)
        assert status is not None
        assert "BTCUSDT on sim · PAPER" in status.text
        # Flatten only once there is a position, so the flatten has something to close.
        question = None
        for _ in range(40):
            before = len(api.sent_to(TRADER))
            api.inject_message(TRADER, "/flatten")
            question = await api.wait_for_message(
                TRADER, "Flatten the position", timeout_s=5, after=before
            )
            assert question is not None
            if not question.text.startswith("Flatten the position (+0 BTC)"):
                break
            await asyncio.sleep(0.5)
        assert question is not None
        assert not question.text.startswith("Flatten the position (+0 BTC)"), "never a position"
        api.inject_callback(TRADER, question.message_id, question.buttons[0][1])
        done = await api.wait_for_message(TRADER, "FLATTEN FLAT · PAPER", timeout_s=10)
        assert done is not None
        assert await api.wait_until(lambda: "✅ flatten: flattening" in question.text)
        assert api.sent_to(STRANGER) == []
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    log = err.decode()
    assert proc.returncode == 0, log
    assert f"ignoring chat {STRANGER}" in log
    assert "engine flattening → stopped" in log
    assert TOKEN.split(":", 1)[1] not in log
    summary = json.loads(out.decode())
    assert summary["state"] == "stopped"
    assert summary["position_base"] == 0
    assert summary["open_orders"] == 0
