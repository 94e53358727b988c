"""Users and groups: name/id lookup, and the switch done in the child before exec.

Order matters (credentials(7)): supplementary groups and the gid are set while
we still have the privilege to, then the uid last; a failure names the step.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    """A resolved identity: uid, primary gid, supplementary gids, and the user's name."""

    uid: int | None
    gid: int | None
    groups: tuple[int, ...] | None


def user_names() -> list[str]:
    """Every user name in the user database (for "did you mean")."""
    return [entry.pw_name for entry in pwd.getpwall()]


def group_names() -> list[str]:
    """Every group name in the group database."""
    return [entry.gr_name for entry in grp.getgrall()]


def lookup_user(user: str | int) -> pwd.struct_passwd | None:
    """The passwd entry of a name or uid, or None (a name with a NUL byte names no one)."""
    try:
        return pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    except (KeyError, ValueError):
        return None


def lookup_group(group: str | int) -> int | None:
    """The gid of a group name or number, or None (a number is taken as it is)."""
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except (KeyError, ValueError):  # ValueError: a NUL byte in the name
        return None


def groups_of(name: str, gid: int) -> tuple[int, ...]:
    """The supplementary groups `name` belongs to (like initgroups)."""
    return tuple(os.getgrouplist(name, gid))


def set_groups(groups: tuple[int, ...]) -> None:
    """setgroups(2) in the child."""
    os.setgroups(list(groups))


def set_gid(gid: int) -> None:
    """setresgid(2): real, effective and saved gid."""
    os.setresgid(gid, gid, gid)


def set_uid(uid: int) -> None:
    """setresuid(2): real, effective and saved uid (last: it drops the privilege)."""
    os.setresuid(uid, uid, uid)


def set_umask(mask: int) -> None:
    """umask(2) in the child."""
    os.umask(mask)
