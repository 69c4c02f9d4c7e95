"""Wiring: settings → instrument, market, venue, clock and engine for one session: paper (the
simulated exchange on a synthetic or replayed market, or on the exchange's live market built
by ``open_live_paper_session``) or live (a ccxt exchange, built by ``open_live_session``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tradetui.config import ConfigError, Settings, live_source, synthetic_source
from tradetui.core.clock import Clock, VirtualClock, WallClock
from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import MarketEvent
from tradetui.engine.bus import Bus
from tradetui.engine.engine import Engine
from tradetui.engine.events import VenueConnection
from tradetui.engine.parts import build_engine
from tradetui.market.feed import REPLAY_PREFIX, ReplayFeed, replay_paths
from tradetui.market.files import ReplayError
from tradetui.market.instruments import infer_instrument
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, recorded
from tradetui.market.replay import drop_stale_bbo, replay_events
from tradetui.market.synthetic import SyntheticMarket, SyntheticParams
from tradetui.matching import MatchingConfig, QueueModel
from tradetui.venues.prepared import PreparedMarket
from tradetui.venues.sim import ReceivedMarket, SimLatency, SimVenue
from tradetui.venues.simtime import FeedLatency, FeedModel, clock_offset

if TYPE_CHECKING:
    from tradetui.engine.live import LiveDriver
    from tradetui.market.recorder import FeedRecorder
    from tradetui.venues.binance_stream import FeedStatus
    from tradetui.venues.latency import MeasuredLatency
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
    from tradetui.market.calibration import CalibrationError, load_params
    from tradetui.venues.lookup import short_venue
    from tradetui.venues.sim_listing import priced_synthetic_params

    m = settings.market
    try:
        calibration = (
            load_params(Path(m.synthetic_params).expanduser()) if m.synthetic_params else None
        )
        return priced_synthetic_params(instrument, calibration, m.start_price)
    except CalibrationError as exc:
        text = str(exc)
        if text.startswith("market.start_price") and instrument.venue:
            text += f"; `tradetui markets sync --venue {short_venue(instrument.venue)}` caches it"
        raise ConfigError(
            text if text.startswith("market.") else f"market.synthetic_params: {text}"
        ) from None


def with_sim_fees(instrument: Instrument, settings: Settings) -> Instrument:
    """``instrument`` with the simulated exchange's configured maker/taker fees (the spot
    ones for a spot instrument; the rate is the decimal the bps were written as: 2.3 bps is
    0.00023, not 2.3 / 1e4's 0.00022999...)."""
    sim = settings.sim
    spot = instrument.kind is InstrumentKind.SPOT
    return dataclasses.replace(
        instrument,
        maker_fee_rate=_bps_rate(sim.spot_maker_fee_bps if spot else sim.maker_fee_bps),
        taker_fee_rate=_bps_rate(sim.spot_taker_fee_bps if spot else sim.taker_fee_bps),
    )


def _bps_rate(bps: float) -> float:
    return float(Decimal(repr(bps)).scaleb(-4))


def sim_latency(settings: Settings, seed: int = 0) -> SimLatency:
    """The configured order entry, cancel and response latency model."""
    sim = settings.sim
    return SimLatency(
        entry_ns=int(sim.entry_latency_ms * 1e6),
        ack_ns=int(sim.ack_latency_ms * 1e6),
        cancel_ns=int(sim.cancel_latency_ms * 1e6),
        sigma=sim.order_latency_sigma if sim.order_latency == "lognormal" else 0.0,
        seed=seed,
        measured=measured_latency(settings) if sim.order_latency == "measured" else None,
    )


def measured_latency(settings: Settings) -> MeasuredLatency:
    """The recorded order latencies sim.order_latency_from names; raises ConfigError."""
    from tradetui.venues.latency import LatencySourceError, load_measured

    source = settings.sim.order_latency_from
    if not source:
        raise ConfigError(
            "sim.order_latency = 'measured' needs sim.order_latency_from = 'FILE.db#SESSION' "
            "(a live session's database; `tradetui sessions --db FILE.db` lists them)"
        )
    try:
        return load_measured(source)
    except LatencySourceError as exc:
        raise ConfigError(f"sim.order_latency_from: {exc}") from None


def feed_latency(settings: Settings) -> FeedLatency:
    """The configured market feed latency model (replays and backtests)."""
    sim = settings.sim
    return FeedLatency(FeedModel(sim.feed_latency), int(sim.feed_latency_ms * 1e6))


def sim_models(settings: Settings, feed: str, seed: int = 0) -> dict[str, str]:
    """The queue and latency models a simulated run uses, by name (for reports)."""
    sim = settings.sim
    queue = sim.queue_model
    if queue == QueueModel.POWER:
        queue += f" (n = {sim.queue_power:g})"
    return {
        "queue": queue,
        "feed_latency": feed,
        "order_latency": sim_latency(settings, seed).describe(),
    }


def sim_venue(
    settings: Settings,
    instrument: Instrument,
    events: Iterable[MarketEvent] | PreparedMarket,
    clock: Clock,
    seed: int = 0,
    *,
    live: bool = False,
    exchange_ordered: bool = False,
) -> SimVenue:
    """The simulated exchange over ``events`` with the configured latencies and queue model;
    ``live``: ``events`` is a live market, known only up to now; ``exchange_ordered``:
    ``events`` need no reordering (see SimVenue)."""
    sim = settings.sim
    return SimVenue(
        instrument,
        events,
        sim_latency(settings, seed),
        MatchingConfig(
            queue_model=QueueModel(sim.queue_model),
            power_exponent=sim.queue_power,
            spot_short=sim.spot_short,
        ),
        clock,
        live=live,
        exchange_ordered=exchange_ordered,
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
    # The exchange's live market when market.source is live (closed by ``close``).
    live: LiveMarket | None = None

    async def close(self) -> None:
        """Stop the live market's feed, if any (nothing else holds a connection)."""
        if self.live is not None:
            await self.live.close()


def market_source(settings: Settings) -> str:
    """What a session trades on: 'live' (the exchange's own market: live trading, or paper
    on market.source live), 'replay' or 'synthetic'."""
    source = settings.market.source
    if settings.venue.exchange != "sim" or live_source(source) is not None:
        return "live"
    return "replay" if source.startswith(REPLAY_PREFIX) else "synthetic"


def build_paper_session(
    settings: Settings,
    *,
    seed: int | None = None,
    virtual: bool,
    start_ns: int | None = None,
    events: Iterator[MarketEvent] | None = None,
    exchange_ordered: bool = False,
    clock: Clock | None = None,
    instrument: Instrument | None = None,
) -> PaperSession:
    """A paper session on the configured market (synthetic, or a replay of market.source
    files starting now), or on ``events`` when given (e.g. a pre-generated list for
    benchmarks; ``exchange_ordered`` when they need no reordering, as the synthetic market's
    do); ``virtual`` picks the virtual clock, unless ``clock`` is given (the markets of a
    book share one); ``instrument`` trades that listing (the screener's) instead of the one
    the settings name. Raises ConfigError for bad settings."""
    if instrument is None:
        instrument = sim_instrument(settings)
    else:
        instrument = with_sim_fees(instrument, settings)
    replay: ReplayFeed | None = None
    seed = settings.market.seed if seed is None else seed
    # Paper time starts now even on the virtual clock, so stored times read as today's. A
    # virtual run starts on a whole minute so sampling grids (σ's 1 s grid) keep the same
    # phase and a seeded run trades identically whenever it is started.
    if start_ns is None:
        now = WallClock().now_ns()
        start_ns = now - now % 60_000_000_000 if virtual else now
    t0 = start_ns
    if clock is None:
        clock = VirtualClock(t0) if virtual else WallClock()
    feed = feed_latency(settings)
    offset_ns: int | None = None
    if events is None:
        paths = _replay_paths(settings)
        if paths is None:
            params = synthetic_params(settings, instrument)
            events = SyntheticMarket(instrument, params, seed=seed, start_ns=t0).events()
            exchange_ordered = True
        else:
            try:
                loop = settings.market.replay_end == "loop"
                replay = ReplayFeed(paths, instrument, t0, loop=loop)
            except ReplayError as exc:
                raise ConfigError(f"market.source: {exc}") from None
            events = replay
            if feed.model is FeedModel.RECORDED:
                # From the files' first events, read apart: the replay is not consumed ahead.
                # The stream the replay delivers (stale bookTickers dropped), as a backtest
                # of the files or of this session's recording estimates it.
                offset_ns = clock_offset(drop_stale_bbo(replay_events(paths, instrument)))
    capture = _capture(settings, instrument)
    if capture is not None:
        events = recorded(events, *capture)
    if replay is not None or feed.model is FeedModel.CONSTANT:
        # The synthetic market carries its own feed latency unless a constant one is asked.
        events = feed.retime(events, offset_ns)
    venue = sim_venue(settings, instrument, events, clock, seed, exchange_ordered=exchange_ordered)
    bus = Bus()
    engine = build_engine(settings, instrument, venue, clock, bus, seed=seed)
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


@dataclass(slots=True)
class BookSession:
    """Several paper markets in one session ([[markets]], docs/multi-market.md): one
    PaperSession per market, all on one clock; ``settings`` are the book's own. ``kick`` is
    set when a command is queued for any market or a live market's feed brings an event:
    the book's runner wakes on it."""

    settings: Settings
    markets: list[PaperSession]
    clock: Clock
    start_ns: int
    kick: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def close(self) -> None:
        for market in self.markets:
            await market.close()


def _book_clock(virtual: bool) -> tuple[Clock, int]:
    """A book's one clock and its start (a virtual one on a whole minute, as a market's)."""
    now = WallClock().now_ns()
    start_ns = now - now % 60_000_000_000 if virtual else now
    return (VirtualClock(start_ns) if virtual else WallClock()), start_ns


def _book_market(
    book: BookSession, i: int, one: Settings, seed: int | None, virtual: bool
) -> PaperSession:
    """Market ``i`` of ``book`` on a synthetic or replayed market (seeded ``seed`` + i)."""
    market_seed = None if seed is None else seed + i
    return build_paper_session(
        one, seed=market_seed, virtual=virtual, start_ns=book.start_ns, clock=book.clock
    )


def build_book_session(
    settings: Settings, *, seed: int | None = None, virtual: bool
) -> BookSession:
    """A paper session per [[markets]] entry on one clock (synthetic markets seeded
    ``seed`` (else market.seed) + the entry's index, or each entry's replay). Raises
    ConfigError naming the entry for bad settings; a market on an exchange's live feed
    needs ``open_book_session``."""
    clock, start_ns = _book_clock(virtual)
    book = BookSession(settings, [], clock, start_ns)
    for i, one in enumerate(settings.per_market()):
        where = f"markets[{i}] ({one.venue.symbol})"
        if market_source(one) == "live":
            raise ConfigError(f"{where}.source: a live market is opened by open_book_session")
        try:
            book.markets.append(_book_market(book, i, one, seed, virtual))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return book


async def open_book_session(
    settings: Settings, *, seed: int | None = None, virtual: bool
) -> BookSession:
    """``build_book_session``, where a market may also be paper on the exchange's live
    market (source = "live:[VENUE:]SYMBOL", ``open_live_paper_session``: its public feed,
    the markets of one websocket base on one connection, on the wall clock; ``virtual`` is
    refused then). Raises ConfigError naming the entry, or
    VenueError when an exchange's markets cannot be read; nothing is left open then."""
    from tradetui.venues.errors import VenueError

    clock, start_ns = _book_clock(virtual)
    book = BookSession(settings, [], clock, start_ns)
    try:
        for i, one in enumerate(settings.per_market()):
            where = f"markets[{i}] ({one.venue.symbol})"
            try:
                if market_source(one) != "live":
                    book.markets.append(_book_market(book, i, one, seed, virtual))
                    continue
                if virtual:
                    raise ConfigError(
                        f"source: the live market ({one.market.source}) comes in real time; "
                        "run the book at speed 1"
                    )
                market = await open_live_paper_session(
                    one, arrived=book.kick, start=False, clock=book.clock
                )
                book.markets.append(market)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            except VenueError as exc:  # the exchange of a live market: named with the market
                raise type(exc)(f"{where}: {exc}") from None
    except BaseException:
        await book.close()
        for market in book.markets:
            if market.capture is not None:
                market.capture.close()
        raise
    _share_feeds(book)
    return book


def _share_feeds(book: BookSession) -> None:
    """Start the live markets' feeds, the Binance ones of one websocket base on one
    connection (``share_connections``: Binance's combined stream carries every symbol's)."""
    from tradetui.venues.binance_stream import BinanceStreamFeed, share_connections

    live = [m.live for m in book.markets if m.live is not None]
    share_connections([m.feed for m in live if isinstance(m.feed, BinanceStreamFeed)])
    for m in live:
        m.start()


def on_live_market(settings: Settings) -> str | None:
    """The market source of a run on an exchange's live market (live trading, paper on
    market.source live, or the first [[markets]] entry on a live source), else None."""
    per_market = settings.per_market() if settings.markets else [settings]
    return next((one.market.source for one in per_market if market_source(one) == "live"), None)


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
    from tradetui.venues.binance_stream import ReconnectPolicy
    from tradetui.venues.clients import make_client
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
        engine = build_engine(settings, instrument, venue, clock, bus)
        driver = LiveDriver(engine, clock)
        venue.on_event = driver.on_event
        # Anything the user stream reported while connecting goes to the engine first.
        while (early := venue.pop()) is not None:
            driver.on_event(early)
        venue.on_connection = lambda up, stream, detail: _publish_connection(
            bus, up, stream, detail
        )

        async def public() -> Any:
            # Market data on a second, keyless client: its websockets are public.
            c = make_client(v.exchange, **common)
            clients.append(c)
            await c.load_markets()
            return c

        feed, capture = await _market_feed(
            settings, client.id, venue.symbol, instrument, bus, public
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


class LiveMarket(ReceivedMarket):
    """The exchange's live market as the sim venue's market: the feed's events kept as they
    arrive, each given to the venue once the session's ``clock`` reaches its receive time (the
    time the feed stamped at reading it, which the recording keeps), ``arrived`` set at each.
    ``exchange`` is the ccxt id the data comes from; ``clients`` (a ccxt feed's) are closed
    with the feed."""

    def __init__(
        self,
        feed: MarketFeed,
        exchange: str,
        clock: Clock,
        clients: tuple[Any, ...] = (),
        arrived: asyncio.Event | None = None,
    ) -> None:
        super().__init__(clock)
        self.feed = feed
        self.exchange = exchange
        self.clients = clients
        # A book's markets share one (``BookSession.kick``): its runner wakes on any of them.
        self.arrived = arrived if arrived is not None else asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def on_event(self, ev: MarketEvent) -> None:
        """The feed's sink."""
        self.push(ev)
        self.arrived.set()

    def start(self) -> None:
        """Start the feed (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self.feed.run(self.on_event), name="feed")
            self._task.add_done_callback(_feed_ended)

    async def close(self) -> None:
        await self.feed.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5.0)
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()


async def open_live_paper_session(
    settings: Settings,
    arrived: asyncio.Event | None = None,
    *,
    start: bool = True,
    clock: Clock | None = None,
) -> PaperSession:
    """A paper session on the exchange's live market (market.source "live[:[VENUE:]SYMBOL]"):
    its public websocket feed and REST snapshot into the simulated exchange, on the wall
    clock. No keys: the instrument comes from the exchange's public markets (which refresh
    the catalog cache, as a live session's do). The feed starts too (``start``; else the
    caller's ``session.live.start()``); ``arrived``: the event set at each of its events (a
    book's shared one; else the market's own); ``clock``: a book's (else the session's own,
    stepped by ``run_live_market``).

    Raises ConfigError for bad settings and VenueError (one line) when the exchange's markets
    cannot be read (no network) or it does not list the symbol; nothing is left open then.
    """
    import ccxt.async_support as ccxt_async

    from tradetui.venues.catalog import cache_loaded_markets
    from tradetui.venues.clients import make_client, market_data_options
    from tradetui.venues.errors import SetupError, VenueUnavailableError, map_error
    from tradetui.venues.markets import find_market, instrument_from_market

    v, f = settings.venue, settings.feed
    exchange, symbol = live_market(settings)
    try:
        client = make_client(
            exchange,
            rest_url=v.rest_url,
            ws_url=v.ws_url,
            proxy=f.proxy,
            rate_limit=v.rate_limit,
            timeout_ms=v.request_timeout_ms,
            ws_routing=f.ws_routing,
            options=market_data_options(exchange),
        )
    except SetupError as exc:
        raise _on_market_source(exc) from None
    keep_client = False
    try:
        try:
            markets = await client.load_markets()
        except (ccxt_async.BaseError, OSError, TimeoutError) as exc:
            raise VenueUnavailableError(
                f"market.source: {exchange}'s markets could not be read "
                f"({map_error(exc, str)}); check the network, feed.proxy or venue.rest_url"
            ) from None
        await asyncio.to_thread(cache_loaded_markets, client)
        try:
            market = find_market(markets, symbol, exchange)
            instrument = with_sim_fees(
                instrument_from_market(market, client.precisionMode, exchange), settings
            )
        except SetupError as exc:
            raise _on_market_source(exc) from None
        bus = Bus()

        async def public() -> Any:
            nonlocal keep_client
            keep_client = True  # ccxt's websockets read the market on this client
            return client

        feed, capture = await _market_feed(
            settings, exchange, str(market["symbol"]), instrument, bus, public
        )
    finally:
        if not keep_client:
            await client.close()
    # The session's clock: the wall clock as its runner steps it, to each event's own time
    # (run_live_market), so a backtest of the recording repeats the session; a book's
    # markets run on the book's one clock instead (``clock``).
    if clock is None:
        clock = VirtualClock(time.time_ns())
    live = LiveMarket(feed, exchange, clock, (client,) if keep_client else (), arrived)
    venue = sim_venue(settings, instrument, live, clock, settings.market.seed, live=True)
    try:
        engine = build_engine(settings, instrument, venue, clock, bus, seed=settings.market.seed)
    except BaseException:  # e.g. the ML model refused: leave nothing open
        await live.close()
        if capture is not None:
            capture.writer.close()
        raise
    session = PaperSession(
        engine,
        venue,
        clock,
        bus,
        clock.now_ns(),
        capture=capture.writer if capture is not None else None,
        live=live,
    )
    if start:
        live.start()
    return session


def _on_market_source(exc: Exception) -> Exception:
    """A venue.exchange or venue.symbol refusal as what it is here: market.source's."""
    key, sep, rest = str(exc).partition(": ")
    if sep and key in ("venue.exchange", "venue.symbol"):
        return type(exc)(f"market.source: {rest}")
    return exc


def live_market(settings: Settings) -> tuple[str, str]:
    """(ccxt exchange id, symbol) of a live market source: its VENUE, else the exchange that
    lists the symbol in the catalog cache or the simulated listing, else Binance USD-M."""
    from tradetui.venues.catalog import VENUE_EXCHANGES, CatalogError, exchange_id
    from tradetui.venues.lookup import UnknownInstrumentError, resolve_instrument

    venue, symbol = live_source(settings.market.source) or ("", "")
    symbol = symbol or settings.venue.symbol
    if venue:
        return exchange_id(venue), symbol
    try:
        found = resolve_instrument(symbol).venue
    except (UnknownInstrumentError, CatalogError):
        found = ""
    return found or VENUE_EXCHANGES["usdm"], symbol


async def _market_feed(
    settings: Settings,
    exchange: str,
    symbol: str,
    instrument: Instrument,
    bus: Bus,
    public: Callable[[], Awaitable[Any]],
) -> tuple[MarketFeed, FeedRecorder | None]:
    """The exchange's public market feed for ``instrument`` (ccxt's ``symbol``): Binance's own
    websocket streams and REST snapshot, else ccxt's websockets on ``public()``'s keyless
    client; with record.enabled, the recorder of its raw frames (Binance only)."""
    from tradetui.market.recorder import FeedRecorder
    from tradetui.venues.binance_stream import BinanceStreamFeed, ReconnectPolicy, feed_hosts
    from tradetui.venues.ccxt_feed import CcxtFeed
    from tradetui.venues.errors import SetupError

    v, f = settings.venue, settings.feed
    hosts = feed_hosts(exchange)
    if hosts is None:
        if settings.record.enabled:
            raise SetupError(
                f"record.enabled: recording a live market needs the Binance feed; "
                f"{exchange} has none yet (set record.enabled = false)"
            )
        reconnect = ReconnectPolicy(
            initial_s=f.reconnect_initial_s,
            max_s=f.reconnect_max_s,
            jitter=f.reconnect_jitter,
            healthy_s=f.reconnect_healthy_s,
        )
        feed = CcxtFeed(
            instrument, await public(), symbol, on_status=_feed_status(bus), reconnect=reconnect
        )
        return feed, None
    capture: FeedRecorder | None = None
    binance: BinanceStreamFeed | None = None
    if settings.record.enabled:
        out = recordings_dir(settings)
        try:
            capture = FeedRecorder(
                out,
                f"{exchange}_{instrument.symbol.lower()}",
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
    return binance, capture


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
