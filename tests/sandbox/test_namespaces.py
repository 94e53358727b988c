"""Namespaces through the one spawn path: corral.run(..., sandbox=Sandbox(namespaces=...)).

Each test runs tests/helpers/report_ns.py (or another helper) inside the namespaces
and checks what it saw. Everything a test creates dies with the namespace (mounts,
the veth's inner end) or is removed by the test (files it made on the host).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import corral
from corral._errors import InvalidSpec, SpawnError, UnsupportedFeature
from corral._platform.linux.namespaces import KINDS, mounts, probe
from corral._sandbox.plan import plan
from corral.lowlevel import Feature, override_feature
from corral.sandbox import Identity, Namespaces, Sandbox, Veth
from tests.helpers import argv, path
from tests.support.twins import Twin
from tests.support.waiting import wait_until

_IP_FREEBIND = 15


def report(namespaces: Namespaces, *args: str, **options: Any) -> dict[str, Any]:
    """Run report_ns.py inside `namespaces`; its JSON report."""
    result = corral.run(
        argv("report_ns", *args), sandbox=Sandbox(namespaces=namespaces), timeout=60, **options
    )
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def ours(kind: str) -> int:
    return os.stat(f"/proc/self/ns/{kind}").st_ino


def interfaces() -> set[str]:
    return {name for _, name in socket.if_nameindex()}


def mount_table() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split(" ", 5)[4] for line in f)


# -- pid -----------------------------------------------------------------------------


@pytest.mark.requires(Feature.NS_PID)
def test_in_a_pid_namespace_the_program_is_pid_1(twin: Twin) -> None:
    result = twin.run(argv("report_ns"), sandbox=Sandbox(namespaces=Namespaces(pid=True)))
    seen = json.loads(result.stdout)
    assert (seen["pid"], seen["ppid"]) == (1, 0)
    assert seen["ns"]["pid"] != ours("pid")
    assert result.pid != 1  # our view: an ordinary child of ours


@pytest.mark.requires(Feature.NS_PID)
@pytest.mark.requires(Feature.NS_MOUNT)
def test_with_init_the_program_is_pid_2_and_orphaned_zombies_are_reaped() -> None:
    seen = report(Namespaces(pid=True, init=True, mount=True), "--zombie")
    assert (seen["pid"], seen["ppid"]) == (2, 1)
    assert seen["zombie"]["reaped"], "pid 1 left an orphan as a zombie"
    assert seen["proc_pids"] == [1, 2]  # /proc is the namespace's own


@pytest.mark.requires(Feature.NS_PID)
def test_init_passes_on_the_programs_exit_code() -> None:
    sandbox = Sandbox(namespaces=Namespaces(pid=True, init=True))
    result = corral.run(argv("exit_with", "7", "bye"), sandbox=sandbox, check=False)
    assert result.exit_code == 7
    assert result.stderr == b"bye\n"


@pytest.mark.requires(Feature.NS_PID)
def test_init_forwards_a_signal_sent_to_pid_1() -> None:
    sandbox = Sandbox(namespaces=Namespaces(pid=True, init=True))
    with corral.start(argv("trap_term", "exit"), sandbox=sandbox, timeout=60) as proc:
        assert proc.readline() == "ready"
        proc.send_signal("TERM")  # to pid 1 only; it forwards to the program
        result = proc.wait()
    assert result.exit_code == 0
    assert b"got SIGTERM" in result.stdout


@pytest.mark.requires(Feature.NS_PID)
@pytest.mark.requires(Feature.CAPABILITIES)
def test_init_keeps_only_cap_kill_and_still_forwards_to_a_program_of_another_user() -> None:
    """Pid 1 is left behind before the program's identity applies: it gives up root's
    capabilities itself, keeping CAP_KILL to signal a program running as nobody."""
    program = ["sh", "-c", "trap 'echo got-TERM; exit 0' TERM; echo ready; sleep 300 & wait"]
    sandbox = Sandbox(
        identity=Identity(user="nobody", no_new_privs=True),
        namespaces=Namespaces(pid=True, init=True),
    )
    with corral.start(program, sandbox=sandbox, timeout=60) as proc:
        assert proc.readline() == "ready"
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        )
        proc.send_signal("TERM")
        result = proc.wait()
    kill_only = f"{1 << 5:016x}"  # CAP_KILL is capability 5
    assert fields["Uid"].split()[1] == "0"  # still root: it is the daemon's child
    assert [fields[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")] == [kill_only] * 3
    assert fields["NoNewPrivs"].strip() == "1"
    assert result.exit_code == 0
    assert b"got-TERM" in result.stdout


@pytest.mark.requires(Feature.NS_PID)
def test_a_program_as_pid_1_ignores_sigterm_so_stop_ends_in_sigkill() -> None:
    """The kernel drops signals pid 1 has no handler for; `init` is the remedy."""
    program = [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(300)"]
    sandbox = Sandbox(namespaces=Namespaces(pid=True))
    with corral.start(program, sandbox=sandbox, timeout=60) as proc:
        assert proc.readline() == "ready"
        assert proc.stop(grace=0.2).signal_name == "SIGKILL"
    with_init = Sandbox(namespaces=Namespaces(pid=True, init=True))
    with corral.start(program, sandbox=with_init, timeout=60) as proc:
        assert proc.readline() == "ready"
        assert proc.stop(grace=30).exit_code == 128 + 15  # the program died of SIGTERM


# -- network -------------------------------------------------------------------------


@pytest.mark.requires(Feature.NS_NET)
def test_in_a_network_namespace_only_loopback_exists_and_it_is_up() -> None:
    seen = report(Namespaces(net=True))
    assert seen["interfaces"] == {"lo": True}
    assert seen["ns"]["net"] != ours("net")


@pytest.mark.requires(Feature.NS_NET)
def test_a_veth_pair_links_the_namespace_to_the_host() -> None:
    veth = Veth(host_address="10.231.77.1/30", inner_address="10.231.77.2/30")
    with socket.socket() as server:
        server.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)  # the address comes with the veth
        server.bind(("10.231.77.1", 0))
        server.listen()
        target = f"10.231.77.1:{server.getsockname()[1]}"
        result = corral.run(
            argv("report_ns", "--connect", target),
            sandbox=Sandbox(namespaces=Namespaces(net=True, veth=veth)),
            timeout=60,
        )
        seen = json.loads(result.stdout)
        connection, (peer, _) = server.accept()
        with connection:
            assert connection.recv(100) == b"hello from inside\n"
    assert seen["interfaces"] == {"lo": True, "eth0": True}
    assert seen["connect"] == "sent"
    assert peer == "10.231.77.2"
    host_end = f"crv{result.pid}"
    wait_until(
        lambda: host_end not in interfaces(),
        what=f"the host end {host_end} to go with the namespace",
    )


@pytest.mark.requires(Feature.NS_NET)
def test_the_plan_cleanup_removes_the_host_end_at_once() -> None:
    veth = Veth(host_address="10.231.78.1/30", inner_address="10.231.78.2/30")
    made = plan(Sandbox(namespaces=Namespaces(net=True, veth=veth)), label="test")
    program = [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"]
    holder_sandbox = Sandbox(namespaces=Namespaces(net=True))
    with corral.start(program, stdin="capture", sandbox=holder_sandbox, timeout=60) as holder:
        assert holder.readline() == "ready"
        made.after_fork[0](holder.pid)  # the pair, into the holder's namespace
        host_end = f"crv{holder.pid}"
        assert host_end in interfaces()
        made.undo()
        assert host_end not in interfaces()
        holder.close_stdin()
        holder.wait()


@pytest.mark.requires(Feature.NS_NET)
def test_a_veth_address_must_parse() -> None:
    veth = Veth(host_address="10.0.0.1", inner_address="not-an-address")
    with pytest.raises(InvalidSpec, match="veth inner_address must be an address/prefix"):
        plan(Sandbox(namespaces=Namespaces(net=True, veth=veth)), label="test")


# -- mounts --------------------------------------------------------------------------


@pytest.fixture
def helper_outside_tmp() -> Iterator[list[str]]:
    """report_ns.py and an interpreter that a private /tmp does not hide.

    The checkout (and its virtual environment) may itself live under /tmp, which
    the program would no longer see; so run a copy from /var/tmp with the base
    interpreter, isolated (-I): the helper needs only the standard library.
    """
    python = os.path.realpath(sys.executable)
    if python.startswith("/tmp/"):
        pytest.fail(f"the interpreter {python} lives under /tmp; this test needs one outside")
    directory = tempfile.mkdtemp(prefix="corral-ns-", dir="/var/tmp")
    try:
        copy = shutil.copy(path("report_ns"), directory)
        yield [python, "-I", copy]
    finally:
        shutil.rmtree(directory)


@pytest.mark.requires(Feature.NS_MOUNT)
def test_a_private_tmp_is_not_the_hosts(tmp_path: Path, helper_outside_tmp: list[str]) -> None:
    host_file = tmp_path / "host-file"  # tmp_path lives under the host's /tmp
    host_file.write_text("host\n")
    inside = f"/tmp/corral-ns-test-{os.getpid()}"
    before = mount_table()
    result = corral.run(
        [*helper_outside_tmp, "--write", inside, "--read", str(host_file), "--read", "/tmp"],
        sandbox=Sandbox(namespaces=Namespaces(private_tmp=True)),
        timeout=60,
    )
    seen = json.loads(result.stdout)
    assert seen["writes"] == {inside: "ok"}
    assert seen["reads"] == {str(host_file): "ENOENT", "/tmp": [os.path.basename(inside)]}
    assert seen["tmp_dev"] != os.stat("/tmp").st_dev
    assert not os.path.exists(inside)
    assert mount_table() == before  # nothing propagated back to the host


@pytest.mark.requires(Feature.NS_MOUNT)
def test_a_read_only_bind_refuses_writes_all_the_way_down(tmp_path: Path) -> None:
    (tmp_path / "kept").write_text("original\n")
    below = tmp_path / "below"
    below.mkdir()
    mounts.mount_tmpfs(str(below))  # a mount under the path must turn read-only too
    try:
        seen = report(
            Namespaces(read_only=(str(tmp_path),)),
            "--write", str(tmp_path / "kept"), "--write", str(tmp_path / "new"),
            "--write", str(below / "deeper"),
        )  # fmt: skip
        assert os.listdir(below) == []
    finally:
        mounts.umount(str(below))
    assert seen["writes"] == dict.fromkeys(
        (str(tmp_path / "kept"), str(tmp_path / "new"), str(below / "deeper")), "EROFS"
    )
    assert (tmp_path / "kept").read_text() == "original\n"
    assert sorted(os.listdir(tmp_path)) == ["below", "kept"]


@pytest.mark.requires(Feature.NS_MOUNT)
def test_hidden_paths_show_nothing(tmp_path: Path) -> None:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "key").write_text("s3cr3t\n")
    secret_file = tmp_path / "token"
    secret_file.write_text("t0ken\n")
    seen = report(
        Namespaces(hidden=(str(secret_dir), str(secret_file))),
        "--read", str(secret_dir), "--read", str(secret_file),
        "--read", str(secret_dir / "key"), "--write", str(secret_dir / "planted"),
    )  # fmt: skip
    assert seen["reads"] == {
        str(secret_dir): [], str(secret_file): "", str(secret_dir / "key"): "ENOENT"
    }  # fmt: skip
    assert seen["writes"] == {str(secret_dir / "planted"): "EROFS"}
    assert (secret_dir / "key").read_text() == "s3cr3t\n"


Jail = tuple[Path, tuple[str, ...]]


@pytest.fixture
def jail(tmp_path: Path) -> Jail:
    """A directory that can run this Python once the host's /usr and Python are lent to it."""
    root = tmp_path / "jail"
    lent = ["/usr", sys.base_prefix]
    for entry in ("bin", "sbin", "lib", "lib32", "lib64"):
        host = Path("/", entry)
        if host.is_symlink():
            (root / entry).parent.mkdir(parents=True, exist_ok=True)
            (root / entry).symlink_to(os.readlink(host))
        elif host.is_dir():
            lent.append(str(host))
    for point in (*lent, "/proc", "/tmp", "/work"):
        (root / point.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shutil.copy(path("report_ns"), root / "report_ns.py")
    return root, tuple(lent)


@pytest.mark.requires(Feature.NS_MOUNT)
@pytest.mark.requires(Feature.NS_PID)
def test_a_root_directory_becomes_the_programs_whole_tree(jail: Jail) -> None:
    root, lent = jail
    namespaces = Namespaces(root=str(root), read_only=lent, pid=True, private_tmp=True)
    python = os.path.realpath(sys.executable)
    result = corral.run(
        [python, "-I", "/report_ns.py", "--read", "/", "--read", "/work", "--write", "/usr/x",
         "--write", "/tmp/y"],
        sandbox=Sandbox(namespaces=namespaces), cwd=root / "tmp", timeout=60,
    )  # fmt: skip
    seen = json.loads(result.stdout)
    assert seen["reads"]["/"] == sorted(os.listdir(root))
    assert seen["reads"]["/work"] == []  # the jail's own empty /work, not the host's
    assert seen["writes"] == {"/usr/x": "EROFS", "/tmp/y": "ok"}
    assert seen["cwd"] == "/tmp"  # a working directory inside the root is kept
    assert seen["proc_pids"] == [1]
    assert os.listdir(root / "tmp") == []  # /tmp inside was a tmpfs


@pytest.mark.requires(Feature.NS_USER)
@pytest.mark.requires(Feature.NS_MOUNT)
@pytest.mark.requires(Feature.NS_PID)
@pytest.mark.requires(Feature.NS_NET)
def test_every_namespace_at_once_under_a_user_namespace(jail: Jail) -> None:
    """In a user namespace the kernel is stricter (locked mount flags, proc visibility)."""
    root, lent = jail
    namespaces = Namespaces(
        user=True, root=str(root), read_only=lent, pid=True, init=True, private_tmp=True,
        net=True, hostname="all-at-once", ipc=True,
    )  # fmt: skip
    result = corral.run(
        [os.path.realpath(sys.executable), "-I", "/report_ns.py", "--write", "/usr/x",
         "--write", "/tmp/y", "--zombie"],
        sandbox=Sandbox(namespaces=namespaces), timeout=60,
    )  # fmt: skip
    seen = json.loads(result.stdout)
    assert (seen["pid"], seen["uid"], seen["hostname"]) == (2, 0, "all-at-once")
    assert seen["proc_pids"] == [1, 2]
    assert seen["zombie"]["reaped"]
    assert seen["interfaces"] == {"lo": True}
    assert seen["writes"] == {"/usr/x": "EROFS", "/tmp/y": "ok"}
    assert seen["uid_map"].split() == ["0", str(os.geteuid()), "1"]


@pytest.mark.requires(Feature.NS_MOUNT)
def test_a_failing_mount_step_names_itself(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(SpawnError) as caught:
        report(Namespaces(read_only=(missing,)))
    assert caught.value.step == f"mount: read-only {missing}"
    assert caught.value.errno == errno.ENOENT


# -- uts, ipc, user --------------------------------------------------------------------


@pytest.mark.requires(Feature.NS_UTS)
def test_a_uts_namespace_has_its_own_hostname() -> None:
    seen = report(Namespaces(hostname="corral-test"))
    assert seen["hostname"] == "corral-test"
    assert socket.gethostname() != "corral-test"
    assert seen["ns"]["uts"] != ours("uts")


@pytest.mark.requires(Feature.NS_IPC)
def test_an_ipc_namespace_is_a_new_one() -> None:
    seen = report(Namespaces(ipc=True))
    assert seen["ns"]["ipc"] != ours("ipc")
    assert seen["ns"]["net"] == ours("net")  # only what was asked for


@pytest.mark.requires(Feature.NS_USER)
def test_in_a_user_namespace_root_inside_maps_to_us_outside() -> None:
    seen = report(Namespaces(user=True, hostname="in-user-ns", net=True))
    assert (seen["uid"], seen["gid"]) == (0, 0)
    assert seen["uid_map"].split() == ["0", str(os.geteuid()), "1"]
    assert seen["ns"]["user"] != ours("user")
    assert seen["hostname"] == "in-user-ns"  # the namespaces it owns work as root inside
    assert seen["interfaces"] == {"lo": True}


# -- what the kernel cannot give ------------------------------------------------------


@pytest.mark.parametrize(
    ("feature", "namespaces"),
    [
        (Feature.NS_PID, Namespaces(pid=True)),
        (Feature.NS_NET, Namespaces(net=True)),
        (Feature.NS_MOUNT, Namespaces(private_tmp=True)),
        (Feature.NS_UTS, Namespaces(hostname="h")),
        (Feature.NS_IPC, Namespaces(ipc=True)),
        (Feature.NS_USER, Namespaces(user=True)),
    ],
)
def test_a_missing_namespace_feature_is_an_error_naming_it(
    feature: Feature, namespaces: Namespaces
) -> None:
    with override_feature(feature, False), pytest.raises(UnsupportedFeature) as caught:
        corral.run(argv("report_ns"), sandbox=Sandbox(namespaces=namespaces))
    assert caught.value.feature == feature.value
    assert caught.value.needs


def test_every_namespace_probe_answers_with_a_reason() -> None:
    for feature in KINDS:
        status = probe(feature)
        assert status.feature is feature
        assert status.supported or (status.reason and status.needs)


@pytest.mark.requires(Feature.NS_PID)
@pytest.mark.requires(Feature.NS_NET)
@pytest.mark.requires(Feature.NS_MOUNT)
@pytest.mark.requires(Feature.NS_UTS)
@pytest.mark.requires(Feature.NS_IPC)
def test_the_plan_records_what_it_set_up(tmp_path: Path) -> None:
    namespaces = Namespaces(
        pid=True, init=True, net=True, private_tmp=True, read_only=("/usr",),
        hidden=(str(tmp_path),), hostname="h", ipc=True,
    )  # fmt: skip
    made = plan(Sandbox(namespaces=namespaces), label="test")
    assert made.limits["namespaces"] == {
        "kinds": ["pid", "net", "mount", "uts", "ipc"],
        "private_tmp": True, "read_only": ["/usr"], "hidden": [str(tmp_path)], "root": None,
        "hostname": "h", "init": True,
    }  # fmt: skip
    assert [step.name for step in made.ordered_steps()] == [
        "mount: make / rslave", "mount: tmpfs on /tmp", "mount: read-only /usr",
        f"mount: hide {tmp_path}", "mount: proc", "sethostname", "net: lo up",
        "pid 1: start the program",
    ]  # fmt: skip
    assert made.forker is not os.fork
