"""The CLI starts for every command, so `corral status` imports only what it needs."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

import corral
from tests.support.imports import imported_modules

ALLOWED_PREFIXES = ("corral._control.cli", "corral._control.client", "corral._control.wire")
ALLOWED = {
    "corral",
    "corral.__main__",
    "corral._control",
    "corral._errors",
    "corral._paths",
    "corral._version",
    "corral._lazy",  # the façade's lazy exports: importlib only
    "corral._supervisor",
    "corral._supervisor.view",  # the read model the status reply decodes into: stdlib only
    "corral._control.text",  # durations and sizes as the tables show them: no imports
}


@pytest.mark.parametrize("where", ["--socket", "-c"])
def test_status_imports_only_the_cli_the_client_the_wire_and_the_errors(
    tmp_path: Path, where: str
) -> None:
    """With -c too: the CLI reads [daemon] socket with tomllib and corral._paths, no more."""
    config = tmp_path / "corral.toml"
    config.write_text("[daemon]\nsocket = 'absent.sock'\n[programs.x]\ncommand = 'true'\n")
    given = str(tmp_path / "absent.sock") if where == "--socket" else str(config)
    result = corral.run(
        [sys.executable, "-X", "importtime", "-m", "corral", "status", where, given],
        env={k: v for k, v in os.environ.items() if k != "CORRAL_SOCKET"},
        check=False,
    )
    assert result.exit_code == 3, result.stderr_text  # no daemon; the imports happened anyway
    assert str(tmp_path / "absent.sock") in result.stderr_text
    imported = imported_modules(result.stderr_text)
    ours = {name for name in imported if name == "corral" or name.startswith("corral.")}
    assert "corral._control.cli.main" in ours
    extra = {n for n in ours if n not in ALLOWED and not n.startswith(ALLOWED_PREFIXES)}
    assert extra == set()
    assert "asyncio" not in imported
    assert "msgspec" not in imported  # corral.ipc's codec: only corral.ipc imports it


def test_every_allowed_module_exists() -> None:
    missing = [name for name in (*ALLOWED, *ALLOWED_PREFIXES) if not importlib.util.find_spec(name)]
    assert missing == [], "the allowed set names modules that do not exist"
