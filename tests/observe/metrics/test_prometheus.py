"""The Prometheus text format, checked as exact text."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from corral._observe.metrics.prometheus import Family, render


def test_a_family_renders_help_type_and_one_line_per_sample() -> None:
    family = Family(
        "corral_instance_up",
        "1 while RUNNING.",
        "gauge",
        [
            ({"instance": "web:0", "program": "web"}, 1.0),
            ({"instance": "web:1", "program": "web"}, 0),
        ],
    )
    assert render([family]) == (
        "# HELP corral_instance_up 1 while RUNNING.\n"
        "# TYPE corral_instance_up gauge\n"
        'corral_instance_up{instance="web:0",program="web"} 1\n'
        'corral_instance_up{instance="web:1",program="web"} 0\n'
    )


def test_a_sample_without_labels_has_no_braces() -> None:
    family = Family("corral_metrics_sample_seconds", "Tick cost.", "gauge", [({}, 0.00125)])
    assert render([family]).splitlines()[-1] == "corral_metrics_sample_seconds 0.00125"


def test_label_values_escape_backslash_quote_and_newline_and_help_escapes_two() -> None:
    family = Family("m", 'say "hi"\\now\nthen', "counter", [({"l": 'a"b\\c\nd'}, 3)])
    assert render([family]) == (
        '# HELP m say "hi"\\\\now\\nthen\n# TYPE m counter\nm{l="a\\"b\\\\c\\nd"} 3\n'
    )


def test_special_floats_use_their_prometheus_names() -> None:
    samples = [({"v": "nan"}, math.nan), ({"v": "inf"}, math.inf), ({"v": "-inf"}, -math.inf)]
    lines = render([Family("m", "h", "gauge", samples)]).splitlines()[2:]
    assert lines == ['m{v="nan"} NaN', 'm{v="inf"} +Inf', 'm{v="-inf"} -Inf']


def test_a_family_with_no_samples_still_declares_itself() -> None:
    assert render([Family("m", "h", "gauge", [])]) == "# HELP m h\n# TYPE m gauge\n"


def test_nothing_renders_as_empty_text() -> None:
    assert render([]) == ""


def test_prometheus_own_parser_reads_it_back_escapes_and_all() -> None:
    families = [
        Family("corral_instance_up", "1 while RUNNING.", "gauge",
               [({"instance": 'we"ird\\na\nme:0', "program": "p"}, 1.0)]),
        Family("corral_instance_restarts_total", "Automatic restarts.", "counter",
               [({"instance": "web:0", "program": "web"}, 3.0)]),
        Family("corral_metrics_sample_seconds", "Tick cost.", "gauge", [({}, 0.00125)]),
    ]  # fmt: skip
    parsed = {f.name: f for f in text_string_to_metric_families(render(families))}
    up = parsed["corral_instance_up"]
    assert (up.type, up.documentation) == ("gauge", "1 while RUNNING.")
    assert up.samples[0].labels == {"instance": 'we"ird\\na\nme:0', "program": "p"}
    assert up.samples[0].value == 1.0
    restarts = parsed["corral_instance_restarts"]  # the parser names counters without _total
    assert restarts.type == "counter"
    assert restarts.samples[0].name == "corral_instance_restarts_total"
    assert restarts.samples[0].value == 3.0
    assert parsed["corral_metrics_sample_seconds"].samples[0].value == 0.00125
