"""`corral alerts` as exact text: the table of what fires, then the counts that are not zero."""

from __future__ import annotations

from corral._control.cli.commands.alerts import report
from corral._supervisor.view import AlertsView, AlertView

NOW = 1_800_000_000.0


def alert(name: str, instance: str, *, since: float, value: float | str | None) -> AlertView:
    return AlertView(
        alert=name,
        instance=instance,
        program=instance.partition(":")[0],
        condition="memory > 512M",
        since=since,
        fired_at=since,
        value=value,
        count=1,
        actions=("restart", "webhook"),
    )


def test_nothing_firing_says_so_with_the_number_of_rules() -> None:
    view = AlertsView(rules=3, firing=(), actions={"webhooks_failed": 0})
    assert report(view, now=NOW) == "no alert fires (3 rules)\n"


def test_the_table_shows_how_long_each_has_fired_and_its_last_value() -> None:
    long_line = "ERROR " + "x" * 60
    view = AlertsView(
        rules=2,
        firing=(
            alert("big", "web:0", since=NOW - 90, value=600.5),
            alert("errors", "app:1", since=NOW - 7200, value=long_line),
        ),
        actions={"webhooks_delivered": 2, "webhooks_failed": 0, "restarts_refused": 1},
    )
    assert report(view, now=NOW) == (
        "ALERT   INSTANCE  FOR   VALUE                                     COUNT  ACTIONS\n"
        "big     web:0     2m    600.5                                     1      restart,webhook\n"
        "errors  app:1     2.0h  ERROR xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...  1      restart,webhook\n"
        "webhooks delivered 2, restarts refused 1\n"
    )
