"""The import-linter contracts in pyproject.toml (the layers of ARCHITECTURE.md) hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# In a child process: import-linter's CLI calls logging.config.dictConfig, which disables
# every logger already created in the process, so later tests' log captures would see nothing.
_LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True))"
)


def test_import_contracts_are_kept() -> None:
    # No cache: it would be written into the tree, and a stale one could hide a new import.
    run = subprocess.run(
        [sys.executable, "-c", _LINT, str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
