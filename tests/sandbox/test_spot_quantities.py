"""The sandbox writes spot quantities as Binance does, in plain digits: a spot book counts in
1e-8 of the base asset, whose Decimal zero reads ``0E-8`` (Binance sends ``0.00000000``)."""

from __future__ import annotations

from tradetui.core.types import BookDelta
from tradetui.sandbox import formats
from tradetui.venues.sim_listing import listed_instrument


def test_a_spot_depth_update_removes_a_level_with_plain_zero_and_small_sizes() -> None:
    inst = listed_instrument("ETHUSDT", "binance")
    ev = BookDelta.of(
        exch_ns=1_000_000_000,
        local_ns=1_000_000_000,
        first_id=5,
        last_id=5,
        prev_id=4,
        bids=((268_168, 0),),
        asks=((268_169, 5),),
    )

    msg = formats.depth_update(inst, ev, 1_000)

    assert msg["b"] == [["2681.68", "0.00000000"]]
    assert msg["a"] == [["2681.69", "0.00000005"]]
