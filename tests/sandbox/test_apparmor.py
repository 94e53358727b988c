"""`corral sandbox profile NAME --apparmor` (corral._sandbox.apparmor): the profile says in
AppArmor's words what the sandbox spec says, and the real apparmor_parser compiles it.

This kernel has no AppArmor, so the profiles are compiled, not loaded: `apparmor_parser
-Q` (no kernel load) against the feature file Debian's apparmor package ships
(installed by the test command)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from corral._sandbox.apparmor import apparmor_profile, profile_name
from corral.sandbox import Identity, Namespaces, Sandbox, Seccomp

FEATURES = Path("/usr/share/apparmor-features/features")
PARSER = shutil.which("apparmor_parser", path="/usr/sbin:/sbin:/usr/bin:/bin")


def _compiles(text: str, tmp_path: Path) -> None:
    if PARSER is None or not FEATURES.exists():
        pytest.skip("apparmor_parser and its feature file are not installed (package apparmor)")
    source = tmp_path / "profile"
    source.write_text(text)
    done = subprocess.run(
        [PARSER, "-Q", "-K", "--features-file", str(FEATURES), "-S", str(source)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode() + text
    assert done.stdout  # the compiled policy


def test_an_unsandboxed_program_gets_a_profile_that_allows_what_it_may_do(
    tmp_path: Path,
) -> None:
    text = apparmor_profile("web", "/usr/bin/python3.11", None)
    assert "profile corral-web /usr/bin/python3.11 flags=(attach_disconnected) {" in text
    assert "  capability,\n" in text
    assert "  network,\n" in text
    assert "  ptrace,\n" in text
    _compiles(text, tmp_path)


def test_the_spec_becomes_rules_and_the_profile_compiles(tmp_path: Path) -> None:
    spec = Sandbox(
        identity=Identity(no_new_privs=True),
        capabilities=frozenset({"CAP_NET_BIND_SERVICE"}),
        rlimits={"nofile": (256, 512), "core": 0, "nice": 5},
        seccomp=Seccomp(presets=("no-network", "service-default")),
        namespaces=Namespaces(read_only=("/usr",), hidden=("/root", "/etc/shadow")),
    )
    text = apparmor_profile("api", "/opt/my app/bin/api", spec)
    rules = [line.strip() for line in text.splitlines()]
    assert 'profile corral-api "/opt/my app/bin/api" flags=(attach_disconnected) {' in rules
    assert "capability net_bind_service," in rules
    assert "capability," not in rules
    assert [r for r in rules if r.startswith(("network", "deny network"))] == [
        "network unix,",
        "deny network inet,",
        "deny network inet6,",
    ]
    assert {"deny /root/** rwklmx,", "deny /etc/shadow rwklmx,", "deny /usr/** wl,"} <= set(rules)
    assert {"deny ptrace,", "deny mount,", "deny pivot_root,"} <= set(rules)
    assert "set rlimit nofile <= 512," in rules
    assert "set rlimit core <= 0," in rules
    assert not any("rlimit nice" in r for r in rules)  # AppArmor counts nice differently
    _compiles(text, tmp_path)


def test_no_capabilities_and_an_isolated_network(tmp_path: Path) -> None:
    spec = Sandbox(capabilities=frozenset(), namespaces=Namespaces(net=True))
    text = apparmor_profile("worker", None, spec)
    assert "profile corral-worker flags=(attach_disconnected) {" in text
    assert "the executable was not found" in text.lower()
    assert not [line for line in text.splitlines() if line.strip().startswith("capability")]
    assert "deny network inet," in text
    _compiles(text, tmp_path)


def test_paths_mean_only_themselves(tmp_path: Path) -> None:
    """A path holding AppArmor's glob characters is escaped, not read as a pattern."""
    spec = Sandbox(namespaces=Namespaces(hidden=("/srv/a*b", "/srv/[x]")))
    text = apparmor_profile("odd", "/bin/true", spec)
    assert "deny /srv/a\\*b rwklmx," in text
    assert "deny /srv/a\\*b/** rwklmx," in text
    assert "deny /srv/\\[x\\] rwklmx," in text
    _compiles(text, tmp_path)


def test_profile_names_are_safe_for_the_policy_language() -> None:
    assert profile_name("web.v2-x") == "corral-web.v2-x"
    assert profile_name("a b{c}") == "corral-a_b_c_"
