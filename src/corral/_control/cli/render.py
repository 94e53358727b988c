"""PURE renderers: API replies -> fixed-width text tables (no colour, no terminal queries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from corral._control.text import duration, size
from corral._control.wire import EventJSON, HistoryReply, MetricsReply, OutcomeJSON
from corral._supervisor.view import (
    InspectView,
    InstanceView,
    ProcessView,
    SecurityView,
    SocketView,
)

if TYPE_CHECKING:  # `corral status` must not import the sandbox
    from corral._sandbox.doctor import DoctorRow

_STATUS_COLUMNS = ("NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "CPU", "MEM", "INFO")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; trailing spaces stripped."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]  # fmt: skip
    return "\n".join(lines) + "\n"


def status_table(rows: Sequence[InstanceView]) -> str:
    """The `corral status` table."""
    body = [
        (
            r.name,
            r.state,
            "-" if r.pid is None else str(r.pid),
            duration(r.uptime),
            str(r.restarts),
            r.last_exit or "-",
            percent(r.cpu_percent),
            size(r.memory_rss),
            _info(r),
        )
        for r in rows
    ]
    return table(_STATUS_COLUMNS, body)


def sockets_table(sockets: Sequence[SocketView]) -> str:
    """The daemon's sockets under the `corral status` table; empty when it holds none."""
    if not sockets:
        return ""
    rows = [(s.name, s.bound, ", ".join(s.programs) or "-") for s in sockets]
    return "\n" + table(("SOCKET", "BOUND", "PROGRAMS"), rows)


def percent(value: float | None) -> str:
    """12.5% style; "-" for None."""
    return "-" if value is None else f"{value:.1f}%"


def metrics_table(reply: MetricsReply) -> str:
    """The `corral metrics` table: one row per instance, then the daemon and the sampler."""
    body = [
        (
            r["name"],
            r["state"],
            percent(r["cpu_percent"]),
            size(r["memory_rss"]),
            "-" if r["processes"] is None else str(r["processes"]),
        )
        for r in reply["instances"]
    ]
    text = table(("NAME", "STATE", "CPU", "MEM", "PROCS"), body)
    if reply["interval"] == 0:
        return text + "sampling is off ([metrics] interval = 0)\n"
    daemon = (
        f"daemon: cpu {percent(reply['daemon_cpu_percent'])}, "
        f"mem {size(reply['daemon_memory_rss'])}; "
        f"sampled every {reply['interval']:g}s, last tick took "
        f"{reply['sample_seconds'] * 1000:.1f} ms\n"
    )
    return text + daemon


def history_table(reply: HistoryReply) -> str:
    """`corral metrics NAME --history`: one row per kept sample, oldest first."""
    import time

    body = [
        (
            time.strftime("%H:%M:%S", time.localtime(p["time"])),
            percent(p["cpu_percent"]),
            size(p["rss_bytes"]),
            str(p["processes"]),
        )
        for p in reply["points"]
    ]
    if not body:
        return f"{reply['name']}: no samples yet\n"
    return table(("TIME", "CPU", "MEM", "PROCS"), body)


def _info(row: InstanceView) -> str:
    """Why it is not running, else its health, what a notify program says of itself (its
    phase and STATUS=) and, for a sandboxed instance, its cgroup against its limits."""
    if row.state in ("FATAL", "BACKOFF", "EXITED"):
        return row.reason
    parts = (_health_info(row), _said(row), _cgroup_info(row))
    return "; ".join(part for part in parts if part)


def _health_info(row: InstanceView) -> str:
    """ "healthy", "starting", or "unhealthy: 3 failed (last: connection refused)"."""
    health = row.health
    if health is None or row.state not in ("STARTING", "RUNNING"):
        return ""
    last = health.results[-1] if health.results else None
    if health.state == "healthy" or last is None or last.ok:
        return health.state
    return f"{health.state}: {health.streak} failed (last: {last.output})"


def _said(row: InstanceView) -> str:
    """ "reloading: loading the catalogue" from a notify program's phase and STATUS=."""
    notify = row.notify
    if notify is None or row.state not in ("STARTING", "RUNNING"):
        return ""
    words = [part for part in (notify.phase, notify.status) if part]
    return ": ".join(words)


def _cgroup_info(row: InstanceView) -> str:
    usage, limits = row.cgroup, row.limits or {}
    if not usage:
        return ""
    parts = []
    if usage.get("pids") is not None:
        cap = limits.get("cgroup.pids_max")
        parts.append(f"pids {usage['pids']}" + (f"/{cap}" if cap else ""))
    if usage.get("memory_current") is not None:
        cap = limits.get("cgroup.memory_max")
        current = size(_int(usage["memory_current"]))
        parts.append(f"mem {current}" + (f"/{size(_int(cap))}" if cap else ""))
    if usage.get("oom_kills"):
        parts.append(f"oom-kills {usage['oom_kills']}")
    return "cgroup: " + ", ".join(parts) if parts else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def outcomes_table(rows: Sequence[OutcomeJSON]) -> str:
    """The result of start/stop/restart/signal: one line per instance."""
    return "".join(
        f"{r['name']}: {'ok' if r['ok'] else 'FAILED'} ({r['state']}) {r['message']}".rstrip()
        + "\n"
        for r in rows
    )


_DOCTOR_HEADERS = {"sandbox": "SANDBOX FEATURE", "process": "PROCESS FEATURE"}
_ALWAYS = "user, group, groups, umask and rlimits need no feature: they work on any POSIX system."


def doctor_report(rows: Sequence[DoctorRow]) -> str:
    """The `corral doctor` report: a table per group, then why each missing feature is missing."""
    sections = []
    for group, header in _DOCTOR_HEADERS.items():
        body = [
            (r.feature, "yes" if r.supported else "no", r.used_by) for r in rows if r.group == group
        ]
        sections.append(table((header, "OK", "USED BY"), body))
    sections[0] += _ALWAYS + "\n"
    missing = [r for r in rows if not r.supported]
    if missing:
        lines = ["Not available here:"]
        for r in missing:
            lines += [f"  {r.feature}: {r.reason}", f"    needs {r.needs}"]
        sections.append("\n".join(lines) + "\n")
    else:
        sections.append("Every feature is available here.\n")
    return "\n".join(sections)


def event_line(event: EventJSON) -> str:
    """One line of `corral events`: `#SEQ TIME KIND SUBJECT DETAILS`, time in UTC like the logs.

    A state change reads `OLD -> NEW pid=N  reason`; a stream notice (seq None) starts with
    `--` and says which events it is about.
    """
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(event["time"], UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    data = event["data"]
    if event["seq"] is None:
        span = ""
        if "first" in data:
            span = f" #{data['first']}..#{data['last']}"
        return f"-- {stamp}Z {event['kind']}{span}: {data.get('reason', '')}"
    if event["kind"] == "state":
        pid = f" pid={data['pid']}" if data.get("pid") else ""
        reason = f"  {data['reason']}" if data.get("reason") else ""
        detail = f"{data.get('old')} -> {data.get('new')}{pid}{reason}"
    else:
        detail = " ".join(f"{key}={value}" for key, value in data.items())
    words = (f"#{event['seq']}", f"{stamp}Z", event["kind"], event["subject"], detail)
    return " ".join(word for word in words if word)


def audit_line(raw: bytes) -> str:
    """One line of `corral audit`: `TIME WHO METHOD PATH [DETAILS] -> STATUS [OUTCOMES]`.

    WHO is `uid=U pid=P` on the unix socket, `token=NAME ADDRESS` on TCP (`token=-`: the
    request carried no accepted token). A line that is not a record (cut by a crash or a
    full disk) is shown as it is after `??`.
    """
    import json

    try:
        record = json.loads(raw)
        who, what, result = record["who"], record["what"], record["result"]
        words = [str(record["time"]), _who(who), str(what["method"]), str(what["path"])]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "?? " + raw.decode("utf-8", "replace")
    if "signal" in what:
        words.append(f"signal={what['signal']}")
    words += _listed("targets", what)
    words += ["->", str(result.get("status"))]
    words += _listed("ok", result) + _listed("failed", result)
    if "error" in result:
        words.append(json.dumps(result["error"], ensure_ascii=False))
    return " ".join(words)


def _who(who: dict[str, object]) -> str:
    if who.get("transport") == "tcp":
        return f"token={who.get('token') or '-'} {who.get('address', '?')}"
    if "uid" in who:
        return f"uid={who['uid']} pid={who.get('pid')}"
    return str(who.get("transport", "?"))


def _listed(key: str, fields: dict[str, object]) -> list[str]:
    """`key=a,b` (`+N more` when the record was cut), nothing for an absent or empty list."""
    items = fields.get(key)
    if not isinstance(items, list) or not items:
        return []
    more = fields.get(f"{key}_count")
    extra = f",+{more - len(items)} more" if isinstance(more, int) and more > len(items) else ""
    return [f"{key}={','.join(str(item) for item in items)}{extra}"]


def inspect_report(view: InspectView) -> str:
    """`corral inspect`: the instance, then one block per process of its tree."""
    head = f"{view.name}  {view.state}" + (f"  pid {view.pid}" if view.pid is not None else "")
    lines = [head]
    if view.cgroup is not None:
        used = ", ".join(
            f"{key} {value}" for key, value in view.cgroup.items() if value is not None
        )
        lines.append(f"cgroup: {used}")
    if not view.processes:
        lines.append("no live process")
    for process in view.processes:
        lines += ["", *_process_block(process)]
    lines += [f"note: {note}" for note in view.notes]
    return "\n".join(lines) + "\n"


def _process_block(p: ProcessView) -> list[str]:
    shown = " ".join(p.cmdline) or "?"
    lines = [f"pid {p.pid}  ppid {p.ppid}  {p.state}" + (f"  in {p.wchan}" if p.wchan else "")]
    if p.gone:
        lines.append("  (exited while it was read)")
    lines += [
        f"  command  {shown}",
        f"  exe      {p.exe}",
        f"  cwd      {p.cwd}",
        f"  uids     {' '.join(map(str, p.uids))}   gids {' '.join(map(str, p.gids))}",
        f"  threads  {p.threads}   seccomp {p.seccomp}   no_new_privs {p.no_new_privs}",
        "  caps     " + "  ".join(f"{k} {v}" for k, v in p.capabilities.items()),
    ]
    listening = [f.target for f in p.fds if f.listening]
    if listening:
        lines.append(f"  listens  {', '.join(listening)}")
    lines.append(f"  fds ({len(p.fds)})")
    for f in p.fds:
        peer = f" -> {f.remote}" if f.remote else ""
        lines.append(f"    {f.fd:>4}  {f.kind:<7} {f.target}{peer}")
    lines.append("  namespaces  " + "  ".join(p.namespaces.values()))
    lines += [f"  cgroup   {line}" for line in p.cgroups]
    lines.append("  limits")
    lines += [f"    {name:<24} {value}" for name, value in p.limits.items()]
    lines.append(f"  environment ({len(p.environment)})")
    lines += [f"    {name}={value}" for name, value in sorted(p.environment.items())]
    return lines


def security_report(view: SecurityView) -> str:
    """`corral security`: the score, then one line per check, open ones first."""
    seen = f"pid {view.pid}" if view.pid is not None else "not running: all from the config"
    lines = [f"{view.name}  exposure {view.score:.1f} / 10  {view.rating}  ({seen})", ""]
    width = max((len(e.description) for e in view.exposures), default=0)
    for e in view.exposures:
        mark = "open  " if e.exposed else "closed"
        fix = f"  close with {e.key}" if e.exposed else ""
        lines.append(
            f"  {mark} {e.weight:>2}  {e.description:<{width}}  [{e.source}]{fix}".rstrip()
        )
    lines += [f"note: {note}" for note in view.notes]
    return "\n".join(lines) + "\n"
