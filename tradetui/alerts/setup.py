"""Telegram settings checks that need no Telegram library: token, chats, switches, mode.

Kept apart from the bot so the CLI can refuse a broken setup before any trading starts,
without importing python-telegram-bot when Telegram is off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tradetui.alerts.message import AlertKind
from tradetui.config import ConfigError, Settings, TelegramSettings, parse_chats

if TYPE_CHECKING:
    from tradetui.host import Host


def trading_mode(settings: Settings) -> str:
    """PAPER on the simulated exchange, LIVE anywhere else (shown on every alert)."""
    return "PAPER" if settings.venue.exchange == "sim" else "LIVE"


def read_token(t: TelegramSettings, env: Mapping[str, str] | None = None) -> str:
    """The bot token from the environment variable ``t.token_env`` ('' when unset)."""
    env = os.environ if env is None else env
    return env.get(t.token_env, "").strip()


def chats(t: TelegramSettings) -> dict[int, str]:
    """Allowed chat id → role (the setting was validated when loaded)."""
    return parse_chats(t.chats)


def switches(t: TelegramSettings) -> dict[AlertKind, str]:
    """Alert kind → on, silent or off, from the ``alert_*`` keys."""
    return {
        kind: getattr(t, f"alert_{kind.value}")
        for kind in AlertKind
        if hasattr(t, f"alert_{kind.value}")
    }


def check_token(token: str, t: TelegramSettings) -> None:
    """ConfigError when a non-empty ``token`` cannot be a bot token (checked before any call)."""
    if ":" not in token or any(c.isspace() for c in token):
        raise ConfigError(
            f"{t.token_env}: does not look like a bot token (expected <bot id>:<secret> from "
            "@BotFather)"
        )


def check_setup(t: TelegramSettings, env: Mapping[str, str] | None = None) -> str:
    """The token, or ConfigError (one line: what is missing and how to fix it)."""
    token = read_token(t, env)
    if not token:
        raise ConfigError(
            f"telegram.enabled is true but the environment variable {t.token_env} is empty; "
            f"export {t.token_env}=<token from @BotFather> or set telegram.enabled = false"
        )
    check_token(token, t)
    if not chats(t):
        raise ConfigError(
            'telegram.chats: empty; add your chat id with a role, e.g. chats = "123456789:trader" '
            "(message your bot, then `tradetui telegram test` lists the chats that wrote to it)"
        )
    return token


def telegram_alongside(host: Host) -> contextlib.AbstractAsyncContextManager[object]:
    """Telegram for the duration of a block when telegram.enabled, else nothing.

    python-telegram-bot is imported only when Telegram is on. With several markets every
    market's alerts name it and the commands act on all; /status SYMBOL reads one
    (docs/multi-market.md).
    """
    if not host.engine.settings.telegram.enabled:
        return contextlib.nullcontext()
    from tradetui.alerts.telegram import running_telegram
    from tradetui.host import BookHost

    if isinstance(host, BookHost):
        return running_telegram(host.hosts[0], host)
    return running_telegram(host)
