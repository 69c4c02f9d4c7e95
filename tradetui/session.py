"""Wiring: settings → instrument, market, venue, clock and engine for one paper session."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tradetui.config import ConfigError, Settings
from tradetui.core.clock import Clock, VirtualClock, WallClock
from tradetui.core.instrument import Instrument, btcusdt_perpetual
from tradetui.core.types import MarketEvent
from tradetui.engine.bus import Bus
from tradetui.engine.engine import Engine
from tradetui.market.feed import ReplayFeed, replay_paths
from tradetui.market.files import ReplayError, infer_instrument
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, recorded
from tradetui.market.synthetic import SyntheticMarket
from tradetui.matching import MatchingConfig, QueueModel
from tradetui.venues.sim import SimLatency, SimVenue

# The synthetic market is calibrated to these instruments only.
SIM_INSTRUMENTS = {"BTCUSDT": btcusdt_perpetual}


def sim_instrument(settings: Settings) -> Instrument:
    """The simulated instrument with the configured fees: the replayed files' instrument when
    market.source is a replay, else the one named by venue.symbol."""
    paths = _replay_paths(settings)
    if paths is not None:
        try:
            base = infer_instrument(paths)
        except ReplayError as exc:
            raise ConfigError(f"market.source: {exc}") from None
    else:
        make = SIM_INSTRUMENTS.get(settings.venue.symbol.upper())
        if make is None:
            raise ConfigError(
                f"venue.symbol: unknown symbol {settings.venue.symbol!r} for the sim exchange; "
                "available: " + ", ".join(SIM_INSTRUMENTS)
            )
        base = make()
    return with_sim_fees(base, settings)


def with_sim_fees(instrument: Instrument, settings: Settings) -> Instrument:
    """``instrument`` with the simulated exchange's configured maker/taker fees."""
    return dataclasses.replace(
        instrument,
        maker_fee_rate=settings.sim.maker_fee_bps / 1e4,
        taker_fee_rate=settings.sim.taker_fee_bps / 1e4,
    )


def sim_venue(
    settings: Settings, instrument: Instrument, events: Iterable[MarketEvent], clock: Clock
) -> SimVenue:
    """The simulated exchange over ``events`` with the configured latencies and queue model."""
    sim = settings.sim
    return SimVenue(
        instrument,
        events,
        SimLatency(
            entry_ns=int(sim.entry_latency_ms * 1e6),
            ack_ns=int(sim.ack_latency_ms * 1e6),
            cancel_ns=int(sim.cancel_latency_ms * 1e6),
        ),
        MatchingConfig(queue_model=QueueModel(sim.queue_model), power_exponent=sim.queue_power),
        clock,
    )


def _replay_paths(settings: Settings) -> list[Path] | None:
    try:
        return replay_paths(settings.market.source)
    except ValueError as exc:
        raise ConfigError(f"market.source: {exc}") from None


@dataclass(slots=True)
class PaperSession:
    engine: Engine
    venue: SimVenue
    clock: Clock
    bus: Bus
    start_ns: int
    # The replayed market when market.source is a replay (its ``ended`` ends a headless run).
    replay: ReplayFeed | None = None
    # The recording of the market traded on, with record.enabled (closed by the host).
    capture: CaptureWriter | None = None


def build_paper_session(
    settings: Settings,
    *,
    seed: int | None = None,
    virtual: bool,
    start_ns: int | None = None,
    events: Iterator[MarketEvent] | None = None,
) -> PaperSession:
    """A paper session on the configured market (synthetic, or a replay of market.source
    files starting now), or on ``events`` when given (e.g. a pre-generated list for
    benchmarks); ``virtual`` picks the virtual clock. Raises ConfigError for bad settings."""
    instrument = sim_instrument(settings)
    replay: ReplayFeed | None = None
    seed = settings.market.seed if seed is None else seed
    # Paper time starts now even on the virtual clock, so stored times read as today's. A
    # virtual run starts on a whole minute so sampling grids (σ's 1 s grid) keep the same
    # phase and a seeded run trades identically whenever it is started.
    if start_ns is None:
        now = WallClock().now_ns()
        start_ns = now - now % 60_000_000_000 if virtual else now
    t0 = start_ns
    clock: Clock = VirtualClock(t0) if virtual else WallClock()
    if events is None:
        paths = _replay_paths(settings)
        if paths is None:
            events = SyntheticMarket(instrument, seed=seed, start_ns=t0).events()
        else:
            try:
                replay = ReplayFeed(paths, instrument, t0, loop=settings.market.loop)
            except ReplayError as exc:
                raise ConfigError(f"market.source: {exc}") from None
            events = replay
    capture = _capture(settings, instrument)
    if capture is not None:
        events = recorded(events, *capture)
    venue = sim_venue(settings, instrument, events, clock)
    bus = Bus()
    engine = Engine(settings, instrument, venue, clock, bus, seed=seed)
    return PaperSession(
        engine, venue, clock, bus, t0, replay, capture[1] if capture is not None else None
    )


def recordings_dir(settings: Settings) -> Path:
    """record.dir, or ``recordings`` in the user data directory when it is empty."""
    if settings.record.dir:
        return Path(settings.record.dir).expanduser()
    from platformdirs import user_data_path

    return user_data_path("tradetui") / "recordings"


def _capture(
    settings: Settings, instrument: Instrument
) -> tuple[CaptureEncoder, CaptureWriter] | None:
    """The encoder and writer recording a paper session's market (record.enabled)."""
    if not settings.record.enabled:
        return None
    out = recordings_dir(settings)
    encoder = CaptureEncoder(instrument)
    try:
        writer = CaptureWriter(
            out,
            f"paper_{instrument.symbol.lower()}",
            encoder.snapshot,
            flush_s=settings.record.flush_s,
        )
    except OSError as exc:
        raise ConfigError(
            f"record.dir: cannot write recordings in {out} ({exc.strerror or exc}); "
            "set record.dir to a folder you can write to, or record.enabled = false"
        ) from None
    return encoder, writer
