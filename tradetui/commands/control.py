"""`tradetui halt|stop|flatten|start|status`: command running instances (headless or console).

An instance is named by --name (its socket in the runtime folder) or --socket; without either,
`status` lists every running instance and the others address the only one running.
`halt|stop|flatten --all` command every running instance.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradetui.commands.common import fail, print_table

if TYPE_CHECKING:
    from tradetui.control import Instance

SocketOpt = Annotated[
    Path | None,
    typer.Option(
        "--socket", help="Control socket of the running instance (default: found by --name)."
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Instance to address, e.g. paper-usdm-btcusdt (default: the only one running; "
        "`tradetui status` lists them).",
    ),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every running instance.")]
ReasonOpt = Annotated[str, typer.Option(help="Why; recorded in the engine's log and events.")]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait until the engine has stopped or halted.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]
MarketOpt = Annotated[
    str | None,
    typer.Option(
        "--symbol",
        help="One market of an instance trading several (SYMBOL or VENUE:SYMBOL, e.g. "
        "ETHUSDT); default: all its markets.",
    ),
]

_FINAL_STATES = ("stopped", "halted")
_WAIT_S = 120.0


def _found() -> list[Instance]:
    """The instances in the runtime folder; a removed stale socket is said on stderr."""
    from tradetui.control import ControlError, find_instances

    try:
        found = find_instances()
    except ControlError as exc:
        fail(str(exc))
    for path in found.removed:
        typer.echo(f"removed the control socket of a stopped instance: {path}", err=True)
    return found.instances


def _none_running() -> str:
    from tradetui.control import runtime_dir

    return (
        f"no running tradetui in {runtime_dir()}; start one with `tradetui run --headless`, "
        "or pass --socket for one listening elsewhere"
    )


def _target(name: str | None, socket: Path | None) -> Path:
    """The control socket a command addresses: --socket, else --name's, else the only one."""
    from tradetui.control import ControlError, check_name, default_socket_path

    if socket is not None and name is not None:
        fail("--name and --socket both name the instance; give one of them")
    if socket is not None:
        return socket
    if name is not None:
        try:
            return default_socket_path(check_name(name))
        except ControlError as exc:
            fail(str(exc))
    instances = _found()
    if not instances:
        fail(_none_running())
    if len(instances) > 1:
        names = ", ".join(i.name for i in instances)
        fail(
            f"{len(instances)} instances are running ({names}); name one with --name "
            "(halt, stop and flatten also take --all)"
        )
    return instances[0].path


def _call(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    from tradetui.control import ControlError, send_request

    try:
        return send_request(path, request)
    except ControlError as exc:
        fail(str(exc))


def _ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """One instance's answer, or a failed one saying why it gave none (--all goes on)."""
    from tradetui.control import ControlError, send_request

    try:
        return send_request(path, request)
    except (ControlError, OSError) as exc:
        return {"ok": False, "message": str(exc)}


def _settled(answer: dict[str, Any]) -> bool:
    """The engine has stopped or halted and every cancel has been confirmed."""
    return answer.get("state") in _FINAL_STATES and answer.get("open_orders") == 0


def _position(size: float, unit: str) -> str:
    """``-3 contracts`` (whole contracts), ``+0.012000 BTC`` (a base asset to 1e-6)."""
    from tradetui.core.units import size_decimals

    return f"{size:+.{size_decimals(unit)}f} {unit}"


def _line(answer: dict[str, Any]) -> str:
    if "markets" in answer:  # an instance trading several markets: one line each
        head = f"{answer.get('message', '')}: state {answer.get('state')}" + (
            f", portfolio halt: {answer['halt_reason']}" if answer.get("halt_reason") else ""
        )
        return "\n".join(
            [head, *(_line({**m, "message": f"  {m['symbol']}"}) for m in answer["markets"])]
        )
    if "state" not in answer:
        return str(answer.get("message", ""))
    from tradetui.core.units import money_decimals

    settle = answer.get("settle_asset", "")
    d = money_decimals(settle, answer.get("quote_asset", ""))
    return (
        f"{answer.get('message', '')}: state {answer.get('state')}, "
        f"position {_position(answer.get('position_size', 0.0), answer.get('size_unit', ''))}, "
        f"open orders {answer.get('open_orders')}, "
        f"PnL {answer.get('pnl_total', 0.0):+.{d}f} {settle}"
        + (f", halt reason: {answer['halt_reason']}" if answer.get("halt_reason") else "")
    )


def _show(answer: dict[str, Any], json_out: bool) -> None:
    typer.echo(json.dumps(answer) if json_out else _line(answer))


def _command(name: str, path: Path, reason: str, wait: bool, json_out: bool, **extra: Any) -> None:
    answer = _call(path, {"command": name, "reason": reason, **extra})
    if answer.get("ok") and wait:
        deadline = time.monotonic() + _WAIT_S
        ask = {"command": "status", **({"symbol": extra["symbol"]} if "symbol" in extra else {})}
        while time.monotonic() < deadline and not _settled(answer):
            time.sleep(0.2)
            answer = {**_call(path, ask), "message": answer["message"]}
    _show(answer, json_out)
    if not answer.get("ok"):
        raise typer.Exit(1)


def _command_all(name: str, reason: str, wait: bool, json_out: bool) -> None:
    """Send ``name`` to every running instance first (a kill switch reaches all at once),
    then wait for each; every result is printed, exit 1 when any failed."""
    instances = _found()
    if not instances:
        fail(_none_running())
    answers: dict[str, dict[str, Any]] = {}
    for i in instances:
        if i.answer is None:
            answers[i.name] = {"ok": False, "message": i.problem}
        else:
            answers[i.name] = _ask(i.path, {"command": name, "reason": reason})
    deadline = time.monotonic() + _WAIT_S
    for i in instances:
        answer = answers[i.name]
        while wait and answer.get("ok") and not _settled(answer):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
            polled = _ask(i.path, {"command": "status"})
            answer = {**polled, "message": answer["message"]} if polled.get("ok") else polled
        answers[i.name] = answer
    if json_out:
        typer.echo(json.dumps([{"name": n, **a} for n, a in answers.items()]))
    else:
        for n, a in answers.items():
            typer.echo(f"{n}: {_line(a)}")
    if not all(a.get("ok") for a in answers.values()):
        raise typer.Exit(1)


def _status_all(json_out: bool) -> None:
    """Every running instance: state, position and PnL (exit 1 when one does not answer)."""
    instances = _found()
    if not instances:
        fail(_none_running())
    rows = [
        {"name": i.name, "socket": str(i.path), **(i.answer or {"ok": False})}
        | ({"message": i.problem} if i.answer is None else {})
        for i in instances
    ]
    if json_out:
        typer.echo(json.dumps(rows))
    else:
        from tradetui.core.units import money_decimals

        table = []
        instances_n = len(rows)
        # An instance trading several markets shows one row per market.
        rows = [
            {"name": r["name"], **m} if i == 0 else {"name": "", **m}
            for r in rows
            for i, m in enumerate(r.get("markets") or [r])
        ]
        for r in rows:
            if "state" not in r:
                blank = dict.fromkeys(("symbol", "position", "orders", "fills", "pnl"), "")
                table.append({"name": r["name"], "state": r["message"], **blank})
                continue
            d = money_decimals(r["settle_asset"], r["quote_asset"])
            state = r["state"] + (f" ({r['halt_reason']})" if r.get("halt_reason") else "")
            table.append(
                {
                    "name": r["name"],
                    "state": state,
                    "symbol": r.get("symbol", ""),
                    "position": _position(r["position_size"], r["size_unit"]),
                    "orders": r["open_orders"],
                    "fills": r["fills"],
                    "pnl": f"{r['pnl_total']:+.{d}f} {r['settle_asset']}",
                }
            )
        cols = ["name", "state", "symbol", "position", "orders", "fills", "pnl"]
        print_table(f"instances ({instances_n})", table, cols, left=("name", "state", "symbol"))
    if any(i.answer is None for i in instances):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the control commands to the main app."""

    def add(name: str, default_reason: str, doc: str) -> None:
        def command(
            instance: NameOpt = None,
            socket: SocketOpt = None,
            every: AllOpt = False,
            reason: ReasonOpt = default_reason,
            wait: WaitOpt = True,
            json_out: JsonOpt = False,
            market: MarketOpt = None,
        ) -> None:
            if every:
                if instance is not None or socket is not None or market is not None:
                    fail(
                        "--all addresses every running instance; drop --name, --socket and --symbol"
                    )
                _command_all(name, reason, wait, json_out)
                return
            extra = {"symbol": market} if market else {}
            _command(name, _target(instance, socket), reason, wait, json_out, **extra)

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
        instance: NameOpt = None,
        socket: SocketOpt = None,
        confirm: Annotated[
            bool, typer.Option("--confirm", help="Required to restart a halted engine.")
        ] = False,
        json_out: JsonOpt = False,
        market: MarketOpt = None,
    ) -> None:
        """Start quoting again on a running instance (or one of its markets: --symbol)."""
        path = _target(instance, socket)
        extra = {"symbol": market} if market else {}
        _command("start", path, "tradetui start", False, json_out, confirm=confirm, **extra)

    @app.command()
    def status(
        instance: NameOpt = None,
        socket: SocketOpt = None,
        json_out: JsonOpt = False,
        market: MarketOpt = None,
    ) -> None:
        """State, position, open orders and PnL of every running instance, or of one (of its
        markets, one row each; --symbol: of one market)."""
        if instance is None and socket is None and market is None:
            _status_all(json_out)
            return
        request = {"command": "status", **({"symbol": market} if market else {})}
        answer = _call(_target(instance, socket), request)
        _show(answer, json_out)
        if not answer.get("ok"):
            raise typer.Exit(1)
