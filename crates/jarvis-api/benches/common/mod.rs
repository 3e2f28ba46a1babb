//! What the API benchmarks share: the server's parts over a temporary home, and percentiles.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jarvis_api::{ExecutionFollower, KeyStore};
use jarvis_discovery::{DiscoveryConfig, Environment, LiveCatalog, ScanRoots};
use jarvis_store::{SqliteStore, Store};
use jarvis_tasks::{TaskConfig, TaskEngine};

/// The value at quantile `p` (0–1) of `sorted`; the default when it is empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Everything `Application::build` takes besides the configuration and the services, over a
/// temporary home that lives as long as `dir`.
pub struct Parts {
    pub dir: tempfile::TempDir,
    pub catalog: LiveCatalog,
    pub store: Arc<dyn Store>,
    pub follower: ExecutionFollower,
    pub engine: TaskEngine,
    pub keys: Arc<KeyStore>,
}

/// Writes the home with `setup`, loads its catalog, opens the store and starts the task engine;
/// the follower polls n8n first after `follow_every`.
pub async fn parts(setup: impl FnOnce(&Path), tasks: TaskConfig, follow_every: Duration) -> Parts {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let env = Environment {
        home: Some(dir.path().to_path_buf()),
        vars: Default::default(),
    };
    let roots = DiscoveryConfig::default().resolve(&env).unwrap();
    parts_over(dir, roots, tasks, follow_every).await
}

/// [`parts`] over a catalog of `roots`, with the store in `dir`.
pub async fn parts_over(
    dir: tempfile::TempDir,
    roots: ScanRoots,
    tasks: TaskConfig,
    follow_every: Duration,
) -> Parts {
    let catalog = tokio::task::spawn_blocking(move || LiveCatalog::load(roots))
        .await
        .unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("data/jarvis.db")).unwrap());
    let follower = ExecutionFollower::new(
        Arc::clone(&store),
        follow_every,
        Duration::from_secs(5),
        Duration::from_secs(3600),
    );
    let engine = TaskEngine::start(Arc::clone(&store), tasks).await.unwrap();
    let keys = Arc::new(KeyStore::open(dir.path().join("data/keys.json")).unwrap());
    Parts {
        dir,
        catalog,
        store,
        follower,
        engine,
        keys,
    }
}
