"""Power-user façade: the machine's features, their overrides, and the one spawn path."""

from __future__ import annotations

from corral._platform import become_subreaper
from corral._platform.features import Feature, FeatureStatus, features
from corral._platform.features import override as override_feature
from corral._process.spawn import TREE_VARIABLE, Launched, launch
from corral._process.tree import Tree

__all__ = [
    "TREE_VARIABLE",
    "Feature",
    "FeatureStatus",
    "Launched",
    "Tree",
    "become_subreaper",
    "features",
    "launch",
    "override_feature",
]
