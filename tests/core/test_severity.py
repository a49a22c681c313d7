"""core/severity: one ladder, its mappings, exit codes and colours."""

from __future__ import annotations

import pytest

from dsa110_ws.core.severity import (
    COLOURS,
    Severity,
    badge_html,
    from_grade,
    from_quality,
    from_staleness,
    from_verdict,
    worst,
)


def test_the_ladder_orders_ok_unknown_warning_critical():
    assert Severity.OK < Severity.UNKNOWN < Severity.WARNING < Severity.CRITICAL
    assert sorted([Severity.CRITICAL, Severity.OK, Severity.WARNING, Severity.UNKNOWN]) == [
        Severity.OK,
        Severity.UNKNOWN,
        Severity.WARNING,
        Severity.CRITICAL,
    ]
    assert Severity.WARNING == "warning"  # still a string for JSON and comparisons


@pytest.mark.parametrize(
    "values,expected",
    [
        ([], "ok"),
        (["ok", "ok"], "ok"),
        (["ok", "unknown"], "unknown"),
        (["unknown", "warning"], "warning"),
        (["critical", "warning", "ok"], "critical"),
        (["good", "bad"], "critical"),
        (["pass", "warn"], "warning"),
        ([None], "unknown"),
    ],
)
def test_worst(values, expected):
    assert worst(values) == expected


def test_mappings_from_every_vocabulary():
    assert [from_grade(g) for g in ("good", "warning", "bad", "poor", None)] == [
        "ok",
        "warning",
        "critical",
        "unknown",
        "unknown",
    ]
    assert [from_verdict(v) for v in ("pass", "warn", "fail", "meh")] == [
        "ok",
        "warning",
        "critical",
        "unknown",
    ]
    assert [from_staleness(s) for s in ("fresh", "aging", "stale", "critical")] == [
        "ok",
        "warning",
        "warning",
        "critical",
    ]
    assert [from_quality(q) for q in ("excellent", "Good", "marginal", "poor", "FAILED", "")] == [
        "ok",
        "ok",
        "warning",
        "critical",
        "critical",
        "unknown",
    ]


def test_exit_codes_follow_the_monitoring_convention():
    assert [s.exit_code for s in Severity] == [0, 3, 1, 2]


def test_one_palette():
    assert set(COLOURS) == set(Severity)
    assert len(set(COLOURS.values())) == 4
    assert COLOURS[Severity.CRITICAL] in badge_html("bad") and ">CRITICAL<" in badge_html("bad")
    assert ">bad<" in badge_html("bad", "bad")
    assert "&lt;b&gt;" in badge_html("ok", "<b>")


def test_every_comparison_follows_the_documented_order():
    """<, <=, > and >= for every pair, against the order written down in DESIGN.md
    (ok < unknown < warning < critical), not against the module's own ranks."""
    order = ["ok", "unknown", "warning", "critical"]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            sa, sb = Severity(a), Severity(b)
            assert [sa < sb, sa <= sb, sa > sb, sa >= sb] == [i < j, i <= j, i > j, i >= j], (a, b)
    with pytest.raises(TypeError):  # no silent answer against something not on the ladder
        _ = Severity.OK < 1
