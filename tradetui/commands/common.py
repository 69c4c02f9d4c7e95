"""Pieces every command shares: the one-line error exit and argument parsers."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear error line and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_speed(text: str) -> float | None:
    """--speed: a positive multiple of real time, or 'max' (None: unpaced)."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        fail(f"--speed: expected a number like 1 or 10, or 'max' (got {text!r})")
    if not value > 0:
        fail(f"--speed: must be > 0 or 'max' (got {text!r})")
    return value
