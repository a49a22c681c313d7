"""Absurd values at the edge and broken settings: each is one line naming the problem and the
way out, a non-zero exit, never a traceback and never a hang; the pipeline's database is
byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dsa110_ws.cli import main

BAD_TIMES = [
    ("0001-01-01", "outside 1900-2200"),
    ("9999-12-31", "outside 1900-2200"),
    ("NaT", "Cannot read time"),
    ("nan", "No time given"),
    ("inf", "Cannot tell what time"),
    ("-inf", "Cannot tell what time"),
    ("1e15", "Cannot tell what time"),
    ("99999999999", "Cannot tell what time"),
    ("2026-02-30", "Cannot read time"),
    ("2026-13-45", "Cannot read time"),
    ("10000000000000000000000h", "Cannot read time"),
    ("6x ago", "not a duration"),
    ("", "Cannot read time"),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def demo_env(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    db = demo_dir / "pipeline.sqlite3"
    before = _digest(db)
    yield demo_dir
    assert _digest(db) == before, "a read changed the pipeline's database"


def _one_line_error(capsys, args: list[str], code: int = 1) -> str:
    got = main(args)
    out = capsys.readouterr()
    assert got == code, (args, out.err)
    assert not out.out
    line = out.err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, out.err
    return line


@pytest.mark.parametrize(("value", "says"), BAD_TIMES, ids=[v or "empty" for v, _ in BAD_TIMES])
def test_a_bad_window_start_is_one_line(demo_env, capsys, value, says):
    line = _one_line_error(capsys, ["stats", "--since", value])
    assert line.startswith("error: ") and says in line


@pytest.mark.parametrize(
    "args",
    [
        ["cal", "health", "--at", "1e15"],
        ["cal", "health", "--at", "0001-01-01"],
        ["jobs", "--since", "NaT"],
        ["logs", "{run}", "--since", "9999-12-31"],
        ["logs", "{run}", "--until", "nan"],
    ],
    ids=lambda a: " ".join(a),
)
def test_every_command_with_a_time_bounds_it(demo_env, capsys, args):
    run = sorted(demo_env.joinpath("logs").glob("*.log"))[0].stem
    line = _one_line_error(capsys, [a.format(run=run) for a in args])
    assert "time" in line.lower() and (
        "1900-2200" in line or "No time given" in line or "Cannot" in line
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["jobs", "show", "12345678901234567890123"], "out of range"),
        (["jobs", "show", "--", "-1"], "job id"),
        (["jobs", "show", "1.5"], "job id"),
        (["tasks", "show", "not-a-uuid"], "is not a UUID"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else None,
)
def test_ids_are_checked_before_any_query(demo_env, capsys, args, says):
    line = _one_line_error(capsys, args)
    assert says in line


@pytest.mark.parametrize(
    "args",
    [
        ["jobs", "--limit", "9223372036854775808"],
        ["jobs", "--limit", "0"],
        ["jobs", "--limit", "-3"],
        ["logs", "calibrate-000001", "--tail", "99999999999"],
    ],
    ids=lambda a: " ".join(a),
)
def test_counts_out_of_range_are_usage_errors(demo_env, capsys, args):
    got = main(args)
    err = capsys.readouterr().err
    assert got == 2 and "Traceback" not in err
    assert "is not in the range" in err or "is not a valid" in err


@pytest.mark.parametrize(
    ("ra", "dec", "radius", "says"),
    [
        ("400", "10", "1", "RA"),
        ("150", "95", "1", "Dec"),
        ("150", "nan", "1", "Dec"),
        ("nan", "10", "1", "RA"),
        ("150", "10", "inf", "radius"),
        ("150", "10", "-1", "radius"),
    ],
)
def test_cone_values_are_checked(demo_env, capsys, ra, dec, radius, says):
    got = main(["sources", "cone", "--", ra, dec, radius])
    err = capsys.readouterr().err.strip()
    assert got in (1, 2) and "Traceback" not in err
    assert says.lower() in err.lower()


# -- settings ---------------------------------------------------------------------------------
def _info_with(settings: Path | str, tmp_path, **env) -> subprocess.CompletedProcess:
    """``dsa110-ws info`` in a fresh process (a hang would be caught by the timeout)."""
    full = {
        **os.environ,
        "DSA110_WS_SETTINGS": str(settings),
        "DSA110_WS_STATE_DIR": str(tmp_path / "state"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws", "info"],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _settings(demo_dir, tmp_path, extra: bytes) -> Path:
    base = (
        (demo_dir / "settings.toml")
        .read_bytes()
        .replace(
            b'pipeline_db = "pipeline.sqlite3"',
            f'pipeline_db = "{demo_dir / "pipeline.sqlite3"}"'.encode(),
        )
    )
    path = tmp_path / "settings.toml"
    path.write_bytes(base + b"\n" + extra)
    return path


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (b"\xff\xfe bad = 1\n", "is not UTF-8 text"),
        (b"[qa.image]\nrms_max_jy = nan\n", "rms_max_jy = nan"),
        (b"[qa.image]\nrms_max_jy = inf\n", "rms_max_jy = inf"),
        (b"[qa.image]\nrms_max_jy = 'small'\n", "rms_max_jy"),
        (b"[qa.imag]\nrms_max_jy = 1\n", "qa.imag"),
        (b"[health]\nqueue_stuck = [1]\n", "queue_stuck"),
        (b"busy_timeout_s = = 3\n", "cannot be read"),
    ],
    ids=["latin1", "nan", "inf", "string", "misspelt-table", "short-list", "toml-syntax"],
)
def test_a_broken_settings_file_is_one_line(demo_dir, tmp_path, extra, says):
    res = _info_with(_settings(demo_dir, tmp_path, extra), tmp_path)
    assert res.returncode == 1 and not res.stdout
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert says in line and "settings.toml" in line


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "soon"])
def test_a_bad_numeric_setting_from_the_environment_names_the_variable(demo_dir, tmp_path, value):
    res = _info_with(demo_dir / "settings.toml", tmp_path, DSA110_WS_BUSY_TIMEOUT=value)
    line = res.stderr.strip()
    assert res.returncode == 1 and len(line.splitlines()) == 1
    assert "DSA110_WS_BUSY_TIMEOUT" in line and repr(value) in line


def test_a_settings_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    res = _info_with(fifo, tmp_path)  # open() would block forever: the timeout is the oracle
    assert res.returncode == 1 and "not a regular file" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("target", ["directory", "device", "huge"])
def test_a_settings_path_that_is_no_settings_file(tmp_path, target):
    path = {"directory": tmp_path, "device": Path("/dev/zero"), "huge": tmp_path / "big.toml"}[
        target
    ]
    if target == "huge":
        with open(path, "wb") as fh:
            fh.truncate(3 << 30)  # sparse: 3 GiB that would be read whole
    res = _info_with(path, tmp_path)
    line = res.stderr.strip()
    assert res.returncode == 1 and len(line.splitlines()) == 1
    assert {"directory": "is a directory", "device": "not a regular file", "huge": "MiB"}[
        target
    ] in line
