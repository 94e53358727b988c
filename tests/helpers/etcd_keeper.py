"""Keep a real etcd for a test session, started and killed on request.

Usage: etcd_keeper.py DATA_DIR CLIENT_PORT PEER_PORT [SCHEME [ETCD_FLAG...]]
SCHEME is http (the default) or https (then ETCD_FLAG gives --cert-file and --key-file).
Reads commands on stdin, one a line, and answers each on stdout:
  start   start etcd (on the same data dir) and wait until it answers: `ready PID`
  kill    SIGKILL etcd and reap it: `killed`
At end of input it kills etcd and exits. etcd runs as this keeper's child, so a test
that kills and restarts it leaves no new child of the test process behind.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

_READY_WITHIN = 30.0


def etcd_argv(data: str, client: int, peer: int, scheme: str, extra: list[str]) -> list[str]:
    client_url, peer_url = f"{scheme}://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    return [
        "etcd",
        "--name=test",
        f"--data-dir={data}/etcd",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=test={peer_url}",
        "--heartbeat-interval=10",
        "--election-timeout=100",
        *extra,
    ]


def wait_ready(client: int, scheme: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _READY_WITHIN
    request = urllib.request.Request(
        f"{scheme}://127.0.0.1:{client}/v3/maintenance/status", data=b"{}", method="POST"
    )
    unverified = ssl._create_unverified_context()  # the keeper only asks whether it is up
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(request, timeout=1, context=unverified) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError:
            return  # it answers (with auth on, it refuses the anonymous question)
        except (urllib.error.URLError, OSError):
            time.sleep(0.02)  # a back-off between readiness checks
    raise SystemExit(f"etcd did not answer within {_READY_WITHIN:g} s")


def main() -> None:
    data, client, peer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    scheme = sys.argv[4] if len(sys.argv) > 4 else "http"
    extra = sys.argv[5:]
    process: subprocess.Popen[bytes] | None = None
    log = open(os.path.join(data, "etcd.log"), "ab")  # noqa: SIM115 - held for the session
    for line in sys.stdin:
        command = line.strip()
        if command == "start" and process is None:
            argv = etcd_argv(data, client, peer, scheme, extra)
            process = subprocess.Popen(argv, stdout=log, stderr=log)
            wait_ready(client, scheme, process)
            print(f"ready {process.pid}", flush=True)
        elif command == "kill" and process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            process = None
            print("killed", flush=True)
        else:
            print(f"cannot {command} now", flush=True)
    if process is not None:
        process.send_signal(signal.SIGKILL)
        process.wait()


if __name__ == "__main__":
    main()
