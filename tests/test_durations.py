"""Durations on the command line: 90s, 15m, 2h, 1d, or a bare number of seconds (as `run
--duration 30`); anything else is not one."""

from __future__ import annotations

import pytest

from tradetui.commands.common import duration_s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0), ("10", 10.0), (" 2.5 ", 2.5)],
)
def test_a_duration_reads_in_seconds(text: str, seconds: float) -> None:
    assert duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "-5", "1.2.3", "5w", "ten", "1e3"])
def test_what_is_no_duration_is_none(text: str) -> None:
    assert duration_s(text) is None
