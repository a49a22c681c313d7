"""A tidy command line: one-line notes, blank cells, paths cut on the left, job ids for
logs, one angle unit per option, ISO UTC times, sensible RA/Dec (issue 14)."""

from __future__ import annotations

import re
import sqlite3
import warnings

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from dsa110_ws.cli import COMMANDS, main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def demo_env(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    return demo_dir


def test_a_python_warning_is_one_note_line(tmp_path, monkeypatch, capsys, demo_env):
    """Any warning a command raises (a library's, ours) reaches the user as one line."""
    (tmp_path / "warner.py").write_text(
        "import warnings\nimport click\n\n@click.command()\ndef warn():\n"
        "    warnings.warn('the first line\\n  and a second', UserWarning)\n"
        "    click.echo('done')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(COMMANDS, "warn", "warner:warn")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, out, err = _run(capsys, "warn")
    assert code == 0 and out == "done\n"
    assert err == "note: the first line and a second\n"


def test_jobs_blank_cells_short_paths_and_a_note(demo_env, capsys, truth):
    code, out, err = _run(capsys, "jobs")
    assert code == 0
    assert sum(truth["counts"]["jobs_by_status"].values()) > 100  # so the listing is cut
    assert err == "note: showing the newest 100 jobs; pass --limit for more\n"
    assert "NaN" not in out and "None" not in out
    lines = out.splitlines()
    assert len(lines) == 1 + 100
    header = lines[0]
    at = header.index("ms_path")
    paths = [ln[at:].strip() for ln in lines[1:] if ln[at:].strip()]
    con = sqlite3.connect(f"file:{demo_env / 'pipeline.sqlite3'}?mode=ro", uri=True)
    stored = {r[0] for r in con.execute("SELECT ms_path FROM jobs WHERE ms_path IS NOT NULL")}
    con.close()
    assert paths
    for shown in paths:
        assert shown.startswith("…") and len(shown) <= 48
        full = [p for p in stored if p.endswith(shown[1:])]
        assert len(full) == 1  # the tail names one MS: the file name is kept whole
    # a pending job has no duration and no failure reason: blank, not NaN
    pending = next(ln for ln in lines[1:] if " pending " in ln)
    assert re.search(r"pending\s+\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\s*$", pending[:at].rstrip())


def test_logs_take_the_job_id_that_jobs_prints(demo_env, capsys, truth):
    failed = truth["failed_jobs"][0]
    run_id = f"{failed['type']}-{failed['id']:06d}"
    assert run_id in truth["logs"]
    code, by_job, _ = _run(capsys, "logs", str(failed["id"]))
    code2, by_run, _ = _run(capsys, "logs", run_id)
    assert code == code2 == 0 and by_job == by_run
    assert len(by_job.splitlines()) == truth["logs"][run_id]["n_lines"]
    assert failed["reason"] in by_job
    code, out, err = _run(capsys, "logs", "999999")
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert "job 999999" in err and "`dsa110-ws logs`" in err


def test_cone_takes_arcminutes(demo_env, capsys):
    ra, dec = 153.0, 37.0
    code, out, err = _run(capsys, "sources", "cone", str(ra), str(dec), "--radius-arcmin", "18")
    assert code == 0 and err == ""
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    rows = [r.split() for r in out.splitlines()[1:]]
    assert len(rows) > 3
    for _sid, sra, sdec, sep, *_ in rows:
        # RA and Dec to 1e-6 deg, never four significant digits
        assert re.fullmatch(r"\d+\.\d{6}", sra) and re.fullmatch(r"\d+\.\d{6}", sdec)
        got = centre.separation(SkyCoord(float(sra) * u.deg, float(sdec) * u.deg)).arcsec
        assert float(sep) == pytest.approx(got, abs=0.01)
        assert got <= 18 * 60
    # 6 arcmin keeps exactly the rows within 360 arcsec (degrees would keep them all)
    code, small, _ = _run(capsys, "sources", "cone", str(ra), str(dec), "--radius-arcmin", "6")
    inner = [r[0] for r in rows if float(r[3]) <= 360]
    assert [r.split()[0] for r in small.splitlines()[1:]] == inner and 0 < len(inner) < len(rows)
    # the old positional radius (degrees) still works, with a deprecation note
    code, old, err = _run(capsys, "sources", "cone", str(ra), str(dec), "0.3")
    assert code == 0 and old == out
    assert err.startswith("note: RADIUS_DEG as a third argument is deprecated") and "18" in err
    code, _, err = _run(capsys, "sources", "cone", str(ra), str(dec), "0.3", "--radius-arcmin", "5")
    assert code == 2 and "once" in err


def test_light_curves_print_iso_utc(demo_env, capsys, truth):
    sid = truth["sources"]["variables"][0]["source_id"]
    code, out, _ = _run(capsys, "sources", "lightcurve", sid)
    assert code == 0
    lines = out.splitlines()[1:]
    header = lines[0].split()
    assert header[:2] == ["mjd", "time_utc"]
    code, csv, _ = _run(capsys, "sources", "lightcurve", sid, "--csv")
    exact = [row.split(",")[:2] for row in csv.splitlines()[1:]]  # mjd to 15 digits
    assert len(exact) == len(lines) - 1
    for ln, (mjd, csv_iso) in zip(lines[1:], exact, strict=True):
        iso = ln.split()[1]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}", iso)
        assert csv_iso == iso
        expected = Time(float(mjd), format="mjd", scale="utc")
        assert abs((Time(iso, scale="utc") - expected).sec) < 0.001


def test_ms_summary_prints_ra_dec_sensibly(demo_env, capsys, truth):
    ms = truth["measurement_sets"][0]
    code, out, _ = _run(capsys, "ms", "summary", ms["path"], "--no-flags")
    assert code == 0
    field = ms["fields"][0]
    c = SkyCoord(field["ra_deg"] * u.deg, field["dec_deg"] * u.deg)
    hms = c.ra.to_string(unit=u.hourangle, sep=":", precision=3, pad=True)
    dms = c.dec.to_string(unit=u.deg, sep=":", precision=2, pad=True, alwayssign=True)
    line = next(ln for ln in out.splitlines() if ln.startswith("field "))
    assert f"RA {field['ra_deg']:.6f} deg, Dec {field['dec_deg']:+.6f} deg ({hms} {dms})" in line
    assert not re.search(r"\d\.\d{10,}", line)


def test_jobs_show_gives_iso_utc_and_blanks(demo_env, capsys):
    import datetime as dt

    con = sqlite3.connect(f"file:{demo_env / 'pipeline.sqlite3'}?mode=ro", uri=True)
    jid, created = con.execute(
        "SELECT id, created_at FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1"
    ).fetchone()
    con.close()
    code, out, _ = _run(capsys, "jobs", "show", str(jid))
    assert code == 0
    fields = dict(
        ln.split(": ", 1) if ": " in ln else (ln.rstrip(":"), "") for ln in out.splitlines()
    )
    fields = {k.strip(): v for k, v in fields.items()}
    want = dt.datetime.fromtimestamp(int(round(created, 3)), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert fields["created_at"] == f"{want} UTC"
    assert fields["started_at"] == "" and fields["duration_s"] == ""
    assert "None" not in out and "nan" not in out.lower()
