"""The exit code of a session from its summary (README, "Exit codes")."""

from __future__ import annotations

from tradetui.commands.common import (
    EXIT_HALTED,
    EXIT_STORE_FAILED,
    EXIT_UNCONFIRMED,
    session_exit_code,
)


def test_an_unconfirmed_hurried_stop_outranks_every_other_ending() -> None:
    unconfirmed = {"unconfirmed": ["order(s) of ours still open at the exchange: tt1-2"]}
    assert session_exit_code({"state": "halted", "store_failed": "disk full"} | unconfirmed) == (
        EXIT_UNCONFIRMED
    )
    assert session_exit_code({"state": "halted", "store_failed": "disk full"}) == EXIT_STORE_FAILED
    assert session_exit_code({"state": "halted", "unconfirmed": []}) == EXIT_HALTED
    assert session_exit_code({"state": "stopped", "hurried": True, "unconfirmed": []}) == 0
