"""positions: every key corral accepts gets the line where it is written."""

from __future__ import annotations

import tomllib

from corral._supervisor.config.positions import KeyPath, format_key, scan_positions
from tests.supervisor.config.parsing import toml


def lines_of(text: str) -> dict[KeyPath, int]:
    return dict(scan_positions(text).lines)


def test_table_headers_and_their_keys_have_their_own_lines() -> None:
    text = toml(
        "# a comment with [brackets] and key = 1",
        "[daemon]",
        'socket = "/run/corral.sock"',
        "",
        "[programs.web]",
        "numprocs = 2",
    )
    lines = lines_of(text)
    assert lines[("daemon",)] == 2
    assert lines[("daemon", "socket")] == 3
    assert lines[("programs",)] == 5
    assert lines[("programs", "web")] == 5
    assert lines[("programs", "web", "numprocs")] == 6


def test_keys_inside_inline_tables_are_found_on_their_line() -> None:
    text = toml(
        "[programs.web]",
        "backoff = { initial = 0.1, factor = 2.0 }",
        'environment = { MODE = "demo", "QUOTED.KEY" = "x", nested = { deep = 1 } }',
    )
    lines = lines_of(text)
    assert lines[("programs", "web", "backoff", "factor")] == 2
    assert lines[("programs", "web", "environment", "QUOTED.KEY")] == 3
    assert lines[("programs", "web", "environment", "nested", "deep")] == 3


def test_elements_of_a_multiline_array_have_their_own_lines() -> None:
    text = toml(
        "[programs.web]",
        "exit_codes = [",
        "  0,  # success",
        "  2,",
        "]",
        "priority = 5",
    )
    lines = lines_of(text)
    assert lines[("programs", "web", "exit_codes")] == 2
    assert lines[("programs", "web", "exit_codes", 0)] == 3
    assert lines[("programs", "web", "exit_codes", 1)] == 4
    assert lines[("programs", "web", "priority")] == 6


def test_dotted_keys_mark_every_level_at_their_first_line() -> None:
    text = toml(
        "programs.web.command = 'sleep 1'",
        "programs.web.backoff.initial = 1",
        "programs.api.command = 'true'",
    )
    lines = lines_of(text)
    assert lines[("programs",)] == 1
    assert lines[("programs", "web")] == 1
    assert lines[("programs", "web", "backoff", "initial")] == 2
    assert lines[("programs", "api")] == 3


def test_an_explicit_header_wins_over_a_table_implied_earlier() -> None:
    text = toml(
        "[programs.web.backoff]",
        "initial = 1",
        "[programs.web]",
        "command = 'true'",
    )
    lines = lines_of(text)
    assert lines[("programs", "web", "backoff", "initial")] == 2
    assert lines[("programs", "web")] == 3
    assert lines[("programs",)] == 1


def test_strings_that_look_like_syntax_do_not_confuse_the_scanner() -> None:
    text = toml(
        '[programs."odd [name]"]',
        "command = \"echo '[x]' # not a comment, { neither = 1 }\"",
        'description = """',
        "first line",
        "[not.a.table]",
        '"""',
        "literal = '''",
        "also = 'not a key'",
        "'''",
        r'escaped = "a \" quote"',
        "priority = 1",
    )
    lines = lines_of(text)
    assert lines[("programs", "odd [name]", "command")] == 2
    assert lines[("programs", "odd [name]", "description")] == 3
    assert lines[("programs", "odd [name]", "literal")] == 7
    assert lines[("programs", "odd [name]", "escaped")] == 10
    assert lines[("programs", "odd [name]", "priority")] == 11
    assert ("not", "a", "table") not in lines


def test_array_tables_are_indexed_and_their_subtables_follow_the_last_element() -> None:
    text = toml(
        "[[fruits]]",
        'name = "apple"',
        "[fruits.physical]",
        'color = "red"',
        "[[fruits]]",
        'name = "banana"',
    )
    lines = lines_of(text)
    assert lines[("fruits",)] == 1
    assert lines[("fruits", 0, "physical", "color")] == 4
    assert lines[("fruits", 1, "name")] == 6


def test_a_missing_key_takes_the_line_of_its_nearest_table() -> None:
    positions = scan_positions(toml("", "[programs.web]", "numprocs = 1"))
    assert positions.line_of(("programs", "web", "command")) == 2
    assert positions.line_of(("daemon", "socket")) is None


def test_every_key_tomllib_reads_is_found() -> None:
    text = toml(
        "top = 1979-05-27T07:32:00-08:00",
        "[a]",
        'b.c = [1, [2, 3], { d = "e" }, """x',
        'y"""]',
        "f = { g = [ { h = 1 }, { i = 2 } ] }",
        "'j k' = 0x10",
        "[a.l]",
        "m = inf",
    )
    found = lines_of(text)

    def walk(value: object, path: KeyPath) -> list[KeyPath]:
        children: list[KeyPath] = [path] if path else []
        if isinstance(value, dict):
            for key, item in value.items():
                children += walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                children += walk(item, (*path, index))
        return children

    assert sorted(map(str, walk(tomllib.loads(text), ()))) == sorted(map(str, found))


def test_key_paths_are_shown_as_a_user_would_write_them() -> None:
    assert format_key(("programs", "web", "exit_codes", 1)) == "programs.web.exit_codes[1]"
    assert format_key(("programs", "bad name")) == 'programs."bad name"'
    assert format_key(()) == ""
