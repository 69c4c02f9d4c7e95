"""API keys for live trading: from the environment, or from a secrets file only we can read.

Keys are write-only: nothing here puts them in a message, a repr or an exception. A secrets
file is TOML with ``api_key`` and ``api_secret`` and must not be readable or writable by group
or others (mode 0600); otherwise it is refused, because a key others can read is a key others
can trade with.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tradetui.config import ConfigError, VenueSettings


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """An API key pair; its repr never shows either value."""

    key: str = field(repr=False)
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return "ApiKeys(<redacted>)"


def load_keys(venue: VenueSettings, env: Mapping[str, str] | None = None) -> ApiKeys:
    """The configured keys; raises ConfigError (one line, no secret in it) when missing, empty
    or in a file others can read."""
    if venue.secrets_file:
        return _from_file(Path(venue.secrets_file).expanduser())
    env = os.environ if env is None else env
    key = env.get(venue.api_key_env, "").strip()
    secret = env.get(venue.api_secret_env, "").strip()
    missing = [
        name for name, v in ((venue.api_key_env, key), (venue.api_secret_env, secret)) if not v
    ]
    if missing:
        raise ConfigError(
            f"venue.exchange = {venue.exchange!r} trades live but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; export them, or set "
            "venue.secrets_file to a mode-0600 file with api_key and api_secret"
        )
    return ApiKeys(key, secret)


def _from_file(path: Path) -> ApiKeys:
    where = f"venue.secrets_file: {path}"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{where}: not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{where}: readable or writable by others (mode {mode:04o}); run chmod 600 {path}"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{where}: cannot read it") from None
    except tomllib.TOMLDecodeError:
        # The parser's message may quote the line, i.e. the secret: say where, not what.
        raise ConfigError(
            f'{where}: not valid TOML; expected api_key = "..." and api_secret = "..."'
        ) from None
    key, secret = data.get("api_key"), data.get("api_secret")
    if (
        not isinstance(key, str)
        or not isinstance(secret, str)
        or not key.strip()
        or not secret.strip()
    ):
        raise ConfigError(f"{where}: needs non-empty api_key and api_secret strings")
    unknown = sorted(set(data) - {"api_key", "api_secret"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; only api_key and api_secret")
    return ApiKeys(key.strip(), secret.strip())
