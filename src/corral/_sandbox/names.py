"""Name tables and "did you mean" for users, groups, capabilities, rlimits, syscalls."""

from __future__ import annotations

from collections.abc import Iterable

from corral._errors import InvalidSpec
from corral._platform import sandbox_names as _tables


def _suggest(name: str, known: Iterable[str]) -> str:
    import difflib  # only for a bad name: a running daemon need not hold it (130 KiB)

    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def check_user(user: str | int) -> None:
    """InvalidSpec unless the user exists (a uid need not have a name)."""
    if isinstance(user, int):
        if user < 0:
            raise InvalidSpec(f"uid must be >= 0, got {user}")
        return
    if _tables.lookup_user(user) is None:
        raise InvalidSpec(f"unknown user {user!r}{_suggest(user, _tables.user_names())}")


def check_group(group: str | int) -> None:
    """InvalidSpec unless the group exists (a gid need not have a name)."""
    if isinstance(group, int):
        if group < 0:
            raise InvalidSpec(f"gid must be >= 0, got {group}")
        return
    if _tables.lookup_group(group) is None:
        raise InvalidSpec(f"unknown group {group!r}{_suggest(group, _tables.group_names())}")


def normalise_capability(name: str) -> str:
    """ "net_bind_service" or "CAP_NET_BIND_SERVICE" -> "CAP_NET_BIND_SERVICE"."""
    upper = name.strip().upper()
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    if full not in _tables.CAPABILITIES:
        raise InvalidSpec(f"unknown capability {name!r}{_suggest(full, _tables.CAPABILITIES)}")
    return full


def check_rlimit(name: str) -> str:
    """ "NOFILE", "RLIMIT_NOFILE" or "nofile" -> "nofile"; InvalidSpec if unknown."""
    short = name.strip().lower().removeprefix("rlimit_")
    if short not in _tables.RLIMITS:
        raise InvalidSpec(f"unknown rlimit {name!r}{_suggest(short, _tables.RLIMITS)}")
    return short


def check_syscall(name: str) -> None:
    """InvalidSpec unless `name` is a system call of this machine's architecture."""
    known = _tables.syscall_names()
    if name not in known:
        raise InvalidSpec(f"unknown syscall {name!r}{_suggest(name, known)}")


def check_preset(name: str, default: str = "allow") -> None:
    """InvalidSpec unless `name` is a seccomp preset made for filters with this `default`."""
    from corral._sandbox.presets import PRESETS

    if name not in PRESETS:
        raise InvalidSpec(f"unknown seccomp preset {name!r}{_suggest(name, PRESETS)}")
    mode = PRESETS[name].mode  # a deny preset fills a default-allow filter, and back
    if mode == default:
        article = "an" if mode == "allow" else "a"
        needs = "deny" if mode == "allow" else "allow"
        raise InvalidSpec(
            f"seccomp preset {name!r} is {article} {mode}-list; it needs default={needs!r}"
        )
