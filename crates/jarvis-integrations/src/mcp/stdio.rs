//! stdio servers: the configured command in a process group of its own, its stdout checked
//! line by line before the protocol sees it, its stderr drained and kept in part.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::probe::{Report, session};
use super::{McpProblem, McpProblemCode, McpStep, McpTarget, cut};
#[cfg(target_os = "linux")]
use crate::child::die_with_parent;
use crate::child::kill_group;

/// How much of stderr is kept (the end of it).
const STDERR_KEPT: usize = 2048;
/// The longest line of stdout taken as one message.
const MAX_LINE: usize = 8 * 1024 * 1024;
/// How long a server has to exit once its stdin is closed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// What stdout held that was not JSON.
#[derive(Debug, Default)]
struct Stdout {
    bad_lines: usize,
    first_bad: Option<String>,
    too_long: bool,
}

/// Kills the process group when dropped, so a check that is cancelled or times out leaves
/// nothing behind — the server's own children included.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

pub(crate) async fn check(target: &McpTarget, limit: Duration, report: &mut Report) {
    let mut command = Command::new(target.program());
    command
        .args(target.launch.args.iter().map(|a| a.expose()))
        .envs(target.env.iter().map(|(k, v)| (k, v.expose())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = &target.cwd
        && tokio::fs::metadata(cwd).await.is_ok_and(|m| m.is_dir())
    {
        command.current_dir(cwd);
    }
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(target_os = "linux")]
    die_with_parent(&mut command, 0);

    let started = Instant::now();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            report.step(McpStep::Start, started.elapsed(), false);
            report.fail(McpProblem {
                code: McpProblemCode::SpawnFailed,
                step: McpStep::Start,
                message: format!("`{}` could not be started: {e}", target.shown_command),
                http_status: None,
            });
            return;
        }
    };
    report.step(McpStep::Start, started.elapsed(), true);
    let group = Group(child.id());
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        report.fail(McpProblem {
            code: McpProblemCode::SpawnFailed,
            step: McpStep::Start,
            message: "the process's pipes could not be opened".to_owned(),
            http_status: None,
        });
        return;
    };

    let tail = Arc::new(Mutex::new(Vec::<u8>::new()));
    let drain = tokio::spawn(drain_stderr(stderr, Arc::clone(&tail)));
    let seen = Arc::new(Mutex::new(Stdout::default()));
    let (to_protocol, from_filter) = tokio::io::duplex(256 * 1024);
    let filter = tokio::spawn(filter_stdout(stdout, to_protocol, Arc::clone(&seen)));

    session((from_filter, stdin), limit, report).await;

    // The session's end closed stdin: a well-behaved server exits now. Whatever is left of the
    // group is killed, and the child reaped.
    let exited = tokio::time::timeout(EXIT_GRACE, child.wait()).await;
    drop(group);
    let status = match exited {
        Ok(Ok(status)) => Some(status),
        _ => reap(&mut child).await,
    };
    filter.abort();
    let _ = tokio::time::timeout(Duration::from_millis(200), drain).await;

    let seen = std::mem::take(
        &mut *seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let tail_text = {
        let bytes = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    report.stderr(&tail_text);
    explain(report, &seen, status, &tail_text);
}

/// Gives a failure the reason the process showed: lines that were not JSON, or an exit.
fn explain(
    report: &mut Report,
    seen: &Stdout,
    status: Option<std::process::ExitStatus>,
    stderr: &str,
) {
    let Some(error) = &mut report.health.error else {
        if seen.bad_lines > 0 {
            // It worked despite noise on stdout: degraded, since stricter clients fail on it.
            report.note(format!(
                "wrote {} line(s) to stdout that are not JSON-RPC, the first: `{}`",
                seen.bad_lines,
                seen.first_bad.as_deref().unwrap_or("")
            ));
        }
        return;
    };
    if seen.too_long {
        error.code = McpProblemCode::ProtocolError;
        error.message = format!("a line on stdout exceeded {MAX_LINE} bytes");
        return;
    }
    if seen.bad_lines > 0 && error.code != McpProblemCode::SpawnFailed {
        error.code = McpProblemCode::ProtocolError;
        error.message = format!(
            "wrote {} line(s) to stdout that are not JSON-RPC, the first: `{}`",
            seen.bad_lines,
            seen.first_bad.as_deref().unwrap_or("")
        );
        error.message = super::scrub(&error.message, &report.secrets);
        return;
    }
    if let Some(status) = status
        && matches!(
            error.code,
            McpProblemCode::Exited | McpProblemCode::ProtocolError | McpProblemCode::ConnectFailed
        )
    {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!(": {}", cut(l.trim(), 300)))
            .unwrap_or_default();
        error.code = McpProblemCode::Exited;
        error.message = super::scrub(
            &format!(
                "the process exited ({status}) during {}{last}",
                error.step.as_str()
            ),
            &report.secrets,
        );
    }
}

/// Waits a little for the killed process to be reaped.
async fn reap(child: &mut Child) -> Option<std::process::ExitStatus> {
    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            tracing::warn!(pid = ?child.id(), "an MCP server was killed but not yet reaped");
            None
        }
    }
}

/// Keeps the end of stderr, reading all of it so a server that floods stderr never blocks.
async fn drain_stderr(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<Vec<u8>>>) {
    let mut stderr = stderr;
    let mut chunk = vec![0u8; 16 * 1024];
    while let Ok(n) = stderr.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let mut kept = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > STDERR_KEPT {
            let excess = kept.len() - STDERR_KEPT;
            kept.drain(..excess);
        }
    }
}

/// Passes stdout on line by line, keeping back (and counting) lines that are not JSON, so a
/// server that prints a banner or garbage is named for it rather than merely timing out.
async fn filter_stdout(
    stdout: tokio::process::ChildStdout,
    mut to_protocol: tokio::io::DuplexStream,
    seen: Arc<Mutex<Stdout>>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.len() > MAX_LINE {
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .too_long = true;
            break;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(text).is_err() {
            let mut seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.bad_lines += 1;
            if seen.first_bad.is_none() {
                seen.first_bad = Some(cut(&String::from_utf8_lossy(text), 200));
            }
            continue;
        }
        if to_protocol.write_all(text).await.is_err() || to_protocol.write_all(b"\n").await.is_err()
        {
            break;
        }
    }
    let _ = to_protocol.shutdown().await;
}
