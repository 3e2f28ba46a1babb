//! `cargo xtask`: the project's chores, in Rust so they run wherever cargo does.
//!
//! - `ci`: everything CI checks — formatting, clippy with `-D warnings`, every test, `cargo deny`.
//! - `deny`: licences, bans, sources and advisories (offline, from the RustSec snapshot when one
//!   is beside the checkout), installing cargo-deny when it is missing.
//! - `gen-corpus`: writes a realistic tree of resource files for benchmarks.
//! - `bench`: runs the benchmarks and prints what goes into `docs/benchmarks.md`.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let (task, rest) = args
        .split_first()
        .map_or(("help", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "ci" => ci(),
        "deny" => deny(),
        "gen-corpus" => gen_corpus(rest),
        "bench" => bench(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci                                  fmt check, clippy -D warnings, all tests, cargo deny
  deny                                cargo deny check (offline with ../shared/advisory-db)
  gen-corpus --out DIR [--count N]    write a realistic tree of N resources (default 10000)
  bench [--quick] [--http] [--idle]   run the benchmarks (criterion, HTTP load with wrk, memory);
                                      --http skips criterion; --idle measures only an idle
                                      server's memory and CPU";

fn root() -> PathBuf {
    // xtask lives at <root>/xtask.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn step(name: &str, cmd: &mut Command) -> Result<()> {
    println!("\n==> {name}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

/// The shared folder beside the checkout, if any (`JARVIS_SHARED` overrides).
fn shared_dir() -> Option<PathBuf> {
    let dir = env::var_os("JARVIS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("..").join("shared"));
    dir.is_dir().then_some(dir)
}

fn ci() -> Result<()> {
    step(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    step(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let mut test = cargo();
    test.args(["test", "--workspace", "--all-targets", "--locked"]);
    if env::var_os("JARVIS_CORPUS").is_none()
        && let Some(shared) = shared_dir()
    {
        let corpus = shared.join("corpus");
        if corpus.is_dir() {
            test.env("JARVIS_CORPUS", corpus);
        }
    }
    match env::var_os("JARVIS_CORPUS").or_else(|| {
        test.get_envs()
            .find(|(k, _)| *k == "JARVIS_CORPUS")
            .and_then(|(_, v)| v.map(ToOwned::to_owned))
    }) {
        Some(corpus) => println!(
            "real-corpus suite: runs against {}",
            PathBuf::from(corpus).display()
        ),
        None => {
            println!("real-corpus suite: DID NOT RUN (no ../shared/corpus and JARVIS_CORPUS unset)")
        }
    }
    let mut totals = TestTotals::default();
    totals.run("cargo test", &mut test)?;
    totals.run(
        "cargo test --doc",
        cargo().args(["test", "--workspace", "--doc", "--locked"]),
    )?;
    deny()?;
    // The closing line: every test of every binary, summed.
    println!(
        "\ntests: {} passed, {} failed",
        totals.passed, totals.failed
    );
    Ok(())
}

/// Sums the `test result:` lines of cargo test runs while passing their output through.
#[derive(Debug, Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
}

impl TestTotals {
    fn run(&mut self, name: &str, cmd: &mut Command) -> Result<()> {
        use std::io::{BufRead, BufReader};
        println!("\n==> {name}");
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                self.passed += count_before(rest, " passed");
                self.failed += count_before(rest, " failed");
            }
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("{name} failed ({status})");
        }
        Ok(())
    }
}

/// The number just before `label` in `text` (`ok. 12 passed; 0 failed` gives 12 for ` passed`).
fn count_before(text: &str, label: &str) -> u64 {
    text.find(label)
        .and_then(|end| text[..end].rsplit(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn deny() -> Result<()> {
    ensure_cargo_deny()?;
    let mut cmd = cargo();
    match prepare_advisory_snapshot()? {
        Some(db_root) => {
            println!("advisories from the snapshot at {}", db_root.display());
            // `--offline` also stops cargo-deny's own `cargo metadata` from downloading crates,
            // so every crate of every target must be fetched first.
            step("cargo fetch", cargo().args(["fetch", "--locked"]))?;
            cmd.env("JARVIS_ADVISORY_DBS", db_root)
                .args(["deny", "--offline", "check"]);
        }
        None => {
            println!("no advisory snapshot beside the checkout; cargo-deny fetches the database");
            cmd.args(["deny", "check"]);
        }
    }
    step("cargo deny check", &mut cmd)
}

fn ensure_cargo_deny() -> Result<()> {
    let found = cargo()
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Ok(());
    }
    step(
        "cargo install cargo-deny",
        cargo().args(["install", "cargo-deny", "--locked"]),
    )
}

/// cargo-deny reads a database only from a git checkout named after its URL, so the snapshot is
/// copied into such a folder under the target directory and committed once.
fn prepare_advisory_snapshot() -> Result<Option<PathBuf>> {
    let Some(shared) = shared_dir() else {
        return Ok(None);
    };
    let snapshot = shared.join("advisory-db");
    if !snapshot.join("crates").is_dir() {
        return Ok(None);
    }
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let db_root = target.join("advisory-dbs");
    let db = db_root.join("advisory-db-3157b0e258782691");
    let marker = db.join(".jarvis-snapshot");
    let wanted = std::fs::read_to_string(snapshot.join("SNAPSHOT.md")).unwrap_or_default();
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(Some(db_root));
    }
    if db.exists() {
        std::fs::remove_dir_all(&db).with_context(|| format!("cannot clear {}", db.display()))?;
    }
    copy_dir(&snapshot, &db)?;
    let git = |args: &[&str]| -> Result<()> {
        let status = Command::new("git")
            .args(args)
            .current_dir(&db)
            .env("GIT_AUTHOR_NAME", "jarvis")
            .env("GIT_AUTHOR_EMAIL", "jarvis@localhost")
            .env("GIT_COMMITTER_NAME", "jarvis")
            .env("GIT_COMMITTER_EMAIL", "jarvis@localhost")
            .stdout(std::process::Stdio::null())
            .status()
            .context("cannot run git")?;
        if !status.success() {
            bail!("git {args:?} failed");
        }
        Ok(())
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "RustSec advisory snapshot"])?;
    std::fs::write(&marker, wanted)?;
    Ok(Some(db_root))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
            // The snapshot is read-only; the copy must be writable so it can be replaced later.
            let mut perms = std::fs::metadata(&dest)?.permissions();
            #[expect(
                clippy::permissions_set_readonly_false,
                reason = "the copy is ours to manage"
            )]
            perms.set_readonly(false);
            std::fs::set_permissions(&dest, perms)?;
        }
    }
    Ok(())
}

/// Starts the release server on the corpus and loads it with wrk at 64 connections.
fn http_bench(binary: &Path, config: &Path, corpus: &Path, quick: bool) -> Result<()> {
    use std::io::{BufRead, BufReader};

    ensure_wrk()?;
    let mut server = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(["serve", "--port", "0"])
        .env("HOME", corpus)
        .env("JARVIS__LOG__FORMAT", "json")
        .env("JARVIS__LOG__LEVEL", "info")
        // One client at 50,000 requests a second would trip the default per-client limit.
        .env("JARVIS__SERVER__RATE_LIMIT__ENABLED", "false")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot start jarvis serve")?;
    let stderr = server.stderr.take().context("no stderr")?;
    let mut address = None;
    for line in BufReader::new(stderr).lines() {
        let line = line?;
        if line.contains("jarvis is listening")
            && let Some(start) = line.find("\"address\":\"")
        {
            let rest = &line[start + 11..];
            address = rest.split('"').next().map(str::to_owned);
            break;
        }
    }
    let address = address.context("jarvis serve did not report its address")?;
    let duration = if quick { "5s" } else { "15s" };
    let targets = [
        ("GET /health", "/health"),
        ("GET /api/v2/agents?limit=50", "/api/v2/agents?limit=50"),
        (
            "GET /api/v2/search?q=kubernetes deploy",
            "/api/v2/search?q=kubernetes%20deploy",
        ),
        (
            "GET /api/v2/search?q=reveiw (typo)",
            "/api/v2/search?q=reveiw",
        ),
    ];
    println!("\n==> wrk: 2 threads, 64 connections, {duration} per route, against {address}");
    let mut result = Ok(());
    for (name, path) in targets {
        let out = Command::new("wrk")
            .args(["-t2", "-c64", "-d", duration, "--latency"])
            .arg(format!("{address}{path}"))
            .output()
            .context("cannot run wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |prefix: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("?")
                .to_owned()
        };
        let errors = text
            .lines()
            .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
        println!(
            "{name:<42} {:>10} req/s   p50 {:>8}   p99 {:>8}{}",
            field("Requests/sec:"),
            field("50%"),
            field("99%"),
            errors
                .map(|e| format!("   ({})", e.trim()))
                .unwrap_or_default()
        );
        if !out.status.success() {
            result = Err(anyhow::anyhow!("wrk failed on {path}"));
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    result
}

fn release_binary() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("release")
        .join("jarvis")
}

/// Resident memory (kB) and CPU ticks (user + system) of a process, from `/proc`.
fn proc_usage(pid: u32) -> Result<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((kb("VmRSS:"), kb("VmHWM:"), ticks(11) + ticks(12)))
}

/// `jarvis serve` over a typical setup (200 resources, watcher on, telemetry at its default
/// 2 s), left idle: resident memory and CPU use of the whole process.
fn idle_bench(binary: &Path, idle_secs: u64) -> Result<()> {
    use std::io::{BufRead, BufReader};

    let home = env::temp_dir().join("jarvis-bench-idle");
    let summary = jarvis_testkit::generate(&home, 200)?;
    println!("\n==> idle: {summary}");
    let data = home.join("data");
    let mut server = Command::new(binary)
        .arg("--config")
        .arg(home.join("jarvis.toml"))
        .args(["serve", "--port", "0"])
        .env("HOME", &home)
        .env("JARVIS__LOG__FORMAT", "json")
        .env("JARVIS__LOG__LEVEL", "info")
        .env("JARVIS__DISCOVERY__WATCH", "true")
        .env("JARVIS__STORAGE__DATA_DIR", &data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot start jarvis serve")?;
    let stderr = server.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut listening = false;
    for line in lines.by_ref() {
        if line?.contains("jarvis is listening") {
            listening = true;
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    if !listening {
        let _ = server.kill();
        bail!("jarvis serve did not start");
    }
    let pid = server.id();
    // Settle: the first samples, the first history flush scheduling.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let (_, _, ticks_before) = proc_usage(pid)?;
    let started = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_secs(idle_secs));
    let (rss, hwm, ticks_after) = proc_usage(pid)?;
    let elapsed = started.elapsed().as_secs_f64();
    // Linux reports CPU time in clock ticks of 1/100 s.
    let cpu_percent = (ticks_after - ticks_before) as f64 / 100.0 / elapsed * 100.0;
    println!(
        "idle {elapsed:.0} s: resident {:.1} MB (peak {:.1} MB), CPU {cpu_percent:.2} % of one core (whole process: sampler, watcher, server)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();
    Ok(())
}

fn ensure_wrk() -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    println!("wrk is missing; installing it from Debian's packages");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "wrk"])
            .status()
    };
    if install().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    step("apt-get update", Command::new("apt-get").arg("update"))?;
    step(
        "apt-get install wrk",
        Command::new("apt-get").args(["install", "-y", "wrk"]),
    )
}

fn flag_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn gen_corpus(args: &[String]) -> Result<()> {
    let out = flag_value(args, "--out").context("--out DIR is required")?;
    let count: usize = flag_value(args, "--count")
        .map(|c| c.parse())
        .transpose()
        .context("--count takes a number")?
        .unwrap_or(10_000);
    let summary = jarvis_testkit::generate(Path::new(&out), count)?;
    println!("{summary}");
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let http_only = args.iter().any(|a| a == "--http");
    if args.iter().any(|a| a == "--idle") {
        step(
            "cargo build --release -p jarvis",
            cargo().args(["build", "--release", "-p", "jarvis", "--locked"]),
        )?;
        return idle_bench(&release_binary(), if quick { 10 } else { 60 });
    }
    let corpus_dir = env::temp_dir().join("jarvis-bench-corpus-10000");
    if !corpus_dir.join(".complete").exists() {
        let summary = jarvis_testkit::generate(&corpus_dir, 10_000)?;
        println!("{summary}");
        std::fs::write(corpus_dir.join(".complete"), "")?;
    }
    if !http_only {
        let mut criterion = cargo();
        criterion
            .args([
                "bench",
                "-p",
                "jarvis-discovery",
                "--bench",
                "catalog",
                "--",
            ])
            .env("JARVIS_BENCH_CORPUS", &corpus_dir);
        if quick {
            criterion.args(["--warm-up-time", "1", "--measurement-time", "3"]);
        }
        step(
            "criterion: cold scan and search over 10,000 resources",
            &mut criterion,
        )?;
    }
    step(
        "cargo build --release -p jarvis",
        cargo().args(["build", "--release", "-p", "jarvis", "--locked"]),
    )?;
    let binary = release_binary();
    let config = corpus_dir.join("jarvis.toml");
    let output = Command::new(&binary)
        .args(["--config"])
        .arg(&config)
        .args(["--log-level", "warn", "scan", "--json"])
        .env("HOME", &corpus_dir)
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "jarvis scan failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    http_bench(&binary, &config, &corpus_dir, quick)?;
    step(
        "tasks: HTTP → store → runner → store, no-op runner",
        cargo().args([
            "bench",
            "-p",
            "jarvis-api",
            "--bench",
            "tasks",
            "--",
            "--bench",
        ]),
    )?;
    step(
        "telemetry: the cost of one sample and the size of a full history",
        cargo().args([
            "bench",
            "-p",
            "jarvis-telemetry",
            "--bench",
            "sampler",
            "--",
            "--bench",
        ]),
    )?;
    step(
        "websocket: 2,000 authenticated clients subscribed to the metrics heartbeat",
        cargo().args([
            "bench",
            "-p",
            "jarvis-api",
            "--bench",
            "websocket",
            "--",
            "--bench",
        ]),
    )?;
    step(
        "workflows: n8n refresh, triggers and the open breaker, against wiremock",
        cargo().args([
            "bench",
            "-p",
            "jarvis-api",
            "--bench",
            "workflows",
            "--",
            "--bench",
        ]),
    )?;
    idle_bench(&binary, if quick { 10 } else { 60 })?;
    println!(
        "\n==> memory: jarvis scan of the 10,000-resource corpus (release binary, fresh process)"
    );
    for line in text.lines().filter(|l| {
        [
            "\"files_read\"",
            "\"duration_ms\"",
            "\"peak_resident_bytes\"",
            "\"resident_bytes\"",
        ]
        .iter()
        .any(|k| l.contains(k))
    }) {
        println!("{}", line.trim());
    }
    Ok(())
}
