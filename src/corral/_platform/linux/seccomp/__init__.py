"""seccomp filters: the feature probe; the binding, names and filters live beside it.

Two things must hold: libseccomp.so.2 loads, release 2.4 or later (the first with
the log and kill-process actions; we compile filters with it), and the kernel has
seccomp (CONFIG_SECCOMP, shown as the "Seccomp:" line of
/proc/self/status, proc(5)) with filter mode (CONFIG_SECCOMP_FILTER). The
filter-mode probe is systemd's: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL)
fails with EFAULT (the program pointer is read first) where filters exist, and
with EINVAL where they do not; it never installs anything.
"""

from __future__ import annotations

from corral._platform.features import Feature, FeatureStatus

_STATUS = "/proc/self/status"
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_NEEDS_LIBRARY = "libseccomp 2.4+ (Debian and Ubuntu: apt install libseccomp2)"
_NEEDS_KERNEL = "a Linux kernel built with CONFIG_SECCOMP_FILTER (3.5+)"


def probe() -> FeatureStatus:
    """Whether seccomp filters can be built here (libseccomp) and loaded (kernel)."""
    from corral._platform.linux.seccomp import libseccomp

    try:
        libseccomp.library()
    except OSError as exc:
        return _missing(f"{libseccomp.SONAME} cannot be loaded ({exc})", _NEEDS_LIBRARY)
    found = libseccomp.version()
    if found < (2, 4, 0):
        return _missing(f"libseccomp is {'.'.join(map(str, found))}", _NEEDS_LIBRARY)
    if not _has_seccomp_line():
        return _missing(f"{_STATUS} has no Seccomp field: the kernel lacks seccomp", _NEEDS_KERNEL)
    if not _filter_mode():
        return _missing("the kernel has seccomp but not filter mode", _NEEDS_KERNEL)
    return FeatureStatus(feature=Feature.SECCOMP, supported=True)


def _filter_mode() -> bool:
    import ctypes
    import errno

    from corral._platform import libc

    result = libc.handle().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, None, 0, 0)
    return result == -1 and ctypes.get_errno() == errno.EFAULT


def _has_seccomp_line() -> bool:
    try:
        with open(_STATUS) as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


def _missing(reason: str, needs: str) -> FeatureStatus:
    return FeatureStatus(feature=Feature.SECCOMP, supported=False, reason=reason, needs=needs)
