"""The filter in a running engine: model reloads between decisions, drift alerts, console rows."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest
from rich.text import Text

from tests.ml.conftest import tiny_model
from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import DecisionMade, EngineEvent, ModelDrift, ModelReloaded
from tradetui.engine.runner import run_virtual
from tradetui.engine.snapshot import take_snapshot
from tradetui.ml.filter import MlStatus
from tradetui.ml.model import CARD_FILE, MODEL_FILE, load_model
from tradetui.ml.monitor import MonitorStats
from tradetui.ml.reload import ModelReloader
from tradetui.ml.retrain import promote
from tradetui.session import PaperSession, build_paper_session
from tradetui.tui.widgets.strategy import ml_rows

S = 1_000_000_000


def session(model: Path, **ml: object) -> tuple[PaperSession, list[EngineEvent]]:
    settings = Settings().replace("ml", enabled=True, model=str(model), **ml)
    s = build_paper_session(settings, seed=3, virtual=True)
    seen: list[EngineEvent] = []
    s.engine.bus.subscribe(seen.append)
    s.engine.control(Command(CommandKind.START, reason="test"))
    return s, seen


def run_for(s: PaperSession, seconds: float) -> None:
    clock = s.clock
    assert isinstance(clock, VirtualClock)
    run_virtual(s.engine, s.venue, clock, clock.now_ns() + int(seconds * S))


def test_running_engine_swaps_in_a_new_model_without_missing_a_decision(
    tmp_path: Path,
) -> None:
    live = tiny_model(tmp_path / "live", rounds=10)
    other = load_model(tiny_model(tmp_path / "other", rounds=3))
    s, seen = session(live, reload_check_s=1.0)
    ml = s.engine.ml
    assert ml is not None
    first = ml.model.sha256
    run_for(s, 20)
    assert ml.predictions > 0
    # The retrainer's swap: both files moved into place with os.replace.
    promote(other.booster, dict(other.card), live)
    deadline = time.monotonic() + 30
    while ml.reloads == 0 and time.monotonic() < deadline:
        run_for(s, 1)
        time.sleep(0.02)  # the load runs in a background thread
    assert ml.reloads == 1
    run_for(s, 5)
    assert ml.model.sha256 == other.sha256 != first
    decisions = [e for e in seen if isinstance(e, DecisionMade)]
    explained = [
        d for d in decisions if any(a.startswith("ml p_up") for a in d.decision.adjustments)
    ]
    # Every decision after the first touch carried a prediction, before and after the swap.
    assert len(explained) == ml.predictions
    assert decisions[-len(explained) :] == explained
    reloaded = [e for e in seen if isinstance(e, ModelReloaded)]
    assert len(reloaded) == 1
    assert reloaded[0].previous_sha256 == first
    assert reloaded[0].sha256 == other.sha256


def test_a_model_for_another_instrument_is_not_swapped_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = tiny_model(tmp_path / "live", rounds=10)
    other = load_model(tiny_model(tmp_path / "other", rounds=3))
    s, _ = session(live, reload_check_s=1.0)
    ml = s.engine.ml
    assert ml is not None
    first = ml.model.sha256
    run_for(s, 5)
    spec = {**s.engine.instrument.to_spec(), "symbol": "ETHUSDT", "base": "ETH"}
    card = {**other.card, "instrument": spec, "instrument_agnostic": False}
    promote(other.booster, card, live)
    with caplog.at_level(logging.WARNING):
        deadline = time.monotonic() + 30
        while "not reloaded" not in caplog.text and time.monotonic() < deadline:
            run_for(s, 1)
            time.sleep(0.02)  # the load runs in a background thread
    assert "ml model not reloaded (trained for " in caplog.text
    assert "(symbol differs)" in caplog.text
    assert ml.reloads == 0
    assert ml.model.sha256 == first


def test_broken_model_files_keep_the_current_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = tiny_model(tmp_path / "m")
    sha = load_model(d).sha256
    r = ModelReloader(d, sha, check_ns=S, background=False)
    assert r.poll(0) is None  # unchanged files
    (d / MODEL_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="tradetui.ml.reload"):
        assert r.poll(S) is None
    assert r.failures == 1
    assert "keeping the current model" in caplog.text
    assert r.poll(S + 1) is None  # not checked again before check_ns has passed
    good = tiny_model(tmp_path / "good", rounds=4)
    shutil.copy(good / MODEL_FILE, d / MODEL_FILE)
    shutil.copy(good / CARD_FILE, d / CARD_FILE)
    new = r.poll(3 * S)
    assert new is not None
    assert new.sha256 == load_model(good).sha256


def test_drift_is_published_logged_and_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = tiny_model(tmp_path / "m")
    # A hit rate of 100 % is out of reach: the check must flag drift once it has 20 outcomes.
    s, seen = session(d, drift_min_hit_rate=1.0, drift_min_predictions=20, monitor_window=50)
    with caplog.at_level(logging.WARNING, logger="tradetui.ml.filter"):
        run_for(s, 60)
    drift = [e for e in seen if isinstance(e, ModelDrift)]
    assert drift
    assert drift[0].drifting
    assert any(r.startswith("hit rate") for r in drift[0].reasons)
    assert "ml model drifting: hit rate" in caplog.text
    snap = take_snapshot(s.engine, 10)
    assert snap.ml is not None
    assert snap.ml.monitor.drifting
    rows = dict(ml_rows(snap.ml))
    check = rows["ML check"]
    assert isinstance(check, Text)
    assert check.plain.startswith("DRIFT")


@pytest.mark.parametrize("action", ["alert", "disable"])
def test_drift_switches_the_filter_off_only_when_configured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, action: str
) -> None:
    d = tiny_model(tmp_path / "m")
    s, seen = session(
        d,
        drift_min_hit_rate=1.0,
        drift_min_predictions=20,
        monitor_window=50,
        drift_action=action,
    )
    with caplog.at_level(logging.WARNING, logger="tradetui.ml.filter"):
        run_for(s, 60)
    ml = s.engine.ml
    assert ml is not None
    drift = [e for e in seen if isinstance(e, ModelDrift)]
    assert drift
    assert drift[0].drifting
    at = seen.index(drift[0])
    after = [e.decision for e in seen[at:] if isinstance(e, DecisionMade)]
    assert len(after) > 20
    filtered = [d for d in after if any(a.startswith("ml p_up") for a in d.adjustments)]
    predictions = ml.predictions
    run_for(s, 5)
    assert ml.predictions > predictions  # the check goes on either way
    snap = take_snapshot(s.engine, 10)
    assert snap.ml is not None
    check = dict(ml_rows(snap.ml))["ML check"]
    assert isinstance(check, Text)
    if action == "disable":
        assert ml.disabled
        assert drift[0].disabled
        assert "ML filter switched off (ml.drift_action = disable)" in drift[0].summary
        assert "switched off" in caplog.text
        # The decision that detected drift was still filtered; none after it.
        assert len(filtered) <= 1
        assert ml.summary()["disabled_by_drift"] is True
        assert check.plain.startswith("OFF drift")
    else:
        assert not ml.disabled
        assert not drift[0].disabled
        assert "switched off" not in caplog.text
        assert len(filtered) == len(after)
        assert check.plain.startswith("DRIFT")


def test_a_new_model_switches_a_drift_disabled_filter_back_on(tmp_path: Path) -> None:
    d = tiny_model(tmp_path / "m")
    s, _ = session(
        d,
        drift_min_hit_rate=1.0,
        drift_min_predictions=20,
        monitor_window=50,
        drift_action="disable",
    )
    run_for(s, 60)
    ml = s.engine.ml
    assert ml is not None
    assert ml.disabled
    ml.swap(load_model(tiny_model(tmp_path / "other", rounds=3)), s.clock.now_ns())
    assert not ml.disabled


def _status(n: int, reasons: tuple[str, ...] = ()) -> MlStatus:
    st = MonitorStats(n, 0.413, 0.6512, 0.6631, 0.35, 0.33, 0.31, 0.34, reasons)
    return MlStatus(0.3123, 0.3541, 1000, 0, st, "ab" * 32, 0, 100)


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (None, "off"),
        (_status(0), "warming up 0/100"),
        (_status(40), "warming up 40/100"),
        (_status(600), "ok hit 41% cal .03"),
        (_status(600, ("hit rate 0.41 < 0.5",)), "DRIFT hit41% cal.03"),
    ],
)
def test_console_rows_fit_the_strategy_pane(status: MlStatus | None, shown: str) -> None:
    rows = ml_rows(status)
    texts = [v.plain if isinstance(v, Text) else v for _, v in rows]
    assert texts[-1] == shown
    # The pane is 33 cells wide inside; labels take 14 of them.
    assert all(len(t) <= 19 for t in texts)
