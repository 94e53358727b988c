"""Print one JSON line describing the namespaces this process sees, then exit 0.

Usage: report_ns.py [--zombie] [--write PATH ...] [--read PATH ...] [--connect HOST:PORT]
Keys: pid, ppid, uid, gid, uid_map, hostname, ns (the /proc/self/ns inode of each
kind), interfaces ({name: up?}, from if_nameindex, which asks this network
namespace), cwd, tmp_dev (st_dev of /tmp), proc_pids (pids listed in /proc), each
null where the file is missing (a bare root),
writes ({path: "ok" or the errno name}), reads ({path: sorted entries of a
directory, the text of a file, or the errno name}), connect ("sent" once a line
went to HOST:PORT, or the errno name), zombie (with --zombie: the pid of a grandchild orphaned to
pid 1, and whether it is still listed once its parent is gone).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import struct
import sys
import time

_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1
_ZOMBIE_DEADLINE = 30.0


def main() -> None:
    args = sys.argv[1:]
    report: dict[str, object] = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "uid_map": _text("/proc/self/uid_map"),
        "hostname": socket.gethostname(),
        "ns": {kind: _inode(kind) for kind in ("pid", "net", "mnt", "uts", "ipc", "user")},
        "interfaces": {name: _is_up(name) for _, name in socket.if_nameindex()},
        "cwd": os.getcwd(),
        "tmp_dev": _st_dev("/tmp"),
        "proc_pids": _pids(),
        "writes": {path: _try_write(path) for path in _values(args, "--write")},
        "reads": {path: _try_read(path) for path in _values(args, "--read")},
    }
    for target in _values(args, "--connect"):
        report["connect"] = _connect(target)
    if "--zombie" in args:
        report["zombie"] = _orphan_a_zombie()
    print(json.dumps(report), flush=True)


def _values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def _inode(kind: str) -> int | None:
    try:
        return os.stat(f"/proc/self/ns/{kind}").st_ino
    except OSError:
        return None


def _st_dev(path: str) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def _pids() -> list[int] | None:
    try:
        return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        return None


def _text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _is_up(name: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh22x", name.encode(), 0)
        flags = struct.unpack_from("16sh", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
    return bool(flags & _IFF_UP)


def _try_write(path: str) -> str:
    try:
        with open(path, "w") as f:
            f.write("written from inside\n")
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


def _try_read(path: str) -> object:
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))


def _connect(target: str) -> str:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"hello from inside\n")
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return "sent"


def _orphan_a_zombie() -> dict[str, object]:
    """Fork a child that forks a grandchild and exits; the grandchild exits at once too.

    The grandchild is orphaned to pid 1 of the namespace; it is reaped only if pid 1
    reaps. Wait (bounded) until /proc no longer lists it, and report whether it went.
    """
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        grandchild = os.fork()
        if grandchild == 0:
            os._exit(0)
        os.write(write, f"{grandchild}\n".encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        grandchild = int(pipe.readline())
    os.waitpid(child, 0)
    deadline = time.monotonic() + _ZOMBIE_DEADLINE
    while os.path.exists(f"/proc/{grandchild}") and time.monotonic() < deadline:
        time.sleep(0.01)  # only pid 1 can reap it; poll /proc, bounded
    return {"pid": grandchild, "reaped": not os.path.exists(f"/proc/{grandchild}")}


if __name__ == "__main__":
    main()
