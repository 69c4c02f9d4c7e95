"""The import-linter contracts in pyproject.toml (the layers of ARCHITECTURE.md) hold."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    # No cache: it would be written into the tree, and a stale one could hide a new import.
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
