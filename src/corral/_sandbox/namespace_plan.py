"""Namespaces -> the clone flags, parent-side hooks and child steps of one spawn.

Every option asks for the feature it needs first, so a kernel (or a process
without CAP_SYS_ADMIN) that cannot give it is an UnsupportedFeature naming it,
never a silent skip. The child is cloned straight into all its namespaces
(platform/linux/namespaces/unshare.py); while it waits at its gate, the parent
writes its uid/gid maps and creates the veth pair. Then the child runs, in the
"namespaces" phase and in this order:

    mount: make / rslave     nothing we mount propagates back to the host
    mount: bind root D       the new root becomes a mount point of its own
    mount: tmpfs on /tmp     inside the new root, when there is one
    mount: read-only P       the host's P, onto P inside the root (itself without one)
    mount: hide P            inside the root
    mount: proc              with a pid namespace: a /proc that shows it; before the
                             root moves (a user namespace may mount a proc only while
                             another one is fully visible)
    mount: root D            pivot_root (chroot where the kernel refuses it)
    sethostname
    net: lo up, then the veth's inner end: address, up
    pid 1: start the program with init: the rest runs in pid 2, pid 1 stays behind

Paths are as the program sees them: with `root`, /tmp, hidden paths and the
targets of read-only binds are inside the root, and the sources of read-only
binds are the host's paths (so root + read_only=("/usr",) lends it the host's /usr).
"""

from __future__ import annotations

import ipaddress
import os
from functools import partial

from corral._errors import InvalidSpec, UnsupportedFeature
from corral._platform import Feature, feature_status
from corral._platform.linux.namespaces import has_capability, set_hostname, unshare
from corral._platform.linux.namespaces import mounts as mnt
from corral._platform.linux.namespaces import network as net
from corral._sandbox.plan import Plan
from corral._sandbox.spec import Namespaces, Veth

INNER_INTERFACE = "eth0"
"""The name of the veth's inner end, inside the namespace."""

_CAP_NET_ADMIN = 12
_CAP_SYS_ADMIN = 21


def plan_namespaces(spec: Namespaces, plan: Plan) -> None:
    """Set `plan.forker` to clone into the namespaces `spec` asks for, and add their steps."""
    flags = _flags(spec)
    _require(spec, flags)
    if flags:
        plan.forker = unshare.clone_forker(flags)
    summary: dict[str, object] = {"kinds": [n for f, n in unshare.FLAG_NAMES.items() if flags & f]}
    if spec.user:
        plan.after_fork.append(partial(unshare.write_id_maps, uid=os.geteuid(), gid=os.getegid()))
    if flags & unshare.CLONE_NEWNS:
        _plan_mounts(spec, plan, summary)
    if spec.hostname is not None:
        plan.add("namespaces", "sethostname", partial(set_hostname, spec.hostname))
        summary["hostname"] = spec.hostname
    if spec.net:
        plan.add("namespaces", "net: lo up", partial(net.set_up, "lo"))
    if spec.veth is not None:
        summary["veth"] = _plan_veth(spec.veth, plan)
    if spec.init:
        from corral._platform.linux.namespaces.pid1 import become_init

        plan.add("namespaces", "pid 1: start the program", become_init)
    summary["init"] = spec.init
    plan.limits["namespaces"] = summary


def _flags(spec: Namespaces) -> int:
    wanted = {
        unshare.CLONE_NEWUSER: spec.user,
        unshare.CLONE_NEWPID: spec.pid,
        unshare.CLONE_NEWNET: spec.net,
        unshare.CLONE_NEWNS: spec.needs_mount_namespace,
        unshare.CLONE_NEWUTS: spec.hostname is not None,
        unshare.CLONE_NEWIPC: spec.ipc,
    }
    return sum(flag for flag, on in wanted.items() if on)


_FEATURES = {
    unshare.CLONE_NEWUSER: Feature.NS_USER, unshare.CLONE_NEWPID: Feature.NS_PID,
    unshare.CLONE_NEWNET: Feature.NS_NET, unshare.CLONE_NEWNS: Feature.NS_MOUNT,
    unshare.CLONE_NEWUTS: Feature.NS_UTS, unshare.CLONE_NEWIPC: Feature.NS_IPC,
}  # fmt: skip


def _require(spec: Namespaces, flags: int) -> None:
    for flag, feature in _FEATURES.items():
        if flags & flag:
            feature_status(feature).require()
    if flags and not spec.user and not has_capability(_CAP_SYS_ADMIN):
        first = next(f for flag, f in _FEATURES.items() if flags & flag)
        raise UnsupportedFeature(
            first.value,
            reason="creating a namespace needs CAP_SYS_ADMIN, which corral does not have",
            needs="running corral as root, or namespaces.user = true",
        )
    if spec.veth is not None and not has_capability(_CAP_NET_ADMIN):
        raise UnsupportedFeature(
            "veth",
            reason="creating a veth pair needs CAP_NET_ADMIN on the host",
            needs="running corral as root (or with CAP_NET_ADMIN)",
        )


def _plan_mounts(spec: Namespaces, plan: Plan, summary: dict[str, object]) -> None:
    root = spec.root.rstrip("/") if spec.root is not None else ""
    plan.add("namespaces", "mount: make / rslave", mnt.make_slave)
    if spec.root is not None:
        plan.add("namespaces", f"mount: bind root {spec.root}", partial(mnt.bind_root, spec.root))
    if spec.private_tmp:
        plan.add("namespaces", "mount: tmpfs on /tmp", partial(mnt.mount_tmpfs, root + "/tmp"))
    for path in spec.read_only:
        step = partial(mnt.bind, path, root + path, read_only=True)
        plan.add("namespaces", f"mount: read-only {path}", step)
    for path in spec.hidden:
        plan.add("namespaces", f"mount: hide {path}", partial(mnt.hide, root + path))
    if spec.pid:
        plan.add("namespaces", "mount: proc", partial(mnt.mount_proc, root))
    if spec.root is not None:
        plan.add("namespaces", f"mount: root {spec.root}", partial(mnt.enter_root, spec.root))
    summary.update(
        private_tmp=spec.private_tmp, read_only=list(spec.read_only), hidden=list(spec.hidden),
        root=spec.root,
    )  # fmt: skip


def _plan_veth(veth: Veth, plan: Plan) -> dict[str, object]:
    host_address = _interface(veth.host_address, "host_address")
    inner_address = _interface(veth.inner_address, "inner_address")
    if host_address.version != inner_address.version:
        raise InvalidSpec("veth host_address and inner_address must both be IPv4 or both IPv6")
    summary: dict[str, object] = {
        "host_address": veth.host_address, "inner_address": veth.inner_address,
        "inner_interface": INNER_INTERFACE,
    }  # fmt: skip
    created: list[tuple[int, str]] = []

    def create(pid: int) -> None:
        name = f"crv{pid}"
        created.append((net.create_veth(name, INNER_INTERFACE, pid), name))
        summary["host_interface"] = name
        net.set_address(name, host_address)
        net.set_up(name)

    def remove() -> None:
        while created:
            net.delete_link(*created.pop())

    plan.after_fork.append(create)
    plan.cleanup.append(remove)
    step = partial(net.set_address, INNER_INTERFACE, inner_address)
    plan.add("namespaces", f"net: {INNER_INTERFACE} address {veth.inner_address}", step)
    plan.add("namespaces", f"net: {INNER_INTERFACE} up", partial(net.set_up, INNER_INTERFACE))
    return summary


def _interface(text: str, key: str) -> net.Interface:
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise InvalidSpec(f"veth {key} must be an address/prefix, got {text!r}") from None
