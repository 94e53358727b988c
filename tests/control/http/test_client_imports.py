"""The client is imported by every CLI command: standard library and h11 only, never asyncio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import corral

# Import the client as a lazy `corral/__init__` would let it be imported: the package
# module is a bare namespace, so only what client.py itself pulls in gets loaded.
_PROBE = """
import json, sys, types
before = set(sys.modules)
package = types.ModuleType("corral")
package.__path__ = [{src!r}]
sys.modules["corral"] = package
import corral._control.client
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_client_imports_only_the_standard_library_and_h11() -> None:
    src = str(Path(corral.__file__).parent)
    probe = _PROBE.format(src=src)
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.partition(".")[0] for name in json.loads(output)}
    assert "asyncio" not in loaded
    assert loaded - sys.stdlib_module_names == {"corral", "h11"}
