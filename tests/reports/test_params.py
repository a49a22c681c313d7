"""Report parameters: typed validation before any kernel starts (no notebook runs here)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest

from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.reporting.params import (
    PARAM_MODELS,
    RUNNER_PARAMETERS,
    ReportParameterError,
    validate_params,
)
from dsa110_ws.reporting.runner import run_report
from dsa110_ws.reporting.templates import TEMPLATES, parameters_cell, template_path

REPORTS = Path(__file__).resolve().parents[2] / "reports"


@pytest.fixture()
def settings(demo_dir) -> str:
    return str(demo_dir / "settings.toml")


def test_relative_nights_follow_the_workspace_clock(settings, truth):
    # the demo's frozen clock is 2026-11-14T17:53 UTC: yesterday is its last full night
    assert truth["now"].startswith("2026-11-14T17:53")
    p = validate_params("qa", {"settings": settings})
    assert p.night == "2026-11-13" == truth["nights"][-2]
    assert p.label == "2026-11-13"
    assert p.window == (
        dt.datetime(2026, 11, 13, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 14, tzinfo=dt.UTC),
    )
    assert validate_params("qa", {"settings": settings, "night": "today"}).night == "2026-11-14"
    assert validate_params("qa", {"settings": settings, "night": "Yesterday"}).night == "2026-11-13"


def test_explicit_window_wins_over_night_and_is_labelled(settings):
    p = validate_params(
        "qa", {"settings": settings, "start": "2026-11-10T06:00", "end": "2026-11-11"}
    )
    assert p.night is None
    assert p.window[0] == dt.datetime(2026, 11, 10, 6, tzinfo=dt.UTC)
    assert p.label == "2026-11-10T060000_2026-11-11"


def test_stats_period_defaults_to_the_last_seven_full_days(settings):
    p = validate_params("stats", {"settings": settings})
    assert p.window == (
        dt.datetime(2026, 11, 7, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 14, tzinfo=dt.UTC),
    )
    assert p.previous_window == (
        dt.datetime(2026, 10, 31, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 7, tzinfo=dt.UTC),
    )
    assert p.label == "2026-11-07_2026-11-14"
    p3 = validate_params("stats", {"settings": settings, "days": "3", "end": "2026-11-10"})
    assert p3.label == "2026-11-07_2026-11-10"


@pytest.mark.parametrize("kind", sorted(PARAM_MODELS))
def test_injected_parameters_reproduce_the_same_report(kind, settings):
    p = validate_params(kind, {"settings": settings})
    again = validate_params(
        kind, p.notebook_parameters(), now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    )
    assert again.window == p.window and again.label == p.label


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"night": "2026-13-45"}, "night='2026-13-45' is not a calendar date"),
        ({"night": "13/11/2026"}, "night='13/11/2026' is not YYYY-MM-DD"),
        ({"night": "last tuesday"}, "is not YYYY-MM-DD"),
        ({"start": "2026-11-11", "end": "2026-11-10"}, "is not after start"),
        ({"start": "2026-11-10"}, "give both start and end"),
        ({"start": "soon", "end": "2026-11-10"}, "Cannot read start 'soon'"),
        ({"start": "2026-10-01", "end": "2026-11-10"}, "longer than 31 days"),
        ({"bogus": 1}, "unknown parameter 'bogus'"),
        ({"worst_n": 0}, "worst_n"),
        ({"worst_n": "many"}, "worst_n"),
        ({"noise_warning_mjy": 9}, "noise_critical_mjy=5.0 is below noise_warning_mjy=9.0"),
        ({"cal_coverage_critical": 0.99}, "cal_coverage_critical=0.99 is above"),
        ({"candidate_preset": "reckless"}, "candidate_preset"),
        ({"metrics_path": "/tmp/x.json"}, "unknown parameter 'metrics_path'"),
    ],
)
def test_bad_qa_parameters_are_one_clear_error(raw, needle, settings):
    with pytest.raises(ReportParameterError) as err:
        validate_params("qa", {"settings": settings, **raw})
    msg = str(err.value)
    assert needle in msg
    assert "\n" not in msg and msg.startswith("invalid qa report parameters")
    assert isinstance(err.value, InvalidQueryError)  # a ValueError too


def test_bad_stats_parameters(settings):
    with pytest.raises(ReportParameterError, match="is not after start"):
        validate_params("stats", {"settings": settings, "start": "2026-11-10", "end": "2026-11-01"})
    with pytest.raises(ReportParameterError, match="days"):
        validate_params("stats", {"settings": settings, "days": 0})
    with pytest.raises(ReportParameterError, match="unknown parameter 'night'"):
        validate_params("stats", {"settings": settings, "night": "yesterday"})


def test_missing_settings_file_is_a_parameter_error(tmp_path):
    with pytest.raises(ReportParameterError, match="does not exist"):
        validate_params("qa", {"settings": str(tmp_path / "nope.toml")})


def test_non_default_thresholds_get_their_own_folder(settings):
    base = validate_params("qa", {"settings": settings, "night": "2026-11-10"})
    other = validate_params(
        "qa", {"settings": settings, "night": "2026-11-10", "noise_warning_mjy": "1.5"}
    )
    assert base.label == "2026-11-10"
    assert re.fullmatch(r"2026-11-10_p[0-9a-f]{8}", other.label)
    # same options in another order or spelling: same folder
    again = validate_params(
        "qa", {"night": "2026-11-10", "noise_warning_mjy": 1.5, "settings": settings}
    )
    assert again.label == other.label


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_template_parameters_cell_is_the_schema(kind):
    """The template's parameters cell is generated from the model: same names, defaults
    and help, so the notebook, the README and the validation cannot drift apart."""
    path = template_path(kind)
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    assert cells[0].source.strip() == parameters_cell(kind).strip()
    # committed without outputs
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    inferred = {p["name"]: p for p in papermill.inspect_notebook(str(path)).values()}
    model = PARAM_MODELS[kind]
    assert set(inferred) == set(model.model_fields) | set(RUNNER_PARAMETERS)
    for name, field in model.model_fields.items():
        default = "" if field.default is None else field.default
        assert (
            json.loads(inferred[name]["default"]) == default
            or float(inferred[name]["default"]) == default
        )
        assert inferred[name]["help"] == field.description


@pytest.mark.parametrize("kind", sorted(PARAM_MODELS))
def test_every_parameter_is_documented_in_the_readme(kind):
    text = (REPORTS / "README.md").read_text()
    for name in PARAM_MODELS[kind].model_fields:
        assert f"`{name}`" in text, f"{kind} parameter {name} is not in reports/README.md"


def test_invalid_parameters_start_nothing(tmp_path, settings):
    out = tmp_path / "out"
    for raw in (
        {"night": "2026-02-30"},
        {"bogus": "1"},
        {"start": "2026-11-12", "end": "2026-11-11"},
    ):
        result = run_report("qa", {"settings": settings, **raw}, out_dir=out)
        assert result.status == "invalid" and result.exit_code == 2
        assert result.papermill_invoked is False and result.kernel_started is False
        assert result.output_dir is None and "invalid qa report parameters" in result.error
    assert not out.exists()
    result = run_report("qa", {"settings": settings}, out_dir=out, fail_on="sometimes")
    assert result.status == "invalid" and "fail_on" in result.error and not out.exists()
    result = run_report("weekly", {}, out_dir=out)
    assert result.status == "invalid" and "Unknown report kind" in result.error
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_report("qa", {"settings": settings}, out_dir=blocker)
    assert result.status == "invalid" and "is a file; give a folder" in result.error
    assert result.papermill_invoked is False
