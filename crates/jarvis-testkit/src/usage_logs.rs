//! A deterministic tree of Claude Code usage logs of a chosen size, for the cost benchmarks:
//! `projects/<project>/<session>.jsonl` with user lines between assistant responses, responses
//! streamed as several lines sharing their ids (about a third), sub-agent logs, a mix of models,
//! cache writes of both lifetimes and cache reads.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::Rng;

/// The models the generated responses use.
const MODELS: &[&str] = &[
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-6",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-20250514",
    "claude-opus-4-1-20250805",
];

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageLogs {
    /// Files written.
    pub files: usize,
    /// Lines written.
    pub lines: usize,
    /// Lines carrying usage.
    pub usage_lines: usize,
    /// Distinct responses (what a reader keeps after dropping copies).
    pub responses: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes about `megabytes` MB of usage logs below `out/projects` (clearing `out` first).
pub fn generate_usage_logs(out: &Path, megabytes: u64) -> io::Result<UsageLogs> {
    if out.exists() {
        fs::remove_dir_all(out)?;
    }
    let target = megabytes * 1_000_000;
    let mut rng = Rng(0x0043_4F53_5453);
    let mut written = UsageLogs::default();
    let mut session = 0usize;
    while written.bytes < target {
        let project = format!("-home-dev-code-app-{}", session % 12);
        let name = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            rng.next() as u32,
            session % 65_536,
            session
        );
        let path = if session % 10 == 9 {
            // One log in ten is a sub-agent's.
            out.join("projects")
                .join(&project)
                .join(format!("{:08x}", session - 1))
                .join("subagents")
                .join(format!("agent-{session:x}.jsonl"))
        } else {
            out.join("projects")
                .join(&project)
                .join(format!("{name}.jsonl"))
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut file = BufWriter::new(File::create(&path)?);
        written.files += 1;
        // Sessions of about 1 MB: a day's work in one project.
        let mut session_bytes = 0u64;
        let mut turn = 0u64;
        while session_bytes < 1_000_000 && written.bytes + session_bytes < target {
            turn += 1;
            let minute = (session as u64 * 37 + turn) % 1440;
            let timestamp = format!(
                "2025-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                1 + session % 12,
                1 + session % 28,
                minute / 60,
                minute % 60,
                turn % 60,
                turn % 1000
            );
            let user = format!(
                r#"{{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/home/dev/code/app","sessionId":"{name}","version":"2.0.37","gitBranch":"main","type":"user","message":{{"role":"user","content":"Please look at the failing test in module {turn} and fix it."}},"uuid":"u-{session}-{turn}","timestamp":"{timestamp}"}}"#
            );
            session_bytes += write_line(&mut file, &user)?;
            written.lines += 1;
            let model = MODELS[rng.below(MODELS.len())];
            let input = 1 + rng.below(40) as u64;
            let output = 20 + rng.below(2000) as u64;
            let cache_5m = rng.below(8000) as u64;
            let cache_1h = if turn.is_multiple_of(7) {
                rng.below(4000) as u64
            } else {
                0
            };
            let cache_read = rng.below(120_000) as u64;
            // A streamed response is written as two or three copies, the last the largest.
            let copies = if turn.is_multiple_of(3) {
                2 + turn % 2
            } else {
                1
            };
            for copy in 1..=copies {
                let shown = output * copy / copies;
                let line = format!(
                    r#"{{"parentUuid":"u-{session}-{turn}","isSidechain":{},"userType":"external","cwd":"/home/dev/code/app","sessionId":"{name}","version":"2.0.37","gitBranch":"main","message":{{"id":"msg_{session:x}_{turn:x}","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"Looking at the test now; the fixture needs the new field."}}],"stop_reason":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{},"cache_read_input_tokens":{cache_read},"cache_creation":{{"ephemeral_5m_input_tokens":{cache_5m},"ephemeral_1h_input_tokens":{cache_1h}}},"output_tokens":{shown},"service_tier":"standard"}}}},"requestId":"req_{session:x}_{turn:x}","type":"assistant","uuid":"a-{session}-{turn}-{copy}","timestamp":"{timestamp}"}}"#,
                    session % 10 == 9,
                    cache_5m + cache_1h,
                );
                session_bytes += write_line(&mut file, &line)?;
                written.lines += 1;
                written.usage_lines += 1;
            }
            written.responses += 1;
        }
        file.flush()?;
        written.bytes += session_bytes;
        session += 1;
    }
    Ok(written)
}

fn write_line(file: &mut impl Write, line: &str) -> io::Result<u64> {
    file.write_all(line.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(line.len() as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_of_the_size_asked_for_and_the_same_every_time() {
        let dir = std::env::temp_dir().join(format!("jarvis-usage-logs-{}", std::process::id()));
        let first = generate_usage_logs(&dir, 2).unwrap();
        assert!(
            first.bytes >= 2_000_000 && first.bytes < 2_100_000,
            "{first:?}"
        );
        assert!(first.usage_lines > first.responses, "{first:?}");
        let again = generate_usage_logs(&dir, 2).unwrap();
        assert_eq!(first, again);
        fs::remove_dir_all(&dir).unwrap();
    }
}
