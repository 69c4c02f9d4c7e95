"""Engine throughput and decision latency on the virtual clock (prints one JSON object).

Pre-generates a synthetic BTCUSDT market, then runs the full paper stack on it — book,
estimators, Avellaneda–Stoikov, quote diff, the queue-aware matching engine and the sim
venue — with quoting active. "Events" counts what a venue emits: each level change in a book
delta, each trade and each best bid/offer (as bench figures elsewhere in the project do).

    python bench/engine_throughput.py [--seconds 600] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import time

from tradetui.config import Settings
from tradetui.core.types import BookDelta, BookSnapshot, MarketEvent
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.runner import run_virtual
from tradetui.market.synthetic import SyntheticMarket
from tradetui.session import build_paper_session, sim_instrument

T0_NS = 1_700_000_000_000_000_000


def count_events(ev: MarketEvent) -> int:
    """Level changes in a delta or snapshot; 1 for a trade or best bid/offer."""
    if isinstance(ev, BookDelta | BookSnapshot):
        return len(ev.bids) + len(ev.asks)
    return 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="market time to simulate")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    settings = Settings()
    instrument = sim_instrument(settings)
    end_ns = T0_NS + int(args.seconds * 1e9)

    t = time.perf_counter()
    events: list[MarketEvent] = []
    for ev in SyntheticMarket(instrument, seed=args.seed, start_ns=T0_NS).events():
        if ev.exch_ns > end_ns:
            break
        events.append(ev)
    gen_s = time.perf_counter() - t
    n_events = sum(count_events(ev) for ev in events)

    session = build_paper_session(
        settings,
        seed=args.seed,
        virtual=True,
        start_ns=T0_NS,
        events=iter(events),
        exchange_ordered=True,  # the synthetic market's order is the exchange's
    )
    engine = session.engine
    engine.control(Command(CommandKind.START, reason="bench"))
    gc.collect()
    t = time.perf_counter()
    run_virtual(engine, session.venue, session.clock, end_ns)  # type: ignore[arg-type]
    run_s = time.perf_counter() - t
    lat = engine.latency_percentiles_us()
    print(
        json.dumps(
            {
                "bench": "engine_throughput",
                "market_seconds": args.seconds,
                "seed": args.seed,
                "messages": len(events),
                "events": n_events,
                "generate_events_per_s": round(n_events / gen_s),
                "engine_events_per_s": round(n_events / run_s),
                "engine_messages_per_s": round(len(events) / run_s),
                "run_s": round(run_s, 3),
                "decisions_with_intents": lat["count"],
                "decision_latency_us_p50": round(lat["p50"], 1),
                "decision_latency_us_p99": round(lat["p99"], 1),
                "decision_latency_us_max": round(lat["max"], 1),
                "fills": engine.fills,
                "orders_placed": engine.orders_placed,
            }
        )
    )


if __name__ == "__main__":
    main()
