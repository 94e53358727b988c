"""Health probes on the event loop: exec through the spawn path, http and tcp with asyncio.

A `Prober` runs one instance's probe while its process is live: it waits the delay
the model gives (`next_probe_in`: `start_interval` in the start period, else
`interval`), runs one probe bounded by `timeout`, and feeds the result to the
instance's driver as `ProbeFinished`; the model counts it. Nothing here blocks the
loop: `tcp` and `http` connect a bare non-blocking socket with the loop's `sock_*`
calls (a host name is resolved in the loop's executor; `asyncio.open_connection`'s
streams cost more CPU per probe: docs/performance.md, Health probes), and `exec` is
spawned by `launch` with the daemon's reaper, so the daemon, which reaps every child
as a subreaper, keeps the probe's exit status for it, and awaited with the library's
`AsyncProcess`, whose timeout ends the probe's tree.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from corral._errors import CorralError, TimedOut
from corral._lifecycle.health import (
    Health,
    HealthCheck,
    HttpTarget,
    TcpTarget,
    next_probe_in,
    parse_probe_address,
    parse_status_range,
)
from corral._lifecycle.messages import Input, ProbeFinished
from corral._process.reaper import OwningReaper
from corral._process.spawn import launch
from corral._process.spec import ProcessSpec

__all__ = ["BODY_LIMIT", "Prober", "probe_exec", "probe_http", "probe_tcp"]

log = logging.getLogger("corral.daemon")

BODY_LIMIT = 64 * 1024
"""Bytes of an http answer's body read for the `body` match."""
_HEAD_LIMIT = 16 * 1024
"""Bytes an http answer's status line and headers may take."""

Outcome = tuple[bool, str]
"""(passed, what it said or why it failed)."""


class Prober:
    """One instance's health probe, run while `start` has been called and `stop` has not."""

    __slots__ = (
        "_check",
        "_feed",
        "_health",
        "_loop",
        "_process",
        "_reaper",
        "_status",
        "_target",
        "_task",
    )

    def __init__(
        self,
        check: HealthCheck,
        *,
        process: ProcessSpec,
        reaper: OwningReaper,
        feed: Callable[[Input], object],
        health: Callable[[], Health | None],
    ) -> None:
        self._check = check
        self._target = None if check.exec is not None else _target(check)
        self._status = parse_status_range(check.status)
        self._process = process
        self._reaper = reaper
        self._feed = feed
        self._health = health
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether probes are being run."""
        return self._task is not None

    def start(self) -> None:
        """Probe from now on (the first probe after the first delay)."""
        if self._task is None:
            self._task = self._loop.create_task(self._run())

    def stop(self) -> None:
        """No more probes; a probe under way is cancelled (an exec probe's tree is ended)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    async def _run(self) -> None:
        check = self._check
        while (health := self._health()) is not None:
            await asyncio.sleep(next_probe_in(health, check, self._loop.time()))
            ok, output = await self.probe()
            self._feed(ProbeFinished(ok=ok, output=output))

    async def probe(self) -> Outcome:
        """Run the probe once, bounded by `timeout`: (passed, what it said)."""
        check = self._check
        try:
            target = self._target
            if check.exec is not None:
                return await probe_exec(self._exec_spec(check.exec), check.timeout, self._reaper)
            if isinstance(target, HttpTarget):
                return await probe_http(target, check.timeout, self._status, check.body)
            assert target is not None
            return await probe_tcp(target, check.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the per-probe boundary: a probe never takes the daemon down
            log.error("health probe failed unexpectedly", exc_info=exc)
            return False, f"internal error: {type(exc).__name__}: {exc}"

    def _exec_spec(self, argv: tuple[str, ...]) -> ProcessSpec:
        """The probe command, in the program's directory and environment, output captured."""
        process = self._process
        return ProcessSpec(
            argv=argv, cwd=process.cwd, env=process.env, env_add=process.env_add, stdin="devnull"
        )


def _target(check: HealthCheck) -> HttpTarget | TcpTarget:
    """Where an http or tcp check points, read once (the check parsed it when it was made)."""
    if check.http is not None:
        return parse_probe_address("http", check.http)
    assert check.tcp is not None
    return parse_probe_address("tcp", check.tcp)


async def probe_exec(spec: ProcessSpec, timeout: float, reaper: OwningReaper) -> Outcome:
    """Run `spec` to its exit: exit 0 passes; its output (stdout, then stderr) is the text.

    The library's async handle is imported here, at the first exec probe: a daemon
    without one never loads it (tests/control/test_daemon_imports.py).
    """
    from corral._process.async_handle import AsyncProcess
    from corral._process.options import RunOptions

    try:
        launched = launch(spec, notifier=reaper.notifier)
    except CorralError as exc:
        return False, str(exc)
    proc = AsyncProcess(launched, spec, RunOptions(timeout=timeout, check=False, grace=0))
    async with proc:
        try:
            result = await proc.wait()
        except TimedOut:  # a timeout raises even unchecked; its tree has been ended
            result = proc.result()
    said = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    if result.timed_out:
        return False, f"still running after {timeout:g} s: killed" + (f"; {said}" if said else "")
    if result.ok:
        return True, said
    how = f"exit {result.exit_code}" if result.exit_code is not None else result.signal_name
    return False, f"{how}: {said}" if said else str(how)


async def probe_tcp(target: TcpTarget, timeout: float) -> Outcome:
    """Connect to `target`: accepted within `timeout` passes (closed at once)."""
    try:
        async with asyncio.timeout(timeout):
            sock = await _connect(target.host, target.port)
    except TimeoutError:
        return False, f"not connected within {timeout:g} s"
    except OSError as exc:
        return False, _os_error(exc)
    sock.close()
    return True, f"connected to {_authority(target.host, target.port)}"


async def probe_http(
    target: HttpTarget, timeout: float, status: tuple[int, int], body: str | None
) -> Outcome:
    """One HTTP/1.1 GET of `target`: a status in `status` (and `body` in the body) passes."""
    try:
        async with asyncio.timeout(timeout):
            code, text = await _get(target, want_body=body is not None)
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"
    except OSError as exc:
        return False, _os_error(exc)
    except ValueError as exc:  # a malformed answer
        return False, str(exc)
    low, high = status
    said = f": {text}" if text else ""
    if not low <= code <= high:
        shown = f"{low}-{high}" if low != high else str(low)
        return False, f"HTTP {code}, not {shown}{said}"
    if body is not None and body not in text:
        return False, f"HTTP {code}, but the body lacks {body!r}{said}"
    return True, f"HTTP {code}{said}"


async def _connect(host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket (a bare socket: a probe needs no transport).

    An address is used as is; a name is resolved for each probe, in the loop's executor.
    """
    loop = asyncio.get_running_loop()
    family = _family(host)
    address: tuple[object, ...] = (host, port)
    if family is None:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


def _family(host: str) -> socket.AddressFamily | None:
    """AF_INET or AF_INET6 for an address, None for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _request(target: HttpTarget) -> bytes:
    """The GET request for `target`."""
    return (
        f"GET {target.path} HTTP/1.1\r\nHost: {target.authority}\r\n"
        "User-Agent: corral-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")


async def _get(target: HttpTarget, *, want_body: bool) -> tuple[int, str]:
    """(status code, body head) of a GET of `target` on a new connection."""
    loop = asyncio.get_running_loop()
    sock = await _connect(target.host, target.port)
    try:
        await loop.sock_sendall(sock, _request(target))
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > _HEAD_LIMIT:
                raise ValueError(f"the answer's headers are longer than {_HEAD_LIMIT} bytes")
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise ValueError("the connection closed before the answer's headers ended")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        code = _status_code(head)
        length = _body_length(head, want_body=want_body)
        while len(rest) < length and (chunk := await loop.sock_recv(sock, length - len(rest))):
            rest += chunk
        return code, rest[:length].decode("utf-8", "replace").strip()
    finally:
        sock.close()


def _status_code(head: bytes) -> int:
    """The code of the status line "HTTP/1.1 200 OK"."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {line[:80]!r}")
    return int(parts[1])


def _body_length(head: bytes, *, want_body: bool) -> int:
    """Bytes of the body to read: Content-Length (at most BODY_LIMIT), else, when the body
    is matched, BODY_LIMIT or to the close (asked for by `Connection: close`), else none."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return min(int(value.strip()), BODY_LIMIT)
    return BODY_LIMIT if want_body else 0


def _os_error(exc: OSError) -> str:
    """ "connection refused" rather than "[Errno 111] Connect call failed ('127.0.0.1', 1)"."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    return exc.strerror or str(exc)
