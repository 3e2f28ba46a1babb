//! The catalog follows the filesystem: creates, edits, renames and deletes, through the watcher
//! and through the periodic rescan.

use std::fs;
use std::path::Path;
use std::time::Duration;

use jarvis_core::ResourceKind;
use jarvis_discovery::{CatalogWatcher, DiscoveryConfig, Environment, LiveCatalog, WatchOptions};
use jarvis_testkit::agent_file as agent;

fn catalog_over(dir: &Path) -> LiveCatalog {
    fs::create_dir_all(dir.join(".claude/agents")).unwrap();
    let env = Environment {
        home: Some(dir.to_path_buf()),
        vars: Default::default(),
    };
    LiveCatalog::load(DiscoveryConfig::default().resolve(&env).unwrap())
}

/// Polls `check` until it holds or ten seconds pass.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    jarvis_testkit::eventually_blocking(what, Duration::from_secs(10), || check().then_some(()));
}

#[test]
fn watcher_applies_create_edit_rename_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_over(dir.path());
    let swaps = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = swaps.clone();
    catalog.on_swap(move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let _watcher = CatalogWatcher::start(
        catalog.clone(),
        WatchOptions {
            watch_files: true,
            debounce: Duration::from_millis(50),
            rescan_interval: None,
        },
    )
    .unwrap();
    let agents = dir.path().join(".claude/agents");
    let g0 = catalog.snapshot().generation();

    fs::write(agents.join("new.md"), agent("newcomer", "First version.")).unwrap();
    eventually("created agent appears", || {
        catalog
            .snapshot()
            .resolve(ResourceKind::Agent, "newcomer")
            .is_some()
    });
    let g1 = catalog.snapshot().generation();
    assert!(g1 > g0);

    fs::write(agents.join("new.md"), agent("newcomer", "Second version.")).unwrap();
    eventually("edit is applied", || {
        catalog
            .snapshot()
            .resolve(ResourceKind::Agent, "newcomer")
            .is_some_and(|r| r.description == "Second version.")
    });
    let g2 = catalog.snapshot().generation();
    assert!(g2 > g1);

    fs::rename(agents.join("new.md"), agents.join("renamed.md")).unwrap();
    eventually("rename is applied", || {
        catalog
            .snapshot()
            .resolve(ResourceKind::Agent, "newcomer")
            .is_some_and(|r| r.source.ends_with("renamed.md"))
    });
    assert_eq!(
        catalog.snapshot().of_kind(ResourceKind::Agent).count(),
        1,
        "the old path is gone"
    );

    fs::remove_file(agents.join("renamed.md")).unwrap();
    eventually("delete is applied", || {
        catalog
            .snapshot()
            .resolve(ResourceKind::Agent, "newcomer")
            .is_none()
    });
    assert!(catalog.snapshot().generation() > g2);
    assert!(swaps.load(std::sync::atomic::Ordering::SeqCst) >= 4);
}

#[test]
fn periodic_rescan_catches_changes_without_a_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_over(dir.path());
    let _watcher = CatalogWatcher::start(
        catalog.clone(),
        WatchOptions {
            watch_files: false,
            debounce: Duration::from_millis(50),
            rescan_interval: Some(Duration::from_millis(100)),
        },
    )
    .unwrap();
    let g0 = catalog.snapshot().generation();
    fs::write(
        dir.path().join(".claude/agents/late.md"),
        agent("late", "Arrived after start-up."),
    )
    .unwrap();
    eventually("rescan picks up the file", || {
        catalog
            .snapshot()
            .resolve(ResourceKind::Agent, "late")
            .is_some()
    });
    let g1 = catalog.snapshot().generation();
    assert!(g1 > g0);
    // Rescans that find nothing new leave the generation alone.
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(catalog.snapshot().generation(), g1);
}

#[test]
fn a_watched_folder_created_later_is_found_by_the_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let env = Environment {
        home: Some(dir.path().to_path_buf()),
        vars: Default::default(),
    };
    let catalog = LiveCatalog::load(DiscoveryConfig::default().resolve(&env).unwrap());
    let watcher = CatalogWatcher::start(
        catalog.clone(),
        WatchOptions {
            watch_files: true,
            debounce: Duration::from_millis(50),
            rescan_interval: Some(Duration::from_millis(100)),
        },
    )
    .unwrap();
    assert!(watcher.watched().is_empty(), "nothing exists to watch yet");
    fs::create_dir_all(dir.path().join(".claude/commands")).unwrap();
    fs::write(
        dir.path().join(".claude/commands/hello.md"),
        "Say hello to $ARGUMENTS\n",
    )
    .unwrap();
    eventually("command appears", || {
        catalog
            .snapshot()
            .resolve(ResourceKind::Command, "hello")
            .is_some()
    });
}

#[test]
fn reading_the_files_does_not_trigger_a_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_over(dir.path());
    let agents = dir.path().join(".claude/agents");
    for i in 0..20 {
        fs::write(
            agents.join(format!("a{i}.md")),
            agent(&format!("a{i}"), "Reads."),
        )
        .unwrap();
    }
    let _watcher = CatalogWatcher::start(
        catalog.clone(),
        WatchOptions {
            watch_files: true,
            debounce: Duration::from_millis(50),
            rescan_interval: None,
        },
    )
    .unwrap();
    // A rescan opens and reads every file; others may read them too (an editor, `cat`).
    catalog.reload();
    for i in 0..20 {
        fs::read(agents.join(format!("a{i}.md"))).unwrap();
    }
    let settled = catalog.reloads();
    std::thread::sleep(Duration::from_millis(600)); // many debounce periods
    assert_eq!(
        catalog.reloads(),
        settled,
        "reads alone caused rescans (each rescan's reads would cause the next)"
    );
    // A write still does.
    fs::write(agents.join("a0.md"), agent("a0", "Changed.")).unwrap();
    eventually("the edit is picked up", || catalog.reloads() > settled);
}
