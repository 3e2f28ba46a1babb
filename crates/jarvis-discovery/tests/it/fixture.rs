//! A fixture home written by the tests: the shapes and awkward cases of real Claude Code setups
//! (unquoted `: ` in descriptions, block scalars, BOM and CRLF, invalid UTF-8, empty and
//! oversized files, symlink loops, dangling links, same-name definitions, namespaced commands,
//! MCP entries of every scope and transport, an n8n export). Written, not copied: every byte is
//! ours.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use jarvis_discovery::{DiscoveryConfig, Environment, ProjectConfig, ScanRoots};
use jarvis_testkit::write_file as write;

/// Secret values that must never appear in any output.
pub const SECRETS: &[&str] = &[
    "tok-user-4242",
    "sk-desktop-9999",
    "hunter2",
    "literal-header-secret",
    "local-db-pass",
];

/// The fixture's layout.
pub struct Fixture {
    /// Keeps the temporary folder alive as long as the fixture.
    pub _dir: tempfile::TempDir,
    pub home: PathBuf,
    pub claude: PathBuf,
    pub project: PathBuf,
    pub workflows: PathBuf,
}

impl Fixture {
    /// Discovery configuration for this fixture, with `max_file_bytes` small enough that the
    /// oversized file trips it.
    pub fn config(&self) -> DiscoveryConfig {
        DiscoveryConfig {
            claude_dir: Some(self.claude.clone()),
            claude_json: Some(self.home.join(".claude.json")),
            desktop_config: Some(self.home.join(".config/Claude/claude_desktop_config.json")),
            projects: vec![ProjectConfig::Path(self.project.clone())],
            workflow_paths: vec![self.workflows.clone()],
            max_file_bytes: 64 * 1024,
            ..DiscoveryConfig::default()
        }
    }

    /// The environment the scans see: `TOKEN` is set, `MISSING_VAR` is not.
    pub fn environment(&self) -> Environment {
        let mut vars = BTreeMap::new();
        vars.insert("TOKEN".to_owned(), "tok-user-4242".to_owned());
        vars.insert(
            "DB_URL".to_owned(),
            "postgres://app:hunter2@db:5432/app".to_owned(),
        );
        Environment {
            home: Some(self.home.clone()),
            vars,
        }
    }

    pub fn roots(&self) -> ScanRoots {
        self.config()
            .resolve(&self.environment())
            .expect("fixture config resolves")
    }
}

/// Writes the fixture.
pub fn build() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let claude = home.join(".claude");
    let project = dir.path().join("work/app");
    let workflows = dir.path().join("n8n/export.json");
    let agents = claude.join("agents");

    // --- agents -------------------------------------------------------------------------------
    write(
        &agents.join("reviewer.md"),
        "---\nname: reviewer\ndescription: \"Reviews code for correctness and security.\"\ntools: Read, Grep, Glob\nmodel: sonnet\n---\n\nYou are a meticulous reviewer. Look for race conditions and unchecked input.\n",
    );
    write(
        &agents.join("quality/deep/tester.md"),
        "---\nname: tester\ndescription: Writes tests.\ntools:\n  - Read\n  - Bash\ncolor: green\n---\nWrite property tests first.\n",
    );
    write(
        &agents.join("colon.md"),
        "---\nname: stats-analyst\ndescription: Use when analysing A/B tests. Triggers on: 'p-value', 'significance'\ntools: Read\n---\nYou are a statistician.\n",
    );
    write(
        &agents.join("block.md"),
        "---\nname: firmware-expert\ndescription: >\n  Embedded engineer for ARM Cortex-M\n  microcontrollers and DMA.\nmodel: inherit\ntools: []\n---\n# Firmware\n",
    );
    write(
        &agents.join("README.md"),
        "# Agents\n\nThis folder holds our agents.\n",
    );
    write(
        &agents.join("noname.md"),
        "---\ndescription: has no name\n---\nbody\n",
    );
    write(&agents.join("nodesc.md"), "---\nname: nodesc\n---\nbody\n");
    write(
        &agents.join("dash.md"),
        "---\nname: -bad\ndescription: starts with a dash\n---\n",
    );
    write(
        &agents.join("colon-name.md"),
        "---\nname: a:b\ndescription: has a colon\n---\n",
    );
    write(
        &agents.join("dup-a.md"),
        "---\nname: twin\ndescription: First twin.\n---\nA\n",
    );
    write(
        &agents.join("dup-b.md"),
        "---\nname: twin\ndescription: Second twin.\n---\nB\n",
    );
    write(
        &agents.join("crlf.md"),
        "\u{FEFF}---\r\nname: windows-agent\r\ndescription: Saved on Windows with a BOM.\r\n---\r\nBody line\r\n",
    );
    let mut latin1 = b"---\nname: latin-agent\ndescription: Has a Latin-1 byte.\n---\nCaf".to_vec();
    latin1.extend_from_slice(&[0xE9, b'\n']);
    write(&agents.join("latin1.md"), latin1);
    write(&agents.join("empty.md"), "");
    write(
        &agents.join("huge.md"),
        format!(
            "---\nname: huge\ndescription: too big\n---\n{}",
            "x".repeat(70 * 1024)
        ),
    );
    write(
        &agents.join("unterminated.md"),
        "---\nname: open\ndescription: never closed\nbody\n",
    );
    write(&agents.join("garbage.md"), "---\n[unclosed: {\n---\nbody\n");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&agents, agents.join("loop")).expect("symlink loop");
        std::os::unix::fs::symlink(agents.join("gone.md"), agents.join("dangling.md"))
            .expect("dangling symlink");
    }

    // --- commands -----------------------------------------------------------------------------
    let commands = claude.join("commands");
    write(
        &commands.join("top.md"),
        "# Summarize the repository\n\nSummarize $ARGUMENTS.\n",
    );
    write(
        &commands.join("tools/debug.md"),
        "---\ndescription: Debug a failure\nallowed-tools: [Bash, Read]\nargument-hint: \"<error> [file]\"\n---\nDebug $1 in $2. Context: !`git status`\nSee @docs/debugging.md\n",
    );
    write(
        &commands.join("other/debug.md"),
        "---\ndescription: Another debugger\n---\nDebug $ARGUMENTS\n",
    );
    write(
        &commands.join("ns/deeper/thing.md"),
        "---\ndescription: Deeply namespaced\n---\nThing\n",
    );
    write(
        &commands.join("workflows/fix.md"),
        "---\ndescription: User-level fix workflow\n---\nFix $ARGUMENTS\n",
    );
    write(
        &commands.join("helper.md"),
        "---\ndescription: Command that a skill overrides\n---\nHelp\n",
    );
    write(
        &commands.join("modelonly.md"),
        "---\nmodel: claude-sonnet-4-0\n---\n# Only a model in frontmatter\n",
    );

    // --- skills -------------------------------------------------------------------------------
    let skills = claude.join("skills");
    write(
        &skills.join("helper/SKILL.md"),
        "---\nname: helper\ndescription: Helps with release notes. Use when writing a changelog.\nlicense: Apache-2.0\n---\n# Helper\nWrite the changelog.\n",
    );
    write(&skills.join("helper/references/style.md"), "# Style\n");
    write(
        &skills.join("helper/scripts/run.sh"),
        "#!/bin/sh\necho never executed\n",
    );
    write(
        &skills.join("Bad_Name/SKILL.md"),
        "---\nname: Bad_Name\ndescription: Breaks the portable naming rule.\n---\n",
    );
    write(
        &skills.join("long-desc/SKILL.md"),
        format!(
            "---\nname: long-desc\ndescription: |-\n  {}\n---\n",
            "word ".repeat(230)
        ),
    );
    write(
        &skills.join("mismatch/SKILL.md"),
        "---\nname: other-name\ndescription: Folder and name differ.\n---\n",
    );
    write(&skills.join("nomanifest/README.md"), "# Not a skill\n");
    write(&skills.join("stray.md"), "A file directly in skills/.\n");

    // --- project ------------------------------------------------------------------------------
    let pclaude = project.join(".claude");
    write(
        &pclaude.join("agents/reviewer.md"),
        "---\nname: reviewer\ndescription: Project reviewer with house rules.\n---\nUse the house style.\n",
    );
    write(
        &pclaude.join("commands/fix.md"),
        "---\ndescription: Project fix\n---\nFix it the project way: $ARGUMENTS\n",
    );
    write(
        &pclaude.join("skills/helper/SKILL.md"),
        "---\nname: helper\ndescription: Project helper that the personal one beats.\n---\n",
    );
    write(
        &project.join(".mcp.json"),
        r#"{"mcpServers": {
            "db": {"command": "npx", "args": ["pg", "${DB_URL}"]},
            "web": {"type": "sse", "url": "https://web.example/sse"},
            "api": {"type": "http", "url": "${API_BASE:-https://api.example}/mcp", "headers": {"X-Key": "literal-header-secret"}},
            "pending": {"type": "streamable-http", "url": "https://pending.example/mcp"}
        }}"#,
    );

    // --- ~/.claude.json -----------------------------------------------------------------------
    let claude_json = format!(
        r#"{{
  "numStartups": 3,
  "mcpServers": {{
    "ctx": {{"command": "npx", "args": ["-y", "ctx@latest"]}},
    "remote": {{"type": "http", "url": "https://remote.example/mcp", "headers": {{"Authorization": "Bearer ${{TOKEN}}"}}}},
    "unset": {{"type": "http", "url": "https://u.example", "headers": {{"Authorization": "Bearer ${{MISSING_VAR}}"}}}},
    "broken": {{"url": "https://no-type.example"}},
    "nocmd": {{"args": ["x"]}}
  }},
  "projects": {{
    {project:?}: {{
      "mcpServers": {{
        "ctx": {{"command": "npx", "args": ["-y", "ctx@1.0.0"], "env": {{"MIN_TOKENS": "6000"}}}},
        "db": {{"command": "psql", "env": {{"PGPASSWORD": "${{PGPASSWORD:-local-db-pass}}"}}}}
      }},
      "enabledMcpjsonServers": ["api", "web"],
      "disabledMcpjsonServers": ["db"]
    }},
    "/elsewhere/other-project": {{
      "mcpServers": {{"far": {{"type": "sse", "url": "https://far.example/sse"}}}}
    }}
  }}
}}"#,
        project = project.to_string_lossy()
    );
    write(&home.join(".claude.json"), claude_json);
    write(
        &home.join(".config/Claude/claude_desktop_config.json"),
        r#"{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "fs-server", "/Users/me"], "env": {"API_KEY": "sk-desktop-9999"}}}}"#,
    );

    // --- n8n ----------------------------------------------------------------------------------
    write(
        &workflows,
        r#"[
  {"id": "wfA1", "name": "PR digest", "active": true, "tags": [{"id": "t1", "name": "ci"}],
   "nodes": [{"name": "Hook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "webhookId": "a-1",
              "parameters": {"httpMethod": "POST", "path": "github-pr"}},
             {"name": "Post", "type": "n8n-nodes-base.slack", "parameters": {"text": "hi"}}]},
  {"id": "wfB2", "name": "Lead lookup", "active": false, "tags": ["crm"],
   "nodes": [{"name": "Hook", "type": "n8n-nodes-base.webhook", "webhookId": "b-2",
              "parameters": {"path": "lead/:leadId", "responseMode": "lastNode"}}]},
  {"name": "not a workflow"}
]"#,
    );

    Fixture {
        _dir: dir,
        home,
        claude,
        project,
        workflows,
    }
}

/// The roots of a corpus written into `dir` by `jarvis_testkit::generate`.
pub fn generated_roots(dir: &Path) -> ScanRoots {
    let layout = jarvis_testkit::Layout::of(dir);
    let config = DiscoveryConfig {
        claude_dir: Some(layout.claude_dir),
        claude_json: Some(layout.claude_json),
        desktop_config: None,
        projects: layout
            .projects
            .into_iter()
            .map(ProjectConfig::Path)
            .collect(),
        workflow_paths: vec![layout.workflows],
        ..DiscoveryConfig::default()
    };
    let env = Environment {
        home: Some(dir.to_path_buf()),
        vars: Default::default(),
    };
    config.resolve(&env).unwrap()
}

/// Sets every file at or below `path` to have been modified an hour ago, as a user's files are:
/// a file modified in the last two seconds is parsed again on every rescan, however unchanged.
pub fn age(path: &Path) {
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let file = fs::File::options().write(true).open(entry.path()).unwrap();
            file.set_modified(hour_ago).unwrap();
        }
    }
}
