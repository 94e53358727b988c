"""The [programs.NAME.sandbox] table and its sub-tables, as data, built into a `Sandbox`.

The flat keys of `sandbox` fill three specs: user, group, groups, umask and
no_new_privs an `Identity`; capabilities and rlimits the `Sandbox` itself; and
memory, pids and cpu are aliases of the `cgroup` table's memory_max, pids_max and
cpu_quota, for the common case. A field is set once, by its key or its alias.
Whether this machine can do what a sandbox asks is checked when it starts, not
here (`corral doctor` tells in advance).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from corral._errors import InvalidSpec
from corral._sandbox import names
from corral._sandbox.spec import CgroupLimits, Identity, Namespaces, Sandbox, Seccomp, Veth
from corral._supervisor.config.kinds import (
    BOOLEAN,
    Invalid,
    Problem,
    choice,
    integer,
    shown,
)
from corral._supervisor.config.positions import KeyPath, format_key
from corral._supervisor.config.sandbox_values import (
    ABSOLUTE_PATH,
    ABSOLUTE_PATHS,
    ADDRESS,
    CAPABILITIES,
    CORES,
    GROUP,
    GROUPS,
    HOSTNAME,
    MEMORY,
    PRESETS,
    RLIMITS,
    SWAP,
    SYSCALLS,
    UMASK,
    USER,
    suggestion,
)
from corral._supervisor.config.table import (
    Key,
    Table,
    as_table,
    build_spec,
    collect,
    construct,
    fill,
)

PIDS = integer(1)


def _build_seccomp(values: Mapping[str, object], path: KeyPath) -> Seccomp:
    """Presets are checked against the table's `default`: each is made for one mode."""
    default = str(values.get("default", "allow"))
    presets = values.get("presets", ())
    problems = [
        problem
        for index, name in enumerate(presets if isinstance(presets, tuple) else ())
        if (problem := _preset_problem(str(name), default, (*path, "presets", index)))
    ]
    if problems:
        raise Invalid(problems)
    seccomp: Seccomp = fill(SECCOMP, values, path, {})
    return seccomp


def _preset_problem(name: str, default: str, path: KeyPath) -> Problem | None:
    try:
        names.check_preset(name, default)
    except InvalidSpec as exc:
        expected = f"a seccomp preset for default = {default!r}"
        return Problem(path, expected, shown(name), suggestion(exc) or str(exc))
    return None


CGROUP = Table(
    "sandbox.cgroup",
    CgroupLimits,
    (
        Key("memory_max", MEMORY, CgroupLimits),
        Key("memory_high", MEMORY, CgroupLimits),
        Key("memory_swap_max", SWAP, CgroupLimits),
        Key("cpu_quota", CORES, CgroupLimits),
        Key("cpu_weight", integer(1, 10000), CgroupLimits),
        Key("pids_max", PIDS, CgroupLimits),
    ),
    doc=(
        "Limits enforced through a cgroup of each instance's own, which also lets corral "
        "account for and end every process in it. An empty table makes the cgroup without "
        "limits. Needs cgroups: see `corral doctor`."
    ),
    optional=True,
)

SECCOMP = Table(
    "sandbox.seccomp",
    Seccomp,
    (
        Key("default", choice(("allow", "deny")), Seccomp),
        Key("syscalls", SYSCALLS, Seccomp),
        Key(
            "presets",
            PRESETS,
            Seccomp,
            note='A deny preset needs `default = "allow"`, an allow preset `default = "deny"`.',
        ),
        Key("action", choice(("errno", "kill", "log")), Seccomp),
    ),
    doc="A system call filter, loaded last before the program starts. Needs libseccomp.",
    build=_build_seccomp,
    optional=True,
)

VETH = Table(
    "sandbox.namespaces.veth",
    Veth,
    (
        Key("host_address", ADDRESS, Veth, required=True),
        Key("inner_address", ADDRESS, Veth, required=True),
    ),
    doc=(
        "A veth pair linking the network namespace to the host, usually written inline: "
        '`veth = { host_address = "10.200.0.1/30", inner_address = "10.200.0.2/30" }`.'
    ),
    optional=True,
)

_NS = Namespaces
NAMESPACES = Table(
    "sandbox.namespaces",
    Namespaces,
    (
        Key("pid", BOOLEAN, _NS),
        Key("init", BOOLEAN, _NS),
        Key("net", BOOLEAN, _NS),
        Key("veth", VETH, _NS),
        Key("mount", BOOLEAN, _NS),
        Key("private_tmp", BOOLEAN, _NS),
        Key("read_only", ABSOLUTE_PATHS, _NS),
        Key("hidden", ABSOLUTE_PATHS, _NS),
        Key("root", ABSOLUTE_PATH, _NS),
        Key("hostname", HOSTNAME, _NS),
        Key("ipc", BOOLEAN, _NS),
        Key("user", BOOLEAN, _NS),
    ),
    doc="Linux namespaces each instance gets of its own. Each kind needs kernel support: see "
    "`corral doctor`.",
    optional=True,
)


def build_sandbox(values: Mapping[str, object], path: KeyPath) -> Sandbox:
    """The `Sandbox` of one checked [programs.NAME.sandbox] table."""
    fields: dict[type[Any], dict[str, Any]] = {Identity: {}, Sandbox: {}, CgroupLimits: {}}
    where: dict[str, KeyPath] = {}
    problems: list[Problem] = []
    for name, value in values.items():
        key = SANDBOX.key(name)
        if key is not None and not isinstance(key.kind, Table):
            fields[key.spec][key.target] = value
            where[key.target] = (*path, name)
    for name, value in as_table(values.get("cgroup", {})).items():
        key_path = (*path, "cgroup", name)
        if name in where:
            problems.append(_set_twice(where[name], key_path))
        fields[CgroupLimits][name] = value
        where[name] = key_path
    kwargs = fields[Sandbox]
    if fields[Identity]:
        kwargs["identity"] = collect(
            problems, lambda: build_spec(Identity, fields[Identity], path, "sandbox", where)
        )
    if fields[CgroupLimits] or "cgroup" in values:
        cgroup_path = (*path, "cgroup") if "cgroup" in values else path
        kwargs["cgroup"] = collect(
            problems,
            lambda: build_spec(CgroupLimits, fields[CgroupLimits], cgroup_path, "cgroup", where),
        )
    for name, table in (("seccomp", SECCOMP), ("namespaces", NAMESPACES)):
        if name in values:
            nested = as_table(values[name])
            build = partial(construct, table, nested, (*path, name), {})
            kwargs[name] = collect(problems, build)
    if problems:
        raise Invalid(problems)
    return build_spec(Sandbox, kwargs, path, "sandbox", where)


def _set_twice(alias: KeyPath, key: KeyPath) -> Problem:
    name = format_key(key[-2:])
    return Problem(
        alias,
        f"{name} set once",
        f"both {alias[-1]} and {name}",
        f"{alias[-1]} is an alias of {name}; keep one",
    )


_ALIAS = "Alias of `cgroup.{}`: set one or the other."

SANDBOX = Table(
    "sandbox",
    Sandbox,
    (
        Key("user", USER, Identity),
        Key("group", GROUP, Identity),
        Key("groups", GROUPS, Identity),
        Key(
            "umask",
            UMASK,
            Identity,
            note=(
                'Write it as octal digits in a string, `"027"`, or as a TOML octal integer, '
                "`0o027`; a plain integer is the mask's value (`27` is 0o033)."
            ),
        ),
        Key("no_new_privs", BOOLEAN, Identity),
        Key(
            "capabilities",
            CAPABILITIES,
            Sandbox,
            note='Names with or without `CAP_`, in any case: `["CAP_NET_BIND_SERVICE"]`.',
        ),
        Key(
            "rlimits",
            RLIMITS,
            Sandbox,
            note=(
                "An inline table, `rlimits = { nofile = 1024, core = 0, nproc = [100, 200] }`: "
                'a number sets soft and hard, `[soft, hard]` each, `"unlimited"` is no limit; '
                "the limits in bytes (as, core, data, fsize, memlock, msgqueue, rss, stack) "
                'also take sizes like `"64M"`.'
            ),
        ),
        Key("memory", MEMORY, CgroupLimits, "memory_max", note=_ALIAS.format("memory_max")),
        Key("pids", PIDS, CgroupLimits, "pids_max", note=_ALIAS.format("pids_max")),
        Key("cpu", CORES, CgroupLimits, "cpu_quota", note=_ALIAS.format("cpu_quota")),
        Key("cgroup", CGROUP, Sandbox),
        Key("seccomp", SECCOMP, Sandbox),
        Key("namespaces", NAMESPACES, Sandbox),
    ),
    doc=(
        "What bounds each instance of the program: who it runs as, its capabilities and "
        "resource limits, a cgroup, a syscall filter and namespaces. Everything is applied "
        "in the child before the program starts; a step that fails is reported with its "
        "name and errno. Without this table a program runs unsandboxed."
    ),
    build=build_sandbox,
    optional=True,
)
