"""The daemon and `corral -c FILE` agree on the socket; a socket path too long is a config error.

Real daemons, real CLIs: each daemon is started from a config file, and the CLI
is given only that file (no --socket, no CORRAL_SOCKET), so it finds the daemon
only if it resolves the path exactly as the daemon did.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import corral
from corral._control.client import Client
from corral._control.detach import wait_ready
from corral._platform import max_unix_socket_path
from tests.support.daemon import PYTHON, SLEEP_FOREVER, Daemon
from tests.support.waiting import DEADLINE

PROGRAM = f"[programs.sleeper]\ncommand = {SLEEP_FOREVER}\nstart_seconds = 0\n"


@contextmanager
def short_dir() -> Iterator[Path]:
    """A fresh directory under /tmp, short enough that a socket beside a file in it fits."""
    path = Path(tempfile.mkdtemp(prefix="crl", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cli_env(**extra: str) -> dict[str, str]:
    """Our environment without CORRAL_SOCKET (it would win over -c), plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name != "CORRAL_SOCKET"}
    return env | extra


def corral_cli(*args: str, env: Mapping[str, str]) -> corral.Result:
    return corral.run([PYTHON, "-m", "corral", *args], env=dict(env), check=False, timeout=120)


@contextmanager
def daemon_of(config: Path, socket: Path, env: Mapping[str, str]) -> Iterator[corral.Process]:
    """`corral daemon -c CONFIG` in `env`, once it answers; `socket` is where the test expects it.

    The block ends it with `corral -c CONFIG shutdown`; should that not reach it, the
    cleanup asks on `socket` directly and then kills it.
    """
    read, write = os.pipe()
    try:
        process = corral.start(
            [PYTHON, "-m", "corral", "daemon", "-c", str(config)],
            env={**env, "CORRAL_READY_FD": str(write)},
            pass_fds=[write],
            stdout=corral.File(str(config.with_suffix(".out"))),
            stderr="merge",
        )
    finally:
        os.close(write)
    try:
        try:
            ready = wait_ready(read, DEADLINE)
        finally:
            os.close(read)
        assert ready, config.with_suffix(".out").read_text()
        yield process
        result = corral_cli("-c", str(config), "shutdown", env=env)
        assert result.exit_code == 0, result.stderr_text
        assert process.wait(timeout=DEADLINE * 2).exit_code == 0
    finally:
        if process.running:
            with contextlib.suppress(corral.CorralError), Client(str(socket)) as client:
                client.request("POST", "/v1/shutdown")
            with contextlib.suppress(corral.CorralError):
                process.wait(timeout=DEADLINE * 2)
        process.kill()
        process.__exit__(None, None, None)


def assert_cli_reaches_it(config: Path, env: Mapping[str, str]) -> None:
    result = corral_cli("-c", str(config), "status", env=env)
    assert result.exit_code == 0, result.stderr_text
    assert result.stdout_text.splitlines()[1].split()[:2] == ["sleeper:0", "RUNNING"]


# -- one resolver for both -------------------------------------------------------------


def test_without_a_socket_key_the_cli_finds_the_daemon_beside_the_config() -> None:
    with short_dir() as where:
        config = where / "corral.toml"
        config.write_text(PROGRAM)
        socket = where / "corral.sock"
        env = cli_env()
        with daemon_of(config, socket, env):
            assert stat.S_ISSOCK(os.stat(socket).st_mode)
            assert_cli_reaches_it(config, env)
            # A relative -c, from the config's own directory, resolves the same way.
            result = corral.run(
                [PYTHON, "-m", "corral", "-c", "corral.toml", "status"],
                env=env, cwd=str(where), check=False, timeout=120,
            )  # fmt: skip
            assert result.exit_code == 0, result.stderr_text
            # -c names the daemon as surely as --socket: it wins over the environment.
            assert_cli_reaches_it(config, env | {"CORRAL_SOCKET": str(where / "other.sock")})


def test_a_home_relative_socket_is_the_same_file_for_daemon_and_cli() -> None:
    with short_dir() as home:
        (home / "etc").mkdir()
        config = home / "etc" / "corral.toml"
        config.write_text(f'[daemon]\nsocket = "~/api.sock"\n\n{PROGRAM}')
        env = cli_env(HOME=str(home))
        with daemon_of(config, home / "api.sock", env):
            assert stat.S_ISSOCK(os.stat(home / "api.sock").st_mode)
            assert not (home / "etc" / "~").exists()
            assert_cli_reaches_it(config, env)


def test_a_relative_socket_resolves_against_the_configs_directory_for_both() -> None:
    with short_dir() as where:
        (where / "etc").mkdir()
        config = where / "etc" / "corral.toml"
        config.write_text(f'[daemon]\nsocket = "../run/./api.sock"\n\n{PROGRAM}')
        env = cli_env()
        with daemon_of(config, where / "run" / "api.sock", env):
            assert stat.S_ISSOCK(os.stat(where / "run" / "api.sock").st_mode)
            assert_cli_reaches_it(config, env)


def test_the_cli_names_a_socket_key_that_is_not_a_path(tmp_path: Path) -> None:
    config = tmp_path / "corral.toml"
    config.write_text("[daemon]\nsocket = 5\n")
    result = corral_cli("-c", str(config), "status", env=cli_env())
    assert result.exit_code == 2
    assert result.stderr_text == (
        f"corral: {config}: daemon.socket: expected a path string; got 5\n"
    )


# -- a socket path too long for AF_UNIX ----------------------------------------------


def too_long_socket(where: Path) -> str:
    """An absolute socket path one byte longer than bind() takes."""
    head = f"{where}/"
    return head + "s" * (max_unix_socket_path() + 1 - len(head))


def test_the_daemon_refuses_a_socket_path_too_long_with_one_line_and_exit_2() -> None:
    with short_dir() as where:
        socket = too_long_socket(where)
        config = where / "corral.toml"
        config.write_text(f'{PROGRAM}\n[daemon]\nsocket = "{socket}"\n')
        result = corral_cli("daemon", "-c", str(config), env=cli_env())
        assert result.exit_code == 2
        limit = max_unix_socket_path()
        assert result.stderr_text == (
            f"corral: {config}:6: daemon.socket: expected a unix socket path of at most "
            f"{limit} bytes; got {limit + 1} bytes: {socket}\n"
        )
        assert not os.path.exists(socket)


def test_the_default_socket_beside_a_deep_config_is_checked_too() -> None:
    with short_dir() as where:
        deep = Path(too_long_socket(where)).parent / ("d" * 100)
        deep.mkdir(parents=True)
        config = deep / "corral.toml"
        config.write_text(PROGRAM)
        result = corral_cli("daemon", "-c", str(config), env=cli_env())
        assert result.exit_code == 2
        assert result.stderr_text.startswith(f"corral: {config}: daemon.socket: expected ")
        assert f"; got {len(str(deep / 'corral.sock'))} bytes: " in result.stderr_text
        assert "Traceback" not in result.stderr_text
        assert len(result.stderr_text.splitlines()) == 1


def test_a_reload_to_a_socket_path_too_long_is_refused_and_the_old_config_stays(
    tmp_path: Path,
) -> None:
    daemon = Daemon(tmp_path, PROGRAM)
    daemon.start()
    try:
        pid = daemon.wait_state("sleeper:0", "RUNNING")["pid"]
        long_socket = too_long_socket(Path(daemon.socket).parent)
        text = daemon.config.read_text().replace(daemon.socket, long_socket)
        daemon.config.write_text(text + "[programs.added]\ncommand = ['sleep', '300']\n")
        result = daemon.cli("reload")
        assert result.exit_code == 2
        assert result.stderr_text.startswith(f"corral: {daemon.config}:2: daemon.socket: ")
        assert f"{max_unix_socket_path() + 1} bytes" in result.stderr_text
        assert daemon.status().keys() == {"sleeper:0"}  # nothing of the new file applied
        assert daemon.status()["sleeper:0"]["pid"] == pid
        assert daemon.process is not None
        assert daemon.process.running
        assert daemon.cli("shutdown").exit_code == 0
        assert daemon.process.wait(timeout=DEADLINE * 2).exit_code == 0
    finally:
        daemon.kill()
