"""Where databases live: one file per instance (``<name>.db``), so two instances never share
one. Default instance names begin with the mode (paper-…, live-…), and a database records its
mode, so a paper run given a live database is refused (schema.open_db)."""

from __future__ import annotations

from pathlib import Path


def default_db_path(name: str, directory: str = "") -> Path:
    """``<directory>/<name>.db``; an empty directory means the user data directory."""
    if directory:
        base = Path(directory).expanduser()
    else:
        from platformdirs import user_data_path

        base = user_data_path("tradetui")
    return base / f"{name}.db"
