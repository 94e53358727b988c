"""Start one child in a new session with an empty environment; print its pid and `ready`.

The child (which carries no marker and is in no shared group) can only be found
by its parentage. Both sleep (at most 300 s); the child is reaped when the root ends.
"""

from __future__ import annotations

import subprocess
import sys
import time

_MAX_LIFETIME = 300.0
_SLEEPER = "import time; print('ready', flush=True); time.sleep(300)"


def main() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _SLEEPER], env={}, start_new_session=True, stdout=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        child.stdout.readline()  # the child's own `ready`
        print(child.pid, flush=True)
        print("ready", flush=True)
        time.sleep(_MAX_LIFETIME)
        child.kill()


if __name__ == "__main__":
    main()
