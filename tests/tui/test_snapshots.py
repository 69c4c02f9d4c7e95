"""SVG snapshots of the main screen, help and confirm dialogs with deterministic data.

The session is a seeded run on the virtual clock, painted without the live engine task, so
prices, ages and PnL are the same on every run; decision latency (measured in wall time) is
cleared before painting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.ml.conftest import tiny_model
from tradetui.config import Settings
from tradetui.host import EngineHost
from tradetui.tui.app import TradeApp, make_app

MakeHost = Callable[..., EngineHost]
SnapCompare = Callable[..., bool]


def frozen_app(make_host: MakeHost, settings: Settings | None = None) -> TradeApp:
    host = make_host(seconds=20, settings=settings)
    host.engine.latency_count = 0
    return make_app(host, live=False)


def test_main_screen_at_120x35(make_host: MakeHost, snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(make_host), terminal_size=(120, 35))


def test_reduced_layout_at_80x24(make_host: MakeHost, snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(make_host), terminal_size=(80, 24))


def test_too_small_message(make_host: MakeHost, snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(make_host), terminal_size=(60, 16))


def test_help_screen(make_host: MakeHost, snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(make_host), press=["question_mark"], terminal_size=(120, 35))


def test_flatten_confirm_dialog(make_host: MakeHost, snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(make_host), press=["f"], terminal_size=(120, 35))


def test_quit_confirm_dialog(make_host: MakeHost, snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(make_host), press=["q"], terminal_size=(120, 35))


def test_main_screen_with_the_ml_filter(
    make_host: MakeHost, snap_compare: SnapCompare, tmp_path: Path
) -> None:
    model = tiny_model(tmp_path / "model")
    settings = Settings().replace(
        "ml", enabled=True, model=str(model), drift_min_predictions=20, monitor_window=50
    )
    assert snap_compare(frozen_app(make_host, settings), terminal_size=(120, 35))
