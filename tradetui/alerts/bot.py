"""The command bot: read-only commands for every allowed chat, trading commands for traders.

Only chats in ``telegram.chats`` are served; any other chat is ignored (logged once per chat).
A viewer may read (/status /pnl /position /orders /params /help); a trader may also command
(/start /stop /flatten /halt /set). /flatten, /halt and a restart after a halt ask for an
inline button press that expires after ``confirm_timeout_s``. Every command enters the engine
through ``EngineHost.request``, like the console's keys and the control socket.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from tradetui.alerts import views
from tradetui.config import ConfigError, parse_value
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.engine.snapshot import EngineSnapshot, take_snapshot
from tradetui.host import BookHost, EngineHost

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE

# Answer within Telegram's patience and the 2 s promise even when the engine is busy.
REQUEST_TIMEOUT_S = 1.5

COMMANDS: tuple[tuple[str, str, bool], ...] = (
    # (command, description, trader only)
    ("status", "engine state, risk, position, PnL (/status SYMBOL: one market)", False),
    ("pnl", "PnL split", False),
    ("position", "position, entry and mark", False),
    ("orders", "working orders", False),
    ("params", "strategy and quoting parameters", False),
    ("start", "start quoting", True),
    ("stop", "cancel all orders and stop quoting", True),
    ("flatten", "cancel all and close the position (asks to confirm)", True),
    ("halt", "kill switch: cancel all and halt (asks to confirm)", True),
    ("set", "change a parameter: /set gamma=0.05", True),
    ("help", "this list", False),
)

_CONFIRM_TEXT = {
    "flatten": "Flatten now",
    "halt": "HALT now",
    "restart": "Restart now",
}


@dataclass(frozen=True, slots=True)
class Pending:
    """A confirmation waiting for its button: what it does, in which chat, until when (s)."""

    action: str
    chat_id: int
    expires_s: float


class Confirmations:
    """Single-use confirmation tokens that expire (``clock`` in seconds, monotonic)."""

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self._pending: dict[str, Pending] = {}

    def offer(self, action: str, chat_id: int) -> str:
        """A new token for ``action`` in ``chat_id``; expired tokens are forgotten."""
        now = self.clock()
        self._pending = {k: p for k, p in self._pending.items() if p.expires_s > now - 3600}
        token = secrets.token_urlsafe(9)
        self._pending[token] = Pending(action, chat_id, now + self.timeout_s)
        return token

    def take(self, token: str, chat_id: int) -> tuple[str, Pending | None]:
        """('ok', pending), ('expired', pending) or ('unknown', None); a token works once."""
        p = self._pending.get(token)
        if p is None or p.chat_id != chat_id:
            return "unknown", None
        del self._pending[token]
        if self.clock() > p.expires_s:
            return "expired", p
        return "ok", p


def parse_assignment(text: str) -> tuple[str, str]:
    """``name=value`` or ``name value`` → (name, value); raises ConfigError."""
    raw = text.strip()
    name, sep, value = raw.partition("=")
    if not sep:
        name, _, value = raw.partition(" ")
    name, value = name.strip(), value.strip()
    if not name or not value:
        raise ConfigError("usage: /set name=value, e.g. /set gamma=0.05 (see /params)")
    return name, value


def resolve_param(settings: Any, name: str) -> tuple[str, str, type[Any]]:
    """(section, key, type) for ``gamma`` or ``strategy.gamma``; raises ConfigError."""
    section, _, key = name.rpartition(".")
    sections = (section,) if section else ("venue", *views.PARAM_SECTIONS)
    for sec in sections:
        obj = getattr(settings, sec, None)
        if obj is None or sec not in ("venue", *views.PARAM_SECTIONS):
            continue
        hints = get_type_hints(type(obj))
        if key in hints and (sec != "venue" or key == "symbol"):
            return sec, key, hints[key]
    raise ConfigError(f"{name}: not a parameter /set can change; see /params for the names")


class CommandBot:
    """Telegram handlers over one engine host."""

    def __init__(
        self,
        host: EngineHost,
        chats: dict[int, str],
        mode: str,
        confirm_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.chats = chats
        self.mode = mode
        self.confirmations = Confirmations(confirm_timeout_s, clock)
        self.strangers: set[int] = set()
        # Several markets in one run: /status SYMBOL reads any of them, the other reads and
        # the confirmations show each market, the commands act on all.
        self.book: BookHost | None = None

    # ---- wiring ---------------------------------------------------------------------------

    def install(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Register the gate, the commands and the button handler on ``app``."""
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        allowed = filters.Chat(chat_id=list(self.chats))
        for name, _doc, _trader in COMMANDS:
            app.add_handler(CommandHandler(name, getattr(self, f"_cmd_{name}"), filters=allowed))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(MessageHandler(filters.COMMAND & allowed, self._unknown))

    # ---- helpers --------------------------------------------------------------------------

    async def _gate(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is not None and chat.id in self.chats:
            return
        chat_id = chat.id if chat is not None else 0
        if chat_id not in self.strangers:
            self.strangers.add(chat_id)
            log.warning("telegram: ignoring chat %d (not in telegram.chats)", chat_id)
        raise ApplicationHandlerStop

    def _snapshots(self) -> list[EngineSnapshot]:
        """Every market's snapshot (one without a book)."""
        hosts = self.book.hosts if self.book is not None else [self.host]
        return [take_snapshot(h.engine, 0) for h in hosts]

    def _each(self, text: Callable[[EngineSnapshot], str]) -> str:
        """``text`` of every market; with several, each under its symbol and venue."""
        snaps = self._snapshots()
        if len(snaps) == 1:
            return text(snaps[0])
        return "\n\n".join(f"{s.symbol} on {s.venue}\n{text(s)}" for s in snaps)

    async def _request(self, cmd: Command) -> tuple[bool, str]:
        """Apply ``cmd`` to the market, or to every market of the book."""
        if self.book is not None:
            return await self.book.request(cmd, timeout_s=REQUEST_TIMEOUT_S)
        return await self.host.request(cmd, timeout_s=REQUEST_TIMEOUT_S)

    @staticmethod
    async def _reply(update: Update, text: str, **kwargs: Any) -> None:
        message = update.effective_message
        if message is not None:
            await message.reply_text(text, **kwargs)

    async def _trader(self, update: Update) -> bool:
        chat = update.effective_chat
        if chat is not None and self.chats.get(chat.id) == "trader":
            return True
        await self._reply(update, "⛔ this chat has the viewer role: it can read, not trade")
        return False

    def _who(self, update: Update) -> str:
        chat = update.effective_chat
        return f"telegram chat {chat.id if chat else '?'}"

    async def _command(self, update: Update, cmd: Command) -> None:
        ok, message = await self._request(cmd)
        await self._reply(update, f"{'✅' if ok else '❌'} {cmd.kind}: {message}")

    async def _ask(self, update: Update, action: str, question: str) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        token = self.confirmations.offer(action, chat.id)
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(_CONFIRM_TEXT[action], callback_data=f"ok:{token}"),
                    InlineKeyboardButton("Cancel", callback_data=f"no:{token}"),
                ]
            ]
        )
        expiry = f"\n(expires in {self.confirmations.timeout_s:g} s)"
        await self._reply(update, question + expiry, reply_markup=keyboard)

    # ---- read commands --------------------------------------------------------------------

    async def _cmd_status(self, update: Update, context: Context) -> None:
        """/status, or /status SYMBOL: one market of several (all of them without SYMBOL)."""
        want = " ".join(context.args or []).strip() or None
        symbol = self.host.engine.instrument.symbol
        if self.book is not None:
            hosts = self.book.markets(want)
            here = ", ".join(h.engine.instrument.symbol for h in self.book.hosts)
        else:
            match = want is None or want.rpartition(":")[2].upper() == symbol.upper()
            hosts, here = ([self.host] if match else []), symbol
        if not hosts:
            await self._reply(update, f"❌ no market {want!r} here; markets: {here}")
            return
        texts = [views.status_text(take_snapshot(h.engine, 0), self.mode) for h in hosts]
        await self._reply(update, "\n\n".join(texts))

    async def _cmd_pnl(self, update: Update, context: Context) -> None:
        await self._reply(update, self._each(views.pnl_text))

    async def _cmd_position(self, update: Update, context: Context) -> None:
        await self._reply(update, self._each(views.position_text))

    async def _cmd_orders(self, update: Update, context: Context) -> None:
        await self._reply(update, self._each(views.orders_text))

    async def _cmd_params(self, update: Update, context: Context) -> None:
        engine = self.host.engine
        await self._reply(update, views.params_text(engine.settings, engine.instrument.symbol))

    async def _cmd_help(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        role = self.chats.get(chat.id, "viewer") if chat is not None else "viewer"
        lines = [f"tradetui · {self.mode} · this chat is a {role}"]
        for name, doc, trader in COMMANDS:
            if trader and role != "trader":
                continue
            lines.append(f"/{name} — {doc}")
        await self._reply(update, "\n".join(lines))

    async def _unknown(self, update: Update, context: Context) -> None:
        await self._reply(update, "unknown command; /help lists what I understand")

    # ---- trading commands -----------------------------------------------------------------

    async def _cmd_start(self, update: Update, context: Context) -> None:
        if not await self._trader(update):
            return
        hosts = self.book.hosts if self.book is not None else [self.host]
        halted = [h.engine for h in hosts if h.engine.state is EngineState.HALTED]
        if halted:
            reasons = [e.halt_reason or "kill switch" for e in halted]
            if self.book is None:
                why = f"The engine halted: {reasons[0]}."
            else:
                why = "Halted: " + "; ".join(
                    f"{e.instrument.symbol}: {r}" for e, r in zip(halted, reasons, strict=True)
                )
            await self._ask(update, "restart", f"{why}\nStart quoting again?")
            return
        await self._command(update, Command(CommandKind.START, reason=self._who(update)))

    async def _cmd_stop(self, update: Update, context: Context) -> None:
        if not await self._trader(update):
            return
        await self._command(update, Command(CommandKind.STOP, reason=f"stop ({self._who(update)})"))

    async def _cmd_flatten(self, update: Update, context: Context) -> None:
        if not await self._trader(update):
            return
        sizes = [f"{s.symbol} {s.pnl.position_size:+.6g} {s.size_unit}" for s in self._snapshots()]
        if len(sizes) == 1:
            question = f"Flatten the position ({sizes[0].partition(' ')[2]})?"
        else:
            question = "Flatten every market's position?\n" + "\n".join(sizes)
        await self._ask(
            update,
            "flatten",
            f"{question}\nCancels every order and closes the position at market.",
        )

    async def _cmd_halt(self, update: Update, context: Context) -> None:
        if not await self._trader(update):
            return
        await self._ask(
            update,
            "halt",
            "HALT trading? Kill switch: cancel everything and refuse to quote until restarted.",
        )

    async def _cmd_set(self, update: Update, context: Context) -> None:
        if not await self._trader(update):
            return
        engine = self.host.engine
        try:
            name, text = parse_assignment(" ".join(context.args or []))
            section, key, typ = resolve_param(engine.settings, name)
            value = parse_value(text, typ, f"{section}.{key}")
        except ConfigError as exc:
            await self._reply(update, f"❌ {exc}")
            return
        cmd = Command(
            CommandKind.SET_PARAMS,
            reason=self._who(update),
            section=section,
            changes=((key, value),),
        )
        await self._command(update, cmd)

    # ---- confirmation buttons -------------------------------------------------------------

    async def _on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None:
            return
        if self.chats.get(chat.id) != "trader":
            await query.answer("viewer role: cannot trade")
            return
        verb, _, token = (query.data or "").partition(":")
        status, pending = self.confirmations.take(token, chat.id)
        if status == "unknown" or pending is None:
            await query.answer("no longer valid")
            await query.edit_message_text("This confirmation is no longer valid.")
            return
        if status == "expired":
            await query.answer("expired")
            await query.edit_message_text(
                f"Confirmation expired; send /{_resend(pending.action)} again."
            )
            return
        if verb != "ok":
            await query.answer("cancelled")
            await query.edit_message_text(f"{pending.action} cancelled.")
            return
        await query.answer("sent to the engine")
        who = self._who(update)
        cmd = {
            "flatten": Command(CommandKind.FLATTEN, reason=f"flatten ({who})"),
            "halt": Command(CommandKind.HALT, reason=f"kill switch ({who})"),
            "restart": Command(CommandKind.START, reason=f"restart ({who})", confirm=True),
        }[pending.action]
        ok, message = await self._request(cmd)
        await query.edit_message_text(f"{'✅' if ok else '❌'} {cmd.kind}: {message}")


def _resend(action: str) -> str:
    return "start" if action == "restart" else action
