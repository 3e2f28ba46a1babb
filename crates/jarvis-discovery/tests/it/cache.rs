//! The catalog cache: a start that finds one serves exactly what a full scan would, reading only
//! what changed; a damaged, foreign or outdated cache is set aside, said so, and costs nothing
//! but the time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jarvis_core::ResourceKind;
use jarvis_discovery::{CacheStart, CatalogSnapshot, LiveCatalog, ScanRoots, SearchQuery};

use crate::fixture;
use crate::scan::everything;

/// What a few searches answer, including typo and prefix matches and shadowed resources.
fn answers(snapshot: &CatalogSnapshot) -> String {
    let mut all = String::new();
    for text in ["review", "reviw", "deploy test", "secu", "helper", "db"] {
        for include_shadowed in [false, true] {
            let query = SearchQuery {
                include_shadowed,
                ..SearchQuery::new(text)
            };
            all.push_str(&serde_json::to_string(&snapshot.search(&query)).unwrap());
        }
    }
    all
}

/// Starts from the cache at `path` and checks that the result is a full scan's.
fn start_agrees(roots: &ScanRoots, path: &Path) -> LiveCatalog {
    let cached = LiveCatalog::load_cached(roots.clone(), path);
    let full = LiveCatalog::load(roots.clone());
    let (a, b) = (cached.snapshot(), full.snapshot());
    assert_eq!(everything(&a), everything(&b));
    assert_eq!(answers(&a), answers(&b));
    assert_eq!(a.generation(), 1);
    cached
}

fn cache_path(dir: &Path) -> PathBuf {
    dir.join("data/catalog.cache")
}

/// The fixture, aged, with a cache of it written into a data folder of its own.
fn cached_fixture() -> (fixture::Fixture, tempfile::TempDir, PathBuf) {
    let fx = fixture::build();
    fixture::age(fx._dir.path());
    let data = tempfile::tempdir().unwrap();
    let path = cache_path(data.path());
    LiveCatalog::load_cached(fx.roots(), &path)
        .save_cache()
        .unwrap();
    (fx, data, path)
}

#[test]
fn a_start_from_the_cache_reads_nothing_unchanged_and_serves_what_a_full_scan_does() {
    let fx = fixture::build();
    // Bodies long enough to be held compressed, as most real ones are.
    for i in 0..8 {
        std::fs::write(
            fx.claude.join(format!("agents/long-{i}.md")),
            format!(
                "---\nname: long-{i}\ndescription: A long one\n---\n{}",
                format!("Step {i}: review the deployment plan and its rollback. ").repeat(60)
            ),
        )
        .unwrap();
    }
    fixture::age(fx._dir.path());
    let data = tempfile::tempdir().unwrap();
    let path = cache_path(data.path());

    let first = LiveCatalog::load_cached(fx.roots(), &path);
    let status = first.cache_status().unwrap();
    assert_eq!(status.start, CacheStart::Missing);
    assert_eq!(status.saves, 0);
    first.save_cache().unwrap();
    let status = first.cache_status().unwrap();
    assert_eq!(status.saves, 1);
    assert!(status.save_error.is_none());
    let parsed_cold = first.snapshot().stats().reuse.parsed;

    let second = start_agrees(&fx.roots(), &path);
    let status = second.cache_status().unwrap();
    assert_eq!(status.start, CacheStart::Loaded, "{status:?}");
    assert!(status.files_loaded > 10, "{status:?}");
    let stats = second.snapshot().stats().clone();
    // Only what the cache never holds is parsed again (workflow exports).
    assert!(
        stats.reuse.parsed < parsed_cold / 4 && stats.reuse.reused >= status.files_loaded / 2,
        "{:?} after a cold {parsed_cold}",
        stats.reuse
    );
    // Compressed bodies stay in the cache file until asked for.
    let in_file = second
        .snapshot()
        .resources()
        .iter()
        .filter(|r| !r.body.in_memory())
        .count();
    assert!(in_file >= 8, "{in_file} bodies left in the file");
    // Only resources the cache does not hold are tokenized again: MCP servers, workflows,
    // and shadowed definitions (copies marked as such by every scan).
    let snapshot = second.snapshot();
    let not_held = snapshot
        .resources()
        .iter()
        .filter(|r| {
            matches!(r.kind, ResourceKind::McpServer | ResourceKind::Workflow) || !r.is_active()
        })
        .count();
    assert!(
        stats.indexed <= not_held && not_held < snapshot.resources().len(),
        "{} of {} tokenized, {not_held} not held",
        stats.indexed,
        snapshot.resources().len()
    );
}

#[test]
fn changes_between_runs_are_read_and_the_rest_comes_from_the_cache() {
    let (fx, _data, path) = cached_fixture();

    // While it was not running: an agent added, one rewritten, a command folder removed, a
    // file added beside a skill.
    std::fs::write(
        fx.claude.join("agents/probe-new.md"),
        "---\nname: probe-new\ndescription: Added while stopped\n---\nA new body about kubernetes.\n",
    )
    .unwrap();
    let agents: Vec<PathBuf> = std::fs::read_dir(fx.claude.join("agents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !p.ends_with("probe-new.md"))
        .collect();
    let rewritten = agents.first().expect("an agent file");
    let text = std::fs::read_to_string(rewritten).unwrap();
    std::fs::write(
        rewritten,
        format!("{text}\nAlso watches zeppelin fleets.\n"),
    )
    .unwrap();
    let sub = std::fs::read_dir(fx.claude.join("commands"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a namespaced commands folder");
    std::fs::remove_dir_all(&sub).unwrap();
    std::fs::write(
        fx.claude.join("skills/helper/references/added.md"),
        "# Added\n",
    )
    .unwrap();

    let catalog = start_agrees(&fx.roots(), &path);
    let snapshot = catalog.snapshot();
    assert!(snapshot.resolve(ResourceKind::Agent, "probe-new").is_some());
    let hits = snapshot.search(&SearchQuery::new("zeppelin"));
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(
        snapshot.stats().reuse.parsed <= 8,
        "{:?}",
        snapshot.stats().reuse
    );
}

#[test]
fn a_damaged_or_foreign_cache_is_set_aside_and_said_so() {
    let (fx, data, path) = cached_fixture();
    let good = std::fs::read(&path).unwrap();

    let damaged = |bytes: &[u8], why: &str| {
        std::fs::write(&path, bytes).unwrap();
        let catalog = start_agrees(&fx.roots(), &path);
        let status = catalog.cache_status().unwrap();
        assert_eq!(status.start, CacheStart::Unusable, "{why}: {status:?}");
        assert!(status.reason.is_some(), "{why}");
        // Every file was read.
        assert_eq!(catalog.snapshot().stats().reuse.reused, 0, "{why}");
    };
    // One byte changed anywhere: header, bodies, records, index or checksum.
    for tenth in 0..10 {
        let mut flipped = good.clone();
        let at = (flipped.len() - 1) * tenth / 9;
        flipped[at] ^= 0x40;
        damaged(&flipped, &format!("byte {at} of {} changed", good.len()));
    }
    damaged(&good[..good.len() - 9], "cut short");
    damaged(&good[..good.len() / 3], "cut at a third");
    damaged(b"JARVISCC", "only the magic");
    damaged(b"not a cache at all, just some text", "foreign");
    let mut other_version = good.clone();
    // The version string follows the magic and the format number.
    other_version[16] ^= 0x01;
    damaged(&other_version, "another version");
    let mut big_length = good.clone();
    big_length[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    damaged(&big_length, "a length past the end");

    // Written under other settings (another project folder): not used.
    std::fs::write(&path, &good).unwrap();
    let mut roots = fx.roots();
    roots.projects.pop();
    let catalog = LiveCatalog::load_cached(roots.clone(), &path);
    let status = catalog.cache_status().unwrap();
    assert_eq!(status.start, CacheStart::Unusable);
    assert!(status.reason.unwrap().contains("settings"));
    assert_eq!(
        everything(&catalog.snapshot()),
        everything(&LiveCatalog::load(roots).snapshot())
    );

    // A cache that cannot be written is said so, and the catalog serves on.
    let blocked = data.path().join("blocked");
    std::fs::write(&blocked, "a file where a folder should be").unwrap();
    let catalog = LiveCatalog::load_cached(fx.roots(), blocked.join("catalog.cache"));
    assert!(catalog.save_cache().is_err());
    assert!(catalog.cache_status().unwrap().save_error.is_some());
    assert_eq!(catalog.snapshot().generation(), 1);
}

#[test]
fn the_cache_holds_no_secret_and_no_mcp_server() {
    let fx = fixture::build();
    let data = tempfile::tempdir().unwrap();
    let path = cache_path(data.path());
    let catalog = LiveCatalog::load_cached(fx.roots(), &path);
    assert!(catalog.snapshot().of_kind(ResourceKind::McpServer).count() > 3);
    catalog.save_cache().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let bytes = std::fs::read(&path).unwrap();
    for secret in [
        "literal-header-secret",
        "tok-user-4242",
        "sk-desktop-9999",
        "local-db-pass",
        "mcpServers",
        "PGPASSWORD",
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the cache"
        );
    }
}

#[test]
fn the_cache_is_written_in_the_background_after_a_start() {
    let fx = fixture::build();
    fixture::age(fx._dir.path());
    let data = tempfile::tempdir().unwrap();
    let path = cache_path(data.path());
    let catalog = LiveCatalog::load_cached(fx.roots(), &path);
    jarvis_testkit::eventually_blocking("the cache write", Duration::from_secs(20), || {
        (catalog.cache_status().unwrap().saves > 0).then_some(())
    });
    assert!(path.is_file());
    let next = start_agrees(&fx.roots(), &path);
    assert_eq!(next.cache_status().unwrap().start, CacheStart::Loaded);
}

#[test]
fn after_a_start_that_read_every_file_the_bodies_move_to_the_cache_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("corpus");
    jarvis_testkit::generate(&dir, 3000).unwrap();
    fixture::age(&dir);
    let roots = fixture::generated_roots(&dir);
    let path = cache_path(temp.path());
    let catalog = LiveCatalog::load_cached(roots.clone(), &path);
    let held = catalog.snapshot().body_bytes();
    assert!(held > 8 << 20, "{held} bytes of bodies");
    jarvis_testkit::eventually_blocking(
        "the catalog to move to its cache file",
        Duration::from_secs(60),
        || (catalog.snapshot().generation() >= 2).then_some(()),
    );
    let snapshot = catalog.snapshot();
    assert!(
        snapshot.body_bytes() < held / 20,
        "{} bytes of bodies still in memory",
        snapshot.body_bytes()
    );
    let full = LiveCatalog::load(roots).snapshot();
    assert_eq!(everything(&snapshot), everything(&full));
    assert_eq!(answers(&snapshot), answers(&full));
    let status = catalog.cache_status().unwrap();
    assert_eq!(status.saves, 1, "{status:?}");
}
