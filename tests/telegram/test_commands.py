"""Each chat command round trip with the real python-telegram-bot client against the sandbox."""

from __future__ import annotations

import logging
import re

import pytest

from tests.telegram.conftest import STRANGER, TRADER, VIEWER, Rig
from tradetui.engine.events import EngineState


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("/status", "BTCUSDT on sim · PAPER · running"),
        ("/pnl", "PnL total"),
        ("/position", "of the position limit"),
        ("/orders", "working order"),
        ("/params", "strategy.gamma = 0.02"),
        ("/help", "/flatten"),
    ],
)
async def test_read_commands_answer_allowed_chats(rig: Rig, command: str, expect: str) -> None:
    await rig.ask(TRADER, command, expect)
    await rig.ask(VIEWER, command, expect if command != "/help" else "this chat is a viewer")


async def test_positions_are_told_in_the_base_asset(rig: Rig) -> None:
    assert re.match(r"position [+-][0-9.e+-]+ BTC\n", await rig.ask(VIEWER, "/position", "entry"))
    assert re.search(r"\nposition [+-][0-9.e+-]+ BTC \(", await rig.ask(VIEWER, "/status", "risk"))
    flatten = await rig.ask(TRADER, "/flatten", "Flatten the position")
    assert re.match(r"Flatten the position \([+-][0-9.e+-]+ BTC\)\?", flatten)


async def test_viewer_help_lists_no_trading_commands(rig: Rig) -> None:
    text = await rig.ask(VIEWER, "/help", "viewer")
    assert "/status" in text
    assert "/flatten" not in text
    assert "/set" not in text


async def test_stop_and_start_round_trip(rig: Rig) -> None:
    assert "✅ stop: stopping" in await rig.ask(TRADER, "/stop", "stop")
    await rig.wait_state(EngineState.STOPPED)
    assert "✅ start: starting" in await rig.ask(TRADER, "/start", "start")
    await rig.wait_state(EngineState.RUNNING)


async def test_viewer_cannot_trade(rig: Rig) -> None:
    for command in ("/stop", "/flatten", "/halt", "/start", "/set gamma=0.05"):
        await rig.ask(VIEWER, command, "viewer role")
    assert rig.host.engine.state is EngineState.RUNNING
    assert rig.host.engine.settings.strategy.gamma == 0.02
    assert all(not m.buttons for m in rig.api.sent_to(VIEWER))


async def test_stranger_is_ignored_and_logged_once(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tradetui.alerts.bot")
    for text in ("/status", "/flatten", "/halt"):
        rig.api.inject_message(STRANGER, text)
    # An allowed chat's later command is answered, so the stranger's were handled by then.
    await rig.ask(TRADER, "/status", "running")
    assert rig.api.sent_to(STRANGER) == []
    ignored = [r for r in caplog.records if f"ignoring chat {STRANGER}" in r.getMessage()]
    assert len(ignored) == 1
    assert rig.host.engine.state is EngineState.RUNNING


async def test_flatten_needs_the_button_and_cancel_does_nothing(rig: Rig) -> None:
    await rig.ask(TRADER, "/flatten", "Flatten the position")
    question = rig.api.sent_to(TRADER)[-1]
    assert [label for label, _ in question.buttons] == ["Flatten now", "Cancel"]
    assert rig.host.engine.state is EngineState.RUNNING
    rig.api.inject_callback(TRADER, question.message_id, question.buttons[1][1])
    assert await rig.api.wait_until(lambda: "cancelled" in question.text)
    assert rig.host.engine.state is EngineState.RUNNING


async def test_confirmed_flatten_flattens_once(rig: Rig) -> None:
    await rig.ask(TRADER, "/flatten", "Flatten the position")
    question = rig.api.sent_to(TRADER)[-1]
    confirm = question.buttons[0][1]
    rig.api.inject_callback(TRADER, question.message_id, confirm)
    assert await rig.api.wait_until(lambda: "✅ flatten: flattening" in question.text)
    await rig.wait_state(EngineState.STOPPED)
    alert = await rig.api.wait_for_message(TRADER, "FLATTEN FLAT · PAPER")
    assert alert is not None
    # The same button a second time is refused: a confirmation works once.
    rig.api.inject_callback(TRADER, question.message_id, confirm)
    assert await rig.api.wait_until(lambda: "no longer valid" in question.text)


async def test_flatten_confirmation_expires(rig: Rig) -> None:
    await rig.ask(TRADER, "/flatten", "Flatten the position")
    question = rig.api.sent_to(TRADER)[-1]
    confirmations = rig.service.commands.confirmations
    real = confirmations.clock
    confirmations.clock = lambda: real() + confirmations.timeout_s + 1.0
    rig.api.inject_callback(TRADER, question.message_id, question.buttons[0][1])
    assert await rig.api.wait_until(lambda: "expired" in question.text)
    assert rig.host.engine.state is EngineState.RUNNING


async def test_confirmed_halt_then_confirmed_restart(rig: Rig) -> None:
    await rig.ask(TRADER, "/halt", "HALT trading?")
    question = rig.api.sent_to(TRADER)[-1]
    rig.api.inject_callback(TRADER, question.message_id, question.buttons[0][1])
    await rig.wait_state(EngineState.HALTED)
    halted = await rig.api.wait_for_message(VIEWER, "HALTED · PAPER")
    assert halted is not None
    assert f"kill switch (telegram chat {TRADER})" in halted.text
    await rig.ask(TRADER, "/start", "Start quoting again?")
    question = rig.api.sent_to(TRADER)[-1]
    rig.api.inject_callback(TRADER, question.message_id, question.buttons[0][1])
    await rig.wait_state(EngineState.RUNNING)


async def test_set_applies_valid_values_and_refuses_bad_ones(rig: Rig) -> None:
    assert "applied strategy.gamma=0.05" in await rig.ask(TRADER, "/set gamma=0.05", "gamma")
    assert rig.host.engine.settings.strategy.gamma == 0.05
    await rig.ask(TRADER, "/set quoting.max_age_s 12", "applied quoting.max_age_s=12.0")
    assert rig.host.engine.settings.quoting.max_age_s == 12.0
    await rig.ask(TRADER, "/set gamma=abc", "expected a number")
    await rig.ask(TRADER, "/set gamma=-1", "must be > 0")
    await rig.ask(TRADER, "/set nosuch=1", "not a parameter")
    await rig.ask(TRADER, "/set", "usage: /set name=value")
    await rig.ask(TRADER, "/set symbol=ETHUSDT", "cannot change while the engine runs")
    assert rig.host.engine.settings.strategy.gamma == 0.05
    assert rig.host.engine.settings.venue.symbol == "BTCUSDT"


async def test_unknown_command_points_to_help(rig: Rig) -> None:
    await rig.ask(TRADER, "/moon", "/help")
