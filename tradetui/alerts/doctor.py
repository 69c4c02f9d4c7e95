"""`tradetui telegram test`: is the token there, does the Bot API accept it, can each chat be
reached? Each check prints one line; the first failure is one line saying what to fix."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from telegram import Bot
from telegram.error import Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

from tradetui.alerts import setup
from tradetui.alerts.message import Alert, AlertKind, Level, now_s, render
from tradetui.alerts.telegram import protect_token
from tradetui.config import ConfigError, Settings


class DoctorError(Exception):
    """A failed check; the message is one line naming the problem and the fix."""


async def run_doctor(settings: Settings, echo: Callable[[str], object]) -> list[str]:
    """Run the checks, echoing progress; the closing lines, or DoctorError."""
    t = settings.telegram
    token = setup.read_token(t)
    if not token:
        raise DoctorError(
            f"no bot token: the environment variable {t.token_env} is empty; "
            f"export {t.token_env}=<token from @BotFather>"
        )
    try:
        setup.check_token(token, t)
    except ConfigError as exc:
        raise DoctorError(str(exc)) from None
    redactor = protect_token(token)
    echo(f"ok: token found in {t.token_env}")
    base = t.api_base_url.rstrip("/")
    request = HTTPXRequest(connect_timeout=5.0, read_timeout=10.0)
    bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot", request=request)
    try:
        try:
            await bot.initialize()
        except InvalidToken:
            raise DoctorError(
                f"the Bot API at {base} refused the token in {t.token_env}; copy it again from "
                "@BotFather"
            ) from None
        except TelegramError as exc:
            raise DoctorError(
                f"cannot reach the Bot API at {base}: {redactor.redact(str(exc))}; check the "
                "network or telegram.api_base_url"
            ) from None
        echo(f"ok: getMe answered: the bot is @{bot.username}")
        try:
            chats = setup.chats(t)
        except ValueError as exc:
            raise DoctorError(f"telegram.chats: {exc}") from None
        if not chats:
            seen = await _recent_chats(bot)
            hint = f"; chats that wrote to the bot lately: {seen}" if seen else ""
            raise DoctorError('telegram.chats is empty; add e.g. chats = "CHAT_ID:trader"' + hint)
        failures = 0
        mode = setup.trading_mode(settings)
        for chat_id, role in chats.items():
            text = render(
                Alert(
                    Level.INFO,
                    AlertKind.TEST,
                    "TEST",
                    f"tradetui can reach this chat (role {role}). Send /help for the commands.",
                    now_s(),
                ),
                mode,
            )
            try:
                sent = await bot.send_message(chat_id, text)
            except Forbidden as exc:
                failures += 1
                echo(f"FAIL: chat {chat_id} ({role}): {exc}; open the bot and press Start")
            except (NetworkError, TelegramError) as exc:
                failures += 1
                echo(f"FAIL: chat {chat_id} ({role}): {redactor.redact(str(exc))}")
            else:
                echo(f"ok: chat {chat_id} ({role}) reached, message {sent.message_id}")
        if failures:
            raise DoctorError(
                f"{failures} of {len(chats)} chat(s) unreachable; see the FAIL lines above"
            )
        if not t.enabled:
            return ["all checks passed; set telegram.enabled = true to use it while trading"]
        return ["all checks passed"]
    finally:
        with contextlib.suppress(TelegramError):
            await bot.shutdown()


async def _recent_chats(bot: Bot) -> str:
    """Chat ids of recent messages to the bot, for the 'no chats configured' hint."""
    try:
        updates = await bot.get_updates(timeout=0)
    except TelegramError:
        return ""
    ids = sorted({u.effective_chat.id for u in updates if u.effective_chat is not None})
    return ", ".join(str(i) for i in ids)
