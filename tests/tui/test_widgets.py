"""Pane texts worked out from plain values."""

from __future__ import annotations

from tradetui.tui.widgets.fills import fee_text
from tradetui.tui.widgets.strategy import _reservation


def test_reservation_says_which_side_of_the_mid_it_sits() -> None:
    # The model's inventory term is positive for a long position; what the reader needs is
    # where the reservation price is: 79 ticks below the mid reads as below.
    assert _reservation(618_759.0, 618_838.0, 0.1) == "61,875.9 (79.0 t below)"
    assert _reservation(618_839.0, 618_838.0, 0.1) == "61,883.9 (1.0 t above)"
    assert _reservation(618_838.0, 618_838.0, 0.1) == "61,883.8 (at mid)"


def test_fee_text_has_no_float_noise_and_keeps_the_sign() -> None:
    # Paid fees read positive without a sign, rebates negative (docs/units.md).
    assert fee_text(0.037009860000000006) == "0.03700986"
    assert fee_text(-0.0012) == "-0.0012"
    assert fee_text(0.0) == "0"
