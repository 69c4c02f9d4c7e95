"""The loopback Bot API itself: auth, long polling with offsets, faults and the curl endpoints."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from tests.telegram.conftest import TOKEN, TRADER, start_rig, stop_rig, telegram_settings
from tradetui.alerts.setup import telegram_alongside
from tradetui.alerts.telegram import TelegramService
from tradetui.config import Settings
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.host import EngineHost
from tradetui.sandbox.telegram import SandboxBotApi
from tradetui.session import build_paper_session


async def _call(
    api: SandboxBotApi, method: str, token: str = TOKEN, **params: Any
) -> tuple[int, dict[str, Any]]:
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{api.base_url}/bot{token}/{method}", data=form) as r,
    ):
        return r.status, await r.json()


async def test_wrong_token_is_401(api: SandboxBotApi) -> None:
    status, body = await _call(api, "getMe", token="1:nope")
    assert (status, body["ok"], body["error_code"]) == (401, False, 401)
    status, body = await _call(api, "getMe")
    assert body["result"]["is_bot"] is True


async def test_long_poll_returns_an_injected_update_and_offset_confirms(
    api: SandboxBotApi,
) -> None:
    poll = asyncio.create_task(_call(api, "getUpdates", offset=0, timeout=10))
    await asyncio.sleep(0.2)
    t = time.monotonic()
    uid = api.inject_message(TRADER, "/status now")
    _, body = await poll
    assert time.monotonic() - t < 5.0
    [update] = body["result"]
    assert update["update_id"] == uid
    entity = update["message"]["entities"][0]
    assert (entity["type"], entity["length"]) == ("bot_command", len("/status"))
    _, body = await _call(api, "getUpdates", offset=uid, timeout=0)
    assert len(body["result"]) == 1, "not confirmed until offset passes it"
    _, body = await _call(api, "getUpdates", offset=uid + 1, timeout=0)
    assert body["result"] == []


async def test_429_carries_retry_after_and_counts_down(api: SandboxBotApi) -> None:
    api.faults.fail_next(429, count=1, retry_after_s=3, methods=("sendMessage",))
    _, body = await _call(api, "getMe")
    assert body["ok"], "other methods are not faulted"
    status, body = await _call(api, "sendMessage", chat_id=1, text="hi")
    assert (status, body["parameters"]["retry_after"]) == (429, 3)
    _, body = await _call(api, "sendMessage", chat_id=1, text="hi")
    assert body["ok"]
    assert [m.text for m in api.sent_to(1)] == ["hi"]


async def test_dropped_connection_gives_no_answer(api: SandboxBotApi) -> None:
    api.faults.drop_next(1)
    with pytest.raises(aiohttp.ClientError):
        await _call(api, "getMe")
    _, body = await _call(api, "getMe")
    assert body["ok"]


async def test_delete_webhook_can_drop_pending_updates(api: SandboxBotApi) -> None:
    api.inject_message(TRADER, "/flatten")
    await _call(api, "deleteWebhook", drop_pending_updates=True)
    _, body = await _call(api, "getUpdates", timeout=0)
    assert body["result"] == []


async def test_edit_and_curl_endpoints(api: SandboxBotApi) -> None:
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "ok:1"}]]}
    _, body = await _call(api, "sendMessage", chat_id=7, text="sure?", reply_markup=markup)
    mid = body["result"]["message_id"]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}/sandbox/press?chat=7") as r:
            assert (await r.json())["ok"]
        async with http.post(f"{api.base_url}/sandbox/send?chat=7&text=/status") as r:
            assert (await r.json())["ok"]
    _, body = await _call(api, "getUpdates", timeout=0)
    kinds = [next(k for k in u if k != "update_id") for u in body["result"]]
    assert kinds == ["callback_query", "message"]
    assert body["result"][0]["callback_query"]["data"] == "ok:1"
    await _call(api, "editMessageText", chat_id=7, message_id=mid, text="done")
    sent = api.message(7, mid)
    assert sent is not None
    assert (sent.text, sent.edits, sent.buttons) == ("done", 1, [])


async def test_unreachable_telegram_never_stops_trading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADETUI_TELEGRAM_TOKEN", TOKEN)
    settings = telegram_settings("http://127.0.0.1:9")  # nothing listens on the discard port
    # The fee floor off, so the minute of trading fills.
    session = build_paper_session(settings.replace("strategy", fee_floor=False), virtual=True)
    host = EngineHost(session, None)
    end_ns = session.start_ns + 60_000_000_000
    host.send(Command(CommandKind.START, reason="test"))
    async with telegram_alongside(host) as service:
        assert isinstance(service, TelegramService)
        await host.run(lambda: host.now_ns() >= end_ns)
        assert not service.ready.is_set()
    assert host.engine.state is EngineState.RUNNING
    assert host.engine.fills > 0


async def test_disabled_telegram_is_nothing() -> None:
    host = EngineHost(build_paper_session(Settings(), virtual=True), None)
    async with telegram_alongside(host) as service:
        assert service is None


@pytest.mark.parametrize("method", ["getMe", "deleteWebhook"])
async def test_connecting_retries_until_the_bot_api_answers(
    api: SandboxBotApi, method: str
) -> None:
    api.faults.fail_next(502, count=1, methods=(method,))
    rig = await start_rig(api, telegram_settings(api.base_url))
    try:
        assert rig.service.ready.is_set()
        assert api.count(method) >= 2
        await rig.ask(TRADER, "/status", "running")
    finally:
        await stop_rig(rig)
