"""load_config reads a file: unreadable files and bad bytes are ConfigErrors like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral._errors import ConfigError
from corral._supervisor.config.load import load_config
from tests.supervisor.config.parsing import toml


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_loads_with_paths_resolved_beside_it(tmp_path: Path) -> None:
    file = write(
        tmp_path / "corral.toml",
        toml("[daemon]", 'log_dir = "logs"', "[programs.web]", "command = 'sleep 1'"),
    )
    config = load_config(file)
    assert config.path == str(file)
    assert config.daemon.log_dir == str(tmp_path / "logs")
    assert config.daemon.socket == str(tmp_path / "corral.sock")
    assert [program.name for program in config.programs] == ["web"]


def test_a_relative_config_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "corral.toml", "")
    monkeypatch.chdir(tmp_path)
    assert load_config("corral.toml").path == str(tmp_path / "corral.toml")


def test_a_missing_file_names_the_file_and_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(missing), None, None)
    assert error.expected == "a readable config file"
    assert str(error) == (
        f"{missing}: expected a readable config file; got No such file or directory [ENOENT]"
    )


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert (caught.value.file, caught.value.line) == (str(tmp_path), None)
    assert caught.value.got == "Is a directory [EISDIR]"


def test_bytes_that_are_not_utf8_are_reported_at_their_line(tmp_path: Path) -> None:
    file = tmp_path / "corral.toml"
    file.write_bytes(b"[programs.web]\ncommand = '\xff'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    error = caught.value
    assert (error.file, error.line, error.key) == (str(file), 2, None)
    assert (error.expected, error.got) == ("UTF-8 text", "the byte 0xff")


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "corral.toml"
    file.write_bytes(b"\xef\xbb\xbf[programs.web]\ncommand = 'true'\n")
    assert load_config(file).programs[0].name == "web"


def test_errors_in_a_file_name_that_file(tmp_path: Path) -> None:
    file = write(tmp_path / "corral.toml", toml("[programs.web]", "numprocs = 0", "command = 'x'"))
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert str(caught.value) == f"{file}:2: programs.web.numprocs: expected an integer >= 1; got 0"
