"""What every CLI command gets: where the daemon is, and how to print."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral._errors import ApiError, DaemonUnavailable, InvalidSpec

if TYPE_CHECKING:
    from corral._control.client import Client
    from corral._paths import DaemonPaths

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_DAEMON = 3


class Fail(Exception):
    """A command failed: print `message` on stderr and exit with `code`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Context:
    """The global options of a command line."""

    socket: str | None
    config: str | None
    json: bool
    tcp: str | None = None
    """--tcp HOST:PORT: the daemon's TCP listener instead of its socket."""
    token_file: str | None = None
    tls_ca: str | None = None

    def socket_path(self) -> str:
        """The API socket: --socket, else where --config makes the daemon listen.

        main() sets `socket` from $CORRAL_SOCKET only when no --config is given.
        """
        if self.socket:
            return self.socket
        if self.config:
            return _paths_from_config(self.config, ("socket",)).socket
        raise Fail(
            "no daemon socket given: pass --socket PATH, set CORRAL_SOCKET, or pass -c CONFIG",
            EXIT_USAGE,
        )

    def call(
        self,
        method: str,
        path: str,
        body: object | None = None,
        query: dict[str, str] | None = None,
        timeout: float | None = 30.0,
    ) -> object:
        """One API request; daemon and API errors become `Fail` with the right exit code."""
        try:
            with self.client(timeout) as client:
                return client.request(method, path, body=body, query=query)
        except DaemonUnavailable as exc:
            raise Fail(str(exc), EXIT_NO_DAEMON) from exc
        except ApiError as exc:
            code = EXIT_USAGE if exc.status in (400, 404) else EXIT_FAILED
            raise Fail(exc.message, code) from exc

    def client(self, timeout: float | None) -> Client:
        """A client of the daemon: on --tcp (with --token-file, --tls-ca), else its socket.

        The client is imported here, not with the CLI: `corral daemon` never makes one.
        """
        from corral._control.client import Client

        if self.tcp is None:
            if self.token_file or self.tls_ca:
                raise Fail("--token-file and --tls-ca need --tcp HOST:PORT", EXIT_USAGE)
            return Client(self.socket_path(), timeout=timeout)
        host, _, port = self.tcp.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise Fail(f"--tcp {self.tcp!r}: expected HOST:PORT, e.g. 127.0.0.1:9180", EXIT_USAGE)
        token = None if self.token_file is None else _read_token(self.token_file)
        try:
            return Client(tcp=(host, int(port)), token=token, tls_ca=self.tls_ca, timeout=timeout)
        except InvalidSpec as exc:
            raise Fail(str(exc), EXIT_USAGE) from exc

    def emit_json(self, data: object) -> None:
        """Print machine output."""
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")

    def config_paths(self, keys: tuple[str, ...]) -> DaemonPaths:
        """The daemon's paths from --config, of which `keys` are checked; usage error without it."""
        if not self.config:
            raise Fail("this command needs -c CONFIG", EXIT_USAGE)
        return _paths_from_config(self.config, keys)


def _read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read(4097).strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise Fail(f"cannot read the token file {path}: {reason}", EXIT_USAGE) from exc


def _paths_from_config(path: str, keys: tuple[str, ...]) -> DaemonPaths:
    """The paths of the daemon started with this config: its [daemon] keys or the defaults.

    Only the [daemon] table is read (the CLI does not load the whole config), and
    the paths go through the daemon's own resolver and defaults, corral._paths; the
    `keys` the caller uses must be path strings. Both are imported here, so a command
    given --socket does not pay for them.
    """
    import tomllib

    from corral._paths import daemon_paths

    file = os.path.abspath(path)
    try:
        with open(file, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise Fail(f"cannot read {file}: {exc}", EXIT_USAGE) from exc
    table = data.get("daemon", {})
    if not isinstance(table, dict):
        raise Fail(f"{file}: daemon: expected a table; got {table!r}", EXIT_USAGE)
    given: dict[str, str] = {}
    for key in keys:
        value = table.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value or "\0" in value:
            raise Fail(f"{file}: daemon.{key}: expected a path string; got {value!r}", EXIT_USAGE)
        given[key] = value
    return daemon_paths(file, given)
