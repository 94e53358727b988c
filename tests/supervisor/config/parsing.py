"""Build config texts line by line, so each test states the line numbers it expects."""

from __future__ import annotations

import pytest

from corral._errors import ConfigError
from corral._supervisor.config.load import Config, parse_config

FILE = "/etc/corral.toml"


def toml(*lines: str) -> str:
    """The lines joined into one document: lines[0] is line 1."""
    return "\n".join(lines) + "\n"


def parse(*lines: str) -> Config:
    """The config those lines make, read as if from /etc/corral.toml."""
    return parse_config(toml(*lines), path=FILE)


def config_error(*lines: str) -> ConfigError:
    """The ConfigError those lines raise."""
    with pytest.raises(ConfigError) as caught:
        parse(*lines)
    return caught.value
