"""`corral doctor`: the feature table as rows, rendered as exact text, and the command itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import corral
from corral._control.cli.main import main
from corral._control.cli.render import doctor_report
from corral._platform.features import Feature, FeatureStatus, features
from corral._sandbox.doctor import PROCESS_USES, SANDBOX_USES, DoctorRow, doctor_rows
from corral.lowlevel import override_feature


def status(feature: Feature, reason: str = "", needs: str = "") -> FeatureStatus:
    return FeatureStatus(feature=feature, supported=not reason, reason=reason, needs=needs)


ALL_THERE = {feature: status(feature) for feature in Feature}
SOME_MISSING = {
    **ALL_THERE,
    Feature.SECCOMP: status(Feature.SECCOMP, "libseccomp.so.2 not found", "libseccomp 2.5+"),
    Feature.NS_USER: status(
        Feature.NS_USER, "user.max_user_namespaces is 0", "sysctl user.max_user_namespaces > 0"
    ),
    Feature.PIDFD: status(Feature.PIDFD, "pidfd_open failed: ENOSYS", "Linux 5.3+"),
}


def test_every_feature_has_exactly_one_row() -> None:
    assert set(SANDBOX_USES).isdisjoint(PROCESS_USES)
    assert set(SANDBOX_USES) | set(PROCESS_USES) == set(Feature)
    rows = doctor_rows(ALL_THERE)
    assert [row.feature for row in rows] == [f.value for f in (*SANDBOX_USES, *PROCESS_USES)]


def test_a_missing_feature_keeps_its_reason_and_needs() -> None:
    rows = {row.feature: row for row in doctor_rows(SOME_MISSING)}
    assert rows["seccomp"] == DoctorRow(
        feature="seccomp",
        group="sandbox",
        supported=False,
        used_by="seccomp",
        reason="libseccomp.so.2 not found",
        needs="libseccomp 2.5+",
    )
    assert rows["pidfd"].group == "process"
    assert rows["cgroups"].as_json() == {
        "feature": "cgroups",
        "group": "sandbox",
        "supported": True,
        "used_by": "cgroup (any limit), memory, pids, cpu",
        "reason": "",
        "needs": "",
    }


def test_the_report_lists_each_feature_then_why_the_missing_ones_are_missing() -> None:
    assert doctor_report(doctor_rows(SOME_MISSING)) == (
        "SANDBOX FEATURE  OK   USED BY\n"
        "no-new-privs     yes  no_new_privs\n"
        "capabilities     yes  capabilities\n"
        "cgroups          yes  cgroup (any limit), memory, pids, cpu\n"
        "cgroup-memory    yes  memory, cgroup.memory_max, memory_high, memory_swap_max\n"
        "cgroup-cpu       yes  cpu, cgroup.cpu_quota, cpu_weight\n"
        "cgroup-pids      yes  pids, cgroup.pids_max\n"
        "seccomp          no   seccomp\n"
        "ns-pid           yes  namespaces.pid, init\n"
        "ns-net           yes  namespaces.net, veth\n"
        "ns-mount         yes  namespaces.mount, private_tmp, read_only, hidden, root\n"
        "ns-uts           yes  namespaces.hostname\n"
        "ns-ipc           yes  namespaces.ipc\n"
        "ns-user          no   namespaces.user\n"
        "apparmor         yes  sandbox profile --load (a profile is written without it)\n"
        "user, group, groups, umask and rlimits need no feature: they work on any POSIX system.\n"
        "\n"
        "PROCESS FEATURE  OK   USED BY\n"
        "pidfd            no   exit notification without a thread per process\n"
        "pidfd-exit-info  yes  the real exit status of a child something else reaped\n"
        "proc-scan        yes  finding and ending a whole tree, double-forked members too\n"
        "spawn-chdir      yes  a working directory without going through a shell\n"
        "spawn-closefrom  yes  closing stray fds in a child when we hold many\n"
        "fd-listing       yes  finding stray inheritable fds without probing every number\n"
        "rename-exchange  yes  log rotation during which the log's name never goes missing\n"
        "subreaper        yes  adopting the orphans of supervised programs\n"
        "\n"
        "Not available here:\n"
        "  seccomp: libseccomp.so.2 not found\n"
        "    needs libseccomp 2.5+\n"
        "  ns-user: user.max_user_namespaces is 0\n"
        "    needs sysctl user.max_user_namespaces > 0\n"
        "  pidfd: pidfd_open failed: ENOSYS\n"
        "    needs Linux 5.3+\n"
    )


def test_the_report_says_so_when_everything_is_there() -> None:
    assert doctor_report(doctor_rows(ALL_THERE)).endswith("\n\nEvery feature is available here.\n")


def test_the_command_reports_this_machine_honouring_overrides(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with override_feature(Feature.SECCOMP, False):
        assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "\nseccomp          no   seccomp\n" in out
    missing = out[out.index("Not available here:\n") :]
    assert (
        "\n  seccomp: switched off by corral.lowlevel.override_feature\n"
        "    needs the override to be lifted\n"
    ) in missing


def test_the_json_is_the_rows_of_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"features": [row.as_json() for row in doctor_rows(features())]}


def test_doctor_runs_without_a_daemon(tmp_path: Path) -> None:
    result = corral.run(
        [sys.executable, "-m", "corral", "doctor", "--json", "--socket", str(tmp_path / "no.sock")]
    )
    rows = json.loads(result.stdout_text)["features"]
    assert {row["feature"] for row in rows} == {feature.value for feature in Feature}
