//! The PostgreSQL store: the same tables and migrations as SQLite, for several instances that
//! share one database. Blocking, like the trait: the synchronous `postgres` client (tokio-postgres
//! with a runtime of its own) over a small pool.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use jarvis_core::{
    ExecutionStatus, Priority, Task, TaskError, TaskKind, TaskStatus, WorkflowExecution,
};
use postgres::{Client, NoTls, Row};

use crate::{
    ApiKeyRow, CostFilter, CostRow, Error, InstanceRecord, Listener, MetricBucket, Notification,
    NotificationSink, OrphanedTask, Result, RunnerProcess, Store, TaskFilter, TicketRow,
    UsageFileCursor,
};

/// Now, in Unix milliseconds by the database's clock: heartbeats and the silence that makes an
/// instance dead are measured by one clock, whatever the instances' clocks say.
const DB_NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// The advisory lock key under which migrations run, so instances starting together apply each
/// one once.
const MIGRATION_LOCK: i64 = 0x4A41_5256_4953;

/// A pool of connections to one database.
pub struct PostgresStore {
    config: postgres::Config,
    /// Where, for messages: the URL without its password.
    shown: String,
    idle: Mutex<(Vec<Client>, usize)>,
    freed: Condvar,
    max: usize,
    /// Large payloads relayed, to prune their table now and then.
    large: AtomicU64,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.shown)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// A connection taken from the pool; back to it when dropped, unless it broke.
struct Pooled<'a> {
    store: &'a PostgresStore,
    client: Option<Client>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("held until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut pool = self
            .store
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match self.client.take() {
            Some(client) if !client.is_closed() => pool.0.push(client),
            _ => pool.1 -= 1,
        }
        drop(pool);
        self.store.freed.notify_one();
    }
}

impl Drop for PostgresStore {
    /// Closes the idle connections on a thread of their own: closing one blocks on the small
    /// runtime that drives it, which tokio forbids on a thread already running a runtime — and
    /// the last handle to the store may well be dropped on one.
    fn drop(&mut self) {
        let idle = std::mem::take(
            &mut self
                .idle
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .0,
        );
        if idle.is_empty() {
            return;
        }
        let closing = std::thread::Builder::new()
            .name("jarvis-pg-close".into())
            .spawn(move || drop(idle));
        match closing {
            Ok(thread) => {
                let _ = thread.join();
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a thread to close the database connections");
            }
        }
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`), applies migrations, and
    /// keeps up to `max` connections.
    pub fn open(url: &str, max: usize) -> Result<PostgresStore> {
        let shown = crate::config::hide_password(url);
        let unavailable = |reason: String| Error::Unavailable {
            path: shown.clone().into(),
            reason,
        };
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| unavailable(e.to_string()))?;
        config.connect_timeout(Duration::from_secs(10));
        config.application_name("jarvis");
        let store = PostgresStore {
            config,
            shown: shown.clone(),
            idle: Mutex::new((Vec::new(), 0)),
            freed: Condvar::new(),
            max: max.max(1),
            large: AtomicU64::new(0),
        };
        {
            let mut client = store.client()?;
            migrate(&mut client).map_err(|e| unavailable(format!("migrations failed: {e}")))?;
        }
        Ok(store)
    }

    fn client(&self) -> Result<Pooled<'_>> {
        let mut pool = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(client) = pool.0.pop() {
                if client.is_closed() {
                    pool.1 -= 1;
                    continue;
                }
                return Ok(Pooled {
                    store: self,
                    client: Some(client),
                });
            }
            if pool.1 < self.max {
                pool.1 += 1;
                drop(pool);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Pooled {
                        store: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        let mut pool = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                        pool.1 -= 1;
                        Err(Error::Unavailable {
                            path: self.shown.clone().into(),
                            reason: e.to_string(),
                        })
                    }
                };
            }
            let (next, timeout) = self
                .freed
                .wait_timeout(pool, Duration::from_secs(30))
                .unwrap_or_else(PoisonError::into_inner);
            pool = next;
            if timeout.timed_out() && pool.0.is_empty() && pool.1 >= self.max {
                return Err(Error::Query(
                    "no database connection came free within 30 s".into(),
                ));
            }
        }
    }
}

/// The largest payload sent in the notification itself; larger ones go through
/// `relayed_events` (PostgreSQL's limit is 8,000 bytes, and the marker takes one).
const INLINE_PAYLOAD: usize = 7_900;

/// How long a large payload is kept for listeners to fetch.
const RELAYED_KEPT_MS: i64 = 10 * 60 * 1000;

/// A listening thread; stopped (within a quarter of a second) and joined when dropped.
struct PgListener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for PgListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgListener").finish_non_exhaustive()
    }
}

impl Listener for PgListener {}

impl Drop for PgListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct ListenLoop {
    config: postgres::Config,
    shown: String,
    channels: Vec<String>,
    sink: NotificationSink,
    stop: Arc<AtomicBool>,
}

impl ListenLoop {
    fn run(self, ready: &std::sync::mpsc::Sender<Result<()>>) {
        let mut first = true;
        let mut backoff = Duration::from_millis(250);
        while !self.stop.load(Ordering::Relaxed) {
            let connected = self.config.connect(NoTls).and_then(|mut client| {
                for channel in &self.channels {
                    client.batch_execute(&format!("LISTEN \"{channel}\""))?;
                }
                Ok(client)
            });
            let mut client = match connected {
                Ok(client) => client,
                Err(e) => {
                    if first {
                        let _ = ready.send(Err(Error::Unavailable {
                            path: self.shown.clone().into(),
                            reason: e.to_string(),
                        }));
                        return;
                    }
                    tracing::warn!(database = %self.shown, error = %e, retry_in_ms = backoff.as_millis(), "the event listener cannot reconnect");
                    // Asleep in short steps, so that a stop is not held up by the backoff.
                    let until = std::time::Instant::now() + backoff;
                    while !self.stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if first {
                first = false;
                let _ = ready.send(Ok(()));
            } else {
                tracing::warn!(database = %self.shown, "the event listener reconnected; events sent while it was away were not received");
            }
            backoff = Duration::from_millis(250);
            if let Err(e) = self.listen(&mut client) {
                tracing::warn!(database = %self.shown, error = %e, "the event listener lost its connection");
            }
        }
    }

    /// Hands notifications to the sink until stopped or the connection fails.
    fn listen(&self, client: &mut Client) -> std::result::Result<(), postgres::Error> {
        use postgres::fallible_iterator::FallibleIterator as _;
        while !self.stop.load(Ordering::Relaxed) {
            let mut batch = Vec::new();
            {
                // Waits up to 250 ms for one (so that a stop is seen), then takes only what has
                // already arrived: a notification is handed on at once, never held back
                // waiting for a quiet moment.
                let mut notifications = client.notifications();
                let first = notifications
                    .timeout_iter(Duration::from_millis(250))
                    .next()?;
                if let Some(n) = first {
                    batch.push((n.channel().to_owned(), n.payload().to_owned()));
                    let mut arrived = notifications.iter();
                    while batch.len() < 256 {
                        let Some(n) = arrived.next()? else { break };
                        batch.push((n.channel().to_owned(), n.payload().to_owned()));
                    }
                }
            }
            if client.is_closed() {
                return client.batch_execute("");
            }
            for (channel, payload) in batch {
                let payload = if let Some(inline) = payload.strip_prefix('=') {
                    inline.to_owned()
                } else if let Some(id) = payload.strip_prefix('@') {
                    match client
                        .query_opt("SELECT payload FROM relayed_events WHERE id = $1", &[&id])?
                    {
                        Some(row) => row.try_get(0)?,
                        None => {
                            tracing::warn!(%channel, event = id, "a relayed event was gone before it was read");
                            continue;
                        }
                    }
                } else {
                    tracing::warn!(%channel, "a notification not sent by Jarvis was ignored");
                    continue;
                };
                (self.sink)(Notification { channel, payload });
            }
        }
        Ok(())
    }
}

fn migrate(client: &mut Client) -> std::result::Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    for (version, sql) in crate::migrations::MIGRATIONS {
        let done = tx.query_opt(
            "SELECT version FROM schema_migrations WHERE version = $1",
            &[version],
        )?;
        if done.is_some() {
            continue;
        }
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &crate::migrations::now_ms()],
        )?;
        tracing::info!(version, "database migration applied");
    }
    tx.commit()
}

fn query_error(e: postgres::Error) -> Error {
    Error::Query(e.to_string())
}

const COLUMNS: &str = "id, seq, kind, target, resource_id, input, priority, status, created_at, started_at, finished_at, exit_code, error_code, error_message, stdout, stderr, output_truncated, usage, cost_usd, submitted_by, result";

fn decode(row: &Row) -> std::result::Result<Task, String> {
    let get = |i: usize| -> std::result::Result<String, String> {
        row.try_get(i).map_err(|e| e.to_string())
    };
    let error_code: Option<String> = row.try_get(12).map_err(|e| e.to_string())?;
    let error_message: Option<String> = row.try_get(13).map_err(|e| e.to_string())?;
    let error = match (error_code, error_message) {
        (Some(code), message) => Some(TaskError {
            code: serde_json::from_value(serde_json::Value::String(code.clone()))
                .map_err(|_| format!("unknown error code `{code}`"))?,
            message: message.unwrap_or_default(),
        }),
        _ => None,
    };
    let json = |i: usize| -> std::result::Result<Option<serde_json::Value>, String> {
        let text: Option<String> = row.try_get(i).map_err(|e| e.to_string())?;
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| e.to_string())
    };
    let e = |e: postgres::Error| e.to_string();
    Ok(Task {
        id: get(0)?,
        seq: row.try_get(1).map_err(e)?,
        kind: get(2)?.parse::<TaskKind>()?,
        target: get(3)?,
        resource_id: get(4)?,
        input: serde_json::from_str(&get(5)?).map_err(|e| e.to_string())?,
        priority: get(6)?.parse::<Priority>()?,
        status: get(7)?.parse::<TaskStatus>()?,
        created_at: row.try_get(8).map_err(e)?,
        started_at: row.try_get(9).map_err(e)?,
        finished_at: row.try_get(10).map_err(e)?,
        exit_code: row.try_get(11).map_err(e)?,
        error,
        stdout: get(14)?,
        stderr: get(15)?,
        output_truncated: row.try_get(16).map_err(e)?,
        usage: json(17)?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| e.to_string())?,
        cost_usd: row.try_get(18).map_err(e)?,
        submitted_by: get(19)?,
        result: json(20)?,
    })
}

fn collect<T>(
    rows: Vec<Row>,
    decode: fn(&Row) -> std::result::Result<T, String>,
) -> Result<Vec<T>> {
    rows.iter()
        .map(|r| decode(r).map_err(Error::Decode))
        .collect()
}

const EXECUTION_COLUMNS: &str = "id, workflow_id, workflow_name, correlation_id, n8n_execution_id, status, reply, started_at, finished_at, error, submitted_by";

fn decode_execution(row: &Row) -> std::result::Result<WorkflowExecution, String> {
    let e = |e: postgres::Error| e.to_string();
    let status: String = row.try_get(5).map_err(e)?;
    let reply: Option<String> = row.try_get(6).map_err(e)?;
    Ok(WorkflowExecution {
        id: row.try_get(0).map_err(e)?,
        workflow_id: row.try_get(1).map_err(e)?,
        workflow_name: row.try_get(2).map_err(e)?,
        correlation_id: row.try_get(3).map_err(e)?,
        n8n_execution_id: row.try_get(4).map_err(e)?,
        status: status.parse::<ExecutionStatus>()?,
        reply: reply
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| e.to_string())?,
        started_at: row.try_get(7).map_err(e)?,
        finished_at: row.try_get(8).map_err(e)?,
        error: row.try_get(9).map_err(e)?,
        submitted_by: row.try_get(10).map_err(e)?,
    })
}

const BUCKET_COLUMNS: &str =
    "metric, step_secs, start, min_value, max_value, sum_value, sample_count, instance";

fn decode_bucket(row: &Row) -> std::result::Result<MetricBucket, String> {
    let e = |e: postgres::Error| e.to_string();
    Ok(MetricBucket {
        metric: row.try_get(0).map_err(e)?,
        step_secs: row.try_get(1).map_err(e)?,
        start: row.try_get(2).map_err(e)?,
        min: row.try_get(3).map_err(e)?,
        max: row.try_get(4).map_err(e)?,
        sum: row.try_get(5).map_err(e)?,
        count: row.try_get(6).map_err(e)?,
        instance: row.try_get(7).map_err(e)?,
    })
}

fn bits(value: u64) -> i64 {
    i64::from_ne_bytes(value.to_ne_bytes())
}

fn unbits(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

const COST_COLUMNS: &str = "id, at_ms, source, model, input_tokens, output_tokens, cache_write_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, reported_nanos, computed, unpriced, fast, sidechain, project, session, agent, category, tags, description, message_id, request_id, idempotency_key, recorded_by, recorded_at";

fn decode_cost(row: &Row) -> std::result::Result<CostRow, String> {
    let e = |e: postgres::Error| e.to_string();
    let tags: String = row.try_get(20).map_err(e)?;
    Ok(CostRow {
        id: row.try_get(0).map_err(e)?,
        at_ms: row.try_get(1).map_err(e)?,
        source: row.try_get(2).map_err(e)?,
        model: row.try_get(3).map_err(e)?,
        input_tokens: row.try_get(4).map_err(e)?,
        output_tokens: row.try_get(5).map_err(e)?,
        cache_write_tokens: row.try_get(6).map_err(e)?,
        cache_write_5m_tokens: row.try_get(7).map_err(e)?,
        cache_write_1h_tokens: row.try_get(8).map_err(e)?,
        cache_read_tokens: row.try_get(9).map_err(e)?,
        cost_nanos: row.try_get(10).map_err(e)?,
        reported_nanos: row.try_get(11).map_err(e)?,
        computed: row.try_get(12).map_err(e)?,
        unpriced: row.try_get(13).map_err(e)?,
        fast: row.try_get(14).map_err(e)?,
        sidechain: row.try_get(15).map_err(e)?,
        project: row.try_get(16).map_err(e)?,
        session: row.try_get(17).map_err(e)?,
        agent: row.try_get(18).map_err(e)?,
        category: row.try_get(19).map_err(e)?,
        tags: serde_json::from_str(&tags).map_err(|e| format!("cost entry tags: {e}"))?,
        description: row.try_get(21).map_err(e)?,
        message_id: row.try_get(22).map_err(e)?,
        request_id: row.try_get(23).map_err(e)?,
        idempotency_key: row.try_get(24).map_err(e)?,
        recorded_by: row.try_get(25).map_err(e)?,
        recorded_at: row.try_get(26).map_err(e)?,
    })
}

const IN_FLIGHT: &str = "('triggered', 'running', 'waiting')";

impl Store for PostgresStore {
    fn save_costs(
        &self,
        rows: &[CostRow],
        cursors: &[(String, UsageFileCursor)],
        forgotten: &[String],
    ) -> Result<()> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(query_error)?;
        let updates = COST_COLUMNS
            .split(", ")
            .skip(1)
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let upsert = tx
            .prepare(&format!(
                "INSERT INTO cost_entries ({COST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27) ON CONFLICT (id) DO UPDATE SET {updates}"
            ))
            .map_err(query_error)?;
        for r in rows {
            let tags = serde_json::to_string(&r.tags).map_err(|e| Error::Query(e.to_string()))?;
            tx.execute(
                &upsert,
                &[
                    &r.id,
                    &r.at_ms,
                    &r.source,
                    &r.model,
                    &r.input_tokens,
                    &r.output_tokens,
                    &r.cache_write_tokens,
                    &r.cache_write_5m_tokens,
                    &r.cache_write_1h_tokens,
                    &r.cache_read_tokens,
                    &r.cost_nanos,
                    &r.reported_nanos,
                    &r.computed,
                    &r.unpriced,
                    &r.fast,
                    &r.sidechain,
                    &r.project,
                    &r.session,
                    &r.agent,
                    &r.category,
                    &tags,
                    &r.description,
                    &r.message_id,
                    &r.request_id,
                    &r.idempotency_key,
                    &r.recorded_by,
                    &r.recorded_at,
                ],
            )
            .map_err(query_error)?;
        }
        let now = crate::migrations::now_ms();
        for (path, c) in cursors {
            tx.execute(
                "INSERT INTO usage_files (path, dev, ino, offset_bytes, head, head_len, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino,
                   offset_bytes = excluded.offset_bytes, head = excluded.head,
                   head_len = excluded.head_len, updated_at = excluded.updated_at",
                &[
                    path,
                    &bits(c.dev),
                    &bits(c.ino),
                    &bits(c.offset),
                    &bits(c.head),
                    &i64::from(c.head_len),
                    &now,
                ],
            )
            .map_err(query_error)?;
        }
        for path in forgotten {
            tx.execute("DELETE FROM usage_files WHERE path = $1", &[path])
                .map_err(query_error)?;
        }
        tx.commit().map_err(query_error)
    }

    fn load_costs(&self, visit: &mut dyn FnMut(CostRow) -> Result<()>) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator as _;
        let mut client = self.client()?;
        let mut rows = client
            .query_raw(
                &format!("SELECT {COST_COLUMNS} FROM cost_entries ORDER BY at_ms, id"),
                std::iter::empty::<i64>(),
            )
            .map_err(query_error)?;
        while let Some(row) = rows.next().map_err(query_error)? {
            visit(decode_cost(&row).map_err(Error::Decode)?)?;
        }
        Ok(())
    }

    fn load_usage_cursors(&self) -> Result<Vec<(String, UsageFileCursor)>> {
        let rows = self
            .client()?
            .query("SELECT path, dev, ino, offset_bytes, head, head_len FROM usage_files ORDER BY path", &[])
            .map_err(query_error)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<_, String>(0).map_err(query_error)?,
                    UsageFileCursor {
                        dev: unbits(row.try_get(1).map_err(query_error)?),
                        ino: unbits(row.try_get(2).map_err(query_error)?),
                        offset: unbits(row.try_get(3).map_err(query_error)?),
                        head: unbits(row.try_get(4).map_err(query_error)?),
                        head_len: u32::try_from(row.try_get::<_, i64>(5).map_err(query_error)?)
                            .unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    fn list_costs(&self, filter: &CostFilter) -> Result<Vec<CostRow>> {
        let (before_at, before_id) = filter
            .before
            .clone()
            .map_or((None, None), |(at, id)| (Some(at), Some(id)));
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = self
            .client()?
            .query(
                &format!(
                    "SELECT {COST_COLUMNS} FROM cost_entries
                     WHERE ($1::BIGINT IS NULL OR at_ms >= $1) AND ($2::BIGINT IS NULL OR at_ms < $2)
                       AND ($3::TEXT IS NULL OR source = $3)
                       AND ($4::BIGINT IS NULL OR at_ms < $4 OR (at_ms = $4 AND id < $5::TEXT))
                     ORDER BY at_ms DESC, id DESC LIMIT $6"
                ),
                &[&filter.since_ms, &filter.until_ms, &filter.source, &before_at, &before_id, &limit],
            )
            .map_err(query_error)?;
        collect(rows, decode_cost)
    }

    fn get_cost(&self, id: &str) -> Result<Option<CostRow>> {
        let row = self
            .client()?
            .query_opt(
                &format!("SELECT {COST_COLUMNS} FROM cost_entries WHERE id = $1"),
                &[&id],
            )
            .map_err(query_error)?;
        row.map(|r| decode_cost(&r).map_err(Error::Decode))
            .transpose()
    }

    fn save_metric_buckets(&self, buckets: &[MetricBucket]) -> Result<()> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(query_error)?;
        for b in buckets {
            tx.execute(
                "INSERT INTO metric_buckets (instance, metric, step_secs, start, min_value, max_value, sum_value, sample_count)
                 VALUES ($8, $1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (instance, metric, step_secs, start) DO UPDATE SET
                 min_value = excluded.min_value, max_value = excluded.max_value,
                 sum_value = excluded.sum_value, sample_count = excluded.sample_count",
                &[
                    &b.metric,
                    &b.step_secs,
                    &b.start,
                    &b.min,
                    &b.max,
                    &b.sum,
                    &b.count,
                    &b.instance,
                ],
            )
            .map_err(query_error)?;
        }
        tx.commit().map_err(query_error)
    }

    fn load_metric_buckets(&self) -> Result<Vec<MetricBucket>> {
        let rows = self
            .client()?
            .query(
                &format!(
                    "SELECT {BUCKET_COLUMNS} FROM metric_buckets
                     ORDER BY start, instance, metric, step_secs"
                ),
                &[],
            )
            .map_err(query_error)?;
        collect(rows, decode_bucket)
    }

    fn load_metric_buckets_of(&self, instance: &str, metric: &str) -> Result<Vec<MetricBucket>> {
        let rows = self
            .client()?
            .query(
                &format!(
                    "SELECT {BUCKET_COLUMNS} FROM metric_buckets
                     WHERE instance = $1 AND metric = $2 ORDER BY start, step_secs"
                ),
                &[&instance, &metric],
            )
            .map_err(query_error)?;
        collect(rows, decode_bucket)
    }

    fn metric_instances(&self) -> Result<Vec<String>> {
        let rows = self
            .client()?
            .query(
                "SELECT DISTINCT instance FROM metric_buckets ORDER BY instance",
                &[],
            )
            .map_err(query_error)?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(query_error))
            .collect()
    }

    fn prune_metric_buckets(&self, step_secs: i64, before: i64) -> Result<usize> {
        let n = self
            .client()?
            .execute(
                "DELETE FROM metric_buckets WHERE step_secs = $1 AND start < $2",
                &[&step_secs, &before],
            )
            .map_err(query_error)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn insert_execution(&self, e: &WorkflowExecution) -> Result<()> {
        self.client()?
            .execute(
                &format!("INSERT INTO workflow_executions ({EXECUTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
                &[
                    &e.id, &e.workflow_id, &e.workflow_name, &e.correlation_id, &e.n8n_execution_id,
                    &e.status.as_str(), &e.reply.as_ref().map(ToString::to_string), &e.started_at,
                    &e.finished_at, &e.error, &e.submitted_by,
                ],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn update_execution(&self, e: &WorkflowExecution) -> Result<()> {
        let changed = self
            .client()?
            .execute(
                "UPDATE workflow_executions SET n8n_execution_id = $2, status = $3, reply = $4, finished_at = $5, error = $6 WHERE id = $1",
                &[&e.id, &e.n8n_execution_id, &e.status.as_str(), &e.reply.as_ref().map(ToString::to_string), &e.finished_at, &e.error],
            )
            .map_err(query_error)?;
        if changed == 0 {
            return Err(Error::Query(format!("no execution `{}` to update", e.id)));
        }
        Ok(())
    }

    fn get_execution(&self, id: &str) -> Result<Option<WorkflowExecution>> {
        let row = self
            .client()?
            .query_opt(
                &format!("SELECT {EXECUTION_COLUMNS} FROM workflow_executions WHERE id = $1"),
                &[&id],
            )
            .map_err(query_error)?;
        row.map(|r| decode_execution(&r).map_err(Error::Decode))
            .transpose()
    }

    fn list_executions(
        &self,
        in_flight: Option<bool>,
        status: Option<ExecutionStatus>,
        limit: usize,
    ) -> Result<Vec<WorkflowExecution>> {
        let rows = self
            .client()?
            .query(
                &format!(
                    "SELECT {EXECUTION_COLUMNS} FROM workflow_executions
                     WHERE ($1::TEXT IS NULL OR status = $1)
                       AND ($2::BOOLEAN IS NULL OR ($2 AND status IN {IN_FLIGHT}) OR (NOT $2 AND status NOT IN {IN_FLIGHT}))
                     ORDER BY started_at DESC, id DESC LIMIT $3"
                ),
                &[&status.map(ExecutionStatus::as_str), &in_flight, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(query_error)?;
        collect(rows, decode_execution)
    }

    fn set_task_runner(&self, id: &str, runner: Option<RunnerProcess>) -> Result<()> {
        let changed = self
            .client()?
            .execute(
                "UPDATE tasks SET runner_pid = $2, runner_start = $3 WHERE id = $1",
                &[
                    &id,
                    &runner.map(|r| i64::from(r.pid)),
                    &runner.map(|r| i64::try_from(r.start_ticks).unwrap_or(i64::MAX)),
                ],
            )
            .map_err(query_error)?;
        if changed == 0 {
            return Err(Error::Query(format!("no task `{id}` to update")));
        }
        Ok(())
    }

    fn running_task_runners(&self) -> Result<Vec<(String, RunnerProcess)>> {
        let rows = self
            .client()?
            .query(
                "SELECT id, runner_pid, runner_start FROM tasks
                 WHERE status = 'running' AND runner_pid IS NOT NULL AND runner_start IS NOT NULL ORDER BY seq",
                &[],
            )
            .map_err(query_error)?;
        collect(rows, |row| {
            let id: String = row.try_get(0).map_err(|e| e.to_string())?;
            let pid: i64 = row.try_get(1).map_err(|e| e.to_string())?;
            let start: i64 = row.try_get(2).map_err(|e| e.to_string())?;
            match (u32::try_from(pid), u64::try_from(start)) {
                (Ok(pid), Ok(start_ticks)) => Ok((id, RunnerProcess { pid, start_ticks })),
                _ => Err(format!(
                    "task `{id}` records runner pid {pid} started at {start}"
                )),
            }
        })
    }

    fn insert_task(&self, t: &Task) -> Result<()> {
        self.client()?
            .execute(
                &format!("INSERT INTO tasks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"),
                &[
                    &t.id, &t.seq, &t.kind.as_str(), &t.target, &t.resource_id, &t.input.to_string(),
                    &t.priority.as_str(), &t.status.as_str(), &t.created_at, &t.started_at, &t.finished_at,
                    &t.exit_code, &t.error.as_ref().map(|e| e.code.name()), &t.error.as_ref().map(|e| e.message.as_str()),
                    &t.stdout, &t.stderr, &t.output_truncated, &t.usage.as_ref().map(ToString::to_string),
                    &t.cost_usd, &t.submitted_by, &t.result.as_ref().map(ToString::to_string),
                ],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn update_task(&self, t: &Task) -> Result<()> {
        let changed = self
            .client()?
            .execute(
                "UPDATE tasks SET status = $2, started_at = $3, finished_at = $4, exit_code = $5, error_code = $6, error_message = $7, stdout = $8, stderr = $9, output_truncated = $10, usage = $11, cost_usd = $12, result = $13 WHERE id = $1",
                &[
                    &t.id, &t.status.as_str(), &t.started_at, &t.finished_at, &t.exit_code,
                    &t.error.as_ref().map(|e| e.code.name()), &t.error.as_ref().map(|e| e.message.as_str()),
                    &t.stdout, &t.stderr, &t.output_truncated, &t.usage.as_ref().map(ToString::to_string),
                    &t.cost_usd, &t.result.as_ref().map(ToString::to_string),
                ],
            )
            .map_err(query_error)?;
        if changed == 0 {
            return Err(Error::Query(format!("no task `{}` to update", t.id)));
        }
        Ok(())
    }

    fn get_task(&self, id: &str) -> Result<Option<Task>> {
        let row = self
            .client()?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM tasks WHERE id = $1"),
                &[&id],
            )
            .map_err(query_error)?;
        row.map(|r| decode(&r).map_err(Error::Decode)).transpose()
    }

    fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let rows = self
            .client()?
            .query(
                &format!("SELECT {COLUMNS} FROM tasks WHERE ($1::TEXT IS NULL OR status = $1) AND ($2::TEXT IS NULL OR kind = $2) AND ($3::BIGINT IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4"),
                &[&filter.status.map(TaskStatus::as_str), &filter.kind.map(TaskKind::as_str), &filter.before_seq, &i64::try_from(filter.limit).unwrap_or(i64::MAX)],
            )
            .map_err(query_error)?;
        collect(rows, decode)
    }

    fn unfinished_tasks(&self) -> Result<Vec<Task>> {
        let rows = self
            .client()?
            .query(&format!("SELECT {COLUMNS} FROM tasks WHERE status IN ('queued', 'running') ORDER BY seq ASC"), &[])
            .map_err(query_error)?;
        collect(rows, decode)
    }

    fn count_tasks_by_status(&self) -> Result<Vec<(TaskStatus, u64)>> {
        let rows = self
            .client()?
            .query(
                "SELECT status, COUNT(*) FROM tasks GROUP BY status ORDER BY status",
                &[],
            )
            .map_err(query_error)?;
        let mut counts = Vec::new();
        for row in rows {
            let status: String = row.try_get(0).map_err(query_error)?;
            let count: i64 = row.try_get(1).map_err(query_error)?;
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
        // The counter's row lock orders concurrent callers, on every instance.
        let row = self
            .client()?
            .query_one(
                "UPDATE counters SET value = GREATEST(value, (SELECT COALESCE(MAX(seq), 0) FROM tasks)) + 1
                 WHERE name = 'task_seq' RETURNING value",
                &[],
            )
            .map_err(query_error)?;
        row.try_get(0).map_err(query_error)
    }

    fn claim_task(&self, id: &str, instance: &str, started_at: i64) -> Result<Option<Task>> {
        // SKIP LOCKED: an instance claiming the same task at this moment wins, and this one
        // moves on at once instead of waiting to find the task taken.
        let row = self
            .client()?
            .query_opt(
                &format!(
                    "UPDATE tasks SET status = 'running', started_at = $3, instance_id = $2
                     WHERE id = (SELECT id FROM tasks WHERE id = $1 AND status = 'queued' FOR UPDATE SKIP LOCKED)
                     RETURNING {COLUMNS}"
                ),
                &[&id, &instance, &started_at],
            )
            .map_err(query_error)?;
        row.map(|r| decode(&r).map_err(Error::Decode)).transpose()
    }

    fn cancel_queued_task(&self, id: &str, finished_at: i64) -> Result<Option<Task>> {
        let row = self
            .client()?
            .query_opt(
                &format!(
                    "UPDATE tasks SET status = 'canceled', finished_at = $2
                     WHERE id = $1 AND status = 'queued' RETURNING {COLUMNS}"
                ),
                &[&id, &finished_at],
            )
            .map_err(query_error)?;
        row.map(|r| decode(&r).map_err(Error::Decode)).transpose()
    }

    fn finish_task(&self, t: &Task, instance: &str) -> Result<bool> {
        let changed = self
            .client()?
            .execute(
                "UPDATE tasks SET status = $2, started_at = $3, finished_at = $4, exit_code = $5, error_code = $6, error_message = $7, stdout = $8, stderr = $9, output_truncated = $10, usage = $11, cost_usd = $12, result = $13, runner_pid = NULL, runner_start = NULL
                 WHERE id = $1 AND status = 'running' AND instance_id = $14",
                &[
                    &t.id,
                    &t.status.as_str(),
                    &t.started_at,
                    &t.finished_at,
                    &t.exit_code,
                    &t.error.as_ref().map(|e| e.code.name()),
                    &t.error.as_ref().map(|e| e.message.as_str()),
                    &t.stdout,
                    &t.stderr,
                    &t.output_truncated,
                    &t.usage.as_ref().map(ToString::to_string),
                    &t.cost_usd,
                    &t.result.as_ref().map(ToString::to_string),
                    &instance,
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
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(query_error)?;
        tx.execute(
            &format!(
                "UPDATE instances SET stopped_at = $3
                 WHERE id <> $1 AND stopped_at IS NULL AND ($2::BIGINT IS NULL OR heartbeat_at < {DB_NOW} - $2)"
            ),
            &[&me, &dead_after_ms, &finished_at],
        )
        .map_err(query_error)?;
        // SKIP LOCKED: instances sweeping at once share the orphans out, each interrupted once.
        let orphans = tx
            .query(
                "SELECT t.id, t.runner_pid, t.runner_start, i.host FROM tasks t
                 LEFT JOIN instances i ON i.id = t.instance_id
                 WHERE t.status = 'running'
                   AND (t.instance_id IS NULL OR i.id IS NULL OR i.stopped_at IS NOT NULL)
                   AND (t.instance_id IS NULL OR t.instance_id <> $1)
                 ORDER BY t.seq
                 FOR UPDATE OF t SKIP LOCKED",
                &[&me],
            )
            .map_err(query_error)?;
        let mut interrupted = Vec::new();
        for orphan in orphans {
            let id: String = orphan.try_get(0).map_err(query_error)?;
            let pid: Option<i64> = orphan.try_get(1).map_err(query_error)?;
            let start: Option<i64> = orphan.try_get(2).map_err(query_error)?;
            let host: Option<String> = orphan.try_get(3).map_err(query_error)?;
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE tasks SET status = 'interrupted', finished_at = $2, error_code = $3,
                           error_message = $4, runner_pid = NULL, runner_start = NULL
                         WHERE id = $1 AND status = 'running' RETURNING {COLUMNS}"
                    ),
                    &[&id, &finished_at, &error.code.name(), &error.message],
                )
                .map_err(query_error)?;
            if let Some(row) = row {
                interrupted.push(OrphanedTask {
                    task: decode(&row).map_err(Error::Decode)?,
                    runner: pid.zip(start).and_then(|(pid, start)| {
                        Some(RunnerProcess {
                            pid: u32::try_from(pid).ok()?,
                            start_ticks: u64::try_from(start).ok()?,
                        })
                    }),
                    host,
                });
            }
        }
        tx.commit().map_err(query_error)?;
        Ok(interrupted)
    }

    fn shared(&self) -> bool {
        true
    }

    fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        let mut client = self.client()?;
        if payload.len() <= INLINE_PAYLOAD {
            client
                .execute("SELECT pg_notify($1, '=' || $2)", &[&channel, &payload])
                .map_err(query_error)?;
            return Ok(());
        }
        // Too large for a notification (8,000 bytes): kept in a table, announced by its id,
        // fetched by each listener, and pruned after a while.
        let id = crate::new_id("evt")?;
        let now = crate::migrations::now_ms();
        let mut tx = client.transaction().map_err(query_error)?;
        tx.execute(
            "INSERT INTO relayed_events (id, at_ms, payload) VALUES ($1, $2, $3)",
            &[&id, &now, &payload],
        )
        .map_err(query_error)?;
        tx.execute("SELECT pg_notify($1, '@' || $2)", &[&channel, &id])
            .map_err(query_error)?;
        if self
            .large
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(64)
        {
            tx.execute(
                "DELETE FROM relayed_events WHERE at_ms < $1",
                &[&now.saturating_sub(RELAYED_KEPT_MS)],
            )
            .map_err(query_error)?;
        }
        tx.commit().map_err(query_error)
    }

    fn listen(
        &self,
        channels: &[&str],
        sink: NotificationSink,
    ) -> Result<Option<Box<dyn Listener>>> {
        for channel in channels {
            if channel.is_empty() || !channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(Error::Query(format!(
                    "`{channel}` is not a channel name (lowercase letters and `_`)"
                )));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let listening = ListenLoop {
            config: self.config.clone(),
            shown: self.shown.clone(),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            sink,
            stop: Arc::clone(&stop),
        };
        let (ready, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("jarvis-pg-listen".into())
            .spawn(move || listening.run(&ready))
            .map_err(|e| Error::Query(format!("cannot start the listener thread: {e}")))?;
        // The first LISTEN is in place before this returns, so nothing sent after is missed.
        match started.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                return Err(Error::Unavailable {
                    path: self.shown.clone().into(),
                    reason: "the listener did not connect within 30 s".into(),
                });
            }
        }
        Ok(Some(Box::new(PgListener {
            stop,
            thread: Some(thread),
        })))
    }

    fn register_instance(&self, i: &InstanceRecord) -> Result<()> {
        self.client()?
            .execute(
                &format!(
                    "INSERT INTO instances (id, name, host, pid, started_at, heartbeat_at, stopped_at)
                     VALUES ($1, $2, $3, $4, $5, {DB_NOW}, NULL)"
                ),
                &[&i.id, &i.name, &i.host, &i64::from(i.pid), &i.started_at],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn heartbeat(&self, id: &str) -> Result<bool> {
        let row = self
            .client()?
            .query_opt(
                &format!(
                    "UPDATE instances i SET heartbeat_at = {DB_NOW}, stopped_at = NULL
                     FROM (SELECT id, stopped_at FROM instances WHERE id = $1 FOR UPDATE) before
                     WHERE i.id = before.id RETURNING before.stopped_at"
                ),
                &[&id],
            )
            .map_err(query_error)?;
        match row {
            Some(row) => Ok(row
                .try_get::<_, Option<i64>>(0)
                .map_err(query_error)?
                .is_none()),
            None => Err(Error::Query(format!("no instance `{id}` to mark alive"))),
        }
    }

    fn stop_instance(&self, id: &str, at_ms: i64) -> Result<()> {
        self.client()?
            .execute(
                "UPDATE instances SET stopped_at = $2 WHERE id = $1",
                &[&id, &at_ms],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn load_api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let rows = self
            .client()?
            .query(
                "SELECT id, name, scopes, created_at, sha256 FROM api_keys ORDER BY created_at, id",
                &[],
            )
            .map_err(query_error)?;
        collect(rows, |r| {
            let e = |e: postgres::Error| e.to_string();
            let scopes: String = r.try_get(2).map_err(e)?;
            Ok(ApiKeyRow {
                id: r.try_get(0).map_err(e)?,
                name: r.try_get(1).map_err(e)?,
                scopes: crate::sqlite::split_scopes(&scopes),
                created_at: r.try_get(3).map_err(e)?,
                sha256: r.try_get(4).map_err(e)?,
            })
        })
    }

    fn insert_api_key(&self, key: &ApiKeyRow) -> Result<()> {
        self.client()?
            .execute(
                "INSERT INTO api_keys (id, name, scopes, created_at, sha256) VALUES ($1, $2, $3, $4, $5)",
                &[&key.id, &key.name, &key.scopes.join(","), &key.created_at, &key.sha256],
            )
            .map_err(query_error)?;
        Ok(())
    }

    fn delete_api_key(&self, id: &str) -> Result<bool> {
        let n = self
            .client()?
            .execute("DELETE FROM api_keys WHERE id = $1", &[&id])
            .map_err(query_error)?;
        Ok(n > 0)
    }

    fn insert_ticket(&self, ticket: &TicketRow, now_ms: i64) -> Result<()> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(query_error)?;
        tx.execute("DELETE FROM ws_tickets WHERE expires_at < $1", &[&now_ms])
            .map_err(query_error)?;
        tx.execute(
            "INSERT INTO ws_tickets (sha256, principal, expires_at) VALUES ($1, $2, $3)",
            &[&ticket.sha256, &ticket.principal, &ticket.expires_at],
        )
        .map_err(query_error)?;
        tx.commit().map_err(query_error)
    }

    fn take_ticket(&self, sha256: &str) -> Result<Option<TicketRow>> {
        let row = self
            .client()?
            .query_opt(
                "DELETE FROM ws_tickets WHERE sha256 = $1 RETURNING sha256, principal, expires_at",
                &[&sha256],
            )
            .map_err(query_error)?;
        row.map(|r| {
            Ok(TicketRow {
                sha256: r.try_get(0).map_err(query_error)?,
                principal: r.try_get(1).map_err(query_error)?,
                expires_at: r.try_get(2).map_err(query_error)?,
            })
        })
        .transpose()
    }

    fn list_instances(&self, limit: usize) -> Result<Vec<InstanceRecord>> {
        let rows = self
            .client()?
            .query(
                "SELECT id, name, host, pid, started_at, heartbeat_at, stopped_at FROM instances
                 ORDER BY started_at DESC, id DESC LIMIT $1",
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(query_error)?;
        collect(rows, |r| {
            let e = |e: postgres::Error| e.to_string();
            Ok(InstanceRecord {
                id: r.try_get(0).map_err(e)?,
                name: r.try_get(1).map_err(e)?,
                host: r.try_get(2).map_err(e)?,
                pid: u32::try_from(r.try_get::<_, i64>(3).map_err(e)?).unwrap_or(0),
                started_at: r.try_get(4).map_err(e)?,
                heartbeat_at: r.try_get(5).map_err(e)?,
                stopped_at: r.try_get(6).map_err(e)?,
            })
        })
    }
}
