//! `cargo xtask contract` (part of `ci`): the OpenAPI document held against the running server
//! by schemathesis — every status a route answers is documented, every request the document
//! allows is accepted and every one it forbids refused, every response matches its schema.
//!
//! The server runs from the debug binary over a generated corpus of 300 resources with a fake
//! runner, so tasks really run. Three runs, because two things a fuzzer does would spoil the
//! rest: revoking keys (key deletion runs on a key of its own, which learns no other key's id)
//! and reusing a connection that a WebSocket handshake has taken over (the WebSocket routes run
//! apart, with a retry on a fresh connection).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, step, target_dir};

/// The schemathesis release the contract is checked with.
const SCHEMATHESIS: &str = "4.32.5";

/// The seed of every run, so that a failure can be replayed; `JARVIS_CONTRACT_SEED` picks another.
const DEFAULT_SEED: &str = "20261202";

/// Installs schemathesis into a virtual environment under the target directory when it is
/// missing; answers its program.
fn ensure_schemathesis() -> Result<PathBuf> {
    let venv = target_dir().join("schemathesis-venv");
    let program = venv.join("bin").join("schemathesis");
    let installed = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(SCHEMATHESIS));
    if installed {
        return Ok(program);
    }
    step(
        "python3 -m venv (for schemathesis)",
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    )?;
    step(
        &format!("pip install schemathesis=={SCHEMATHESIS}"),
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            &format!("schemathesis=={SCHEMATHESIS}"),
        ]),
    )?;
    Ok(program)
}

/// The secret `jarvis keys create --json` printed.
fn created_key(binary: &Path, config: &Path, name: &str) -> Result<String> {
    let out = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(["--log-level", "warn", "keys", "create", "--name", name])
        .args(["--scope", "admin", "--json"])
        .output()
        .context("cannot run jarvis keys create")?;
    if !out.status.success() {
        bail!(
            "jarvis keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("\"key\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .context("jarvis keys create printed no key")
}

/// Runs the contract check.
pub fn contract() -> Result<()> {
    let schemathesis = ensure_schemathesis()?;
    step(
        "cargo build -p jarvis",
        cargo().args(["build", "-p", "jarvis", "--locked"]),
    )?;
    let binary = target_dir().join("debug").join("jarvis");
    let dir = std::env::temp_dir().join(format!("jarvis-contract-{}", std::process::id()));
    let result = run(&schemathesis, &binary, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(schemathesis: &Path, binary: &Path, dir: &Path) -> Result<()> {
    let corpus = dir.join("corpus");
    println!("{}", jarvis_testkit::generate(&corpus, 300)?);
    // Claude Code usage logs in the corpus home, so the cost routes answer over real entries.
    let logs = jarvis_testkit::generate_usage_logs(&corpus.join(".claude"), 2)?;
    println!("usage logs: {} files, {} bytes", logs.files, logs.bytes);
    let runner = dir.join("runner.sh");
    std::fs::write(
        &runner,
        "#!/bin/sh\necho '{\"type\":\"result\",\"result\":\"done\",\"total_cost_usd\":0.001}'\n",
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755))?;
    }
    let config = dir.join("jarvis.toml");
    let mut text = std::fs::read_to_string(corpus.join("jarvis.toml"))?;
    text.push_str(&format!(
        "\n[tasks]\nrunner = [{:?}, \"{{prompt}}\"]\n[storage]\ndata_dir = {:?}\n",
        runner.display().to_string(),
        dir.join("data").display().to_string()
    ));
    std::fs::write(&config, text)?;
    let key = created_key(binary, &config, "contract")?;
    let revoker = created_key(binary, &config, "contract revoker")?;
    // The corpus home's logs only, whatever this shell's environment names.
    let (mut server, address) =
        crate::http_bench::start_server(binary, &config, &corpus, &[("CLAUDE_CONFIG_DIR", "")])?;
    let seed = std::env::var("JARVIS_CONTRACT_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    let document = format!("{address}/api/v2/openapi.json");
    let runs: [(&str, &str, &[&str]); 3] = [
        (
            "every route but key deletion and the WebSocket handshake",
            &key,
            &[
                "--exclude-method",
                "DELETE",
                "--exclude-path-regex",
                "^(/api/v2)?/ws$",
            ],
        ),
        (
            "the WebSocket handshake (a fresh connection after each switch)",
            &key,
            &[
                "--include-path-regex",
                "^(/api/v2)?/ws$",
                "--request-retries",
                "2",
            ],
        ),
        (
            "key deletion, with a key of its own",
            &revoker,
            &["--include-method", "DELETE"],
        ),
    ];
    let mut result = Ok(());
    for (what, secret, filters) in runs {
        let mut command = Command::new(schemathesis);
        command
            .arg("--config-file")
            .arg(root().join("schemathesis.toml"))
            .arg("run")
            .arg(&document)
            .args(["--checks", "all", "--seed", &seed, "--no-color"])
            .arg("-H")
            .arg(format!("Authorization: Bearer {secret}"))
            .args(filters)
            // contract/contract_hooks.py: cases whose violation would never be sent are skipped.
            .env("PYTHONPATH", root().join("xtask").join("contract"))
            .env("SCHEMATHESIS_HOOKS", "contract_hooks");
        // Every request and answer, to study a failure: `JARVIS_CONTRACT_REPORT=<folder>`.
        if let Some(dir) = std::env::var_os("JARVIS_CONTRACT_REPORT") {
            command
                .args(["--report", "ndjson,har", "--report-dir"])
                .arg(dir);
        }
        let outcome = step(
            &format!("schemathesis {SCHEMATHESIS}: {what} (seed {seed})"),
            &mut command,
        );
        if outcome.is_err() {
            result = outcome;
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    result
}
