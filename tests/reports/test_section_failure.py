"""A report section that fails late still reaches the top of the report.

A real papermill run of the nightly QA report over a copy of the demo's pipeline database
with one odd row: a Measurement Set of the night whose ``path`` is NULL (SQLite allows it in
a TEXT primary key).  The report shows that row (it once failed the calibration section with
a TypeError, and now must not); for a section that fails late, the run uses a copy of the
template in which the calibration section, which runs after the header, raises as a section
with a bug would.  The "needs attention" block at the top of the rendered HTML must name it,
and the report's status must be at least warning.  The night 2026-11-08 is otherwise clean:
with ``flagged_antennas_warning`` raised above its one dead antenna every judged metric is ok
or unknown (the odd MS cannot be graded), so only the failed section makes it a warning.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from dsa110_ws.core.time import to_mjd
from dsa110_ws.reporting._metric import Metric
from dsa110_ws.reporting.attention import MAX_LINES, needs_attention

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
NIGHT = "2026-11-08"


def settings_over(demo_dir: Path, db: Path, data_roots: Path) -> Path:
    """Settings beside ``db`` (a copy of the demo's database): the demo's logs and clock,
    the given data roots."""
    src = (demo_dir / "settings.toml").read_text()
    now = next(line for line in src.splitlines() if line.startswith("now"))
    settings = db.parent / "settings.toml"
    settings.write_text(
        f'pipeline_db = "{db}"\ndata_roots = ["{data_roots}"]\n'
        f'log_roots = ["{demo_dir / "logs"}"]\n{now}\n'
    )
    return settings


@pytest.fixture(scope="module")
def broken_settings(demo_dir, tmp_path_factory):
    """Settings over a copy of the demo database with one MS of the night without a path."""
    base = tmp_path_factory.mktemp("broken-section")
    pipeline = base / "pipeline"
    pipeline.mkdir()
    db = pipeline / "pipeline.sqlite3"
    shutil.copy2(demo_dir / "pipeline.sqlite3", db)  # never write into the shared demo
    mid = to_mjd(f"{NIGHT}T17:00:00")
    with sqlite3.connect(db) as con:
        con.execute(
            "INSERT INTO ms_index (path, start_mjd, end_mjd, mid_mjd, stage, status) "
            "VALUES (NULL, ?, ?, ?, 'imaged', 'done')",
            (mid - 0.002, mid + 0.002, mid),
        )
    return settings_over(demo_dir, db, demo_dir / "data")


#: What the copy of the template runs instead of the calibration section.
FAILING_SECTION = """\
# the test's copy of the template: the calibration section fails, as a section with a bug would
from dsa110_ws.reporting._sections import section


def calibration_qa(self):
    raise TypeError("a section that fails late")


report.calibration_qa = section(calibration_qa).__get__(report)
report.calibration_qa()"""


def failing_template(tmp: Path) -> Path:
    """A copy of the nightly template whose calibration section fails."""
    from dsa110_ws.reporting.templates import template_path

    nb = json.loads(template_path("qa").read_text())
    cells = [c for c in nb["cells"] if "".join(c["source"]).strip() == "report.calibration_qa()"]
    assert len(cells) == 1
    cells[0]["source"] = FAILING_SECTION
    out = tmp / "nightly_qa_failing.ipynb"
    out.write_text(json.dumps(nb))
    return out


@pytest.fixture(scope="module")
def broken_run(broken_settings):
    from dsa110_ws.reporting import run_report

    params = {"night": NIGHT, "settings": str(broken_settings), "flagged_antennas_warning": 5}
    result = run_report(
        "qa",
        params,
        out_dir=broken_settings.parent.parent / "out",
        template=failing_template(broken_settings.parent),
    )
    assert result.status == "ok", result.error
    return result


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def test_failed_section_is_in_the_attention_block_at_the_top(broken_run):
    html = (broken_run.output_dir / "report.html").read_text()
    blocks = re.findall(r'<section class="dsa-attention".*?</section>', html, flags=re.S)
    assert len(blocks) == 1  # re-rendered in place, not appended
    top = html.index(blocks[0])
    assert top < html.index("Headline metrics") < html.index("Calibration QA and flagging")
    lines = re.findall(r'<div class="dsa-attention-(\w+)".*?</div>', blocks[0], flags=re.S)
    texts = [_text(x) for x in re.findall(r"<div class=\"dsa-attention-\w+\".*?</div>", blocks[0])]
    assert 1 <= len(lines) <= MAX_LINES
    failed = [t for t in texts if "Section calibration_qa failed:" in t]
    assert len(failed) == 1 and "TypeError" in failed[0]
    assert lines[texts.index(failed[0])] == "warning"
    # the status above the block and the headline's both say warning, not ok/unknown
    statuses = re.findall(r"Overall status: <span class=.dsa-badge dsa-badge-(\w+)", html)
    assert statuses == ["warning", "warning"]
    # and the section itself says why, in its place
    assert "Section not available: unexpected error (please report it): TypeError" in html


def test_failed_section_raises_the_metrics_status(broken_run):
    doc = json.loads((broken_run.output_dir / "metrics.json").read_text())
    assert [e["section"] for e in doc["section_errors"]] == ["calibration_qa"]
    judged = {m["status"] for m in doc["metrics"]} - {"info"}
    assert judged <= {"ok", "unknown"}  # no metric breached: the failure alone warns
    assert doc["status"] == "warning" and broken_run.overall == "warning"
    nb = json.loads((broken_run.output_dir / "report.ipynb").read_text())
    assert not any(
        o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", [])
    )


def test_every_failed_section_is_named_within_five_lines():
    metrics = [Metric.graded(f"m{i}", 10, warning=1, detail=f"thing {i}") for i in range(6)]
    metrics.append(Metric.graded("worst", 10, critical=1, detail="the worst"))
    errors = [{"section": s, "error": f"{s} broke"} for s in ("summary", "failed_jobs")]
    lines = needs_attention(metrics, section_errors=errors)
    assert len(lines) == MAX_LINES
    assert [ln.severity.value for ln in lines] == ["critical", *["warning"] * 4]
    assert lines[0].text.startswith("The worst")
    assert [ln.text for ln in lines[1:3]] == [
        "Section summary failed: summary broke",
        "Section failed_jobs failed: failed_jobs broke",
    ]
    assert lines[-1].text == "... and 5 more: see the headline metrics."
    many = [{"section": f"s{i}", "error": "x"} for i in range(6)]
    lines = needs_attention([], section_errors=many)
    assert len(lines) == 1 and "6 sections failed (s0, s1, s2, s3, s4, s5)" in lines[0].text


def _report(w, broken_settings):
    from dsa110_ws.reporting.nightly import NightlyQAReport
    from dsa110_ws.reporting.params import validate_params

    params = validate_params(
        "qa", {"night": NIGHT, "settings": str(broken_settings), "flagged_antennas_warning": 5}
    )
    return NightlyQAReport(w, params)


def test_a_measurement_set_without_a_path_is_a_row_not_a_failure(broken_settings, tmp_path):
    """The odd MS (NULL path) is listed with an empty name among the night's MS, and the
    calibration section does not fail on it (it did, with a TypeError)."""
    import dsa110_ws

    w = dsa110_ws.connect(broken_settings, state_dir=tmp_path / "state")
    try:
        report = _report(w, broken_settings)
        html = report.calibration_qa().html
        n_ms = len(report.data.ms)
        assert report.data.ms["path"].isna().sum() == 1 and n_ms > 1
    finally:
        w.close()
    assert "Section not available" not in html
    table = html.split("<caption>Flagging of the window")[1].split("</table>")[0]
    assert table.count("<tr") == 1 + n_ms  # the header, then every MS, the odd one included


def _odd_images_state(demo_dir, tmp: Path, data_roots: Path) -> Path:
    """Settings over a copy of the demo database with one more image of the night, whose
    ``path`` is NULL, and the given data roots."""
    db = tmp / "pipeline.sqlite3"
    shutil.copy2(demo_dir / "pipeline.sqlite3", db)
    lo, hi = to_mjd(f"{NIGHT}T00:00:00"), to_mjd(f"{NIGHT}T23:59:59")
    with sqlite3.connect(db) as con:  # beside an image of the night, of the same MS
        con.execute(
            "INSERT INTO images (path, ms_path, created_at, type, format) "
            "SELECT NULL, i.ms_path, i.created_at, i.type, i.format FROM images AS i "
            "JOIN ms_index AS m ON m.path = i.ms_path WHERE m.mid_mjd BETWEEN ? AND ? LIMIT 1",
            (lo, hi),
        )
    return settings_over(demo_dir, db, data_roots)


@pytest.mark.parametrize("readable", [True, False], ids=["data", "no-data"])
def test_images_without_a_path_or_without_files_are_listed_not_a_failure(
    demo_dir, tmp_path, readable
):
    """An image whose ``path`` is NULL is among the worst images (it cannot be read, and
    says why), without a name or thumbnail, and the section does not fail (it did, with a
    TypeError); the other images show no "nan" for the reasons they do not have (they did
    whenever one image of the night could not be read).
    With no image file reachable at all (the data roots empty: a disk not mounted) every
    image is "unreadable", and the images are still there (filling the all-NaN grades
    with text raised a pandas warning, an error to come)."""
    import dsa110_ws

    roots = demo_dir / "data" if readable else tmp_path / "empty"
    roots.mkdir(exist_ok=True)
    settings = _odd_images_state(demo_dir, tmp_path, roots)
    w = dsa110_ws.connect(settings, state_dir=tmp_path / "state")
    try:
        report = _report(w, settings)
        assert "images" not in report.data.unavailable
        im = report.data.images
        assert im["path"].isna().sum() == 1  # the odd image is in the night
        html = report.worst_images().html
    finally:
        w.close()
    assert "Section not available" not in html and "unreadable" in html
    text = _text(html)
    assert "the pipeline database gives it no path (NULL)" in text  # the odd image's reason
    assert not re.search(r"\bnan\b", text)  # a missing reason is no line, not "nan"
    grades = set(im["grade"])
    assert grades == {"unreadable"} if not readable else grades > {"unreadable"}


def test_a_section_that_failed_before_the_header_is_in_it(broken_settings, tmp_path):
    """Whatever the order: a section run before the header (outside a kernel) is in the
    block the header returns."""
    import dsa110_ws
    from dsa110_ws.reporting._sections import section

    def calibration_qa(self):
        raise TypeError("a section that fails late")

    w = dsa110_ws.connect(broken_settings, state_dir=tmp_path / "state")
    try:
        report = _report(w, broken_settings)
        report.calibration_qa = section(calibration_qa).__get__(report)
        assert "Section not available" in report.calibration_qa().html
        html = report.header().html
    finally:
        w.close()
    assert "Section calibration_qa failed: unexpected error" in html
    assert "dsa-badge-warning" in html.split("Needs attention")[0]
