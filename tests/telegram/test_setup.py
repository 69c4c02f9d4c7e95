"""[telegram] settings: chats with roles, switches, token from the environment only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tradetui.alerts.message import AlertKind
from tradetui.alerts.setup import check_setup, switches, trading_mode
from tradetui.config import ConfigError, Settings, TelegramSettings, load_settings, parse_chats


def test_chats_parse_ids_and_roles() -> None:
    assert parse_chats("123:trader, -1009:viewer;7") == {
        123: "trader",
        -1009: "viewer",
        7: "viewer",
    }
    assert parse_chats("") == {}
    with pytest.raises(ValueError, match="role must be viewer or trader"):
        parse_chats("123:admin")
    with pytest.raises(ValueError, match="not CHAT_ID:ROLE"):
        parse_chats("me:trader")


def test_a_chat_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="chat 123 is listed twice"):
        parse_chats("123:trader, 123:viewer")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('token_env = ""', r"telegram\.token_env: must be the name of an environment variable"),
        (
            'token_env = "MY BOT"',
            r"telegram\.token_env: must be the name of an environment variable",
        ),
        ('api_base_url = "ftp://x"', r"telegram\.api_base_url: expected http\(s\)://host"),
        ('api_base_url = "127.0.0.1:8081"', r"telegram\.api_base_url: expected http\(s\)://host"),
    ],
)
def test_bad_telegram_keys_are_one_line_at_load(tmp_path: Path, line: str, says: str) -> None:
    p = tmp_path / "config.toml"
    p.write_text(f"[telegram]\n{line}\n")
    with pytest.raises(ConfigError, match=says) as err:
        load_settings(p, {})
    assert len(str(err.value).splitlines()) == 1


def test_bad_chats_in_the_file_is_one_line_naming_the_key(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[telegram]\nchats = "42:boss"\n')
    with pytest.raises(ConfigError, match=r"telegram\.chats: '42:boss': role must be"):
        load_settings(p, {})


def test_a_token_in_the_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[telegram]\ntoken = "1:abc"\n')
    with pytest.raises(ConfigError, match=r"telegram\.token: unknown key"):
        load_settings(p, {})


def test_switch_values_are_checked_and_mapped(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[telegram]\nalert_fills = "loud"\n')
    with pytest.raises(ConfigError, match=r"telegram\.alert_fills: must be one of 'on'"):
        load_settings(p, {})
    s = switches(TelegramSettings(alert_fills="off", alert_halt="silent"))
    assert s[AlertKind.FILLS] == "off"
    assert s[AlertKind.HALT] == "silent"
    assert set(s) == set(AlertKind) - {AlertKind.TEST}


def test_setup_needs_token_from_the_named_variable_and_chats() -> None:
    t = TelegramSettings(enabled=True, token_env="MY_BOT", chats="1:trader")
    with pytest.raises(ConfigError, match="environment variable MY_BOT is empty"):
        check_setup(t, {})
    with pytest.raises(ConfigError, match="does not look like a bot token"):
        check_setup(t, {"MY_BOT": "nocolon"})
    assert check_setup(t, {"MY_BOT": " 1:abc \n"}) == "1:abc"
    with pytest.raises(ConfigError, match=r"telegram\.chats: empty"):
        check_setup(TelegramSettings(enabled=True), {"TRADETUI_TELEGRAM_TOKEN": "1:abc"})


def test_mode_is_paper_on_the_sim_venue() -> None:
    assert trading_mode(Settings()) == "PAPER"


def test_telegram_library_is_loaded_only_when_telegram_is_used() -> None:
    probe = (
        "import sys, tradetui.cli, tradetui.alerts.setup, tradetui.tui.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'telegram'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
