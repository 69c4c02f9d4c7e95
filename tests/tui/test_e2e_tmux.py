"""The tmux end-to-end script: the real console in a real terminal, driven by keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("e2e_tmux.sh")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_console_starts_fills_flattens_and_quits_under_tmux() -> None:
    env = dict(os.environ, PY=sys.executable)
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "e2e: quit with a flat position" in result.stdout
