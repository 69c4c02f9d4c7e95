"""The control socket: halt/flatten/stop/status reach a running host through its inbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tradetui.config import Settings
from tradetui.control import ControlError, ControlServer, send_request
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.host import EngineHost
from tradetui.session import build_paper_session


async def _host_with_server(tmp_path: Path) -> tuple[EngineHost, ControlServer]:
    session = build_paper_session(Settings(), seed=2, virtual=True)
    host = EngineHost(session, speed=20.0)
    server = ControlServer(host, tmp_path / "ctl.sock")
    await server.start()
    return host, server


async def _ask(path: Path, request: dict[str, object]) -> dict[str, object]:
    return await asyncio.to_thread(send_request, path, request)


async def test_status_and_halt_through_the_socket(tmp_path: Path) -> None:
    host, server = await _host_with_server(tmp_path)
    host.engine.control(Command(CommandKind.START))
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop.is_set))
    try:
        await asyncio.sleep(0.3)
        status = await _ask(server.path, {"command": "status"})
        assert status["ok"] is True
        assert status["state"] == "running"
        answer = await _ask(server.path, {"command": "halt", "reason": "test kill"})
        assert answer["ok"] is True
        for _ in range(100):
            if host.engine.state is EngineState.HALTED:
                break
            await asyncio.sleep(0.05)
        assert host.engine.state is EngineState.HALTED
        assert host.engine.halt_reason == "test kill"
        assert host.engine.ledger.position_lots == 0 or not host.engine.orders
        refused = await _ask(server.path, {"command": "start"})
        assert refused["ok"] is False
        assert "confirm" in str(refused["message"])
    finally:
        stop.set()
        await task
        await server.close()
    assert not server.path.exists()


async def test_unknown_command_and_garbage_are_answered(tmp_path: Path) -> None:
    _host, server = await _host_with_server(tmp_path)
    try:
        bad = await _ask(server.path, {"command": "explode"})
        assert bad["ok"] is False
        assert "unknown command" in str(bad["message"])
        missing = await _ask(server.path, {"nothing": 1})
        assert missing["ok"] is False
    finally:
        await server.close()


async def test_second_instance_on_same_socket_is_refused(tmp_path: Path) -> None:
    host, server = await _host_with_server(tmp_path)
    try:
        other = ControlServer(host, server.path)
        with pytest.raises(ControlError, match="another tradetui is running"):
            await other.start()
    finally:
        await server.close()


async def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ctl.sock"
    path.write_text("left over")
    session = build_paper_session(Settings(), seed=2, virtual=True)
    server = ControlServer(EngineHost(session, speed=None), path)
    await server.start()
    try:
        assert path.is_socket()
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        await server.close()


def test_client_without_server_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no running tradetui"):
        send_request(tmp_path / "none.sock", {"command": "status"})


async def test_a_folder_others_may_write_in_is_refused(tmp_path: Path) -> None:
    # Another local user could replace the socket there and answer `halt` with "halted".
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    session = build_paper_session(Settings(), seed=2, virtual=True)
    server = ControlServer(EngineHost(session, speed=None), shared / "ctl.sock")
    with pytest.raises(ControlError) as info:
        await server.start()
    assert str(info.value) == (
        f"engine.control_socket: others may write in {shared} (mode 777) and could replace "
        f"the socket; run `chmod go-w {shared}` or set engine.control_socket to a path in a "
        "private folder"
    )
    assert list(shared.iterdir()) == []
    await server.close()  # never listened: nothing to remove, no error


async def test_the_socket_appears_only_when_it_is_private(tmp_path: Path) -> None:
    _host, server = await _host_with_server(tmp_path)
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ctl.sock"]  # no staging name
        assert server.path.stat().st_mode & 0o777 == 0o600
        answer = await _ask(server.path, {"command": "status"})
        assert answer["ok"] is True
    finally:
        await server.close()
    assert not server.path.exists()
