"""``tradetui sandbox exchange`` in a process of its own, for benches and CLI tests.

A sandbox in its own process does not share the caller's event loop, so what is measured or
tested against it is the client's work alone.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

_URL = re.compile(r"http://127\.0\.0\.1:\d+")


async def spawn_sandbox(*flags: str, stderr: int | None = None) -> asyncio.subprocess.Process:
    """Start ``tradetui sandbox exchange --port 0 FLAGS`` (a free port; its banner on stdout)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradetui",
        "sandbox",
        "exchange",
        "--port",
        "0",
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def sandbox_url(proc: asyncio.subprocess.Process, timeout_s: float = 30.0) -> str:
    """The REST base URL from the sandbox's banner; RuntimeError when it did not start."""
    assert proc.stdout is not None
    banner = (await asyncio.wait_for(proc.stdout.readline(), timeout_s)).decode()
    found = _URL.search(banner)
    if found is None:
        raise RuntimeError(f"sandbox did not start: {banner!r}")
    return found.group(0)
