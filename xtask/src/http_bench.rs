//! `cargo xtask bench --http`: the release server on the generated corpus, measured through
//! HTTP with wrk — throughput at 64 connections, and what one keep-alive client meets at every
//! response size.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::step;

/// What wrk reported for one run.
#[derive(Debug)]
struct WrkRun {
    requests_per_sec: String,
    p50: String,
    p99: String,
    max: String,
    errors: Option<String>,
}

/// Runs wrk with `threads` threads and `connections` connections on `url` for `duration`.
fn wrk(threads: u32, connections: u32, duration: &str, url: &str) -> Result<WrkRun> {
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .args(["-d", duration, "--latency"])
        .arg(url)
        .output()
        .context("cannot run wrk")?;
    if !out.status.success() {
        bail!(
            "wrk failed on {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str, nth: usize| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(nth))
            .unwrap_or("?")
            .to_owned()
    };
    Ok(WrkRun {
        requests_per_sec: field("Requests/sec:", 1),
        p50: field("50%", 1),
        p99: field("99%", 1),
        // `Latency  avg  stdev  max  +/- stdev`
        max: field("Latency", 3),
        errors: text
            .lines()
            .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
            .map(|l| l.trim().to_owned()),
    })
}

/// The size of the body `path` answers, read over a plain HTTP/1.1 connection.
fn body_size(address: &str, path: &str) -> Result<usize> {
    Ok(KeepAlive::connect(address)?.get(path)?.len())
}

/// One keep-alive HTTP/1.1 connection, one request at a time: what a single client meets.
pub(crate) struct KeepAlive {
    host: String,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    /// Connects to `address` (`http://host:port`) with `TCP_NODELAY`.
    pub(crate) fn connect(address: &str) -> Result<KeepAlive> {
        let host = address.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host).with_context(|| format!("cannot reach {host}"))?;
        stream.set_nodelay(true)?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(KeepAlive {
            host,
            stream,
            reader,
        })
    }

    /// GETs `path` and reads the whole answer; the body, or an error unless it is a 200.
    pub(crate) fn get(&mut self, path: &str) -> Result<Vec<u8>> {
        let (status, body) = self.request("GET", path, None)?;
        if status != 200 {
            bail!("{path} answered {status}");
        }
        Ok(body)
    }

    /// Sends `method path` with an optional JSON `body` and reads the whole answer: its status
    /// and body.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, Vec<u8>)> {
        match body {
            Some(body) => write!(
                self.stream,
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                self.host,
                body.len()
            )?,
            None => write!(
                self.stream,
                "{method} {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
                self.host
            )?,
        }
        let mut status = String::new();
        self.reader.read_line(&mut status)?;
        let mut length = None;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.with_context(|| format!("{path}: an answer without Content-Length"))?;
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        let code = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("{path}: no status in `{}`", status.trim_end()))?;
        Ok((code, body))
    }
}

/// The `p` quantile (0–1) of `sorted` latencies, in milliseconds.
pub(crate) fn quantile_ms(sorted: &[std::time::Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Starts `binary serve` on `config` with `HOME` at `home` and rate limits off; answers the
/// child and its address once it listens.
pub(crate) fn start_server(
    binary: &Path,
    config: &Path,
    home: &Path,
    env: &[(&str, &str)],
) -> Result<(std::process::Child, String)> {
    start_server_logged(binary, config, home, env).map(|(child, address, _)| (child, address))
}

/// [`start_server`], also answering the log lines the server wrote before it listened.
pub(crate) fn start_server_logged(
    binary: &Path,
    config: &Path,
    home: &Path,
    env: &[(&str, &str)],
) -> Result<(std::process::Child, String, Vec<String>)> {
    let mut server = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(["serve", "--port", "0"])
        .envs(env.iter().copied())
        .env("HOME", home)
        .env("JARVIS__LOG__FORMAT", "json")
        .env("JARVIS__LOG__LEVEL", "info")
        // One client at 50,000 requests a second would trip the default per-client limit.
        .env("JARVIS__SERVER__RATE_LIMIT__ENABLED", "false")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot start jarvis serve")?;
    let stderr = server.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut address = None;
    let mut before = Vec::new();
    for line in lines.by_ref() {
        let line = line?;
        if line.contains("jarvis is listening")
            && let Some(start) = line.find("\"address\":\"")
        {
            let rest = &line[start + 11..];
            address = rest.split('"').next().map(str::to_owned);
            break;
        }
        before.push(line);
    }
    // The server keeps logging: keep reading, so that it never writes to a closed pipe. Warnings
    // and errors are shown; they say why a run went wrong.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") {
                eprintln!("jarvis: {line}");
            }
        }
    });
    match address {
        Some(address) => Ok((server, address, before)),
        None => {
            let _ = server.kill();
            let _ = server.wait();
            bail!("jarvis serve did not report its address")
        }
    }
}

/// Starts the release server on the corpus, loads it with wrk at 64 connections, then
/// measures one keep-alive client at every page size and 4 and 64 clients on the default page.
pub fn http_bench(binary: &Path, config: &Path, corpus: &Path, quick: bool) -> Result<()> {
    ensure_wrk()?;
    let (server, address) = start_server(binary, config, corpus, &[])?;
    let result = run_all(&address, quick);
    stop(server);
    result?;
    // Searches nobody asked before: one client with a new query each time, then 16 clients
    // against a server whose response cache is off, so that every answer is computed.
    let (server, address) = start_server(binary, config, corpus, &[])?;
    let result = new_queries_one_client(&address);
    stop(server);
    result?;
    let (server, address) = start_server(
        binary,
        config,
        corpus,
        &[("JARVIS__SERVER__CACHE__ENABLED", "false")],
    )?;
    let result = new_queries_sixteen_clients(&address, quick);
    stop(server);
    result
}

pub(crate) fn stop(mut server: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

/// Every pair of two words of `xtask/data/search-words.txt`, in a fixed shuffled order, as the
/// `q` of a search (`security%20review`).
pub(crate) fn word_pairs() -> Result<Vec<String>> {
    let path = crate::root().join("xtask/data/search-words.txt");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let words: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in words.iter().enumerate() {
        for b in &words[i + 1..] {
            pairs.push(format!("{a}%20{b}"));
        }
    }
    // A fixed Fisher–Yates shuffle (an LCG), so every run asks in the same order.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..pairs.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from((state >> 33) % (i as u64 + 1)).unwrap_or(0);
        pairs.swap(i, j);
    }
    Ok(pairs)
}

/// One keep-alive connection, one new two-word query after another (each asked once, so none
/// is answered from the cache).
fn new_queries_one_client(address: &str) -> Result<()> {
    let pairs = word_pairs()?;
    let mut client = KeepAlive::connect(address)?;
    let mut latencies = Vec::with_capacity(pairs.len());
    let mut bytes = 0usize;
    for q in &pairs {
        let started = std::time::Instant::now();
        let body = client.get(&format!("/api/v2/search?q={q}"))?;
        latencies.push(started.elapsed());
        bytes += body.len();
    }
    latencies.sort();
    let at = |p: f64| quantile_ms(&latencies, p);
    println!(
        "\n==> new two-word searches, one keep-alive client, {} queries (xtask/data/search-words.txt)",
        latencies.len()
    );
    println!(
        "p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   body {:.1} KB on average",
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0),
        bytes as f64 / latencies.len() as f64 / 1024.0
    );
    Ok(())
}

/// wrk, 16 connections, cycling through the word pairs (each thread from its own place), on a
/// server whose response cache is off: throughput of searches computed every time.
fn new_queries_sixteen_clients(address: &str, quick: bool) -> Result<()> {
    let pairs = word_pairs()?;
    let script = std::env::temp_dir().join(format!("jarvis-search-{}.lua", std::process::id()));
    let list = pairs
        .iter()
        .map(|q| format!("\"{q}\""))
        .collect::<Vec<_>>()
        .join(",");
    std::fs::write(
        &script,
        format!(
            "local queries = {{{list}}}\nlocal i = 0\nfunction setup(thread) thread:set(\"offset\", math.random(1, #queries)) end\nfunction init(args) i = offset or 0 end\nfunction request()\n  i = i + 1\n  return wrk.format(\"GET\", \"/api/v2/search?q=\" .. queries[(i % #queries) + 1])\nend\n"
        ),
    )?;
    let duration = if quick { "5s" } else { "15s" };
    let out = Command::new("wrk")
        .args(["-t2", "-c16", "-d", duration, "--latency", "-s"])
        .arg(&script)
        .arg(format!("{address}/api/v2/search"))
        .output()
        .context("cannot run wrk")?;
    let _ = std::fs::remove_file(&script);
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    println!(
        "\n==> searches computed every time (response cache off): wrk, 2 threads, 16 connections, {duration}, {} distinct queries",
        pairs.len()
    );
    println!(
        "{:>10} req/s   p50 {:>8}   p99 {:>8}{}",
        field("Requests/sec:"),
        field("50%"),
        field("99%"),
        text.lines()
            .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
            .map(|l| format!("   ({})", l.trim()))
            .unwrap_or_default()
    );
    Ok(())
}

fn run_all(address: &str, quick: bool) -> Result<()> {
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
    for (name, path) in targets {
        let run = wrk(2, 64, duration, &format!("{address}{path}"))?;
        println!(
            "{name:<42} {:>10} req/s   p50 {:>8}   p99 {:>8}{}",
            run.requests_per_sec,
            run.p50,
            run.p99,
            run.errors.map(|e| format!("   ({e})")).unwrap_or_default()
        );
    }
    keep_alive(address, quick)
}

/// One keep-alive connection asking sequentially (as a script, a browser tab or an SDK does),
/// pages from about 1 KB to 256 KB; then 4 and 64 connections on the default page. A response
/// held back by Nagle's algorithm shows here as 40 ms a request.
fn keep_alive(address: &str, quick: bool) -> Result<()> {
    let duration = if quick { "3s" } else { "8s" };
    println!(
        "\n==> keep-alive latency: wrk, 1 thread, sequential requests on each connection, {duration} per run"
    );
    println!(
        "{:<12} {:<32} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "connections", "route", "body", "req/s", "p50", "p99", "max"
    );
    let mut runs: Vec<(u32, u32, String)> = [2, 8, 32, 50, 85, 128, 256, 500]
        .into_iter()
        .map(|limit| (1, 1, format!("/api/v2/agents?limit={limit}")))
        .collect();
    runs.push((1, 4, "/api/v2/agents?limit=50".to_owned()));
    runs.push((2, 64, "/api/v2/agents?limit=50".to_owned()));
    for (threads, connections, path) in runs {
        let size = body_size(address, &path)?;
        let run = wrk(threads, connections, duration, &format!("{address}{path}"))?;
        println!(
            "{connections:<12} {path:<32} {:>7.1}KB {:>10} {:>9} {:>9} {:>9}{}",
            size as f64 / 1024.0,
            run.requests_per_sec,
            run.p50,
            run.p99,
            run.max,
            run.errors.map(|e| format!("   ({e})")).unwrap_or_default()
        );
    }
    Ok(())
}

/// Installs wrk from Debian's packages when it is missing.
fn ensure_wrk() -> Result<()> {
    ensure_package("wrk", "--version", "wrk")
}

/// Installs `package` from Debian's packages when `program` (run with `version_arg`) is
/// missing; `apt-get update` first only when the plain install fails (a fresh machine).
pub(crate) fn ensure_package(program: &str, version_arg: &str, package: &str) -> Result<()> {
    if Command::new(program).arg(version_arg).output().is_ok() {
        return Ok(());
    }
    println!("{program} is missing; installing {package} from Debian's packages");
    install_package(package)
}

/// Installs `package` from Debian's packages; `apt-get update` first only when the plain install
/// fails (a fresh machine).
pub(crate) fn install_package(package: &str) -> Result<()> {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", package])
            .status()
    };
    if install().is_ok_and(|s| s.success()) {
        return Ok(());
    }
    step("apt-get update", Command::new("apt-get").arg("update"))?;
    step(
        &format!("apt-get install {package}"),
        Command::new("apt-get").args(["install", "-y", package]),
    )
}
