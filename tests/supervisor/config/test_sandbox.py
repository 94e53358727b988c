"""[programs.NAME.sandbox] builds the Sandbox the library would; errors name file:line:key."""

from __future__ import annotations

import pytest

from corral._supervisor.config.load import parse_config
from corral.sandbox import CgroupLimits, Identity, Namespaces, Rlimit, Sandbox, Seccomp, Veth
from tests.supervisor.config.parsing import FILE, config_error, parse, toml

PROGRAM = ("[programs.web]", "command = ['true']", "[programs.web.sandbox]")
"""A valid program with a sandbox table on line 3; the line under test is line 4."""


def sandbox_of(*lines: str) -> Sandbox | None:
    (program,) = parse(*lines).programs
    return program.process.sandbox


# -- valid tables ----------------------------------------------------------------


def test_a_full_sandbox_table_round_trips_into_the_sandbox_it_describes() -> None:
    sandbox = sandbox_of(
        *PROGRAM,
        'user = "nobody"',
        'group = "nogroup"',
        'groups = ["nogroup", 4242]',
        'umask = "027"',
        "no_new_privs = true",
        'capabilities = ["CAP_NET_BIND_SERVICE", "kill"]',
        'rlimits = { nofile = 1024, core = 0, nproc = [100, 200], as = "1G", cpu = "unlimited" }',
        "[programs.web.sandbox.cgroup]",
        'memory_max = "64M"',
        'memory_high = "48M"',
        "memory_swap_max = 1048576",
        "cpu_quota = 0.5",
        "cpu_weight = 50",
        "pids_max = 64",
        "[programs.web.sandbox.seccomp]",
        'syscalls = ["ptrace", "mount"]',
        'presets = ["no-network"]',
        'action = "kill"',
        "[programs.web.sandbox.namespaces]",
        "pid = true",
        "init = true",
        "net = true",
        'veth = { host_address = "10.200.0.1/30", inner_address = "10.200.0.2/30" }',
        "private_tmp = true",
        'read_only = ["/etc", "/usr"]',
        'hidden = ["/root"]',
        'root = "/srv/jail"',
        'hostname = "web"',
        "ipc = true",
    )
    assert sandbox == Sandbox(
        identity=Identity(
            user="nobody", group="nogroup", groups=("nogroup", 4242), umask=0o027, no_new_privs=True
        ),
        capabilities=frozenset({"CAP_NET_BIND_SERVICE", "CAP_KILL"}),
        rlimits={
            "nofile": Rlimit(soft=1024, hard=1024),
            "core": Rlimit(soft=0, hard=0),
            "nproc": Rlimit(soft=100, hard=200),
            "as": Rlimit(soft=1024**3, hard=1024**3),
            "cpu": Rlimit(soft=None, hard=None),
        },
        cgroup=CgroupLimits(
            memory_max=64 * 1024**2,
            memory_high=48 * 1024**2,
            memory_swap_max=1024**2,
            cpu_quota=0.5,
            cpu_weight=50,
            pids_max=64,
        ),
        seccomp=Seccomp(
            syscalls=frozenset({"ptrace", "mount"}), presets=("no-network",), action="kill"
        ),
        namespaces=Namespaces(
            pid=True,
            init=True,
            net=True,
            veth=Veth(host_address="10.200.0.1/30", inner_address="10.200.0.2/30"),
            private_tmp=True,
            read_only=("/etc", "/usr"),
            hidden=("/root",),
            root="/srv/jail",
            hostname="web",
            ipc=True,
        ),
    )


def test_the_flat_aliases_fill_the_cgroup_limits() -> None:
    sandbox = sandbox_of(*PROGRAM, 'memory = "64M"', "pids = 64", "cpu = 2")
    assert sandbox == Sandbox(
        cgroup=CgroupLimits(memory_max=64 * 1024**2, pids_max=64, cpu_quota=2.0)
    )


def test_an_alias_and_the_cgroup_table_combine() -> None:
    sandbox = sandbox_of(*PROGRAM, "pids = 64", "cgroup = { cpu_weight = 10 }")
    assert sandbox == Sandbox(cgroup=CgroupLimits(pids_max=64, cpu_weight=10))


def test_a_program_without_a_sandbox_table_has_no_sandbox() -> None:
    assert sandbox_of(*PROGRAM[:2]) is None


def test_an_empty_sandbox_table_is_an_empty_sandbox() -> None:
    assert sandbox_of(*PROGRAM) == Sandbox()


def test_an_empty_cgroup_table_makes_a_cgroup_without_limits() -> None:
    assert sandbox_of(*PROGRAM, "cgroup = {}") == Sandbox(cgroup=CgroupLimits())


def test_an_inline_sandbox_and_uids_and_octal_integers_work_too() -> None:
    sandbox = sandbox_of(*PROGRAM[:2], "sandbox = { user = 65534, umask = 0o077, groups = [] }")
    assert sandbox == Sandbox(identity=Identity(user=65534, umask=0o077, groups=()))


def test_the_same_text_gives_an_equal_sandbox_so_a_reload_sees_no_change() -> None:
    text = toml(*PROGRAM, "rlimits = { nofile = 10, core = 0 }", "capabilities = []")
    first = parse_config(text, path=FILE).programs
    reordered = toml(*PROGRAM, "capabilities = []", "rlimits = { core = 0, nofile = 10 }")
    second = parse_config(reordered, path=FILE).programs
    assert first == second
    assert hash(first) == hash(second)


@pytest.mark.parametrize(
    ("line", "limit"),
    [
        ("nofile = 64", Rlimit(soft=64, hard=64)),
        ("NOFILE = [1, 2]", Rlimit(soft=1, hard=2)),
        ('RLIMIT_NOFILE = [1, "unlimited"]', Rlimit(soft=1, hard=None)),
        ('nofile = "unlimited"', Rlimit(soft=None, hard=None)),
    ],
)
def test_an_rlimit_is_a_number_a_pair_or_unlimited(line: str, limit: Rlimit) -> None:
    sandbox = sandbox_of(*PROGRAM, "[programs.web.sandbox.rlimits]", line)
    assert sandbox is not None
    assert dict(sandbox.rlimits) == {"nofile": limit}


# -- names checked against this machine ------------------------------------------


def where(*lines: str) -> tuple[int | None, str | None, str | None, str | None]:
    error = config_error(*PROGRAM, *lines)
    assert error.file == FILE
    return error.line, error.key, error.got, error.hint


def test_an_unknown_user_is_reported_with_a_did_you_mean() -> None:
    error = config_error(*PROGRAM, 'user = "nobdy"')
    assert str(error) == (
        f"{FILE}:4: programs.web.sandbox.user: expected a user of this machine: a name, or a "
        "uid (an integer >= 0); got 'nobdy'; did you mean nobody?"
    )


@pytest.mark.parametrize("key", ["user", "group"])
def test_a_name_with_a_nul_byte_is_an_unknown_name_not_a_crash(key: str) -> None:
    line, found, got, _ = where(f'{key} = "nobody\\u0000"')
    assert (line, found, got) == (4, f"programs.web.sandbox.{key}", "'nobody\\x00'")


def test_an_unknown_group_in_groups_is_pointed_at_by_index() -> None:
    assert where("groups = [", '  "nogroup",', '  "nogrop",', "]") == (
        6,
        "programs.web.sandbox.groups[1]",
        "'nogrop'",
        "did you mean nogroup?",
    )


def test_an_unknown_capability_is_reported_with_a_did_you_mean() -> None:
    assert where('capabilities = ["CAP_NET_BIND_SERVIC"]') == (
        4,
        "programs.web.sandbox.capabilities[0]",
        "'CAP_NET_BIND_SERVIC'",
        "did you mean CAP_NET_BIND_SERVICE?",
    )


def test_an_unknown_rlimit_is_reported_at_its_name() -> None:
    error = config_error(*PROGRAM, "rlimits = { nofiles = 10 }")
    assert (error.line, error.key) == (4, "programs.web.sandbox.rlimits.nofiles")
    assert error.expected == "a resource limit name (nofile, nproc, core, as, fsize, cpu, ...)"
    assert (error.got, error.hint) == ("unknown limit 'nofiles'", "did you mean nofile?")


def test_an_unknown_syscall_is_reported_with_a_did_you_mean() -> None:
    assert where("[programs.web.sandbox.seccomp]", 'syscalls = ["ptrace", "ptracee"]') == (
        5,
        "programs.web.sandbox.seccomp.syscalls[1]",
        "'ptracee'",
        "did you mean ptrace?",
    )


def test_an_unknown_preset_is_reported_with_a_did_you_mean() -> None:
    assert where("seccomp = { presets = ['no-netwrk'] }") == (
        4,
        "programs.web.sandbox.seccomp.presets[0]",
        "'no-netwrk'",
        "did you mean no-network?",
    )


def test_a_preset_made_for_the_other_default_says_which_default_it_needs() -> None:
    error = config_error(*PROGRAM, "seccomp = { default = 'deny', presets = ['no-network'] }")
    assert (error.line, error.key) == (4, "programs.web.sandbox.seccomp.presets[0]")
    assert error.expected == "a seccomp preset for default = 'deny'"
    assert error.hint is not None
    assert "default='allow'" in error.hint


def test_a_misspelt_sandbox_key_suggests_the_right_one() -> None:
    assert where("no_new_priv = true") == (
        4,
        "programs.web.sandbox.no_new_priv",
        "unknown key 'no_new_priv'",
        "did you mean no_new_privs?",
    )


def test_a_misspelt_cgroup_key_suggests_the_full_name() -> None:
    assert where("[programs.web.sandbox.cgroup]", "memory = '64M'") == (
        5,
        "programs.web.sandbox.cgroup.memory",
        "unknown key 'memory'",
        "did you mean memory_max?",
    )


# -- wrong types and bad values --------------------------------------------------

USER = "a user of this machine: a name, or a uid (an integer >= 0)"
UMASK = 'a umask: octal digits in a string ("027"), or an integer (0o027)'
PAIR = "[soft, hard]: two limits, soft <= hard"
HOSTNAME = "a hostname of 1 to 64 characters"


@pytest.mark.parametrize(
    ("line", "key", "expected", "got"),
    [
        ("user = 1.5", "user", USER,
         "a float 1.5"),
        ("user = -1", "user", USER, "-1"),
        ("groups = 'nogroup'", "groups", "an array of groups of this machine (names or gids)",
         "a string 'nogroup'"),
        ("umask = true", "umask", UMASK,
         "a boolean true"),
        ("umask = '089'", "umask", UMASK,
         "'089'"),
        ("umask = 0o1000", "umask", UMASK,
         "512"),
        ("no_new_privs = 1", "no_new_privs", "true or false", "an integer 1"),
        ("capabilities = 'CAP_KILL'", "capabilities",
         'an array of capability names, like ["CAP_NET_BIND_SERVICE"]', "a string 'CAP_KILL'"),
        ("capabilities = [10]", "capabilities[0]",
         "a capability name (CAP_NET_BIND_SERVICE, or net_bind_service)", "an integer 10"),
        ("rlimits = 5", "rlimits",
         'a table of NAME = LIMIT, where a LIMIT is a number, "unlimited" or [soft, hard]',
         "an integer 5"),
        ("rlimits = { nofile = -1 }", "rlimits.nofile", 'an integer >= 0, or "unlimited"', "-1"),
        ("rlimits = { nofile = 'lots' }", "rlimits.nofile", 'an integer >= 0, or "unlimited"',
         "'lots'"),
        ("rlimits = { nofile = true }", "rlimits.nofile", 'an integer >= 0, or "unlimited"',
         "a boolean true"),
        ("rlimits = { nofile = [1, 2, 3] }", "rlimits.nofile", PAIR,
         "[1, 2, 3]"),
        ("rlimits = { nofile = [2, 1] }", "rlimits.nofile", PAIR,
         "[2, 1]"),
        ("rlimits = { nofile = [1, 'x'] }", "rlimits.nofile[1]", 'an integer >= 0, or "unlimited"',
         "'x'"),
        ("pids = 0", "pids", "an integer >= 1", "0"),
        ("pids = '64'", "pids", "an integer >= 1", "a string '64'"),
        ("cpu = 0", "cpu", "CPU cores, a number > 0 and <= 1024 (0.5 is half a core)", "0"),
        ("cpu = '50%'", "cpu", "CPU cores, a number > 0 and <= 1024 (0.5 is half a core)",
         "a string '50%'"),
        ("cgroup = { cpu_weight = 0 }", "cgroup.cpu_weight", "an integer from 1 to 10000", "0"),
        ("seccomp = { action = 'trap' }", "seccomp.action", "one of errno, kill, log", "'trap'"),
        ("seccomp = { syscalls = 'ptrace' }", "seccomp.syscalls",
         'an array of system call names, like ["ptrace", "mount"]', "a string 'ptrace'"),
        ("namespaces = { pid = 'yes' }", "namespaces.pid", "true or false", "a string 'yes'"),
        ("namespaces = { read_only = ['etc'] }", "namespaces.read_only[0]", "an absolute path",
         "'etc'"),
        ("namespaces = { hostname = '' }", "namespaces.hostname", HOSTNAME,
         "''"),
        ("namespaces = { net = true, veth = { host_address = '10.0.0.1', inner_address = "
         "'10.0.0.2/30' } }", "namespaces.veth.host_address",
         'an IP address with a prefix length, like "10.200.0.1/30"', "'10.0.0.1'"),
        ("cgroup = 64", "cgroup", "a table (sandbox.cgroup)", "an integer 64"),
    ],
)  # fmt: skip
def test_a_wrong_value_names_what_was_expected(
    line: str, key: str, expected: str, got: str
) -> None:
    error = config_error(*PROGRAM, line)
    assert (error.line, error.key) == (4, f"programs.web.sandbox.{key}")
    assert (error.expected, error.got) == (expected, got)


@pytest.mark.parametrize("size", ['"64 parsecs"', '"1.5G"', '"-5K"', "-1", '"M"'])
def test_a_bad_memory_size_names_the_units(size: str) -> None:
    error = config_error(*PROGRAM, f"memory = {size}")
    assert (error.line, error.key) == (4, "programs.web.sandbox.memory")
    assert error.expected == 'a size of at least 1 byte: an integer, or a string like "64M", "1G"'


@pytest.mark.parametrize("key", ["memory", "cgroup.memory_max", "cgroup.memory_high"])
def test_a_memory_limit_of_nothing_is_rejected(key: str) -> None:
    error = config_error(*PROGRAM, f"{key} = 0")
    assert (error.line, error.key) == (4, f"programs.web.sandbox.{key}")
    assert (error.expected, error.got) == (
        'a size of at least 1 byte: an integer, or a string like "64M", "1G"',
        "0",
    )


def test_a_byte_rlimit_takes_a_size_and_names_the_units_when_bad() -> None:
    assert sandbox_of(*PROGRAM, "rlimits = { fsize = '1M' }") == Sandbox(
        rlimits={"fsize": Rlimit(soft=1024**2, hard=1024**2)}
    )
    error = config_error(*PROGRAM, "rlimits = { fsize = '1Q' }")
    assert (error.line, error.key) == (4, "programs.web.sandbox.rlimits.fsize")
    assert error.hint == "units are B, K, M, G (powers of 1024)"


def test_an_alias_and_its_full_key_together_are_one_too_many() -> None:
    error = config_error(
        *PROGRAM, 'memory = "64M"', "[programs.web.sandbox.cgroup]", 'memory_max = "1G"'
    )
    assert (error.line, error.key) == (4, "programs.web.sandbox.memory")
    assert (error.expected, error.got, error.hint) == (
        "cgroup.memory_max set once",
        "both memory and cgroup.memory_max",
        "memory is an alias of cgroup.memory_max; keep one",
    )


def test_a_rule_across_keys_is_reported_at_the_key_that_needs_the_other() -> None:
    error = config_error(
        *PROGRAM, "[programs.web.sandbox.namespaces]", "pid = false", "init = true"
    )
    assert (error.line, error.key) == (6, "programs.web.sandbox.namespaces.init")
    assert (error.expected, error.hint) == (
        "a valid sandbox.namespaces table",
        "namespaces.init needs namespaces.pid",
    )


def test_a_veth_needs_both_addresses() -> None:
    error = config_error(
        *PROGRAM, "namespaces = { net = true, veth = { host_address = '10.0.0.1/30' } }"
    )
    assert (error.line, error.key) == (4, "programs.web.sandbox.namespaces.veth.inner_address")
    assert (error.got, error.hint) == ("nothing", "inner_address is required")


def test_every_sandbox_problem_is_reported() -> None:
    error = config_error(
        *PROGRAM,
        'user = "nobdy"',
        'capabilities = ["CAP_KIL"]',
        "rlimits = { nofil = 1 }",
        "[programs.web.sandbox.seccomp]",
        'syscalls = ["ptracee"]',
    )
    keys = [error.key, *(more.key for more in error.more)]
    assert keys == [
        "programs.web.sandbox.user",
        "programs.web.sandbox.capabilities[0]",
        "programs.web.sandbox.rlimits.nofil",
        "programs.web.sandbox.seccomp.syscalls[0]",
    ]
