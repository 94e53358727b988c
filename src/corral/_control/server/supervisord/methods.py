"""supervisord's `supervisor.*` and `system.*` methods, each a translation onto Operations.

Nothing here starts, stops or measures anything itself: a method checks its arguments,
names the instances (`names.py`), makes one Operations call and shapes the answer as
supervisord does, faults included (its codes, and its rules of which states a call
refuses). `reloadConfig` keeps the config it read, as supervisord does, for the
`addProcessGroup` calls that follow it (`supervisorctl update`).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from corral._control.server.supervisord.codec import Call
from corral._control.server.supervisord.faults import Fault, Faults
from corral._control.server.supervisord.names import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    STOPPED_STATES,
    info_dict,
    process_name,
    split_namespec,
)
from corral._control.server.supervisord.ranges import read_bytes, read_range, tail_range
from corral._errors import ConfigError, CorralError, InvalidSpec, UnknownTarget
from corral._platform import parse_signal
from corral._supervisor.config.load import Config
from corral._supervisor.operations import Operations
from corral._supervisor.view import InstanceView
from corral._version import VERSION

__all__ = ["API_VERSION", "Methods"]

API_VERSION = "3.0"
"""The interface version supervisord 3 and 4 report, which supervisorctl checks."""

Handler = Callable[..., Awaitable[object]]
MainLog = Callable[[], bytes]
"""The daemon's log as text: its event ring, rendered as the daemon prints it."""


@dataclass(frozen=True, slots=True)
class _Method:
    handler: Handler
    params: tuple[type, ...]
    """The type of each parameter (bool is not an int here)."""
    required: int
    returns: str
    help: str


class Methods:
    """The methods of one daemon, by name; `call` answers one or raises `Fault`."""

    def __init__(self, ops: Operations, main_log: MainLog) -> None:
        self._ops = ops
        self._main_log = main_log
        self._pending: Config | None = None
        """The config the last reloadConfig read: what addProcessGroup adds from."""
        self._shutting_down = False
        self._tasks: set[asyncio.Task[object]] = set()
        self._table = self._methods()

    def names(self) -> list[str]:
        """Every method name, sorted."""
        return sorted(self._table)

    async def call(self, call: Call) -> object:
        """The result of one call; `Fault` for an unknown method or a refused call."""
        method = self._table.get(call.method)
        if method is None:
            raise Fault(Faults.UNKNOWN_METHOD)
        args = _checked(method, call.params)
        if self._shutting_down and call.method in _REFUSED_WHILE_SHUTTING_DOWN:
            raise Fault(Faults.SHUTDOWN_STATE)
        try:
            return await method.handler(*args)
        except UnknownTarget as exc:
            raise Fault(Faults.BAD_NAME, exc.target) from None
        except InvalidSpec as exc:
            raise Fault(Faults.BAD_ARGUMENTS, str(exc)) from None
        except CorralError as exc:
            raise Fault(Faults.FAILED, str(exc)) from None

    def _methods(self) -> dict[str, _Method]:
        s, i, b = str, int, bool
        table: list[tuple[str, Handler, tuple[type, ...], int, str, str]] = [
            ("getAPIVersion", self.api_version, (), 0, "string", "The API version, 3.0."),
            ("getVersion", self.api_version, (), 0, "string", "Deprecated getAPIVersion."),
            ("getSupervisorVersion", self.version, (), 0, "string", "corral's version."),
            ("getIdentification", self.identification, (), 0, "string", "Says corral."),
            ("getState", self.state, (), 0, "struct", "The daemon's state."),
            ("getPID", self.pid, (), 0, "int", "The daemon's pid."),
            ("readLog", self.read_log, (i, i), 2, "string", "Bytes of the daemon's log."),
            ("readMainLog", self.read_log, (i, i), 2, "string", "Alias of readLog."),
            ("clearLog", self.clear_log, (), 0, "boolean", "Refused: the log is the ring."),
            ("shutdown", self.shutdown, (), 0, "boolean", "Stop every program and exit."),
            ("restart", self.restart, (), 0, "boolean", "Stop all, reload, start again."),
            ("getProcessInfo", self.process_info, (s,), 1, "struct", "One process."),
            ("getAllProcessInfo", self.all_process_info, (), 0, "array", "Every process."),
            ("getAllConfigInfo", self.all_config_info, (), 0, "array", "Configured ones."),
            ("startProcess", self.start_process, (s, b), 1, "boolean", "Start one."),
            ("startProcessGroup", self.start_group, (s, b), 1, "array", "Start a group."),
            ("startAllProcesses", self.start_all, (b,), 0, "array", "Start every one."),
            ("stopProcess", self.stop_process, (s, b), 1, "boolean", "Stop one."),
            ("stopProcessGroup", self.stop_group, (s, b), 1, "array", "Stop a group."),
            ("stopAllProcesses", self.stop_all, (b,), 0, "array", "Stop every one."),
            ("signalProcess", self.signal_process, (s, object), 2, "boolean", "Signal one."),
            ("signalProcessGroup", self.signal_group, (s, object), 2, "array", "Signal a group."),
            ("signalAllProcesses", self.signal_all, (object,), 1, "array", "Signal all."),
            ("sendProcessStdin", self.send_stdin, (s, s), 2, "boolean", "Refused: /dev/null."),
            ("readProcessStdoutLog", self.read_stdout, (s, i, i), 3, "string", "stdout bytes."),
            ("readProcessLog", self.read_stdout, (s, i, i), 3, "string", "Alias."),
            ("readProcessStderrLog", self.read_stderr, (s, i, i), 3, "string", "stderr bytes."),
            ("tailProcessStdoutLog", self.tail_stdout, (s, i, i), 3, "array", "Tail stdout."),
            ("tailProcessLog", self.tail_stdout, (s, i, i), 3, "array", "Alias."),
            ("tailProcessStderrLog", self.tail_stderr, (s, i, i), 3, "array", "Tail stderr."),
            ("clearProcessLogs", self.clear_logs, (s,), 1, "boolean", "Empty its logs."),
            ("clearProcessLog", self.clear_logs, (s,), 1, "boolean", "Alias."),
            ("clearAllProcessLogs", self.clear_all_logs, (), 0, "array", "Empty all logs."),
            ("reloadConfig", self.reload_config, (), 0, "array", "Re-read; change nothing."),
            ("addProcessGroup", self.add_group, (s,), 1, "boolean", "Add one re-read group."),
            ("removeProcessGroup", self.remove_group, (s,), 1, "boolean", "Remove a group."),
        ]
        methods = {
            f"supervisor.{name}": _Method(handler, params, required, returns, text)
            for name, handler, params, required, returns, text in table
        }
        system: list[tuple[str, Handler, tuple[type, ...], str, str]] = [
            ("listMethods", self.list_methods, (), "array", "Every method's name."),
            ("methodHelp", self.method_help, (s,), "string", "A method's help."),
            ("methodSignature", self.method_signature, (s,), "array", "A method's types."),
            ("multicall", self.multicall, (list,), "array", "Many calls in one."),
        ]
        for name, handler, params, returns, text in system:
            methods[f"system.{name}"] = _Method(handler, params, len(params), returns, text)
        return methods

    # -- the daemon -----------------------------------------------------------

    async def api_version(self) -> str:
        return API_VERSION

    async def version(self) -> str:
        return VERSION

    async def identification(self) -> str:
        return "corral"

    async def state(self) -> dict[str, object]:
        if self._shutting_down:
            return {"statecode": -1, "statename": "SHUTDOWN"}
        return {"statecode": 1, "statename": "RUNNING"}

    async def pid(self) -> int:
        return os.getpid()

    async def read_log(self, offset: int, length: int) -> str:
        return _text(read_bytes(self._main_log(), offset, length))

    async def clear_log(self) -> bool:
        raise Fault(Faults.FAILED, "the daemon's log is its event ring; it is not cleared")

    async def shutdown(self) -> bool:
        self._shutting_down = True
        self._ops.shutdown()
        return True

    async def restart(self) -> bool:
        self._pending = None
        self._spawn(self._ops.restart_everything())
        return True

    def _spawn(self, work: Awaitable[object]) -> None:
        """Run `work` after the reply, as supervisord does for restart and wait=False."""

        async def run() -> object:
            try:
                return await work
            except CorralError:
                return None  # the event stream told of it already

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- process info -----------------------------------------------------------

    def _views(self) -> list[InstanceView]:
        """Every instance, sorted by group, then process name, as supervisord lists them."""
        views = self._ops.snapshot().instances
        return sorted(views, key=lambda view: (view.program, process_name(view)))

    def _info(self, view: InstanceView, now: float) -> dict[str, object]:
        logs = (self._ops.log_path(view.name, "stdout"), self._ops.log_path(view.name, "stderr"))
        return info_dict(view, logs, now=now)

    def _process(self, namespec: str) -> InstanceView:
        """The instance "group:process" names; BAD_NAME for a group or an unknown name."""
        group, process = split_namespec(namespec)
        for view in self._views():
            if view.program == group and process_name(view) == process:
                return view
        raise Fault(Faults.BAD_NAME, namespec)

    def _group(self, group: str) -> list[InstanceView]:
        views = [view for view in self._views() if view.program == group]
        if not views:
            raise Fault(Faults.BAD_NAME, group)
        return views

    async def process_info(self, name: str) -> dict[str, object]:
        return self._info(self._process(name), time.time())

    async def all_process_info(self) -> list[dict[str, object]]:
        now = time.time()
        return [self._info(view, now) for view in self._views()]

    async def all_config_info(self) -> list[dict[str, object]]:
        config = self._pending or self._ops.running_config()
        running = {view.program for view in self._views()}
        rows: list[dict[str, object]] = []
        for program in config.programs:
            spec = program.process
            for index in range(program.numprocs):
                rows.append(
                    {
                        "name": str(index),
                        "group": program.name,
                        "inuse": program.name in running,
                        "autostart": program.autostart,
                        "group_prio": program.priority,
                        "process_prio": program.priority,
                        "command": shlex.join(program.instance_process(index).argv),
                        "directory": spec.cwd or "",
                        "stopsignal": int(spec.stop_signal),
                        "stopwaitsecs": int(program.stop_timeout),
                        "numprocs": program.numprocs,
                    }
                )
        return rows

    # -- start, stop, signal ------------------------------------------------------

    async def start_process(self, name: str, wait: bool = True) -> object:
        group, process = split_namespec(name)
        if process is None:
            return await self.start_group(group, wait)
        view = self._process(name)
        if view.state in RUNNING_STATES:
            raise Fault(Faults.ALREADY_STARTED, name)
        if not wait:
            self._spawn(self._ops.start([view.name]))
            return True
        (outcome,) = await self._ops.start([view.name])
        if not outcome.ok:
            raise _start_fault(name, outcome.state, outcome.message)
        return True

    async def start_group(self, group: str, wait: bool = True) -> list[dict[str, object]]:
        return await self._start_each(self._group(group), wait)

    async def start_all(self, wait: bool = True) -> list[dict[str, object]]:
        return await self._start_each(list(self._views()), wait)

    async def _start_each(self, views: list[InstanceView], wait: bool) -> list[dict[str, object]]:
        names = [view.name for view in views if view.state not in RUNNING_STATES]
        if not names:
            return []
        if not wait:
            self._spawn(self._ops.start(names))
            return [_result(name, Faults.SUCCESS) for name in names]
        outcomes = await self._ops.start(names)
        return [
            _result(o.name, Faults.SUCCESS)
            if o.ok
            else _fault_result(o.name, _start_fault(o.name, o.state, o.message))
            for o in outcomes
        ]

    async def stop_process(self, name: str, wait: bool = True) -> object:
        group, process = split_namespec(name)
        if process is None:
            return await self.stop_group(group, wait)
        view = self._process(name)
        if view.state in STOPPED_STATES:
            raise Fault(Faults.NOT_RUNNING, name)
        if not wait:
            self._spawn(self._ops.stop([view.name]))
            return True
        (outcome,) = await self._ops.stop([view.name])
        if not outcome.ok:
            raise Fault(Faults.FAILED, f"{name}: {outcome.message}")
        return True

    async def stop_group(self, group: str, wait: bool = True) -> list[dict[str, object]]:
        return await self._stop_each(self._group(group), wait)

    async def stop_all(self, wait: bool = True) -> list[dict[str, object]]:
        return await self._stop_each(list(self._views()), wait)

    async def _stop_each(self, views: list[InstanceView], wait: bool) -> list[dict[str, object]]:
        names = [view.name for view in views if view.state in RUNNING_STATES]
        if not names:
            return []
        if not wait:
            self._spawn(self._ops.stop(names))
            return [_result(name, Faults.SUCCESS) for name in names]
        outcomes = await self._ops.stop(names)
        return [
            _result(o.name, Faults.SUCCESS)
            if o.ok
            else _fault_result(o.name, Fault(Faults.FAILED, o.message))
            for o in outcomes
        ]

    async def signal_process(self, name: str, sig: object) -> object:
        group, process = split_namespec(name)
        if process is None:
            return await self.signal_group(group, sig)
        number = _signal(sig)
        view = self._process(name)
        if view.state not in SIGNALLABLE_STATES:
            raise Fault(Faults.NOT_RUNNING, name)
        (outcome,) = self._ops.signal(number, [view.name])
        if not outcome.ok:
            raise Fault(Faults.FAILED, outcome.message)
        return True

    async def signal_group(self, group: str, sig: object) -> list[dict[str, object]]:
        return self._signal_each(self._group(group), _signal(sig))

    async def signal_all(self, sig: object) -> list[dict[str, object]]:
        return self._signal_each(list(self._views()), _signal(sig))

    def _signal_each(self, views: Sequence[InstanceView], sig: str) -> list[dict[str, object]]:
        names = [view.name for view in views if view.state in SIGNALLABLE_STATES]
        if not names:
            return []
        return [
            _result(o.name, Faults.SUCCESS)
            if o.ok
            else _fault_result(o.name, Fault(Faults.FAILED, o.message))
            for o in self._ops.signal(sig, names)
        ]

    async def send_stdin(self, name: str, chars: str) -> bool:
        view = self._process(name)
        if view.pid is None:
            raise Fault(Faults.NOT_RUNNING, name)
        raise Fault(Faults.NO_FILE, "corral's programs read /dev/null; they have no stdin")

    # -- logs -------------------------------------------------------------------

    def _log(self, name: str, stream: str) -> str:
        return self._ops.log_path(self._process(name).name, stream)

    async def read_stdout(self, name: str, offset: int, length: int) -> str:
        return _text(read_range(self._log(name, "stdout"), offset, length))

    async def read_stderr(self, name: str, offset: int, length: int) -> str:
        return _text(read_range(self._log(name, "stderr"), offset, length))

    async def tail_stdout(self, name: str, offset: int, length: int) -> list[object]:
        data, end, overflow = tail_range(self._log(name, "stdout"), offset, length)
        return [_text(data), end, overflow]

    async def tail_stderr(self, name: str, offset: int, length: int) -> list[object]:
        data, end, overflow = tail_range(self._log(name, "stderr"), offset, length)
        return [_text(data), end, overflow]

    async def clear_logs(self, name: str) -> bool:
        self._ops.clear_logs(self._process(name).name)
        return True

    async def clear_all_logs(self) -> list[dict[str, object]]:
        return [_result(self._ops.clear_logs(view.name), Faults.SUCCESS) for view in self._views()]

    # -- config -----------------------------------------------------------------

    async def reload_config(self) -> list[object]:
        try:
            config, report = self._ops.reload_plan()
        except ConfigError as exc:
            raise Fault(Faults.CANT_REREAD, str(exc)) from None
        self._pending = config
        return [[list(report.added), list(report.changed), list(report.removed)]]

    async def add_group(self, name: str) -> bool:
        config = self._pending or self._ops.running_config()
        if any(view.program == name for view in self._views()):
            raise Fault(Faults.ALREADY_ADDED, name)
        if name not in config.program_map():
            raise Fault(Faults.BAD_NAME, name)
        await self._ops.apply_program(name, config)
        return True

    async def remove_group(self, name: str) -> bool:
        if any(view.state not in STOPPED_STATES for view in self._group(name)):
            raise Fault(Faults.STILL_RUNNING, name)
        await self._ops.apply_program(name, None)
        return True

    # -- system -----------------------------------------------------------------

    async def list_methods(self) -> list[str]:
        return self.names()

    async def method_help(self, name: str) -> str:
        return self._known(name).help

    async def method_signature(self, name: str) -> list[list[str]]:
        method = self._known(name)
        return [[method.returns, *(_XML_TYPES.get(t, "string") for t in method.params)]]

    def _known(self, name: str) -> _Method:
        method = self._table.get(name)
        if method is None:
            raise Fault(Faults.SIGNATURE_UNSUPPORTED, name)
        return method

    async def multicall(self, calls: list[object]) -> list[object]:
        results: list[object] = []
        for item in calls[:MAX_MULTICALL]:
            try:
                results.append([await self.call(_one_of(item))])
            except Fault as fault:
                results.append({"faultCode": int(fault.code), "faultString": fault.text})
        if len(calls) > MAX_MULTICALL:
            extra = Fault(Faults.INCORRECT_PARAMETERS, f"at most {MAX_MULTICALL} calls")
            results.append({"faultCode": int(extra.code), "faultString": extra.text})
        return results


MAX_MULTICALL = 1000
"""Calls one system.multicall makes at most; the rest are answered with one fault."""

_REFUSED_WHILE_SHUTTING_DOWN = (
    frozenset(f"supervisor.{name}" for name in ("shutdown", "restart", "reloadConfig"))
    | frozenset(
        f"supervisor.{verb}{what}"
        for verb in ("start", "stop", "signal")
        for what in ("Process", "ProcessGroup", "AllProcesses")
    )
    | frozenset(("supervisor.addProcessGroup", "supervisor.removeProcessGroup"))
)
"""The calls refused with SHUTDOWN_STATE once a shutdown was asked for (reads still answer)."""

_XML_TYPES = {str: "string", int: "int", bool: "boolean", list: "array", object: "string"}


def _checked(method: _Method, params: tuple[object, ...]) -> tuple[object, ...]:
    """The arguments, or INCORRECT_PARAMETERS for a wrong count or a wrong type."""
    if not method.required <= len(params) <= len(method.params):
        expected = f"{method.required} to {len(method.params)}"
        if method.required == len(method.params):
            expected = str(method.required)
        message = f"takes {expected} arguments, got {len(params)}"
        raise Fault(Faults.INCORRECT_PARAMETERS, message)
    for index, (value, kind) in enumerate(zip(params, method.params, strict=False)):
        wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        if kind is object:
            wrong = not isinstance(value, str | int) or isinstance(value, bool)
        if wrong:
            shown = _XML_TYPES.get(kind, "string") if kind is not object else "string or int"
            message = f"argument {index + 1} must be a {shown}, got {type(value).__name__}"
            raise Fault(Faults.INCORRECT_PARAMETERS, message)
    return params


def _one_of(item: object) -> Call:
    """One call of a multicall: {"methodName": ..., "params": [...]}."""
    if not isinstance(item, dict):
        raise Fault(Faults.INCORRECT_PARAMETERS, "each call is a struct")
    method, params = item.get("methodName"), item.get("params", [])
    if not isinstance(method, str) or not isinstance(params, list):
        raise Fault(Faults.INCORRECT_PARAMETERS, "a call needs methodName and params")
    if method == "system.multicall":
        raise Fault(Faults.INCORRECT_PARAMETERS, "system.multicall cannot be nested")
    return Call(method, tuple(params))


def _signal(sig: object) -> str:
    """A signal name, from a name ("HUP", "SIGHUP") or a number (1, "1"); else BAD_SIGNAL."""
    text = str(sig).strip()
    try:
        number = int(text) if text.isascii() and text.isdigit() else text
        return parse_signal(number).name
    except InvalidSpec:
        raise Fault(Faults.BAD_SIGNAL, text) from None


def _start_fault(name: str, state: str, message: str) -> Fault:
    lowered = message.lower()
    if "no such file" in lowered:
        return Fault(Faults.NO_FILE, f"{name}: {message}")
    if "permission denied" in lowered or "not executable" in lowered:
        return Fault(Faults.NOT_EXECUTABLE, f"{name}: {message}")
    if state in ("BACKOFF", "FATAL"):
        return Fault(Faults.SPAWN_ERROR, name)
    if state in STOPPED_STATES:
        return Fault(Faults.ABNORMAL_TERMINATION, name)
    return Fault(Faults.FAILED, f"{name}: {message}")


def _result(name: str, code: Faults) -> dict[str, object]:
    group, _, process = name.rpartition(":")
    return {"name": process, "group": group, "status": int(code), "description": "OK"}


def _fault_result(name: str, fault: Fault) -> dict[str, object]:
    row = _result(name, fault.code)
    row["description"] = fault.text
    return row


def _text(data: bytes) -> str:
    """Log bytes as an XML-RPC string: invalid UTF-8 and characters XML cannot hold replaced."""
    text = data.decode("utf-8", "replace")
    return text.translate(_NOT_XML) if _has_control(text) else text


_NOT_XML = {c: "\ufffd" for c in (*range(0, 9), 11, 12, *range(14, 32))}


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 and c not in "\t\n\r" for c in text)
