"""Where the cgroup hierarchies are, where our own cgroup is in each, and our directories.

/proc/self/mountinfo (proc(5)) lists every mounted hierarchy: file system type
`cgroup2` is the unified (v2) hierarchy; type `cgroup` is a v1 hierarchy whose
super options name the controllers bound to it ("rw,cpu,cpuacct"; a named
hierarchy such as "name=systemd" has none). /proc/self/cgroup (cgroups(7)) says
which cgroup we are in, per hierarchy: "4:memory:/a/b" (v1), "0::/a/b" (v2),
relative to the hierarchy's root, which the mount's own root may hide part of
(a container's bind mount). A "hybrid" layout has both: v1 controllers, plus a
v2 tree with no controllers.

corral only ever creates cgroups beneath its own, under one directory per corral
process, `corral.<pid>`, holding one cgroup per spawned instance; it removes each
instance when the instance ends, and `corral.<pid>` when it is left empty.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from corral._platform.linux.cgroups.driver import (
    CgroupStepFailed,
    Members,
    kill_until_empty,
    wait_for,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@+-]")
_REMOVE_ATTEMPTS = 3
_CREATE_ATTEMPTS = 3
"""Creating an instance retries when a release thread (which runs off the daemon's loop)
removed the emptied corral.<pid> between our mkdir of it and of the instance: no lock,
so the loop never waits for that thread."""


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """One mounted cgroup hierarchy and our own cgroup in it."""

    version: Literal[1, 2]
    mount: str
    """Where it is mounted, e.g. /sys/fs/cgroup/memory."""
    controllers: frozenset[str]
    """v1: the controllers bound to it; v2: those offered to our cgroup (cgroup.controllers)."""
    own: str
    """The directory of the cgroup we are in."""

    @property
    def is_root(self) -> bool:
        """Whether our cgroup is the hierarchy's root (v2: no "no internal processes" rule)."""
        return self.own == self.mount

    def __repr__(self) -> str:
        kind = "v2" if self.version == 2 else f"v1 {','.join(sorted(self.controllers))}"
        return f"<Hierarchy {kind} own={self.own}>"


def hierarchies() -> list[Hierarchy]:
    """Every cgroup hierarchy mounted here in which we can locate our own cgroup."""
    own = own_cgroups()
    found: list[Hierarchy] = []
    seen: set[str] = set()
    for mount, root, fstype, options in _cgroup_mounts():
        key = "" if fstype == "cgroup2" else _v1_key(options, own)
        if key is None or key in seen or key not in own:
            continue
        directory = _own_directory(mount, root, own[key])
        if directory is None:
            continue
        seen.add(key)
        if fstype == "cgroup2":
            offered = frozenset(
                (_read(os.path.join(directory, "cgroup.controllers")) or "").split()
            )
            found.append(Hierarchy(2, mount, offered, directory))
        elif key and not key.startswith("name="):
            found.append(Hierarchy(1, mount, frozenset(key.split(",")), directory))
    return found


def own_cgroups() -> dict[str, str]:
    """Our cgroup per hierarchy from /proc/self/cgroup: controllers ("" for v2) -> path."""
    found: dict[str, str] = {}
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            found[",".join(sorted(parts[1].split(","))) if parts[1] else ""] = parts[2]
    return found


def _cgroup_mounts() -> list[tuple[str, str, str, str]]:
    """(mount point, mount root, fs type, super options) of each cgroup mount."""
    found = []
    for line in (_read("/proc/self/mountinfo") or "").splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            found.append((_unescape(fields[4]), _unescape(fields[3]), tail[0], tail[2]))
    return found


def _v1_key(options: str, own: dict[str, str]) -> str | None:
    """The /proc/self/cgroup key ("cpu,cpuacct", "name=systemd") a v1 mount serves."""
    flags = set(options.split(","))
    return next((key for key in own if key and set(key.split(",")) <= flags), None)


def _own_directory(mount: str, root: str, path: str) -> str | None:
    """Our cgroup's directory under `mount`, or None if the mount does not show it."""
    if root not in ("/", path) and not path.startswith(root.rstrip("/") + "/"):
        return None
    inside = path[len(root) :] if root != "/" else path
    directory = os.path.normpath(mount + "/" + inside.lstrip("/"))
    return directory if os.path.isdir(directory) else None


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


# -- our directories ---------------------------------------------------------------


def parent_name() -> str:
    """The directory holding this corral process's cgroups: corral.<pid>."""
    return f"corral.{os.getpid()}"


def instance_name(label: str) -> str:
    """A safe directory name for an instance labelled `label` (unique per spawn)."""
    name = _UNSAFE.sub("_", label).lstrip(".") or "instance"
    return name[:200]


def make_parent(hierarchy: Hierarchy) -> str:
    """Create (if needed) and return corral.<pid> beneath our own cgroup."""
    parent = os.path.join(hierarchy.own, parent_name())
    try:
        os.mkdir(parent)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _failed("create", parent, exc) from exc
    return parent


def make_instance(
    hierarchy: Hierarchy, name: str, prepare: Callable[[str], None] | None = None
) -> str:
    """Create corral.<pid>/<name> beneath our own cgroup and return its directory.

    `prepare` runs on corral.<pid> first (v2 enables controllers there).
    """
    for attempt in range(_CREATE_ATTEMPTS):
        parent = make_parent(hierarchy)
        directory = os.path.join(parent, name)
        try:
            if prepare is not None:
                prepare(parent)
            os.mkdir(directory)
        except OSError as exc:
            if attempt + 1 < _CREATE_ATTEMPTS and not os.path.isdir(parent):
                continue  # a release thread removed the emptied corral.<pid> meanwhile
            with contextlib.suppress(OSError):
                os.rmdir(parent)  # only if we just made it and nothing else is there
            if isinstance(exc, CgroupStepFailed):
                raise
            raise _failed("create", directory, exc) from exc
        return directory
    raise AssertionError("unreachable: the last attempt returns or raises")


def remove_instance(directory: str) -> None:
    """Remove an instance (members must be gone), then corral.<pid> if it is now empty."""
    remove_tree(directory)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(directory))  # ENOTEMPTY/EBUSY: other instances remain


def remove_when_empty(cgroup: Members, directories: Sequence[str]) -> None:
    """rmdir each directory (deepest first), killing members first; EBUSY is retried."""
    for attempt in range(_REMOVE_ATTEMPTS):
        if cgroup.members():
            kill_until_empty(cgroup)
        try:
            for directory in directories:
                remove_instance(directory)
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or attempt == _REMOVE_ATTEMPTS - 1:
                raise
            wait_for(lambda: not cgroup.members(), 1.0)


def remove_tree(directory: str) -> None:
    """rmdir `directory` and any sub-cgroups a member made, deepest first."""
    for here, _, _ in sorted(os.walk(directory), key=lambda entry: -len(entry[0])):
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(here)


def join(procs_file: str) -> None:
    """Move the calling process into the cgroup of `procs_file`.

    Runs in the child between fork and exec: only os calls. Writing "0" means
    "the writer", which also holds inside a new pid namespace.
    """
    fd = os.open(procs_file, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)


def _failed(action: str, path: str, exc: OSError) -> CgroupStepFailed:
    code = exc.errno or errno.EIO
    detail = (exc.strerror or str(exc)).lower()
    return CgroupStepFailed(f"cgroup: {action} {path}", code, detail)
