"""Linux namespaces (namespaces(7)): whether this kernel can give each kind, and to whom.

A namespace kind exists when the kernel was built with it, which shows as
/proc/self/ns/<kind>. Creating one needs CAP_SYS_ADMIN (CAP_SYS_ADMIN in the
user namespace that will own it), so a process without it can have the others
only inside a new user namespace of its own (user_namespaces(7)). User
namespaces may be switched off or capped: user.max_user_namespaces = 0 stops
them for everyone, Debian's kernel.unprivileged_userns_clone = 0 and Ubuntu's
kernel.apparmor_restrict_unprivileged_userns = 1 for everyone but root.

Namespaces are created with clone(2) (unshare.py), whose number we must know
for this machine, so an unknown architecture is reported here too.
"""

from __future__ import annotations

import os
import socket

from corral._platform.features import Feature, FeatureStatus

KINDS: dict[Feature, str] = {
    Feature.NS_PID: "pid",
    Feature.NS_NET: "net",
    Feature.NS_MOUNT: "mnt",
    Feature.NS_UTS: "uts",
    Feature.NS_IPC: "ipc",
    Feature.NS_USER: "user",
}
"""Each namespace feature and its name under /proc/self/ns."""

_CONFIG = {"pid": "PID_NS", "net": "NET_NS", "mnt": "NAMESPACES", "uts": "UTS_NS",
           "ipc": "IPC_NS", "user": "USER_NS"}  # fmt: skip
_CAP_SYS_ADMIN = 21


def probe(feature: Feature) -> FeatureStatus:
    """Whether this kernel, and this process, can create a namespace of `feature`'s kind."""
    from corral._platform.linux.namespaces.unshare import clone_number

    kind = KINDS[feature]
    if clone_number() is None:
        machine = os.uname().machine
        return _missing(
            feature,
            f"the clone syscall number is unknown on {machine}",
            "x86_64, aarch64, riscv64, armv7l, i686 or ppc64le",
        )
    if not os.path.exists(f"/proc/self/ns/{kind}"):
        return _missing(
            feature,
            f"/proc/self/ns/{kind} is missing",
            f"a kernel built with CONFIG_{_CONFIG[kind]}",
        )
    if feature is Feature.NS_USER:
        return _probe_user()
    if not has_capability(_CAP_SYS_ADMIN) and not _probe_user().supported:
        return _missing(
            feature,
            "corral has no CAP_SYS_ADMIN and user namespaces are off",
            "running corral as root, or user namespaces (namespaces.user)",
        )
    return FeatureStatus(feature=feature, supported=True)


def has_capability(number: int) -> bool:
    """Whether this process has capability `number` in its effective set."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return bool(int(line.split()[1], 16) >> number & 1)
    except OSError:
        pass
    return False


def set_hostname(name: str) -> None:
    """sethostname(2): in a new uts namespace, the hostname only its members see."""
    socket.sethostname(name)


def _probe_user() -> FeatureStatus:
    feature = Feature.NS_USER
    limit = _read_int("/proc/sys/user/max_user_namespaces")
    if limit == 0:
        return _missing(
            feature, "user.max_user_namespaces is 0", "sysctl user.max_user_namespaces above 0"
        )
    if os.geteuid() == 0:
        return FeatureStatus(feature=feature, supported=True)
    if _read_int("/proc/sys/kernel/unprivileged_userns_clone") == 0:
        return _missing(
            feature,
            "kernel.unprivileged_userns_clone is 0 and corral is not root",
            "sysctl kernel.unprivileged_userns_clone=1, or running as root",
        )
    if _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1:
        return _missing(
            feature,
            "AppArmor restricts unprivileged user namespaces",
            "sysctl kernel.apparmor_restrict_unprivileged_userns=0, or root",
        )
    return FeatureStatus(feature=feature, supported=True)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _missing(feature: Feature, reason: str, needs: str) -> FeatureStatus:
    return FeatureStatus(feature=feature, supported=False, reason=reason, needs=needs)
