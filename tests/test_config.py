"""Settings: validation messages, environment overrides, the documented example."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradetui.config import ConfigError, Settings, load_settings, render_example

EXAMPLE = Path(__file__).resolve().parents[1] / "config.toml.example"


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return load_settings(p, env or {})


def test_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert load_settings(None, {}) == Settings()


def test_example_file_matches_schema_and_parses(tmp_path: Path) -> None:
    assert EXAMPLE.read_text() == render_example(), "regenerate: tradetui config example"
    assert load_settings(EXAMPLE, {}) == Settings()


def test_unknown_key_names_key_and_valid_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy\.gama: unknown key; valid keys .*gamma"):
        _load(tmp_path, "[strategy]\ngama = 0.1\n")


def test_unknown_section_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[strat\]: unknown section"):
        _load(tmp_path, "[strat]\ngamma = 0.1\n")


def test_wrong_type_names_expected_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy\.gamma: expected float, got str"):
        _load(tmp_path, '[strategy]\ngamma = "high"\n')


def test_bool_is_not_a_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"strategy\.min_spread_ticks: expected int"):
        _load(tmp_path, "[strategy]\nmin_spread_ticks = true\n")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[strategy]\ngamma = 0\n", r"strategy\.gamma: must be > 0 \(got 0\.0\)"),
        ("[strategy]\ngamma = -1\n", r"strategy\.gamma: must be > 0"),
        ("[strategy]\norder_size = -0.01\n", r"strategy\.order_size: must be > 0"),
        ("[sim]\nqueue_model = 'fifo'\n", r"sim\.queue_model: must be one of"),
        (
            "[feed]\ndepth_limit = 200\n",
            r"feed\.depth_limit: must be one of 5, 10, 20, 50, 100, 500, 1000 ",
        ),
    ],
)
def test_bad_values_explain_the_fix(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        _load(tmp_path, text)


def test_error_message_is_one_line_with_file_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "[strategy]\ngamma = -1\n")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(tmp_path / "config.toml"))


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        _load(tmp_path, "[strategy\n")


def test_missing_explicit_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", {})


def test_env_override_wins_over_file(tmp_path: Path) -> None:
    s = _load(tmp_path, "[strategy]\ngamma = 0.1\n", {"TRADETUI_STRATEGY__GAMMA": "0.3"})
    assert s.strategy.gamma == 0.3


def test_env_override_string_and_validation(tmp_path: Path) -> None:
    s = _load(tmp_path, "", {"TRADETUI_SIM__QUEUE_MODEL": "power"})
    assert s.sim.queue_model == "power"
    with pytest.raises(ConfigError, match=r"strategy\.gamma: must be > 0"):
        _load(tmp_path, "", {"TRADETUI_STRATEGY__GAMMA": "-2"})


def test_replace_validates_changes() -> None:
    s = Settings()
    assert s.replace("strategy", gamma=0.5).strategy.gamma == 0.5
    with pytest.raises(ConfigError, match=r"strategy\.gamma: must be > 0"):
        s.replace("strategy", gamma=-0.5)


# A Binance-style API key (64 letters and digits), a Telegram bot token, and a secret with
# symbols: what a user pastes into a setting that wants a variable's name.
PASTED = [
    "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "s3cr3t/with+symbols==",
]


@pytest.mark.parametrize("key", ["venue.api_key_env", "venue.api_secret_env", "telegram.token_env"])
@pytest.mark.parametrize("secret", PASTED)
def test_a_secret_pasted_where_a_variable_name_belongs_is_refused_unechoed(
    tmp_path: Path, key: str, secret: str
) -> None:
    section, name = key.split(".")
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f'[{section}]\n{name} = "{secret}"\n')
    msg = str(info.value)
    assert f"{key}: " in msg
    assert "the value is not shown" in msg
    assert secret not in msg
    assert secret[:8] not in msg
    env = f"TRADETUI_{section.upper()}__{name.upper()}"
    with pytest.raises(ConfigError) as from_env:
        _load(tmp_path, "", {env: secret})
    assert secret not in str(from_env.value)


def test_ordinary_variable_names_are_accepted(tmp_path: Path) -> None:
    s = _load(tmp_path, '[venue]\napi_key_env = "BINANCE_KEY_2"\napi_secret_env = "MY_SECRET"\n')
    assert (s.venue.api_key_env, s.venue.api_secret_env) == ("BINANCE_KEY_2", "MY_SECRET")
