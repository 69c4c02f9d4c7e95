"""Drive an engine against the in-process simulated venue.

Three drivers share one step function: ``run_virtual`` (a plain loop on the virtual clock, for
backtests and tests: nothing sleeps), ``run_paced`` (asyncio, paced against the wall clock
at speed 1 or N, or unpaced at "max" while still yielding to commands and signals) and
``run_live_market`` (the wall clock, woken by a live market's feed). Commands
arrive through one asyncio queue, the engine's inbox.

While an asyncio driver runs, Python's automatic garbage collector is off and the objects
that existed when it started are frozen (``collector_off``, as ``live.LiveDriver`` does): the
generation CPython would collect is collected between events (``collect_due``), never inside
an engine's handler, where its pause would be timed as decision latency. With the console on
the same loop, Textual's garbage made a young collection of 1-10 ms start inside a handler
now and then (bench/multi_market.py --console).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tradetui.core.clock import Clock, VirtualClock
from tradetui.engine.engine import Command, CommandRefusedError, Engine
from tradetui.engine.events import EngineState
from tradetui.venues.sim import SimVenue

# Events handled between two yields to the event loop when running unpaced.
_YIELD_EVERY = 2000


def collect_due() -> int:
    """Collect the oldest generation whose count has reached its threshold (CPython's own rule
    for automatic collections); returns the generation collected, or -1 when none was due."""
    t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    if c0 < t0:
        return -1
    generation = 2 if c1 >= t1 and c2 >= t2 else 1 if c1 >= t1 else 0
    gc.collect(generation)
    return generation


_collector = {"drivers": 0, "was_enabled": False}


def collector_off() -> None:
    """Automatic collection off and today's objects frozen, while any driver runs: the
    drivers call ``collect_due`` between events instead, never inside an engine's handler."""
    if _collector["drivers"] == 0:
        _collector["was_enabled"] = gc.isenabled()
        gc.disable()
        gc.freeze()
    _collector["drivers"] += 1


def collector_back() -> None:
    _collector["drivers"] -= 1
    if _collector["drivers"] == 0:
        gc.unfreeze()
        if _collector["was_enabled"]:
            gc.enable()


def _next_time(engine: Engine, venue: SimVenue) -> int | None:
    t_w = engine.wakeup_ns
    t_ev = venue.peek_ns(t_w)
    if t_ev is None:
        return t_w
    if t_w is None or t_ev < t_w:
        return t_ev
    return t_w


def _step(engine: Engine, venue: SimVenue, t: int) -> None:
    """Handle whatever is due at ``t``: a timer first, else the next venue event."""
    w = engine.wakeup_ns
    if w is not None and w <= t:
        engine.on_timer()
        return
    ev = venue.pop()
    if ev is not None:
        engine.on_event(ev)


def run_virtual(
    engine: Engine,
    venue: SimVenue,
    clock: VirtualClock,
    until_ns: int,
    commands: Sequence[tuple[int, Command]] = (),
) -> None:
    """Run on the virtual clock until ``until_ns`` (ns), applying timed commands in order."""
    for t_cmd, cmd in sorted(commands, key=lambda tc: tc[0]):
        if t_cmd > until_ns:
            break
        # Everything due before the command happens first; what is due at its time, after it.
        venue.run(engine, clock, t_cmd - 1)
        clock.advance_to(t_cmd)
        with contextlib.suppress(CommandRefusedError):
            engine.control(cmd)
    venue.run(engine, clock, until_ns)


def settle(engine: Engine, venue: SimVenue, clock: VirtualClock, max_ns: int) -> None:
    """Keep running on the virtual clock until stop/flatten has finished or ``max_ns`` passes."""
    deadline = clock.now_ns() + max_ns
    while engine.state in (EngineState.STOPPING, EngineState.FLATTENING):
        t = _next_time(engine, venue)
        if t is None or t > deadline:
            return
        clock.advance_to(t)
        _step(engine, venue, t)


def apply_command(
    engine: Engine, cmd: Command, on_done: Callable[[Command, bool, str], None] | None
) -> None:
    """Apply one command and tell ``on_done`` (accepted, message) either way."""
    try:
        result = engine.control(cmd)
    except CommandRefusedError as exc:
        if on_done is not None:
            on_done(cmd, False, str(exc))
    else:
        if on_done is not None:
            on_done(cmd, True, result)


async def run_paced(
    engine: Engine,
    venue: SimVenue,
    clock: Clock,
    inbox: asyncio.Queue[Command],
    speed: float | None,
    done: Callable[[], bool],
    on_done: Callable[[Command, bool, str], None] | None = None,
    turn: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run until ``done()``; ``speed`` None = as fast as possible, else × wall clock.

    With speed 1 the clock should be the wall clock and event times are wall times; with any
    other speed the clock is virtual and advanced to each event's time. An unpaced run never
    sleeps, so every ``_YIELD_EVERY`` events it awaits ``turn()`` (e.g. until the store has
    caught up), or just yields once to the loop.
    """
    virtual = clock if isinstance(clock, VirtualClock) else None
    wall0 = time.time_ns()
    t0 = clock.now_ns()
    handled = 0

    def apply(cmd: Command) -> None:
        apply_command(engine, cmd, on_done)

    collector_off()
    try:
        while not done():
            collect_due()  # between events, never inside the engine's handler
            while not inbox.empty():
                apply(inbox.get_nowait())
            t = _next_time(engine, venue)
            if t is None:
                # Nothing scheduled: wait for a command.
                apply(await inbox.get())
                continue
            if speed is not None:
                due_wall = t if virtual is None else wall0 + int((t - t0) / speed)
                delay_s = (due_wall - time.time_ns()) / 1e9
                if delay_s > 0:
                    with contextlib.suppress(TimeoutError):
                        apply(await asyncio.wait_for(inbox.get(), timeout=delay_s))
                    continue
            if virtual is not None:
                virtual.advance_to(t)
            _step(engine, venue, t)
            handled += 1
            if handled % _YIELD_EVERY == 0:
                await (turn() if turn is not None else asyncio.sleep(0))
    finally:
        collector_back()


# The longest a run on a live market sleeps before looking at ``done()`` again, seconds.
_CHECK_S = 0.05


async def run_live_market(
    engine: Engine,
    venue: SimVenue,
    clock: VirtualClock,
    inbox: asyncio.Queue[Command],
    arrived: asyncio.Event,
    done: Callable[[], bool],
    on_done: Callable[[Command, bool, str], None] | None = None,
) -> None:
    """Run until ``done()`` on a live market (a SimVenue on a ``ReceivedMarket``): on the wall
    clock, every delivery, timer, receive time and request arrival handled once the wall clock
    has passed it, with ``clock`` stepped to its own time (not to when the event loop got
    round to it), so the engine and the venue see what a backtest of the recording sees. Once
    nothing is due before the wall clock, ``clock`` catches up with it and commands apply. The
    market comes when the exchange sends it, so the loop also wakes when ``arrived`` is set
    (the live market's feed got an event)."""
    getter: asyncio.Future[Command] | None = None
    taken: Command | None = None  # from the inbox while waiting, applied once caught up
    collector_off()
    try:
        while not done():
            collect_due()  # between events, never inside the engine's handler
            wall = time.time_ns()
            t = _next_time(engine, venue)
            if t is not None and t <= wall:
                clock.advance_to(t)
                _step(engine, venue, t)
                continue
            # Everything due before now is handled: what comes next has a later time.
            clock.advance_to(wall)
            if taken is not None or not inbox.empty():
                if taken is not None:
                    apply_command(engine, taken, on_done)
                    taken = None
                while not inbox.empty():
                    apply_command(engine, inbox.get_nowait(), on_done)
                continue  # a command may have set a timer or sent orders
            timeout = _CHECK_S if t is None else min(_CHECK_S, (t - wall) / 1e9)
            # Nothing can arrive between the look above and this clear: no await in between.
            arrived.clear()
            if getter is None:
                getter = asyncio.ensure_future(inbox.get())
            kicked = asyncio.ensure_future(arrived.wait())
            finished, _ = await asyncio.wait(
                (getter, kicked), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            kicked.cancel()
            if getter in finished:
                taken, getter = getter.result(), None
    finally:
        collector_back()
        if taken is not None:
            inbox.put_nowait(taken)  # as below
        if getter is not None:
            if getter.done() and not getter.cancelled():
                inbox.put_nowait(getter.result())  # taken but not applied: back for the next run
            else:
                getter.cancel()


class KickQueue(asyncio.Queue[Command]):
    """A market's inbox in a book: queuing a command also wakes the book's runner."""

    def __init__(self, kick: asyncio.Event) -> None:
        super().__init__()
        self._kick = kick

    def put_nowait(self, item: Command) -> None:
        super().put_nowait(item)
        self._kick.set()


@dataclass(slots=True)
class PacedMarket:
    """One market of a book for ``run_book_paced``: its engine, venue, inbox and the
    callback told about each applied or refused command; ``live``: its venue trades an
    exchange's live market (as in ``run_live_market``)."""

    engine: Engine
    venue: SimVenue
    inbox: asyncio.Queue[Command]
    on_done: Callable[[Command, bool, str], None] | None = None
    live: bool = False


async def run_book_paced(
    markets: Sequence[PacedMarket],
    clock: Clock,
    kick: asyncio.Event,
    speed: float | None,
    done: Callable[[], bool],
    turn: Callable[[], Awaitable[None]] | None = None,
    after: Callable[[PacedMarket, int], None] | None = None,
) -> None:
    """``run_paced`` for several markets on one clock: whatever is due first in any market
    is handled first, so no market's events wait behind another's beyond their own time.
    ``kick`` is set whenever a command is queued (the inboxes are ``KickQueue``s) and, for
    ``live`` markets (speed 1 on the wall clock only), whenever their feed brings an event;
    their orders in flight are let in when they reach the exchange and ``done()`` is looked
    at every ``_CHECK_S`` at least, as in ``run_live_market``. ``after(market, t)`` is called
    after each event handled (the portfolio check)."""
    virtual = clock if isinstance(clock, VirtualClock) else None
    live = [m for m in markets if m.live]
    if live and (virtual is not None or speed != 1.0):
        raise ValueError("a book with a live market runs at speed 1 on the wall clock")
    wall0 = time.time_ns()
    t0 = clock.now_ns()
    handled = 0
    collector_off()
    try:
        while not done():
            collect_due()  # between events, never inside an engine's handler
            kick.clear()
            for m in markets:
                while not m.inbox.empty():
                    apply_command(m.engine, m.inbox.get_nowait(), m.on_done)
            best: PacedMarket | None = None
            t: int | None = None
            for m in markets:
                tm = _next_time(m.engine, m.venue)
                if tm is not None and (t is None or tm < t):
                    best, t = m, tm
            if live:
                now = clock.now_ns()
                if best is None or t is None or t > now:
                    # Wake for the next due event, an order reaching the exchange, a feed's
                    # event or a command, or to look at done() again.
                    wake = t
                    for m in live:
                        arrival = m.venue.next_request_ns
                        if arrival is not None and (wake is None or arrival < wake):
                            wake = arrival
                    delay_s = _CHECK_S if wake is None else min(_CHECK_S, (wake - now) / 1e9)
                    if delay_s > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(kick.wait(), timeout=delay_s)
                    continue
            elif best is None or t is None:
                await kick.wait()  # nothing scheduled anywhere: wait for a command
                continue
            elif speed is not None:
                due_wall = t if virtual is None else wall0 + int((t - t0) / speed)
                delay_s = (due_wall - time.time_ns()) / 1e9
                if delay_s > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(kick.wait(), timeout=delay_s)
                    continue
            if virtual is not None:
                virtual.advance_to(t)
            _step(best.engine, best.venue, t)
            if after is not None:
                after(best, t)
            handled += 1
            if handled % _YIELD_EVERY == 0:
                await (turn() if turn is not None else asyncio.sleep(0))
    finally:
        collector_back()
