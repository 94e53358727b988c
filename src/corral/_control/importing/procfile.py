"""A Procfile (Heroku, foreman, honcho) as a corral `Draft`.

Each `NAME: COMMAND` line is a program running `/bin/sh -c COMMAND`, as Heroku
runs it, with `PORT` set as foreman sets it: 5000 for the first process type,
5100 for the second, and so on. `release` (Heroku's one-shot at deploy) is
imported not to start with the daemon and never to restart.
"""

from __future__ import annotations

import os
import re

from corral._control.importing.expand import escape
from corral._control.importing.report import Draft, Origin, read_text, refuse

__all__ = ["convert"]

_LINE = re.compile(r"(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>.*)")
FIRST_PORT = 5000
PORT_STEP = 100


def convert(path: str) -> Draft:
    """The draft of the Procfile at `path`; `ConfigError` at a line that is not NAME: COMMAND."""
    draft = Draft(source=path, kind="procfile")
    for number, raw in enumerate(read_text(path).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        origin = Origin(path, number)
        match = _LINE.fullmatch(line)
        if match is None or not match["command"].strip():
            refuse(origin, "a line NAME: COMMAND (NAME of letters, digits, _ and -)", repr(raw))
        name = match["name"]
        if name in draft.programs:
            refuse(origin, "each process type once", f"{name!r} again")
        _program(draft, name, match["command"].strip(), origin)
    if not draft.programs:
        refuse(path, "at least one line NAME: COMMAND", "none")
    dotenv = os.path.join(os.path.dirname(path), ".env")
    if os.path.isfile(dotenv):
        draft.note(
            Origin(dotenv, 1),
            ".env",
            "dropped: corral does not read it; put its variables in each program's environment",
        )
    return draft


def _program(draft: Draft, name: str, command: str, origin: Origin) -> None:
    port = FIRST_PORT + PORT_STEP * len(draft.programs)
    draft.programs[name] = {}
    draft.put(("programs", name, "command"), ["/bin/sh", "-c", escape(command)], origin, name)
    draft.put(("programs", name, "environment"), {"PORT": str(port)}, origin, name)
    draft.note(
        origin,
        name,
        f"approximated: runs under /bin/sh -c as on Heroku, with PORT={port} as foreman "
        "numbers them",
    )
    if name == "release":
        draft.put(("programs", name, "autostart"), False, origin, name)
        draft.put(("programs", name, "restart"), "never", origin, name)
        draft.note(
            origin,
            name,
            "approximated: Heroku runs release once per deploy; here it is autostart = "
            "false, restart = never (run it with `corral start release`)",
        )
