//! `cargo xtask`: the project's chores, in Rust so they run wherever cargo does.
//!
//! - `ci`: everything CI checks — formatting, clippy with `-D warnings`, every test, the API
//!   contract, `cargo deny`.
//! - `deny`: licences, bans, sources and advisories (offline, from the RustSec snapshot when one
//!   is beside the checkout), installing cargo-deny when it is missing. With neither a snapshot
//!   nor a network it checks the rest and says, on its last line, that advisories were not.
//! - `contract`: the OpenAPI document held against the running server by schemathesis.
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

mod analysis_bench;
mod contract;
mod http_bench;
mod instances_bench;
mod knowledge_bench;
mod startup_bench;
mod writes_bench;

use http_bench::http_bench;

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
        "deny" => {
            if deny()? == DenyCoverage::WithoutAdvisories {
                println!("\n{ADVISORIES_UNCHECKED}");
            }
            Ok(())
        }
        "contract" => contract::contract(),
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
  ci                                  fmt check, clippy -D warnings, all tests, contract, deny
  deny                                cargo deny check (offline with ../shared/advisory-db;
                                      without it or a network: no advisories, said last)
  contract                            the OpenAPI document against the running server
                                      (schemathesis, installed into a virtualenv if missing)
  gen-corpus --out DIR [--count N] [--notes M]
                                      write a realistic tree of N resources (default 10000),
                                      and M notes for the knowledge base (default none)
  bench [--quick] [--http] [--idle] [--analysis] [--ui] [--writes|--startup|--knowledge|--instances [--count N]]
        [--resources N]
                                      run the benchmarks (criterion, HTTP load with wrk, memory)
                                      over a generated corpus of N resources (default 10000);
                                      --http skips criterion; --idle measures only an idle
                                      server's memory and CPU; --writes only the time from a
                                      file written to a search that finds it, and memory across
                                      N such writes (default 100); --startup only the server's
                                      start without and with the catalog cache (N cached starts,
                                      default 5): time to listen, memory; --analysis only a 60 s
                                      720p clip analysed alone and four at once, and one client's
                                      latency meanwhile; --knowledge only the knowledge base over
                                      N generated notes (default 10000): build, queries through
                                      HTTP, re-index delay, size; --ui only the dashboard in
                                      headless Chromium over the N resources: first paint,
                                      the whole list, scrolling, search as you type;
                                      --instances only two servers on one PostgreSQL store: N
                                      tasks (default 200) submitted to one, heard over
                                      WebSocket on both";

fn root() -> PathBuf {
    // xtask lives at <root>/xtask.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The target directory cargo builds into (`CARGO_TARGET_DIR`, else `<root>/target`).
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
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
    // The analyzer's tests run real ffmpeg on clips they make; the dashboard's run in Chromium;
    // the store's (and the several-instance tests) start a throw-away PostgreSQL cluster.
    http_bench::ensure_package("ffmpeg", "-version", "ffmpeg")?;
    http_bench::ensure_package("chromium", "--version", "chromium")?;
    ensure_postgresql()?;
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
    let target =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    println!(
        "dashboard screenshots (the browser test's): {}",
        target.join("tmp/ui-screenshots").display()
    );
    totals.run(
        "cargo test --doc",
        cargo().args(["test", "--workspace", "--doc", "--locked"]),
    )?;
    // The crates' documentation builds without a warning (a broken or private link fails).
    step(
        "cargo doc --no-deps --workspace (RUSTDOCFLAGS=-D warnings)",
        cargo()
            .args(["doc", "--no-deps", "--workspace", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    contract::contract()?;
    let coverage = deny()?;
    // The closing lines: every test of every binary, summed, then what was not checked.
    println!(
        "\ntests: {} passed, {} failed",
        totals.passed, totals.failed
    );
    if coverage == DenyCoverage::WithoutAdvisories {
        println!("\n{ADVISORIES_UNCHECKED}");
    }
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

/// How much `cargo deny` could check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DenyCoverage {
    /// Licences, bans, sources and advisories.
    Everything,
    /// No advisory database could be read: licences, bans and sources only.
    WithoutAdvisories,
}

/// The closing line when advisories could not be checked: said last, where it is seen.
const ADVISORIES_UNCHECKED: &str = "WARNING: ADVISORIES WERE NOT CHECKED: no RustSec snapshot beside the checkout (../shared/advisory-db, or $JARVIS_SHARED/advisory-db) and the advisory database (github.com) is unreachable; licences, bans and sources were checked. To check advisories, run `cargo xtask deny` with network access or with a snapshot in place.";

/// Whether the RustSec database can be fetched: a TCP connection to github.com within 5 s.
fn advisory_db_reachable() -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let timeout = std::time::Duration::from_secs(5);
    ("github.com", 443)
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.any(|a| TcpStream::connect_timeout(&a, timeout).is_ok()))
}

fn deny() -> Result<DenyCoverage> {
    ensure_cargo_deny()?;
    let mut cmd = cargo();
    let coverage = match prepare_advisory_snapshot()? {
        Some(db_root) => {
            println!("advisories from the snapshot at {}", db_root.display());
            // `--offline` also stops cargo-deny's own `cargo metadata` from downloading crates,
            // so every crate of every target must be fetched first.
            step("cargo fetch", cargo().args(["fetch", "--locked"]))?;
            cmd.env("JARVIS_ADVISORY_DBS", db_root)
                .args(["deny", "--offline", "check"]);
            DenyCoverage::Everything
        }
        None if advisory_db_reachable() => {
            println!("no advisory snapshot beside the checkout; cargo-deny fetches the database");
            cmd.args(["deny", "check"]);
            DenyCoverage::Everything
        }
        None => {
            println!(
                "no advisory snapshot beside the checkout and github.com is unreachable: checking licences, bans and sources only"
            );
            step("cargo fetch", cargo().args(["fetch", "--locked"]))?;
            cmd.args(["deny", "--offline", "check", "licenses", "bans", "sources"]);
            DenyCoverage::WithoutAdvisories
        }
    };
    step("cargo deny check", &mut cmd)?;
    Ok(coverage)
}

/// Installs Debian's PostgreSQL when no server programs are found (`initdb` in
/// `/usr/lib/postgresql/*/bin`, where Debian keeps them, or `JARVIS_PG_BIN`).
fn ensure_postgresql() -> Result<()> {
    if let Some(bin) = env::var_os("JARVIS_PG_BIN") {
        if Path::new(&bin).join("initdb").is_file() {
            return Ok(());
        }
        bail!("JARVIS_PG_BIN names {bin:?}, which has no initdb");
    }
    let installed = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|version| version.path().join("bin/initdb").is_file());
    if installed {
        return Ok(());
    }
    println!("PostgreSQL is missing; installing postgresql from Debian's packages");
    http_bench::install_package("postgresql")
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
    let target = target_dir();
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

fn release_binary() -> PathBuf {
    target_dir().join("release").join("jarvis")
}

/// Resident memory (kB) and CPU ticks (user + system) of a process, from `/proc`.
pub(crate) fn proc_usage(pid: u32) -> Result<(u64, u64, u64)> {
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

fn flag_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The number after `name` in `args`, or `default` when the flag is absent.
fn number_flag(args: &[String], name: &str, default: usize) -> Result<usize> {
    flag_value(args, name)
        .map(|c| c.parse())
        .transpose()
        .with_context(|| format!("{name} takes a number"))
        .map(|n| n.unwrap_or(default))
}

/// Builds the release server the benches start.
fn build_release() -> Result<()> {
    step(
        "cargo build --release -p jarvis",
        cargo().args(["build", "--release", "-p", "jarvis", "--locked"]),
    )
}

fn gen_corpus(args: &[String]) -> Result<()> {
    let out = flag_value(args, "--out").context("--out DIR is required")?;
    let count = number_flag(args, "--count", 10_000)?;
    let summary = jarvis_testkit::generate(Path::new(&out), count)?;
    println!("{summary}");
    let notes = number_flag(args, "--notes", 0)?;
    if notes > 0 {
        let dir = Path::new(&out).join("notes");
        println!("{}", jarvis_testkit::generate_notes(&dir, notes)?);
        let config = Path::new(&out).join("jarvis.toml");
        let mut text = std::fs::read_to_string(&config)?;
        text.push_str(&format!(
            "\n[knowledge]\nroots = [{:?}]\n",
            dir.to_string_lossy()
        ));
        std::fs::write(&config, text)?;
    }
    Ok(())
}

/// The dashboard in headless Chromium over the generated corpus (`benches/ui.rs`).
fn ui_bench(corpus_dir: &Path) -> Result<()> {
    http_bench::ensure_package("chromium", "--version", "chromium")?;
    step(
        "dashboard: first paint, the whole list, scrolling and search as you type in headless Chromium",
        cargo()
            .args([
                "bench",
                "-p",
                "jarvis-api",
                "--bench",
                "ui",
                "--",
                "--bench",
            ])
            .env("JARVIS_BENCH_CORPUS", corpus_dir),
    )
}

fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let http_only = args.iter().any(|a| a == "--http");
    if args.iter().any(|a| a == "--idle") {
        build_release()?;
        return idle_bench(&release_binary(), if quick { 10 } else { 60 });
    }
    if args.iter().any(|a| a == "--instances") {
        let count = number_flag(args, "--count", 200)?;
        build_release()?;
        return instances_bench::instances_bench(&release_binary(), count);
    }
    let resources = number_flag(args, "--resources", 10_000)?;
    let corpus_dir = env::temp_dir().join(format!("jarvis-bench-corpus-{resources}"));
    if !corpus_dir.join(".complete").exists() {
        let summary = jarvis_testkit::generate(&corpus_dir, resources)?;
        println!("{summary}");
        std::fs::write(corpus_dir.join(".complete"), "")?;
    }
    if args.iter().any(|a| a == "--startup") {
        let count = number_flag(args, "--count", 5)?;
        build_release()?;
        return startup_bench::startup_bench(
            &release_binary(),
            &corpus_dir.join("jarvis.toml"),
            &corpus_dir,
            count,
        );
    }
    if args.iter().any(|a| a == "--analysis") {
        http_bench::ensure_package("ffmpeg", "-version", "ffmpeg")?;
        build_release()?;
        return analysis_bench::analysis_bench(
            &release_binary(),
            &corpus_dir.join("jarvis.toml"),
            &corpus_dir,
            quick,
        );
    }
    if args.iter().any(|a| a == "--ui") {
        return ui_bench(&corpus_dir);
    }
    if args.iter().any(|a| a == "--knowledge") {
        let count = number_flag(args, "--count", 10_000)?;
        build_release()?;
        return knowledge_bench::knowledge_bench(
            &release_binary(),
            &corpus_dir.join("jarvis.toml"),
            &corpus_dir,
            count,
        );
    }
    if args.iter().any(|a| a == "--writes") {
        let count = number_flag(args, "--count", 100)?;
        build_release()?;
        return writes_bench::writes_bench(
            &release_binary(),
            &corpus_dir.join("jarvis.toml"),
            &corpus_dir,
            count,
        );
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
    build_release()?;
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
    step(
        "costs: a full read of generated usage logs, and ccusage on the same files when installed",
        cargo()
            .args([
                "bench",
                "-p",
                "jarvis-costs",
                "--bench",
                "ingest",
                "--",
                "--bench",
            ])
            .env("JARVIS_BENCH_USAGE_MB", if quick { "100" } else { "1024" }),
    )?;
    step(
        "costs: the live ledger over the same logs — first pass into SQLite, restart, appends through the watcher, reports",
        cargo()
            .args([
                "bench",
                "-p",
                "jarvis-costs",
                "--bench",
                "live",
                "--",
                "--bench",
            ])
            .env("JARVIS_BENCH_USAGE_MB", if quick { "100" } else { "1024" }),
    )?;
    ui_bench(&corpus_dir)?;
    http_bench::ensure_package("ffmpeg", "-version", "ffmpeg")?;
    analysis_bench::analysis_bench(&binary, &config, &corpus_dir, quick)?;
    knowledge_bench::knowledge_bench(
        &binary,
        &config,
        &corpus_dir,
        if quick { 2_000 } else { 10_000 },
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
