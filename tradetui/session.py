"""Wiring: settings → instrument, market, venue, clock and engine for one session: paper (the
simulated exchange) or live (a ccxt exchange, built by ``open_live_session``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tradetui.config import ConfigError, Settings, synthetic_source
from tradetui.core.clock import Clock, VirtualClock, WallClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent
from tradetui.engine.bus import Bus
from tradetui.engine.engine import Engine
from tradetui.engine.events import VenueConnection
from tradetui.market.feed import REPLAY_PREFIX, ReplayFeed, replay_paths
from tradetui.market.files import ReplayError
from tradetui.market.instruments import infer_instrument
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, recorded
from tradetui.market.synthetic import SyntheticMarket, SyntheticParams
from tradetui.matching import MatchingConfig, QueueModel
from tradetui.venues.sim import SimLatency, SimVenue

if TYPE_CHECKING:
    from tradetui.engine.live import LiveDriver
    from tradetui.venues.binance_stream import FeedStatus
    from tradetui.venues.live import LiveVenue

log = logging.getLogger(__name__)


def sim_instrument(settings: Settings) -> Instrument:
    """The simulated instrument with the configured fees: the replayed files' instrument when
    market.source is a replay, else the one named by market.source ("synthetic:[VENUE:]SYMBOL")
    or venue.symbol, from the catalog cache or else the simulated exchange's listing."""
    paths = _replay_paths(settings)
    if paths is not None:
        try:
            base = infer_instrument(paths, has_flags=False).instrument
        except ReplayError as exc:
            raise ConfigError(f"market.source: {exc}") from None
    else:
        base = _listed_instrument(settings)
    return with_sim_fees(base, settings)


def _listed_instrument(settings: Settings) -> Instrument:
    from tradetui.venues.catalog import CatalogError
    from tradetui.venues.lookup import UnknownInstrumentError, resolve_instrument

    venue, symbol = synthetic_source(settings.market.source) or ("", "")
    key = "market.source" if symbol else "venue.symbol"
    try:
        return resolve_instrument(symbol or settings.venue.symbol, venue or None)
    except (UnknownInstrumentError, CatalogError) as exc:
        raise ConfigError(f"{key}: {exc}") from None


def synthetic_params(settings: Settings, instrument: Instrument) -> SyntheticParams:
    """The synthetic market's parameters for ``instrument``: market.synthetic_params (else the
    built-in calibration) scaled to it as market.start_price says (market/calibration.py)."""
    from tradetui.market.calibration import CalibrationError, load_params, params_for

    m = settings.market
    try:
        calibration = (
            load_params(Path(m.synthetic_params).expanduser()) if m.synthetic_params else None
        )
        return params_for(instrument, calibration, m.start_price)
    except CalibrationError as exc:
        text = str(exc)
        raise ConfigError(
            text if text.startswith("market.") else f"market.synthetic_params: {text}"
        ) from None


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
    # The market source as the status bar names it: "synthetic", "replay FILE", "live".
    market: str = "synthetic"


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
            params = synthetic_params(settings, instrument)
            events = SyntheticMarket(instrument, params, seed=seed, start_ns=t0).events()
        else:
            try:
                loop = settings.market.replay_end == "loop"
                replay = ReplayFeed(paths, instrument, t0, loop=loop)
            except ReplayError as exc:
                raise ConfigError(f"market.source: {exc}") from None
            events = replay
    capture = _capture(settings, instrument)
    if capture is not None:
        events = recorded(events, *capture)
    venue = sim_venue(settings, instrument, events, clock)
    bus = Bus()
    engine = Engine(
        settings,
        instrument,
        venue,
        clock,
        bus,
        seed=seed,
        client_id_prefix=settings.venue.client_id_prefix,
    )
    return PaperSession(
        engine,
        venue,
        clock,
        bus,
        t0,
        replay,
        capture[1] if capture is not None else None,
        market_label(settings.market.source),
    )


def market_label(source: str) -> str:
    """What the status bar calls a paper market: "synthetic", or "replay FILE" (the first
    file's name, "+N" for the N others)."""
    paths = replay_paths(source) if source.startswith(REPLAY_PREFIX) else None
    if not paths:
        return source.split(":", 1)[0]
    more = f" +{len(paths) - 1}" if len(paths) > 1 else ""
    return f"replay {paths[0].name}{more}"


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
            instrument=instrument,
            flush_s=settings.record.flush_s,
        )
    except OSError as exc:
        raise unwritable_recordings(out, exc) from None
    return encoder, writer


def unwritable_recordings(out: Path, exc: OSError) -> ConfigError:
    """The one-line error for a record.dir that cannot be written."""
    return ConfigError(
        f"record.dir: cannot write recordings in {out} ({exc.strerror or exc}); "
        "set record.dir to a folder you can write to, or record.enabled = false"
    )


class MarketFeed(Protocol):
    """What a live session needs of a market-data feed (BinanceStreamFeed, CcxtFeed)."""

    async def run(self, sink: Callable[[MarketEvent], None]) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class LiveSession:
    """A live session: the engine on a ccxt venue, fed by a websocket market feed."""

    engine: Engine
    venue: LiveVenue
    clock: Clock
    bus: Bus
    start_ns: int
    feed: MarketFeed
    driver: LiveDriver
    clients: tuple[Any, ...]
    replay: ReplayFeed | None = None
    # The recording of the market traded on, with record.enabled (closed by the host).
    capture: CaptureWriter | None = None
    # The market source as the status bar names it (see PaperSession.market).
    market: str = "live"
    _feed_task: asyncio.Task[None] | None = None

    def start_feed(self) -> None:
        """Start the market feed into the engine (once)."""
        if self._feed_task is None:
            self._feed_task = asyncio.create_task(self.feed.run(self.driver.on_event), name="feed")
            self._feed_task.add_done_callback(_feed_ended)

    async def close(self) -> None:
        """Stop the feed and the venue's streams, and close the exchange clients."""
        await self.feed.close()
        if self._feed_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._feed_task, 5.0)
        await self.venue.close()
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()


async def open_live_session(
    settings: Settings, env: Mapping[str, str] | None = None
) -> LiveSession:
    """Connect to the configured exchange and build the live session (the feed starts too).

    Raises ConfigError for missing or unsafe keys and VenueError (one line) when the
    exchange cannot be traded as configured; nothing is left open then.
    """
    from tradetui.credentials import load_keys
    from tradetui.engine.live import LiveDriver
    from tradetui.market.recorder import FeedRecorder
    from tradetui.venues.binance_stream import BinanceStreamFeed, ReconnectPolicy, feed_hosts
    from tradetui.venues.ccxt_feed import CcxtFeed
    from tradetui.venues.clients import make_client
    from tradetui.venues.errors import SetupError
    from tradetui.venues.live import LiveOptions, LiveVenue
    from tradetui.venues.redact import redact_every_record

    v, f = settings.venue, settings.feed
    keys = load_keys(v, env)
    redact_every_record(keys.key, keys.secret)
    common: dict[str, Any] = {
        "rest_url": v.rest_url,
        "ws_url": v.ws_url,
        "recv_window_ms": v.recv_window_ms,
        "proxy": f.proxy,
        "rate_limit": v.rate_limit,
        "timeout_ms": v.request_timeout_ms,
        "ws_routing": f.ws_routing,
    }
    client = make_client(v.exchange, api_key=keys.key, api_secret=keys.secret, **common)
    clients: list[Any] = [client]
    reconnect = ReconnectPolicy(
        initial_s=f.reconnect_initial_s,
        max_s=f.reconnect_max_s,
        jitter=f.reconnect_jitter,
        healthy_s=f.reconnect_healthy_s,
    )
    venue = LiveVenue(
        client,
        v.symbol,
        options=LiveOptions(
            fill_poll_s=v.fill_poll_s,
            fee_rate_refresh_s=v.fee_rate_refresh_s,
            fill_reconcile_s=v.fill_reconcile_s,
            stream_silence_s=v.stream_silence_s,
            reconnect=reconnect,
            leverage=v.leverage,
            margin_mode=v.margin_mode,
            pace_soft=v.pace_soft,
            pace_max_wait_s=v.pace_max_wait_s,
        ),
        secrets=(keys.key, keys.secret),
    )
    try:
        instrument = await venue.connect()
        if venue.equity_margin is not None:
            # The risk guard sizes against the exchange's balance, never a made-up figure; it
            # is in the margin asset (the coin on an inverse market such as COIN-M).
            settings = settings.replace("paper", equity=max(venue.equity_margin, 1e-9))
        bus = Bus()
        clock = WallClock()
        engine = Engine(
            settings, instrument, venue, clock, bus, client_id_prefix=v.client_id_prefix
        )
        driver = LiveDriver(engine, clock)
        venue.on_event = driver.on_event
        # Anything the user stream reported while connecting goes to the engine first.
        while (early := venue.pop()) is not None:
            driver.on_event(early)
        venue.on_connection = lambda up, stream, detail: _publish_connection(
            bus, up, stream, detail
        )
        feed: MarketFeed
        capture: FeedRecorder | None = None
        hosts = feed_hosts(client.id)
        if hosts is not None:
            binance: BinanceStreamFeed | None = None
            if settings.record.enabled:
                out = recordings_dir(settings)
                try:
                    capture = FeedRecorder(
                        out,
                        f"{v.exchange}_{instrument.symbol.lower()}",
                        instrument,
                        lambda: binance.book if binance is not None else None,
                        flush_s=settings.record.flush_s,
                    )
                except OSError as exc:
                    raise unwritable_recordings(out, exc) from None
            binance = BinanceStreamFeed.from_settings(
                instrument,
                f,
                ws_url=v.ws_url or hosts[0],
                rest_url=v.rest_url or hosts[1],
                on_status=_feed_status(bus),
                on_raw=capture.on_raw if capture is not None else None,
            )
            feed = binance
        else:
            if settings.record.enabled:
                raise SetupError(
                    f"record.enabled: recording a live market needs the Binance feed; "
                    f"{v.exchange} has none yet (set record.enabled = false)"
                )
            # Market data on a second, keyless client: its websockets are public.
            public = make_client(v.exchange, **common)
            clients.append(public)
            await public.load_markets()
            feed = CcxtFeed(
                instrument, public, venue.symbol, on_status=_feed_status(bus), reconnect=reconnect
            )
    except BaseException:
        await venue.close()
        for c in clients:
            with contextlib.suppress(Exception):
                await c.close()
        raise
    session = LiveSession(
        engine,
        venue,
        clock,
        bus,
        clock.now_ns(),
        feed,
        driver,
        tuple(clients),
        capture=capture.writer if capture is not None else None,
    )
    session.start_feed()
    return session


def _feed_ended(task: asyncio.Task[None]) -> None:
    """Say why the market feed stopped by itself (e.g. a websocket base that is not served)."""
    exc = None if task.cancelled() else task.exception()
    if exc is not None:
        log.error("market feed stopped: %s", exc)


def _publish_connection(bus: Bus, up: bool, stream: str, detail: str) -> None:
    bus.publish(VenueConnection(time.time_ns(), up, stream, detail))


def _feed_status(bus: Bus) -> Callable[[FeedStatus], None]:
    """The feed's state changes as VenueConnection events: down, and back once live again."""
    from tradetui.venues.binance_stream import FeedState

    was_down = False

    def on_status(status: FeedStatus) -> None:
        nonlocal was_down
        if status.state is FeedState.DISCONNECTED and not was_down:
            was_down = True
            bus.publish(VenueConnection(status.at_ns, False, "market", status.detail))
        elif status.state is FeedState.LIVE and was_down:
            was_down = False
            bus.publish(VenueConnection(status.at_ns, True, "market", status.detail))

    return on_status
