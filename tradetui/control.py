"""Local control socket: lets `tradetui halt|stop|flatten|start|status` reach a running
instance (headless or console).

Every instance has a name (``paper-usdm-btcusdt`` unless --name says otherwise) and listens on
``<name>.sock``, a Unix socket (mode 0600, so only the same user can command the bot) in the
user runtime directory. Beside it, ``<name>.sock.lock`` is held (flock) for the whole run: a
second start of the same instance is refused before it opens anything, and a socket whose lock
nobody holds belongs to a dead instance. Requests and answers are one JSON object per line.
Commands enter the engine through the host's inbox like any other surface's.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import socket
import stat
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradetui.core.money import dumps
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import BookHost, EngineHost, Host

_COMMANDS = {
    "start": CommandKind.START,
    "stop": CommandKind.STOP,
    "flatten": CommandKind.FLATTEN,
    "halt": CommandKind.HALT,
}
_MAX_REQUEST_BYTES = 4096


class ControlError(Exception):
    """A control-channel problem a user can fix; the message names it and the fix."""


class NotRunningError(ControlError):
    """Nothing listens on the control socket (no such file, or its instance is gone)."""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_name(name: str) -> str:
    """``name`` when it can name an instance's files; else ControlError (one line, the fix)."""
    if not _NAME.fullmatch(name):
        raise ControlError(
            f"--name: {name!r} cannot name an instance; use {_NAME_RULE} "
            "(e.g. --name paper-usdm-btcusdt)"
        )
    return name


def default_name(mode: str, venue: str, symbol: str) -> str:
    """The instance name a run gets unless --name says otherwise: ``paper-usdm-btcusdt``
    (characters a file name should not hold, as in BTC/USDT:USDT, become '-')."""
    text = re.sub(r"[^a-z0-9._]+", "-", f"{mode}-{venue}-{symbol}".lower()).strip("-._")
    return check_name(text[:64].rstrip("-._"))


def runtime_dir() -> Path:
    """The folder of the instances' control sockets and locks."""
    from platformdirs import user_runtime_path

    with warnings.catch_warnings():
        # Without $XDG_RUNTIME_DIR (root in a container, cron) platformdirs warns and falls
        # back to /tmp/runtime-<uid>; that folder is fine for a 0600 socket, so say nothing.
        warnings.simplefilter("ignore", UserWarning)
        return user_runtime_path("tradetui")


def default_socket_path(name: str) -> Path:
    """Where instance ``name`` listens unless engine.control_socket says otherwise."""
    return runtime_dir() / f"{name}.sock"


def socket_path(configured: str, name: str) -> Path:
    """engine.control_socket when set, else instance ``name``'s socket in the runtime dir."""
    return Path(configured).expanduser() if configured else default_socket_path(name)


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _cannot_listen(path: Path, exc: OSError) -> ControlError:
    return ControlError(
        f"engine.control_socket: cannot listen on {path} ({exc.strerror or exc}); set it to a "
        "path in a folder you own"
    )


@contextlib.contextmanager
def claimed(path: Path, wait_s: float = 1.0) -> Iterator[None]:
    """Hold the instance lock of control socket ``path`` for a block. Taken before a run opens
    its database, so a refused start stores nothing; waits up to ``wait_s`` for
    `tradetui status`, which holds it for a moment while it checks a socket that answers no
    more."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _check_private(folder)
        fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise _cannot_listen(path, exc) from None
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise ControlError(
                    f"another tradetui is running as {path.stem} (control socket {path}); "
                    f"stop it first (tradetui stop --name {path.stem}) or give this run "
                    "another --name"
                )
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def control_server(host: Host, path: Path) -> AsyncIterator[ControlServer]:
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
        "symbol": inst.symbol,
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


def _book_status(book: BookHost, market: str | None) -> dict[str, Any]:
    """A book's status: every market's row (``_status``) under ``markets`` (only the one(s)
    ``market`` names, when given), the markets' symbols and the book's state, and the
    portfolio figures with the limit that halted it, if any."""
    from tradetui.host import _book_state

    rows = [_status(h) for h in book.markets(market)]
    breach = book.portfolio_halt
    last = book.guard.last
    return {
        "symbol": ",".join(r["symbol"] for r in rows),
        "state": _book_state([r["state"] for r in rows]) if rows else "unknown",
        "halt_reason": breach.reason if breach else "",
        "open_orders": sum(r["open_orders"] for r in rows),
        "fills": sum(r["fills"] for r in rows),
        "markets": rows,
        "portfolio": last.to_dict() if last is not None else {},
    }


def _market_known(host: Host, market: str | None) -> str | None:
    """None when ``market`` (SYMBOL or VENUE:SYMBOL; None: all) is traded here, else why not."""
    if market is None:
        return None
    hosts = host.markets(market) if isinstance(host, BookHost) else [host]
    symbols = [h.engine.instrument.symbol for h in hosts]
    if isinstance(host, BookHost) and hosts:
        return None
    if not isinstance(host, BookHost) and market.rpartition(":")[2].upper() == symbols[0].upper():
        return None
    here = (
        ", ".join(h.engine.instrument.symbol for h in host.hosts)
        if isinstance(host, BookHost)
        else symbols[0]
    )
    return f"no market {market!r} in this instance; it trades {here}"


def _any_status(host: Host, market: str | None) -> dict[str, Any]:
    return _book_status(host, market) if isinstance(host, BookHost) else _status(host)


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


# sun_path of a Unix socket address holds 108 bytes on Linux, the final NUL included.
_SOCKET_PATH_MAX = 107


def _staging(path: Path) -> Path:
    """The private name a socket is bound under before it is renamed to ``path``."""
    return path.parent / f".{path.name}.{os.getpid()}"


def check_socket_path(path: Path) -> None:
    """Refuse a socket path the OS cannot bind (AF_UNIX), naming its length and the limit."""
    extra = len(os.fsencode(_staging(path))) - len(os.fsencode(path))
    n = len(os.fsencode(path))
    if n + extra > _SOCKET_PATH_MAX:
        raise ControlError(
            f"engine.control_socket: {path} is {n} bytes long; a Unix socket path holds at most "
            f"{_SOCKET_PATH_MAX} and tradetui first binds it under a name {extra} bytes longer: "
            f"use a path of at most {_SOCKET_PATH_MAX - extra} bytes"
        )


class ControlServer:
    """Serves control requests for one host until closed."""

    def __init__(self, host: Host, path: Path) -> None:
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
            check_socket_path(self.path)
            staging = _staging(self.path)
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()
            self._server = await asyncio.start_unix_server(self._serve, path=str(staging))
            os.chmod(staging, 0o600)
            os.replace(staging, self.path)
        except OSError as exc:
            raise _cannot_listen(self.path, exc) from None

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
        market = request.get("symbol")
        market = str(market) if market else None
        unknown = _market_known(self.host, market)
        if unknown is not None:
            return {"ok": False, "message": unknown}
        if name == "status":
            return {"ok": True, "message": "status", **_any_status(self.host, market)}
        kind = _COMMANDS.get(name)
        if kind is None:
            known = ", ".join(["status", *_COMMANDS])
            return {"ok": False, "message": f"unknown command {name!r}; known: {known}"}
        reason = str(request.get("reason") or f"{name} from the control socket")
        cmd = Command(kind, reason=reason, confirm=bool(request.get("confirm", False)))
        host = self.host
        if isinstance(host, BookHost):
            ok, message = await host.request(cmd, market=market)
        else:
            ok, message = await host.request(cmd)
        return {"ok": ok, "message": message, **_any_status(host, market)}


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
            raise NotRunningError(
                f"no running tradetui at {path}; start one with `tradetui run --headless` "
                "or see `tradetui status` for the running instances"
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


@dataclass(frozen=True, slots=True)
class Instance:
    """A control socket found in the runtime folder and what it answered to ``status``
    (``answer`` None: its process holds the lock but does not answer; ``problem`` says why)."""

    name: str
    path: Path
    answer: dict[str, Any] | None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Found:
    """The instances found, and the sockets of dead ones removed on the way."""

    instances: list[Instance]
    removed: list[Path]


def _remove_if_dead(path: Path) -> bool:
    """Remove ``path`` when no process holds its instance lock (a run holds it from before it
    listens until after the socket is gone, so none is starting or stopping meanwhile)."""
    try:
        fd = os.open(_lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        if not _try_lock(fd):
            return False
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return True
    finally:
        os.close(fd)


def find_instances(folder: Path | None = None) -> Found:
    """Every instance listening in the runtime folder (or ``folder``), asked for its status;
    the sockets of instances that are gone are removed, not listed."""
    root = folder or runtime_dir()
    if root.is_dir():
        _check_private(root)
    instances: list[Instance] = []
    removed: list[Path] = []
    for path in sorted(root.glob("*.sock")) if root.is_dir() else []:
        try:
            answer = send_request(path, {"command": "status"}, timeout_s=5.0)
        except NotRunningError:  # nothing listens: a run that crashed or was killed, or just ended
            if not path.exists():
                continue
            if _remove_if_dead(path):
                removed.append(path)
            else:
                why = "its process runs but does not listen on the socket"
                instances.append(Instance(path.stem, path, None, why))
            continue
        except ControlError as exc:
            instances.append(Instance(path.stem, path, None, str(exc)))
            continue
        except OSError as exc:
            why = f"no answer ({exc.strerror or type(exc).__name__})"
            instances.append(Instance(path.stem, path, None, why))
            continue
        instances.append(Instance(path.stem, path, answer))
    return Found(instances, removed)
