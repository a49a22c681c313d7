"""Schema absurd as DESIGN 3b describes a deployment's: columns, types, defaults, checks,
indexes and function signatures, read back from the catalogs."""

from __future__ import annotations

import psycopg
import pytest

TSTZ = "timestamp with time zone"
# column: (type, nullable, default contains)
TASKS = {
    "task_id": ("uuid", False, "uuid_generate_v4()"),
    "queue_name": ("text", False, None),
    "task_name": ("text", False, None),
    "params": ("jsonb", False, "'{}'"),
    "priority": ("integer", False, "0"),
    "timeout_sec": ("integer", True, None),
    "status": ("text", False, "'pending'"),
    "worker_id": ("text", True, None),
    "attempt": ("integer", False, "0"),
    "max_retries": ("integer", False, "3"),
    "result": ("jsonb", True, None),
    "error": ("text", True, None),
    "created_at": (TSTZ, False, "now()"),
    "claimed_at": (TSTZ, True, None),
    "completed_at": (TSTZ, True, None),
    "wait_time_sec": ("double precision", True, None),
    "execution_time_sec": ("double precision", True, None),
    "depends_on": ("ARRAY", True, "'{}'"),
    "workflow_id": ("uuid", True, None),
}
WORKFLOWS = {
    "workflow_id": "uuid",
    "name": "text",
    "description": "text",
    "status": "text",
    "created_at": TSTZ,
    "started_at": TSTZ,
    "completed_at": TSTZ,
    "total_tasks": "integer",
    "completed_tasks": "integer",
    "failed_tasks": "integer",
    "metadata": "jsonb",
}
SCHEDULED = {
    "schedule_id": "uuid",
    "name": "text",
    "description": "text",
    "queue_name": "text",
    "task_name": "text",
    "params": "jsonb",
    "priority": "integer",
    "timeout_sec": "integer",
    "max_retries": "integer",
    "cron_expression": "text",
    "timezone": "text",
    "state": "text",
    "last_run_at": TSTZ,
    "next_run_at": TSTZ,
    "created_at": TSTZ,
    "updated_at": TSTZ,
}
GROUPS = {
    "group_id": "text",
    "state": "text",
    "subband_count": "integer",
    "expected_subbands": "integer",
    "dec_deg": "real",
    "ra_deg": "real",
    "created_at": TSTZ,
    "updated_at": TSTZ,
    "completed_at": TSTZ,
    "ms_path": "text",
    "error_message": "text",
}
SUBBANDS = {"group_id": "text", "subband_idx": "integer", "file_path": "text", "recorded_at": TSTZ}


def _columns(con, table: str) -> dict:
    rows = con.execute(
        "SELECT column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'absurd' "
        "AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return {r[0]: (r[1], r[2] == "YES", r[3]) for r in rows}


def test_tasks_columns_types_nullability_and_defaults_in_order(con):
    cols = _columns(con, "tasks")
    assert list(cols) == list(TASKS)  # the migration's two columns come last
    for name, (dtype, nullable, default) in TASKS.items():
        assert cols[name][:2] == (dtype, nullable), name
        if default is not None:
            assert default in (cols[name][2] or ""), name


@pytest.mark.parametrize(
    "table,expected",
    [
        ("workflows", WORKFLOWS),
        ("scheduled_tasks", SCHEDULED),
        ("ingestion_groups", GROUPS),
        ("ingestion_subbands", SUBBANDS),
    ],
)
def test_other_tables_have_the_designed_columns(con, table, expected):
    assert {k: v[0] for k, v in _columns(con, table).items()} == expected


def test_depends_on_is_a_uuid_array(con):
    udt = con.execute(
        "SELECT udt_name FROM information_schema.columns WHERE table_schema = "
        "'absurd' AND table_name = 'tasks' AND column_name = 'depends_on'"
    ).fetchone()
    assert udt == ("_uuid",)


def test_indexes_the_deployment_creates(con):
    idx = dict(
        con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'absurd'"
        ).fetchall()
    )
    expect = {
        "idx_tasks_queue_status": "(queue_name, status)",
        "idx_tasks_status": "(status)",
        "idx_tasks_created_at": "(created_at DESC)",
        "idx_tasks_worker_id": "(worker_id)",
        "idx_tasks_priority": "(priority DESC, created_at)",
        "idx_tasks_depends_on": "USING gin (depends_on)",
        "idx_tasks_workflow_id": "(workflow_id)",
        "idx_workflows_status": "(status)",
        "idx_workflows_created_at": "(created_at DESC)",
        "idx_ingestion_groups_state": "(state)",
        "idx_ingestion_groups_created": "(created_at)",
        "idx_ingestion_subbands_path": "UNIQUE INDEX",
    }
    for name, fragment in expect.items():
        assert fragment in idx[name], (name, idx[name])
    assert "WHERE (worker_id IS NOT NULL)" in idx["idx_tasks_worker_id"]
    assert {
        "tasks_pkey",
        "workflows_pkey",
        "scheduled_tasks_pkey",
        "ingestion_groups_pkey",
        "ingestion_subbands_pkey",
        "scheduled_tasks_name_key",
    } <= set(idx)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO absurd.tasks (queue_name, task_name, status) VALUES ('q', 't', 'running')",
        "INSERT INTO absurd.workflows (name, status) VALUES ('w', 'done')",
        "INSERT INTO absurd.scheduled_tasks (name, queue_name, task_name, cron_expression, state) "
        "VALUES ('s', 'q', 't', '* * * * *', 'on')",
        "INSERT INTO absurd.ingestion_groups (group_id, state) VALUES ('g', 'converted')",
    ],
)
def test_check_constraints_reject_unknown_states(con, sql):
    with pytest.raises(psycopg.errors.CheckViolation):
        con.execute(sql)


def test_subband_index_range_and_unique_file_path(con):
    con.execute("INSERT INTO absurd.ingestion_groups (group_id) VALUES ('g')")
    with pytest.raises(psycopg.errors.CheckViolation):
        con.execute("INSERT INTO absurd.ingestion_subbands VALUES ('g', 16, '/a.hdf5')")
    con.execute(
        "INSERT INTO absurd.ingestion_subbands (group_id, subband_idx, file_path) "
        "VALUES ('g', 0, '/a.hdf5')"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        con.execute(
            "INSERT INTO absurd.ingestion_subbands (group_id, subband_idx, file_path) "
            "VALUES ('g', 1, '/a.hdf5')"
        )


def test_function_signatures_and_result_columns(con):
    rows = con.execute(
        "SELECT p.proname, pg_get_function_identity_arguments(p.oid), "
        "pg_get_function_result(p.oid) FROM pg_proc p JOIN pg_namespace n "
        "ON n.oid = p.pronamespace WHERE n.nspname = 'absurd'"
    ).fetchall()
    sig = {name: (args, result) for name, args, result in rows}
    assert sig["spawn_task"] == (
        "p_queue_name text, p_task_name text, p_params jsonb, p_priority "
        "integer, p_timeout_sec integer, p_max_retries integer",
        "uuid",
    )
    assert sig["claim_task"][0] == "p_queue_name text, p_worker_id text"
    assert "task_priority integer" in sig["claim_task"][1]
    for name in ("complete_task", "fail_task", "cancel_task", "retry_task", "heartbeat_task"):
        assert sig[name][1] == "boolean", name
    assert sig["get_queue_stats"][1] == (
        "TABLE(pending integer, claimed integer, completed "
        "integer, failed integer, cancelled integer, retrying "
        "integer, total integer)"
    )


def test_ids_default_to_random_uuids(con):
    a, b = (con.execute("SELECT absurd.spawn_task('q', 't', '{}')").fetchone()[0] for _ in "ab")
    assert a != b and a.version == 4 and b.version == 4


def test_applying_the_schema_again_keeps_the_data(con, queue_url):
    from dsa110_ws.demo.queue.db import ensure_database

    tid = con.execute("SELECT absurd.spawn_task('q', 't', '{\"k\": 1}')").fetchone()[0]
    ensure_database(queue_url)
    assert con.execute("SELECT params FROM absurd.tasks WHERE task_id = %s", (tid,)).fetchone() == (
        {"k": 1},
    )
