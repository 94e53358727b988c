"""corral's version, in a module of its own so the daemon can report it (imports nothing)."""

VERSION = "0.1.0"
"""The release; pyproject.toml's `version` says the same (tests/test_public_api.py checks)."""
