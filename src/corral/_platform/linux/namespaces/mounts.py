"""Mounts inside a new mount namespace: private /tmp, read-only binds, hidden paths, a root.

Each function here is a child step: it runs after clone(CLONE_NEWNS), in the
child, before exec. A new mount namespace starts as a copy of ours, and with
shared propagation (the systemd default) a mount made in it would appear on the
host too, so the first step marks every mount a slave (MS_REC | MS_SLAVE): host
mounts still propagate in, ours never propagate out (mount_namespaces(7)). The
mounts then live exactly as long as the namespace, with no cleanup.

A bind mount starts with its source's flags; MS_RDONLY needs a second mount
call with MS_REMOUNT | MS_BIND, which applies to one mount only, so every mount
below the path is remounted too (mount_setattr(2) with AT_RECURSIVE would do it
in one call from Linux 5.12). In a namespace owned by a user namespace the flags
nosuid, nodev, noexec and the atime ones of a mount copied from the host are
locked: a remount that drops one fails with EPERM, so each remount keeps them.

A new root: pivot_root(2) with new and old root both ".", then a lazy unmount
of the old root, leaves nothing of the host's tree reachable (a chroot can be
escaped by a root process). The kernel refuses pivot_root when the current root
is the initramfs rootfs (EINVAL); there chroot(2) is what remains.
"""

from __future__ import annotations

import ctypes
import errno
import os

from corral._platform import libc

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 0x80000
MS_RELATIME = 0x200000
_MNT_DETACH = 0x2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "armv7l": 218, "i686": 217,
                   "ppc64le": 203}  # fmt: skip
_LOCKED = (  # statvfs flag -> mount flag, for the flags a remount must keep
    (os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME),
)  # fmt: skip


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2); raises OSError naming the target."""
    result = libc.handle().mount(
        None if source is None else os.fsencode(source),
        os.fsencode(target),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(result, f"mount on {target}")


def make_slave() -> None:
    """Mark every mount a slave: host mounts still propagate in, ours never leak out."""
    mount(None, "/", None, MS_REC | MS_SLAVE)


def mount_tmpfs(target: str, *, mode: int = 0o1777, read_only: bool = False) -> None:
    """A fresh, empty tmpfs on `target` (nosuid, nodev)."""
    flags = MS_NOSUID | MS_NODEV | (MS_RDONLY | MS_NOEXEC if read_only else 0)
    mount("tmpfs", target, "tmpfs", flags, f"mode={mode:o}")


def bind(source: str, target: str, *, read_only: bool) -> None:
    """Bind `source` (with the mounts below it) onto `target`; read-only all the way down."""
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        for point in mounts_under(target):
            mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(point))


def hide(path: str) -> None:
    """Cover `path`: an empty read-only tmpfs on a directory, /dev/null on anything else."""
    if os.path.isdir(path):
        mount_tmpfs(path, mode=0, read_only=True)
    else:
        bind(os.devnull, path, read_only=True)


def bind_root(root: str) -> None:
    """Make `root` a mount point of its own (pivot_root needs one); later mounts go on it."""
    mount(root, root, None, MS_BIND | MS_REC)


def enter_root(root: str) -> None:
    """Make `root` the root directory; the working directory is kept if it is inside."""
    inside = _inside(os.getcwd(), root)
    os.chdir(root)
    try:
        _pivot_root(".", ".")
        umount(".", _MNT_DETACH)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        os.chroot(".")
    os.chdir(inside)


def mount_proc(root: str = "") -> None:
    """A procfs on `root`/proc that shows the caller's pid namespace (its pid 1 first).

    In a user namespace the kernel allows it only while a proc is fully visible in
    the mount namespace, so it comes before the root moves (mount_too_revealing).
    """
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def umount(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    _check(libc.handle().umount2(os.fsencode(target), flags), f"umount {target}")


def mounts_under(path: str) -> list[str]:
    """Mount points at or below `path`, parents first, from /proc/self/mountinfo.

    mountinfo lists mounts in no promised order (here /proc comes before /).
    """
    prefix = path.rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = _unescape(line.split(b" ", 5)[4])
            if point == path or point.startswith(prefix):
                found.append(point)
    return sorted(found, key=len) or [path]  # a parent's path is shorter than its children's


def _locked_flags(point: str) -> int:
    flags = os.statvfs(point).f_flag
    return sum(mount_flag for stat_flag, mount_flag in _LOCKED if flags & stat_flag)


def _inside(cwd: str, root: str) -> str:
    relative = os.path.relpath(cwd, root)
    return "/" if relative == ".." or relative.startswith("../") else os.path.join("/", relative)


def _pivot_root(new_root: str, put_old: str) -> None:
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(errno.EINVAL, "pivot_root number unknown here")  # chroot instead
    result = libc.handle().syscall(number, new_root.encode(), put_old.encode())
    _check(result, "pivot_root")


def _unescape(raw: bytes) -> str:
    # mountinfo writes space, tab, newline and backslash as \ooo octal escapes.
    parts = raw.split(b"\\")
    out = bytearray(parts[0])
    for part in parts[1:]:
        out.append(int(part[:3], 8))
        out += part[3:]
    return os.fsdecode(bytes(out))


def _check(result: int, what: str) -> None:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), what)
