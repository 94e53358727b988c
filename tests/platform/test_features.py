"""Feature probes, their overrides, and the implementations chosen from them."""

from __future__ import annotations

import pytest

import corral
from corral._platform.features import status
from corral._platform.linux.prctl import is_child_subreaper
from corral.lowlevel import Feature, FeatureStatus, become_subreaper, features, override_feature


def test_every_feature_has_a_status() -> None:
    found = features()
    assert set(found) == set(Feature)
    for feature, probed in found.items():
        assert probed.feature is feature
        assert probed.supported or (probed.reason and probed.needs)


def test_this_linux_machine_has_what_the_suite_relies_on() -> None:
    assert status(Feature.PROC_SCAN).supported
    assert status(Feature.SUBREAPER).supported


def test_override_switches_a_feature_off_and_restores_it() -> None:
    before = status(Feature.PIDFD)
    with override_feature(Feature.PIDFD, False):
        off = status(Feature.PIDFD)
        assert off == FeatureStatus(
            feature=Feature.PIDFD,
            supported=False,
            reason="switched off by corral.lowlevel.override_feature",
            needs="the override to be lifted",
        )
    assert status(Feature.PIDFD) == before


def test_override_restores_after_an_exception() -> None:
    before = status(Feature.SPAWN_CHDIR)
    with pytest.raises(RuntimeError), override_feature(Feature.SPAWN_CHDIR, False):
        raise RuntimeError
    assert status(Feature.SPAWN_CHDIR) == before


def test_nested_overrides_restore_the_outer_one() -> None:
    with override_feature(Feature.PROC_SCAN, False):
        with override_feature(Feature.PROC_SCAN, True):
            assert status(Feature.PROC_SCAN).supported
        assert not status(Feature.PROC_SCAN).supported


def test_require_raises_unsupported_feature_naming_what_is_missing() -> None:
    with (
        override_feature(Feature.SUBREAPER, False),
        pytest.raises(corral.UnsupportedFeature) as caught,
    ):
        become_subreaper()
    error = caught.value
    assert error.feature == "subreaper"
    assert str(error) == (
        "subreaper is not available here: switched off by corral.lowlevel.override_feature "
        "(needs the override to be lifted)"
    )


def test_the_test_process_is_a_child_subreaper() -> None:
    assert is_child_subreaper()
