"""Keep every test (and the subprocesses it starts) out of the user's real directories."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer


@pytest.fixture(autouse=True, scope="session")
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = tmp_path_factory.mktemp("xdg")
    names = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR")
    saved = {n: os.environ.get(n) for n in names}
    for n in names:
        d = Path(root, n.lower())
        d.mkdir(mode=0o700)
        os.environ[n] = str(d)
    yield
    for n, v in saved.items():
        if v is None:
            os.environ.pop(n, None)
        else:
            os.environ[n] = v


def scratch_app(register: Callable[[typer.Typer], None]) -> typer.Typer:
    """A bare typer app holding only the commands that ``register`` adds (a group, so each
    command is invoked by its name as in the real CLI)."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Scratch app."""

    register(app)
    return app


@pytest.fixture(autouse=True)
def _private_catalog(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test its own instrument catalog folder: a live test's cached markets never
    decide another test's paper instrument."""
    folder = tmp_path_factory.mktemp("catalog")
    monkeypatch.setenv("TRADETUI_CATALOG_DIR", str(folder))
    return folder
