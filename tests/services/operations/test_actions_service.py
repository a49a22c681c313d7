"""w.actions: audited single-transaction writes on a private copy of the demo database."""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
from pathlib import Path

import pytest
from _ops_helpers import connect, execute, rows, sha256

from dsa110_ws.errors import InvalidQueryError, NotFoundError, NotPermittedError


@pytest.fixture()
def ww(writable_demo, state_dir):
    w = connect(writable_demo, state_dir, allow_writes=True)
    yield w
    w.close()


def _db(writable_demo: Path) -> Path:
    return writable_demo / "pipeline.sqlite3"


def _batch_id(db: Path, status: str) -> int:
    return rows(db, "SELECT id FROM batch_jobs WHERE status = ? ORDER BY id", (status,))[0][0]


def _items(db: Path, bid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for (s,) in rows(db, "SELECT status FROM batch_job_items WHERE batch_id = ?", (bid,)):
        out[s] = out.get(s, 0) + 1
    return out


def test_every_action_refused_when_writes_are_off(writable_demo, state_dir, truth):
    db = _db(writable_demo)
    before = sha256(db)
    w = connect(writable_demo, state_dir)  # allow_writes defaults to False
    bid = _batch_id(db, "pending")
    calls = [
        lambda: w.actions.cancel_batch(bid),
        lambda: w.actions.retry_batch_failed(bid),
        lambda: w.actions.rerun_job(truth["failed_jobs"][0]["id"]),
        lambda: w.actions.rerun_ms(truth["images"][0]["ms_path"]),
        lambda: w.actions.acknowledge_alert(1),
        lambda: w.actions.resolve_alert(1),
        lambda: w.actions.rate_image(1, 4),
        lambda: w.actions.create_batch_qa(truth["nights"][0], run=False),
    ]
    try:
        for call in calls:
            with pytest.raises(NotPermittedError, match="writes to the pipeline database are off"):
                call()
        audit = w.state.audit_log()
    finally:
        w.close()
    assert sha256(db) == before
    assert len(audit) == len(calls) and (audit["ok"] == 0).all()


def test_cancel_batch_cancels_it_and_its_pending_items_once(ww, writable_demo):
    db = _db(writable_demo)
    bid = _batch_id(db, "running")
    before_items = _items(db, bid)
    r = ww.actions.cancel_batch(bid)
    assert r.changed and r.before["status"] == "running" and r.after["status"] == "cancelled"
    assert rows(db, "SELECT status FROM batch_jobs WHERE id = ?", (bid,))[0][0] == "cancelled"
    after_items = _items(db, bid)
    assert after_items.get("cancelled") == before_items["pending"]
    assert after_items.get("done") == before_items["done"]
    assert after_items.get("running") == before_items["running"]  # running items keep running
    again = ww.actions.cancel_batch(bid)
    assert not again.changed and again.after == again.before
    audit = ww.actions.audit_log(action="cancel_batch")
    assert len(audit) == 2 and set(audit["target"]) == {str(bid)}
    first = audit.iloc[-1]
    assert json.loads(first["before"])["status"] == "running"
    assert json.loads(first["after"])["items"]["cancelled"] == before_items["pending"]


def test_cancel_a_finished_batch_is_refused_and_changes_nothing(ww, writable_demo):
    db = _db(writable_demo)
    bid = _batch_id(db, "done")
    before = sha256(db)
    with pytest.raises(InvalidQueryError, match="already finished"):
        ww.actions.cancel_batch(bid)
    with pytest.raises(NotFoundError):
        ww.actions.cancel_batch(999)
    assert sha256(db) == before
    assert (ww.actions.audit_log()["ok"] == 0).all()


def _cancel_worker(settings_dir: str, state_dir: str, bid: int, barrier, out) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import dsa110_ws

    w = dsa110_ws.connect(
        Path(settings_dir) / "settings.toml", state_dir=state_dir, allow_writes=True
    )
    try:
        barrier.wait(timeout=60)
        r = w.actions.cancel_batch(bid)
        out.put((r.changed, r.before["status"], r.after["status"]))
    except BaseException as exc:  # report, do not hang the parent
        out.put(("error", type(exc).__name__, str(exc)))
    finally:
        w.close()


def test_two_processes_cancelling_one_batch_give_one_consistent_result(writable_demo, tmp_path):
    db = _db(writable_demo)
    bid = _batch_id(db, "pending")
    n_items = sum(_items(db, bid).values())
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(
            target=_cancel_worker,
            args=(str(writable_demo), str(tmp_path / f"s{i}"), bid, barrier, out),
        )
        for i in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(r[0] != "error" for r in results), results
    assert sorted(r[0] for r in results) == [False, True]  # exactly one changed the batch
    assert {r[2] for r in results} == {"cancelled"}
    assert rows(db, "SELECT status FROM batch_jobs WHERE id = ?", (bid,))[0][0] == "cancelled"
    assert _items(db, bid) == {"cancelled": n_items}


def test_retry_failed_items(ww, writable_demo):
    db = _db(writable_demo)
    bid = _batch_id(db, "partial")
    n_failed = _items(db, bid)["failed"]
    r = ww.actions.retry_batch_failed(bid)
    assert r.changed and r.before["items"]["failed"] == n_failed
    items = rows(
        db,
        "SELECT status, error, started_at, completed_at FROM batch_job_items WHERE batch_id = ?",
        (bid,),
    )
    assert sum(s == "pending" for s, *_ in items) == n_failed
    assert all(e is None and st is None and c is None for s, e, st, c in items if s == "pending")
    status, failed_items = rows(
        db, "SELECT status, failed_items FROM batch_jobs WHERE id = ?", (bid,)
    )[0]
    assert status == "pending" and failed_items == 0
    assert not ww.actions.retry_batch_failed(bid).changed
    with pytest.raises(InvalidQueryError, match="cancelled"):
        ww.actions.retry_batch_failed(_batch_id(db, "cancelled"))


def test_rerun_job_adds_one_pending_pipeline_rerun(ww, writable_demo, truth):
    db = _db(writable_demo)
    failed = truth["failed_jobs"][0]
    ms_path = rows(db, "SELECT ms_path FROM jobs WHERE id = ?", (failed["id"],))[0][0]
    n0 = rows(db, "SELECT COUNT(*) FROM jobs")[0][0]
    r = ww.actions.rerun_job(failed["id"], reason="bad RFI night")
    job = r.after["pending_rerun_job"]
    assert r.changed and job["type"] == "pipeline_rerun" and job["status"] == "pending"
    row = rows(
        db, "SELECT type, status, ms_path, params, created_at FROM jobs WHERE id = ?", (job["id"],)
    )[0]
    assert row[:3] == ("pipeline_rerun", "pending", ms_path)
    params = json.loads(row[3])
    assert params["rerun_of_job"] == failed["id"] and params["reason"] == "bad RFI night"
    assert row[4] == pytest.approx(truth["now_unix"], abs=1e-3)  # the workspace clock
    again = ww.actions.rerun_ms(ms_path)  # already pending: idempotent
    assert not again.changed and again.after["pending_rerun_job"]["id"] == job["id"]
    assert rows(db, "SELECT COUNT(*) FROM jobs")[0][0] == n0 + 1
    with pytest.raises(NotFoundError):
        ww.actions.rerun_ms("/no/such.ms")
    assert rows(db, "SELECT COUNT(*) FROM jobs")[0][0] == n0 + 1
    # the stored status of the original is untouched
    assert ww.jobs.get(failed["id"]).status == "failed"


_RECORDER = """
import json, sys
with open(sys.argv[1], "w") as fh:
    json.dump(sys.argv[2:], fh)
"""


def test_rerun_command_gets_shell_safe_single_arguments(writable_demo, state_dir, tmp_path):
    db = _db(writable_demo)
    evil = str(tmp_path / "odd dir" / 'x\'; touch PWNED; echo "$(id)".ms')
    execute(
        db, ("INSERT INTO ms_index (path, stage, status) VALUES (?, 'failed', 'failed')", (evil,))
    )
    script, record = tmp_path / "rec.py", tmp_path / "argv.json"
    script.write_text(_RECORDER)
    template = f"{sys.executable} {script} {record} --ms {{ms_path}} --job {{job_id}}"
    w = connect(
        writable_demo,
        state_dir,
        allow_writes=True,
        sections={"operations": {"rerun_command": template}},
    )
    try:
        r = w.actions.rerun_ms(evil)
        job_id = r.after["pending_rerun_job"]["id"]
        assert r.after["command"]["returncode"] == 0
        assert json.loads(record.read_text()) == ["--ms", evil, "--job", str(job_id)]
        assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
        assert w.jobs.get(job_id).status == "pending"
        audit = w.actions.audit_log(action="rerun_command")
        assert (
            len(audit) == 1 and json.loads(audit.iloc[0]["before"])["command"]["argv"][-3] == evil
        )
    finally:
        w.close()


def test_failing_rerun_command_marks_the_job_failed(writable_demo, state_dir, tmp_path, truth):
    template = f"{sys.executable} -c \"import sys; sys.stderr.write('no queue'); sys.exit(3)\""
    w = connect(
        writable_demo,
        state_dir,
        allow_writes=True,
        sections={"operations": {"rerun_command": template + " {ms_path}"}},
    )
    try:
        r = w.actions.rerun_ms(truth["images"][0]["ms_path"])
        info = w.jobs.get(r.after["pending_rerun_job"]["id"])
    finally:
        w.close()
    assert r.after["command"]["returncode"] == 3
    assert info.status == "failed" and "exited with status 3" in info.failure_reason
    assert "no queue" in info.failure_reason


def test_acknowledge_and_resolve_alert(ww, writable_demo, truth):
    db = _db(writable_demo)
    aid = rows(
        db,
        "SELECT id FROM flux_monitoring_alerts WHERE calibrator_name = ? AND resolved_at IS NULL",
        (truth["calibration"]["drifting_calibrator"],),
    )[0][0]
    r = ww.actions.acknowledge_alert(aid, by="oncall-test")
    assert r.changed and r.before["acknowledged_at"] is None
    ack_at, ack_by = rows(
        db,
        "SELECT acknowledged_at, acknowledged_by FROM flux_monitoring_alerts WHERE id = ?",
        (aid,),
    )[0]
    assert ack_by == "oncall-test" and ack_at == pytest.approx(truth["now_unix"], abs=1e-3)
    assert not ww.actions.acknowledge_alert(aid).changed
    r = ww.actions.resolve_alert(aid, note="3C48 model updated")
    assert r.changed and r.after["resolution_note"] == "3C48 model updated"
    assert not ww.actions.resolve_alert(aid, note="again").changed
    assert (
        rows(db, "SELECT resolution_note FROM flux_monitoring_alerts WHERE id = ?", (aid,))[0][0]
        == "3C48 model updated"
    )
    assert ww.calhealth.alerts(open_only=True).empty


def test_rate_image(ww, writable_demo):
    db = _db(writable_demo)
    n0 = rows(db, "SELECT COUNT(*) FROM image_ratings")[0][0]
    r = ww.actions.rate_image(3, 5, "sharp")
    row = rows(
        db,
        "SELECT image_id, rating, comment, rater FROM image_ratings WHERE id = ?",
        (r.after["rating_id"],),
    )[0]
    assert row == ("3", 5, "sharp", ww.settings.operator)
    before = sha256(db)
    for bad in (0, 6, 2.5, True):
        with pytest.raises(InvalidQueryError, match="1 to 5"):
            ww.actions.rate_image(3, bad)
    with pytest.raises(NotFoundError):
        ww.actions.rate_image(999_999, 3)
    assert sha256(db) == before
    assert rows(db, "SELECT COUNT(*) FROM image_ratings")[0][0] == n0 + 1


def test_create_batch_qa_and_run_it_recording_item_states(ww, writable_demo, truth):
    db = _db(writable_demo)
    night = truth["nights"][4]
    r = ww.actions.create_batch_qa(night, run=False)
    bid = r.after["batch"]["id"]
    expected = sorted(t["path"] for t in truth["images"] if t["night"] == night)
    items = rows(
        db, "SELECT data_id, ms_path, status FROM batch_job_items WHERE batch_id = ?", (bid,)
    )
    assert sorted(i[0] for i in items) == expected and {i[2] for i in items} == {"pending"}
    by_image = {t["path"]: t["ms_path"] for t in truth["images"]}
    assert all(ms == by_image[p] for p, ms, _ in items)
    bad = expected[2]
    seen = []

    def fake_qa(path):  # the QA itself belongs to the products service; here: the recording
        seen.append(
            rows(
                db,
                "SELECT status FROM batch_job_items WHERE data_id = ? AND batch_id = ?",
                (path, bid),
            )[0][0]
        )
        if path == bad:
            raise ValueError("image all NaN")

    final = ww.actions.run_batch_qa(bid, qa=fake_qa)
    assert seen == ["running"] * len(expected)  # marked running before its QA ran
    assert final["status"] == "partial" and final["counts"] == {
        "success": len(expected) - 1,
        "failed": 1,
    }
    st = dict(
        (
            (p, (s, e))
            for p, s, e in rows(
                db, "SELECT data_id, status, error FROM batch_job_items WHERE batch_id = ?", (bid,)
            )
        )
    )
    assert st[bad] == ("failed", "ValueError: image all NaN")
    assert all(v == ("done", None) for k, v in st.items() if k != bad)
    assert rows(
        db, "SELECT status, completed_items, failed_items FROM batch_jobs WHERE id = ?", (bid,)
    )[0] == ("partial", len(expected) - 1, 1)
    with pytest.raises(InvalidQueryError, match="matches no images"):
        ww.actions.create_batch_qa({"start": "2020-01-01", "end": "2020-01-02"})


def test_batch_qa_through_the_batch_runner(ww, writable_demo, truth):
    """Real image QA via w.batch: graded images are done (a bad grade is a result), a
    missing file fails with its reason and does not stop the batch."""
    db = _db(writable_demo)
    night = next(t["night"] for t in truth["images"] if t["bad_reason"])
    paths = sorted(t["path"] for t in truth["images"] if t["night"] == night)
    missing = str(Path(paths[0]).with_name("gone.fits"))
    r = ww.actions.create_batch_qa([*paths, missing], run=False)
    bid = r.after["batch"]["id"]
    final = ww.actions.run_batch_qa(bid, mode="threads")
    assert final["status"] == "partial"
    st = {
        p: (s, e)
        for p, s, e in rows(
            db, "SELECT data_id, status, error FROM batch_job_items WHERE batch_id = ?", (bid,)
        )
    }
    assert all(st[p] == ("done", None) for p in paths)
    assert st[missing][0] == "failed" and "gone.fits" in st[missing][1]
    times = rows(
        db, "SELECT started_at, completed_at FROM batch_job_items WHERE batch_id = ?", (bid,)
    )
    assert all(s is not None and c is not None and c >= s for s, c in times)
    assert rows(
        db, "SELECT completed_items, failed_items, total_items FROM batch_jobs WHERE id = ?", (bid,)
    )[0] == (len(paths), 1, len(paths) + 1)
    with pytest.raises(InvalidQueryError, match="only pending or running"):
        ww.actions.run_batch_qa(bid)
