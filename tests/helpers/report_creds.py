"""Print one JSON line with this process's credentials and limits, then exit 0.

Usage: report_creds.py [--bind PORT]
Keys: uid and gid (real, effective, saved, filesystem), groups, the capability
sets as integers (cap_eff, cap_prm, cap_bnd, cap_amb, cap_inh), no_new_privs and
umask, all read from /proc/self/status; rlimits: {name: [soft, hard]} for every
RLIMIT_* of this platform, null for unlimited. With --bind PORT, also "bind":
"ok" or the errno name of binding a TCP socket to 127.0.0.1:PORT.
"""

from __future__ import annotations

import errno
import json
import resource
import socket
import sys


def status() -> dict[str, str]:
    fields = {}
    with open("/proc/self/status") as lines:
        for line in lines:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def limits() -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for name in dir(resource):
        if name.startswith("RLIMIT_"):
            soft, hard = resource.getrlimit(getattr(resource, name))
            found[name.removeprefix("RLIMIT_").lower()] = [
                None if side == resource.RLIM_INFINITY else side for side in (soft, hard)
            ]
    return found


def bind(port: int) -> str:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))
    return "ok"


def main() -> None:
    fields = status()
    report: dict[str, object] = {
        "uid": [int(part) for part in fields["Uid"].split()],
        "gid": [int(part) for part in fields["Gid"].split()],
        "groups": sorted(int(part) for part in fields["Groups"].split()),
        "no_new_privs": int(fields["NoNewPrivs"]),
        "umask": int(fields["Umask"], 8),
        "rlimits": limits(),
    }
    for name in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"):
        report["cap_" + name[3:].lower()] = int(fields[name], 16)
    if sys.argv[1:2] == ["--bind"]:
        report["bind"] = bind(int(sys.argv[2]))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
