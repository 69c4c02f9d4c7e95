"""API keys from the environment or a 0600 secrets file, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradetui.config import ConfigError, VenueSettings, settings_from_mapping
from tradetui.credentials import ApiKeys, load_keys

LIVE = VenueSettings(exchange="binanceusdm")


def test_keys_come_from_the_environment() -> None:
    keys = load_keys(LIVE, {"TRADETUI_API_KEY": "k-123", "TRADETUI_API_SECRET": "s-456"})

    assert (keys.key, keys.secret) == ("k-123", "s-456")
    assert "k-123" not in repr(keys)
    assert "s-456" not in repr(keys)


def test_missing_secret_names_the_variable_and_the_fix() -> None:
    with pytest.raises(ConfigError, match="TRADETUI_API_SECRET is not set; export") as err:
        load_keys(LIVE, {"TRADETUI_API_KEY": "k-123"})

    assert "k-123" not in str(err.value)


def write_secrets(tmp_path: Path, mode: int, text: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_keys_come_from_a_0600_secrets_file(tmp_path: Path) -> None:
    path = write_secrets(tmp_path, 0o600, 'api_key = "fk"\napi_secret = "fs"\n')

    keys = load_keys(VenueSettings(exchange="binanceusdm", secrets_file=str(path)), {})

    assert keys == ApiKeys("fk", "fs")


def test_secrets_file_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = write_secrets(tmp_path, 0o644, 'api_key = "fk"\napi_secret = "fs"\n')

    with pytest.raises(ConfigError, match=r"mode 0644\); run chmod 600"):
        load_keys(VenueSettings(exchange="binanceusdm", secrets_file=str(path)), {})


def test_broken_secrets_file_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = write_secrets(tmp_path, 0o600, 'api_key = "fk-secret-value\n')

    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_keys(VenueSettings(exchange="binanceusdm", secrets_file=str(path)), {})

    assert "fk-secret-value" not in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("exchange", "Binance USDM", "ccxt exchange id"),
        ("rest_url", "127.0.0.1:8765", "scheme://host"),
        ("client_id_prefix", "tradetui-bot", "1 to 8 letters or digits"),
        ("recv_window_ms", 90_000, "1..60000"),
        ("margin_mode", "portfolio", "'cross', 'isolated'"),
    ],
)
def test_bad_venue_settings_are_refused_naming_the_key(
    key: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=f"venue.{key}: .*{message}"):
        settings_from_mapping({"venue": {key: value}})


def test_config_check_reports_live_keys_present_without_showing_them() -> None:
    from typer.testing import CliRunner

    from tradetui.cli import app

    env = {
        "TRADETUI_VENUE__EXCHANGE": "binanceusdm",
        "TRADETUI_API_KEY": "k-visible-nowhere",
        "TRADETUI_API_SECRET": "s-visible-nowhere",
    }
    ok = CliRunner().invoke(app, ["config", "check", "--config", "/dev/null"], env=env)
    missing = CliRunner().invoke(
        app, ["config", "check", "--config", "/dev/null"], env={**env, "TRADETUI_API_KEY": ""}
    )

    assert ok.exit_code == 0
    assert "API keys present (TRADETUI_API_KEY/TRADETUI_API_SECRET)" in ok.stdout
    assert "visible-nowhere" not in ok.stdout + ok.stderr
    assert missing.exit_code == 2
    assert "TRADETUI_API_KEY is not set" in missing.stderr
