"""`corral security NAME` / GET /v1/security/{name}: how exposed a running instance is,
read from its live process (uid, capabilities, no_new_privs, seccomp, namespaces) and
its spec; and `corral sandbox profile NAME --apparmor` / GET /v1/sandbox/{name}/apparmor.
An unknown name is a 404 and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral._errors import ApiError
from corral._platform import Feature, feature_status
from tests.support.daemon import SLEEP_FOREVER, running_daemon

PROGRAMS = f"""
    [programs.open]
    command = {SLEEP_FOREVER}

    [programs.boxed]
    command = {SLEEP_FOREVER}
    [programs.boxed.sandbox]
    user = "nobody"
    no_new_privs = true
    capabilities = []
    umask = "027"
    memory = "64M"
    pids = 16
    cpu = 0.5
    [programs.boxed.sandbox.seccomp]
    presets = ["service-default"]
    [programs.boxed.sandbox.namespaces]
    pid = true
    init = true
    net = true
    ipc = true
    hostname = "boxed"
    private_tmp = true
    read_only = ["/usr"]

    [programs.idle]
    command = {SLEEP_FOREVER}
    autostart = false
"""


def _checks(view: dict[str, object]) -> dict[str, dict[str, object]]:
    return {e["check"]: e for e in view["exposures"]}  # type: ignore[attr-defined]


@pytest.mark.requires(Feature.SECCOMP)
@pytest.mark.requires(Feature.NS_NET)
@pytest.mark.requires(Feature.CGROUP_MEMORY)
def test_security_scores_what_the_running_process_actually_has(tmp_path: Path) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        open_row = daemon.wait_state("open:0", "RUNNING")
        boxed_row = daemon.wait_state("boxed:0", "RUNNING")
        wide = daemon.call("GET", "/security/open:0")
        tight = daemon.call("GET", "/security/boxed:0")
        text = daemon.cli("security", "boxed:0", check=True).stdout_text
        as_json = json.loads(daemon.cli("--json", "security", "open", check=True).stdout_text)
    assert wide["pid"] == open_row["pid"]
    checks = _checks(wide)
    assert checks["root"]["exposed"]
    assert checks["root"]["source"] == "running"
    assert checks["cap-sys-admin"]["exposed"]
    assert checks["seccomp"]["exposed"]
    assert checks["seccomp"]["source"] == "running"
    assert checks["namespace-net"]["exposed"]
    assert wide["rating"] == "UNSAFE"
    assert as_json == wide | {"exposures": as_json["exposures"]}  # same view through the CLI
    assert tight["pid"] == boxed_row["pid"]
    checks = _checks(tight)
    for name in ("root", "no-new-privs", "seccomp", "cap-sys-admin", "namespace-net",
                 "namespace-pid", "namespace-ipc", "namespace-uts", "umask"):  # fmt: skip
        assert not checks[name]["exposed"], name
        assert checks[name]["source"] == "running", name
    assert not checks["memory-limit"]["exposed"]
    opened = [name for name, e in checks.items() if e["exposed"]]
    assert opened == ["namespace-user"]  # the one key this sandbox leaves open
    assert tight["score"] < 1.0 < wide["score"]
    assert tight["rating"] == "OK"
    assert tight["notes"] == [
        f"pid {boxed_row['pid']} is corral's init in the program's pid namespace: it runs "
        "as the daemon's user with only CAP_KILL and no_new_privs, to reap and relay "
        "signals, and is not scored"
    ]
    assert text.startswith(f"boxed:0  exposure {tight['score']:.1f} / 10  OK  (pid ")
    assert "open    3  root inside is root outside (no user namespace)" in text
    assert "close with sandbox.namespaces.user" in text


def test_a_stopped_instance_is_scored_from_its_spec_and_unknown_names_are_refused(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        idle = daemon.call("GET", "/security/idle:0")
        with pytest.raises(ApiError) as refused:
            daemon.call("GET", "/security/nope")
        cli = daemon.cli("security", "nope")
        text = daemon.cli("security", "idle", check=True).stdout_text
    assert idle["pid"] is None
    assert {e["source"] for e in idle["exposures"]} == {"config"}
    assert refused.value.status == 404
    assert cli.exit_code == 2
    assert "no program or instance named 'nope'" in cli.stderr_text
    assert "not running: all from the config" in text


def test_sandbox_profile_writes_an_apparmor_profile_and_loads_it_only_where_apparmor_runs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "boxed.profile"
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        reply = daemon.call("GET", "/sandbox/boxed/apparmor")
        printed = daemon.cli("sandbox", "profile", "boxed:0", "--apparmor", check=True)
        loaded = daemon.cli("sandbox", "profile", "boxed", "--apparmor", "-o", str(out), "--load")
        no_file = daemon.cli("sandbox", "profile", "boxed", "--apparmor", "--load")
        unknown = daemon.cli("sandbox", "profile", "nope", "--apparmor")
    assert reply["program"] == "boxed"
    assert printed.stdout_text == reply["profile"]
    assert "profile corral-boxed /usr/bin/sleep " in reply["profile"]
    assert "deny ptrace," in reply["profile"]
    assert out.read_text() == reply["profile"]  # written even where it cannot be loaded
    apparmor = feature_status(Feature.APPARMOR)
    if apparmor.supported:
        pytest.skip("this kernel runs AppArmor: loading is not tested here")  # not this machine
    assert loaded.exit_code == 1
    assert f"the profile was written to {out} but not loaded: {apparmor.reason}" in (
        loaded.stderr_text
    )
    assert no_file.exit_code == 2
    assert "--load needs --output" in no_file.stderr_text
    assert unknown.exit_code == 2
