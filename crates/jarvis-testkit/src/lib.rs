//! Test and benchmark support. [`generate`] writes a realistic, deterministic tree of resource
//! files (`cargo xtask gen-corpus` and the benchmarks use it); [`eventually`] (and
//! [`eventually_blocking`], without a runtime) waits in a test for what another task or thread
//! does; [`write_file`], [`agent_file`], [`command_file`] and [`skill_file`] build the small fixtures the test
//! suites share; [`generate_usage_logs`] writes Claude Code usage logs of a chosen size;
//! [`media`] makes clips with ffmpeg's generators and finds processes in `/proc`;
//! [`generate_notes`] writes a folder of notes for the knowledge base; [`mcp`] has small MCP
//! servers that behave and misbehave; `browser` (feature `browser`) drives a headless Chromium;
//! `postgres` (feature `postgres`) starts a throw-away PostgreSQL cluster.
//!
//! The shapes follow real Claude Code setups: agents with `name`/`description`/`tools`/`model`
//! frontmatter (some nested in category folders, some with an unquoted `: ` in the description),
//! namespaced commands with `argument-hint` and `$ARGUMENTS`, skill folders with reference files,
//! MCP servers in `.claude.json` and `.mcp.json`, and an n8n export. Body sizes follow the
//! real corpus (agents ≈ 5 KB, commands ≈ 12 KB, skills ≈ 9 KB on average). About 2 % of files
//! carry an awkward case: CRLF, a BOM, no frontmatter, broken YAML.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! let dir = std::env::temp_dir().join(format!("jarvis-testkit-doc-{}", std::process::id()));
//! let summary = jarvis_testkit::generate(&dir, 200)?; // the folder is replaced
//! assert!(summary.starts_with("wrote 200 resources"));
//! let config = std::fs::read_to_string(dir.join("jarvis.toml"))?; // points discovery at them
//! assert!(config.contains("[discovery]"));
//!
//! // Wait, without a runtime, for what another thread does.
//! let worker = std::thread::spawn(|| 42);
//! jarvis_testkit::eventually_blocking("the worker to end", Duration::from_secs(5), || {
//!     worker.is_finished().then_some(())
//! }); // panics, naming what it waited for, if that takes longer
//! assert_eq!(worker.join().ok(), Some(42));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use std::io;

#[cfg(feature = "browser")]
pub mod browser;
mod files;
pub mod mcp;
pub mod media;
mod notes;
#[cfg(feature = "postgres")]
pub mod postgres;
mod usage_logs;
mod wait;

pub use files::{agent_file, command_file, skill_file, write_file};
pub use notes::generate_notes;
pub use usage_logs::{UsageLogs, generate_usage_logs};
pub use wait::{eventually, eventually_blocking};

type Result<T> = io::Result<T>;

fn context<T>(result: io::Result<T>, what: impl FnOnce() -> String) -> io::Result<T> {
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", what())))
}

/// SplitMix64: tiny, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const WORDS: &[&str] = &[
    "review",
    "code",
    "security",
    "performance",
    "test",
    "coverage",
    "refactor",
    "api",
    "database",
    "schema",
    "migration",
    "deploy",
    "pipeline",
    "kubernetes",
    "docker",
    "terraform",
    "cloud",
    "latency",
    "throughput",
    "cache",
    "index",
    "query",
    "async",
    "runtime",
    "memory",
    "leak",
    "profile",
    "benchmark",
    "regression",
    "incident",
    "postmortem",
    "alert",
    "metric",
    "trace",
    "log",
    "observability",
    "frontend",
    "backend",
    "component",
    "state",
    "render",
    "accessibility",
    "contrast",
    "keyboard",
    "screen",
    "reader",
    "typescript",
    "rust",
    "python",
    "golang",
    "java",
    "graphql",
    "rest",
    "endpoint",
    "contract",
    "versioning",
    "pagination",
    "authentication",
    "authorization",
    "token",
    "oauth",
    "session",
    "encryption",
    "secret",
    "vault",
    "audit",
    "compliance",
    "policy",
    "review",
    "checklist",
    "workflow",
    "agent",
    "orchestrate",
    "delegate",
    "context",
    "prompt",
    "evaluation",
    "rubric",
    "dataset",
    "model",
    "embedding",
    "retrieval",
    "vector",
    "search",
    "ranking",
    "relevance",
    "feature",
    "flag",
    "rollout",
    "canary",
    "rollback",
    "release",
    "changelog",
    "commit",
    "branch",
    "merge",
    "conflict",
    "rebase",
    "lint",
    "format",
    "style",
    "convention",
    "architecture",
    "boundary",
    "module",
    "crate",
    "package",
    "dependency",
    "upgrade",
    "vulnerability",
    "advisory",
    "scan",
    "static",
    "analysis",
    "fuzzing",
    "property",
    "invariant",
    "contract",
    "error",
    "handling",
    "retry",
    "backoff",
    "circuit",
    "breaker",
    "timeout",
    "queue",
    "worker",
    "scheduler",
    "cron",
    "webhook",
    "trigger",
    "event",
    "stream",
    "kafka",
    "postgres",
    "sqlite",
    "redis",
    "mongodb",
    "elasticsearch",
    "shard",
    "replica",
    "consistency",
    "transaction",
    "isolation",
    "deadlock",
    "lock",
    "mutex",
    "thread",
    "parallel",
    "concurrency",
    "channel",
    "actor",
    "message",
    "protocol",
    "serialization",
    "json",
    "yaml",
    "markdown",
    "documentation",
    "tutorial",
    "onboarding",
    "standup",
    "estimate",
    "backlog",
    "story",
    "acceptance",
    "criteria",
    "stakeholder",
    "roadmap",
    "experiment",
    "hypothesis",
    "significance",
    "cohort",
    "retention",
    "funnel",
    "dashboard",
    "report",
    "budget",
    "cost",
    "usage",
    "billing",
    "quota",
    "limit",
    "embedded",
    "firmware",
    "driver",
    "interrupt",
    "dma",
];

const TOOLS: &[&str] = &[
    "Read",
    "Write",
    "Edit",
    "Bash",
    "Glob",
    "Grep",
    "WebFetch",
    "WebSearch",
];
const MODELS: &[&str] = &[
    "sonnet",
    "opus",
    "haiku",
    "inherit",
    "claude-sonnet-4-0",
    "claude-opus-4-1",
];
const CATEGORIES: &[&str] = &["core", "quality", "infra", "data", "product", "meta"];
const NAMESPACES: &[&str] = &["tools", "workflows", "review", "git", "team", "ops", "docs"];

fn sentence(rng: &mut Rng) -> String {
    let n = 8 + rng.below(14);
    let mut s = String::new();
    for i in 0..n {
        let w = rng.pick(WORDS);
        if i == 0 {
            let mut c = w.chars();
            if let Some(first) = c.next() {
                s.push(first.to_ascii_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push(' ');
            s.push_str(w);
        }
    }
    s.push('.');
    s
}

/// A Markdown body of roughly `target` bytes: headings, paragraphs, lists and a code block.
fn body(rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 256);
    while out.len() < target {
        let _ = writeln!(
            out,
            "## {} {}\n",
            capitalize(rng.pick(WORDS)),
            rng.pick(WORDS)
        );
        for _ in 0..2 + rng.below(3) {
            for _ in 0..3 + rng.below(4) {
                out.push_str(&sentence(rng));
                out.push(' ');
            }
            out.push_str("\n\n");
        }
        for _ in 0..3 + rng.below(5) {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                capitalize(rng.pick(WORDS)),
                rng.pick(WORDS),
                sentence(rng)
            );
        }
        if rng.chance(40) {
            let _ = writeln!(
                out,
                "\n```bash\n{} --{} {}\n```",
                rng.pick(WORDS),
                rng.pick(WORDS),
                rng.pick(WORDS)
            );
        }
        out.push('\n');
    }
    out
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn size(rng: &mut Rng, mean: usize) -> usize {
    // Between a third and twice the mean, skewed like real files.
    mean / 3 + rng.below(mean * 5 / 3)
}

/// Applies an awkward case to about 2 % of files.
fn awkward(rng: &mut Rng, text: String) -> String {
    match rng.below(100) {
        0 => text.replace('\n', "\r\n"),
        1 => format!("\u{FEFF}{text}"),
        _ => text,
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        context(fs::create_dir_all(parent), || {
            format!("cannot create {}", parent.display())
        })?;
    }
    context(fs::write(path, text), || {
        format!("cannot write {}", path.display())
    })
}

fn agent(rng: &mut Rng, name: &str) -> String {
    let topic = rng.pick(WORDS);
    let description = if rng.chance(2) {
        // The real-world breakage: an unquoted `: ` inside a plain scalar.
        format!(
            "Use when the user asks about {topic}. Triggers on: '{topic}', '{}'",
            rng.pick(WORDS)
        )
    } else {
        format!(
            "\"Use this agent for {topic} {} and {}. {}\"",
            rng.pick(WORDS),
            rng.pick(WORDS),
            sentence(rng)
        )
    };
    let tools: Vec<&str> = (0..2 + rng.below(5)).map(|_| rng.pick(TOOLS)).collect();
    let mut text = String::new();
    if rng.chance(1) {
        // Documentation among agents: no frontmatter.
        let _ = write!(text, "# {name}\n\n");
    } else {
        let _ = write!(
            text,
            "---\nname: {name}\ndescription: {description}\ntools: {}\nmodel: {}\n---\n\n",
            tools.join(", "),
            rng.pick(MODELS)
        );
    }
    text.push_str(&format!("You are a senior {topic} specialist.\n\n"));
    let target = size(rng, 5_400);
    text.push_str(&body(rng, target));
    awkward(rng, text)
}

fn command(rng: &mut Rng) -> String {
    let mut text = String::new();
    if rng.chance(70) {
        let _ = write!(
            text,
            "---\ndescription: {}\nargument-hint: \"<{}> [--{}]\"\nmodel: {}\n---\n\n",
            sentence(rng),
            rng.pick(WORDS),
            rng.pick(WORDS),
            rng.pick(MODELS)
        );
    }
    let _ = write!(
        text,
        "# {} {}\n\nWork on: $ARGUMENTS\n\n",
        capitalize(rng.pick(WORDS)),
        rng.pick(WORDS)
    );
    if rng.chance(30) {
        text.push_str("Current state: !`git status --short`\n\nFirst argument: $1\n\n");
    }
    let target = size(rng, 12_000);
    text.push_str(&body(rng, target));
    awkward(rng, text)
}

fn skill(rng: &mut Rng, name: &str) -> String {
    let mut text = format!(
        "---\nname: {name}\ndescription: {} Use when working on {} or {}.\nlicense: Apache-2.0\n---\n\n# {}\n\n",
        sentence(rng),
        rng.pick(WORDS),
        rng.pick(WORDS),
        capitalize(name)
    );
    let target = size(rng, 9_000);
    text.push_str(&body(rng, target));
    awkward(rng, text)
}

/// Where [`generate`] puts things below its output folder.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The user's Claude folder (`home/.claude`).
    pub claude_dir: PathBuf,
    /// The user's `.claude.json`.
    pub claude_json: PathBuf,
    /// The project folders.
    pub projects: Vec<PathBuf>,
    /// The n8n export.
    pub workflows: PathBuf,
}

impl Layout {
    /// The layout of a corpus generated into `out`.
    pub fn of(out: &Path) -> Layout {
        Layout {
            claude_dir: out.join("home/.claude"),
            claude_json: out.join("home/.claude.json"),
            projects: (0..PROJECTS)
                .map(|p| out.join("projects").join(format!("app-{p}")))
                .collect(),
            workflows: out.join("n8n/workflows.json"),
        }
    }
}

/// How many project folders a generated corpus has.
const PROJECTS: usize = 4;

/// Writes `count` resources below `out` — agents, commands and skills as files (skills bring
/// reference files besides), MCP servers and workflows in their JSON files — plus a
/// `jarvis.toml` that points at them. Returns a one-line summary.
pub fn generate(out: &Path, count: usize) -> Result<String> {
    if out.exists() {
        context(fs::remove_dir_all(out), || {
            format!("cannot clear {}", out.display())
        })?;
    }
    let mut rng = Rng(0x4A41_5256_4953);
    let home = out.join("home");
    let claude = home.join(".claude");
    let projects_dir = out.join("projects");
    let project_count = PROJECTS;
    let mut written = 0usize;
    let mut bytes = 0usize;
    let mut put = |path: &Path, text: &str, written: &mut usize| -> Result<()> {
        bytes += text.len();
        *written += 1;
        write(path, text)
    };

    // 20 user, 4 local and 4 project MCP servers; about one workflow per 200 resources.
    let workflow_count = (count / 200).clamp(1, 50);
    let file_resources = count.saturating_sub(28 + workflow_count);
    let agents = file_resources * 35 / 100;
    let commands = file_resources * 40 / 100;
    let skills = file_resources - agents - commands;
    for i in 0..agents {
        let name = format!("{}-{}-{i}", rng.pick(WORDS), rng.pick(WORDS));
        let text = agent(&mut rng, &name);
        let path = if i % 20 == 0 {
            // One in twenty belongs to a project.
            let p = projects_dir
                .join(format!("app-{}", i % project_count))
                .join(".claude/agents");
            p.join(format!("{name}.md"))
        } else if rng.chance(30) {
            claude
                .join("agents")
                .join(rng.pick(CATEGORIES))
                .join(format!("{name}.md"))
        } else {
            claude.join("agents").join(format!("{name}.md"))
        };
        put(&path, &text, &mut written)?;
    }
    for i in 0..commands {
        let name = format!("{}-{}-{i}", rng.pick(WORDS), rng.pick(WORDS));
        let text = command(&mut rng);
        let path = if i % 25 == 0 {
            projects_dir
                .join(format!("app-{}", i % project_count))
                .join(".claude/commands")
                .join(format!("{name}.md"))
        } else {
            claude
                .join("commands")
                .join(rng.pick(NAMESPACES))
                .join(format!("{name}.md"))
        };
        put(&path, &text, &mut written)?;
    }
    let mut reference_files = 0;
    for i in 0..skills {
        let name = format!("{}-{}-{i}", rng.pick(WORDS), rng.pick(WORDS));
        let dir = claude.join("skills").join(&name);
        put(&dir.join("SKILL.md"), &skill(&mut rng, &name), &mut written)?;
        for r in 0..rng.below(3) {
            let target = size(&mut rng, 6_000);
            let text = body(&mut rng, target);
            put(
                &dir.join("references").join(format!("ref-{r}.md")),
                &text,
                &mut written,
            )?;
            reference_files += 1;
        }
    }

    // MCP servers: user scope, local scope per project, and each project's .mcp.json.
    let mut user = String::from("{\n  \"mcpServers\": {\n");
    for i in 0..20 {
        let _ = writeln!(
            user,
            "    \"server-{i}\": {{\"command\": \"npx\", \"args\": [\"-y\", \"@acme/mcp-{i}\"], \"env\": {{\"TOKEN\": \"secret-{i}\"}}}}{}",
            if i < 19 { "," } else { "" }
        );
    }
    user.push_str("  },\n  \"projects\": {\n");
    for p in 0..project_count {
        let path = projects_dir.join(format!("app-{p}"));
        fs::create_dir_all(&path)?;
        let _ = writeln!(
            user,
            "    {:?}: {{\"mcpServers\": {{\"server-{p}\": {{\"type\": \"http\", \"url\": \"https://mcp.example/{p}\", \"headers\": {{\"Authorization\": \"Bearer ${{TOKEN_{p}}}\"}}}}}}}}{}",
            path.to_string_lossy(),
            if p + 1 < project_count { "," } else { "" }
        );
        write(
            &path.join(".mcp.json"),
            &format!(
                "{{\"mcpServers\": {{\"db-{p}\": {{\"command\": \"npx\", \"args\": [\"pg\", \"${{DATABASE_URL:-postgres://localhost/app{p}}}\"]}}}}}}\n"
            ),
        )?;
    }
    user.push_str("  }\n}\n");
    write(&home.join(".claude.json"), &user)?;

    // An n8n export.
    let mut workflows = String::from("[\n");
    for w in 0..workflow_count {
        let _ = writeln!(
            workflows,
            "  {{\"id\": \"wf{w:014}\", \"name\": \"{} {} flow {w}\", \"active\": {}, \"tags\": [{{\"id\": \"t{w}\", \"name\": \"{}\"}}], \"nodes\": [{{\"name\": \"Webhook\", \"type\": \"n8n-nodes-base.webhook\", \"typeVersion\": 2, \"webhookId\": \"hook-{w}\", \"parameters\": {{\"httpMethod\": \"POST\", \"path\": \"flow-{w}\"}}}}, {{\"name\": \"Slack\", \"type\": \"n8n-nodes-base.slack\", \"parameters\": {{}}}}], \"connections\": {{}}}}{}",
            capitalize(rng.pick(WORDS)),
            rng.pick(WORDS),
            w % 3 != 0,
            rng.pick(WORDS),
            if w + 1 < workflow_count { "," } else { "" }
        );
    }
    workflows.push_str("]\n");
    write(&out.join("n8n/workflows.json"), &workflows)?;

    let mut config = String::from("[discovery]\n");
    let _ = writeln!(config, "claude_dir = {:?}", claude.to_string_lossy());
    let _ = writeln!(
        config,
        "claude_json = {:?}",
        home.join(".claude.json").to_string_lossy()
    );
    let _ = writeln!(
        config,
        "workflow_paths = [{:?}]",
        out.join("n8n/workflows.json").to_string_lossy()
    );
    config.push_str("projects = [");
    for p in 0..project_count {
        let _ = write!(
            config,
            "{:?}{}",
            projects_dir.join(format!("app-{p}")).to_string_lossy(),
            if p + 1 < project_count { ", " } else { "" }
        );
    }
    config.push_str("]\nwatch = false\n");
    write(&out.join("jarvis.toml"), &config)?;

    Ok(format!(
        "wrote {count} resources in {} files ({written} Markdown files, {reference_files} of them skill references; {:.1} MB) below {}; configuration in {}",
        written + 3 + project_count,
        bytes as f64 / 1e6,
        out.display(),
        out.join("jarvis.toml").display()
    ))
}
