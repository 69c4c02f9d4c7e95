"""Command line: ``tradetui ...``. Heavy modules are imported inside commands so --help is fast."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from tradetui.config import Settings
    from tradetui.session import PaperSession

app = typer.Typer(
    name="tradetui",
    help="Terminal trading console for crypto market makers (paper trading out of the box).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
verify_app = typer.Typer(help="Check the strategy code against published results.")
config_app = typer.Typer(help="Inspect and check configuration.")
app.add_typer(verify_app, name="verify")
app.add_typer(config_app, name="config")

log = logging.getLogger("tradetui")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config (default: ./config.toml, then user dir)."),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear error line and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(config: Path | None) -> Settings:
    from tradetui.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        fail(str(exc))


def _parse_speed(speed: str) -> float | None:
    if speed.strip().lower() == "max":
        return None
    try:
        value = float(speed)
    except ValueError:
        fail(f"--speed: expected a number like 1 or 10, or 'max' (got {speed!r})")
    if not value > 0:
        fail(f"--speed: must be > 0 or 'max' (got {speed!r})")
    return value


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context) -> None:
    """Without a command: paper-trade the simulated exchange headless until Ctrl+C."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run, headless=True)


@app.command()
def run(
    headless: Annotated[
        bool, typer.Option("--headless", help="Run without the console (logs to stderr).")
    ] = False,
    config: ConfigOpt = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds of market time (default: until Ctrl+C)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Synthetic market seed (default: market.seed).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
    speed: Annotated[
        str, typer.Option(help="Market speed: 1 = real time, N = N× faster, max = unpaced.")
    ] = "1",
    flatten_on_exit: Annotated[
        bool, typer.Option("--flatten-on-exit", help="Flatten the position when stopping.")
    ] = False,
) -> None:
    """Paper-trade the built-in simulated exchange and print a session summary."""
    if not headless:
        fail("the interactive console is not built yet; use `tradetui run --headless`")
    if duration is not None and not duration > 0:
        fail(f"--duration: must be > 0 seconds (got {duration})")
    settings = _load(config)
    pace = _parse_speed(speed)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    from tradetui.config import ConfigError
    from tradetui.session import build_paper_session

    try:
        session = build_paper_session(settings, seed=seed, virtual=pace != 1.0)
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
    summary = asyncio.run(_run_headless(session, duration, pace, flatten_on_exit))
    if json_out:
        typer.echo(json.dumps(summary))
    else:
        from tradetui.engine.summary import format_summary

        typer.echo(format_summary(summary))


async def _run_headless(
    session: PaperSession, duration: float | None, speed: float | None, flatten: bool
) -> dict[str, Any]:
    from tradetui.engine.engine import Command, CommandKind
    from tradetui.host import EngineHost

    host = EngineHost(session, speed)
    signals = {"count": 0}
    loop = asyncio.get_running_loop()

    def on_signal(signame: str) -> None:
        signals["count"] += 1
        log.warning("%s received: %s", signame, "stopping" if signals["count"] == 1 else "now")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    end_ns = session.start_ns + int(duration * 1e9) if duration is not None else None

    def trading_done() -> bool:
        return signals["count"] > 0 or (end_ns is not None and host.now_ns() >= end_ns)

    host.engine.control(Command(CommandKind.START, reason="headless run"))
    try:
        await host.run(trading_done)
        await host.wind_down(flatten, hurry=lambda: signals["count"] > 1)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return host.summary()


@verify_app.command("as-paper")
def verify_as_paper(
    gamma: Annotated[float, typer.Option(help="Risk aversion γ of the paper's setting.")] = 0.1,
    paths: Annotated[int, typer.Option(help="Number of simulated paths.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run Avellaneda & Stoikov (2008)'s simulation through our strategy code."""
    if not gamma > 0:
        fail(f"--gamma: must be > 0 (got {gamma}); the paper uses 0.01, 0.1 and 0.5")
    if paths < 1:
        fail(f"--paths: must be >= 1 (got {paths})")
    from tradetui.verify.as_paper import format_as_paper, run_as_paper

    result = run_as_paper(gamma, paths=paths, seed=seed)
    typer.echo(json.dumps(result) if json_out else format_as_paper(result))


@config_app.command("example")
def config_example() -> None:
    """Print a complete example config with every key, its default, unit and meaning."""
    from tradetui.config import render_example

    typer.echo(render_example(), nl=False)


@config_app.command("check")
def config_check(config: ConfigOpt = None) -> None:
    """Validate the config file and environment overrides."""
    from tradetui.config import find_config

    _load(config)
    found = find_config(config)
    typer.echo(f"ok: {found if found else 'defaults (no config file found)'}")


def main() -> None:
    app()
