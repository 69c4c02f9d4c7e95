"""Keep every test (and the subprocesses it starts) out of the user's real directories."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer


@pytest.fixture(autouse=True, scope="session")
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = tmp_path_factory.mktemp("xdg")
    names = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR")
    saved = {n: os.environ.get(n) for n in names}
    for n in names[:-1]:
        d = Path(root, n.lower())
        d.mkdir(mode=0o700)
        os.environ[n] = str(d)
    # The runtime dir holds control sockets, whose path a Unix socket caps at 107 bytes: a
    # short folder of its own, not under the (per-worker, longer) pytest temp root.
    runtime = tempfile.TemporaryDirectory(prefix="tt")
    os.environ["XDG_RUNTIME_DIR"] = runtime.name
    saved_catalogs = os.environ.pop("TRADETUI_CATALOG_DIR", None)
    _cache_simulated_catalogs()
    yield
    for n, v in saved.items():
        if v is None:
            os.environ.pop(n, None)
        else:
            os.environ[n] = v
    if saved_catalogs is not None:
        os.environ["TRADETUI_CATALOG_DIR"] = saved_catalogs
    runtime.cleanup()


def _cache_simulated_catalogs() -> None:
    """The session's private catalog cache holds what the simulated exchanges list (USD-M,
    COIN-M and spot BTC and ETH), as after `tradetui markets sync` against the sandbox, so
    recorded files find their instrument. A test of "no catalog" points
    TRADETUI_CATALOG_DIR at an empty folder."""
    from tradetui.venues.catalog import VENUE_EXCHANGES, catalog_dir, save_catalog
    from tradetui.venues.sim_listing import sim_catalog

    for exchange in VENUE_EXCHANGES.values():
        save_catalog(sim_catalog(exchange))
    os.environ[_SIMULATED_CATALOGS] = str(catalog_dir())


_SIMULATED_CATALOGS = "TRADETUI_TEST_SIMULATED_CATALOGS"


@pytest.fixture
def simulated_catalogs(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The catalog cache is the session's one holding the simulated listing, whatever folder
    another fixture gave this test: for tests of files whose instrument comes from a catalog."""
    folder = os.environ[_SIMULATED_CATALOGS]
    monkeypatch.setenv("TRADETUI_CATALOG_DIR", folder)
    return Path(folder)


_RUNTIME_DIRS: dict[Path, Path] = {}


def short_runtime_dir(tmp: Path) -> Path:
    """The private runtime folder (control sockets) of the test whose temp folder is ``tmp``,
    for its subprocesses: short, as a socket path must be, and removed with the session's."""
    if tmp not in _RUNTIME_DIRS:
        _RUNTIME_DIRS[tmp] = Path(tempfile.mkdtemp(prefix="r", dir=os.environ["XDG_RUNTIME_DIR"]))
    return _RUNTIME_DIRS[tmp]


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
