//! Benchmarks: a cold load of a 10,000-resource catalog, and search over it.
//!
//! `cargo xtask bench` generates the corpus once and passes it in `JARVIS_BENCH_CORPUS`; run
//! directly (or as a test), the benchmark generates its own in a temporary folder.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_main};
use jarvis_discovery::{
    DiscoveryConfig, Environment, LiveCatalog, ProjectConfig, ScanRoots, SearchQuery, scan,
};
use jarvis_testkit::Layout;

const RESOURCES: usize = 10_000;

fn corpus() -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(dir) = std::env::var_os("JARVIS_BENCH_CORPUS") {
        return (PathBuf::from(dir), None);
    }
    let temp = tempfile::tempdir().expect("temporary folder");
    let dir = temp.path().join("corpus");
    jarvis_testkit::generate(&dir, RESOURCES).expect("corpus generated");
    (dir, Some(temp))
}

fn roots(dir: &std::path::Path) -> ScanRoots {
    let layout = Layout::of(dir);
    let config = DiscoveryConfig {
        claude_dir: Some(layout.claude_dir),
        claude_json: Some(layout.claude_json),
        desktop_config: None,
        projects: layout
            .projects
            .into_iter()
            .map(ProjectConfig::Path)
            .collect(),
        workflow_paths: vec![layout.workflows],
        ..DiscoveryConfig::default()
    };
    let env = Environment {
        home: Some(dir.to_path_buf()),
        vars: Default::default(),
    };
    config.resolve(&env).expect("corpus configuration resolves")
}

fn benches(c: &mut Criterion) {
    let (dir, _keep) = corpus();
    let roots = roots(&dir);

    let mut group = c.benchmark_group("catalog_10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("scan", |b| b.iter(|| black_box(scan(&roots))));
    group.bench_function("cold_load", |b| {
        b.iter(|| black_box(LiveCatalog::load(roots.clone()).snapshot()))
    });
    group.finish();

    let snapshot = LiveCatalog::load(roots).snapshot();
    let mut group = c.benchmark_group("search_10k");
    for query in [
        "kubernetes",
        "deploy pipeline",
        "reveiw",
        "kube",
        "circuit breaker retry",
    ] {
        group.bench_with_input(BenchmarkId::from_parameter(query), query, |b, q| {
            let query = SearchQuery::new(q);
            b.iter(|| black_box(snapshot.search(&query)))
        });
    }
    let mut agents_only = SearchQuery::new("security review");
    agents_only.kinds = vec![jarvis_core::ResourceKind::Agent];
    group.bench_function("security review (agents)", |b| {
        b.iter(|| black_box(snapshot.search(&agents_only)))
    });
    group.finish();
}

/// Every catalog benchmark, with criterion's command-line options (what `criterion_group!`
/// writes, with a doc comment it cannot carry).
fn catalog() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
}
criterion_main!(catalog);
