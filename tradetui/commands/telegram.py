"""`tradetui telegram test` (doctor check) and `tradetui sandbox telegram` (loopback Bot API)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from tradetui.commands.common import PORT_RANGE, cannot_listen, fail

_SANDBOX_TOKEN = "123456:sandbox-token"


def telegram_test(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config (default: ./config.toml, then user dir)."),
    ] = None,
) -> None:
    """Send a test message to every configured chat and report what happened."""
    from tradetui.alerts.doctor import DoctorError, run_doctor
    from tradetui.config import ConfigError, load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(str(exc))
    try:
        lines = asyncio.run(run_doctor(settings, typer.echo))
    except DoctorError as exc:
        fail(str(exc), code=1)
    for line in lines:
        typer.echo(line)


def sandbox_telegram(
    port: Annotated[
        int, typer.Option("--port", help="TCP port (0 picks a free one).", **PORT_RANGE)
    ] = 8081,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    token: Annotated[
        str,
        typer.Option(
            "--token", envvar="TRADETUI_SANDBOX_TELEGRAM_TOKEN", help="Bot token it accepts."
        ),
    ] = _SANDBOX_TOKEN,
) -> None:
    """Serve a loopback Telegram Bot API on HOST:PORT until Ctrl+C, printing what the bot sends."""
    from tradetui.sandbox.telegram import SandboxBotApi, SentMessage

    server = SandboxBotApi(token, host=host, port=port)

    def show(m: SentMessage) -> None:
        buttons = f"  [{' | '.join(b for b, _ in m.buttons)}]" if m.buttons else ""
        edited = " (edited)" if m.edits else ""
        typer.echo(f"→ chat {m.chat_id} #{m.message_id}{edited}: {m.text}{buttons}".rstrip())

    server.listeners.append(show)

    async def serve() -> None:
        try:
            await server.start()
        except OSError as exc:
            cannot_listen(host, port, exc)
        base = server.base_url
        typer.echo(
            f'sandbox Telegram Bot API on {base}; set telegram.api_base_url = "{base}" and '
            "the token env var to the sandbox token (--token)\n"
            f"play a chat:   curl -X POST '{base}/sandbox/send?chat=42&text=/status'\n"
            f"press button:  curl -X POST '{base}/sandbox/press?chat=42'\n"
            "Ctrl+C stops"
        )
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    typer.echo("sandbox telegram stopped")


def register(app: typer.Typer) -> None:
    """Add ``telegram test`` to ``app``."""
    telegram_app = typer.Typer(help="Telegram alerts and control.")
    telegram_app.command("test")(telegram_test)
    app.add_typer(telegram_app, name="telegram")
