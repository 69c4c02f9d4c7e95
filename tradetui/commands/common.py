"""Pieces every command shares: the one-line error exit and argument parsers."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

# Exit codes of a trading session (README, "Exit codes"); 1 is a command the engine refused.
EXIT_BAD_INPUT = 2  # a bad flag, config, file or database: nothing was traded
EXIT_HALTED = 3  # the session ended HALTED (risk guard, reject burst, exchange ban)
EXIT_STORE_FAILED = 4  # persistence failed: rows went to the journal, replayed next start
EXIT_REFUSED = 5  # the start was refused (venue or keys, control socket in use)
EXIT_UNCONFIRMED = 6  # a hurried stop could not confirm that nothing of ours still works

# A stored session and where its database is, for commands that read one (as `report`).
SessionArg = Annotated[
    int, typer.Argument(min=1, help="Session id (`tradetui sessions` lists them).")
]
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Database file (default: NAME.db in store.dir or the user data dir)."
    ),
]
StoredNameOpt = Annotated[
    str | None,
    typer.Option("--name", help="Instance name whose database to read (as for `report`)."),
]
StoredConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config locating the database (as `report`)."),
]


def session_exit_code(summary: Mapping[str, Any]) -> int:
    """0 for a clean end, else why the session ended badly: first an exchange that may still
    hold an order of ours (a hurried stop that could not confirm), then a persistence failure
    (it also halts, and the journal is what the user must know about)."""
    if summary.get("unconfirmed"):
        return EXIT_UNCONFIRMED
    if summary.get("store_failed"):
        return EXIT_STORE_FAILED
    if summary.get("state") == "halted":
        return EXIT_HALTED
    return 0


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one clear error line and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


_TIMES = ("time", "started", "ended")


def print_table(
    title: str,
    rows: list[dict[str, Any]],
    columns: list[str],
    left: Sequence[str] = ("side",),
) -> None:
    """``rows`` as a compact table of ``columns`` for people that fits 80 columns: times as
    ``2026-12-06 22:59:11.569`` (UTC, said in the title) and never cut; numbers right-aligned,
    the ``left`` ones left; a cell too wide for the terminal folds."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    title = f"{title}, times UTC" if set(columns) & set(_TIMES) else title
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=0, pad_edge=False)
    for c in columns:
        if c in _TIMES:
            table.add_column(c, no_wrap=True, min_width=len("2026-12-06 22:59:11.569"))
        else:
            table.add_column(c, justify="left" if c in left else "right", overflow="fold")
    for r in rows:
        table.add_row(*(_cell(c, r[c]) for c in columns))
    # Scripts piping the table get full-width rows (unless COLUMNS says otherwise).
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    Console(width=None if wide else 200).print(table)


def _cell(column: str, value: Any) -> str:
    text = str(value)
    if column in _TIMES:  # ISO 8601 UTC from iso_utc: '2026-12-06T22:59:11.569+00:00'
        return text.replace("T", " ").removesuffix("+00:00")
    return text


SEED_RANGE = {"min": 0, "max": 2**63 - 1}
"""typer.Option bounds of a random seed (numpy takes any non-negative int; SQLite stores int64)."""
SESSION_RANGE = {"min": 1, "max": 2**63 - 1}
"""typer.Option bounds of a stored session id (an SQLite rowid: positive int64)."""
PORT_RANGE = {"min": 0, "max": 65535}
"""typer.Option bounds of a TCP port (0 picks a free one)."""


def cannot_listen(host: str, port: int, exc: OSError) -> NoReturn:
    """The one-line exit of a server that cannot bind ``host:port``."""
    why = exc.strerror or str(exc)
    fail(f"cannot listen on {host}:{port} ({why}); pick another --port or --host")


def parse_speed(text: str) -> float | None:
    """--speed: a positive multiple of real time, or 'max' (None: unpaced)."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        fail(f"--speed: expected a number like 1 or 10, or 'max' (got {text!r})")
    if not MIN_SPEED <= value <= MAX_SPEED:
        fail(
            f"--speed: must be between {MIN_SPEED:g} and {MAX_SPEED:g} times real time, "
            f"or 'max' (got {text!r})"
        )
    return value


# --speed bounds: slower than 1/1000 would take a day per 90 market seconds (and sleep through
# signals between events); faster than a million is what 'max' is for.
MIN_SPEED = 1e-3
MAX_SPEED = 1e6
# --duration bound, market seconds: ten years (nanosecond times stay far inside int64).
MAX_DURATION_S = 10 * 365 * 86_400


_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str) -> float | None:
    """A duration like 90s, 15m, 2h or 1d in seconds (a bare number is seconds, as `run
    --duration 30` reads); None when ``text`` is not one."""
    t = text.strip()
    if t.replace(".", "", 1).isdigit():
        return float(t)
    if t[-1:] in _UNITS_S and t[:-1].replace(".", "", 1).isdigit():
        return float(t[:-1]) * _UNITS_S[t[-1]]
    return None
