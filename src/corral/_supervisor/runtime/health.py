"""Health probes on the event loop: exec through the spawn path, http and tcp with asyncio.

A `Prober` runs one instance's probe while its process is live: it waits the delay
the model gives (`next_probe_in`: `start_interval` in the start period, else
`interval`), runs one probe bounded by `timeout`, and feeds the result to the
instance's driver as `ProbeFinished`; the model counts it. Nothing here blocks the
loop: `tcp` and `http` use `asyncio.open_connection` (a host name is resolved in the
loop's executor), and `exec` is spawned by `launch` with the daemon's reaper, so the
daemon, which reaps every child as a subreaper, keeps the probe's exit status for it,
and awaited with the library's `AsyncProcess`, whose timeout ends the probe's tree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from corral._errors import CorralError
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
from corral._process.async_handle import AsyncProcess
from corral._process.options import RunOptions
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

    __slots__ = ("_check", "_feed", "_health", "_loop", "_process", "_reaper", "_task")

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
            if check.exec is not None:
                return await probe_exec(self._exec_spec(check.exec), check.timeout, self._reaper)
            if check.http is not None:
                return await probe_http(check.http, check.timeout, check.status, check.body)
            assert check.tcp is not None
            return await probe_tcp(check.tcp, check.timeout)
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


async def probe_exec(spec: ProcessSpec, timeout: float, reaper: OwningReaper) -> Outcome:
    """Run `spec` to its exit: exit 0 passes; its output (stdout, then stderr) is the text."""
    try:
        launched = launch(spec, notifier=reaper.notifier)
    except CorralError as exc:
        return False, str(exc)
    proc = AsyncProcess(launched, spec, RunOptions(timeout=timeout, check=False, grace=0))
    async with proc:
        result = await proc.wait()
    said = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    if result.timed_out:
        return False, f"still running after {timeout:g} s: killed" + (f"; {said}" if said else "")
    if result.ok:
        return True, said
    how = f"exit {result.exit_code}" if result.exit_code is not None else result.signal_name
    return False, f"{how}: {said}" if said else str(how)


async def probe_tcp(address: str, timeout: float) -> Outcome:
    """Connect to `address`: accepted within `timeout` passes (closed at once)."""
    target = parse_probe_address("tcp", address)
    assert isinstance(target, TcpTarget)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(target.host, target.port)
    except TimeoutError:
        return False, f"not connected within {timeout:g} s"
    except OSError as exc:
        return False, _os_error(exc)
    writer.close()
    return True, f"connected to {address}"


async def probe_http(url: str, timeout: float, status: str, body: str | None) -> Outcome:
    """One HTTP/1.1 GET of `url`: a status in `status` (and `body` in the body) passes."""
    target = parse_probe_address("http", url)
    assert isinstance(target, HttpTarget)
    try:
        async with asyncio.timeout(timeout):
            code, text = await _get(target, want_body=body is not None)
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"
    except OSError as exc:
        return False, _os_error(exc)
    except ValueError as exc:  # a malformed answer
        return False, str(exc)
    low, high = parse_status_range(status)
    said = f": {text}" if text else ""
    if not low <= code <= high:
        return False, f"HTTP {code}, not {status}{said}"
    if body is not None and body not in text:
        return False, f"HTTP {code}, but the body lacks {body!r}{said}"
    return True, f"HTTP {code}{said}"


async def _get(target: HttpTarget, *, want_body: bool) -> tuple[int, str]:
    """(status code, body head) of a GET of `target` on a new connection."""
    reader, writer = await asyncio.open_connection(target.host, target.port, limit=_HEAD_LIMIT)
    try:
        request = (
            f"GET {target.path} HTTP/1.1\r\nHost: {target.authority}\r\n"
            "User-Agent: corral-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("ascii", "replace"))
        await writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise ValueError("the connection closed before the answer's headers ended") from None
        except asyncio.LimitOverrunError:
            raise ValueError(f"the answer's headers are longer than {_HEAD_LIMIT} bytes") from None
        return _status_code(head), await _body(reader, head, want_body=want_body)
    finally:
        writer.close()


def _status_code(head: bytes) -> int:
    """The code of the status line "HTTP/1.1 200 OK"."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {line[:80]!r}")
    return int(parts[1])


async def _body(reader: asyncio.StreamReader, head: bytes, *, want_body: bool) -> str:
    """Up to BODY_LIMIT bytes of the body: Content-Length of them, else, when the body is
    matched, to the close (asked for by `Connection: close`); else none."""
    length = BODY_LIMIT if want_body else 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = min(int(value.strip()), BODY_LIMIT)
    data = b""
    while len(data) < length and (chunk := await reader.read(length - len(data))):
        data += chunk
    return data.decode("utf-8", "replace").strip()


def _os_error(exc: OSError) -> str:
    """ "connection refused" rather than "[Errno 111] Connect call failed ('127.0.0.1', 1)"."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    return exc.strerror or str(exc)
