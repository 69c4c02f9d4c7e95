"""A loopback Telegram Bot API server for tests, benches and `tradetui sandbox telegram`.

Speaks the subset a polling bot uses: ``POST /bot<token>/<method>`` with form fields (values
JSON unless they are text) or a JSON body, answering ``{"ok": true, "result": ...}``. It
records every call, keeps the messages the bot sent (edits applied), and lets a test inject
updates (a chat's message or a button press) that the bot's next ``getUpdates`` long poll
returns. Fault switches answer 429 with ``retry_after``, a 5xx, hold answers or drop the
connection, optionally only for some methods. The token is never logged or echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_CALL_LOG_LEN = 10_000
_MAX_POLL_S = 50.0
# Form fields that are plain strings even when they look like JSON ("123", "true").
_TEXT_FIELDS = frozenset({"text", "callback_query_id", "parse_mode", "description", "url"})


@dataclass(slots=True)
class Call:
    """One request the server received: the Bot API method and its decoded parameters."""

    method: str
    params: dict[str, Any]
    at_s: float


@dataclass(slots=True)
class BotFaults:
    """Misbehaviour switches, all off by default; each counts down per matching request.

    ``methods`` limits the faults to those Bot API methods (empty = every method).
    ``status``: answer with this error code (429 carries ``retry_after_s``); ``delay_s``: hold
    the answer this long (s); ``drop``: close the connection without answering.
    """

    methods: frozenset[str] = frozenset()
    status: int = 0
    status_count: int = 0
    retry_after_s: int = 1
    delay_s: float = 0.0
    delay_count: int = 0
    drop_count: int = 0

    def fail_next(
        self, status: int, count: int = 1, *, retry_after_s: int = 1, methods: tuple[str, ...] = ()
    ) -> None:
        """Answer the next ``count`` matching requests (-1 = until cleared) with ``status``."""
        self.status, self.status_count, self.retry_after_s = status, count, retry_after_s
        self.methods = frozenset(methods)

    def delay_next(self, seconds: float, count: int = 1, methods: tuple[str, ...] = ()) -> None:
        """Hold the next ``count`` matching answers (-1 = until cleared) ``seconds`` (s)."""
        self.delay_s, self.delay_count, self.methods = seconds, count, frozenset(methods)

    def drop_next(self, count: int = 1, methods: tuple[str, ...] = ()) -> None:
        """Close the connection of the next ``count`` matching requests (-1 = until cleared)."""
        self.drop_count, self.methods = count, frozenset(methods)

    def clear(self) -> None:
        """Turn every fault off."""
        self.status = self.status_count = self.delay_count = self.drop_count = 0
        self.delay_s = 0.0
        self.methods = frozenset()

    def applies(self, method: str) -> bool:
        return not self.methods or method in self.methods

    @staticmethod
    def _take(count: int) -> tuple[bool, int]:
        if count == 0:
            return False, 0
        return True, count - 1 if count > 0 else count

    def take_status(self) -> int:
        hit, self.status_count = self._take(self.status_count)
        return self.status if hit else 0

    def take_delay(self) -> float:
        hit, self.delay_count = self._take(self.delay_count)
        return self.delay_s if hit else 0.0

    def take_drop(self) -> bool:
        hit, self.drop_count = self._take(self.drop_count)
        return hit


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent (text after any edits), with its inline buttons' data."""

    chat_id: int
    message_id: int
    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (label, callback data)
    silent: bool = False
    edits: int = 0


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class SandboxBotApi:
    """One bot, any number of chats, Bot API on ``http://host:port/bot<token>/<method>``."""

    def __init__(
        self,
        token: str = "123456:sandbox-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "tradetui_sandbox_bot",
    ) -> None:
        self._token = token
        self._host = host
        self._port = port
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.username = username
        self.faults = BotFaults()
        self.calls: deque[Call] = deque(maxlen=_CALL_LOG_LEN)
        self.messages: list[SentMessage] = []
        # Chats that answer 403 "bot was blocked by the user" (for the doctor check).
        self.blocked_chats: set[int] = set()
        # Called with every message the bot sends or edits (the CLI prints them).
        self.listeners: list[Callable[[SentMessage], None]] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 1
        self._changed = asyncio.Condition()
        self._wakers: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "deleteWebhook": self._delete_webhook,
            "setMyCommands": lambda p: True,
            "getMyCommands": lambda p: [],
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": lambda p: True,
            "close": lambda p: True,
            "logOut": lambda p: True,
        }

    # ---- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (the ephemeral one when started with port 0)."""
        return self._port

    @property
    def base_url(self) -> str:
        """Scheme, host and port: the value for telegram.api_base_url."""
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        # For people trying the bot with curl: play a chat, read what the bot sent.
        app.router.add_post("/sandbox/send", self._sandbox_send)
        app.router.add_post("/sandbox/press", self._sandbox_press)
        app.router.add_get("/sandbox/messages", self._sandbox_messages)
        # No access log: request paths carry the token.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- what tests drive -----------------------------------------------------------------

    def inject_message(self, chat_id: int, text: str, *, user_id: int | None = None) -> int:
        """A chat sends ``text`` to the bot (a command when it starts with /); the update id."""
        user = user_id if user_id is not None else chat_id
        message: dict[str, Any] = {
            "message_id": self._new_message_id(),
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": {"id": user, "is_bot": False, "first_name": f"user{user}"},
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push({"message": message})

    def inject_callback(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> int:
        """Someone in ``chat_id`` presses the button carrying ``data`` under a bot message."""
        user = user_id if user_id is not None else chat_id
        sent = self.message(chat_id, message_id)
        query = {
            "id": f"cq{self._next_update_id}",
            "from": {"id": user, "is_bot": False, "first_name": f"user{user}"},
            "chat_instance": str(chat_id),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": _chat(chat_id),
                "from": self._me(),
                "text": sent.text if sent is not None else "",
            },
        }
        return self._push({"callback_query": query})

    def message(self, chat_id: int, message_id: int) -> SentMessage | None:
        """The bot's message ``message_id`` in ``chat_id`` as it reads now."""
        for m in self.messages:
            if m.chat_id == chat_id and m.message_id == message_id:
                return m
        return None

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to ``chat_id``, oldest first."""
        return [m for m in self.messages if m.chat_id == chat_id]

    def count(self, method: str) -> int:
        """How many ``method`` calls arrived (faulted ones included)."""
        return sum(1 for c in self.calls if c.method == method)

    async def wait_until(self, check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        """Wait until ``check()`` holds after some request (s); False on timeout."""

        async def waiting() -> None:
            async with self._changed:
                await self._changed.wait_for(check)

        try:
            await asyncio.wait_for(waiting(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def wait_for_message(
        self, chat_id: int, contains: str, timeout_s: float = 5.0, after: int = 0
    ) -> SentMessage | None:
        """The first message (index ≥ ``after`` in ``sent_to``) to ``chat_id`` containing
        ``contains``, waiting up to ``timeout_s`` (s)."""

        def find() -> SentMessage | None:
            for m in self.sent_to(chat_id)[after:]:
                if contains in m.text:
                    return m
            return None

        await self.wait_until(lambda: find() is not None, timeout_s)
        return find()

    # ---- the /sandbox endpoints -----------------------------------------------------------

    async def _sandbox_send(self, request: web.Request) -> web.StreamResponse:
        try:
            chat = int(request.query["chat"])
            text = request.query["text"]
        except (KeyError, ValueError):
            return web.json_response({"ok": False, "error": "need ?chat=ID&text=..."}, status=400)
        return web.json_response({"ok": True, "update_id": self.inject_message(chat, text)})

    async def _sandbox_press(self, request: web.Request) -> web.StreamResponse:
        """Press the first button of the newest message with buttons in ``chat``."""
        try:
            chat = int(request.query["chat"])
        except (KeyError, ValueError):
            return web.json_response({"ok": False, "error": "need ?chat=ID"}, status=400)
        which = int(request.query.get("button", "0"))
        for m in reversed(self.sent_to(chat)):
            if len(m.buttons) > which:
                uid = self.inject_callback(chat, m.message_id, m.buttons[which][1])
                return web.json_response({"ok": True, "update_id": uid})
        return web.json_response({"ok": False, "error": "no message with buttons"}, status=404)

    async def _sandbox_messages(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            [
                {
                    "chat_id": m.chat_id,
                    "message_id": m.message_id,
                    "text": m.text,
                    "buttons": [b[0] for b in m.buttons],
                    "silent": m.silent,
                }
                for m in self.messages
            ]
        )

    # ---- protocol -------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _push(self, body: dict[str, Any]) -> int:
        uid = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": uid, **body})
        # Wake long polls; the task is kept referenced until it has run.
        task = asyncio.get_running_loop().create_task(self._notify())
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)
        return uid

    def _new_message_id(self) -> int:
        mid = self._next_message_id
        self._next_message_id += 1
        return mid

    def _me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "tradetui",
            "username": self.username,
        }

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        form = await request.post()
        params: dict[str, Any] = dict(request.query)
        for key, value in form.items():
            if not isinstance(value, str):
                continue  # file uploads are not part of this sandbox
            if key in _TEXT_FIELDS:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params, time.monotonic()))
        await self._notify()
        if request.match_info["token"] != self._token:
            return _error(401, "Unauthorized")
        f = self.faults
        if f.applies(method):
            if f.take_drop():
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            delay = f.take_delay()
            if delay > 0:
                await asyncio.sleep(delay)
            status = f.take_status()
            if status == 429:
                return _error(
                    429,
                    f"Too Many Requests: retry after {f.retry_after_s}",
                    {"retry_after": f.retry_after_s},
                )
            if status:
                return _error(status, "Internal Server Error" if status >= 500 else "Bad Request")
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        handler = self._methods.get(method)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = handler(params)
        except _ApiError as exc:
            return _error(exc.code, exc.description)
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout_s = min(float(params.get("timeout") or 0), _MAX_POLL_S)
        if not self._updates and timeout_s > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._updates)), timeout_s
                    )
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self._me(), "can_join_groups": True, "can_read_all_group_messages": False}

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            chat_id = int(params["chat_id"])
            text = str(params["text"])
        except (KeyError, ValueError, TypeError):
            raise _ApiError(400, "Bad Request: chat_id and text are required") from None
        if chat_id in self.blocked_chats:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        sent = SentMessage(
            chat_id,
            self._new_message_id(),
            text,
            _buttons(params.get("reply_markup")),
            bool(params.get("disable_notification", False)),
        )
        self.messages.append(sent)
        self._tell(sent)
        return self._message_json(sent, params.get("reply_markup"))

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        except (KeyError, ValueError, TypeError):
            raise _ApiError(400, "Bad Request: chat_id and message_id are required") from None
        sent = self.message(chat_id, message_id)
        if sent is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        sent.text = str(params.get("text", ""))
        sent.buttons = _buttons(params.get("reply_markup"))
        sent.edits += 1
        self._tell(sent)
        return self._message_json(sent, params.get("reply_markup"))

    def _tell(self, sent: SentMessage) -> None:
        for listener in self.listeners:
            listener(sent)

    def _message_json(self, sent: SentMessage, markup: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": _chat(sent.chat_id),
            "from": self._me(),
            "text": sent.text,
        }
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            out["reply_markup"] = markup
        return out


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "group", "title": f"group{-chat_id}"}
    return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}


def _buttons(markup: Any) -> list[tuple[str, str]]:
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or []
    return [(str(b.get("text", "")), str(b.get("callback_data", ""))) for row in rows for b in row]


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    # Telegram answers errors with the matching HTTP status.
    return web.json_response(body, status=code)
