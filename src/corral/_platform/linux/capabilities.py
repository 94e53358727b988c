"""Linux capabilities (capabilities(7)): names, and keeping only a chosen set.

A process has five sets: bounding (what can ever be gained), permitted,
effective, inheritable and ambient. To keep only `keep` across exec and a uid
change: drop every other capability from the bounding set (prctl
PR_CAPBSET_DROP), set permitted = effective = inheritable = keep (capset(2)),
raise each kept one into the ambient set (PR_CAP_AMBIENT_RAISE, Linux 4.3) so a
non-root program still has it after exec, and set PR_SET_KEEPCAPS before a uid
change so permitted survives setuid.
"""

from __future__ import annotations

import ctypes
import errno
import os

from corral._platform import libc

NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
"""Capability names in number order (CAP_CHOWN is 0)."""

NUMBERS: dict[str, int] = {name: number for number, name in enumerate(NAMES)}

_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_KEEPCAPS = 8
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "i686": 185}


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def drop_bounding(keep: frozenset[int]) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP)."""
    c = libc.handle()
    for number in range(last_cap() + 1):
        if number not in keep and c.prctl(_PR_CAPBSET_READ, number, 0, 0, 0) == 1:
            libc.check(c.prctl(_PR_CAPBSET_DROP, number, 0, 0, 0), "PR_CAPBSET_DROP")


def set_process_sets(keep: frozenset[int]) -> None:
    """permitted = effective = inheritable = keep, and ambient = keep (after any setuid)."""
    c = libc.handle()
    mask = sum(1 << n for n in keep)
    data = (_Data * 2)()
    for index in (0, 1):
        part = (mask >> (32 * index)) & 0xFFFFFFFF
        data[index].effective = data[index].permitted = data[index].inheritable = part
    header = _Header(_CAPABILITY_VERSION_3, 0)
    libc.check(c.syscall(_capset_number(), ctypes.byref(header), data), "capset")
    libc.check(c.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient clear")
    for number in sorted(keep):
        libc.check(c.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, number, 0, 0), "ambient")


def keep_across_setuid() -> None:
    """PR_SET_KEEPCAPS: permitted capabilities survive the coming setuid."""
    libc.check(libc.handle().prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS")


def _capset_number() -> int:
    machine = os.uname().machine
    try:
        return _SYS_CAPSET[machine]
    except KeyError:
        raise OSError(errno.ENOSYS, f"capset syscall number unknown on {machine}") from None
