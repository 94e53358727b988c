"""Feature probes for the Linux sandbox subsystems; each asks the subsystem's module."""

from __future__ import annotations

from corral._platform.features import Feature, FeatureStatus


def probe(feature: Feature) -> FeatureStatus:
    """The status of a cgroup, seccomp or namespace feature on this machine."""
    if feature in _CGROUP:
        from corral._platform.linux.cgroups import probe as cgroup_probe

        return cgroup_probe(feature)
    if feature is Feature.SECCOMP:
        from corral._platform.linux.seccomp import probe as seccomp_probe

        return seccomp_probe()
    from corral._platform.linux.namespaces import probe as namespace_probe

    return namespace_probe(feature)


_CGROUP = frozenset(
    {Feature.CGROUPS, Feature.CGROUP_MEMORY, Feature.CGROUP_CPU, Feature.CGROUP_PIDS}
)
