"""One definition of "too much flagging": the nightly report judges the night's MS with the
``[qa.ms]`` thresholds the dashboards grade each MS with (``w.qa.ms``).

The oracle is the Measurement Sets themselves: each MS of the demo's night 2026-11-10 is
copied and its flagged fraction of the cross-correlations counted here with
python-casacore (checked against the demo's truth.json), then judged against the
thresholds the test writes into a settings file ("more than" the threshold is a breach).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dsa110_ws.core.severity import Severity, from_verdict, worst
from dsa110_ws.reporting._format import threshold_text
from dsa110_ws.reporting.attention import needs_attention
from dsa110_ws.reporting.nightly_metrics import nightly_qa_metrics
from dsa110_ws.reporting.params import ReportParameterError, validate_params

NIGHT = "2026-11-10"
_QA_MS_DEFAULTS = (0.4, 0.7)  # [qa.ms] flag_fraction_warn, flag_fraction_max (the defaults)


def _cross_flag_fraction(ms: Path) -> float:
    """Flagged fraction of the cross-correlations (ANTENNA1 != ANTENNA2), every spw."""
    from casacore.tables import table

    n_flag = n_vis = 0
    with table(str(ms), readonly=True, ack=False) as t:
        for ddid in sorted(set(t.getcol("DATA_DESC_ID"))):
            sub = t.query(f"DATA_DESC_ID == {ddid} && ANTENNA1 != ANTENNA2")
            flags = sub.getcol("FLAG")
            n_flag, n_vis = n_flag + int(flags.sum()), n_vis + flags.size
            sub.close()
    return n_flag / n_vis


@pytest.fixture(scope="module")
def night_flags(demo_dir, truth, tmp_path_factory) -> dict[str, float]:
    """MS path (in the demo) -> flagged fraction of its cross-correlations, counted on a copy."""
    copies = tmp_path_factory.mktemp("ms-copies")
    out = {}
    for m in truth["measurement_sets"]:
        path = Path(m["path"])
        if path.parent.name != NIGHT:
            continue
        copy = copies / path.name
        shutil.copytree(path, copy)
        out[str(path)] = _cross_flag_fraction(copy)
        assert out[str(path)] == pytest.approx(m["flag_fraction_cross"], abs=1e-12)
    assert len(out) == 8
    return out


def _settings(demo_dir: Path, where: Path, warn: float | None, bad: float | None) -> Path:
    """The demo's settings with absolute paths and, when given, other ``[qa.ms]`` thresholds."""
    src = (demo_dir / "settings.toml").read_text()
    now = next(line for line in src.splitlines() if line.startswith("now"))
    text = (
        f'pipeline_db = "{demo_dir / "pipeline.sqlite3"}"\n'
        f'data_roots = ["{demo_dir / "data"}"]\nlog_roots = ["{demo_dir / "logs"}"]\n{now}\n'
    )
    if warn is not None:
        text += f"[qa.ms]\nflag_fraction_warn = {warn!r}\nflag_fraction_max = {bad!r}\n"
    where.mkdir(parents=True, exist_ok=True)
    (where / "settings.toml").write_text(text)
    return where / "settings.toml"


def _expected(fractions: list[float], warn: float, bad: float) -> str:
    """The night's verdict from first principles: its worst MS, a breach being *more than*
    the threshold (the [qa.ms] settings' wording)."""
    per_ms = ["critical" if f > bad else "warning" if f > warn else "ok" for f in fractions]
    return worst(per_ms).value


def _report_and_dashboard(settings: Path, state: Path, paths: list[str]):
    import dsa110_ws

    w = dsa110_ws.connect(settings, state_dir=state)
    try:
        params = validate_params("qa", {"settings": str(settings), "night": NIGHT})
        metrics = {m.name: m for m in nightly_qa_metrics(w, params)}
        # what the dashboards show for the same MS: w.qa.ms's verdict on the flags
        dashboard = [w.qa.ms(p).check("flag_fraction_cross").verdict for p in paths]
    finally:
        w.close()
    return metrics, dashboard


def test_demo_night_is_judged_with_the_dashboard_thresholds(demo_dir, night_flags, tmp_path):
    paths, fractions = list(night_flags), list(night_flags.values())
    settings = _settings(demo_dir, tmp_path / "default", None, None)
    metrics, dashboard = _report_and_dashboard(settings, tmp_path / "state", paths)
    flag = metrics["max_ms_flag_fraction_cross"]
    assert flag.value == pytest.approx(max(fractions), abs=1e-12)
    assert (flag.warning, flag.critical) == _QA_MS_DEFAULTS  # one source of the numbers
    assert flag.status == _expected(fractions, *_QA_MS_DEFAULTS) == "ok"  # 35.6% <= 40%
    assert flag.status == worst(from_verdict(v) for v in dashboard).value
    median = metrics["median_ms_flag_fraction_cross"]
    assert median.value == pytest.approx(float(np.median(fractions)), abs=1e-12)
    assert median.status == "info"  # context, never a second verdict
    assert "median_ms_flag_fraction" not in metrics  # the old report-only verdict is gone
    assert "none of 8 MS more than 40% flagged" in flag.detail
    # "more than", as the [qa.ms] settings say: the table writes ">" (not "≥")
    assert threshold_text(flag.to_dict()) == "warning > 40.0%, critical > 70.0%"


@pytest.mark.parametrize(
    "thresholds",
    [
        pytest.param(lambda f: (f - 0.01, 0.9), id="warn-below-the-night"),
        pytest.param(lambda f: (f - 0.02, f - 0.01), id="max-below-the-night"),
        # exactly at the threshold is not "more than": the dashboards grade it good
        pytest.param(lambda f: (f, 0.9), id="warn-at-the-night"),
    ],
)
def test_other_qa_ms_thresholds_change_the_reports_verdict(
    demo_dir, night_flags, tmp_path, thresholds
):
    paths, fractions = list(night_flags), list(night_flags.values())
    warn, bad = thresholds(max(fractions))
    settings = _settings(demo_dir, tmp_path / "other", warn, bad)
    metrics, dashboard = _report_and_dashboard(settings, tmp_path / "state", paths)
    flag = metrics["max_ms_flag_fraction_cross"]
    expected = _expected(fractions, warn, bad)
    assert (flag.warning, flag.critical) == (warn, bad)
    assert flag.status == expected
    assert flag.status == worst(from_verdict(v) for v in dashboard).value
    if expected != "ok":
        assert Severity(flag.status) > Severity.OK
        assert f"8 of 8 MS more than {100 * warn:g}% flagged" in flag.detail
        (line,) = [ln for ln in needs_attention([flag]) if ln.metric == flag.name]
        assert line.severity.value == expected and f"({expected} at > " in line.text


def test_removed_report_thresholds_say_where_the_numbers_are_now(demo_dir):
    with pytest.raises(ReportParameterError, match=r"\[qa\.ms\].*flag_fraction_warn"):
        validate_params(
            "qa",
            {"settings": str(demo_dir / "settings.toml"), "ms_flag_fraction_warning": 0.3},
        )
