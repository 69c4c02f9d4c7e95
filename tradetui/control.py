"""Local control socket: lets `tradetui halt|stop|flatten|start|status` reach a running
headless instance.

A Unix socket (mode 0600, so only the same user can command the bot) in the user runtime
directory, one per mode. Requests and answers are one JSON object per line. Commands enter the
engine through the host's inbox like any other surface's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tradetui.core.money import dumps
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import EngineHost

_COMMANDS = {
    "start": CommandKind.START,
    "stop": CommandKind.STOP,
    "flatten": CommandKind.FLATTEN,
    "halt": CommandKind.HALT,
}
_MAX_REQUEST_BYTES = 4096


class ControlError(Exception):
    """A control-channel problem a user can fix; the message names it and the fix."""


def default_socket_path(mode: str = "paper") -> Path:
    """Where a ``mode`` instance listens unless engine.control_socket says otherwise."""
    from platformdirs import user_runtime_path

    with warnings.catch_warnings():
        # Without $XDG_RUNTIME_DIR (root in a container, cron) platformdirs warns and falls
        # back to /tmp/runtime-<uid>; that folder is fine for a 0600 socket, so say nothing.
        warnings.simplefilter("ignore", UserWarning)
        return user_runtime_path("tradetui") / f"{mode}.sock"


def socket_path(configured: str, mode: str = "paper") -> Path:
    """engine.control_socket when set, else the per-mode default."""
    return Path(configured).expanduser() if configured else default_socket_path(mode)


@contextlib.asynccontextmanager
async def control_server(host: EngineHost, path: Path) -> AsyncIterator[ControlServer]:
    """Serve the control socket for the duration of a block; the socket file is removed after."""
    server = ControlServer(host, path)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def _status(host: EngineHost) -> dict[str, Any]:
    """Position in ``size_unit`` (``position_base`` too where that is the base asset), PnL in
    ``settle_asset``."""
    e = host.engine
    inst = e.instrument
    pnl = e.pnl()
    out: dict[str, Any] = {
        "state": str(e.state),
        "halt_reason": e.halt_reason,
        "risk": e.risk_status,
        "position_size": pnl.position_size,
        "size_unit": inst.size_unit,
        "pnl_total": pnl.total,
        "settle_asset": inst.settle,
        "quote_asset": inst.quote,
        "open_orders": len(e.orders),
        "fills": e.fills,
    }
    if not inst.inverse:
        out["position_base"] = pnl.position_size
    return out


def _check_private(folder: Path) -> None:
    """Refuse a socket folder another user owns or may write in (one line, with the fix)."""
    st = folder.stat()
    if st.st_uid != os.getuid():
        raise ControlError(
            f"engine.control_socket: {folder} belongs to another user; set "
            "engine.control_socket to a path in a folder only you own"
        )
    if st.st_mode & 0o022:
        raise ControlError(
            f"engine.control_socket: others may write in {folder} (mode "
            f"{stat.S_IMODE(st.st_mode):o}) and could replace the socket; run `chmod go-w "
            f"{folder}` or set engine.control_socket to a path in a private folder"
        )


class ControlServer:
    """Serves control requests for one host until closed."""

    def __init__(self, host: EngineHost, path: Path) -> None:
        self.host = host
        self.path = path
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Listen; refuses when another live instance already owns the socket, when the
        folder is not the user's alone (another user could put their own socket there and
        answer `tradetui halt` with "halted"), or when the path cannot hold a socket. The
        socket is bound under a private name and renamed into place once it is 0600."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            _check_private(folder)
            if self.path.exists():
                if _alive(self.path):
                    raise ControlError(
                        f"another tradetui is running with control socket {self.path}; stop "
                        "it first or set engine.control_socket to another path"
                    )
                self.path.unlink()  # left behind by a crashed run
            staging = folder / f".{self.path.name}.{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            self._server = await asyncio.start_unix_server(self._serve, path=str(staging))
            os.chmod(staging, 0o600)
            os.replace(staging, self.path)
        except OSError as exc:
            raise ControlError(
                f"engine.control_socket: cannot listen on {self.path} "
                f"({exc.strerror or exc}); set it to a path in a folder you own"
            ) from None

    async def close(self) -> None:
        if self._server is None:
            return  # never listened: the path (maybe another instance's) is not ours
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(OSError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            answer = await self._answer(line)
        except (TimeoutError, ConnectionError) as exc:
            answer = {"ok": False, "message": f"bad request: {exc or type(exc).__name__}"}
        writer.write(dumps(answer).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line[:_MAX_REQUEST_BYTES])
            name = str(request["command"])
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "message": 'expected one JSON line like {"command": "status"}'}
        if name == "status":
            return {"ok": True, "message": "status", **_status(self.host)}
        kind = _COMMANDS.get(name)
        if kind is None:
            known = ", ".join(["status", *_COMMANDS])
            return {"ok": False, "message": f"unknown command {name!r}; known: {known}"}
        reason = str(request.get("reason") or f"{name} from the control socket")
        cmd = Command(kind, reason=reason, confirm=bool(request.get("confirm", False)))
        ok, message = await self.host.request(cmd)
        return {"ok": ok, "message": message, **_status(self.host)}


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def send_request(path: Path, request: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
    """Send one request to a running instance and return its answer (blocking)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(
                f"no running tradetui at {path}; start one with `tradetui run --headless` "
                "or pass --socket"
            ) from None
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        answer: dict[str, Any] = json.loads(data)
    except ValueError:
        raise ControlError(f"{path}: the running instance sent no valid answer") from None
    return answer
