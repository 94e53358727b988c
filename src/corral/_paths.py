"""Where a config file's paths point: the one resolver for the daemon and for the CLI.

A path in a config file means the same wherever it is read: `~` expands to the
reader's home directory, a relative path joins the config file's directory, and
the result is normalised (`a/./b/../c` is `a/c`). The [daemon] table's defaults
are here too, so `corral -c FILE status` looks exactly where `corral daemon -c
FILE` listens without loading the config machinery: this module uses the
standard library only, since every CLI command imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "AUDIT_LOG_NAME",
    "DAEMON_PATH_KEYS",
    "DEFAULT_LOG_DIR",
    "DEFAULT_SOCKET",
    "STATE_FILE_NAME",
    "DaemonPaths",
    "config_dir",
    "daemon_paths",
    "resolve",
]

DEFAULT_SOCKET = "corral.sock"
"""The API socket when [daemon] sets none, beside the config file."""
DEFAULT_LOG_DIR = "logs"
"""The log directory when [daemon] sets none, beside the config file."""
STATE_FILE_NAME = "corral.state"
"""The state file when [daemon] sets none, beside the socket."""
AUDIT_LOG_NAME = "corral.audit"
"""The audit log when [daemon] sets none, beside the state file."""
DAEMON_PATH_KEYS = (
    "socket",
    "log_dir",
    "state_file",
    "audit_log",
    "http_token_file",
    "tls_cert_file",
    "tls_key_file",
)
"""The keys of [daemon] that hold paths."""


class DaemonPaths(NamedTuple):
    """Every path setting of [daemon], absolute, defaults filled in.

    A NamedTuple rather than a frozen dataclass: as immutable, and several times
    quicker to define, which every `corral -c FILE` command pays at import.
    """

    socket: str
    log_dir: str
    state_file: str
    audit_log: str
    http_token_file: str | None
    tls_cert_file: str | None
    tls_key_file: str | None


def config_dir(config_file: str) -> str:
    """The absolute directory of a config file, against which its relative paths resolve."""
    return os.path.dirname(os.path.abspath(config_file))


def resolve(base_dir: str, path: str) -> str:
    """A path from a config file in `base_dir`: `~` expanded, joined to it, normalised."""
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))


def daemon_paths(config_file: str, given: Mapping[str, str]) -> DaemonPaths:
    """The paths the daemon started with `config_file` uses, from the path keys it sets.

    `given` holds the keys of DAEMON_PATH_KEYS that the [daemon] table sets, already
    known to be strings; a key it lacks takes its default.
    """
    base = config_dir(config_file)
    socket = resolve(base, given.get("socket", DEFAULT_SOCKET))
    state = given.get("state_file")
    state_file = (
        os.path.join(os.path.dirname(socket), STATE_FILE_NAME)
        if state is None
        else resolve(base, state)
    )
    audit = given.get("audit_log")
    optional = {key: given.get(key) for key in ("http_token_file", "tls_cert_file", "tls_key_file")}
    return DaemonPaths(
        socket=socket,
        log_dir=resolve(base, given.get("log_dir", DEFAULT_LOG_DIR)),
        state_file=state_file,
        audit_log=(
            os.path.join(os.path.dirname(state_file), AUDIT_LOG_NAME)
            if audit is None
            else resolve(base, audit)
        ),
        **{key: None if path is None else resolve(base, path) for key, path in optional.items()},
    )
