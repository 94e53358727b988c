"""Composition root: config -> supervisor -> API server -> event loop, until shutdown.

`run_daemon` is what `corral daemon -c FILE` calls. It refuses to start on a bad
config (the error names file, line and key), becomes a child subreaper, serves
the API on the config's unix socket (mode 0600) and, when configured, on TCP
(bearer tokens, optional TLS), records mutating calls in the audit log (docs/security.md),
ends what a daemon that died
left running (its state file says what), keeps its own state file current,
starts the autostart programs in priority order and, on SIGTERM, SIGINT, SIGQUIT
or `corral shutdown`, stops every program (reverse priority), closes the logs and
removes the socket and the state file. SIGHUP reloads, SIGUSR1/2 reopen the logs,
and no other signal can end it (daemon_signals.py has the table).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

from corral._control.daemon_signals import SignalReactions, install_signals
from corral._control.server.api import build_router
from corral._control.server.auditing import audit_observer
from corral._control.server.http import HttpServer
from corral._control.service_manager import ServiceManager
from corral._errors import ConfigError, CorralError, UnsafeDirectory
from corral._observe.audit import AuditLog, AuditRefused
from corral._observe.events import Event, EventLog
from corral._observe.logs.directory import DIRECTORY_MODE
from corral._platform import become_subreaper, close_on_exec_inherited, ensure_directory
from corral._platform.posix.rlimits import raise_nofile_to_hard
from corral._process.reaper import OwningReaper
from corral._supervisor.config.kinds import split_address
from corral._supervisor.config.load import Config, load_config
from corral._supervisor.config.settings import DaemonSettings
from corral._supervisor.operations import Operations
from corral._supervisor.runtime.alerts import AlertRunner
from corral._supervisor.runtime.checkpoint import Checkpoint, CorruptState, DaemonRecord
from corral._supervisor.runtime.checkpoint import read as read_state
from corral._supervisor.runtime.keeper import KeeperHandover, adopt_held
from corral._supervisor.runtime.leftovers import end_previous, previous_daemon
from corral._supervisor.runtime.metrics import MetricsLoop
from corral._supervisor.runtime.notify import notify_directory
from corral._supervisor.runtime.sockets import HeldSockets
from corral._supervisor.runtime.supervisor import Supervisor, log_group_id

if TYPE_CHECKING:
    import ssl

    from corral._control.server.http.auth import Gate, Tokens
    from corral._control.server.supervisord.listeners import Listeners

READY_FD_VARIABLE = "CORRAL_READY_FD"
"""When set, the daemon writes b"ready\\n" to this fd once its API answers."""

EVENT_RING = 10_000
"""Events kept for `GET /v1/events`: about 0.4 KiB each (docs/performance.md)."""

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_FAILED = 1


def run_daemon(config_path: str, *, out: TextIO = sys.stdout) -> int:
    """Run the daemon in the foreground until shutdown; returns the exit code."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"corral: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        _prepare_directories(config)
    except UnsafeDirectory as exc:
        print(f"corral: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"corral: cannot create {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    # An address in use is the config's error, found before anything starts; unless a
    # crashed daemon's programs still hold the sockets: they are bound once those are ended.
    bind_late = _left_running(config.daemon.state_file)
    sockets = HeldSockets()
    try:
        if not bind_late:
            sockets.open(config)
    except ConfigError as exc:
        print(f"corral: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=logging.WARNING, format="corral: %(levelname)s %(message)s")
    try:
        tls = _tls_context(config.daemon)  # before the loop: loading OpenSSL takes a while
        asyncio.run(_serve(config, out, tls, sockets, bind_late=bind_late))
    except ConfigError as exc:  # a socket still in use after the leftovers were ended
        print(f"corral: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except CorralError as exc:
        print(f"corral: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        sockets.close()  # the shutdown closed them already, unless the daemon failed first
    return EXIT_OK


def _prepare_directories(config: Config) -> None:
    """Create the socket, state, audit and log directories if missing; refuse any others
    could swap.

    Made here: socket, state and audit directories 0700 (and the notify socket directory in
    the socket directory), the log directory 0750
    (docs/daemon.md, "Files and directories").
    """
    daemon = config.daemon
    ensure_directory(os.path.dirname(daemon.socket), 0o700, what="socket directory")
    notify = notify_directory(daemon.socket)  # made always: a reload may add a notify program
    ensure_directory(notify, 0o700, what="notify socket directory")
    ensure_directory(os.path.dirname(daemon.state_file), 0o700, what="state file directory")
    ensure_directory(os.path.dirname(daemon.audit_log), 0o700, what="audit log directory")
    group = log_group_id(daemon)
    ensure_directory(daemon.log_dir, DIRECTORY_MODE, what="log directory", group=group)


def _tls_context(settings: DaemonSettings) -> ssl.SSLContext | None:
    """The TCP listener's TLS context when the config sets one; imports `ssl` only then."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    from corral._control.server.http.tls import server_context

    return server_context(settings.tls_cert_file, settings.tls_key_file)


def _left_running(state_file: str) -> bool:
    """Whether a state file names trees a daemon left running (it died without a clean stop)."""
    try:
        record = read_state(state_file)
    except CorruptState:
        return False  # previous_daemon warns about it; nothing is ended on its word
    return record is not None and not record.clean and bool(record.trees)


async def _serve(
    config: Config,
    out: TextIO,
    tls: ssl.SSLContext | None,
    sockets: HeldSockets,
    *,
    bind_late: bool,
) -> None:
    loop = asyncio.get_running_loop()
    close_on_exec_inherited()  # nothing our launcher leaked reaches the programs
    become_subreaper()
    raise_nofile_to_hard()  # our programs still start at the soft limit we were given
    events = EventLog(capacity=EVENT_RING)
    events.subscribe(_printer(out))
    service = ServiceManager(on_error=_warn_text(events))  # systemd Type=notify, if it asked
    try:
        audit = AuditLog(config.daemon.audit_log, on_error=_audit_failed(events))
    except AuditRefused as exc:
        raise CorralError(str(exc)) from None
    reaper = OwningReaper()
    reaper.install(loop)
    supervisor = Supervisor(
        config,
        events=events,
        reaper=reaper,
        sockets=sockets,
        keeper=KeeperHandover.from_environment(events),  # inert unless a keeper spawned us
    )
    previous = previous_daemon(config.daemon.state_file, events)  # refuses if it still runs
    stopping = asyncio.Event()
    metrics, alerts = _watchers(config, supervisor, events, reaper)
    ops = Operations(
        supervisor,
        metrics=metrics,
        on_shutdown=stopping.set,
        clock=loop.time,
        on_reload=service.reload_phase,
        alerts=alerts,
    )
    reactions = SignalReactions(ops, events, stopping.set, audit.reopen)
    uninstall_signals = install_signals(loop, reactions)  # before anything slow: none may kill us
    server, gate = _http_server(config, ops, events, audit, tls)
    await server.listen_unix(config.daemon.socket)
    if config.daemon.http_listen is not None:  # the config made sure it has tokens
        await _listen_tcp(server, config.daemon, tls, events, gate)
    try:
        await _take_over(config, previous, supervisor, events, bind_late=bind_late)
    except ConfigError:  # a socket still in use once what was left running is ended
        await server.close()  # the API socket file goes; the rest goes with the process
        raise
    checkpoint = Checkpoint(
        config.daemon.state_file,
        ops.trees,
        events=events,
        on_error=_warn(events),
        scales=ops.scales,
    )
    checkpoint.start()
    _announce(config, sockets, events, service)
    autostart = loop.create_task(supervisor.start_autostart())
    listeners = _start_watching(
        loop, metrics, alerts, ops, _listeners(config, supervisor, events, reaper)
    )
    try:
        await stopping.wait()
    finally:
        events.emit("daemon", "", message="shutting down")
        service.stopping()
        await _stop_watching(metrics, alerts, listeners)
        await supervisor.shutdown()
        await checkpoint.close(remove_file=True)  # not reached if the shutdown failed
        await asyncio.gather(autostart, return_exceptions=True)
        await reactions.close()
        events.emit("daemon", "", message="stopped")  # the last event a follower is sent
        await server.close()
        audit.close()
        reaper.uninstall()
        uninstall_signals()


def _watchers(
    config: Config, supervisor: Supervisor, events: EventLog, reaper: OwningReaper
) -> tuple[MetricsLoop, AlertRunner]:
    """The metrics sampler, and the alert rules it (and the event stream) feeds."""
    metrics = MetricsLoop(config.metrics, supervisor.live_trees)
    alerts = AlertRunner(
        config.alerts, supervisor=supervisor, events=events, metrics=metrics, reaper=reaper
    )
    return metrics, alerts


def _listeners(
    config: Config, supervisor: Supervisor, events: EventLog, reaper: OwningReaper
) -> Listeners | None:
    """The `[listeners.NAME]` processes, fed the event stream; None without any."""
    if not config.listeners:
        return None
    from corral._control.server.supervisord.listeners import Listeners, last_exit_codes

    return Listeners(
        config.listeners,
        events=events,
        reaper=reaper,
        log_dir=config.daemon.log_dir,
        server_url=f"unix://{config.daemon.socket}",
        last_exit_code=last_exit_codes(supervisor),
    )


def _start_watching(
    loop: asyncio.AbstractEventLoop,
    metrics: MetricsLoop,
    alerts: AlertRunner,
    ops: Operations,
    listeners: Listeners | None,
) -> Listeners | None:
    """Sampling, the alert rules and the event listeners begin (the rules before the first
    tick: they are told it); returns the listeners, for `_stop_watching`."""
    alerts.start(loop, ops)
    metrics.start(loop)
    if listeners is not None:
        listeners.start(loop)
    return listeners


async def _stop_watching(
    metrics: MetricsLoop, alerts: AlertRunner, listeners: Listeners | None = None
) -> None:
    """Before everything stops: no sample is taken, no alert acts, no listener is fed."""
    metrics.close()
    await alerts.close()
    if listeners is not None:
        await listeners.close()


def _announce(
    config: Config, sockets: HeldSockets, events: EventLog, service: ServiceManager
) -> None:
    """The API answers: say so in the events, to our launcher and to a service manager."""
    events.emit("daemon", "", message=f"listening on {config.daemon.socket}", pid=os.getpid())
    for view in sockets.views(config.programs):
        events.emit("daemon", "", message=f"holding socket {view.name} on {view.bound}")
    _announce_ready()
    service.ready(f"listening on {config.daemon.socket}")


async def _take_over(
    config: Config,
    previous: DaemonRecord | None,
    supervisor: Supervisor,
    events: EventLog,
    *,
    bind_late: bool,
) -> None:
    """What a previous daemon left: end the programs a crashed one left running (before
    our own record replaces its), bind the sockets they held, apply its scales. Under a
    keeper, what it held is adopted first, and only the rest is ended."""
    keeper, began = supervisor.keeper, time.perf_counter()
    held = None if keeper is None else await keeper.greet()
    adopted: dict[str, int] = {}
    if held is not None and keeper is not None:
        adopted = adopt_held(held, supervisor.drivers, keeper, events, began=began)
    if previous is not None and not previous.clean:
        timeouts = {name: d.program.stop_timeout for name, d in supervisor.drivers.items()}
        await end_previous(_without(previous, adopted), events, timeouts)
    if bind_late:
        supervisor.sockets.open(config)
    if previous is not None:
        supervisor.restore_scales(previous.scales)  # those whose numprocs is unchanged
    if keeper is not None:
        keeper.watch(asyncio.get_running_loop())


def _without(previous: DaemonRecord, adopted: Mapping[str, int]) -> DaemonRecord:
    """The dead daemon's record without the trees this daemon took over from the keeper."""
    trees = tuple(t for t in previous.trees if adopted.get(t.name) != t.pid)
    return dataclasses.replace(previous, trees=trees)


def _http_server(
    config: Config, ops: Operations, events: EventLog, audit: AuditLog, tls: ssl.SSLContext | None
) -> tuple[HttpServer, Callable[[Tokens], Gate] | None]:
    """The API's server, with the web dashboard's routes when `[web] enabled`; the
    dashboard's gate for the TCP listener (None without it).

    The dashboard is imported only here: a daemon without it holds none of it; so is
    supervisord's interface (/RPC2 and its log pages), added with `[compat]`."""
    router = build_router(ops, events)
    if config.compat.supervisord:
        from corral._control.server.supervisord import add_supervisord_routes

        add_supervisord_routes(router, ops, events, event_line)
    server = HttpServer(router, observer=audit_observer(audit))
    if not config.web.enabled:
        return server, None
    from corral._control.server.web import Dashboard

    dashboard = Dashboard.load(tls=tls is not None)
    dashboard.add_routes(router)
    return server, dashboard.gate


async def _listen_tcp(
    server: HttpServer,
    settings: DaemonSettings,
    tls: ssl.SSLContext | None,
    events: EventLog,
    gate: Callable[[Tokens], Gate] | None = None,
) -> None:
    """The opt-in TCP listener (HTTPS with `tls`, the dashboard's `gate` when it is on); a
    port that cannot be bound stops the daemon (exit 1)."""
    address = str(settings.http_listen)
    host, port = split_address(address)
    tokens = {token.name: token.secret for token in settings.http_tokens}
    try:
        bound = await server.listen_tcp(host, port, tokens, tls=tls, gate=gate)
    except OSError as exc:
        await server.close()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CorralError(f"cannot listen on {address}: {reason}") from exc
    shown = f"[{host}]" if ":" in host else host
    scheme = "http" if tls is None else "https"
    events.emit("daemon", "", message=f"listening on {scheme}://{shown}:{bound}")
    if gate is not None:
        events.emit("daemon", "", message=f"web dashboard at {scheme}://{shown}:{bound}/")


def _audit_failed(events: EventLog) -> Callable[[str], None]:
    warn = _warn_text(events)

    def audit_failed(reason: str) -> None:
        warn(f"cannot write the audit log: {reason}; records are lost until a write succeeds")

    return audit_failed


def _warn_text(events: EventLog) -> Callable[[str], None]:
    def warn(message: str) -> None:
        events.emit("daemon", "", level="warning", message=message)

    return warn


def _warn(events: EventLog) -> Callable[[OSError], None]:
    warn = _warn_text(events)

    def checkpoint_failed(exc: OSError) -> None:
        warn(f"cannot write the state file: {exc.strerror or str(exc)}")

    return checkpoint_failed


def _announce_ready() -> None:
    raw = os.environ.pop(READY_FD_VARIABLE, None)
    if raw is None:
        return
    fd = int(raw)
    try:
        os.write(fd, b"ready\n")
    finally:
        os.close(fd)


def _printer(out: TextIO) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        print(event_line(event), file=out, flush=True)

    return show


def event_line(event: Event) -> str:
    """One event as the daemon prints it (and supervisord's main log shows it)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    data = event.data
    if event.kind == "state":
        pid = f" pid={data['pid']}" if data.get("pid") else ""
        line = f"{event.subject} {data['old']} -> {data['new']}{pid}  {data.get('reason', '')}"
    else:
        detail = " ".join(f"{k}={v}" for k, v in data.items())
        line = f"{event.kind} {event.subject} {detail}".replace("  ", " ")
    return f"{stamp} {line.rstrip()}"
