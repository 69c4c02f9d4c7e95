"""Pure rooms import no I/O, event-loop or UI library, and the engine imports no UI.

Each check imports in a fresh interpreter so modules loaded by pytest or other tests do not
hide a leak.
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import subprocess
import sys

import pytest

IO_AND_UI = ("asyncio", "textual", "ccxt", "sqlite3", "aiosqlite", "telegram")

CORE_MODULES = [
    "tradetui.core.types",
    "tradetui.core.instrument",
    "tradetui.core.book",
    "tradetui.core.clock",
    "tradetui.core.accounting",
]
# Pure modules other rooms provide; checked whenever they exist.
OPTIONAL_PURE_MODULES = [
    "tradetui.strategy.avellaneda",
    "tradetui.strategy.estimators",
    "tradetui.strategy.quoting",
    "tradetui.matching.engine",
    "tradetui.ml.features",
]
# Every module found in these packages is held to the same rule, so new files are covered.
PURE_PACKAGES = ["tradetui.core", "tradetui.strategy", "tradetui.risk", "tradetui.matching"]

# Imports the modules named in argv[2:] and prints which forbidden top-level packages
# (argv[1], comma-separated) ended up loaded.
_PROBE = """
import importlib, json, sys
forbidden = set(sys.argv[1].split(","))
for name in sys.argv[2:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in forbidden)))
"""


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def modules_in(package: str) -> list[str]:
    """Dotted names of the modules directly inside ``package`` (none when it is absent)."""
    spec = importlib.util.find_spec(package) if module_exists(package) else None
    if spec is None or spec.submodule_search_locations is None:
        return []
    found = pkgutil.iter_modules(spec.submodule_search_locations, prefix=f"{package}.")
    return [info.name for info in found]


def loaded_after_import(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """Forbidden modules present in a fresh interpreter after importing ``modules``."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(forbidden), *modules],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_pure_rooms_import_no_io_event_loop_or_ui() -> None:
    optional = OPTIONAL_PURE_MODULES + [m for p in PURE_PACKAGES for m in modules_in(p)]
    modules = CORE_MODULES + sorted({m for m in optional if module_exists(m)})
    assert loaded_after_import(modules, IO_AND_UI) == []


@pytest.mark.skipif(not module_exists("tradetui.engine.engine"), reason="no engine yet")
def test_engine_imports_no_ui() -> None:
    assert loaded_after_import(["tradetui.engine", "tradetui.engine.engine"], ("textual",)) == []


def test_session_lifecycle_imports_no_ui() -> None:
    # A headless run wires its session through the same lifecycle as the console.
    assert loaded_after_import(["tradetui.lifecycle", "tradetui.engine.parts"], ("textual",)) == []
