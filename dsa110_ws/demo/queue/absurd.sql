-- The task queue database of a DSA-110 deployment: schema "absurd" (DESIGN.md section 3b).
--
-- Written for dsa110-ws from the documented contract of the pipeline's durable task queue
-- ("Absurd"): the same tables, columns, defaults, CHECK constraints, indexes and stored-function
-- signatures as a deployment, so code that reads this database reads a real site's unchanged.
-- Applying this file twice is harmless (IF NOT EXISTS / CREATE OR REPLACE throughout).
--
-- Stored-function contract (the workers change state only through these):
--   spawn_task      -> uuid    new task, status 'pending', attempt 0
--   claim_task      -> row(s)  highest priority, then oldest, pending task of a queue; SKIP LOCKED
--   complete_task   -> bool    only from 'claimed'; fills completed_at, wait/execution times
--   fail_task       -> bool    only from 'claimed'; same timings, stores the error
--   cancel_task     -> bool    only from 'pending' or 'retrying'
--   retry_task      -> bool    only from 'failed' or 'cancelled' while attempt < max_retries
--   get_queue_stats -> row     count per status for one queue
-- A refused transition returns FALSE (or no row); it never raises.

-- uuid_generate_v4(): from uuid-ossp where the server has it (a site's server does), otherwise
-- a stand-in over core gen_random_uuid() (PostgreSQL >= 13), e.g. on servers without contrib.
DO $uuid$
BEGIN
    IF to_regprocedure('uuid_generate_v4()') IS NULL THEN
        IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'uuid-ossp') THEN
            CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
        ELSE
            CREATE FUNCTION public.uuid_generate_v4() RETURNS uuid
                LANGUAGE sql VOLATILE PARALLEL SAFE
                AS 'SELECT gen_random_uuid()';
            COMMENT ON FUNCTION public.uuid_generate_v4() IS
                'Stand-in for uuid-ossp''s uuid_generate_v4 (random version-4 UUID)';
        END IF;
    END IF;
END
$uuid$;

CREATE SCHEMA IF NOT EXISTS absurd;
COMMENT ON SCHEMA absurd IS 'Absurd durable task queue of the DSA-110 pipeline';

-- ---------------------------------------------------------------------------------------------
-- Tasks
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS absurd.tasks (
    task_id            UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    queue_name         TEXT NOT NULL,
    task_name          TEXT NOT NULL,
    params             JSONB NOT NULL DEFAULT '{}',
    priority           INTEGER NOT NULL DEFAULT 0,
    timeout_sec        INTEGER,
    status             TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                           ('pending', 'claimed', 'completed', 'failed', 'cancelled', 'retrying')),
    worker_id          TEXT,
    attempt            INTEGER NOT NULL DEFAULT 0,
    max_retries        INTEGER NOT NULL DEFAULT 3,
    result             JSONB,
    error              TEXT,
    created_at         TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    claimed_at         TIMESTAMP WITH TIME ZONE,
    completed_at       TIMESTAMP WITH TIME ZONE,
    wait_time_sec      DOUBLE PRECISION,
    execution_time_sec DOUBLE PRECISION
);

-- Added by the deployment's later "task dependencies" migration, hence at the end of the row.
ALTER TABLE absurd.tasks ADD COLUMN IF NOT EXISTS depends_on UUID[] DEFAULT '{}';
ALTER TABLE absurd.tasks ADD COLUMN IF NOT EXISTS workflow_id UUID;

CREATE INDEX IF NOT EXISTS idx_tasks_queue_status ON absurd.tasks (queue_name, status);
CREATE INDEX IF NOT EXISTS idx_tasks_status ON absurd.tasks (status);
CREATE INDEX IF NOT EXISTS idx_tasks_created_at ON absurd.tasks (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_worker_id ON absurd.tasks (worker_id)
    WHERE worker_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_tasks_priority ON absurd.tasks (priority DESC, created_at);
CREATE INDEX IF NOT EXISTS idx_tasks_depends_on ON absurd.tasks USING GIN (depends_on);
CREATE INDEX IF NOT EXISTS idx_tasks_workflow_id ON absurd.tasks (workflow_id)
    WHERE workflow_id IS NOT NULL;

COMMENT ON TABLE absurd.tasks IS 'Every task of every queue; state changes go through the functions';

-- ---------------------------------------------------------------------------------------------
-- Workflows (DAGs of tasks linked by tasks.depends_on / tasks.workflow_id)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS absurd.workflows (
    workflow_id     UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    name            TEXT NOT NULL,
    description     TEXT,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                        ('pending', 'running', 'completed', 'failed', 'cancelled')),
    created_at      TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    started_at      TIMESTAMP WITH TIME ZONE,
    completed_at    TIMESTAMP WITH TIME ZONE,
    total_tasks     INTEGER NOT NULL DEFAULT 0,
    completed_tasks INTEGER NOT NULL DEFAULT 0,
    failed_tasks    INTEGER NOT NULL DEFAULT 0,
    metadata        JSONB DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS idx_workflows_status ON absurd.workflows (status);
CREATE INDEX IF NOT EXISTS idx_workflows_created_at ON absurd.workflows (created_at DESC);

-- ---------------------------------------------------------------------------------------------
-- Cron-like schedules (a scheduler daemon spawns a task when next_run_at has passed)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS absurd.scheduled_tasks (
    schedule_id     UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
    name            TEXT NOT NULL UNIQUE,
    description     TEXT,
    queue_name      TEXT NOT NULL,
    task_name       TEXT NOT NULL,
    params          JSONB NOT NULL DEFAULT '{}',
    priority        INTEGER NOT NULL DEFAULT 0,
    timeout_sec     INTEGER,
    max_retries     INTEGER NOT NULL DEFAULT 3,
    cron_expression TEXT NOT NULL,
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    state           TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'disabled')),
    last_run_at     TIMESTAMP WITH TIME ZONE,
    next_run_at     TIMESTAMP WITH TIME ZONE,
    created_at      TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at      TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_scheduled_tasks_state ON absurd.scheduled_tasks (state);
CREATE INDEX IF NOT EXISTS idx_scheduled_tasks_next_run ON absurd.scheduled_tasks (next_run_at)
    WHERE state = 'active';
CREATE INDEX IF NOT EXISTS idx_scheduled_tasks_queue ON absurd.scheduled_tasks (queue_name);

-- ---------------------------------------------------------------------------------------------
-- Ingestion of subband groups (16 UVH5 subband files per ~5-minute group)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS absurd.ingestion_groups (
    group_id          TEXT PRIMARY KEY,
    state             TEXT NOT NULL DEFAULT 'collecting',
    subband_count     INTEGER NOT NULL DEFAULT 0,
    expected_subbands INTEGER NOT NULL DEFAULT 16,
    dec_deg           REAL,
    ra_deg            REAL,
    created_at        TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    updated_at        TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    completed_at      TIMESTAMP WITH TIME ZONE,
    ms_path           TEXT,
    error_message     TEXT,
    CONSTRAINT valid_state CHECK (state IN
        ('collecting', 'pending', 'normalizing', 'converting', 'completed', 'failed'))
);

CREATE TABLE IF NOT EXISTS absurd.ingestion_subbands (
    group_id    TEXT NOT NULL REFERENCES absurd.ingestion_groups (group_id) ON DELETE CASCADE,
    subband_idx INTEGER NOT NULL,
    file_path   TEXT NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, subband_idx),
    CONSTRAINT valid_subband_idx CHECK (subband_idx >= 0 AND subband_idx < 16)
);

CREATE INDEX IF NOT EXISTS idx_ingestion_groups_state ON absurd.ingestion_groups (state);
CREATE INDEX IF NOT EXISTS idx_ingestion_groups_created ON absurd.ingestion_groups (created_at);
CREATE UNIQUE INDEX IF NOT EXISTS idx_ingestion_subbands_path
    ON absurd.ingestion_subbands (file_path);

-- ---------------------------------------------------------------------------------------------
-- Stored functions
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION absurd.spawn_task(
    p_queue_name  TEXT,
    p_task_name   TEXT,
    p_params      JSONB,
    p_priority    INTEGER DEFAULT 0,
    p_timeout_sec INTEGER DEFAULT NULL,
    p_max_retries INTEGER DEFAULT 3
) RETURNS UUID
LANGUAGE sql AS $fn$
    INSERT INTO absurd.tasks (queue_name, task_name, params, priority, timeout_sec, max_retries)
    VALUES (p_queue_name, p_task_name, coalesce(p_params, '{}'::jsonb), p_priority,
            p_timeout_sec, p_max_retries)
    RETURNING task_id;
$fn$;

CREATE OR REPLACE FUNCTION absurd.spawn_task_with_deps(
    p_queue_name  TEXT,
    p_task_name   TEXT,
    p_params      JSONB,
    p_depends_on  UUID[],
    p_workflow_id UUID DEFAULT NULL,
    p_priority    INTEGER DEFAULT 0,
    p_timeout_sec INTEGER DEFAULT NULL,
    p_max_retries INTEGER DEFAULT 3
) RETURNS UUID
LANGUAGE plpgsql AS $fn$
DECLARE
    v_unknown INTEGER;
    v_task_id UUID;
BEGIN
    SELECT count(*) INTO v_unknown
      FROM unnest(coalesce(p_depends_on, '{}'::uuid[])) AS dep(id)
     WHERE NOT EXISTS (SELECT 1 FROM absurd.tasks AS t WHERE t.task_id = dep.id);
    IF v_unknown > 0 THEN
        RAISE EXCEPTION 'spawn_task_with_deps: % dependency task id(s) do not exist', v_unknown
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Spawn the dependencies first and pass the task ids they returned.';
    END IF;
    INSERT INTO absurd.tasks (queue_name, task_name, params, priority, timeout_sec, max_retries,
                              depends_on, workflow_id)
    VALUES (p_queue_name, p_task_name, coalesce(p_params, '{}'::jsonb), p_priority, p_timeout_sec,
            p_max_retries, coalesce(p_depends_on, '{}'::uuid[]), p_workflow_id)
    RETURNING task_id INTO v_task_id;
    RETURN v_task_id;
END
$fn$;

-- Output column names as a deployment's (note: task_priority, not priority).
CREATE OR REPLACE FUNCTION absurd.claim_task(
    p_queue_name TEXT,
    p_worker_id  TEXT
) RETURNS TABLE (
    task_id       UUID,
    queue_name    TEXT,
    task_name     TEXT,
    params        JSONB,
    task_priority INTEGER,
    timeout_sec   INTEGER,
    status        TEXT,
    worker_id     TEXT,
    attempt       INTEGER,
    max_retries   INTEGER,
    created_at    TIMESTAMP WITH TIME ZONE,
    claimed_at    TIMESTAMP WITH TIME ZONE
)
LANGUAGE sql AS $fn$
    WITH next_task AS (
        SELECT c.task_id
          FROM absurd.tasks AS c
         WHERE c.queue_name = p_queue_name
           AND c.status = 'pending'
         ORDER BY c.priority DESC, c.created_at ASC
         LIMIT 1
           FOR UPDATE SKIP LOCKED
    )
    UPDATE absurd.tasks AS t
       SET status = 'claimed',
           worker_id = p_worker_id,
           claimed_at = now(),
           attempt = t.attempt + 1
      FROM next_task
     WHERE t.task_id = next_task.task_id
    RETURNING t.task_id, t.queue_name, t.task_name, t.params, t.priority, t.timeout_sec,
              t.status, t.worker_id, t.attempt, t.max_retries, t.created_at, t.claimed_at;
$fn$;

CREATE OR REPLACE FUNCTION absurd.complete_task(
    p_task_id UUID,
    p_result  JSONB
) RETURNS BOOLEAN
LANGUAGE sql AS $fn$
    WITH finished AS (
        UPDATE absurd.tasks AS t
           SET status = 'completed',
               result = p_result,
               completed_at = now(),
               wait_time_sec = extract(epoch FROM t.claimed_at - t.created_at)::double precision,
               execution_time_sec = extract(epoch FROM now() - t.claimed_at)::double precision
         WHERE t.task_id = p_task_id
           AND t.status = 'claimed'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM finished);
$fn$;

CREATE OR REPLACE FUNCTION absurd.fail_task(
    p_task_id UUID,
    p_error   TEXT
) RETURNS BOOLEAN
LANGUAGE sql AS $fn$
    WITH finished AS (
        UPDATE absurd.tasks AS t
           SET status = 'failed',
               error = p_error,
               completed_at = now(),
               wait_time_sec = extract(epoch FROM t.claimed_at - t.created_at)::double precision,
               execution_time_sec = extract(epoch FROM now() - t.claimed_at)::double precision
         WHERE t.task_id = p_task_id
           AND t.status = 'claimed'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM finished);
$fn$;

CREATE OR REPLACE FUNCTION absurd.cancel_task(
    p_task_id UUID
) RETURNS BOOLEAN
LANGUAGE sql AS $fn$
    WITH cancelled AS (
        UPDATE absurd.tasks AS t
           SET status = 'cancelled',
               completed_at = now()
         WHERE t.task_id = p_task_id
           AND t.status IN ('pending', 'retrying')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM cancelled);
$fn$;

-- As in a deployment, completed_at, result and the timings of the last attempt are kept.
CREATE OR REPLACE FUNCTION absurd.retry_task(
    p_task_id UUID
) RETURNS BOOLEAN
LANGUAGE sql AS $fn$
    WITH retried AS (
        UPDATE absurd.tasks AS t
           SET status = 'pending',
               worker_id = NULL,
               claimed_at = NULL,
               error = NULL
         WHERE t.task_id = p_task_id
           AND t.status IN ('failed', 'cancelled')
           AND t.attempt < t.max_retries
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM retried);
$fn$;

CREATE OR REPLACE FUNCTION absurd.get_queue_stats(
    p_queue_name TEXT
) RETURNS TABLE (
    pending   INTEGER,
    claimed   INTEGER,
    completed INTEGER,
    failed    INTEGER,
    cancelled INTEGER,
    retrying  INTEGER,
    total     INTEGER
)
LANGUAGE sql STABLE AS $fn$
    SELECT count(*) FILTER (WHERE t.status = 'pending')::integer,
           count(*) FILTER (WHERE t.status = 'claimed')::integer,
           count(*) FILTER (WHERE t.status = 'completed')::integer,
           count(*) FILTER (WHERE t.status = 'failed')::integer,
           count(*) FILTER (WHERE t.status = 'cancelled')::integer,
           count(*) FILTER (WHERE t.status = 'retrying')::integer,
           count(*)::integer
      FROM absurd.tasks AS t
     WHERE t.queue_name = p_queue_name;
$fn$;

-- A deployment's heartbeat writes nothing (there is no heartbeat column): TRUE while claimed.
CREATE OR REPLACE FUNCTION absurd.heartbeat_task(
    p_task_id UUID
) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $fn$
    SELECT EXISTS (SELECT 1 FROM absurd.tasks AS t
                    WHERE t.task_id = p_task_id AND t.status = 'claimed');
$fn$;

GRANT USAGE ON SCHEMA absurd TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA absurd TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA absurd TO PUBLIC;
