"""One process as /proc shows it, for `corral inspect`: identity, fds, limits, namespaces.

Everything is read once, now, by the daemon (root, so every process of the machine is
readable). A process can exit between two reads: a part that can no longer be read is
left empty (and `gone` set), never an error. Socket fds are named by their address
from /proc/net (tcp, tcp6, udp, udp6, unix), read once per snapshot of a tree.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

_TCP_LISTEN = "0A"
_NET_FILES = ("tcp", "tcp6", "udp", "udp6")
_CAPABILITY_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
_SECCOMP_MODES = {"0": "disabled", "1": "strict", "2": "filter"}


@dataclass(frozen=True, slots=True)
class Socket:
    """What a socket inode is: its protocol, local (and remote) address, and state."""

    protocol: str
    """tcp, tcp6, udp, udp6 or unix."""
    local: str
    remote: str = ""
    listening: bool = False


@dataclass(frozen=True, slots=True)
class OpenFile:
    """One open fd: what it points to ("/var/log/x", "pipe:[123]", a socket's address)."""

    fd: int
    target: str
    kind: str
    """file, pipe, socket, anon (eventfd, pidfd, ...), device or other."""
    socket: Socket | None = None


@dataclass(slots=True)
class ProcessInfo:
    """One process's snapshot; fields the process took with it stay empty."""

    pid: int
    ppid: int = 0
    state: str = ""
    wchan: str = ""
    cmdline: list[str] = field(default_factory=list)
    exe: str = ""
    cwd: str = ""
    uids: list[int] = field(default_factory=list)
    """real, effective, saved, filesystem."""
    gids: list[int] = field(default_factory=list)
    threads: int = 0
    fds: list[OpenFile] = field(default_factory=list)
    limits: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Resource -> (soft, hard) as /proc/PID/limits writes them ("unlimited", "1024")."""
    namespaces: dict[str, str] = field(default_factory=dict)
    """ns name -> "net:[4026531840]"."""
    cgroups: list[str] = field(default_factory=list)
    """Lines of /proc/PID/cgroup: "hierarchy:controllers:path"."""
    capabilities: dict[str, str] = field(default_factory=dict)
    """CapInh, CapPrm, CapEff, CapBnd, CapAmb as hex masks."""
    seccomp: str = ""
    no_new_privs: bool = False
    umask: int | None = None
    """From /proc/PID/status (Linux 4.7+); None where the kernel does not show it."""
    environment: dict[str, str] = field(default_factory=dict)
    gone: bool = False
    """The process exited (or became unreadable) while it was read."""


def sockets() -> dict[int, Socket]:
    """Socket inode -> what it is, for every socket in this network namespace."""
    found: dict[int, Socket] = {}
    for name in _NET_FILES:
        for inode, made in _inet_sockets(f"/proc/net/{name}", name):
            found[inode] = made
    for inode, made in _unix_sockets("/proc/net/unix"):
        found[inode] = made
    return found


def snapshot(pid: int, known_sockets: dict[int, Socket]) -> ProcessInfo:
    """What /proc says of `pid` now; see the module for a process that exits meanwhile."""
    info = ProcessInfo(pid)
    base = f"/proc/{pid}"
    for read in (_status, _stat, _cmdline, _links, _fds, _limits, _namespaces, _cgroups, _env):
        try:
            read(base, info, known_sockets)
        except (FileNotFoundError, ProcessLookupError):
            info.gone = True
            break
        except (PermissionError, OSError, ValueError, IndexError):
            continue  # this part is unreadable (or odd); the rest may still be there
    return info


def credentials(pid: int | str) -> ProcessInfo:
    """Only what bounds a process (`corral security`): uids, gids, capability sets,
    seccomp mode, no_new_privs, umask and namespaces; cheap, no fds or sockets read.
    `pid` may be "self". OSError (ProcessLookupError) when it is gone."""
    info = ProcessInfo(os.getpid() if pid == "self" else int(pid))
    base = f"/proc/{pid}"
    _status(base, info, {})
    _namespaces(base, info, {})
    return info


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as source:
        return source.read()


def _status(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    for line in _read(f"{base}/status").splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "PPid":
            info.ppid = int(value)
        elif key == "State":
            info.state = value
        elif key == "Uid":
            info.uids = [int(part) for part in value.split()]
        elif key == "Gid":
            info.gids = [int(part) for part in value.split()]
        elif key == "Threads":
            info.threads = int(value)
        elif key in _CAPABILITY_KEYS:
            info.capabilities[key] = value
        elif key == "Seccomp":
            info.seccomp = _SECCOMP_MODES.get(value, value)
        elif key == "NoNewPrivs":
            info.no_new_privs = value == "1"
        elif key == "Umask":
            info.umask = int(value, 8)


def _stat(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    with contextlib.suppress(OSError):
        info.wchan = _read(f"{base}/wchan").strip()
    if info.wchan == "0":
        info.wchan = ""


def _cmdline(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    raw = _read(f"{base}/cmdline")
    info.cmdline = raw.rstrip("\0").split("\0") if raw else []


def _links(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    with contextlib.suppress(PermissionError):
        info.exe = os.readlink(f"{base}/exe")
    with contextlib.suppress(PermissionError):
        info.cwd = os.readlink(f"{base}/cwd")


def _fds(base: str, info: ProcessInfo, known_sockets: dict[int, Socket]) -> None:
    directory = f"{base}/fd"
    for entry in sorted(os.listdir(directory), key=int):
        try:
            target = os.readlink(f"{directory}/{entry}")
        except FileNotFoundError:
            continue  # closed between the listing and the read
        info.fds.append(_open_file(int(entry), target, known_sockets))


def _open_file(fd: int, target: str, known_sockets: dict[int, Socket]) -> OpenFile:
    if target.startswith("socket:["):
        made = known_sockets.get(int(target[8:-1]))
        shown = target if made is None else f"{made.protocol} {made.local}"
        return OpenFile(fd, shown, "socket", made)
    if target.startswith("pipe:["):
        return OpenFile(fd, target, "pipe")
    if target.startswith("anon_inode:"):
        return OpenFile(fd, target, "anon")
    if target.startswith("/dev/"):
        return OpenFile(fd, target, "device")
    if target.startswith("/"):
        return OpenFile(fd, target, "file")
    return OpenFile(fd, target, "other")


def _limits(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    lines = _read(f"{base}/limits").splitlines()
    for line in lines[1:]:  # "Limit  Soft Limit  Hard Limit  Units": columns at fixed places
        name, soft, hard = line[:26].strip(), line[26:47].strip(), line[47:68].strip()
        if name:
            info.limits[name] = (soft, hard)


def _namespaces(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    for name in sorted(os.listdir(f"{base}/ns")):
        with contextlib.suppress(OSError):
            info.namespaces[name] = os.readlink(f"{base}/ns/{name}")


def _cgroups(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    info.cgroups = [line for line in _read(f"{base}/cgroup").splitlines() if line]


def _env(base: str, info: ProcessInfo, _sockets: dict[int, Socket]) -> None:
    for item in _read(f"{base}/environ").split("\0"):
        name, sep, value = item.partition("=")
        if sep:
            info.environment[name] = value


def _rows(path: str, fields: int) -> Iterable[list[str]]:
    """The rows of a /proc/net table (its header skipped) with at least `fields` fields."""
    try:
        lines = _read(path).splitlines()[1:]
    except OSError:
        return
    for line in lines:
        parts = line.split()
        if len(parts) >= fields:
            yield parts


def _inet_sockets(path: str, protocol: str) -> Iterable[tuple[int, Socket]]:
    for parts in _rows(path, 10):
        local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
        listening = protocol.startswith("tcp") and state == _TCP_LISTEN
        peer = "" if remote.endswith(":0000") else _address(remote)  # not connected
        yield inode, Socket(protocol, _address(local), peer, listening)


def _unix_sockets(path: str) -> Iterable[tuple[int, Socket]]:
    for parts in _rows(path, 7):
        flags, inode = parts[3], int(parts[6])
        listening = int(flags, 16) & 0x10000 != 0  # __SO_ACCEPTCON
        yield inode, Socket("unix", parts[7] if len(parts) > 7 else "", "", listening)


def _address(hex_address: str) -> str:
    """ "0100007F:1F90" -> "127.0.0.1:8080"; IPv6 in /proc's four little-endian words."""
    host, _, port = hex_address.partition(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(raw[::-1])
        return f"{ip}:{int(port, 16)}"
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return f"[{ipaddress.IPv6Address(words)}]:{int(port, 16)}"
