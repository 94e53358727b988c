"""The importer's parts on their own: supervisord expansions, TOML strings, JS plain data."""

from __future__ import annotations

import tomllib

import pytest

from corral._control.importing.emit import string, toml_document
from corral._control.importing.expand import expand, index_text
from corral._control.importing.jsdata import JsObject, parse_data
from corral._control.importing.report import Origin
from corral._errors import ConfigError

HERE = Origin("/etc/supervisord.conf", 7)


def pieces(text: str, start: int = 0) -> tuple[object, ...]:
    names = {"program_name": "web", "process_num": start, "here": "/etc", "ENV_HOME": "/root"}
    return expand(text, names, HERE, "command", {})


@pytest.mark.parametrize(
    ("source", "count", "start", "text", "exact"),
    [
        ("--port=80%(process_num)02d", 2, 0, "--port={8000+index}", True),
        ("--port=90%(process_num)d", 3, 1, "--port=90{1+index}", True),
        ("w-%(process_num)02d", 2, 0, "w-{index}", False),  # corral does not pad
        ("%(program_name)s-%(process_num)d {index}", 2, 0, "web-{index} {{index}}", True),
        ("100%% of %(here)s", 1, 0, "100% of /etc", True),
        ("n=%(process_num)-3d|", 2, 0, "n={index}|", False),  # left-aligned: "0  |"
        ("%(process_num)+d", 2, 0, "{index}", False),  # corral writes no sign
    ],
)
def test_process_num_becomes_index_arithmetic_checked_against_supervisord(
    source: str, count: int, start: int, text: str, exact: bool
) -> None:
    assert index_text(pieces(source, start), count) == (text, exact)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%(ENV_HOME", "a closed expansion"),
        ("%(nope)s", "an expansion supervisord knows here"),
        ("50%", "an expansion %(name)s, or %% for a percent sign"),
        ("%(here)", "no format letter"),
        ("%(here)d", "a value %d can format"),
    ],
)
def test_a_bad_expansion_names_the_file_line_and_setting(source: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        pieces(source)
    assert str(caught.value).startswith("/etc/supervisord.conf:7: command: expected ")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "text", ['a "quoted" \\ path', "tab\tnew\nline\x01\x7f", "é ✓ \U0001f600", ""]
)
def test_strings_are_written_so_that_toml_reads_them_back_exactly(text: str) -> None:
    assert tomllib.loads(f"x = {string(text)}")["x"] == text


def test_program_names_that_are_not_bare_keys_are_quoted() -> None:
    text = toml_document(
        ["c"], {"programs": {"web.v2": {"command": ["x"], "logs": {"backups": 1}}}}
    )
    assert tomllib.loads(text) == {
        "programs": {"web.v2": {"command": ["x"], "logs": {"backups": 1}}}
    }


def test_js_plain_data_with_comments_trailing_commas_and_every_quote() -> None:
    source = """// c
module.exports = {
  apps: [{ name: 'a', n: -1.5e1, h: 0x10, t: `x`, "q": "\\u00e9\\n", },],
  /* block */ ok: true, none: null,
};
"""
    data = parse_data(source, "/e.js")
    assert data == {
        "apps": [{"name": "a", "n": -15.0, "h": 16, "t": "x", "q": "é\n"}],
        "ok": True,
        "none": None,
    }
    assert isinstance(data, JsObject)
    assert data.lines == {"apps": 3, "ok": 4, "none": 4}


@pytest.mark.parametrize(
    ("source", "line", "got"),
    [
        ("module.exports = {\n a: function () {},\n}", 2, "`function () {},`"),
        ("module.exports = {\n a: `x${y}`,\n}", 2, "a template string without ${...}"),
        ("module.exports = { a: 1 + 2 }", 1, "`,` or `}`"),
        ("const x = 1;\nmodule.exports = x;", 1, "module.exports"),
        (
            "module.exports = {\n a() { return 1 },\n}",
            2,
            "methods and shorthand are not plain data",
        ),
    ],
)
def test_anything_but_plain_data_is_refused_at_its_line(source: str, line: int, got: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_data(source, "/e.js")
    assert caught.value.line == line
    assert got in str(caught.value)


def test_a_surrogate_pair_escape_is_one_character_and_a_lone_one_is_refused() -> None:
    assert parse_data('{"a": "\\ud83d\\ude00"}', "/e.json") == {"a": "\U0001f600"}
    with pytest.raises(ConfigError, match="surrogate"):
        parse_data('{"a": "\\ud83d"}', "/e.json")


@pytest.mark.parametrize(
    ("source", "expected"),
    [("[" * 100 + "]" * 100, "nested at most 64 deep"), ('{"a": 1e400}', "a finite number")],
)
def test_data_no_ecosystem_file_holds_is_refused_not_crashed_on(source: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_data(source, "/e.json")
