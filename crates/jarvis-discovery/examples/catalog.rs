//! Loads the catalog Claude Code would see (or the home folder given as the first argument),
//! prints the counts per kind, the best hits for a query (the second argument) and every
//! diagnostic: `cargo run -p jarvis-discovery --example catalog -- ~ "code review"`.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example prints"
)]

use std::path::PathBuf;

use jarvis_discovery::{DiscoveryConfig, Environment, LiveCatalog, SearchQuery};

fn main() -> Result<(), jarvis_discovery::Error> {
    let mut args = std::env::args().skip(1);
    let mut env = Environment::from_process();
    if let Some(home) = args.next() {
        env.home = Some(PathBuf::from(home));
        env.vars.remove("CLAUDE_CONFIG_DIR");
    }
    let query = args.next().unwrap_or_else(|| "code review".to_owned());

    let roots = DiscoveryConfig::default().resolve(&env)?;
    let snapshot = LiveCatalog::load(roots).snapshot();
    for (kind, count) in &snapshot.stats().kinds {
        println!(
            "{:>6} {} ({} shadowed)",
            count.active,
            kind.plural(),
            count.shadowed
        );
    }
    println!("\n{query:?}:");
    for hit in snapshot.search(&SearchQuery::new(query.clone())) {
        println!(
            "  {:<10} {:<40} {}",
            hit.kind.as_str(),
            hit.name,
            hit.description
        );
    }
    for problem in snapshot.diagnostics() {
        eprintln!(
            "{} {}: {}",
            problem.code.as_str(),
            problem.path.display(),
            problem.message
        );
    }
    Ok(())
}
