"""`{index}` arithmetic: each instance gets its own arguments; anything else in braces fails."""

from __future__ import annotations

import pytest

from corral._errors import InvalidSpec
from corral._process.spec import ProcessSpec
from corral._supervisor.model.index_template import parse_template, substitute
from corral._supervisor.model.program import Program


@pytest.mark.parametrize(
    ("text", "index", "expected"),
    [
        ("{index}", 3, "3"),
        ("--port={9100 + index}", 2, "--port=9102"),
        ("{index + 1}", 0, "1"),
        ("{index - 1}", 0, "-1"),
        ("{ 10 - index + 5 }", 4, "11"),
        ("w{index}-{index}", 7, "w7-7"),
        ("{{index}}", 5, "{index}"),
        ("{{ index + 1 }}", 5, "{ index + 1 }"),
        ("plain", 9, "plain"),
    ],
)
def test_an_expression_is_substituted_per_instance(text: str, index: int, expected: str) -> None:
    assert substitute(text, index) == expected


@pytest.mark.parametrize(
    "text",
    [
        "find . -exec {} +",
        '{"a": {"b": 1}}',
        "{print $1}",
        "f'{child.pid}'",
        r"\d{3,5}",
        "{9100}",
        "{{}}",
        "a}b{",
    ],
)
def test_braces_that_do_not_name_index_are_left_as_they_are(text: str) -> None:
    assert substitute(text, 7) == text
    assert not parse_template(text).varies


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{index * 2}", "is not {index} arithmetic"),
        ("{-index}", "is not {index} arithmetic"),
        ("{index 1}", "is not {index} arithmetic"),
        ("{port + index}", "is not {index} arithmetic"),
        ("{print index($0)}", "is not {index} arithmetic"),
    ],
)
def test_braces_naming_index_must_hold_index_arithmetic(text: str, says: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_template(text)
    assert says in str(caught.value)


def test_a_template_knows_whether_it_varies() -> None:
    assert parse_template("{index}").varies
    assert not parse_template("{{index}}").varies


def test_a_program_gives_each_instance_its_own_argv_and_environment() -> None:
    spec = ProcessSpec(argv=("api", "--port", "{9100 + index}"), env_add=(("SLOT", "s{index}"),))
    program = Program(name="api", process=spec, numprocs=2)
    second = program.instance_process(1)
    assert second.argv == ("api", "--port", "9101")
    assert second.env_add == (("SLOT", "s1"),)


def test_a_program_without_braces_hands_out_its_own_spec() -> None:
    program = Program(name="web", process=ProcessSpec(argv=("web",)))
    assert program.instance_process(0) is program.process


def test_a_program_with_a_malformed_expression_is_refused_when_built() -> None:
    with pytest.raises(InvalidSpec, match=r"is not \{index\} arithmetic"):
        Program(name="web", process=ProcessSpec(argv=("web", "{index * 2}")))
