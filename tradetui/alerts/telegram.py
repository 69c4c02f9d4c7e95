"""Telegram next to a running engine: the alert notifier plus the command bot, one bot token.

``TelegramService`` connects in the background (getMe, then long polling), so a Telegram
outage at start-up or later never delays or stops trading: alerts wait in the notifier's
bounded queue and commands simply are not heard until the connection is back. Flood limits
are PTB's ``AIORateLimiter`` (30 messages/s overall, 20/min per group, the limits Telegram
documents) shared by alerts and command replies; 429 and network retries are the notifier's
own, because the rate limiter retries only 429s and would hold a send inside the limiter.

The token comes from the environment only and is redacted from every log record of the
Telegram, HTTP and alert loggers (request URLs carry it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from telegram import BotCommand
from telegram.error import InvalidToken, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from tradetui.alerts import setup, views
from tradetui.alerts.bot import COMMANDS, CommandBot
from tradetui.alerts.message import AlertKind, Level
from tradetui.alerts.notifier import Notifier, NotifierConfig
from tradetui.config import ConfigError, Settings, TelegramSettings
from tradetui.engine.snapshot import take_snapshot
from tradetui.host import BookHost, EngineHost, _venue_symbol
from tradetui.venues.redact import RedactSecrets

log = logging.getLogger(__name__)

_REDACTED_LOGGERS = ("telegram", "httpx", "httpcore", "tradetui.alerts", "tradetui.sandbox")
_redactor = RedactSecrets()
_ERROR_REPEAT_S = 60.0

App = Application[Any, Any, Any, Any, Any, Any]


def protect_token(token: str) -> RedactSecrets:
    """Redact ``token`` from every record of the loggers that could quote it."""
    _redactor.add(token)
    names = [
        n
        for n in logging.root.manager.loggerDict
        if n.split(".")[0] in _REDACTED_LOGGERS or n.startswith(_REDACTED_LOGGERS)
    ]
    for name in {*names, *_REDACTED_LOGGERS}:
        logger = logging.getLogger(name)
        if _redactor not in logger.filters:
            logger.addFilter(_redactor)
    # httpx logs every request URL (with the token) at INFO: one line per long poll. The
    # rate limiter logs each 429 with a traceback; the notifier already reports them.
    for name, level in (
        ("httpx", logging.WARNING),
        ("telegram.ext.AIORateLimiter", logging.CRITICAL),
    ):
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET:
            quiet.setLevel(level)
    return _redactor


def build_application(token: str, t: TelegramSettings, poll_timeout_s: float) -> App:
    """A PTB application talking to ``t.api_base_url`` with Telegram's flood limits."""
    base = t.api_base_url.rstrip("/")
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=0))
        .concurrent_updates(True)
        .connect_timeout(5.0)
        .read_timeout(5.0)
        .write_timeout(5.0)
        .pool_timeout(5.0)
        .get_updates_read_timeout(poll_timeout_s + 5.0)
        .job_queue(None)
        .build()
    )


class ErrorForwarder(logging.Handler):
    """Turns ERROR records of tradetui loggers into error alerts (one per text per minute).

    Engine halts and flatten timeouts are skipped: their state alerts already say so.
    """

    def __init__(self, notifier: Notifier) -> None:
        super().__init__(logging.ERROR)
        self.notifier = notifier
        self._last: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("tradetui.alerts", "tradetui.engine.engine")):
            return
        try:
            text = _redactor.redact(record.getMessage()).splitlines()[0][:500]
        except Exception:
            return
        now = time.monotonic()
        if now - self._last.get(text, -1e9) < _ERROR_REPEAT_S:
            return
        self._last[text] = now
        level = Level.CRITICAL if record.levelno >= logging.CRITICAL else Level.WARNING
        self.notifier.alert(level, AlertKind.ERROR, "ERROR", f"{record.name}: {text}")


class TelegramService:
    """Alerts and commands for one engine host, or for every market of ``book`` (``host``
    its first): each market's alerts name it, the commands act on all and /status SYMBOL
    reads one. ``start`` never waits for Telegram."""

    def __init__(
        self,
        host: EngineHost,
        settings: Settings,
        token: str,
        *,
        poll_timeout_s: float = 10.0,
        notifier_config: NotifierConfig | None = None,
        book: BookHost | None = None,
    ) -> None:
        t = settings.telegram
        self.host = host
        self.settings = t
        self.mode = setup.trading_mode(settings)
        self.chats = setup.chats(t)
        self.poll_timeout_s = poll_timeout_s
        protect_token(token)
        self.app = build_application(token, t, poll_timeout_s)
        self.commands = CommandBot(host, self.chats, self.mode, t.confirm_timeout_s)
        self.commands.book = book
        self.commands.install(self.app)
        hosts = book.hosts if book is not None else [host]
        self.notifier = Notifier(
            self._send,
            notifier_config
            or NotifierConfig(
                chats=list(self.chats),
                mode=self.mode,
                switches=setup.switches(t),
                digest_interval_s=t.digest_interval_s,
                heartbeat_interval_s=t.heartbeat_interval_s,
                queue_size=t.queue_size,
            ),
            host.engine.instrument,
            heartbeat_text=lambda: "\n\n".join(
                views.heartbeat_text(take_snapshot(h.engine, 0)) for h in hosts
            ),
            market=_venue_symbol(host) if book is not None else "",
        )
        # Each market's events and the notifier that alerts about them.
        self._listeners = [(host, self.notifier)] + [
            (h, self.notifier.for_market(h.engine.instrument, _venue_symbol(h))) for h in hosts[1:]
        ]
        self.ready = asyncio.Event()
        self.username = ""
        self._errors = ErrorForwarder(self.notifier)
        self._connector: asyncio.Task[None] | None = None
        self._last_poll_warning = 0.0

    async def _send(self, chat_id: int, text: str, silent: bool) -> object:
        await self.ready.wait()
        return await self.app.bot.send_message(chat_id, text, disable_notification=silent)

    async def start(self) -> None:
        """Subscribe to the engine and connect in the background."""
        await self.notifier.start()
        for h, notifier in self._listeners:
            h.session.bus.subscribe(notifier.on_event)
        logging.getLogger("tradetui").addHandler(self._errors)
        self._connector = asyncio.create_task(self._connect(), name="telegram-connect")

    async def _connect(self) -> None:
        """Connect, retrying with backoff until it works, the token is refused or we stop."""
        backoff_s = 1.0
        while True:
            try:
                await self._connect_once()
                return
            except InvalidToken:
                log.error(
                    "telegram: the bot token in %s was refused; alerts and commands are off",
                    self.settings.token_env,
                )
                return
            except TelegramError as exc:
                log.warning("telegram: cannot reach the Bot API (%s); retrying", exc)
            except Exception:
                log.exception("telegram: connecting failed; alerts and commands are off")
                return
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 60.0)

    async def _connect_once(self) -> None:
        # Each step is skipped when an earlier attempt got that far.
        await self.app.initialize()
        try:
            await self.app.bot.set_my_commands([BotCommand(n, d) for n, d, _ in COMMANDS])
        except TelegramError as exc:
            log.warning("telegram: could not publish the command list: %s", exc)
        if not self.app.running:
            await self.app.start()
        updater = self.app.updater
        if updater is not None and not updater.running:
            await updater.start_polling(
                timeout=timedelta(seconds=self.poll_timeout_s),
                # Commands sent while tradetui was not running are stale: never act on them.
                drop_pending_updates=True,
                allowed_updates=["message", "callback_query"],
                error_callback=self._poll_error,
            )
        self.username = self.app.bot.username
        self.ready.set()
        log.info("telegram: connected as @%s; %d chat(s) allowed", self.username, len(self.chats))

    def _poll_error(self, exc: TelegramError) -> None:
        now = time.monotonic()
        if now - self._last_poll_warning >= _ERROR_REPEAT_S:
            self._last_poll_warning = now
            log.warning("telegram: polling failed (%s); retrying", exc)

    async def stop(self, drain_s: float = 3.0) -> None:
        """Deliver what is waiting (up to ``drain_s``), then disconnect; never raises."""
        for h, notifier in self._listeners:
            with contextlib.suppress(ValueError):
                h.session.bus.unsubscribe(notifier.on_event)
        logging.getLogger("tradetui").removeHandler(self._errors)
        try:
            await self.notifier.close(drain_s if self.ready.is_set() else 0.0)
        except Exception:
            log.exception("telegram: notifier did not close cleanly")
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        try:
            updater = self.app.updater
            if updater is not None and updater.running:
                await asyncio.wait_for(updater.stop(), 5.0)
            if self.app.running:
                await asyncio.wait_for(self.app.stop(), 5.0)
            await asyncio.wait_for(self.app.shutdown(), 5.0)
        except Exception as exc:
            log.warning("telegram: did not disconnect cleanly: %s", exc)


@contextlib.asynccontextmanager
async def running_telegram(
    host: EngineHost, book: BookHost | None = None
) -> AsyncIterator[TelegramService | None]:
    """Run Telegram for the block when telegram.enabled (None otherwise or when it cannot);
    with ``book`` (several markets, ``host`` its first), every market's alerts (each naming
    it) and /status SYMBOL for any market.

    The setup (token, chats) is expected to have been checked before trading started; a
    failure here is logged and trading goes on without Telegram.
    """
    settings = host.engine.settings
    service: TelegramService | None = None
    if settings.telegram.enabled:
        try:
            token = setup.check_setup(settings.telegram)
            service = TelegramService(host, settings, token, book=book)
            await service.start()
        except (ConfigError, TelegramError, OSError, RuntimeError) as exc:
            log.error("telegram: not started: %s", _redactor.redact(str(exc)))
            service = None
    try:
        yield service
    finally:
        if service is not None:
            await service.stop()
