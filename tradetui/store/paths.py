"""Where databases live: one file per mode, so paper and live never share one."""

from __future__ import annotations

from pathlib import Path

MODES = ("paper", "live")


def default_db_path(mode: str, directory: str = "") -> Path:
    """``<directory>/<mode>.db``; an empty directory means the user data directory."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if directory:
        base = Path(directory).expanduser()
    else:
        from platformdirs import user_data_path

        base = user_data_path("tradetui")
    return base / f"{mode}.db"
