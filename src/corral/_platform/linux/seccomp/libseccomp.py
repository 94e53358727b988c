"""The ctypes binding to libseccomp.so.2; no other module loads the library.

libseccomp (seccomp_init(3), seccomp_rule_add(3), seccomp_export_bpf(3)) turns a
default action plus per-syscall rules into a classic BPF program for the native
architecture: it checks the architecture word first (a call made through another
ABI, such as int 0x80 on x86_64, gets the "bad arch" action, which is kill), then
branches on the syscall number and, for rules with argument comparisons, on the
64-bit argument registers. We only build and export the program here; loading it
is a prctl(2) in the child (filter.py), so the child never calls into libseccomp.

Functions return a negative errno on failure (2.5+; older releases were looser),
which `_check` turns into an OSError. `seccomp_rule_add` is variadic and takes
`struct scmp_arg_cmp` by value, which ctypes cannot pass portably, so rules go
through `seccomp_rule_add_array`. Constants are from seccomp.h (libseccomp 2.5).
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from corral._platform import libc

SONAME = "libseccomp.so.2"

ACT_KILL_PROCESS = 0x80000000
"""Kill the whole process (kernel 4.14+)."""
ACT_KILL_THREAD = 0x00000000
"""Kill the calling thread only (every kernel with seccomp filters)."""
ACT_LOG = 0x7FFC0000
"""Allow the call and log it through audit (kernel 4.14+)."""
ACT_ALLOW = 0x7FFF0000
"""Allow the call."""
_ACT_ERRNO = 0x00050000

CMP_NE = 1
CMP_LT = 2
CMP_LE = 3
CMP_EQ = 4
CMP_GE = 5
CMP_GT = 6
CMP_MASKED_EQ = 7
"""(arg & datum_a) == datum_b."""

ATTR_ACT_BADARCH = 2
ATTR_CTL_NNP = 3

NR_SCMP_ERROR = -1
"""What the name resolvers return for a name libseccomp does not know at all."""


def act_errno(code: int) -> int:
    """The action "fail the call with errno `code`"."""
    return _ACT_ERRNO | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp: compare argument `arg` using `op` with datum_a (and datum_b)."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


@cache
def library() -> ctypes.CDLL:
    """libseccomp.so.2 with its signatures declared; OSError if it cannot be loaded."""
    lib = ctypes.CDLL(SONAME, use_errno=True)
    try:
        _declare_all(lib)
    except AttributeError as exc:  # a release older than the functions we call
        raise OSError(f"{SONAME} lacks a function: {exc}") from exc
    return lib


def _declare_all(lib: ctypes.CDLL) -> None:
    ctx = ctypes.c_void_p
    _declare(lib.seccomp_init, ctx, ctypes.c_uint32)
    _declare(lib.seccomp_release, None, ctx)
    _declare(lib.seccomp_attr_set, ctypes.c_int, ctx, ctypes.c_int, ctypes.c_uint32)
    _declare(
        lib.seccomp_rule_add_array,
        ctypes.c_int, ctx, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp),
    )  # fmt: skip
    _declare(lib.seccomp_export_bpf, ctypes.c_int, ctx, ctypes.c_int)
    _declare(lib.seccomp_syscall_resolve_name, ctypes.c_int, ctypes.c_char_p)
    _declare(lib.seccomp_syscall_resolve_num_arch, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int)
    _declare(lib.seccomp_arch_native, ctypes.c_uint32)
    _declare(lib.seccomp_version, ctypes.c_void_p)


def _declare(function: Any, restype: object, *argtypes: object) -> None:
    function.restype = restype
    function.argtypes = argtypes


def version() -> tuple[int, int, int]:
    """The (major, minor, micro) version of the loaded libseccomp."""
    raw = library().seccomp_version()
    major, minor, micro = ctypes.cast(raw, ctypes.POINTER(ctypes.c_uint * 3)).contents
    return (major, minor, micro)


def native_arch() -> int:
    """The token (AUDIT_ARCH_*) of this machine's architecture."""
    return int(library().seccomp_arch_native())


def resolve_name(name: str) -> int:
    """The native syscall number of `name`; negative when this architecture lacks it.

    libseccomp knows the names of every architecture: a name it knows that this one
    lacks resolves to a negative pseudo number; one it does not know at all to -1.
    """
    return int(library().seccomp_syscall_resolve_name(name.encode()))


def resolve_number(number: int) -> str | None:
    """The native name of syscall `number`, or None if there is none."""
    raw = library().seccomp_syscall_resolve_num_arch(native_arch(), number)
    if not raw:
        return None
    try:
        return ctypes.string_at(raw).decode()
    finally:
        libc.handle().free(ctypes.c_void_p(raw))  # the caller frees the string


class LibseccompError(OSError):
    """libseccomp refused a call (a negative errno); the message names the function."""


def _check(result: int, what: str) -> None:
    if result < 0:
        raise LibseccompError(-result, f"{what}: {os.strerror(-result)}")


class FilterContext:
    """One libseccomp filter context (scmp_filter_ctx); `release()` frees it."""

    __slots__ = ("_ctx",)

    def __init__(self, default_action: int) -> None:
        ctx = library().seccomp_init(default_action)
        if not ctx:
            raise LibseccompError(
                errno.EINVAL, f"seccomp_init: the action {default_action:#x} is not supported"
            )
        self._ctx: int | None = ctx

    def __enter__(self) -> FilterContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _handle(self) -> int:
        if self._ctx is None:
            raise ValueError("the seccomp filter context was released")
        return self._ctx

    def set_attribute(self, attribute: int, value: int) -> None:
        """seccomp_attr_set(3)."""
        _check(library().seccomp_attr_set(self._handle(), attribute, value), "seccomp_attr_set")

    def add_rule(
        self, action: int, number: int, comparisons: Sequence[tuple[int, int, int, int]] = ()
    ) -> None:
        """Add a rule: `action` for syscall `number` when every (arg, op, a, b) holds."""
        array = (ArgCmp * max(len(comparisons), 1))(*(ArgCmp(*c) for c in comparisons))
        result = library().seccomp_rule_add_array(
            self._handle(), action, number, len(comparisons), array
        )
        _check(result, f"seccomp_rule_add (syscall {number})")

    def export_bpf(self, fd: int) -> None:
        """Write the BPF program (an array of struct sock_filter) to `fd`."""
        _check(library().seccomp_export_bpf(self._handle(), fd), "seccomp_export_bpf")

    def release(self) -> None:
        """Free the context; further calls on it raise ValueError."""
        if self._ctx is not None:
            library().seccomp_release(self._ctx)
            self._ctx = None
