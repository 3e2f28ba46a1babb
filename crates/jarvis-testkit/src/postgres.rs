//! A throw-away PostgreSQL cluster for tests: `initdb` in a temp directory, the server on a
//! loopback port, stopped (immediate shutdown) and deleted when the [`Cluster`] is dropped.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the cluster's files belong to
//! the `postgres` user (created by Debian's `postgresql` package) and its programs run as that
//! user. The programs come from `JARVIS_PG_BIN` when set, else the newest
//! `/usr/lib/postgresql/*/bin`, else `PATH`. `cargo xtask ci` installs the package when it is
//! missing; without it, [`Cluster::start`] answers an error that says so.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running PostgreSQL server of our own.
#[derive(Debug)]
pub struct Cluster {
    #[allow(
        dead_code,
        reason = "held so that the folder is deleted after the server stops"
    )]
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    server: Child,
}

impl Cluster {
    /// Creates a cluster and starts its server; ready for connections when this returns.
    pub fn start() -> io::Result<Cluster> {
        let bin = binaries()?;
        let run_as = if effective_uid()? == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("jarvis-pg-")
            .tempdir_in(std::env::temp_dir())?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let data = dir.path().join("data");
        let out = command(&bin, "initdb", run_as)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .arg("-D")
            .arg(&data)
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // A port found free may be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let log_path = dir.path().join(format!("server-{port}.log"));
            let log = fs::File::create(&log_path)?;
            let mut server = command(&bin, "postgres", run_as)
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
                .arg(dir.path())
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            match wait_ready(&mut server, &bin, port, &log_path) {
                Ok(()) => {
                    return Ok(Cluster {
                        dir,
                        bin,
                        port,
                        server,
                    });
                }
                Err(e) => {
                    stop(&mut server);
                    last = e.to_string();
                    if !last.contains("could not bind") {
                        return Err(e);
                    }
                }
            }
        }
        Err(io::Error::other(last))
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates the database `name` and answers its URL (user `postgres`, no password).
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        let out = command(&self.bin, "createdb", None)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "createdb {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(self.url(name))
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs one SQL statement with `psql` in database `name`; answers what it printed (unaligned,
    /// tuples only).
    pub fn psql(&self, name: &str, sql: &str) -> io::Result<String> {
        let out = command(&self.bin, "psql", None)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", name, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn wait_ready(server: &mut Child, bin: &Path, port: u16, log: &Path) -> io::Result<()> {
    let tail = || {
        let text = fs::read_to_string(log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or(&text).trim().to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.try_wait()? {
            return Err(io::Error::other(format!(
                "the PostgreSQL server exited ({status}): {}",
                tail()
            )));
        }
        let ready = command(bin, "pg_isready", None)
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()?;
        if ready.success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "the PostgreSQL server did not accept connections within 30 s: {}",
                tail()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Immediate shutdown: SIGQUIT to the postmaster, which ends its backends; SIGKILL when it has
/// not gone within 10 s.
fn stop(server: &mut Child) {
    if matches!(server.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-QUIT", &server.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(server.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.kill();
    let _ = server.wait();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop(&mut self.server);
    }
}

fn command(bin: &Path, program: &str, run_as: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(bin.join(program));
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command.env("PGCONNECT_TIMEOUT", "5");
    command
}

fn binaries() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("JARVIS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or PATH): \
                 `apt-get install -y postgresql`, or `cargo xtask ci`, which installs it",
            )
        })
}

fn effective_uid() -> io::Result<u32> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|uid| uid.parse().ok())
        .ok_or_else(|| io::Error::other("no effective uid in /proc/self/status"))
}

fn postgres_user() -> io::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres"))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| {
            io::Error::other(
                "running as root, and there is no `postgres` user to run PostgreSQL as: \
                 `apt-get install -y postgresql` creates it",
            )
        })
}
