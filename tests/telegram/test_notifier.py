"""The notifier: template, switches, digests, heartbeats, queue bounds and delivery retries."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from telegram.error import BadRequest, NetworkError, RetryAfter

from tests.instruments import btcusdt_perpetual
from tests.telegram.conftest import TRADER, VIEWER, Rig, start_rig, stop_rig, telegram_settings
from tradetui.alerts.message import Alert, AlertKind, HeartbeatSchedule, Level, Slot, render
from tradetui.alerts.notifier import Notifier, NotifierConfig
from tradetui.config import Settings, TelegramSettings
from tradetui.core.accounting import PnlSnapshot
from tradetui.core.types import Fill, Side
from tradetui.engine.events import (
    EngineState,
    FillRecorded,
    FlattenFinished,
    ModelDrift,
    ModelReloaded,
    RiskChanged,
    StateChanged,
    VenueConnection,
)
from tradetui.risk.guard import RiskAction, RiskDecision
from tradetui.sandbox.telegram import SandboxBotApi
from tradetui.venues.sim_listing import sim_instrument

T0 = 1_800_000_000.0  # a wall time (s)


@dataclass
class FakeClock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Outbox:
    """A send function that records, or raises the queued errors first."""

    sent: list[tuple[int, str, bool]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    async def __call__(self, chat: int, text: str, silent: bool) -> object:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((chat, text, silent))
        return None


def make(
    outbox: Outbox, clock: FakeClock, sleeps: list[float] | None = None, **config: object
) -> Notifier:
    async def sleep(s: float) -> None:
        if sleeps is not None:
            sleeps.append(s)
        await asyncio.sleep(0)

    cfg = NotifierConfig(chats=[1, 2], **config)  # type: ignore[arg-type]
    return Notifier(
        outbox,
        cfg,
        btcusdt_perpetual(),
        heartbeat_text=lambda: "all well",
        clock=clock,
        sleep=sleep,
    )


def pnl(position_base: float = 0.0, total: float = 0.0) -> PnlSnapshot:
    return PnlSnapshot(
        settle="USDT",
        position_size=position_base,
        position_lots=0,
        avg_entry=0.0,
        mark=0.0,
        realized=Decimal(0),
        unrealized=Decimal(0),
        fees=Decimal(0),
        rebates=Decimal(0),
        net_fees=Decimal(0),
        gross=Decimal(0),
        total=Decimal(str(total)),
        spread_capture=Decimal(0),
        inventory_pnl=Decimal(0),
        volume_quote=Decimal(0),
        volume_settle=Decimal(0),
        cost_per_10k=0.0,
        fills=0,
        buy_lots=0,
        sell_lots=0,
        max_position_lots=0,
        min_position_lots=0,
    )


def fill(side: Side, lots: int, ticks: int = 600_000) -> FillRecorded:
    f = Fill(
        local_ns=1,
        exch_ns=1,
        client_id="c",
        trade_id="t",
        side=side,
        price_ticks=ticks,
        qty_lots=lots,
        leaves_lots=0,
        fee=0.01,
        is_maker=True,
    )
    return FillRecorded(1, f, 0, pnl(0.003, -1.5))


def test_template_has_level_event_mode_details_and_time() -> None:
    text = render(Alert(Level.CRITICAL, AlertKind.HALT, "HALTED", "drawdown", T0), "live")
    assert text == "🔴 HALTED · LIVE\ndrawdown\n2027-01-15 08:00:00 UTC"


def test_state_events_become_alerts_with_reason() -> None:
    n = make(Outbox(), FakeClock())
    n.on_event(StateChanged(1, EngineState.RUNNING, EngineState.STARTING, "account read"))
    n.on_event(StateChanged(2, EngineState.HALTED, EngineState.RUNNING, "max_loss_per_hour"))
    n.on_event(StateChanged(3, EngineState.STOPPED, EngineState.STARTING, "venue unreadable"))
    n.on_event(StateChanged(4, EngineState.FLATTENING, EngineState.RUNNING, "flatten"))
    got = [(a.level, a.title, a.details) for a in n.queue]
    assert got == [
        (Level.INFO, "STARTED", "account read"),
        (Level.CRITICAL, "HALTED", "max_loss_per_hour"),
        (Level.WARNING, "START FAILED", "venue unreadable"),
    ]


def test_flatten_outcomes_set_the_level() -> None:
    n = make(Outbox(), FakeClock())
    n.on_event(FlattenFinished(1, "flat", 0, 1, "flat after 1 close attempt(s)"))
    n.on_event(FlattenFinished(2, "dust", 3, 2, "below min qty"))
    n.on_event(FlattenFinished(3, "timeout", 40, 9, "gave up"))
    assert [(a.level, a.title) for a in n.queue] == [
        (Level.INFO, "FLATTEN FLAT"),
        (Level.WARNING, "FLATTEN DUST"),
        (Level.CRITICAL, "FLATTEN TIMEOUT"),
    ]
    assert "position +0.003 BTC" in n.queue[1].details


def test_risk_alerts_only_when_quotes_are_pulled_and_when_they_come_back() -> None:
    n = make(Outbox(), FakeClock())

    def risk(action: RiskAction, reason: str) -> RiskChanged:
        return RiskChanged(1, RiskDecision(action, None, None, (reason,), ("x",)))

    n.on_event(risk(RiskAction.CLAMP, "fat finger"))
    n.on_event(risk(RiskAction.PULL, "stale market 6 s"))
    n.on_event(risk(RiskAction.PULL, "stale market 7 s"))
    n.on_event(risk(RiskAction.ALLOW, "ok"))
    n.on_event(risk(RiskAction.CLAMP, "fat finger"))
    n.on_event(risk(RiskAction.HALT, "drawdown"))  # told by the HALTED state alert
    assert [a.title for a in n.queue] == ["QUOTES PULLED", "QUOTES PULLED", "QUOTES BACK"]
    assert "stale market 6 s" in n.queue[0].details


def test_disconnect_and_reconnect_are_alerts() -> None:
    n = make(Outbox(), FakeClock())
    n.on_event(VenueConnection(1, False, "market", "websocket closed"))
    n.on_event(VenueConnection(2, True, "market", "resubscribed"))
    assert [(a.level, a.title) for a in n.queue] == [
        (Level.WARNING, "DISCONNECTED market"),
        (Level.INFO, "RECONNECTED market"),
    ]


def test_model_drift_recovery_and_reload_are_alerts() -> None:
    n = make(Outbox(), FakeClock())
    n.on_event(ModelDrift(1, True, ("hit rate 0.31 < 0.40",), 100, 0.31, 0.7, 0.66, 0.2))
    n.on_event(ModelDrift(2, False, (), 100, 0.45, 0.6, 0.66, 0.05))
    n.on_event(ModelReloaded(3, "/m/model.json", "ab" * 32, "cd" * 32, "model swapped"))
    assert [(a.level, a.kind, a.title) for a in n.queue] == [
        (Level.WARNING, AlertKind.MODEL, "ML MODEL DRIFTING"),
        (Level.INFO, AlertKind.MODEL, "ML MODEL BACK IN LIMITS"),
        (Level.INFO, AlertKind.MODEL, "ML MODEL RELOADED"),
    ]
    assert "hit rate 0.31 < 0.40" in n.queue[0].details
    off = make(Outbox(), FakeClock(), switches={AlertKind.MODEL: "off"})
    off.on_event(ModelDrift(1, True, ("x",), 100, 0.31, 0.7, 0.66, 0.2))
    assert not off.queue


def test_a_drift_that_switched_the_filter_off_says_so() -> None:
    n = make(Outbox(), FakeClock())
    n.on_event(ModelDrift(1, True, ("hit rate 0.31 < 0.40",), 100, 0.31, 0.7, 0.66, 0.2, True))
    assert [(a.level, a.title) for a in n.queue] == [(Level.WARNING, "ML FILTER SWITCHED OFF")]
    assert "switched off (ml.drift_action = disable)" in n.queue[0].details


def test_switch_off_drops_and_silent_marks() -> None:
    switches = {AlertKind.START: "off", AlertKind.STOP: "silent"}
    n = make(Outbox(), FakeClock(), switches=switches)
    n.on_event(StateChanged(1, EngineState.RUNNING, EngineState.STARTING, "go"))
    n.on_event(StateChanged(2, EngineState.STOPPED, EngineState.STOPPING, "bye"))
    assert [(a.title, a.silent) for a in n.queue] == [("STOPPED", True)]


def test_fills_are_summed_into_one_digest_per_interval() -> None:
    clock = FakeClock()
    n = make(Outbox(), clock, digest_interval_s=60.0)
    for i in range(5):
        n.on_event(fill(Side.BUY if i % 2 == 0 else Side.SELL, 10))
    assert not n.queue, "fills wait for the digest"
    clock.now += 59
    n.tick()
    assert not n.queue
    clock.now += 1
    n.tick()
    assert len(n.queue) == 1
    text = n.queue[0].details
    assert "5 fills (3 buy, 2 sell)" in text
    assert "0.05 BTC = 3,000.00 USDT" in text
    assert "PnL -1.5000 USDT" in text
    n.tick()
    assert len(n.queue) == 1, "an empty digest is not sent"


def test_heartbeat_schedule_sends_a_missed_slot_once() -> None:
    h = HeartbeatSchedule(3600.0, T0)
    assert h.due(T0 + 3599) is None
    assert h.due(T0 + 3600) == Slot(T0 + 3600, 0)
    assert h.due(T0 + 3601) is None
    # Asleep for three slots: one heartbeat on wake, the two before it counted as missed.
    assert h.due(T0 + 4 * 3600 + 10) == Slot(T0 + 4 * 3600, 2)
    assert h.due(T0 + 4 * 3600 + 11) is None
    assert h.due(T0 + 5 * 3600) == Slot(T0 + 5 * 3600, 0)


def test_heartbeat_after_a_pause_says_it_is_late_and_is_not_repeated() -> None:
    clock = FakeClock()
    n = make(Outbox(), clock, heartbeat_interval_s=3600.0)
    clock.now = T0 + 3600.2
    n.tick()
    assert [a.details for a in n.queue] == ["all well"]
    clock.now = T0 + 3 * 3600 + 120  # the machine slept through a slot
    n.tick()
    n.tick()
    assert len(n.queue) == 2
    late = n.queue[1].details
    assert "late: due 2027-01-15 11:00:00 UTC" in late
    assert "1 earlier heartbeat(s) missed" in late
    assert n.stats.heartbeats == 2


def test_full_queue_drops_oldest_routine_alert_and_reports_the_count() -> None:
    n = make(Outbox(), FakeClock(), queue_size=3)
    n.alert(Level.CRITICAL, AlertKind.HALT, "HALTED", "first")
    n.alert(Level.INFO, AlertKind.STOP, "STOPPED", "routine 1")
    n.alert(Level.INFO, AlertKind.STOP, "STOPPED", "routine 2")
    n.alert(Level.CRITICAL, AlertKind.HALT, "HALTED", "second")
    assert [a.details for a in n.queue] == ["first", "routine 2", "second"]
    assert n.stats.dropped == 1
    n.alert(Level.CRITICAL, AlertKind.HALT, "HALTED", "third")
    n.alert(Level.INFO, AlertKind.STOP, "STOPPED", "routine 3")
    assert [a.details for a in n.queue] == ["first", "second", "third"]
    assert n.stats.dropped == 3


async def test_backlog_is_merged_and_carries_the_drop_count() -> None:
    out = Outbox()
    n = make(out, FakeClock(), queue_size=2)
    for i in range(4):
        n.alert(Level.INFO, AlertKind.STOP, "STOPPED", f"n{i}")
    await n.start()
    await n.close(drain_s=2.0)
    assert len(out.sent) == 2  # one merged message per chat
    text = out.sent[0][1]
    assert "n2" in text
    assert "n3" in text
    assert "n0" not in text
    assert "2 earlier routine alert(s) dropped" in text


async def test_retry_after_is_honoured_and_network_errors_back_off() -> None:
    out = Outbox(
        errors=[RetryAfter(timedelta(seconds=7)), NetworkError("reset"), NetworkError("reset")]
    )
    sleeps: list[float] = []
    n = make(out, FakeClock(), sleeps=sleeps, backoff_min_s=0.5, tick_s=1000.0)
    n.alert(Level.CRITICAL, AlertKind.HALT, "HALTED", "x")
    await n.start()
    await n.close(drain_s=2.0)
    assert [c for c, _, _ in out.sent] == [1, 2]
    retry_sleeps = [s for s in sleeps if s != 1000.0]
    assert retry_sleeps[0] == 7.0
    assert 0.25 <= retry_sleeps[1] <= 0.75
    assert 0.5 <= retry_sleeps[2] <= 1.5
    assert n.stats.retries == 3


async def test_permanent_refusal_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    out = Outbox(errors=[BadRequest("Chat not found")])
    n = make(out, FakeClock())
    n.alert(Level.INFO, AlertKind.STOP, "STOPPED", "x")
    await n.start()
    await n.close(drain_s=2.0)
    assert [c for c, _, _ in out.sent] == [2]
    assert n.stats.failed == 1
    assert any("chat 1 refused the alert" in r.getMessage() for r in caplog.records)


async def test_429_from_the_bot_api_is_retried_after_retry_after(api: SandboxBotApi) -> None:
    rig = await start_rig(api, telegram_settings(api.base_url))
    try:
        api.faults.fail_next(429, count=1, retry_after_s=1, methods=("sendMessage",))
        rig.service.notifier.alert(Level.WARNING, AlertKind.ERROR, "ERROR", "after a 429")
        m = await api.wait_for_message(TRADER, "after a 429", timeout_s=10)
        assert m is not None
        sends = [
            c for c in api.calls if c.method == "sendMessage" and "after a 429" in str(c.params)
        ]
        assert len(sends) >= 2
        assert sends[1].at_s - sends[0].at_s >= 0.9
    finally:
        await stop_rig(rig)


@pytest.mark.parametrize("fault", ["drop", "502", "slow"])
async def test_network_failures_are_retried_until_delivered(api: SandboxBotApi, fault: str) -> None:
    rig = await start_rig(api, telegram_settings(api.base_url))
    try:
        only = ("sendMessage",)
        if fault == "drop":
            api.faults.drop_next(2, methods=only)
        elif fault == "502":
            api.faults.fail_next(502, count=2, methods=only)
        else:
            api.faults.delay_next(6.0, count=1, methods=only)  # beyond the 5 s read timeout
        rig.service.notifier.alert(Level.WARNING, AlertKind.ERROR, "ERROR", f"through {fault}")
        m = await api.wait_for_message(VIEWER, f"through {fault}", timeout_s=20)
        assert m is not None
        assert rig.service.notifier.stats.retries >= 1
    finally:
        await stop_rig(rig)


async def test_engine_keeps_trading_while_telegram_is_down(api: SandboxBotApi) -> None:
    rig = await start_rig(api, telegram_settings(api.base_url, queue_size=5), speed=None)
    try:
        api.faults.fail_next(429, count=-1, retry_after_s=30, methods=("sendMessage",))
        n = rig.service.notifier
        for i in range(20):
            n.alert(Level.INFO, AlertKind.STOP, "STOPPED", f"noise {i}")
        events0 = rig.host.engine.market_events
        # Unpaced: the engine only yields every few thousand events; it must not wait on us.
        await asyncio.sleep(1.0)
        assert rig.host.engine.market_events > events0 + 1000
        assert len(n.queue) <= 5
        assert n.stats.dropped >= 15
    finally:
        api.faults.clear()
        await stop_rig(rig)


async def test_errors_logged_by_tradetui_become_one_alert(rig: Rig) -> None:
    lg = logging.getLogger("tradetui.store.writer")
    lg.error("disk full at /var/db")
    lg.error("disk full at /var/db")
    m = await rig.api.wait_for_message(TRADER, "disk full", timeout_s=5)
    assert m is not None
    assert "ERROR · PAPER" in m.text
    await asyncio.sleep(0.3)
    assert sum("disk full" in x.text for x in rig.api.sent_to(TRADER)) == 1


async def test_silent_alerts_are_sent_without_notification(rig: Rig) -> None:
    rig.service.notifier.alert(Level.INFO, AlertKind.HEARTBEAT, "HEARTBEAT", "quiet one")
    m = await rig.api.wait_for_message(TRADER, "quiet one")
    assert m is not None
    assert m.silent


async def test_sends_to_a_group_keep_to_twenty_a_minute(api: SandboxBotApi) -> None:
    """Telegram allows a group 20 messages a minute: a burst past that is spread out."""
    group = -100777
    t = TelegramSettings(
        enabled=True,
        api_base_url=api.base_url,
        chats=f"{TRADER}:trader, {VIEWER}:viewer, {group}:viewer",
    )
    rig = await start_rig(api, dataclasses.replace(Settings(), telegram=t))
    try:
        assert await api.wait_for_message(group, "STARTED") is not None
        bot = rig.service.app.bot
        burst = asyncio.gather(*(bot.send_message(group, f"burst {i}") for i in range(20)))

        def to_group() -> list[float]:
            return [
                c.at_s
                for c in api.calls
                if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(group)
            ]

        await asyncio.sleep(1.5)
        assert len(to_group()) <= 20, "the start alert and the burst stop at the group limit"
        await asyncio.wait_for(burst, 15)
        times = to_group()
        assert len(times) == 21
        assert times[-1] - times[0] >= 2.5
        # Private chats are not held back by the group's limit.
        await rig.ask(TRADER, "/status", "running", timeout_s=2)
    finally:
        await stop_rig(rig)


def test_a_spot_flatten_alert_reads_the_position_in_plain_digits() -> None:
    # Spot counts the base asset in 1e-8 lots; flat is +0.00000000 ETH, never +0E-8 ETH.
    eth = sim_instrument("ETHUSDT", "spot")
    assert eth is not None
    n = Notifier(Outbox(), NotifierConfig(chats=[1]), eth, heartbeat_text=lambda: "")
    n.on_event(FlattenFinished(1, "flat", 0, 1, "flat after 1 close attempt(s)"))
    assert n.queue[0].details.endswith("\nposition +0.00000000 ETH, 1 attempt(s)")
