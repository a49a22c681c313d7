"""Commands and options no test had tried: `jobs retry`, `jobs rerun --ms/--no-command`,
`jobs batches`, `health --check/--strict`, `logs --grep/--json/--since/--tail`,
`stats --per`, `ms summary --no-flags`, `qa image --no-cache`.  Expected values come from
the truth file, the database read with sqlite3, the log files read as text, or
python-casacore, never from the code under test."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest

from dsa110_ws.cli import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def demo_env(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture()
def writable_env(writable_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSA110_WS_ALLOW_WRITES", "1")
    return writable_demo / "pipeline.sqlite3"


def _rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


# -- jobs ---------------------------------------------------------------------------------
def test_jobs_retry_requeues_exactly_the_failed_items(writable_env, capsys):
    db = writable_env
    (bid,) = _rows(db, "SELECT id FROM batch_jobs WHERE status = 'partial' LIMIT 1")[0]
    items = dict(_rows(db, "SELECT id, status FROM batch_job_items WHERE batch_id = ?", (bid,)))
    failed = {i for i, s in items.items() if s in ("failed", "error")}
    assert failed, "the demo's partial batch has failed items"
    code, out, err = _run(capsys, "jobs", "retry", str(bid))
    assert code == 0, err
    after = dict(_rows(db, "SELECT id, status FROM batch_job_items WHERE batch_id = ?", (bid,)))
    assert {i for i, s in after.items() if s == "pending"} >= failed
    assert not {i for i, s in after.items() if s in ("failed", "error")}
    unchanged = {i: s for i, s in items.items() if i not in failed}
    assert {i: after[i] for i in unchanged} == unchanged  # the others are left alone
    assert _rows(db, "SELECT status FROM batch_jobs WHERE id = ?", (bid,)) == [("pending",)]
    # a cancelled batch refuses, in one line, and nothing changes
    (cid,) = _rows(db, "SELECT id FROM batch_jobs WHERE status = 'cancelled' LIMIT 1")[0]
    code, out, err = _run(capsys, "jobs", "retry", str(cid))
    assert code == 1 and "cancelled" in err and len(err.strip().splitlines()) == 1
    assert _rows(db, "SELECT status FROM batch_jobs WHERE id = ?", (cid,)) == [("cancelled",)]


_RECORDER = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))\n"


def test_jobs_rerun_of_an_ms_and_no_command(writable_env, writable_demo, tmp_path, truth, capsys):
    db = writable_env
    script, record = tmp_path / "rec.py", tmp_path / "argv.json"
    script.write_text(_RECORDER)
    settings = writable_demo / "settings.toml"
    settings.write_text(
        settings.read_text()
        + f'\n[operations]\nrerun_command = "{sys.executable} {script} {record} {{ms_path}}"\n'
    )
    ms = truth["ms_states"]["failed"][0]["path"]
    code, out, err = _run(capsys, "jobs", "rerun", "--ms", ms, "--no-command")
    assert code == 0, err
    rows = _rows(db, "SELECT ms_path, status FROM jobs WHERE type = 'pipeline_rerun'")
    assert rows == [(ms, "pending")]
    assert not record.exists()  # --no-command: the configured command did not run
    # without --no-command, a second MS runs the command with that MS as one argument
    other = truth["ms_states"]["stuck"][0]["path"]
    code, out, err = _run(capsys, "jobs", "rerun", "--ms", other)
    assert code == 0, err
    assert json.loads(record.read_text()) == [other]
    # the same MS again: already pending, nothing new
    code, out, err = _run(capsys, "jobs", "rerun", "--ms", ms, "--no-command")
    assert code == 0
    assert len(_rows(db, "SELECT id FROM jobs WHERE type = 'pipeline_rerun'")) == 2


def test_jobs_batches_match_the_truth(demo_env, truth, capsys):
    code, out, err = _run(capsys, "jobs", "batches", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert Counter(b["status"] for b in got) == Counter(truth["batch_status_counts"])
    code, out, _ = _run(capsys, "jobs", "batches")
    assert code == 0 and all(s in out for s in truth["batch_status_counts"])


# -- health -------------------------------------------------------------------------------
def test_health_check_selects_checks_and_strict_turns_unknown_into_warning(
    demo_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    code, out, _ = _run(capsys, "health", "--json")
    names = [c["name"] for c in json.loads(out)["checks"]]
    assert len(names) >= 2
    code, out, _ = _run(capsys, "health", "--check", names[0], "--check", names[1], "--json")
    assert [c["name"] for c in json.loads(out)["checks"]] == names[:2]
    code, _, err = _run(capsys, "health", "--check", "no-such-check")
    assert code == 1 and "no-such-check" in err and names[0] in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # a check that cannot run (an http check given a URL it cannot fetch) is unknown:
    # exit 3, and with --strict a warning: exit 1
    settings = tmp_path / "settings.toml"
    settings.write_text(
        f'pipeline_db = "{demo_dir / "pipeline.sqlite3"}"\n'
        f'data_roots = ["{demo_dir / "data"}"]\nlog_roots = ["{demo_dir / "logs"}"]\n'
        '[[health.checks]]\nname = "nowhere"\nkind = "http"\nurl = "ftp://example.org/"\n'
    )
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(settings))
    code, out, _ = _run(capsys, "health", "--check", "nowhere", "--json")
    doc = json.loads(out)
    assert [c["status"] for c in doc["checks"]] == ["unknown"] and code == 3
    code, out, _ = _run(capsys, "health", "--check", "nowhere", "--strict")
    assert code == 1 and "UNKNOWN" in out  # the status is still shown as it is
    code, _, _ = _run(capsys, "health", "--check", names[0], "--strict")
    assert code == 0  # --strict changes nothing for a check that ran and passed


# -- logs ---------------------------------------------------------------------------------
_LINE = re.compile(r"^(\S+) (\w+)\s")


def _log_lines(demo_dir: Path, run_id: str) -> list[str]:
    return [ln for ln in (demo_dir / "logs" / f"{run_id}.log").read_text().splitlines() if ln]


def test_logs_grep_json_since_and_tail(demo_env, demo_dir, truth, capsys):
    run_id = max(truth["logs"], key=lambda r: truth["logs"][r]["n_lines"])
    lines = _log_lines(demo_dir, run_id)
    assert len(lines) == truth["logs"][run_id]["n_lines"] >= 3
    code, out, err = _run(capsys, "logs", run_id, "--json")
    assert code == 0, err
    records = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert len(records) == len(lines)
    code, out, _ = _run(capsys, "logs", run_id, "--tail", "2", "--json")
    assert [json.loads(ln) for ln in out.splitlines() if ln.strip()] == records[-2:]
    word = lines[-1].split()[-1]
    code, out, _ = _run(capsys, "logs", run_id, "--grep", re.escape(word), "--json")
    got = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert len(got) == sum(word in ln for ln in lines) >= 1
    # --since the second line's timestamp: the first line (if earlier) is left out
    stamps = [_LINE.match(ln).group(1) for ln in lines]
    code, out, _ = _run(capsys, "logs", run_id, "--since", stamps[1], "--json")
    got = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert len(got) == sum(s >= stamps[1] for s in stamps)


# -- stats --------------------------------------------------------------------------------
def test_stats_per_night_counts_the_truths_images(demo_env, truth, capsys):
    first = truth["nights"][0]
    per_night = Counter(i["night"] for i in truth["images"])
    code, out, err = _run(capsys, "stats", "--since", first, "--per", "night")
    assert code == 0, err
    # the per-bin table: bin_start (an ISO time), bin_start_mjd, n_ms, n_images, n_photometry
    header = next(ln.split() for ln in out.splitlines() if ln.split()[:1] == ["bin_start"])
    lines = [ln.split() for ln in out.splitlines() if re.match(r"^\d{4}-\d\d-\d\d", ln)]
    col = header.index("n_images") + (len(lines[0]) - len(header))  # a time in 1 or 2 fields
    rows = {f[0][:10]: int(f[col]) for f in lines}
    assert rows == dict(per_night)  # one row per night, each night's images from the truth
    code, out, _ = _run(capsys, "stats", "--since", first, "--per", "hour")
    hours = [ln for ln in out.splitlines() if re.match(r"^\d{4}-\d\d-\d\d[ T]\d\d:00:00", ln)]
    assert len(hours) > len(per_night)  # hourly bins: more rows than nights


# -- products -----------------------------------------------------------------------------
def test_ms_summary_no_flags_reads_no_flags(demo_env, truth, capsys, tmp_path):
    ms = truth["measurement_sets"][0]
    code, out, err = _run(capsys, "ms", "summary", ms["path"], "--json", "--no-flags")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["n_rows"] == ms["n_rows"] and doc["n_antennas"] == ms["n_antennas"]
    assert doc.get("flag_fraction") is None
    code, out, _ = _run(capsys, "ms", "summary", ms["path"], "--json")
    assert json.loads(out)["flag_fraction"] is not None


def _entries(state: Path) -> dict[str, int]:
    """The product cache's entry files and their inodes (a rewrite makes a new inode)."""
    return {str(p.relative_to(state)): p.stat().st_ino for p in state.rglob("*.entry")}


def test_qa_image_no_cache_computes_again(demo_env, truth, capsys, tmp_path):
    img = truth["images"][0]
    state = tmp_path / "state"
    code, out, err = _run(capsys, "qa", "image", img["path"], "--json")
    assert code == 0, err
    first, written = json.loads(out), _entries(state)
    assert any("qa.image" in k for k in written)
    assert first["rms_jy"] == pytest.approx(img["noise_jy"], rel=0.2)  # the injected noise
    code, out, _ = _run(capsys, "qa", "image", img["path"], "--json")
    assert json.loads(out) == first and _entries(state) == written  # served from the cache
    code, out, err = _run(capsys, "qa", "image", img["path"], "--json", "--no-cache")
    assert code == 0, err
    again, rewritten = json.loads(out), _entries(state)
    assert again["rms_jy"] == first["rms_jy"] and again["grade"] == first["grade"]
    qa_key = next(k for k in written if "qa.image" in k)
    assert rewritten[qa_key] != written[qa_key]  # computed again (and stored afresh)
