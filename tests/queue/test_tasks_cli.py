"""`dsa110-ws tasks ...` and `dsa110-ws ingest` against a real PostgreSQL: the deployment's
column names, one-line errors with a non-zero exit, and reads that change nothing."""

from __future__ import annotations

import json

import pytest
from _queue_helpers import admin_url, digest

from dsa110_ws.cli import main
from dsa110_ws.demo.queue.db import connect

READS = [
    ["tasks", "stats", "--json"],
    ["tasks", "list", "--json", "--limit", "50"],
    ["tasks", "list", "--status", "failed", "--name", "pipeline-job", "--since", "2d"],
    ["tasks", "list", "--worker", "lxd110h17-5c1e9a07", "--queue", "dsa110-pipeline"],
    ["tasks", "stuck", "--json"],
    ["tasks", "stuck"],
    ["tasks", "failures", "--since", "2d", "--json"],
    ["tasks", "failures"],
    ["tasks", "stats"],
    ["ingest", "--json"],
    ["ingest", "--state", "collecting"],
    ["health", "--check", "task-queue", "--json"],
]


@pytest.fixture()
def cli_env(demo_dir, tmp_path, monkeypatch, day_url):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSA110_WS_QUEUE_URL", day_url)
    return day_url


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _json(capsys, *args: str):
    code, out, err = _run(capsys, *args)
    assert code == 0, err
    return json.loads(out)


def test_every_read_command_answers_and_changes_nothing(cli_env, capsys, day_truth):
    before = digest(cli_env)
    for args in READS:
        code, out, err = _run(capsys, *args)
        assert code in (0, 1) if args[0] == "health" else code == 0, (args, err)
        assert "Traceback" not in out + err and out.strip(), args
    failed = day_truth["failed"][0]["task_id"]
    for args in (["tasks", "show", failed], ["tasks", "show", failed, "--json"]):
        assert _run(capsys, *args)[0] == 0
    assert digest(cli_env) == before


def test_stats_json_is_one_record_per_queue_with_the_functions_columns(cli_env, capsys, day_truth):
    rows = _json(capsys, "tasks", "stats", "--json")
    assert [r["queue_name"] for r in rows] == ["dsa110-pipeline", "dsa110-pipeline-dlq"]
    for r in rows:
        assert list(r) == [
            "queue_name",
            "pending",
            "claimed",
            "completed",
            "failed",
            "cancelled",
            "retrying",
            "total",
        ]
        want = day_truth["counts"][r["queue_name"]]
        assert {k: r[k] for k in want} == want


def test_list_json_uses_the_tasks_columns(cli_env, capsys, day_truth):
    rows = _json(capsys, "tasks", "list", "--status", "failed", "--json")
    assert {r["task_id"] for r in rows} == {t["task_id"] for t in day_truth["failed"]}
    assert {
        "task_id",
        "queue_name",
        "task_name",
        "status",
        "worker_id",
        "attempt",
        "max_retries",
        "error",
        "created_at",
        "claimed_at",
        "completed_at",
        "wait_time_sec",
        "execution_time_sec",
        "workflow_id",
    } <= set(rows[0])


def test_list_says_when_it_is_cut(cli_env, capsys):
    code, out, err = _run(capsys, "tasks", "list", "--limit", "3")
    # the note goes to standard error, one line; standard output is the table alone
    assert code == 0 and err == "note: first 3 shown; pass --limit for more\n"
    assert len(out.strip().splitlines()) == 1 + 3


def test_show_json_is_the_task_whole(cli_env, capsys, day_truth):
    wf = day_truth["workflow"]
    d = _json(capsys, "tasks", "show", wf["task_ids"][-1], "--json")
    assert d["workflow_id"] == wf["workflow_id"] and d["depends_on"]
    assert d["status"] == wf["statuses"][-1]


def test_stuck_json(cli_env, capsys, day_truth):
    rows = _json(capsys, "tasks", "stuck", "--json")
    assert [r["task_id"] for r in rows] == [t["task_id"] for t in day_truth["stuck"]]
    assert rows[0]["age_s"] > rows[0]["limit_s"] == rows[0]["timeout_sec"]


def test_ingest_json_has_the_deployments_columns_and_missing_subbands(cli_env, capsys, day_truth):
    rows = _json(capsys, "ingest", "--json")
    assert list(rows[0])[:5] == [
        "group_id",
        "state",
        "subband_count",
        "expected_subbands",
        "missing_subbands",
    ]
    missing = {r["group_id"]: r["missing_subbands"] for r in rows if r["missing_subbands"]}
    assert missing == day_truth["ingestion"]["missing_subbands"]
    only = _json(capsys, "ingest", "--state", "failed", "--json")
    assert {r["group_id"]: r["error_message"] for r in only} == day_truth["ingestion"]["failed"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["tasks", "show", "not-a-uuid"], "is not a UUID"),
        (["tasks", "show", "00000000-0000-0000-0000-000000000000"], "No task 00000000"),
        (["tasks", "retry", "00000000-0000-0000-0000-000000000000"], "writes to the task queue"),
        (["tasks", "list", "--status", "exploded"], "Unknown task status 'exploded'"),
        (["tasks", "list", "--since", "yesterdayish"], "yesterdayish"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(cli_env, capsys, args, words):
    code, out, err = _run(capsys, *args)
    assert code == 1 and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_retry_and_cancel_from_the_command_line(cli_env, capsys, monkeypatch, day_truth):
    monkeypatch.setenv("DSA110_WS_ALLOW_WRITES", "1")
    retryable = next(t for t in day_truth["failed"] if not t["exhausted"])
    code, out, err = _run(capsys, "tasks", "retry", retryable["task_id"])
    assert code == 0 and "failed -> pending" in out and "audit record" in out, err
    code, out, err = _run(capsys, "tasks", "retry", retryable["task_id"])
    assert code == 1 and "is pending: only failed or cancelled tasks can be retried" in err
    exhausted = next(t for t in day_truth["failed"] if t["exhausted"])
    code, _, err = _run(capsys, "tasks", "retry", exhausted["task_id"])
    assert code == 1 and "has used 3 of its 3 attempts" in err
    code, _, err = _run(capsys, "tasks", "cancel", day_truth["stuck"][0]["task_id"])
    assert code == 1 and "is claimed (held by" in err


def test_without_a_queue_the_tasks_commands_say_how_to_configure_it(
    writable_demo, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    for args in (["tasks", "stats"], ["tasks", "list"], ["tasks", "stuck", "--json"]):
        code, out, err = _run(capsys, *args)
        assert code == 1 and not out
        assert err.strip() == (
            "error: task queue not configured: set ABSURD_DATABASE_URL (or DSA110_WS_QUEUE_URL)."
        )
    code, out, _ = _run(capsys, "ingest", "--json")  # the SQLite's ingestion tables, as before
    assert code == 0 and json.loads(out)


# -- a server or database that is not what it should be ---------------------------------------
def _fails(capsys, url: str, monkeypatch, *args: str) -> str:
    monkeypatch.setenv("DSA110_WS_QUEUE_URL", url)
    code, out, err = _run(capsys, *args)
    assert code == 1 and not out.strip(), (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_an_unreachable_server_is_one_line_naming_the_host(cli_env, capsys, monkeypatch):
    # (a server that accepts and never answers, on loopback: tests/adversarial/test_databases)
    err = _fails(
        capsys,
        "postgresql://absurd:secret@127.0.0.1:1/dsa110_absurd",
        monkeypatch,
        "tasks",
        "stats",
    )
    assert "127.0.0.1:1" in err and "secret" not in err and "refused" in err.lower()


def test_a_wrong_password_is_one_line_and_never_shown(cli_env, capsys, monkeypatch, pg_server):
    hba = pg_server.pgdata / "pg_hba.conf"
    original = hba.read_text()
    with connect(admin_url(pg_server), autocommit=True) as con:
        con.execute("DROP ROLE IF EXISTS ws_pw")
        con.execute("CREATE ROLE ws_pw LOGIN PASSWORD 'right-one'")
        hba.write_text("local all ws_pw scram-sha-256\n" + original)
        con.execute("SELECT pg_reload_conf()")
    try:
        wrong = cli_env.replace("postgresql://postgres@", "postgresql://ws_pw:wrong-one@")
        err = _fails(capsys, wrong, monkeypatch, "tasks", "stats")
        assert "refused the login" in err and "wrong-one" not in err
        assert "ABSURD_DATABASE_URL" in err
    finally:
        hba.write_text(original)
        with connect(admin_url(pg_server), autocommit=True) as con:
            con.execute("SELECT pg_reload_conf()")


def test_a_database_without_schema_absurd(cli_env, capsys, monkeypatch):
    with connect(cli_env, autocommit=True) as con:
        con.execute("DROP SCHEMA absurd CASCADE")
    err = _fails(capsys, cli_env, monkeypatch, "tasks", "stats")
    assert "has no schema 'absurd'" in err and "ABSURD_DATABASE_URL" in err


def test_a_missing_optional_table_costs_only_its_view(cli_env, capsys, monkeypatch, qws):
    with connect(cli_env, autocommit=True) as con:
        con.execute(
            "DROP TABLE absurd.workflows, absurd.scheduled_tasks, "
            "absurd.ingestion_subbands, absurd.ingestion_groups"
        )
    from dsa110_ws.errors import SchemaMismatchError

    with pytest.raises(SchemaMismatchError, match="no table absurd.workflows"):
        qws.tasks.workflows()
    with pytest.raises(SchemaMismatchError, match="no table absurd.scheduled_tasks"):
        qws.tasks.schedules()
    assert len(qws.tasks.stats()) == 2 and len(qws.tasks.list(limit=None))
    assert qws.ingest.source == "pipeline ingestion_groups"  # the SQLite's, as before
    code, out, err = _run(capsys, "tasks", "stats")
    assert code == 0, err
    code, out, err = _run(capsys, "ingest", "--json")
    assert code == 0 and json.loads(out), err
