"""Shell completion: `corral completion bash` is sourced by a real bash, whose completion
function then offers commands, a command's options, and the names of a running daemon's
programs and instances (from `corral complete-names`). zsh and fish get their scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.daemon import SLEEP_FOREVER, running_daemon


def _complete(words: list[str], env: dict[str, str] | None = None) -> list[str]:
    """What bash's completion function offers for `words` (the last one being typed)."""
    script = subprocess.run(
        [sys.executable, "-m", "corral", "completion", "bash"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    shim = Path(sys.executable).parent  # `corral` on PATH, as an installed one would be
    run = (
        f"{script}\nCOMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
        '_corral; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    environment = dict(env or os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "--norc", "-c", run], capture_output=True, text=True, check=True, env=environment
    )
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_and_options() -> None:
    assert _complete(["corral", "sta"]) == ["status", "start", "startup"]
    assert "--rolling" in _complete(["corral", "restart", "--r"])
    assert _complete(["corral", "logs", "--fo"]) == ["--follow"]


def test_bash_completes_the_names_a_running_daemon_has(tmp_path: Path) -> None:
    programs = f"""
        [programs.web]
        command = {SLEEP_FOREVER}
        numprocs = 2

        [programs.worker]
        command = {SLEEP_FOREVER}
    """
    with running_daemon(tmp_path, programs) as daemon:
        env = dict(os.environ, CORRAL_SOCKET=daemon.socket)
        names = _complete(["corral", "stop", "w"], env)
        none = _complete(["corral", "stop", "w"], dict(env, CORRAL_SOCKET=str(tmp_path / "no")))
    assert names == ["web", "web:0", "web:1", "worker", "worker:0"]
    assert none == []  # no daemon: nothing offered, nothing printed


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_are_accepted_by_their_shell(shell: str, tmp_path: Path) -> None:
    script = subprocess.run(
        [sys.executable, "-m", "corral", "completion", shell],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "corral complete-names" in script
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed: its script was made but not loaded")
    path = tmp_path / f"corral.{shell}"
    path.write_text(script)
    check = [binary, "-n", str(path)] if shell == "fish" else [binary, "-c", f"source {path}"]
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
