"""Named seccomp presets, as data: each syscall with the one-line reason it is there.

A deny preset (for `Seccomp(default="allow")`) lists what a program should never
do; an allow preset (for `default="deny"`) lists what a program needs to start.
A preset may name syscalls of any architecture: one this machine lacks (umount
on x86_64, iopl on arm64) is skipped when the filter is built, and the plan's
summary lists it as skipped.

Why these: they follow what container runtimes found safe to deny for ordinary
programs (Docker's and systemd's default filters), cut down to calls no service
should need, so that "service-default" can be switched on without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from corral._platform.linux.seccomp.filter import ArgCompare

_AF_UNIX = 1


@dataclass(frozen=True, slots=True)
class Rule:
    """One syscall in a preset, and when arguments are tested, only for those values."""

    syscall: str
    why: str
    args: tuple[ArgCompare, ...] = ()
    """All must hold for the rule to match (e.g. socket's family is not AF_UNIX)."""


@dataclass(frozen=True, slots=True)
class Preset:
    """A named set of rules for one filter mode."""

    name: str
    mode: Literal["deny", "allow"]
    """deny: for `default="allow"` (these are denied); allow: for `default="deny"`."""
    summary: str
    rules: tuple[Rule, ...]

    @property
    def syscalls(self) -> tuple[str, ...]:
        """The syscall names of the rules, in order, without repeats."""
        return tuple(dict.fromkeys(rule.syscall for rule in self.rules))


_NO_NETWORK = (
    Rule("socket", "every socket family but AF_UNIX: inet, inet6, packet, netlink, vsock, ...",
         (ArgCompare(0, "ne", _AF_UNIX),)),
    Rule("io_uring_setup", "io_uring opens sockets (IORING_OP_SOCKET) without calling socket()"),
)  # fmt: skip

_NO_PTRACE = (
    Rule("ptrace", "attach to, read and write other processes"),
    Rule("process_vm_readv", "read another process's memory without ptrace"),
    Rule("process_vm_writev", "write another process's memory without ptrace"),
    Rule("pidfd_getfd", "steal a file descriptor from another process (ptrace access)"),
)

_NO_KERNEL_MODULES = (
    Rule("init_module", "load a kernel module from memory"),
    Rule("finit_module", "load a kernel module from a file"),
    Rule("delete_module", "unload a kernel module"),
)

_NO_MOUNT = (
    Rule("mount", "mount filesystems, make bind mounts, change propagation"),
    Rule("umount", "unmount (architectures that still have it)"),
    Rule("umount2", "unmount"),
    Rule("pivot_root", "change the root mount"),
    Rule("fsopen", "the new mount API (Linux 5.2): open a filesystem context"),
    Rule("fsconfig", "the new mount API: configure a filesystem context"),
    Rule("fsmount", "the new mount API: create a mount from a context"),
    Rule("fspick", "the new mount API: reconfigure an existing mount"),
    Rule("move_mount", "the new mount API: attach or move a mount"),
    Rule("open_tree", "the new mount API: clone a mount tree"),
    Rule("mount_setattr", "change mount attributes (read-only, idmapped)"),
)

_SYSTEM_ADMIN = (
    Rule("reboot", "reboot or power off the machine, enable ctrl-alt-del"),
    Rule("kexec_load", "replace the running kernel"),
    Rule("kexec_file_load", "replace the running kernel from a file"),
    Rule("swapon", "enable swap devices"),
    Rule("swapoff", "disable swap devices"),
    Rule("bpf", "load eBPF programs: a large kernel attack surface"),
    Rule("perf_event_open", "profile the kernel and other processes; a frequent exploit path"),
    Rule("userfaultfd", "handle page faults in user space; used to win kernel races"),
    Rule("keyctl", "the kernel keyring, which is not namespaced"),
    Rule("add_key", "add a key to the kernel keyring"),
    Rule("request_key", "ask the kernel keyring for a key"),
    Rule("acct", "switch process accounting on or off for the machine"),
    Rule("settimeofday", "set the system clock"),
    Rule("clock_settime", "set a system clock"),
    Rule("clock_adjtime", "adjust a system clock"),
    Rule("adjtimex", "adjust the system clock (NTP discipline)"),
    Rule("iopl", "raise the I/O privilege level (x86)"),
    Rule("ioperm", "access raw I/O ports (x86)"),
    Rule("open_by_handle_at", "open files by handle, bypassing path checks (a container escape)"),
    Rule("lookup_dcookie", "resolve profiling cookies to paths"),
    Rule("syslog", "read or clear the kernel log buffer"),
    Rule("quotactl", "change disk quotas"),
    Rule("sethostname", "set the machine's hostname"),
    Rule("setdomainname", "set the machine's NIS domain name"),
    Rule("vhangup", "hang up the controlling terminal of every process on it"),
    Rule("uselib", "load a shared library the pre-ELF way (obsolete)"),
    Rule("_sysctl", "the removed binary sysctl interface (obsolete)"),
    Rule("nfsservctl", "the removed NFS server control call (obsolete)"),
)

_MINIMAL_EXEC = (
    Rule("execve", "replace the process image (corral adds it to every allow-list anyway)"),
    Rule("exit_group", "end the process (corral adds it to every allow-list anyway)"),
    Rule("exit", "end a thread (corral adds it to every allow-list anyway)"),
    Rule("brk", "grow the heap: the loader and malloc"),
    Rule("mmap", "map libraries and anonymous memory"),
    Rule("munmap", "unmap memory"),
    Rule("mprotect", "make relocated library pages read-only"),
    Rule("access", "the loader checks /etc/ld.so.preload"),
    Rule("openat", "open ld.so.cache and the shared libraries"),
    Rule("newfstatat", "size a library before mapping it (glibc 2.33+)"),
    Rule("fstat", "size a library before mapping it (older glibc)"),
    Rule("read", "read a library's ELF header"),
    Rule("pread64", "read a library's program headers"),
    Rule("close", "close each library after mapping it"),
    Rule("arch_prctl", "set the thread pointer (x86_64)"),
    Rule("set_tid_address", "glibc's thread setup"),
    Rule("set_robust_list", "glibc's thread setup (robust futexes)"),
    Rule("rseq", "glibc 2.35+ registers restartable sequences"),
    Rule("prlimit64", "glibc reads the stack limit"),
)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("no-network", "deny", "no sockets but AF_UNIX ones", _NO_NETWORK),
        Preset("no-ptrace", "deny", "no access to other processes' memory", _NO_PTRACE),
        Preset("no-kernel-modules", "deny", "no loading or unloading of kernel modules",
               _NO_KERNEL_MODULES),
        Preset("no-mount", "deny", "no mounting, unmounting or root changes", _NO_MOUNT),
        Preset("service-default", "deny",
               "a conservative deny-list for services: what no ordinary service needs",
               _NO_PTRACE + _NO_KERNEL_MODULES + _NO_MOUNT + _SYSTEM_ADMIN),
        Preset("minimal-exec", "allow",
               "what a dynamically linked program needs to start and exit (found by tracing "
               "/bin/true under glibc 2.36); add what the program itself does",
               _MINIMAL_EXEC),
    )
}  # fmt: skip
"""Every preset by name."""
