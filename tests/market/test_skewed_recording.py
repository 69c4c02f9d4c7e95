"""A recording made against an exchange whose clock is off the recorder's (the sandbox's skew
fault, in every stream time): the recorder clock offset the replay estimates is that skew
(taken with the other sign: receive − exchange time), so the recorded feed latencies it leaves
are the loopback's, not the skew."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.market.test_feed_recorder import INST, recording, synthetic_server
from tradetui.market.check import check_files
from tradetui.market.replay import replay_events
from tradetui.venues.simtime import FeedLatency, clock_offset

pytestmark = pytest.mark.usefixtures("simulated_catalogs")
MS = 1_000_000
# The sandbox publishes its market every 50 ms: a message waits up to that before it leaves.
TICK_MS = 50


@pytest.mark.parametrize("skew_ms", [1500, -1500])
async def test_the_recorder_clock_offset_of_a_skewed_recording_is_the_skew(
    tmp_path: Path, skew_ms: int
) -> None:
    async with synthetic_server() as server:
        server.faults.skew_ms = skew_ms
        feed, recorder, task = await recording(server, tmp_path)
        await asyncio.sleep(1.0)
        await feed.close()
        await task
        recorder.close()

    files = recorder.writer.files
    assert check_files(files, INST)["bbo_agreement"]["agree_fraction"] == 1.0
    offset = clock_offset(replay_events(files, INST))
    assert -skew_ms * MS <= offset <= (-skew_ms + TICK_MS) * MS, offset / MS
    lags = [ev.local_ns - ev.exch_ns for ev in FeedLatency().retime(replay_events(files, INST))]
    assert lags
    assert min(lags) >= 0
    assert sorted(lags)[len(lags) // 2] < 2 * TICK_MS * MS
