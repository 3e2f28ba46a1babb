//! The SQLite store.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use jarvis_core::{
    ExecutionStatus, Priority, Task, TaskError, TaskKind, TaskStatus, WorkflowExecution,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::TicketRow;
use crate::migrations::{MIGRATIONS, now_ms};
use crate::{
    ApiKeyRow, CostFilter, CostRow, Error, InstanceRecord, MetricBucket, OrphanedTask, Result,
    RunnerProcess, Store, TaskFilter, UsageFileCursor,
};

/// A SQLite database file.
///
/// Writes go through one connection; reads (tasks, executions, counts) through a second,
/// read-only one, so that in WAL mode a task read never waits behind a metric flush. Without
/// WAL (a file system that refuses it) both go through the writer.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    reader: Option<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, checks it, and applies migrations.
    pub fn open(path: impl Into<PathBuf>) -> Result<SqliteStore> {
        let path = path.into();
        let unavailable = |reason: String| Error::Unavailable {
            path: path.clone(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create its folder: {e}")))?;
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| unavailable(e.to_string()))?;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.clone(),
            reason,
        };
        // A file that is not a database fails on its first read.
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| corrupt(e.to_string()))?;
        if check != "ok" {
            return Err(corrupt(check));
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| unavailable(e.to_string()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "the database could not switch to WAL mode");
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .map_err(|e| unavailable(e.to_string()))?;
        migrate(&conn).map_err(|e| unavailable(format!("migrations failed: {e}")))?;
        let reader = if mode.eq_ignore_ascii_case("wal") {
            let reader = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .and_then(|reader| {
                reader.execute_batch("PRAGMA busy_timeout = 5000;")?;
                Ok(reader)
            })
            .map_err(|e| unavailable(format!("cannot open a reader: {e}")))?;
            Some(Mutex::new(reader))
        } else {
            None
        };
        Ok(SqliteStore {
            path,
            conn: Mutex::new(conn),
            reader,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer.
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reader, or the writer when there is none.
    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader
            .as_ref()
            .unwrap_or(&self.conn)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done: Option<i64> = conn
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_some() {
            continue;
        }
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, now_ms()],
        )?;
        tx.commit()?;
        tracing::info!(version, "database migration applied");
    }
    Ok(())
}

fn query_error(e: rusqlite::Error) -> Error {
    Error::Query(e.to_string())
}

const COLUMNS: &str = "id, seq, kind, target, resource_id, input, priority, status, created_at, started_at, finished_at, exit_code, error_code, error_message, stdout, stderr, output_truncated, usage, cost_usd, submitted_by, result";

fn decode(row: &Row<'_>) -> rusqlite::Result<std::result::Result<Task, String>> {
    let text = |i: usize| row.get::<_, String>(i);
    let kind = text(2)?;
    let priority = text(6)?;
    let status = text(7)?;
    let input = text(5)?;
    let usage: Option<String> = row.get(17)?;
    let result: Option<String> = row.get(20)?;
    let error_code: Option<String> = row.get(12)?;
    let error_message: Option<String> = row.get(13)?;
    let parsed = (|| -> std::result::Result<Task, String> {
        let error = match (error_code, error_message) {
            (Some(code), message) => Some(TaskError {
                code: serde_json::from_value(serde_json::Value::String(code.clone()))
                    .map_err(|_| format!("unknown error code `{code}`"))?,
                message: message.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Task {
            id: row.get(0).map_err(|e| e.to_string())?,
            seq: row.get(1).map_err(|e| e.to_string())?,
            kind: kind.parse::<TaskKind>()?,
            target: row.get(3).map_err(|e| e.to_string())?,
            resource_id: row.get(4).map_err(|e| e.to_string())?,
            input: serde_json::from_str(&input).map_err(|e| e.to_string())?,
            priority: priority.parse::<Priority>()?,
            status: status.parse::<TaskStatus>()?,
            created_at: row.get(8).map_err(|e| e.to_string())?,
            started_at: row.get(9).map_err(|e| e.to_string())?,
            finished_at: row.get(10).map_err(|e| e.to_string())?,
            exit_code: row.get(11).map_err(|e| e.to_string())?,
            error,
            stdout: row.get(14).map_err(|e| e.to_string())?,
            stderr: row.get(15).map_err(|e| e.to_string())?,
            output_truncated: row.get(16).map_err(|e| e.to_string())?,
            usage: usage
                .map(|u| serde_json::from_str(&u))
                .transpose()
                .map_err(|e| e.to_string())?,
            cost_usd: row.get(18).map_err(|e| e.to_string())?,
            submitted_by: row.get(19).map_err(|e| e.to_string())?,
            result: result
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(|e| e.to_string())?,
        })
    })();
    Ok(parsed)
}

/// Reads decoded rows, stopping at the first that fails.
/// A row decoder: a database error, or a row whose content does not decode (the message).
type Decoder<T> = fn(&Row<'_>) -> rusqlite::Result<std::result::Result<T, String>>;

fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<std::result::Result<T, String>>>,
) -> Result<Vec<T>> {
    rows.map(|row| row.map_err(query_error)?.map_err(Error::Decode))
        .collect()
}

/// The one row `sql` answers with `params`, if any.
fn one_with<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: Decoder<T>,
) -> Result<Option<T>> {
    conn.query_row(sql, params, decode)
        .optional()
        .map_err(query_error)?
        .map(|r| r.map_err(Error::Decode))
        .transpose()
}

/// A running task whose instance is gone: its id, runner pid and start, and that instance's host.
type Orphan = (String, Option<i64>, Option<i64>, Option<String>);

/// Scopes as stored: names joined by commas.
pub(crate) fn split_scopes(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A runner as recorded, when both halves are there and in range.
fn runner_of(pid: Option<i64>, start: Option<i64>) -> Option<RunnerProcess> {
    Some(RunnerProcess {
        pid: u32::try_from(pid?).ok()?,
        start_ticks: u64::try_from(start?).ok()?,
    })
}

/// The one row `sql` selects with `id` as its parameter, if any.
fn one<T>(conn: &Connection, sql: &str, id: &str, decode: Decoder<T>) -> Result<Option<T>> {
    conn.query_row(sql, [id], decode)
        .optional()
        .map_err(query_error)?
        .map(|r| r.map_err(Error::Decode))
        .transpose()
}

fn error_code_name(error: &Option<TaskError>) -> Option<&'static str> {
    error.as_ref().map(|e| e.code.name())
}

const EXECUTION_COLUMNS: &str = "id, workflow_id, workflow_name, correlation_id, n8n_execution_id, status, reply, started_at, finished_at, error, submitted_by";

fn decode_execution(
    row: &Row<'_>,
) -> rusqlite::Result<std::result::Result<WorkflowExecution, String>> {
    let status: String = row.get(5)?;
    let reply: Option<String> = row.get(6)?;
    Ok((|| -> std::result::Result<WorkflowExecution, String> {
        Ok(WorkflowExecution {
            id: row.get(0).map_err(|e| e.to_string())?,
            workflow_id: row.get(1).map_err(|e| e.to_string())?,
            workflow_name: row.get(2).map_err(|e| e.to_string())?,
            correlation_id: row.get(3).map_err(|e| e.to_string())?,
            n8n_execution_id: row.get(4).map_err(|e| e.to_string())?,
            status: status.parse::<ExecutionStatus>()?,
            reply: reply
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(|e| e.to_string())?,
            started_at: row.get(7).map_err(|e| e.to_string())?,
            finished_at: row.get(8).map_err(|e| e.to_string())?,
            error: row.get(9).map_err(|e| e.to_string())?,
            submitted_by: row.get(10).map_err(|e| e.to_string())?,
        })
    })())
}

const COST_COLUMNS: &str = "id, at_ms, source, model, input_tokens, output_tokens, cache_write_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, reported_nanos, computed, unpriced, fast, sidechain, project, session, agent, category, tags, description, message_id, request_id, idempotency_key, recorded_by, recorded_at";

/// Every column but the id, from the row being written (an upsert that fails, rather than
/// deletes, on another unique key).
const COST_UPDATES: &str = "at_ms = excluded.at_ms, source = excluded.source, model = excluded.model, input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, cache_write_tokens = excluded.cache_write_tokens, cache_write_5m_tokens = excluded.cache_write_5m_tokens, cache_write_1h_tokens = excluded.cache_write_1h_tokens, cache_read_tokens = excluded.cache_read_tokens, cost_nanos = excluded.cost_nanos, reported_nanos = excluded.reported_nanos, computed = excluded.computed, unpriced = excluded.unpriced, fast = excluded.fast, sidechain = excluded.sidechain, project = excluded.project, session = excluded.session, agent = excluded.agent, category = excluded.category, tags = excluded.tags, description = excluded.description, message_id = excluded.message_id, request_id = excluded.request_id, idempotency_key = excluded.idempotency_key, recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at";

fn decode_cost(row: &Row<'_>) -> rusqlite::Result<std::result::Result<CostRow, String>> {
    let tags: String = row.get(20)?;
    let tags = match serde_json::from_str(&tags) {
        Ok(tags) => tags,
        Err(e) => return Ok(Err(format!("cost entry tags: {e}"))),
    };
    Ok(Ok(CostRow {
        id: row.get(0)?,
        at_ms: row.get(1)?,
        source: row.get(2)?,
        model: row.get(3)?,
        input_tokens: row.get(4)?,
        output_tokens: row.get(5)?,
        cache_write_tokens: row.get(6)?,
        cache_write_5m_tokens: row.get(7)?,
        cache_write_1h_tokens: row.get(8)?,
        cache_read_tokens: row.get(9)?,
        cost_nanos: row.get(10)?,
        reported_nanos: row.get(11)?,
        computed: row.get(12)?,
        unpriced: row.get(13)?,
        fast: row.get(14)?,
        sidechain: row.get(15)?,
        project: row.get(16)?,
        session: row.get(17)?,
        agent: row.get(18)?,
        category: row.get(19)?,
        tags,
        description: row.get(21)?,
        message_id: row.get(22)?,
        request_id: row.get(23)?,
        idempotency_key: row.get(24)?,
        recorded_by: row.get(25)?,
        recorded_at: row.get(26)?,
    }))
}

/// A `u64` kept in a `BIGINT` by its bits.
fn bits(value: u64) -> i64 {
    i64::from_ne_bytes(value.to_ne_bytes())
}

fn unbits(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

impl Store for SqliteStore {
    fn save_costs(
        &self,
        rows: &[CostRow],
        cursors: &[(String, UsageFileCursor)],
        forgotten: &[String],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query_error)?;
        {
            let mut upsert = tx
                .prepare_cached(&format!(
                    "INSERT INTO cost_entries ({COST_COLUMNS}) VALUES
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                      ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)
                     ON CONFLICT (id) DO UPDATE SET {COST_UPDATES}"
                ))
                .map_err(query_error)?;
            for r in rows {
                let tags =
                    serde_json::to_string(&r.tags).map_err(|e| Error::Query(e.to_string()))?;
                upsert
                    .execute(params![
                        r.id,
                        r.at_ms,
                        r.source,
                        r.model,
                        r.input_tokens,
                        r.output_tokens,
                        r.cache_write_tokens,
                        r.cache_write_5m_tokens,
                        r.cache_write_1h_tokens,
                        r.cache_read_tokens,
                        r.cost_nanos,
                        r.reported_nanos,
                        r.computed,
                        r.unpriced,
                        r.fast,
                        r.sidechain,
                        r.project,
                        r.session,
                        r.agent,
                        r.category,
                        tags,
                        r.description,
                        r.message_id,
                        r.request_id,
                        r.idempotency_key,
                        r.recorded_by,
                        r.recorded_at
                    ])
                    .map_err(query_error)?;
            }
            let mut cursor = tx
                .prepare_cached(
                    "INSERT INTO usage_files (path, dev, ino, offset_bytes, head, head_len, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino,
                       offset_bytes = excluded.offset_bytes, head = excluded.head,
                       head_len = excluded.head_len, updated_at = excluded.updated_at",
                )
                .map_err(query_error)?;
            let now = now_ms();
            for (path, c) in cursors {
                cursor
                    .execute(params![
                        path,
                        bits(c.dev),
                        bits(c.ino),
                        bits(c.offset),
                        bits(c.head),
                        i64::from(c.head_len),
                        now
                    ])
                    .map_err(query_error)?;
            }
            let mut forget = tx
                .prepare_cached("DELETE FROM usage_files WHERE path = ?1")
                .map_err(query_error)?;
            for path in forgotten {
                forget.execute([path]).map_err(query_error)?;
            }
        }
        tx.commit().map_err(query_error)
    }

    fn load_costs(&self, visit: &mut dyn FnMut(CostRow) -> Result<()>) -> Result<()> {
        let conn = self.read();
        let mut select = conn
            .prepare(&format!(
                "SELECT {COST_COLUMNS} FROM cost_entries ORDER BY at_ms, id"
            ))
            .map_err(query_error)?;
        let rows = select.query_map([], decode_cost).map_err(query_error)?;
        for row in rows {
            visit(row.map_err(query_error)?.map_err(Error::Decode)?)?;
        }
        Ok(())
    }

    fn load_usage_cursors(&self) -> Result<Vec<(String, UsageFileCursor)>> {
        let conn = self.read();
        let mut select = conn
            .prepare("SELECT path, dev, ino, offset_bytes, head, head_len FROM usage_files ORDER BY path")
            .map_err(query_error)?;
        let rows = select
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    UsageFileCursor {
                        dev: unbits(row.get(1)?),
                        ino: unbits(row.get(2)?),
                        offset: unbits(row.get(3)?),
                        head: unbits(row.get(4)?),
                        head_len: u32::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
                    },
                ))
            })
            .map_err(query_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(query_error)
    }

    fn list_costs(&self, filter: &CostFilter) -> Result<Vec<CostRow>> {
        let conn = self.read();
        let (before_at, before_id) = filter
            .before
            .clone()
            .map_or((None, None), |(at, id)| (Some(at), Some(id)));
        let mut select = conn
            .prepare_cached(&format!(
                "SELECT {COST_COLUMNS} FROM cost_entries
                 WHERE (?1 IS NULL OR at_ms >= ?1) AND (?2 IS NULL OR at_ms < ?2)
                   AND (?3 IS NULL OR source = ?3)
                   AND (?4 IS NULL OR at_ms < ?4 OR (at_ms = ?4 AND id < ?5))
                 ORDER BY at_ms DESC, id DESC LIMIT ?6"
            ))
            .map_err(query_error)?;
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = select
            .query_map(
                params![
                    filter.since_ms,
                    filter.until_ms,
                    filter.source,
                    before_at,
                    before_id,
                    limit
                ],
                decode_cost,
            )
            .map_err(query_error)?;
        collect(rows)
    }

    fn get_cost(&self, id: &str) -> Result<Option<CostRow>> {
        one(
            &self.read(),
            &format!("SELECT {COST_COLUMNS} FROM cost_entries WHERE id = ?1"),
            id,
            decode_cost,
        )
    }

    fn save_metric_buckets(&self, buckets: &[MetricBucket]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query_error)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO metric_buckets (instance, metric, step_secs, start, min_value, max_value, sum_value, sample_count)
                     VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (instance, metric, step_secs, start) DO UPDATE SET
                     min_value = excluded.min_value, max_value = excluded.max_value,
                     sum_value = excluded.sum_value, sample_count = excluded.sample_count",
                )
                .map_err(query_error)?;
            for b in buckets {
                insert
                    .execute(params![
                        b.metric,
                        b.step_secs,
                        b.start,
                        b.min,
                        b.max,
                        b.sum,
                        b.count,
                        b.instance
                    ])
                    .map_err(query_error)?;
            }
        }
        tx.commit().map_err(query_error)
    }

    fn load_metric_buckets(&self) -> Result<Vec<MetricBucket>> {
        let conn = self.read();
        let mut select = conn
            .prepare(
                "SELECT metric, step_secs, start, min_value, max_value, sum_value, sample_count, instance
                 FROM metric_buckets ORDER BY start, instance, metric, step_secs",
            )
            .map_err(query_error)?;
        let rows = select
            .query_map([], |row| {
                Ok(MetricBucket {
                    metric: row.get(0)?,
                    step_secs: row.get(1)?,
                    start: row.get(2)?,
                    min: row.get(3)?,
                    max: row.get(4)?,
                    sum: row.get(5)?,
                    count: row.get(6)?,
                    instance: row.get(7)?,
                })
            })
            .map_err(query_error)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(query_error)
    }

    fn prune_metric_buckets(&self, step_secs: i64, before: i64) -> Result<usize> {
        self.conn()
            .execute(
                "DELETE FROM metric_buckets WHERE step_secs = ?1 AND start < ?2",
                params![step_secs, before],
            )
            .map_err(query_error)
    }

    fn insert_execution(&self, e: &WorkflowExecution) -> Result<()> {
        self.conn()
            .execute(
                &format!("INSERT INTO workflow_executions ({EXECUTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    e.id,
                    e.workflow_id,
                    e.workflow_name,
                    e.correlation_id,
                    e.n8n_execution_id,
                    e.status.as_str(),
                    e.reply.as_ref().map(ToString::to_string),
                    e.started_at,
                    e.finished_at,
                    e.error,
                    e.submitted_by,
                ],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn update_execution(&self, e: &WorkflowExecution) -> Result<()> {
        let changed = self
            .conn()
            .execute(
                "UPDATE workflow_executions SET n8n_execution_id = ?2, status = ?3, reply = ?4, finished_at = ?5, error = ?6 WHERE id = ?1",
                params![
                    e.id,
                    e.n8n_execution_id,
                    e.status.as_str(),
                    e.reply.as_ref().map(ToString::to_string),
                    e.finished_at,
                    e.error,
                ],
            )
            .map_err(query_error)?;
        if changed == 0 {
            return Err(Error::Query(format!("no execution `{}` to update", e.id)));
        }
        Ok(())
    }

    fn get_execution(&self, id: &str) -> Result<Option<WorkflowExecution>> {
        one(
            &self.read(),
            &format!("SELECT {EXECUTION_COLUMNS} FROM workflow_executions WHERE id = ?1"),
            id,
            decode_execution,
        )
    }

    fn list_executions(
        &self,
        in_flight: Option<bool>,
        status: Option<ExecutionStatus>,
        limit: usize,
    ) -> Result<Vec<WorkflowExecution>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {EXECUTION_COLUMNS} FROM workflow_executions
                 WHERE (?1 IS NULL OR status = ?1)
                   AND (?2 IS NULL OR (?2 = 1 AND status IN ('triggered', 'running', 'waiting')) OR (?2 = 0 AND status NOT IN ('triggered', 'running', 'waiting')))
                 ORDER BY started_at DESC, id DESC LIMIT ?3"
            ))
            .map_err(query_error)?;
        let rows = stmt
            .query_map(
                params![
                    status.map(ExecutionStatus::as_str),
                    in_flight,
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                decode_execution,
            )
            .map_err(query_error)?;
        collect(rows)
    }

    fn set_task_runner(&self, id: &str, runner: Option<RunnerProcess>) -> Result<()> {
        let changed = self
            .conn()
            .execute(
                "UPDATE tasks SET runner_pid = ?2, runner_start = ?3 WHERE id = ?1",
                params![
                    id,
                    runner.map(|r| i64::from(r.pid)),
                    runner.map(|r| i64::try_from(r.start_ticks).unwrap_or(i64::MAX)),
                ],
            )
            .map_err(query_error)?;
        if changed == 0 {
            return Err(Error::Query(format!("no task `{id}` to update")));
        }
        Ok(())
    }

    fn running_task_runners(&self) -> Result<Vec<(String, RunnerProcess)>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT id, runner_pid, runner_start FROM tasks
                 WHERE status = 'running' AND runner_pid IS NOT NULL AND runner_start IS NOT NULL
                 ORDER BY seq",
            )
            .map_err(query_error)?;
        let rows = stmt
            .query_map([], |row| {
                let id: String = row.get(0)?;
                let pid: i64 = row.get(1)?;
                let start: i64 = row.get(2)?;
                Ok(match (u32::try_from(pid), u64::try_from(start)) {
                    (Ok(pid), Ok(start_ticks)) => Ok((id, RunnerProcess { pid, start_ticks })),
                    _ => Err(format!(
                        "task `{id}` records runner pid {pid} started at {start}"
                    )),
                })
            })
            .map_err(query_error)?;
        collect(rows)
    }

    fn insert_task(&self, t: &Task) -> Result<()> {
        self.conn()
            .execute(
                &format!("INSERT INTO tasks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"),
                params![
                    t.id,
                    t.seq,
                    t.kind.as_str(),
                    t.target,
                    t.resource_id,
                    t.input.to_string(),
                    t.priority.as_str(),
                    t.status.as_str(),
                    t.created_at,
                    t.started_at,
                    t.finished_at,
                    t.exit_code,
                    error_code_name(&t.error),
                    t.error.as_ref().map(|e| e.message.as_str()),
                    t.stdout,
                    t.stderr,
                    t.output_truncated,
                    t.usage.as_ref().map(ToString::to_string),
                    t.cost_usd,
                    t.submitted_by,
                    t.result.as_ref().map(ToString::to_string),
                ],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn update_task(&self, t: &Task) -> Result<()> {
        let changed = self
            .conn()
            .execute(
                "UPDATE tasks SET status = ?2, started_at = ?3, finished_at = ?4, exit_code = ?5, error_code = ?6, error_message = ?7, stdout = ?8, stderr = ?9, output_truncated = ?10, usage = ?11, cost_usd = ?12, result = ?13 WHERE id = ?1",
                params![
                    t.id,
                    t.status.as_str(),
                    t.started_at,
                    t.finished_at,
                    t.exit_code,
                    error_code_name(&t.error),
                    t.error.as_ref().map(|e| e.message.as_str()),
                    t.stdout,
                    t.stderr,
                    t.output_truncated,
                    t.usage.as_ref().map(ToString::to_string),
                    t.cost_usd,
                    t.result.as_ref().map(ToString::to_string),
                ],
            )
            .map_err(query_error)?;
        if changed == 0 {
            return Err(Error::Query(format!("no task `{}` to update", t.id)));
        }
        Ok(())
    }

    fn get_task(&self, id: &str) -> Result<Option<Task>> {
        one(
            &self.read(),
            &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
            id,
            decode,
        )
    }

    fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR seq < ?3) ORDER BY seq DESC LIMIT ?4"
            ))
            .map_err(query_error)?;
        let rows = stmt
            .query_map(
                params![
                    filter.status.map(TaskStatus::as_str),
                    filter.kind.map(TaskKind::as_str),
                    filter.before_seq,
                    i64::try_from(filter.limit).unwrap_or(i64::MAX),
                ],
                decode,
            )
            .map_err(query_error)?;
        collect(rows)
    }

    fn unfinished_tasks(&self) -> Result<Vec<Task>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE status IN ('queued', 'running') ORDER BY seq ASC"
            ))
            .map_err(query_error)?;
        let rows = stmt.query_map([], decode).map_err(query_error)?;
        collect(rows)
    }

    fn count_tasks_by_status(&self) -> Result<Vec<(TaskStatus, u64)>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare("SELECT status, COUNT(*) FROM tasks GROUP BY status ORDER BY status")
            .map_err(query_error)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(query_error)?;
        let mut counts = Vec::new();
        for row in rows {
            let (status, count) = row.map_err(query_error)?;
            match status.parse::<TaskStatus>() {
                Ok(status) => counts.push((status, u64::try_from(count).unwrap_or(0))),
                Err(_) => {
                    tracing::warn!(%status, count, "tasks with an unknown status are left out of the counts")
                }
            }
        }
        Ok(counts)
    }

    fn next_seq(&self) -> Result<i64> {
        self.conn()
            .query_row(
                "UPDATE counters SET value = max(value, (SELECT COALESCE(MAX(seq), 0) FROM tasks)) + 1
                 WHERE name = 'task_seq' RETURNING value",
                [],
                |r| r.get(0),
            )
            .map_err(query_error)
    }

    fn claim_task(&self, id: &str, instance: &str, started_at: i64) -> Result<Option<Task>> {
        one_with(
            &self.conn(),
            &format!(
                "UPDATE tasks SET status = 'running', started_at = ?3, instance_id = ?2
                 WHERE id = ?1 AND status = 'queued' RETURNING {COLUMNS}"
            ),
            params![id, instance, started_at],
            decode,
        )
    }

    fn cancel_queued_task(&self, id: &str, finished_at: i64) -> Result<Option<Task>> {
        one_with(
            &self.conn(),
            &format!(
                "UPDATE tasks SET status = 'canceled', finished_at = ?2
                 WHERE id = ?1 AND status = 'queued' RETURNING {COLUMNS}"
            ),
            params![id, finished_at],
            decode,
        )
    }

    fn finish_task(&self, t: &Task, instance: &str) -> Result<bool> {
        let changed = self
            .conn()
            .execute(
                "UPDATE tasks SET status = ?2, started_at = ?3, finished_at = ?4, exit_code = ?5, error_code = ?6, error_message = ?7, stdout = ?8, stderr = ?9, output_truncated = ?10, usage = ?11, cost_usd = ?12, result = ?13, runner_pid = NULL, runner_start = NULL
                 WHERE id = ?1 AND status = 'running' AND instance_id = ?14",
                params![
                    t.id,
                    t.status.as_str(),
                    t.started_at,
                    t.finished_at,
                    t.exit_code,
                    error_code_name(&t.error),
                    t.error.as_ref().map(|e| e.message.as_str()),
                    t.stdout,
                    t.stderr,
                    t.output_truncated,
                    t.usage.as_ref().map(ToString::to_string),
                    t.cost_usd,
                    t.result.as_ref().map(ToString::to_string),
                    instance,
                ],
            )
            .map_err(query_error)?;
        Ok(changed == 1)
    }

    fn interrupt_orphaned_tasks(
        &self,
        me: &str,
        dead_after_ms: Option<i64>,
        error: &TaskError,
        finished_at: i64,
    ) -> Result<Vec<OrphanedTask>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query_error)?;
        // An instance is gone when it stopped, fell silent, or (one instance to a store) is
        // not this one.
        let silent_before = dead_after_ms.map_or(i64::MAX, |d| now_ms().saturating_sub(d));
        tx.execute(
            "UPDATE instances SET stopped_at = ?3
             WHERE id <> ?1 AND stopped_at IS NULL AND heartbeat_at < ?2",
            params![me, silent_before, finished_at],
        )
        .map_err(query_error)?;
        let orphans: Vec<Orphan> = {
            let mut stmt = tx
                .prepare(
                    "SELECT t.id, t.runner_pid, t.runner_start, i.host FROM tasks t
                     LEFT JOIN instances i ON i.id = t.instance_id
                     WHERE t.status = 'running'
                       AND (t.instance_id IS NULL OR i.id IS NULL OR i.stopped_at IS NOT NULL)
                       AND (t.instance_id IS NULL OR t.instance_id <> ?1)
                     ORDER BY t.seq",
                )
                .map_err(query_error)?;
            stmt.query_map([me], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(query_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(query_error)?
        };
        let mut interrupted = Vec::new();
        for (id, pid, start, host) in orphans {
            let task = one_with(
                &tx,
                &format!(
                    "UPDATE tasks SET status = 'interrupted', finished_at = ?2, error_code = ?3,
                       error_message = ?4, runner_pid = NULL, runner_start = NULL
                     WHERE id = ?1 AND status = 'running' RETURNING {COLUMNS}"
                ),
                params![id, finished_at, error.code.name(), error.message],
                decode,
            )?;
            if let Some(task) = task {
                interrupted.push(OrphanedTask {
                    task,
                    runner: runner_of(pid, start),
                    host,
                });
            }
        }
        tx.commit().map_err(query_error)?;
        Ok(interrupted)
    }

    fn register_instance(&self, i: &InstanceRecord) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO instances (id, name, host, pid, started_at, heartbeat_at, stopped_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
                params![
                    i.id,
                    i.name,
                    i.host,
                    i64::from(i.pid),
                    i.started_at,
                    now_ms()
                ],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn heartbeat(&self, id: &str) -> Result<bool> {
        let conn = self.conn();
        let stopped: Option<Option<i64>> = conn
            .query_row(
                "SELECT stopped_at FROM instances WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(query_error)?;
        let Some(stopped) = stopped else {
            return Err(Error::Query(format!("no instance `{id}` to mark alive")));
        };
        conn.execute(
            "UPDATE instances SET heartbeat_at = ?2, stopped_at = NULL WHERE id = ?1",
            params![id, now_ms()],
        )
        .map_err(query_error)?;
        Ok(stopped.is_none())
    }

    fn stop_instance(&self, id: &str, at_ms: i64) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE instances SET stopped_at = ?2 WHERE id = ?1",
                params![id, at_ms],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn load_api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, scopes, created_at, sha256 FROM api_keys ORDER BY created_at, id",
            )
            .map_err(query_error)?;
        let rows = stmt
            .query_map([], |r| {
                let scopes: String = r.get(2)?;
                Ok(Ok(ApiKeyRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    scopes: split_scopes(&scopes),
                    created_at: r.get(3)?,
                    sha256: r.get(4)?,
                }))
            })
            .map_err(query_error)?;
        collect(rows)
    }

    fn insert_api_key(&self, key: &ApiKeyRow) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO api_keys (id, name, scopes, created_at, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.id, key.name, key.scopes.join(","), key.created_at, key.sha256],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn delete_api_key(&self, id: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM api_keys WHERE id = ?1", [id])
            .map_err(query_error)?;
        Ok(n > 0)
    }

    fn insert_ticket(&self, ticket: &TicketRow, now_ms: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query_error)?;
        tx.execute("DELETE FROM ws_tickets WHERE expires_at < ?1", [now_ms])
            .map_err(query_error)?;
        tx.execute(
            "INSERT INTO ws_tickets (sha256, principal, expires_at) VALUES (?1, ?2, ?3)",
            params![ticket.sha256, ticket.principal, ticket.expires_at],
        )
        .map_err(query_error)?;
        tx.commit().map_err(query_error)
    }

    fn take_ticket(&self, sha256: &str) -> Result<Option<TicketRow>> {
        self.conn()
            .query_row(
                "DELETE FROM ws_tickets WHERE sha256 = ?1 RETURNING sha256, principal, expires_at",
                [sha256],
                |r| {
                    Ok(TicketRow {
                        sha256: r.get(0)?,
                        principal: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(query_error)
    }

    fn list_instances(&self, limit: usize) -> Result<Vec<InstanceRecord>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, host, pid, started_at, heartbeat_at, stopped_at FROM instances
                 ORDER BY started_at DESC, id DESC LIMIT ?1",
            )
            .map_err(query_error)?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(Ok(InstanceRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    host: r.get(2)?,
                    pid: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    started_at: r.get(4)?,
                    heartbeat_at: r.get(5)?,
                    stopped_at: r.get(6)?,
                }))
            })
            .map_err(query_error)?;
        collect(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, seq: i64, status: TaskStatus) -> Task {
        Task {
            id: id.into(),
            kind: TaskKind::Command,
            target: "tools:lint".into(),
            resource_id: "command_1".into(),
            input: serde_json::json!({ "arguments": "src/ \"a b\"" }),
            priority: Priority::High,
            status,
            seq,
            created_at: 1,
            started_at: None,
            finished_at: None,
            exit_code: None,
            error: None,
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            usage: None,
            cost_usd: None,
            submitted_by: "anonymous".into(),
            result: None,
        }
    }

    #[test]
    fn reads_do_not_wait_behind_the_writer_and_see_its_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SqliteStore::open(dir.path().join("jarvis.db")).unwrap());
        assert!(store.reader.is_some(), "WAL is on, so there is a reader");
        store
            .insert_task(&task("a", 1, TaskStatus::Queued))
            .unwrap();
        // Hold the writer as a long metric flush would, and read from another thread.
        let writer = store.conn();
        let (done, finished) = std::sync::mpsc::channel();
        let reading = std::sync::Arc::clone(&store);
        std::thread::spawn(move || {
            let found = reading.get_task("a").map(|t| t.map(|t| t.id));
            let counted = reading.count_tasks_by_status().map(|c| c.len());
            let _ = done.send((found, counted));
        });
        let (found, counted) = finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a read waited behind the writer");
        drop(writer);
        assert_eq!(found.unwrap().as_deref(), Some("a"));
        assert_eq!(counted.unwrap(), 1);
        // A commit is seen by the next read.
        let mut t = task("a", 1, TaskStatus::Running);
        t.started_at = Some(5);
        store.update_task(&t).unwrap();
        assert_eq!(
            store.get_task("a").unwrap().unwrap().status,
            TaskStatus::Running
        );
    }

    #[test]
    fn a_corrupt_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jarvis.db");
        std::fs::write(&path, b"this is not a database, but it is someone's file").unwrap();
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("jarvis.db"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"this is not a database, but it is someone's file"
        );
    }

    #[test]
    fn an_unwritable_location_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = SqliteStore::open(blocker.join("jarvis.db")).unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    }
}
