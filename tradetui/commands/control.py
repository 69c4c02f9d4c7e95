"""`tradetui halt|stop|flatten|start|status`: command a running headless instance."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

SocketOpt = Annotated[
    Path | None,
    typer.Option("--socket", help="Control socket of the running instance (default: per mode)."),
]
ReasonOpt = Annotated[str, typer.Option(help="Why; recorded in the engine's log and events.")]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait until the engine has stopped or halted.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as one JSON object.")]

_FINAL_STATES = ("stopped", "halted")


def _socket(path: Path | None) -> Path:
    from tradetui.control import default_socket_path

    return path if path is not None else default_socket_path()


def _call(path: Path | None, request: dict[str, Any]) -> dict[str, Any]:
    from tradetui.control import ControlError, send_request

    try:
        return send_request(_socket(path), request)
    except ControlError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _show(answer: dict[str, Any], json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(answer))
        return
    from tradetui.core.units import money_decimals

    settle = answer.get("settle_asset", "")
    d = money_decimals(settle, answer.get("quote_asset", ""))
    typer.echo(
        f"{answer.get('message', '')}: state {answer.get('state')}, "
        f"position {answer.get('position_size', 0.0):+.6f} {answer.get('size_unit', '')}, "
        f"open orders {answer.get('open_orders')}, "
        f"PnL {answer.get('pnl_total', 0.0):+.{d}f} {settle}"
        + (f", halt reason: {answer['halt_reason']}" if answer.get("halt_reason") else "")
    )


def _command(
    name: str, socket: Path | None, reason: str, wait: bool, json_out: bool, **extra: Any
) -> None:
    answer = _call(socket, {"command": name, "reason": reason, **extra})
    if answer.get("ok") and wait:
        deadline = time.monotonic() + 120.0
        # Done when the engine has settled and every cancel has been confirmed.
        while time.monotonic() < deadline and not (
            answer.get("state") in _FINAL_STATES and answer.get("open_orders") == 0
        ):
            time.sleep(0.2)
            answer = {**_call(socket, {"command": "status"}), "message": answer["message"]}
    _show(answer, json_out)
    if not answer.get("ok"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the control commands to the main app."""

    def add(name: str, default_reason: str, doc: str) -> None:
        def command(
            socket: SocketOpt = None,
            reason: ReasonOpt = default_reason,
            wait: WaitOpt = True,
            json_out: JsonOpt = False,
        ) -> None:
            _command(name, socket, reason, wait, json_out)

        command.__doc__ = doc
        app.command(name)(command)

    add(
        "halt",
        "kill switch (tradetui halt)",
        "Kill switch: cancel all, flatten if risk.flatten_on_halt, stay halted.",
    )
    add("stop", "tradetui stop", "Cancel every working order and stop quoting.")
    add(
        "flatten",
        "tradetui flatten",
        "Cancel all, then close the position with reduce-only taker orders.",
    )

    @app.command()
    def start(
        socket: SocketOpt = None,
        confirm: Annotated[
            bool, typer.Option("--confirm", help="Required to restart a halted engine.")
        ] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Start quoting again on a running instance."""
        _command("start", socket, "tradetui start", False, json_out, confirm=confirm)

    @app.command()
    def status(socket: SocketOpt = None, json_out: JsonOpt = False) -> None:
        """Engine state, position, open orders and PnL of a running instance."""
        _show(_call(socket, {"command": "status"}), json_out)
