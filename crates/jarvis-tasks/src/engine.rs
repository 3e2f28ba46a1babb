//! The queue, the runs, and the event bus.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jarvis_core::{Code, ErrorCode, Priority, Task, TaskError, TaskKind, TaskStatus};
use jarvis_store::{Listener, OrphanedTask, Store, TaskFilter};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, broadcast, oneshot};

use crate::cluster::{self, Incoming, Instance, InstanceSettings, Outgoing};
use crate::config::TaskConfig;
use crate::event::TaskEvent;
use crate::expand::{RunVars, expand_argv};
use crate::job::{Job, JobOutcome, Progress};
use crate::output::Bounded;
use crate::process::{self, Spawner};

/// What can go wrong when submitting, cancelling or reading tasks.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No task with this id.
    #[error("no task `{0}`")]
    NotFound(String),
    /// The task has ended.
    #[error("task `{id}` has already ended ({status})")]
    NotCancelable {
        /// The task.
        id: String,
        /// How it ended.
        status: TaskStatus,
    },
    /// A request the task rules refuse ([`crate::CommandLine`], bounds, priority, cursor, id);
    /// `field` names the request field at fault.
    #[error("{message}")]
    Invalid {
        /// The request field (`command`, `arguments`, `task`, `priority`, `cursor`, `id`).
        field: &'static str,
        /// A sentence for the client.
        message: String,
    },
    /// The runner program is missing.
    #[error("the task runner `{0}` is not installed or not executable (set tasks.runner)")]
    RunnerUnavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] jarvis_store::Error),
    /// A blocking job could not complete.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ErrorCode for EngineError {
    fn error_code(&self) -> Code {
        match self {
            EngineError::NotFound(_) => Code::ResourceNotFound,
            EngineError::Invalid { .. } => Code::ValidationError,
            EngineError::NotCancelable { .. } => Code::TaskNotCancelable,
            EngineError::RunnerUnavailable(_) => Code::RunnerUnavailable,
            EngineError::Store(e) => e.error_code(),
            EngineError::Internal(_) => Code::InternalError,
        }
    }

    fn error_details(&self) -> Option<Value> {
        match self {
            EngineError::Invalid { field, .. } => Some(serde_json::json!({ "parameter": field })),
            _ => None,
        }
    }
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// A task to submit.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// Command or agent.
    pub kind: TaskKind,
    /// The resource's qualified name.
    pub target: String,
    /// The resource's id.
    pub resource_id: String,
    /// What the client sent (arguments or task, context), kept with the task.
    pub input: Value,
    /// Urgency.
    pub priority: Priority,
    /// The runner template's values.
    pub vars: RunVars,
    /// The submitting key's name.
    pub submitted_by: String,
}

/// Which slots a task runs in: the runner's (`tasks.concurrency`), or its job's own (the
/// job's [`Job::concurrency`]), so a long analysis never holds back commands and agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Runner,
    Job(TaskKind),
}

#[derive(Debug)]
struct Queued {
    priority: Priority,
    seq: i64,
    id: String,
    pool: Pool,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority && self.seq == other.seq
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    /// Higher priority first, then lower sequence (earlier) first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Debug, Default)]
struct QueueState {
    queued: BinaryHeap<Queued>,
    running: HashMap<String, (Pool, Option<oneshot::Sender<()>>)>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    config: TaskConfig,
    bus: broadcast::Sender<TaskEvent>,
    state: Mutex<QueueState>,
    wake: Notify,
    spawner: Spawner,
    /// This instance, as the store knows it.
    instance: Instance,
    /// Where events for the other instances go (a shared store only): a thread of its own
    /// sends them, so a slow database never holds up a run. Taken at shutdown.
    relay: Mutex<Option<std::sync::mpsc::SyncSender<String>>>,
    /// Events the relay had no room for.
    relay_dropped: AtomicU64,
    /// Hears the other instances (a shared store only); dropped at shutdown.
    listener: Mutex<Option<Box<dyn Listener>>>,
    /// Set by [`TaskEngine::shutdown`].
    stopped: AtomicBool,
    orphans_ended: usize,
    /// Whether the runner program was found: looked up at start, off the executor, and again
    /// (off the executor) by a submit while it is missing, so that installing it needs no
    /// restart.
    runner_found: AtomicBool,
    /// What runs tasks of kinds that do not use the runner.
    jobs: HashMap<TaskKind, Arc<dyn Job>>,
}

/// The engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TaskEngine {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
}

impl TaskEngine {
    /// Recovers unfinished tasks from `store` and starts dispatching. Call inside a tokio
    /// runtime.
    pub async fn start(store: Arc<dyn Store>, config: TaskConfig) -> Result<TaskEngine> {
        TaskEngine::start_with_jobs(store, config, HashMap::new()).await
    }

    /// [`TaskEngine::start`], with `jobs` running the tasks of their kinds inside the server
    /// (registered before any recovered task is dispatched).
    pub async fn start_with_jobs(
        store: Arc<dyn Store>,
        config: TaskConfig,
        jobs: HashMap<TaskKind, Arc<dyn Job>>,
    ) -> Result<TaskEngine> {
        TaskEngine::start_instance(store, config, jobs, InstanceSettings::default()).await
    }

    /// [`TaskEngine::start_with_jobs`], as an instance presenting itself with `instance`. On a
    /// shared store it claims tasks with the other instances, relays events to them and hears
    /// theirs, heartbeats, and interrupts the running tasks of instances gone silent.
    pub async fn start_instance(
        store: Arc<dyn Store>,
        config: TaskConfig,
        jobs: HashMap<TaskKind, Arc<dyn Job>>,
        instance: InstanceSettings,
    ) -> Result<TaskEngine> {
        let (bus, _) = broadcast::channel(1024);
        let instance = Instance::new(instance, now_ms())?;
        let shared = store.shared();
        let recovered_store = Arc::clone(&store);
        let program = runner_program(&config).to_owned();
        let search_path = config.search_path.clone();
        let me = instance.clone();
        let (orphans, queued, runner_found) = blocking(move || {
            recovered_store.register_instance(&me.record)?;
            // Alone on its store, an instance ends whatever its predecessors left running;
            // sharing one, only what instances gone silent left.
            let dead_after = shared.then(|| duration_ms(me.settings.dead_after));
            let (orphans, queued) = interrupt_orphans(&*recovered_store, me.id(), dead_after)?;
            Ok((orphans, queued, find_program(&program, &search_path)))
        })
        .await?;
        // Runners of tasks that were running when their server stopped are ended (on this
        // host) before anything new starts.
        let orphans_ended = end_runners(&instance, shared, &orphans).await?;
        let spawner = Spawner::start(tokio::runtime::Handle::current())
            .map_err(|e| EngineError::Internal(format!("cannot start the runner spawner: {e}")))?;
        let relay = if shared {
            Some(start_relay(Arc::clone(&store))?)
        } else {
            None
        };
        let engine = TaskEngine {
            inner: Arc::new(Inner {
                store,
                config,
                bus,
                state: Mutex::new(QueueState::default()),
                wake: Notify::new(),
                spawner,
                instance,
                relay: Mutex::new(relay),
                relay_dropped: AtomicU64::new(0),
                listener: Mutex::new(None),
                stopped: AtomicBool::new(false),
                orphans_ended,
                runner_found: AtomicBool::new(runner_found),
                jobs,
            }),
        };
        for orphan in &orphans {
            tracing::warn!(task = %orphan.task.id, target = %orphan.task.target, host = orphan.host.as_deref().unwrap_or("unknown"), "task was running when its server stopped; marked interrupted");
            engine.publish(&orphan.task);
        }
        for task in queued {
            tracing::info!(task = %task.id, target = %task.target, "queued task resumed after restart");
            engine.enqueue(&task);
        }
        if shared {
            engine.listen().await?;
            let heart = engine.clone();
            tokio::spawn(async move { heart.heartbeats().await });
        }
        tracing::info!(instance = %engine.inner.instance.id(), name = %engine.inner.instance.record.name, shared, "task engine started");
        let dispatcher = engine.clone();
        tokio::spawn(async move { dispatcher.dispatch().await });
        engine.inner.wake.notify_one();
        Ok(engine)
    }

    /// The store tasks are kept in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// This instance's id (`ins_…`, new at every start).
    pub fn instance_id(&self) -> &str {
        self.inner.instance.id()
    }

    /// Stops hearing and telling the other instances and records this instance as stopped, so
    /// that the others interrupt at once what it leaves running. Runs already started go on
    /// until the process ends.
    pub async fn shutdown(&self) {
        if self.inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let listener = lock(&self.inner.listener).take();
        let relay = lock(&self.inner.relay).take();
        let store = Arc::clone(&self.inner.store);
        let id = self.inner.instance.id().to_owned();
        let stopped = blocking(move || {
            // Joins the listening thread (it wakes four times a second).
            drop(listener);
            drop(relay);
            Ok(store.stop_instance(&id, now_ms())?)
        })
        .await;
        if let Err(e) = stopped {
            tracing::warn!(error = %e, "cannot record this instance as stopped; the others will notice its silence");
        }
    }

    /// Events: every stored state change and every output chunk.
    pub fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.inner.bus.subscribe()
    }

    /// How many tasks run now and how many wait, from memory (no store access).
    pub fn load(&self) -> (usize, usize) {
        let state = self.lock();
        (state.running.len(), state.queued.len())
    }

    /// How many stored tasks are in each status (a blocking query, run on the blocking pool).
    pub async fn counts(&self) -> Result<Vec<(TaskStatus, u64)>> {
        let store = Arc::clone(&self.inner.store);
        blocking(move || Ok(store.count_tasks_by_status()?)).await
    }

    /// How many process groups of runners that had outlived the previous server this engine
    /// ended when it started.
    pub fn orphans_ended(&self) -> usize {
        self.inner.orphans_ended
    }

    /// The configuration in force.
    pub fn config(&self) -> &TaskConfig {
        &self.inner.config
    }

    /// Checks that the runner program was found (at start, or by a later submit). Does no I/O.
    pub fn runner_available(&self) -> Result<()> {
        if self.inner.runner_found.load(Ordering::Relaxed) {
            return Ok(());
        }
        Err(EngineError::RunnerUnavailable(
            runner_program(&self.inner.config).to_owned(),
        ))
    }

    /// Queues a task; it is stored before this returns.
    pub async fn submit(&self, spec: TaskSpec) -> Result<Task> {
        if !self.inner.jobs.contains_key(&spec.kind) && self.runner_available().is_err() {
            // Installed since? Looked up again on a blocking thread: a walk of the search path.
            let program = runner_program(&self.inner.config).to_owned();
            let search_path = self.inner.config.search_path.clone();
            let found = blocking(move || Ok(find_program(&program, &search_path))).await?;
            self.inner.runner_found.store(found, Ordering::Relaxed);
            self.runner_available()?;
        }
        let mut input = spec.input;
        if let Value::Object(map) = &mut input {
            map.insert(
                "run".into(),
                serde_json::to_value(&spec.vars).unwrap_or(Value::Null),
            );
        }
        let task = Task {
            id: jarvis_store::new_id("task")?,
            kind: spec.kind,
            target: spec.target,
            resource_id: spec.resource_id,
            input,
            priority: spec.priority,
            status: TaskStatus::Queued,
            seq: 0,
            created_at: now_ms(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            error: None,
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            usage: None,
            cost_usd: None,
            submitted_by: spec.submitted_by,
            result: None,
        };
        let store = Arc::clone(&self.inner.store);
        let task = blocking(move || {
            let mut task = task;
            task.seq = store.next_seq()?;
            store.insert_task(&task)?;
            Ok(task)
        })
        .await?;
        self.publish(&task);
        self.enqueue(&task);
        Ok(task)
    }

    /// Cancels a queued or running task. A running task's process group gets TERM, then KILL
    /// (asked of the instance that runs it, when that is another).
    pub async fn cancel(&self, id: &str) -> Result<Task> {
        let task = self.get(id).await?;
        if task.status.is_final() {
            return Err(EngineError::NotCancelable {
                id: id.to_owned(),
                status: task.status,
            });
        }
        if task.status == TaskStatus::Queued {
            let store = Arc::clone(&self.inner.store);
            let key = id.to_owned();
            let canceled = blocking(move || Ok(store.cancel_queued_task(&key, now_ms())?)).await?;
            if let Some(canceled) = canceled {
                self.lock().queued.retain(|q| q.id != id);
                self.publish(&canceled);
                return Ok(canceled);
            }
            // Claimed (or ended) meanwhile: cancel it where it runs.
            let task = self.get(id).await?;
            if task.status.is_final() {
                return Err(EngineError::NotCancelable {
                    id: id.to_owned(),
                    status: task.status,
                });
            }
            self.cancel_running(id);
            return Ok(task);
        }
        self.cancel_running(id);
        Ok(task)
    }

    /// Signals a running task's run here, or asks the other instances to.
    fn cancel_running(&self, id: &str) {
        let here = {
            let mut state = self.lock();
            match state.running.get_mut(id) {
                Some((_, slot)) => {
                    if let Some(signal) = slot.take() {
                        let _ = signal.send(());
                    }
                    true
                }
                None => false,
            }
        };
        if !here {
            self.relay(&Outgoing {
                origin: self.inner.instance.id(),
                event: None,
                cancel: Some(id),
            });
        }
    }

    /// A task by id, with its output.
    pub async fn get(&self, id: &str) -> Result<Task> {
        let store = Arc::clone(&self.inner.store);
        let key = id.to_owned();
        blocking(move || Ok(store.get_task(&key)?))
            .await?
            .ok_or_else(|| EngineError::NotFound(id.to_owned()))
    }

    /// Tasks, newest first.
    pub async fn list(&self, filter: TaskFilter) -> Result<Vec<Task>> {
        let store = Arc::clone(&self.inner.store);
        blocking(move || Ok(store.list_tasks(&filter)?)).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        lock(&self.inner.state)
    }

    fn publish(&self, task: &Task) {
        let mut view = task.clone();
        view.stdout.clear();
        view.stderr.clear();
        self.inner.emit(TaskEvent::Changed {
            task: Box::new(view),
            relayed: false,
        });
    }

    /// Sends to the other instances (a shared store only).
    fn relay(&self, message: &Outgoing<'_>) {
        self.inner.relay(message);
    }

    /// Puts a queued task in this instance's queue (once) and wakes the dispatcher.
    fn enqueue(&self, task: &Task) {
        let pool = self.pool(task.kind);
        {
            let mut state = self.lock();
            if state.running.contains_key(&task.id) || state.queued.iter().any(|q| q.id == task.id)
            {
                return;
            }
            state.queued.push(Queued {
                priority: task.priority,
                seq: task.seq,
                id: task.id.clone(),
                pool,
            });
        }
        self.inner.wake.notify_one();
    }

    /// Starts hearing the other instances: their events go on this bus, their queued tasks
    /// into this queue (claimed by whichever instance is first), their cancel requests to this
    /// instance's runs.
    async fn listen(&self) -> Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let store = Arc::clone(&self.inner.store);
        let listener = blocking(move || {
            Ok(store.listen(
                &[cluster::CHANNEL],
                Box::new(move |n| {
                    let _ = tx.send(n.payload);
                }),
            )?)
        })
        .await?;
        *lock(&self.inner.listener) = listener;
        let engine = self.clone();
        tokio::spawn(async move {
            while let Some(payload) = rx.recv().await {
                engine.heard(&payload);
            }
        });
        Ok(())
    }

    fn heard(&self, payload: &str) {
        let incoming: Incoming = match serde_json::from_str(payload) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::warn!(error = %e, bytes = payload.len(), "an event from another instance could not be read; ignored");
                return;
            }
        };
        if incoming.origin == self.inner.instance.id() {
            return;
        }
        if let Some(id) = incoming.cancel {
            let mut state = self.lock();
            if let Some((_, slot)) = state.running.get_mut(&id)
                && let Some(signal) = slot.take()
            {
                tracing::info!(task = %id, from = %incoming.origin, "canceling a task at another instance's request");
                let _ = signal.send(());
            }
        }
        if let Some(event) = incoming.event {
            let event = event.into_event();
            if let TaskEvent::Changed { task, .. } = &event {
                if task.status == TaskStatus::Queued {
                    self.enqueue(task);
                } else {
                    self.lock().queued.retain(|q| q.id != task.id);
                }
            }
            // Local subscribers only: it came from the relay and does not go back.
            let _ = self.inner.bus.send(event);
        }
    }

    /// Every `heartbeat`: tells the others this instance is alive, interrupts the running
    /// tasks of instances silent for longer than `dead_after`, and picks up queued tasks whose
    /// announcement it missed. Ends with [`TaskEngine::shutdown`].
    async fn heartbeats(self) {
        let settings = self.inner.instance.settings.clone();
        let mut tick = tokio::time::interval(settings.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if self.inner.stopped.load(Ordering::SeqCst) {
                return;
            }
            let store = Arc::clone(&self.inner.store);
            let id = self.inner.instance.id().to_owned();
            let dead_after = duration_ms(settings.dead_after);
            let beat = blocking(move || {
                let alive = store.heartbeat(&id)?;
                let (orphans, queued) = interrupt_orphans(&*store, &id, Some(dead_after))?;
                Ok((alive, orphans, queued))
            })
            .await;
            let (alive, orphans, queued) = match beat {
                Ok(beat) => beat,
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat failed; the other instances may take this one for dead");
                    continue;
                }
            };
            if !alive {
                tracing::error!(instance = %self.inner.instance.id(), "this instance was taken for dead (silent for longer than dead_after); another interrupted the tasks it ran");
            }
            if let Err(e) = end_runners(&self.inner.instance, true, &orphans).await {
                tracing::warn!(error = %e, "cannot end the runners of a gone instance");
            }
            for orphan in &orphans {
                tracing::warn!(task = %orphan.task.id, target = %orphan.task.target, host = orphan.host.as_deref().unwrap_or("unknown"), "the instance running this task is gone; marked interrupted");
                self.publish(&orphan.task);
            }
            for task in &queued {
                self.enqueue(task);
            }
        }
    }

    /// The pool tasks of `kind` run in.
    fn pool(&self, kind: TaskKind) -> Pool {
        if self.inner.jobs.contains_key(&kind) {
            Pool::Job(kind)
        } else {
            Pool::Runner
        }
    }

    /// How many tasks of `pool` may run at once.
    fn slots(&self, pool: Pool) -> usize {
        match pool {
            Pool::Runner => self.inner.config.concurrency.max(1),
            Pool::Job(kind) => self
                .inner
                .jobs
                .get(&kind)
                .map_or(1, |job| job.concurrency().max(1)),
        }
    }

    /// Stores how a run ended, then announces it: unless the task was interrupted meanwhile
    /// (this instance was taken for dead), which stays as stored.
    async fn finish(&self, task: &Task) -> Result<()> {
        let store = Arc::clone(&self.inner.store);
        let stored = task.clone();
        let me = self.inner.instance.id().to_owned();
        if blocking(move || Ok(store.finish_task(&stored, &me)?)).await? {
            self.publish(task);
        } else {
            tracing::warn!(task = %task.id, status = task.status.as_str(), "the run ended after another instance had marked the task interrupted; its end was not recorded");
        }
        Ok(())
    }

    async fn dispatch(self) {
        loop {
            self.inner.wake.notified().await;
            loop {
                let next = {
                    let mut state = self.lock();
                    // The best queued task whose pool has a free slot; the others keep their
                    // places.
                    let mut skipped = Vec::new();
                    let mut found = None;
                    while let Some(q) = state.queued.pop() {
                        let busy = state.running.values().filter(|(p, _)| *p == q.pool).count();
                        if busy < self.slots(q.pool) {
                            found = Some(q);
                            break;
                        }
                        skipped.push(q);
                    }
                    state.queued.extend(skipped);
                    found.map(|q| {
                        let (tx, rx) = oneshot::channel();
                        state.running.insert(q.id.clone(), (q.pool, Some(tx)));
                        (q.id, rx)
                    })
                };
                let Some((id, cancel)) = next else { break };
                let engine = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.run(&id, cancel).await {
                        tracing::error!(task = %id, error = %e, "task run failed to record");
                    }
                    engine.lock().running.remove(&id);
                    engine.inner.wake.notify_one();
                });
            }
        }
    }

    async fn run(&self, id: &str, cancel: oneshot::Receiver<()>) -> Result<()> {
        let store = Arc::clone(&self.inner.store);
        let (key, me) = (id.to_owned(), self.inner.instance.id().to_owned());
        let Some(mut task) = blocking(move || Ok(store.claim_task(&key, &me, now_ms())?)).await?
        else {
            // Canceled, or claimed by another instance.
            return Ok(());
        };
        self.publish(&task);
        if task.kind == TaskKind::Analysis || self.inner.jobs.contains_key(&task.kind) {
            return self.run_job(task, cancel).await;
        }

        let vars: RunVars = task
            .input
            .get("run")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let argv = expand_argv(&self.inner.config.runner, &vars);
        let outcome = self.execute(&task.id, &argv, cancel).await;
        task.finished_at = Some(now_ms());
        task.stdout = outcome.stdout.text();
        task.stderr = outcome.stderr.text();
        task.output_truncated = outcome.stdout.truncated() || outcome.stderr.truncated();
        task.exit_code = outcome.exit_code;
        (task.usage, task.cost_usd) = usage_of(&task.stdout);
        match outcome.end {
            End::Exited if outcome.exit_code == Some(0) => task.status = TaskStatus::Succeeded,
            End::Exited => {
                task.status = TaskStatus::Failed;
                task.error = Some(TaskError {
                    code: Code::TaskFailed,
                    message: match outcome.exit_code {
                        Some(code) => format!("the runner exited with code {code}"),
                        None => "the runner was killed by a signal".into(),
                    },
                });
            }
            End::SpawnFailed(message) => {
                task.status = TaskStatus::Failed;
                task.error = Some(TaskError {
                    code: Code::TaskFailed,
                    message,
                });
            }
            End::TimedOut => {
                task.status = TaskStatus::TimedOut;
                task.error = Some(TaskError {
                    code: Code::TaskTimedOut,
                    message: format!("stopped after {} s", self.inner.config.timeout_secs),
                });
            }
            End::Canceled => task.status = TaskStatus::Canceled,
        }
        self.finish(&task).await
    }

    /// Runs a task of a kind a [`Job`] handles, and stores how it ended.
    async fn run_job(&self, mut task: Task, cancel: oneshot::Receiver<()>) -> Result<()> {
        let outcome = match self.inner.jobs.get(&task.kind) {
            Some(job) => {
                let (id, inner) = (task.id.clone(), Arc::clone(&self.inner));
                let progress = Progress::new(move |stage, percent| {
                    inner.emit(TaskEvent::Progress {
                        id: id.clone(),
                        stage: stage.to_owned(),
                        percent,
                    });
                });
                job.run(task.clone(), progress, cancel).await
            }
            None => JobOutcome::Failed(TaskError {
                code: Code::TaskFailed,
                message: format!("this server runs no {} tasks", task.kind.as_str()),
            }),
        };
        task.finished_at = Some(now_ms());
        match outcome {
            JobOutcome::Succeeded(result) => {
                task.status = TaskStatus::Succeeded;
                task.result = Some(result);
            }
            JobOutcome::Failed(error) => {
                task.status = TaskStatus::Failed;
                task.error = Some(error);
            }
            JobOutcome::Canceled => task.status = TaskStatus::Canceled,
            JobOutcome::TimedOut(message) => {
                task.status = TaskStatus::TimedOut;
                task.error = Some(TaskError {
                    code: Code::TaskTimedOut,
                    message,
                });
            }
        }
        self.finish(&task).await
    }

    async fn execute(&self, id: &str, argv: &[String], cancel: oneshot::Receiver<()>) -> Outcome {
        let config = &self.inner.config;
        let mut outcome = Outcome {
            end: End::Exited,
            exit_code: None,
            stdout: Bounded::new(config.max_output_bytes),
            stderr: Bounded::new(config.max_output_bytes),
        };
        let Some((program, args)) = argv.split_first() else {
            outcome.end = End::SpawnFailed("the runner template is empty".into());
            return outcome;
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match self.inner.spawner.spawn(command).await {
            Ok(child) => child,
            Err(e) => {
                outcome.end = End::SpawnFailed(format!("cannot start `{program}`: {e}"));
                return outcome;
            }
        };
        let pgid = child.id();
        self.record_runner(id, pgid).await;
        let stdout = child
            .stdout
            .take()
            .map(|s| self.pump(id, "stdout", s, config.max_output_bytes));
        let stderr = child
            .stderr
            .take()
            .map(|s| self.pump(id, "stderr", s, config.max_output_bytes));
        let timeout = tokio::time::sleep(Duration::from_secs(config.timeout_secs));
        tokio::pin!(timeout);
        let status = tokio::select! {
            status = child.wait() => Some(status),
            () = &mut timeout => { outcome.end = End::TimedOut; None }
            _ = cancel => { outcome.end = End::Canceled; None }
        };
        let status = match status {
            Some(status) => status.ok(),
            None => {
                signal_group(pgid, Signal::Term);
                match tokio::time::timeout(Duration::from_secs(config.grace_secs), child.wait())
                    .await
                {
                    Ok(status) => status.ok(),
                    Err(_) => {
                        signal_group(pgid, Signal::Kill);
                        child.wait().await.ok()
                    }
                }
            }
        };
        outcome.exit_code = status.and_then(|s| s.code());
        // Whatever the main process left behind in its group goes too.
        signal_group(pgid, Signal::Term);
        let grace = Duration::from_secs(config.grace_secs);
        for pump in [stdout, stderr].into_iter().flatten() {
            let pump = tokio::time::timeout(grace, pump).await;
            let buffer = match pump {
                Ok(Ok(buffer)) => Some(buffer),
                _ => {
                    signal_group(pgid, Signal::Kill);
                    None
                }
            };
            if let Some((stream, buffer)) = buffer {
                if stream == "stdout" {
                    outcome.stdout = buffer;
                } else {
                    outcome.stderr = buffer;
                }
            }
        }
        outcome
    }

    /// Records the runner's pid and start time, so that a start after a crash can end it.
    async fn record_runner(&self, id: &str, pid: Option<u32>) {
        let Some(pid) = pid else { return };
        let store = Arc::clone(&self.inner.store);
        let task = id.to_owned();
        let recorded = blocking(move || {
            let Some(runner) = process::describe(pid) else {
                // Already gone, or no procfs: nothing a restart could match.
                return Ok(());
            };
            Ok(store.set_task_runner(&task, Some(runner))?)
        })
        .await;
        if let Err(e) = recorded {
            tracing::warn!(task = %id, pid, error = %e, "cannot record the runner's process; a crash now would leave it to run");
        }
    }

    fn pump(
        &self,
        id: &str,
        stream: &'static str,
        mut reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
        limit: usize,
    ) -> tokio::task::JoinHandle<(&'static str, Bounded)> {
        let inner = Arc::clone(&self.inner);
        let id = id.to_owned();
        tokio::spawn(async move {
            let mut buffer = Bounded::new(limit);
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        buffer.push(&chunk[..n]);
                        inner.emit(TaskEvent::Output {
                            id: id.clone(),
                            stream,
                            chunk: String::from_utf8_lossy(&chunk[..n]).into_owned(),
                        });
                    }
                }
            }
            (stream, buffer)
        })
    }
}

impl Inner {
    /// Announces an event here, and to the other instances when the store is shared. No
    /// subscriber is fine: the store has the state.
    fn emit(&self, event: TaskEvent) {
        self.relay(&Outgoing {
            origin: self.instance.id(),
            event: Some(&event),
            cancel: None,
        });
        let _ = self.bus.send(event);
    }

    fn relay(&self, message: &Outgoing<'_>) {
        let relay = lock(&self.relay);
        let Some(relay) = relay.as_ref() else { return };
        let payload = match serde_json::to_string(message) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "an event could not be written for the other instances");
                return;
            }
        };
        if relay.try_send(payload).is_err() {
            let dropped = self.relay_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "the relay to the other instances is behind; events were not sent to them"
                );
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// How a task whose server stopped under it ends.
fn interrupted_error() -> TaskError {
    TaskError {
        code: Code::TaskInterrupted,
        message: "the server running the task stopped while it ran".into(),
    }
}

/// Marks interrupted the running tasks of instances gone (see
/// [`Store::interrupt_orphaned_tasks`]) and answers them with every task still queued, which
/// the caller queues: what a start and every heartbeat pick up. Blocking.
fn interrupt_orphans(
    store: &dyn Store,
    me: &str,
    dead_after_ms: Option<i64>,
) -> Result<(Vec<OrphanedTask>, Vec<Task>)> {
    let orphans =
        store.interrupt_orphaned_tasks(me, dead_after_ms, &interrupted_error(), now_ms())?;
    let queued = store
        .unfinished_tasks()?
        .into_iter()
        .filter(|t| t.status == TaskStatus::Queued)
        .collect();
    Ok((orphans, queued))
}

/// Ends the runners of interrupted tasks that ran on this host (on a store of its own, every
/// one: a single instance's predecessors ran here). Answers how many had something to end.
async fn end_runners(instance: &Instance, shared: bool, orphans: &[OrphanedTask]) -> Result<usize> {
    let runners: Vec<_> = orphans
        .iter()
        .filter(|o| !shared || o.host.as_deref() == Some(instance.record.host.as_str()))
        .filter_map(|o| Some((o.task.id.clone(), o.runner?)))
        .collect();
    if runners.is_empty() {
        return Ok(0);
    }
    blocking(move || Ok(process::end_orphans(&runners))).await
}

/// The thread that sends events to the other instances, in order, through the store.
fn start_relay(store: Arc<dyn Store>) -> Result<std::sync::mpsc::SyncSender<String>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(8192);
    std::thread::Builder::new()
        .name("jarvis-task-relay".into())
        .spawn(move || {
            let mut failing = false;
            while let Ok(payload) = rx.recv() {
                match store.notify(cluster::CHANNEL, &payload) {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("events reach the other instances again");
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot send events to the other instances");
                    }
                    Err(_) => {}
                }
            }
        })
        .map_err(|e| EngineError::Internal(format!("cannot start the relay thread: {e}")))?;
    Ok(tx)
}

#[derive(Debug)]
enum End {
    Exited,
    SpawnFailed(String),
    TimedOut,
    Canceled,
}

#[derive(Debug)]
struct Outcome {
    end: End,
    exit_code: Option<i32>,
    stdout: Bounded,
    stderr: Bounded,
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// Signals the whole process group (the runner and everything it started).
fn signal_group(pgid: Option<u32>, signal: Signal) {
    #[cfg(unix)]
    if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
        use nix::sys::signal::{Signal as S, killpg};
        let sig = match signal {
            Signal::Term => S::SIGTERM,
            Signal::Kill => S::SIGKILL,
        };
        // ESRCH (already gone) is the common, harmless case.
        let _ = killpg(nix::unistd::Pid::from_raw(pgid), sig);
    }
}

/// Usage and cost from Claude Code's JSON result (`--output-format json`), when stdout is one.
fn usage_of(stdout: &str) -> (Option<Value>, Option<f64>) {
    let Ok(Value::Object(result)) = serde_json::from_str::<Value>(stdout.trim()) else {
        return (None, None);
    };
    let cost = result
        .get("total_cost_usd")
        .or_else(|| result.get("cost_usd"))
        .and_then(Value::as_f64);
    (result.get("usage").cloned(), cost)
}

/// The runner program the configuration names (empty when it names none).
fn runner_program(config: &TaskConfig) -> &str {
    config.runner.first().map(String::as_str).unwrap_or("")
}

/// Whether `program` (a path, or a bare name looked up in `search_path`) is an executable file.
/// Blocking (it reads file metadata).
pub fn find_program(program: &str, search_path: &[std::path::PathBuf]) -> bool {
    if program.is_empty() {
        return false;
    }
    let executable = |path: &Path| {
        path.is_file() && {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                path.metadata()
                    .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
            }
            #[cfg(not(unix))]
            {
                true
            }
        }
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    search_path.iter().any(|dir| executable(&dir.join(program)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_by_priority_then_arrival() {
        let mut heap = BinaryHeap::new();
        for (priority, seq) in [
            (Priority::Low, 1),
            (Priority::Urgent, 2),
            (Priority::Normal, 3),
            (Priority::Urgent, 4),
            (Priority::High, 5),
        ] {
            heap.push(Queued {
                priority,
                seq,
                id: seq.to_string(),
                pool: Pool::Runner,
            });
        }
        let order: Vec<i64> = std::iter::from_fn(|| heap.pop().map(|q| q.seq)).collect();
        assert_eq!(order, [2, 4, 5, 3, 1]);
    }

    #[test]
    fn usage_comes_from_a_json_result() {
        let (usage, cost) =
            usage_of(r#"{"type":"result","total_cost_usd":0.12,"usage":{"input_tokens":3}}"#);
        assert_eq!(cost, Some(0.12));
        assert_eq!(usage.unwrap()["input_tokens"], 3);
        assert_eq!(usage_of("plain text"), (None, None));
    }

    #[test]
    fn programs_are_found_on_the_path() {
        let dirs = crate::search_path(std::ffi::OsStr::new("/nonexistent:/bin:/usr/bin"));
        assert!(find_program("sh", &dirs));
        assert!(!find_program("sh", &[]), "a bare name needs a search path");
        assert!(find_program("/bin/sh", &[]));
        assert!(!find_program("definitely-not-a-program-jarvis", &dirs));
        assert!(!find_program("/nonexistent/bin/x", &dirs));
    }
}
