"""Identity, capabilities, no_new_privs and umask through the one spawn path, read back from /proc.

Each test runs tests/helpers/report_creds.py under a Sandbox and compares what the
child's /proc/self/status says (Uid, Gid, Groups, CapEff, CapBnd, NoNewPrivs,
Umask) with the spec. Switching users needs root, which this suite runs as.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import corral
from corral._errors import InvalidSpec
from corral.lowlevel import Feature
from corral.sandbox import Identity, Sandbox
from tests.sandbox.creds import nobody, our_status, python_for, report
from tests.support.daemon import running_daemon
from tests.support.twins import Twin

CAP_KILL = 1 << 5
CAP_NET_BIND_SERVICE = 1 << 10
OTHER_GID = 4242
"""A gid with no name needed: groups may be given as numbers."""


def low_port() -> int:
    """A port below 1024 that is free now (binding it later proves CAP_NET_BIND_SERVICE)."""
    for port in range(1000, 1, -1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below 1000 on 127.0.0.1")


# -- user, group, groups ---------------------------------------------------------


def test_the_user_its_group_and_its_groups_are_what_the_kernel_shows(twin: Twin) -> None:
    user = nobody()
    found = report(
        Sandbox(identity=Identity(user=user.name)), python=python_for(user.name), run=twin.run
    )
    assert found["uid"] == [user.uid] * 4  # real, effective, saved, filesystem
    assert found["gid"] == [user.gid] * 4
    assert found["groups"] == sorted(set(os.getgrouplist(user.name, user.gid)))
    assert (found["cap_eff"], found["cap_prm"], found["cap_amb"]) == (0, 0, 0)


def test_a_group_and_groups_given_replace_the_users_own() -> None:
    user = nobody()
    identity = Identity(user=user.name, group=OTHER_GID, groups=(user.group, OTHER_GID))
    found = report(Sandbox(identity=identity), python=python_for(user.name))
    assert found["uid"] == [user.uid] * 4
    assert found["gid"] == [OTHER_GID] * 4
    assert found["groups"] == sorted({user.gid, OTHER_GID})


def test_an_empty_groups_leaves_no_supplementary_group() -> None:
    user = nobody()
    found = report(
        Sandbox(identity=Identity(user=user.name, groups=())), python=python_for(user.name)
    )
    assert found["groups"] == []


def test_a_uid_and_gid_need_no_names() -> None:
    python = python_for(nobody().name)
    found = report(Sandbox(identity=Identity(user=OTHER_GID, group=OTHER_GID)), python=python)
    assert (found["uid"], found["gid"], found["groups"]) == (
        [OTHER_GID] * 4,
        [OTHER_GID] * 4,
        [OTHER_GID],
    )


def test_a_uid_without_a_name_or_a_group_is_refused_rather_than_keeping_our_gid() -> None:
    with pytest.raises(
        InvalidSpec, match="uid 4242 has no entry in the user database; give a group"
    ):
        report(Sandbox(identity=Identity(user=OTHER_GID)))


# -- capabilities ----------------------------------------------------------------


@pytest.mark.requires(Feature.CAPABILITIES)
def test_a_kept_capability_survives_the_switch_to_nobody_and_works() -> None:
    user = nobody()
    sandbox = Sandbox(
        identity=Identity(user=user.name), capabilities=frozenset({"CAP_NET_BIND_SERVICE"})
    )
    found = report(sandbox, "--bind", str(low_port()), python=python_for(user.name))
    assert found["uid"] == [user.uid] * 4
    for name in ("cap_eff", "cap_prm", "cap_inh", "cap_amb", "cap_bnd"):
        assert found[name] == CAP_NET_BIND_SERVICE, name
    assert found["bind"] in ("ok", "EADDRINUSE")  # not EACCES: the capability is effective


@pytest.mark.requires(Feature.CAPABILITIES)
def test_an_empty_capability_set_drops_every_one_even_from_the_bounding_set() -> None:
    user = nobody()
    sandbox = Sandbox(identity=Identity(user=user.name), capabilities=frozenset())
    found = report(sandbox, python=python_for(user.name))
    for name in ("cap_eff", "cap_prm", "cap_inh", "cap_amb", "cap_bnd"):
        assert found[name] == 0, name


@pytest.mark.requires(Feature.CAPABILITIES)
def test_root_that_keeps_one_capability_has_only_that_one() -> None:
    found = report(Sandbox(capabilities=frozenset({"kill"})))
    assert found["uid"] == [0] * 4
    for name in ("cap_eff", "cap_prm", "cap_bnd"):
        assert found[name] == CAP_KILL, name


def test_unset_capabilities_are_left_as_ours() -> None:
    found = report(Sandbox(identity=Identity(umask=0o022)))
    assert found["cap_eff"] == int(our_status("CapEff"), 16)
    assert found["cap_bnd"] == int(our_status("CapBnd"), 16)


# -- no_new_privs and umask ------------------------------------------------------


@pytest.mark.requires(Feature.NO_NEW_PRIVS)
@pytest.mark.parametrize("enabled", [True, False])
def test_no_new_privs_is_set_only_when_asked(enabled: bool) -> None:
    assert our_status("NoNewPrivs") == "0"
    found = report(Sandbox(identity=Identity(no_new_privs=enabled)))
    assert found["no_new_privs"] == int(enabled)


def test_no_new_privs_and_a_user_switch_together() -> None:
    user = nobody()
    sandbox = Sandbox(identity=Identity(user=user.name, no_new_privs=True))
    found = report(sandbox, python=python_for(user.name))
    assert (found["uid"][0], found["no_new_privs"]) == (user.uid, 1)


@pytest.mark.parametrize("mask", [0o027, 0o077, 0o000])
def test_the_umask_is_the_one_given(mask: int) -> None:
    assert report(Sandbox(identity=Identity(umask=mask)))["umask"] == mask


def test_an_unset_umask_is_ours() -> None:
    ours = os.umask(0o022)
    os.umask(ours)
    assert report(Sandbox(identity=Identity(no_new_privs=False)))["umask"] == ours


# -- names are checked when the spec is built ------------------------------------


def test_an_unknown_user_is_refused_with_a_did_you_mean() -> None:
    with pytest.raises(InvalidSpec, match=r"unknown user 'nobdy'; did you mean nobody\?"):
        Identity(user="nobdy")


def test_an_unknown_group_is_refused_with_a_did_you_mean() -> None:
    group = nobody().group
    with pytest.raises(InvalidSpec, match=rf"unknown group '{group}x'; did you mean {group}\?"):
        Identity(groups=(f"{group}x",))


def test_an_unknown_capability_is_refused_with_a_did_you_mean() -> None:
    with pytest.raises(
        InvalidSpec,
        match=r"unknown capability 'CAP_NET_BIND_SERVIC'; did you mean CAP_NET_BIND_SERVICE\?",
    ):
        Sandbox(capabilities=frozenset({"CAP_NET_BIND_SERVIC"}))


def test_capability_names_are_normalised() -> None:
    sandbox = Sandbox(capabilities=frozenset({"net_bind_service", "CAP_KILL", "Cap_Chown"}))
    assert sandbox.capabilities == frozenset({"CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"})


def test_a_umask_beyond_0o777_is_refused() -> None:
    with pytest.raises(InvalidSpec, match=r"umask must be within 0o000\.\.0o777"):
        Identity(umask=0o1000)


# -- the same Sandbox from the daemon's config -----------------------------------


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as lines:
        return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_a_sandbox_table_in_the_config_applies_to_the_running_program(tmp_path: Path) -> None:
    user = nobody()
    programs = f"""
        [programs.web]
        command = ["sleep", "300"]
        start_seconds = 0
        [programs.web.sandbox]
        user = "{user.name}"
        umask = "077"
        no_new_privs = true
        capabilities = ["CAP_NET_BIND_SERVICE"]
        rlimits = {{ nofile = [64, 128] }}
    """
    with running_daemon(tmp_path, programs) as daemon:
        pid = daemon.wait_state("web:0", "RUNNING")["pid"]
        status = proc_status(pid)
        with open(f"/proc/{pid}/limits") as limits:
            nofile = next(line for line in limits if line.startswith("Max open files"))
    assert status["Uid"].split() == [str(user.uid)] * 4
    assert status["Gid"].split() == [str(user.gid)] * 4
    assert int(status["CapEff"], 16) == int(status["CapBnd"], 16) == CAP_NET_BIND_SERVICE
    assert (status["NoNewPrivs"], status["Umask"]) == ("1", "0077")
    assert nofile.split()[3:5] == ["64", "128"]


def test_a_program_the_sandbox_user_cannot_reach_names_the_user(tmp_path: Path) -> None:
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    program = hidden / "tool"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    sandbox = Sandbox(identity=Identity(user="nobody"))
    with pytest.raises(corral.PermissionDenied, match="user 'nobody' may enter every directory"):
        corral.run([str(program)], sandbox=sandbox)
