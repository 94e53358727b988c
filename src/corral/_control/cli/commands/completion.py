"""`corral completion bash|zsh|fish`: a shell completion script; `corral complete-names`.

The script completes commands and their options from the parser itself (so it never
falls behind a new command), and the names of programs and instances from a running
daemon: it runs `corral complete-names`, which prints them one per line, and prints
nothing (quietly) when no daemon answers. zsh uses the bash script through
`bashcompinit`.
"""

from __future__ import annotations

import argparse
from typing import Any, cast

from corral._control.cli.context import EXIT_OK, Context
from corral._control.wire import API_PREFIX

SHELLS = ("bash", "zsh", "fish")
NAMED = ("start", "stop", "restart", "signal", "logs", "metrics", "status", "inspect", "scale")
"""Commands whose arguments are program or instance names."""


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `completion` and the helper its scripts call."""
    parser = sub.add_parser("completion", help="print a shell completion script (bash, zsh, fish)")
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    sub.add_parser("complete-names", parents=[common], help="program and instance names")


_ZSH_PRELUDE = """\
(( $+functions[compdef] )) || { autoload -U compinit && compinit -u }
autoload -U +X bashcompinit && bashcompinit
"""
"""zsh runs the bash script through bashcompinit, which needs compinit's compdef."""


def completion(ctx: Context, args: argparse.Namespace) -> int:
    """Print the script for `args.shell`."""
    from corral._control.cli.main import build_parser  # the parser is what it completes

    commands, options = _commands(build_parser())
    if args.shell == "fish":
        print(_fish(commands, options), end="")
    else:
        script = _bash(commands, options)
        if args.shell == "zsh":
            script = _ZSH_PRELUDE + script
        print(script, end="")
    return EXIT_OK


def complete_names(ctx: Context, args: argparse.Namespace) -> int:
    """Every program name and instance name, one per line."""
    reply = cast(dict[str, Any], ctx.call("GET", API_PREFIX + "/status", timeout=5))
    names: dict[str, None] = {}
    for row in reply["instances"]:
        names[row["program"]] = None
        names[row["name"]] = None
    print("\n".join(names))
    return EXIT_OK


def _commands(parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, list[str]]]:
    """The visible commands, and each one's long options."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = [name for name in action.choices if name != "complete-names"]
    options = {
        name: sorted(
            option
            for each in action.choices[name]._actions
            for option in each.option_strings
            if option.startswith("--")
        )
        for name in commands
    }
    return commands, options


def _bash(commands: list[str], options: dict[str, list[str]]) -> str:
    cases = "".join(
        f'        {name}) opts="{" ".join(opts)}" ;;\n' for name, opts in options.items()
    )
    return f"""_corral() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} command=${{COMP_WORDS[1]}} opts=""
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "{" ".join(commands)}" -- "$cur"))
        return
    fi
    case "$command" in
{cases}    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case "$command" in
        {"|".join(NAMED)})
            COMPREPLY=($(compgen -W "$(corral complete-names 2>/dev/null)" -- "$cur")) ;;
    esac
}}
complete -F _corral corral
"""


def _fish(commands: list[str], options: dict[str, list[str]]) -> str:
    lines = [f"complete -c corral -f -n __fish_use_subcommand -a '{' '.join(commands)}'"]
    for name, opts in options.items():
        for option in opts:
            lines.append(
                f"complete -c corral -n '__fish_seen_subcommand_from {name}' -l {option[2:]}"
            )
    lines.append(
        f"complete -c corral -f -n '__fish_seen_subcommand_from {' '.join(NAMED)}' "
        "-a '(corral complete-names 2>/dev/null)'"
    )
    return "\n".join(lines) + "\n"
