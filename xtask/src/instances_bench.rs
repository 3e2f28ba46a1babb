//! `cargo xtask bench --instances`: two release servers on one throw-away PostgreSQL cluster.
//! Tasks submitted to A (the runner is `/bin/echo`, so the time is Jarvis's own) are timed
//! until a WebSocket client of A, and one of B, hear them succeed; the difference is what the
//! relay between instances (`NOTIFY`, the listener thread, B's hub) adds. The client is
//! `xtask/data/relay.mjs`, run by Node.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::http_bench::{start_server, stop};

/// Starts the two instances, creates an admin key, runs `runs` tasks and prints the timings.
pub fn instances_bench(binary: &Path, runs: usize) -> Result<()> {
    crate::ensure_postgresql()?;
    let cluster = jarvis_testkit::postgres::Cluster::start()?;
    let url = cluster.create_database("jarvis")?;
    let dir = std::env::temp_dir().join(format!("jarvis-bench-instances-{}", std::process::id()));
    let result = run(binary, &dir, &url, runs);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(binary: &Path, dir: &Path, url: &str, runs: usize) -> Result<()> {
    let mut configs = Vec::new();
    for name in ["a", "b"] {
        let home = dir.join(name);
        let commands = home.join(".claude/commands/tools");
        std::fs::create_dir_all(&commands)?;
        std::fs::write(commands.join("lint.md"), "Lint $ARGUMENTS\n")?;
        let config = home.join("jarvis.toml");
        std::fs::write(
            &config,
            format!(
                "[tasks]\nrunner = [\"/bin/echo\", \"{{prompt}}\"]\nconcurrency = 4\n\
                 [storage]\ndata_dir = {:?}\n\
                 [store]\nurl = {url:?}\ninstance_name = {name:?}\n",
                home.join("data").to_string_lossy()
            ),
        )?;
        configs.push((home, config));
    }
    let (home_a, config_a) = &configs[0];
    let (home_b, config_b) = &configs[1];
    let created = Command::new(binary)
        .arg("--config")
        .arg(config_a)
        .args([
            "--log-level",
            "warn",
            "keys",
            "create",
            "--name",
            "bench",
            "--scope",
            "admin",
            "--json",
        ])
        .env("HOME", home_a)
        .output()
        .context("cannot run jarvis keys create")?;
    if !created.status.success() {
        bail!(
            "jarvis keys create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    let created: serde_json::Value = serde_json::from_slice(&created.stdout)?;
    let key = created["key"]
        .as_str()
        .context("no key in the answer")?
        .to_owned();
    let (a, address_a) = start_server(binary, config_a, home_a, &[])?;
    let b = start_server(binary, config_b, home_b, &[]);
    let (b, address_b) = match b {
        Ok(started) => started,
        Err(e) => {
            stop(a);
            return Err(e);
        }
    };
    println!(
        "\n==> two instances on one PostgreSQL store: {runs} tasks submitted to A, heard on A and on B"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/relay.mjs");
    let out = Command::new("node")
        .arg("--experimental-websocket")
        .arg("--no-warnings")
        .arg(&script)
        .args([&address_a, &address_b, &key, &runs.to_string()])
        .output()
        .context("cannot run node (the WebSocket client)");
    stop(a);
    stop(b);
    let out = out?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        bail!(
            "the client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
