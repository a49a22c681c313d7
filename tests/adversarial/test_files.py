"""Damaged product files, as an operator meets them: FITS images cut short, empty, not FITS,
decompression bombs; Measurement Sets without a subtable or with a file cut short;
calibration tables of no known solve type, all-NaN, empty or cut short.

Each case runs the command line (or, where noted, the Python API) and asserts the exit code,
a one-line message naming the problem and what to do (never a traceback), and that the
product files are byte-identical afterwards (casacore's ``table.lock`` aside, which CASA
writes into every table it makes).  QA never grades what it could not measure: such a
table is graded ``unknown`` with a ``cannot grade: ...`` check."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from casacore import tables

from dsa110_ws.cli import main
from dsa110_ws.demo.array_geometry import dsa110_layout
from dsa110_ws.demo.cal_writer import make_gain_solutions, write_caltable


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "table.lock"
    }


@pytest.fixture()
def env(demo_dir, tmp_path, monkeypatch):
    """Settings over the demo database with a scratch data root (``[products]
    max_decompressed_mb = 1``); returns the scratch root."""
    root = tmp_path / "data"
    root.mkdir()
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'pipeline_db = "{demo_dir / "pipeline.sqlite3"}"\n'
        f'data_roots = ["{demo_dir / "data"}", "{root}"]\n'
        f'log_roots = ["{demo_dir / "logs"}"]\n'
        'now = "2026-11-14T17:53:20.145"\n'
        "[products]\nmax_decompressed_mb = 1\n"
    )
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(settings))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    return root


@pytest.fixture()
def run(env, capsys):
    """``run(*args) -> (code, stdout, stderr)``; asserts the scratch files are unchanged."""
    before = {}

    def call(*args):
        if not before:
            before.update(_tree(env))
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        assert "Traceback" not in out.err and "Traceback" not in out.out
        return code, out.out, out.err

    yield call
    assert _tree(env) == before


def _one_line_error(err: str, *words: str) -> None:
    line = err.strip()
    assert len(line.splitlines()) == 1, err
    assert line.startswith("error: ") and "unexpected" not in line, line
    for w in words:
        assert w in line, (w, line)


# --------------------------------------------------------------------------- FITS images
def _fits_bytes(n: int = 64, **cards) -> bytes:
    data = np.random.default_rng(1).normal(0, 1e-3, (n, n)).astype(np.float32)
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(BMAJ=0.01, BMIN=0.01, BPA=0.0, BUNIT="JY/BEAM")
    hdu.header.update(cards)
    hdu.header.update(CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CRVAL1=150.0, CRVAL2=37.0)
    hdu.header.update(CDELT1=-0.001, CDELT2=0.001, CRPIX1=n / 2, CRPIX2=n / 2, CUNIT1="deg")
    hdu.header.update(CUNIT2="deg")
    from io import BytesIO

    buf = BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


FITS_CASES = {
    "cut_short_in_the_pixels": (lambda: _fits_bytes()[:-5000], "x.fits", ["truncated", "re-copy"]),
    "cut_short_in_the_header": (lambda: _fits_bytes()[:1500], "x.fits", ["x.fits"]),
    "empty": (lambda: b"", "x.fits", ["empty (0 bytes)"]),
    "not_fits_at_all": (lambda: b"hello, I am a text file\n" * 200, "x.fits", ["as FITS"]),
    "decompression_bomb": (
        lambda: gzip.compress(_fits_bytes()[:2880] + bytes(3 << 20), 9),
        "x.fits.gz",
        ["max_decompressed_mb", "decompression bomb"],
    ),
    "gzip_cut_short": (
        lambda: gzip.compress(_fits_bytes())[:-200],
        "x.fits.gz",
        ["cannot be decompressed", "re-copy"],
    ),
    "naxis_not_an_integer": (
        lambda: _fits_bytes().replace(
            b"NAXIS1  =                   64", b"NAXIS1  = 'sixty-four'      "
        ),
        "x.fits",
        ["x.fits"],
    ),
}


@pytest.mark.parametrize("case", sorted(FITS_CASES))
@pytest.mark.parametrize("command", ["qa image", "thumbnail"])
def test_a_damaged_fits_is_one_line(env, run, case, command, tmp_path):
    make, name, words = FITS_CASES[case]
    path = env / name
    path.write_bytes(make())
    out_png = tmp_path / "out" / "t.png"
    args = [*command.split(), path] + (["-o", out_png] if command == "thumbnail" else [])
    code, out, err = run(*args)
    assert code == 1 and not out
    _one_line_error(err, *words)
    assert not out_png.exists()


def test_a_directory_or_a_fifo_named_fits(env, run):
    (env / "dir.fits").mkdir()
    os.mkfifo(env / "pipe.fits")
    code, _, err = run("qa", "image", env / "dir.fits")
    assert code == 1
    _one_line_error(err, "directory")
    code, _, err = run("qa", "image", env / "pipe.fits")  # refused before it is opened
    assert code == 1
    _one_line_error(err, "pipe.fits", "not a file")


def test_an_unparsable_beam_is_named_not_guessed(env, run):
    raw = _fits_bytes(BMAJ="wide")
    (env / "beam.fits").write_bytes(raw)
    code, out, err = run("qa", "image", env / "beam.fits", "--json")
    assert code == 0, err
    r = json.loads(out)
    beam = next(c for c in r["checks"] if c["metric"] == "beam")
    assert beam["verdict"] == "fail" and "unusable" in beam["reason"] and "BMAJ" in beam["reason"]
    assert r["grade"] == "bad" and r["beam_major_arcsec"] is None


def test_a_cutout_of_a_billion_pixels_is_refused_before_allocation(env, demo_dir, truth):
    from astropy.coordinates import SkyCoord

    import dsa110_ws
    from dsa110_ws.errors import InvalidQueryError

    image = Path(truth["images"][0]["path"])
    before = _tree(image.parent)
    w = dsa110_ws.connect()
    try:
        centre = w.fits.header(image).center
        with pytest.raises(InvalidQueryError) as exc:
            w.fits.cutout(image, SkyCoord(centre), (10**9, 10**9))
    finally:
        w.close()
    msg = str(exc.value)
    assert len(msg.splitlines()) == 1 and "max_cutout_pixels" in msg
    assert _tree(image.parent) == before


# --------------------------------------------------------------------------- Measurement Sets
@pytest.fixture()
def ms_copy(env, truth):
    def copy(name: str) -> Path:
        dst = env / name
        shutil.copytree(truth["measurement_sets"][0]["path"], dst)
        return dst

    return copy


@pytest.mark.parametrize("subtable", ["SPECTRAL_WINDOW", "POLARIZATION", "ANTENNA"])
def test_an_ms_without_a_subtable(ms_copy, run, subtable):
    ms = ms_copy(f"no_{subtable.lower()}.ms")
    shutil.rmtree(ms / subtable)
    code, out, err = run("ms", "summary", ms)
    assert code == 0, err  # what could be read is shown; what could not is said
    warned = [line for line in out.splitlines() if f"no {subtable} subtable" in line]
    assert warned and all(line.startswith("warning: ") for line in warned)
    assert "Re-create or re-copy it" in warned[0]
    code, out, err = run("ms", "summary", ms, "--json")
    assert code == 0 and json.loads(out)["flag_fraction"] is None
    if subtable != "ANTENNA":
        code, _, err = run("ms", "waterfall", ms, "-o", ms.parent.parent / "w.png")
        assert code == 1
        _one_line_error(err, f"no {subtable} subtable", "Re-create or re-copy")


def _cut(path: Path, keep: int | float) -> None:
    size = path.stat().st_size
    n = int(size * keep) if isinstance(keep, float) else keep
    with open(path, "r+b") as fh:
        fh.truncate(n)


MS_CUTS = {  # file of the demo MS -> what is left of it
    "table.f0": (0.5, "table.f0"),  # StandardStMan: TIME, ANTENNA1...
    "table.f1_TSM1": (0.5, "table.f1_TSM1"),  # the DATA tiles
    "table.f2_TSM1": (0.25, "table.f2_TSM1"),  # the FLAG tiles
    "table.dat": (0.5, "table.dat"),
}


@pytest.mark.parametrize("cut", sorted(MS_CUTS))
def test_an_ms_cut_short_is_one_line(ms_copy, run, cut):
    ms = ms_copy("cut.ms")
    keep, named = MS_CUTS[cut]
    _cut(ms / cut, keep)
    code, out, err = run("ms", "summary", ms)
    assert code == 1 and not out
    _one_line_error(err, "is damaged", named, "Re-copy or re-create it")


def test_ms_qa_of_a_cut_short_ms_is_unknown_not_good(ms_copy, env):
    import dsa110_ws

    ms = ms_copy("cut.ms")
    _cut(ms / "table.f2_TSM1", 0.25)
    before = _tree(env)
    w = dsa110_ws.connect()
    try:
        r = w.qa.ms(ms)
    finally:
        w.close()
    assert r.grade == "unknown" and len(r.checks) == 1
    assert r.checks[0].reason.startswith("cannot grade: ") and "is damaged" in r.reasons[0]
    assert _tree(env) == before


def test_a_damaged_subtable_costs_only_its_part(ms_copy, run):
    ms = ms_copy("cut_antenna.ms")
    _cut(ms / "ANTENNA" / "table.f0", 0.3)
    code, out, err = run("ms", "summary", ms)
    assert code == 0, err
    assert any(
        line.startswith("warning: ") and "ANTENNA" in line and "damaged" in line
        for line in out.splitlines()
    ), out


def test_a_caltable_is_not_a_measurement_set(env, run, truth):
    cal = Path(truth["calibration"]["caltables"][0]["path"])
    code, _, err = run("ms", "summary", cal)
    assert code == 1
    _one_line_error(err, "is not a Measurement Set", "UVW")


# --------------------------------------------------------------------------- caltables
def _gain_table(root: Path, name: str, *, vis_cal="G Jones", nan=False, n_ant=6) -> Path:
    names, itrf, _ = dsa110_layout(n_ant, seed=3)
    sol = make_gain_solutions(3, 1, n_ant, rng=4)
    params = sol["params"]
    if nan is True:
        params = np.full_like(params, np.nan)
    elif nan:
        params = params.copy()
        params[: int(nan)] = np.nan
    write_caltable(
        root / name,
        vis_cal=vis_cal,
        par_type=sol["par_type"],
        times_mjd_s=61000.2 * 86400 + 60.0 * np.arange(3),
        antenna_names=names,
        antenna_itrf_m=itrf,
        spw_freqs_hz=[np.array([1.4e9])],
        params=params,
        flags=np.zeros_like(sol["flags"]),
        snr=sol["snr"],
        refant=0,
        field_name="3C286",
        field_ra_deg=202.78,
        field_dec_deg=30.51,
        ms_name="x.ms",
    )
    return root / name


def _qa(run, command, path, *extra):
    code, out, err = run("qa", command, path, "--json", *extra)
    return code, (json.loads(out) if out else None), err


def _cannot_grade(record, *words):
    assert record["grade"] == "unknown", record["checks"]
    unknown = [c for c in record["checks"] if c["verdict"] == "unknown"]
    assert unknown and all(c["reason"].startswith("cannot grade: ") for c in unknown)
    assert not any(
        c["verdict"] == "pass" and "nan" in c["reason"].lower() for c in record["checks"]
    )
    for w in words:
        assert any(w in c["reason"] for c in unknown), (w, unknown)


@pytest.mark.parametrize("command", ["cal", "gains"])
def test_all_nan_solutions_cannot_be_graded(env, run, command):
    path = _gain_table(env, "nan_gpcal", nan=True)
    code, r, err = _qa(run, command, path)
    assert code == 0, err
    _cannot_grade(r, "NaN")
    code, _, _ = _qa(run, command, path, "--fail-on", "unknown")
    assert code == 3
    code, _, _ = _qa(run, command, path, "--fail-on", "bad")
    assert code == 0


def test_some_nan_solutions_are_left_out_and_said(env, run):
    path = _gain_table(env, "somenan_gpcal", nan=4)
    code, r, err = _qa(run, "cal", path)
    assert code == 0, err
    assert r["grade"] == "warning" and r["amp_median"] is not None
    check = next(c for c in r["checks"] if c["metric"] == "nonfinite_solutions")
    assert check["value"] > 0 and "NaN" in check["reason"]


@pytest.mark.parametrize("command", ["cal", "gains"])
@pytest.mark.parametrize("vis_cal", ["D Jones", "Df Jones", "X Jones", "KAntPos Jones"])
def test_an_unknown_solve_type_is_never_classified_from_the_name(env, run, command, vis_cal):
    path = _gain_table(env, f"{vis_cal.split()[0].lower()}_gpcal", vis_cal=vis_cal)
    code, r, err = _qa(run, command, path)
    assert code == 0, err
    assert r["table_type"] is None and r["vis_cal"] == vis_cal
    _cannot_grade(r, repr(vis_cal), "not one the pipeline registers")


def test_a_table_without_viscal_cannot_be_graded(env, run):
    path = _gain_table(env, "nokw_gacal")
    with tables.table(str(path), readonly=False, ack=False) as tb:
        tb.removekeyword("VisCal")
    code, r, err = _qa(run, "cal", path)
    assert code == 0, err
    assert r["table_type"] is None
    _cannot_grade(r, "no VisCal keyword")
    code, out, err = run("qa", "cal", path)
    assert "unknown solve type" in out.splitlines()[0] and "[ ?? ]" in out


@pytest.mark.parametrize("command", ["cal", "gains"])
def test_a_zero_row_table_cannot_be_graded(env, run, command):
    full = _gain_table(env.parent, "full_gpcal")
    path = env / "empty_gpcal"
    with tables.table(str(full), ack=False) as tb:
        tb.selectrows([]).copy(str(path), deep=True).close()  # every subtable, no rows
    code, r, err = _qa(run, command, path)
    assert code == 0, err
    _cannot_grade(r, "0 rows")


@pytest.mark.parametrize("command", ["cal", "gains"])
@pytest.mark.parametrize("cut", ["table.f0", "table.f0i", "table.dat"])
def test_a_caltable_cut_short_cannot_be_graded(env, run, truth, command, cut):
    path = env / "cut_gpcal"
    shutil.copytree(truth["calibration"]["caltables"][3]["path"], path)
    _cut(path / cut, 0.4)
    code, r, err = _qa(run, command, path)
    assert code == 0, err
    _cannot_grade(r, "is damaged", "Re-copy or re-create it")
    assert r["n_solutions"] == 0
    code, out, _ = run("qa", command, path)
    assert "grade: unknown" in out and "[ ?? ] readable" in out
    assert "nan%" not in out


def test_every_solution_flagged_is_graded_bad_not_unknown(env, run):
    path = _gain_table(env, "dead_gpcal")
    with tables.table(str(path), readonly=False, ack=False) as tb:
        tb.putcol("FLAG", np.ones_like(tb.getcol("FLAG")))
    code, r, err = _qa(run, "cal", path, "--fail-on", "bad")
    assert code == 3
    assert r["grade"] == "bad" and r["flag_fraction"] == 1.0


def test_a_delay_table_speaks_of_delays_not_amplitudes(env, run, truth):
    kcal = next(c["path"] for c in truth["calibration"]["caltables"] if c["path"].endswith("_kcal"))
    code, r, err = _qa(run, "cal", kcal)
    assert code == 0, err
    assert r["table_type"] == "K" and r["amp_median"] is None
    assert r["delay_median_ns"] is not None
    assert not any("amplitude" in c["reason"].lower() for c in r["checks"])
    assert all("delay_median_ns" in row and "amp_median" not in row for row in r["per_antenna"])
    code, out, _ = run("qa", "cal", kcal)
    assert "amplitude" not in out.lower()


def test_a_caltable_that_is_a_file(env, run):
    (env / "flat_gpcal").write_text("not a table")
    code, _, err = run("qa", "cal", env / "flat_gpcal")
    assert code == 1
    _one_line_error(err, "is a file, not a directory")
