"""Settings: TOML file → frozen, validated dataclasses, with environment overrides.

Lookup order for the file: ``--config PATH``, then ``./config.toml``, then ``config.toml`` in the
user config directory. Any key can be overridden from the environment as
``TRADETUI_<SECTION>__<KEY>`` (e.g. ``TRADETUI_STRATEGY__GAMMA=0.05``). Every field carries its
unit and meaning in metadata, which also renders ``config.toml.example``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "TRADETUI_"


class ConfigError(ValueError):
    """A user-fixable settings problem; the message is one line naming the key and the fix."""


def _f(
    default: Any, doc: str, check: Callable[[Any], str | None] | None = None, *, hide: bool = False
) -> Any:
    """A setting: its default, its doc line, a check returning the problem (None if fine), and
    ``hide`` for settings a user may fill with a secret by mistake (errors never echo them)."""
    return field(default=default, metadata={"doc": doc, "check": check, "hide": hide})


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _within(low: float, high: float, *, open_low: bool = False) -> Callable[[float], str | None]:
    """A check that a number is within [low, high] (low excluded with ``open_low``)."""

    def check(v: float) -> str | None:
        if (low < v if open_low else low <= v) and v <= high:
            return None
        return f"must be {'>' if open_low else '>='} {low:g} and <= {high:g}"

    return check


# Binance's "Change Initial Leverage" (POST /fapi/v1/leverage, /dapi/v1/leverage) takes "int
# from 1 to 125"; https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/
# rest-api/Change-Initial-Leverage
MAX_LEVERAGE = 125
# A fee of 1 % of the traded value either way is beyond any exchange's schedule; bigger is a typo.
MAX_FEE_BPS = 100.0


def _env_name(v: str) -> str | None:
    """A variable name, not the secret it should hold: keys and tokens pasted here by mistake
    (a Binance key is 64 letters and digits, a bot token has a colon) are refused unechoed."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
        return (
            "must be the name of an environment variable (letters, digits, _), not the secret "
            "itself; the value is not shown"
        )
    if len(v) >= 32 or (len(v) >= 16 and re.search(r"[a-z]", v) and re.search(r"[0-9]", v)):
        return (
            "looks like a key or token, not an environment variable name; put the secret in "
            "the environment (export NAME=...) and write NAME here; the value is not shown"
        )
    return None


def _one_of(*allowed: str) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        return None if v in allowed else "must be one of " + ", ".join(repr(a) for a in allowed)

    return check


def synthetic_source(source: str) -> tuple[str, str] | None:
    """(venue, symbol) of a "synthetic[:[VENUE:]SYMBOL]" market source, '' for what it
    leaves out; None for any other source. Raises ValueError for an empty part."""
    return _venue_symbol("synthetic", source)


def live_source(source: str) -> tuple[str, str] | None:
    """(venue, symbol) of a "live[:[VENUE:]SYMBOL]" market source (paper orders on the
    exchange's real market data), '' for what it leaves out; None for any other source.
    Raises ValueError for an empty part."""
    return _venue_symbol("live", source)


def _venue_symbol(kind: str, source: str) -> tuple[str, str] | None:
    head, colon, rest = source.partition(":")
    if head != kind:
        return None
    if not colon:
        return "", ""
    # The venue is the first part unless that part is already the symbol: a ccxt unified
    # name (BTC/USD:BTC) holds a colon of its own, and its first part a slash.
    venue, sep, symbol = rest.partition(":")
    if not sep or "/" in venue:
        venue, sep, symbol = "", "", rest
    if not symbol.strip() or (sep and not venue.strip()):
        raise ValueError(f"{source!r}: expected {kind}, {kind}:SYMBOL or {kind}:VENUE:SYMBOL")
    return venue.strip(), symbol.strip()


REPLAY_END_ACTIONS = ("stop", "flatten", "loop")


def _market_source(v: str) -> str | None:
    try:
        if synthetic_source(v) is not None or live_source(v) is not None:
            return None
    except ValueError:
        pass
    if v.startswith("replay:") and v[len("replay:") :].strip(" ,"):
        return None
    return (
        "must be 'synthetic', 'synthetic:[VENUE:]SYMBOL' (e.g. synthetic:coinm:BTCUSD_PERP), "
        "'replay:PATH[,PATH...]' or 'live[:[VENUE:]SYMBOL]' (e.g. live:usdm:ETHUSDT)"
    )


def _exchange_id(v: str) -> str | None:
    if v == "sim" or (v.isascii() and v.isalnum() and v.islower()):
        return None
    return "must be 'sim' or a ccxt exchange id such as 'binanceusdm'"


def _url_or_empty(v: str) -> str | None:
    if not v or (v.split("://", 1)[0] in ("http", "https", "ws", "wss") and "://" in v):
        return None
    return "must be empty or scheme://host[:port] (http, https, ws or wss)"


def _client_id_prefix(v: str) -> str | None:
    if 1 <= len(v) <= 8 and v.isascii() and v.isalnum():
        return None
    return "must be 1 to 8 letters or digits (client order ids are at most 36 characters)"


def _recv_window(v: int) -> str | None:
    return None if 0 < v <= 60_000 else "must be within 1..60000 ms (Binance's limit)"


@dataclass(frozen=True, slots=True)
class VenueSettings:
    exchange: str = _f(
        "sim",
        "'sim' is the built-in simulated exchange (paper); a ccxt exchange id such as "
        "'binanceusdm' trades live with real money (a futures account must be in one-way "
        "position mode: hedge mode is refused at start)",
        _exchange_id,
    )
    symbol: str = _f(
        "BTCUSDT",
        "instrument to trade (the exchange's id or ccxt's BTC/USDT:USDT); locked while the "
        "engine runs",
    )
    rest_url: str = _f(
        "",
        "live: REST base URL override, e.g. http://127.0.0.1:8765 for `tradetui sandbox "
        "exchange` ('' = the exchange's own)",
        _url_or_empty,
    )
    ws_url: str = _f(
        "",
        "live: websocket base URL override, e.g. ws://127.0.0.1:8765 ('' = the exchange's own)",
        _url_or_empty,
    )
    api_key_env: str = _f(
        "TRADETUI_API_KEY",
        "live: environment variable holding the API key (never this file)",
        _env_name,
        hide=True,
    )
    api_secret_env: str = _f(
        "TRADETUI_API_SECRET",
        "live: environment variable holding the API secret",
        _env_name,
        hide=True,
    )
    secrets_file: str = _f(
        "",
        "live: TOML file with api_key and api_secret instead of the environment; must be "
        "mode 0600 ('' = use the environment)",
    )
    client_id_prefix: str = _f(
        "tt",
        "start of every client order id we send; orders with it found open at start are ours",
        _client_id_prefix,
    )
    recv_window_ms: int = _f(
        5000,
        "live: ms a signed request stays valid after its timestamp (clock jitter tolerance)",
        _recv_window,
    )
    leverage: int = _f(
        0,
        f"live: leverage set on the symbol at start, 1 to {MAX_LEVERAGE} (0 = leave as is)",
        _within(0, MAX_LEVERAGE),
    )
    margin_mode: str = _f(
        "",
        "live: margin mode set at start: 'cross', 'isolated' or '' (leave as is)",
        _one_of("", "cross", "isolated"),
    )
    fill_poll_s: float = _f(
        0.5,
        "live: while the user stream is down, poll fills by REST at most this often, s",
        _positive,
    )
    fee_rate_refresh_s: float = _f(
        30.0,
        "live: fees charged in another asset (BNB under Binance's fee discount) are valued at "
        "its price read from the exchange this often, s",
        _positive,
    )
    fill_reconcile_s: float = _f(
        5.0,
        "live: while orders are working, fetch fills by REST this often even with the user "
        "stream up (a fill the stream then never sends renews it), s",
        _positive,
    )
    stream_silence_s: float = _f(
        60.0,
        "live: with orders working and no user-stream message for this long, ask the "
        "exchange whether the listenKey still lives (Binance keepalive; -1125 renews it), s",
        _positive,
    )
    request_timeout_ms: int = _f(
        10_000,
        "live: a REST request without an answer after this long is a timeout (an order is "
        "then looked up by its client id, never resent), ms",
        _positive,
    )
    rate_limit: bool = _f(
        True,
        "live: pace requests by ccxt's per-request costs in a token bucket (Binance USD-M: "
        "about 5 orders/s sustained, bursts of up to 50 go at once); turn off only against "
        "the sandbox",
    )
    pace_soft: float = _f(
        0.8,
        "live: from this fraction of a Binance rate limit (X-MBX-USED-WEIGHT-1M, "
        "X-MBX-ORDER-COUNT-10S/1M against exchangeInfo's rateLimits) requests are spread over "
        "the rest of its window; fill polls and account checks wait first, cancels last",
        lambda v: None if 0 < v <= 0.95 else "must be above 0 and at most 0.95",
    )
    pace_max_wait_s: float = _f(
        1.0,
        "live: a new order the pacing would hold longer than this is not sent (the engine "
        "sees it rejected as rate limited), s",
        _non_negative,
    )


@dataclass(frozen=True, slots=True)
class MarketSettings:
    source: str = _f(
        "synthetic",
        "paper market feeding the sim venue: 'synthetic' (venue.symbol), "
        "'synthetic:[VENUE:]SYMBOL' (VENUE usdm, coinm, spot or a ccxt id; the instrument "
        "comes from the catalog cache, else the simulated exchange's listing), "
        "'replay:PATH[,PATH...]' to replay recorded files (capture, Binance or tardis CSV) "
        "starting now, or 'live[:[VENUE:]SYMBOL]': the exchange's real book and trades "
        "(public websocket feed, no keys; VENUE usdm, coinm or spot) with orders and fills "
        "simulated, in real time (docs/paper-live.md)",
        _market_source,
    )
    seed: int = _f(
        1,
        "random seed of the synthetic market (same seed, same market)",
        lambda v: None if 0 <= v < 2**63 else "must be from 0 to 2**63 - 1",
    )
    synthetic_params: str = _f(
        "",
        "synthetic market calibration file written by `python bench/calibrate_synthetic.py "
        "FILE --out PATH` ('' = the built-in BTCUSDT one)",
    )
    start_price: float = _f(
        0.0,
        "synthetic market start price in the instrument's quote currency; scales the "
        "calibration to it (0 = the calibration's own for its base asset; for another asset the "
        "last price `tradetui markets sync` cached, else the simulated listing's)",
        _non_negative,
    )
    replay_end: str = _f(
        "stop",
        "when a replayed market reaches the end of its files: 'stop' quoting (the position "
        "stays open), 'flatten' the position at the last book and stop, or 'loop' (start the "
        "files over, time running on); a headless run exits after stop or flatten",
        _one_of(*REPLAY_END_ACTIONS),
    )


@dataclass(frozen=True, slots=True)
class SimSettings:
    entry_latency_ms: float = _f(
        5.0, "ms for an order request to reach the exchange", _non_negative
    )
    cancel_latency_ms: float = _f(
        5.0, "ms for a cancel request to reach the exchange", _non_negative
    )
    ack_latency_ms: float = _f(5.0, "ms for acks and fill reports to come back", _non_negative)
    order_latency: str = _f(
        "constant",
        "order latency model: 'constant' (the three above), 'lognormal' (each request and "
        "response drawn, seeded, with the three above as medians and order_latency_sigma) or "
        "'measured' (drawn, seeded, from the latencies a live session recorded: "
        "order_latency_from)",
        _one_of("constant", "lognormal", "measured"),
    )
    order_latency_sigma: float = _f(
        0.5, "σ of the log of each order latency for 'lognormal'", _positive
    )
    order_latency_from: str = _f(
        "",
        "for 'measured': the live session whose order latencies to draw from, as "
        "'FILE.db#SESSION' (FILE.db alone: its newest session with timed orders; "
        "`tradetui latency` shows them)",
    )
    feed_latency: str = _f(
        "recorded",
        "market feed latency of replays and backtests: 'recorded' (each event's own, from "
        "the capture's receive times with the recorder's clock offset removed) or 'constant' "
        "(feed_latency_ms after the exchange time)",
        _one_of("recorded", "constant"),
    )
    feed_latency_ms: float = _f(5.0, "feed latency for 'constant', ms", _non_negative)
    queue_model: str = _f(
        "proportional",
        "how depth decreases at our level move us up the queue",
        _one_of("risk_averse", "proportional", "power"),
    )
    queue_power: float = _f(2.0, "exponent of the 'power' queue model", _positive)
    maker_fee_bps: float = _f(
        2.0,
        f"maker fee in basis points (negative = rebate), within ±{MAX_FEE_BPS:g}",
        _within(-MAX_FEE_BPS, MAX_FEE_BPS),
    )
    taker_fee_bps: float = _f(
        5.0,
        f"taker fee in basis points, within ±{MAX_FEE_BPS:g}",
        _within(-MAX_FEE_BPS, MAX_FEE_BPS),
    )
    spot_maker_fee_bps: float = _f(
        10.0,
        "maker fee on spot instruments, bps (Binance's basic spot tier is 0.1% = 10 bps)",
        _within(-MAX_FEE_BPS, MAX_FEE_BPS),
    )
    spot_taker_fee_bps: float = _f(
        10.0,
        "taker fee on spot instruments, bps (Binance's basic spot tier is 0.1% = 10 bps)",
        _within(-MAX_FEE_BPS, MAX_FEE_BPS),
    )
    spot_short: bool = _f(
        False,
        "spot: allow selling base the account does not hold (margin borrowing); off, a sell "
        "beyond the base held and not already offered is refused, as Binance spot does",
    )


@dataclass(frozen=True, slots=True)
class StrategySettings:
    gamma: float = _f(
        0.02, "risk aversion γ, 1/ticks per unit of q (q = position / order_size)", _positive
    )
    horizon: str = _f(
        "rolling",
        "'rolling': constant τ; 'finite': τ = T − t per cycle",
        _one_of("rolling", "finite"),
    )
    horizon_s: float = _f(1.0, "τ in seconds (rolling) or the cycle length T (finite)", _positive)
    order_size: float = _f(
        0.01, "quote size per side in the base asset (BTC), linear and spot markets", _positive
    )
    order_contracts: float = _f(
        1.0,
        "quote size per side in contracts, inverse contracts (BTCUSD_PERP: 1 = 100 USD)",
        _positive,
    )
    eta: float = _f(
        0.5, "size skew: the side that adds inventory shrinks by exp(−η·|q|)", _non_negative
    )
    min_spread_ticks: int = _f(2, "narrowest total quoted spread in ticks", _positive)
    max_spread_ticks: int = _f(400, "widest total quoted spread in ticks", _positive)
    decision_interval_ms: float = _f(100.0, "ms between quote decisions", _positive)
    sigma_prior_ticks: float = _f(
        68.9533,
        "σ prior in ticks/√s until estimated, at most 1e6 (σ² must stay a finite number); "
        "the default is fitted on spot BTCUSDT in 0.1 ticks (bench/calibrate_defaults.py)",
        _within(0, 1e6, open_low=True),
    )
    vol_halflife_s: float = _f(30.0, "half-life of the σ EWMA in seconds", _positive)
    k_prior: float = _f(
        0.034645, "order-arrival decay k prior in 1/ticks (spot BTCUSDT fit)", _positive
    )
    a_prior: float = _f(
        15.0062, "order-arrival intensity A prior in 1/s (spot BTCUSDT fit)", _positive
    )
    intensity_window_s: float = _f(60.0, "window of trades used to fit A and k, seconds", _positive)
    fee_floor: bool = _f(
        True,
        "no side nearer the mid than the maker fee plus the adverse-selection allowance "
        "(bps of the mid; overrides max_spread_ticks)",
    )
    adverse_allowance_prior_bps: float = _f(
        0.5,
        "adverse-selection allowance before our own fills measure it: bps the mid moves "
        "against a fill within adverse_horizon_s",
        _within(0, MAX_FEE_BPS),
    )
    adverse_horizon_s: float = _f(
        1.0,
        "horizon of the adverse move measured after each fill, seconds",
        _within(0, 60, open_low=True),
    )
    adverse_halflife_fills: float = _f(
        20.0, "half-life of the adverse-selection EWMA, in fills", _within(0, 10_000, open_low=True)
    )


@dataclass(frozen=True, slots=True)
class QuotingSettings:
    price_tolerance_ticks: int = _f(
        3, "keep a working order within this many ticks of target", _non_negative
    )
    size_tolerance: float = _f(
        0.25, "keep a working order whose size is within this fraction", _non_negative
    )
    max_age_s: float = _f(30.0, "replace a working order older than this, seconds", _positive)
    min_age_ms: float = _f(250.0, "never requote an order younger than this, ms", _non_negative)
    new_before_cancel: bool = _f(True, "place the replacement before cancelling the old order")


@dataclass(frozen=True, slots=True)
class RiskSettings:
    max_position_base: float = _f(
        0.1,
        "largest |position| in the base asset (BTC); an inverse contract position counts its "
        "value in the coin at the mid (0 = off)",
        _non_negative,
    )
    max_position_contracts: float = _f(
        0.0,
        "largest |position| in order units: contracts for inverse contracts (BTCUSD_PERP: "
        "100 USD each), the base asset for linear and spot (0 = off)",
        _non_negative,
    )
    max_position_quote: float = _f(
        10_000.0,
        "largest |position| value in the quote asset (USDT; USD face value for inverse "
        "contracts) (0 = off)",
        _non_negative,
    )
    max_equity_fraction: float = _f(
        0.0,
        "|position value| ≤ this × paper.equity × leverage, both in the margin asset (0 = off)",
        _non_negative,
    )
    leverage: float = _f(
        1.0,
        f"leverage used by max_equity_fraction, at most {MAX_LEVERAGE} (Binance's highest)",
        _within(0, MAX_LEVERAGE, open_low=True),
    )
    one_sided_enter: float = _f(
        0.8, "quote only the reducing side from this fraction of the position limit", _positive
    )
    one_sided_exit: float = _f(
        0.5, "back to two-sided below this fraction of the position limit", _positive
    )
    max_order_base: float = _f(
        0.05,
        "fat finger: largest order in the base asset (inverse contracts: its value in the coin "
        "at the order price) (0 = off)",
        _non_negative,
    )
    max_order_contracts: float = _f(
        0.0,
        "fat finger: largest order in order units (contracts for inverse contracts, base for "
        "linear and spot) (0 = off)",
        _non_negative,
    )
    max_order_quote: float = _f(
        5_000.0,
        "fat finger: largest order value in the quote asset (USD face value for inverse "
        "contracts) (0 = off)",
        _non_negative,
    )
    price_band_bps: float = _f(
        100.0, "pull a quote farther than this from mid, bps (0 = off)", _non_negative
    )
    max_open_orders: int = _f(
        10, "pull everything above this many open orders (0 = off)", _non_negative
    )
    max_drawdown_session: float = _f(
        250.0,
        "halt at this drop from the session PnL peak, quote (inverse contracts: the coin PnL "
        "valued at the mid) (0 = off)",
        _non_negative,
    )
    max_drawdown_day: float = _f(
        500.0,
        "halt at this drop from the UTC day's PnL peak, quote, as above (0 = off)",
        _non_negative,
    )
    max_loss_per_hour: float = _f(
        250.0,
        "halt at this loss within a rolling hour, quote, as above (0 = off)",
        _non_negative,
    )
    stale_market_s: float = _f(
        5.0, "pull quotes when no market data for this long, s (0 = off)", _non_negative
    )
    order_budget: int = _f(
        300, "pull quotes after this many placements per order_window_s (0 = off)", _non_negative
    )
    order_window_s: float = _f(60.0, "window of the order budget, seconds", _positive)
    reject_burst: int = _f(
        10, "halt after this many rejects within reject_window_s (0 = off)", _non_negative
    )
    reject_window_s: float = _f(10.0, "window of the reject burst, seconds", _positive)
    latency_widen_ms: float = _f(
        200.0, "widen quotes when feed latency exceeds this, ms (0 = off)", _non_negative
    )
    latency_widen_ticks: int = _f(10, "ticks added to each side on a latency spike", _non_negative)
    latency_pull_ms: float = _f(
        1000.0, "pull quotes when feed latency exceeds this, ms (0 = off)", _non_negative
    )
    vol_ratio_limit: float = _f(
        2.5, "σ(30 s) / σ(10 min) above this is a volatile regime (0 = off)", _non_negative
    )
    vol_widen_factor: float = _f(1.5, "half-spreads × this in a volatile regime", _positive)
    vol_size_factor: float = _f(0.5, "sizes × this in a volatile regime (0 < f ≤ 1)", _positive)
    flatten_on_halt: bool = _f(True, "a risk halt also flattens the position")
    account_check_s: float = _f(
        10.0,
        "read the venue's position and orders this often while running, s (0 = off)",
        _non_negative,
    )
    stale_account_s: float = _f(
        30.0,
        "pull quotes when the last account read is older than this, s (0 = off)",
        _non_negative,
    )


@dataclass(frozen=True, slots=True)
class EngineSettings:
    flatten_timeout_s: float = _f(
        30.0, "give up flattening after this long and halt, seconds", _positive
    )
    flatten_backoff_ms: float = _f(200.0, "first retry delay of a flatten attempt, ms", _positive)
    flatten_backoff_max_ms: float = _f(5000.0, "cap of the flatten retry delay, ms", _positive)
    stop_timeout_s: float = _f(
        10.0, "longest wait for cancels to confirm on stop, seconds", _positive
    )
    start_timeout_s: float = _f(
        5.0, "refuse to start when the venue's orders/position are unread after this, s", _positive
    )
    orders_on_start: str = _f(
        "cancel",
        "our orders found open at the venue on start: 'cancel' or 'adopt'",
        _one_of("cancel", "adopt"),
    )
    control_socket: str = _f(
        "",
        "Unix socket for `tradetui halt|stop|flatten|status` ('' = NAME.sock in the user "
        "runtime dir, NAME the instance's --name)",
    )


@dataclass(frozen=True, slots=True)
class PaperSettings:
    equity: float = _f(
        10_000.0,
        "paper account equity in the margin asset: USDT for USD-M and spot, the coin for "
        "COIN-M (set it: 10000 BTC is no real account); live sessions use the balance read "
        "from the exchange at start instead",
        _positive,
    )


@dataclass(frozen=True, slots=True)
class StoreSettings:
    dir: str = _f(
        "",
        "directory of the instances' databases, NAME.db (e.g. paper-usdm-btcusdt.db; '' = the "
        "user data directory)",
    )
    batch_rows: int = _f(1000, "largest number of rows written in one transaction", _positive)
    batch_ms: float = _f(
        50.0,
        "ms between write transactions when rows are waiting, at most 10000 (a crash loses "
        "at most one batch)",
        _within(0, 10_000, open_low=True),
    )
    queue_rows: int = _f(
        200_000, "rows allowed to wait before persistence counts as failed (halt)", _positive
    )
    busy_timeout_ms: int = _f(
        2000, "ms to wait for a locked database before persistence counts as failed", _positive
    )
    snapshot_interval_s: float = _f(
        1.0, "seconds of market time between stored position/equity snapshots", _positive
    )


# The limits Binance's futures depth snapshot accepts (USD-M ``GET /fapi/v1/depth`` and COIN-M
# ``GET /dapi/v1/depth``, "Order Book": "Valid limits:[5, 10, 20, 50, 100, 500, 1000]"; any
# other value is refused with -4021). Spot's /api/v3/depth accepts each of them too.
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


# How the Binance USD-M websockets are addressed (venues/binance_stream.py, venues/clients.py).
WS_ROUTINGS = ("split", "legacy")


def _depth_limit(v: int) -> str | None:
    if v in DEPTH_LIMITS:
        return None
    return f"must be one of {', '.join(map(str, DEPTH_LIMITS))} (Binance's depth snapshot limits)"


def _probability(v: float) -> str | None:
    return None if 0 < v <= 1 else "must be in (0, 1]"


def _unit_interval(v: float) -> str | None:
    return None if 0 <= v <= 1 else "must be in [0, 1]"


@dataclass(frozen=True, slots=True)
class MlSettings:
    enabled: bool = _f(False, "apply the ML filter to every quote decision")
    model: str = _f("", "model directory written by `tradetui train` (model.json + card.json)")
    skew_ticks: float = _f(2.0, "both quotes move by (p_up − p_down) × this, ticks", _non_negative)
    widen_ticks: float = _f(
        2.0, "bid drops by p_down × this, ask rises by p_up × this, ticks", _non_negative
    )
    pull_threshold: float = _f(
        0.6, "pull the bid when p_down exceeds this, the ask when p_up does", _probability
    )
    on_error: str = _f(
        "quote",
        "when inference fails: 'quote' without the filter or 'pull' both sides",
        _one_of("quote", "pull"),
    )
    monitor_window: int = _f(
        600, "live monitor: score the model over this many latest resolved predictions", _positive
    )
    drift_min_predictions: int = _f(
        100, "live monitor: resolved predictions needed before drift can be alerted", _positive
    )
    drift_min_hit_rate: float = _f(
        0.34,
        "drift when the hit rate (most likely class came true) falls below this, [0, 1] (0 = off)",
        _unit_interval,
    )
    drift_max_brier_excess: float = _f(
        0.0,
        "drift when the Brier score exceeds a constant forecast of the window's own class "
        "frequencies by more than this",
        _non_negative,
    )
    drift_max_calibration_gap: float = _f(
        0.10,
        "drift when mean predicted p_up or p_down differs from the realized up/down rate by "
        "more than this, [0, 1] (1 = off)",
        _unit_interval,
    )
    drift_action: str = _f(
        "alert",
        "when the live check finds drift: 'alert' (log, alert, event) or 'disable' (the same, "
        "and the filter stops adjusting quotes until a new model is loaded or the session "
        "restarts)",
        _one_of("alert", "disable"),
    )
    reload_check_s: float = _f(
        5.0,
        "seconds between checks of the model files; a changed, valid model is loaded in the "
        "background and swapped in between two decisions (0 = never reload)",
        _non_negative,
    )


TELEGRAM_ROLES = ("viewer", "trader")
_SWITCH = _one_of("on", "silent", "off")


def parse_chats(text: str) -> dict[int, str]:
    """``'ID:ROLE, ID:ROLE'`` → chat id → role; raises ValueError naming the bad entry."""
    chats: dict[int, str] = {}
    for entry in text.replace(";", ",").split(","):
        if not entry.strip():
            continue
        chat, _, role = entry.strip().partition(":")
        role = role.strip().lower() or "viewer"
        try:
            chat_id = int(chat.strip())
        except ValueError:
            raise ValueError(f"{entry.strip()!r} is not CHAT_ID:ROLE (a whole number)") from None
        if role not in TELEGRAM_ROLES:
            raise ValueError(f"{entry.strip()!r}: role must be viewer or trader")
        if chat_id in chats:
            raise ValueError(f"chat {chat_id} is listed twice; keep one entry with its role")
        chats[chat_id] = role
    return chats


def _http_url(v: str) -> str | None:
    if re.fullmatch(r"https?://[^\s/:]+(:\d+)?(/\S*)?", v):
        return None
    return "expected http(s)://host[:port][/path]"


def _chats(v: str) -> str | None:
    try:
        parse_chats(v)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    enabled: bool = _f(False, "send alerts to Telegram and accept commands from the chats below")
    token_env: str = _f(
        "TRADETUI_TELEGRAM_TOKEN",
        "environment variable holding the bot token (the token never goes in this file)",
        _env_name,
        hide=True,
    )
    api_base_url: str = _f(
        "https://api.telegram.org",
        "Bot API server; point it at `tradetui sandbox telegram` to try without Telegram",
        _http_url,
    )
    chats: str = _f(
        "",
        "allowed chats as 'CHAT_ID:ROLE, ...'; ROLE viewer (read only, the default when "
        "left out) or trader (may command); alerts go to every chat listed",
        _chats,
    )
    alert_start: str = _f("on", "engine started: 'on', 'silent' (no sound) or 'off'", _SWITCH)
    alert_stop: str = _f("on", "engine stopped: on, silent or off", _SWITCH)
    alert_halt: str = _f("on", "halt with its reason: on, silent or off", _SWITCH)
    alert_flatten: str = _f("on", "flatten finished (flat, dust or timeout)", _SWITCH)
    alert_risk: str = _f("on", "the risk guard pulled quotes, and when it lets them back", _SWITCH)
    alert_errors: str = _f("on", "errors logged by tradetui", _SWITCH)
    alert_connection: str = _f(
        "on", "venue disconnected or reconnected, and a replayed market's end", _SWITCH
    )
    alert_model: str = _f(
        "on", "ML filter drifted past its limits, recovered, or reloaded", _SWITCH
    )
    alert_fills: str = _f("silent", "fill digests (fills summed per digest_interval_s)", _SWITCH)
    alert_heartbeat: str = _f("silent", "periodic summary every heartbeat_interval_s", _SWITCH)
    digest_interval_s: float = _f(
        60.0, "fills are summed into one message this often, s", _positive
    )
    heartbeat_interval_s: float = _f(3600.0, "wall seconds between heartbeat summaries", _positive)
    confirm_timeout_s: float = _f(
        60.0, "an unanswered /flatten or /halt confirmation button expires after this, s", _positive
    )
    queue_size: int = _f(
        200, "alerts waiting for delivery before the oldest routine ones are dropped", _positive
    )


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Live websocket market data (venues/binance_stream.py)."""

    reconnect_initial_s: float = _f(
        0.1, "first reconnect delay, seconds (doubles per failed attempt)", _positive
    )
    reconnect_max_s: float = _f(30.0, "cap of the reconnect delay, seconds", _positive)
    reconnect_jitter: float = _f(
        0.5, "random fraction taken off each reconnect delay, [0, 1]", _unit_interval
    )
    reconnect_healthy_s: float = _f(
        30.0, "a connection live this long resets the reconnect delay, seconds", _positive
    )
    ping_interval_s: float = _f(
        20.0, "seconds between our websocket pings (server pings are always answered)", _positive
    )
    ping_timeout_s: float = _f(
        20.0, "close and reconnect when a ping is not answered within this, seconds", _positive
    )
    stale_s: float = _f(
        10.0,
        "reconnect when no message at all arrived for this long, seconds (0 = off)",
        _non_negative,
    )
    depth_limit: int = _f(
        1000,
        "levels per side of the REST depth snapshot (5, 10, 20, 50, 100, 500 or 1000)",
        _depth_limit,
    )
    proxy: str = _f(
        "", "proxy for the websocket and the REST snapshot, e.g. http://host:3128 ('' = none)"
    )
    ws_routing: str = _f(
        "split",
        "Binance USD-M websocket bases: 'split' (/public book and trades, /private user data) "
        "or 'legacy' (/stream and /ws, retired by Binance on 2026-04-23)",
        _one_of(*WS_ROUTINGS),
    )


@dataclass(frozen=True, slots=True)
class RecordSettings:
    enabled: bool = _f(
        False, "record the market a session trades on (capture format, gzip, hourly files)"
    )
    dir: str = _f("", "folder of the recordings ('' = recordings/ in the user data directory)")
    flush_s: float = _f(
        1.0, "sync-flush the open file this often, seconds (a crash loses at most this)", _positive
    )


@dataclass(frozen=True, slots=True)
class DataSettings:
    dir: str = _f(
        "",
        "folder `data download` writes Binance's daily archives to ('' = archives/ in the user "
        "data directory)",
    )
    archive_url: str = _f(
        "https://data.binance.vision",
        "base URL of Binance's public data archive (a loopback `sandbox archive` for tests)",
        _http_url,
    )


@dataclass(frozen=True, slots=True)
class PortfolioSettings:
    max_gross_usd: float = _f(
        0.0,
        "several markets ([[markets]]): halt every market when the sum of |position notional| "
        "over all markets exceeds this, USD (inverse: contracts × face value; linear: qty × "
        "price × contract size; spot: base × price) (0 = off)",
        _non_negative,
    )
    max_net_usd: float = _f(
        0.0,
        "halt every market when |sum of signed position notionals| exceeds this, USD (0 = off)",
        _non_negative,
    )
    max_asset_usd: float = _f(
        0.0,
        "halt every market when one base asset's exposure, netted across markets (long BTC on "
        "USD-M, short BTC on COIN-M), exceeds this, USD (0 = off)",
        _non_negative,
    )
    max_drawdown_usd: float = _f(
        0.0,
        "halt every market when the book's total PnL (all markets, in USD) falls this far "
        "below its session peak (0 = off)",
        _non_negative,
    )
    max_daily_loss_usd: float = _f(
        0.0,
        "halt every market when the book's total PnL since the UTC day began (or the session "
        "began, if later) is below minus this, USD (0 = off)",
        _non_negative,
    )
    check_interval_ms: float = _f(
        100.0,
        "how often the portfolio limits are checked, ms of market time; a breach halts every "
        "market (each cancels, and flattens when its risk.flatten_on_halt)",
        _positive,
    )


# The sections a [[markets]] entry may override for its market.
MARKET_OVERRIDES = ("market", "strategy", "quoting", "risk", "paper")


@dataclass(frozen=True, slots=True)
class MarketEntry:
    """One market of a several-market session ([[markets]] or ``run --symbol A,B``): its
    symbol, the market source it is paper traded on ('' = the [market] source's kind and
    venue for this symbol), and its own [market]/[strategy]/[quoting]/[risk] keys."""

    symbol: str
    source: str = ""
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    venue: VenueSettings = field(default_factory=VenueSettings)
    market: MarketSettings = field(default_factory=MarketSettings)
    sim: SimSettings = field(default_factory=SimSettings)
    strategy: StrategySettings = field(default_factory=StrategySettings)
    quoting: QuotingSettings = field(default_factory=QuotingSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    paper: PaperSettings = field(default_factory=PaperSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    ml: MlSettings = field(default_factory=MlSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    feed: FeedSettings = field(default_factory=FeedSettings)
    record: RecordSettings = field(default_factory=RecordSettings)
    data: DataSettings = field(default_factory=DataSettings)
    portfolio: PortfolioSettings = field(default_factory=PortfolioSettings)
    # Several markets in one session (docs/multi-market.md); empty: the one market above.
    markets: tuple[MarketEntry, ...] = ()

    def replace(self, section: str, **changes: Any) -> Settings:
        """A copy with ``changes`` validated and applied to one section."""
        current = getattr(self, section)
        merged = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
        merged.update(changes)
        built = _build_section(type(current), merged, section)
        return dataclasses.replace(self, **{section: built})

    def per_market(self) -> list[Settings]:
        """Each [[markets]] entry's own settings (empty without [[markets]]): these settings
        with venue.symbol and market.source set to the market's, market.seed + its index
        (different synthetic markets), and its own section keys applied. Raises ConfigError
        naming the entry (``markets[i]``) and the key."""
        out: list[Settings] = []
        for i, entry in enumerate(self.markets):
            where = f"markets[{i}] ({entry.symbol})"
            try:
                one = dataclasses.replace(self, markets=())
                source = entry.source or _source_for(self.market.source, "", entry.symbol)
                one = one.replace("venue", symbol=entry.symbol)
                one = one.replace("market", source=source, seed=self.market.seed + i)
                for section, keys in entry.overrides.items():
                    one = one.replace(section, **keys)
            except ConfigError as exc:
                raise ConfigError(f"{where}.{exc}") from None
            out.append(one)
        return out


def _source_for(source: str, venue: str, symbol: str) -> str:
    """The market source of ``symbol`` (on ``venue``, '' = the source's own) of the same kind
    as ``source`` (synthetic or live); raises ConfigError for a replay (its files name one
    instrument)."""
    kind = source.partition(":")[0]
    parts = synthetic_source(source) or live_source(source)
    if parts is None:
        raise ConfigError(
            "source: a replay trades the instrument of its files; give each market its own "
            "source = 'replay:PATH' (or 'synthetic'/'live' for all in [market])"
        )
    where = venue or parts[0]
    return f"{kind}:{where}:{symbol}" if where else f"{kind}:{symbol}"


def markets_from_table(
    items: Any, base_source: str, where: str = "markets"
) -> tuple[MarketEntry, ...]:
    """[[markets]] entries (a TOML array of tables) checked: each has a symbol, optionally a
    ``venue`` (usdm, coinm, spot: the [market] source's kind on that venue) or a whole
    ``source``, and [markets.SECTION] keys for the sections in MARKET_OVERRIDES."""
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise ConfigError(
            f"{where}: expected [[markets]] tables (one per market, each with symbol = ...)"
        )
    entries: list[MarketEntry] = []
    seen: set[str] = set()
    for i, table in enumerate(items):
        at = f"{where}[{i}]"
        symbol = table.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            raise ConfigError(f'{at}.symbol: missing; write symbol = "ETHUSDT" in the entry')
        symbol = symbol.strip().upper()
        venue = table.get("venue", "")
        source = table.get("source", "")
        if not isinstance(venue, str) or not isinstance(source, str):
            raise ConfigError(f"{at}: venue and source must be strings")
        if venue and source:
            raise ConfigError(f"{at}.venue: give venue or source, not both")
        overrides: dict[str, dict[str, Any]] = {}
        for key, value in table.items():
            if key in ("symbol", "venue", "source"):
                continue
            if key not in MARKET_OVERRIDES or not isinstance(value, dict):
                raise ConfigError(
                    f"{at}.{key}: unknown key; an entry has symbol, venue or source, and "
                    f"[markets.SECTION] tables for " + ", ".join(MARKET_OVERRIDES)
                )
            overrides[key] = dict(value)
        if venue:
            try:
                source = _source_for(base_source, venue, symbol)
            except ConfigError as exc:
                raise ConfigError(f"{at}.{exc}") from None
        key = f"{source or venue}:{symbol}"
        if key in seen:
            raise ConfigError(f"{at}.symbol: {symbol} is listed twice; remove one entry")
        seen.add(key)
        entries.append(MarketEntry(symbol, source, overrides))
    return tuple(entries)


SECTIONS: dict[str, type[Any]] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Settings)
    if f.name != "markets"
}


def _coerce(value: Any, typ: type[Any], where: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            f = float(value)
            if math.isfinite(f):
                return f
            raise ConfigError(f"{where}: must be a finite number (got {value!r})")
    elif typ is str and isinstance(value, str):
        return value
    raise ConfigError(
        f"{where}: expected {typ.__name__}, got {type(value).__name__} {value!r}; "
        f"write it as a TOML {typ.__name__}"
    )


# Keys renamed to carry their unit (issue 17: inverse contracts size in contracts, value in
# USD and in the coin); an old key is refused with its new name rather than guessed at.
RENAMED_KEYS: dict[str, str] = {
    "risk.max_position": "risk.max_position_base",
    "risk.max_position_notional": "risk.max_position_quote",
    "risk.max_order_size": "risk.max_order_base",
    "risk.max_order_notional": "risk.max_order_quote",
}
# Keys replaced by one of another kind; an old key is refused with what to write instead.
REPLACED_KEYS: dict[str, str] = {
    "market.loop": "market.replay_end = 'loop' (true) or 'stop' (false)",
}


def _build_section(cls: type[Any], table: Mapping[str, Any], section: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        renamed = RENAMED_KEYS.get(f"{section}.{key}")
        if renamed is not None:
            raise ConfigError(f"{section}.{key}: renamed to {renamed} (same unit); rename the key")
        replaced = REPLACED_KEYS.get(f"{section}.{key}")
        if replaced is not None:
            raise ConfigError(f"{section}.{key}: replaced by {replaced}; write that instead")
        if key not in known:
            raise ConfigError(
                f"{section}.{key}: unknown key; valid keys in [{section}] are " + ", ".join(known)
            )
    values: dict[str, Any] = {}
    for name, fld in known.items():
        if name not in table:
            continue
        where = f"{section}.{name}"
        v = _coerce(table[name], hints[name], where)
        check = fld.metadata.get("check")
        problem = check(v) if check else None
        if problem:
            got = "" if fld.metadata["hide"] else f" (got {v!r})"
            raise ConfigError(f"{where}: {problem}{got}; {fld.metadata['doc']}")
        values[name] = v
    built = cls(**values)
    _cross_check(section, built)
    return built


def _cross_check(section: str, s: Any) -> None:
    if isinstance(s, StrategySettings) and s.max_spread_ticks < s.min_spread_ticks:
        raise ConfigError(
            "strategy.max_spread_ticks: must be >= strategy.min_spread_ticks "
            f"(got {s.max_spread_ticks} < {s.min_spread_ticks})"
        )
    if isinstance(s, RiskSettings) and not (
        0 < s.one_sided_exit <= s.one_sided_enter <= 1 and s.vol_size_factor <= 1
    ):
        raise ConfigError(
            "risk.one_sided_exit/one_sided_enter/vol_size_factor: need 0 < exit <= enter <= 1 "
            f"and vol_size_factor <= 1 (got {s.one_sided_exit}, {s.one_sided_enter}, "
            f"{s.vol_size_factor})"
        )
    if isinstance(s, RiskSettings) and s.vol_widen_factor < 1:
        raise ConfigError(f"risk.vol_widen_factor: must be >= 1 (got {s.vol_widen_factor})")
    if isinstance(s, MlSettings) and s.drift_min_predictions > s.monitor_window:
        raise ConfigError(
            "ml.drift_min_predictions: must be <= ml.monitor_window "
            f"(got {s.drift_min_predictions} > {s.monitor_window})"
        )
    if isinstance(s, MlSettings) and s.enabled:
        # Only presence is checked here; the engine loads and verifies the model itself.
        folder = Path(s.model).expanduser() if s.model else None
        if folder is None or not (folder / "model.json").is_file():
            raise ConfigError(
                f"ml.model: no model.json in {s.model!r}; train one with `tradetui train "
                "DATA... --out DIR` and set ml.model = DIR, or set ml.enabled = false"
            )
    if isinstance(s, FeedSettings) and s.reconnect_max_s < s.reconnect_initial_s:
        raise ConfigError(
            "feed.reconnect_max_s: must be >= feed.reconnect_initial_s "
            f"(got {s.reconnect_max_s} < {s.reconnect_initial_s})"
        )
    if isinstance(s, EngineSettings) and s.flatten_backoff_max_ms < s.flatten_backoff_ms:
        raise ConfigError(
            "engine.flatten_backoff_max_ms: must be >= engine.flatten_backoff_ms "
            f"(got {s.flatten_backoff_max_ms} < {s.flatten_backoff_ms})"
        )


def parse_value(text: str, typ: type[Any], where: str) -> Any:
    """A typed value (bool, int, float or str) from text a person typed; raises ConfigError."""
    raw = text.strip()
    try:
        if typ is bool:
            if raw.lower() in ("true", "yes", "1", "on"):
                return True
            if raw.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if typ is int:
            return int(raw)
        if typ is float:
            return float(raw)
    except ValueError:
        kind = {bool: "true or false", int: "a whole number", float: "a number"}[typ]
        raise ConfigError(f"{where}: expected {kind} (got {raw!r})") from None
    return raw


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word is a string


def settings_from_mapping(
    data: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Settings:
    """Validate a parsed TOML mapping, apply ``TRADETUI_SECTION__KEY`` overrides."""
    merged: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if section == "markets":
            continue
        if section not in SECTIONS:
            raise ConfigError(
                f"[{section}]: unknown section; valid sections are " + ", ".join(SECTIONS)
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: expected a [{section}] table, got {table!r}")
        merged[section] = dict(table)
    overridden: dict[str, str] = {}  # "section.key" -> the variable that set it
    for name, raw in (env or {}).items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in SECTIONS:
            raise ConfigError(f"{name}: unknown section {section!r} in environment override")
        merged.setdefault(section, {})[key] = _parse_env_value(raw)
        overridden[f"{section}.{key}"] = name
    sections = {}
    for section, cls in SECTIONS.items():
        try:
            sections[section] = _build_section(cls, merged.get(section, {}), section)
        except ConfigError as exc:
            # A value from the environment is fixed there, not in the file: name the variable.
            where = str(exc).split(":", 1)[0]
            if where in overridden:
                raise ConfigError(f"{overridden[where]} (environment): {exc}") from None
            raise
    settings = Settings(**sections)
    if "markets" in data:
        entries = markets_from_table(data["markets"], settings.market.source)
        settings = with_markets(settings, entries)
    return settings


def with_markets(settings: Settings, entries: tuple[MarketEntry, ...]) -> Settings:
    """``settings`` trading ``entries`` (checked: every market's settings are built once)."""
    if settings.venue.exchange != "sim" and entries:
        raise ConfigError(
            "markets: several markets are paper traded for now (venue.exchange = 'sim'); "
            "run one live session per market"
        )
    settings = dataclasses.replace(settings, markets=entries)
    settings.per_market()
    return settings


def find_config(explicit: Path | None) -> Path | None:
    """The config file to read: explicit path, ./config.toml, or the user config dir."""
    if explicit is not None:
        return explicit
    local = Path("config.toml")
    if local.is_file():
        return local
    from platformdirs import user_config_path

    user = user_config_path("tradetui") / "config.toml"
    return user if user.is_file() else None


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; raises ConfigError with a one-line message."""
    env = os.environ if env is None else env
    found = find_config(path)
    data: dict[str, Any] = {}
    if found is not None:
        try:
            text = found.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{found}: config file not found; check the --config path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{found}: cannot read config ({exc})") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{found}: invalid TOML ({exc}); fix the syntax") from None
    try:
        return settings_from_mapping(data, env)
    except ConfigError as exc:
        from_file = found is not None and not str(exc).startswith(ENV_PREFIX)
        raise ConfigError(f"{found}: {exc}" if from_file else str(exc)) from None


def render_example() -> str:
    """The documented example config: every key with its default, unit and meaning."""
    lines = [
        "# tradetui configuration. Every key is optional; shown with its default.",
        "# Override any key from the environment: TRADETUI_<SECTION>__<KEY>=value.",
    ]
    defaults = Settings()
    for section in SECTIONS:
        obj = getattr(defaults, section)
        lines += ["", f"[{section}]"]
        for fld in dataclasses.fields(obj):
            lines.append(f"# {fld.metadata['doc']}")
            lines.append(f"{fld.name} = {_toml_value(getattr(obj, fld.name))}")
    lines += [
        "",
        "# Several markets in one session (docs/multi-market.md): one [[markets]] table per",
        "# market, each with symbol, optionally venue (usdm, coinm, spot) or a whole source,",
        "# and its own [markets.market], [markets.strategy], [markets.quoting],",
        "# [markets.risk] and [markets.paper] keys; [portfolio] limits the whole book. E.g.:",
        "# [[markets]]",
        '# symbol = "ETHUSDT"',
        "# [markets.market]",
        "# start_price = 3000.0",
        "# [[markets]]",
        '# symbol = "BTCUSD_PERP"',
        '# venue = "coinm"',
    ]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)
