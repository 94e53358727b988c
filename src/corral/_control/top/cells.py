"""The text of `corral top`'s cells and header, from the model's rows (pure; rich Text only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text

from corral._control import text as _text
from corral._control.top.model import Fleet, Header, Row

__all__ = ["COLUMN_WIDTHS", "header_text", "row_cells", "sparkline"]

COLUMN_WIDTHS: Sequence[tuple[str, str, int]] = (
    ("name", "NAME", 18),
    ("state", "STATE", 9),
    ("health", "HEALTH", 9),
    ("pid", "PID", 7),
    ("uptime", "UPTIME", 8),
    ("restarts", "RST", 4),
    ("last_exit", "LAST EXIT", 14),
    ("cpu_percent", "CPU%", 6),
    ("cpu_spark", "CPU~", 10),
    ("rss", "RSS", 7),
    ("memory_share", "%LIM", 5),
    ("rss_spark", "MEM~", 10),
    ("fds", "FDS", 5),
)
"""(column key, label, width) in table order; the sparkline columns do not sort."""

STATE_STYLES = {
    "RUNNING": "green",
    "STARTING": "yellow",
    "STOPPING": "yellow",
    "BACKOFF": "bold red",
    "FATAL": "bold red",
    "EXITED": "magenta",
    "STOPPED": "dim",
}
HEALTH_STYLES = {"healthy": "green", "unhealthy": "bold red", "starting": "yellow"}
_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Iterable[float], width: int) -> str:
    """The last `width` values as bars scaled to their maximum (blank before any)."""
    kept = list(values)[-width:]
    if not kept:
        return ""
    top = max(kept) or 1.0
    return "".join(_BARS[min(7, int(7 * v / top + 0.5))] if v > 0 else " " for v in kept)


def duration(seconds: float | None) -> str:
    """3s, 4m05s, 2h03m, 5d02h; empty when unknown."""
    return _text.duration(seconds, missing="")


def size(count: float | None) -> str:
    """Bytes in B, K, M, G (powers of 1024); empty when unknown."""
    return _text.size(count, missing="")


def row_cells(row: Row, now: float) -> list[tuple[str, str]]:
    """The cells of one row as (text, style), in `COLUMN_WIDTHS` order."""
    share = row.memory_share
    return [
        (row.name, ""),
        (row.state, STATE_STYLES.get(row.state, "")),
        (row.health or "", HEALTH_STYLES.get(row.health or "", "")),
        ("" if row.pid is None else str(row.pid), ""),
        (duration(row.uptime(now)), ""),
        (str(row.restarts), ""),
        (row.last_exit or "", ""),
        ("" if row.cpu_percent is None else f"{row.cpu_percent:.1f}", ""),
        (sparkline(row.cpu_history, 10), "cyan"),
        (size(row.rss), ""),
        ("" if share is None else f"{share:.0f}", ""),
        (sparkline(row.rss_history, 10), "blue"),
        ("" if row.fds is None else str(row.fds), ""),
    ]


def header_text(fleet: Fleet, now: float, shown: int, note: str = "") -> Text:
    """The header: daemon, counts by state, `note` (the sort and filter); then the host
    figures and what the table shows."""
    h: Header = fleet.header
    uptime = None if h.started is None else now - h.started
    text = Text()
    text.append("corral ", style="bold")
    text.append(f"{h.version}  up {duration(uptime)}  ")
    for state, count in sorted(fleet.counts().items()):
        text.append(f"{state} {count}", style=STATE_STYLES.get(state, ""))
        text.append("  ")
    text.append(note, style="dim")
    text.append("\n")
    cpu = "?" if h.host_cpu is None else f"{h.host_cpu:.1f}%"
    memory = "?"
    if h.memory_used is not None and h.memory_total:
        memory = f"{size(h.memory_used)}/{size(h.memory_total)}"
    load = " ".join(f"{v:.2f}" for v in h.load) or "?"
    text.append(f"host cpu {cpu}  mem {memory}  load {load}  ")
    daemon_cpu = "?" if h.daemon_cpu is None else f"{h.daemon_cpu:.1f}%"
    text.append(f"daemon cpu {daemon_cpu} rss {size(h.daemon_rss) or '?'}  ")
    waiting = " (waiting for the first sample)" if h.samples == 0 else ""
    text.append(f"every {h.interval:g}s{waiting}  showing {shown}/{len(fleet.rows)}")
    if not any(row.fds is not None for row in fleet.rows.values()):
        text.append("  fds: not sampled", style="dim")
    return text
