//! The schema, shared by both backends: one list of migrations in SQL that SQLite and
//! PostgreSQL both accept (`BIGINT`, `DOUBLE PRECISION`, `BOOLEAN`, `TEXT`, `ON CONFLICT`), so
//! a database moved from one to the other has the same tables, and a change is written once.

/// Schema migrations, applied in order; each runs once, recorded in `schema_migrations`.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        input TEXT NOT NULL,
        priority TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        exit_code INTEGER,
        error_code TEXT,
        error_message TEXT,
        stdout TEXT NOT NULL,
        stderr TEXT NOT NULL,
        output_truncated BOOLEAN NOT NULL,
        usage TEXT,
        cost_usd DOUBLE PRECISION,
        submitted_by TEXT NOT NULL
    );
    CREATE INDEX tasks_status ON tasks (status);
    CREATE INDEX tasks_seq ON tasks (seq);",
    ),
    (
        2,
        "CREATE TABLE workflow_executions (
        id TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        workflow_name TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        n8n_execution_id TEXT,
        status TEXT NOT NULL,
        reply TEXT,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        error TEXT,
        submitted_by TEXT NOT NULL
    );
    CREATE INDEX workflow_executions_status ON workflow_executions (status);
    CREATE INDEX workflow_executions_started ON workflow_executions (started_at);",
    ),
    (
        3,
        "CREATE TABLE metric_buckets (
        metric TEXT NOT NULL,
        step_secs BIGINT NOT NULL,
        start BIGINT NOT NULL,
        min_value DOUBLE PRECISION NOT NULL,
        max_value DOUBLE PRECISION NOT NULL,
        sum_value DOUBLE PRECISION NOT NULL,
        sample_count BIGINT NOT NULL,
        PRIMARY KEY (metric, step_secs, start)
    );",
    ),
    (
        4,
        "ALTER TABLE tasks ADD COLUMN runner_pid BIGINT;
    ALTER TABLE tasks ADD COLUMN runner_start BIGINT;",
    ),
    (
        5,
        "CREATE TABLE cost_entries (
        id TEXT PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        source TEXT NOT NULL,
        model TEXT,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        cache_write_5m_tokens BIGINT NOT NULL,
        cache_write_1h_tokens BIGINT NOT NULL,
        cache_read_tokens BIGINT NOT NULL,
        cost_nanos BIGINT NOT NULL,
        reported_nanos BIGINT,
        computed BOOLEAN NOT NULL,
        unpriced BOOLEAN NOT NULL,
        fast BOOLEAN NOT NULL,
        sidechain BOOLEAN NOT NULL,
        project TEXT NOT NULL,
        session TEXT NOT NULL,
        agent TEXT,
        category TEXT,
        tags TEXT NOT NULL,
        description TEXT,
        message_id TEXT,
        request_id TEXT,
        idempotency_key TEXT,
        recorded_by TEXT NOT NULL,
        recorded_at BIGINT NOT NULL
    );
    CREATE INDEX cost_entries_at ON cost_entries (at_ms, id);
    CREATE UNIQUE INDEX cost_entries_idempotency ON cost_entries (idempotency_key);
    CREATE TABLE usage_files (
        path TEXT PRIMARY KEY,
        dev BIGINT NOT NULL,
        ino BIGINT NOT NULL,
        offset_bytes BIGINT NOT NULL,
        head BIGINT NOT NULL,
        head_len BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );",
    ),
    (6, "ALTER TABLE tasks ADD COLUMN result TEXT;"),
    (
        7,
        "CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        stopped_at BIGINT
    );
    ALTER TABLE tasks ADD COLUMN instance_id TEXT;
    CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    INSERT INTO counters (name, value) VALUES ('task_seq', 0);
    CREATE TABLE relayed_events (
        id TEXT PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX relayed_events_at ON relayed_events (at_ms);",
    ),
    (
        8,
        "CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        sha256 TEXT NOT NULL
    );
    CREATE TABLE ws_tickets (
        sha256 TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX ws_tickets_expires ON ws_tickets (expires_at);",
    ),
    (
        9,
        "CREATE TABLE metric_buckets_by_instance (
        instance TEXT NOT NULL,
        metric TEXT NOT NULL,
        step_secs BIGINT NOT NULL,
        start BIGINT NOT NULL,
        min_value DOUBLE PRECISION NOT NULL,
        max_value DOUBLE PRECISION NOT NULL,
        sum_value DOUBLE PRECISION NOT NULL,
        sample_count BIGINT NOT NULL,
        PRIMARY KEY (instance, metric, step_secs, start)
    );
    INSERT INTO metric_buckets_by_instance
        SELECT '', metric, step_secs, start, min_value, max_value, sum_value, sample_count
        FROM metric_buckets;
    DROP TABLE metric_buckets;
    ALTER TABLE metric_buckets_by_instance RENAME TO metric_buckets;",
    ),
];

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
