"""What `import corral.coordinate` loads: the local locks and hashing, not the etcd client,
asyncio (nor ssl with it) or OpenSSL's libcrypto (hashlib's)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import corral.coordinate
from corral.coordinate import FileLock, Rendezvous, jump_hash
jump_hash("k", 4)
names = ("corral._coordinate.etcd.client", "h11", "_hashlib", "ssl", "asyncio")
loaded = [m for m in names if sys.modules.get(m) is not None]
print(" ".join(loaded) or "-")
from corral.coordinate import EtcdLock
print("corral._coordinate.etcd.client" in sys.modules)
"""


def test_the_local_half_loads_no_etcd_client_asyncio_or_openssl() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split("\n")[:2] == ["-", "True"]
