"""`corral top` as a command: what it does when there is nothing to watch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.control.top.conftest import repo_root


def test_corral_top_without_a_daemon_says_so_and_exits_3(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "corral", "--socket", str(tmp_path / "none.sock"), "top"]
    env = dict(os.environ, PYTHONPATH=str(repo_root() / "src"))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 3
    assert "none.sock" in done.stderr
    assert "Traceback" not in done.stderr
