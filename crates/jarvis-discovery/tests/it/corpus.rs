//! The real-corpus suite: discovery against a folder of real, public Claude Code files.
//!
//! It runs when `JARVIS_CORPUS` names the corpus folder (`.ci/run` passes `../shared/corpus`).
//! The folder imitates one developer's machine: `claude-home/` is `~/.claude`,
//! `claude-home.json` is `~/.claude.json`, `projects/acme-api` is a project filed in
//! `~/.claude.json` under `/Users/dev/code/acme-api`, and `claude-desktop/` holds Claude
//! Desktop's config. Without the variable each test says that it did not run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jarvis_core::{Details, DiagnosticCode, ResourceKind, Scope, Severity};
use jarvis_discovery::{CatalogSnapshot, DiscoveryConfig, Environment, LiveCatalog, ProjectConfig};

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("JARVIS_CORPUS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("claude-home").is_dir(),
                "JARVIS_CORPUS={} is not a corpus",
                dir.display()
            );
            Some(dir)
        }
        None => {
            eprintln!("real-corpus suite did not run: set JARVIS_CORPUS to the corpus folder");
            None
        }
    }
}

fn load(dir: &std::path::Path) -> std::sync::Arc<CatalogSnapshot> {
    let config = DiscoveryConfig {
        claude_dir: Some(dir.join("claude-home")),
        claude_json: Some(dir.join("claude-home.json")),
        desktop_config: Some(dir.join("claude-desktop/claude_desktop_config.json")),
        projects: vec![ProjectConfig::Detailed {
            path: dir.join("projects/acme-api"),
            claude_json_key: Some("/Users/dev/code/acme-api".to_owned()),
        }],
        workflow_paths: vec![dir.join("n8n/workflows-export.json")],
        ..DiscoveryConfig::default()
    };
    // A clean environment: every `${VAR}` without a default stays unresolved.
    let env = Environment {
        home: Some(dir.to_path_buf()),
        vars: BTreeMap::new(),
    };
    LiveCatalog::load(config.resolve(&env).unwrap()).snapshot()
}

fn counts(snap: &CatalogSnapshot, kind: ResourceKind) -> (usize, usize) {
    let c = snap.stats().kinds[&kind];
    (c.total, c.active)
}

#[test]
fn exact_counts_per_kind() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    // 55 agent files: 54 with name and description, one README; plus the project's agent.
    // `cpp-pro.md` and `cpp-pro--voltagent.md` share the name `cpp-pro`: one is shadowed.
    assert_eq!(counts(&snap, ResourceKind::Agent), (55, 54));
    // 85 user commands and the project's `smart-fix`; all stay reachable by qualified name.
    assert_eq!(counts(&snap, ResourceKind::Command), (86, 86));
    assert_eq!(counts(&snap, ResourceKind::Skill), (28, 28));
    // User 3 + local 2 (acme-api) + local 1 (n8n-automations) + project 5 + desktop 3.
    assert_eq!(counts(&snap, ResourceKind::McpServer), (14, 12));
    assert_eq!(counts(&snap, ResourceKind::Workflow), (3, 3));
    // Nothing in the corpus is unreadable.
    assert!(
        snap.diagnostics()
            .iter()
            .all(|d| d.severity != Severity::Error),
        "{:?}",
        snap.diagnostics()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect::<Vec<_>>()
    );
}

#[test]
fn namespaced_commands_answer_to_both_forms() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    for qualified in [
        "tools:smart-debug",
        "debugging-toolkit:smart-debug",
        "conductor:implement",
        "workflows:tdd-cycle",
    ] {
        let r = snap
            .resolve(ResourceKind::Command, qualified)
            .unwrap_or_else(|| panic!("{qualified}"));
        assert_eq!(r.qualified_name, qualified);
    }
    // Two namespaces define `smart-debug`: the bare name is ambiguous and says so.
    assert!(snap.resolve(ResourceKind::Command, "smart-debug").is_none());
    assert_eq!(
        snap.candidates(ResourceKind::Command, "smart-debug").len(),
        2
    );
    assert!(
        snap.diagnostics()
            .iter()
            .any(|d| d.code == DiagnosticCode::AmbiguousName
                && d.path.ends_with("commands/tools/smart-debug.md"))
    );
    // Commands with only `model:` fall back to their first line and say so.
    let migrate = snap
        .resolve(ResourceKind::Command, "tools:code-migrate")
        .unwrap();
    assert!(!migrate.description.is_empty());
    let Details::Command(d) = &migrate.details else {
        panic!()
    };
    assert!(d.model.as_deref().is_some_and(|m| m.starts_with("claude-")));
}

#[test]
fn project_scope_takes_precedence_over_user_scope() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    // `/smart-fix` is the project's command; the user's stays reachable as `/workflows:smart-fix`.
    let fix = snap.resolve(ResourceKind::Command, "smart-fix").unwrap();
    assert_eq!(fix.scope, Scope::Project);
    assert!(
        fix.source
            .ends_with("projects/acme-api/.claude/commands/smart-fix.md")
    );
    assert!(
        snap.diagnostics()
            .iter()
            .any(|d| d.code == DiagnosticCode::Shadowed
                && d.path.ends_with("commands/workflows/smart-fix.md"))
    );
    // The project's `code-reviewer` agent is in effect.
    let reviewer = snap.resolve(ResourceKind::Agent, "code-reviewer").unwrap();
    assert_eq!(reviewer.scope, Scope::Project);
    // Same name in one tree: one `cpp-pro` loads, the other is shadowed and reported.
    let cpp: Vec<_> = snap
        .of_kind(ResourceKind::Agent)
        .filter(|r| r.name == "cpp-pro")
        .collect();
    assert_eq!(cpp.len(), 2);
    assert_eq!(cpp.iter().filter(|r| r.is_active()).count(), 1);
    // MCP: local beats user (`context7`) and local beats project (`postgres`).
    let mcp = |name: &str, scope: Scope| {
        snap.of_kind(ResourceKind::McpServer)
            .find(|r| r.name == name && r.scope == scope)
            .unwrap()
    };
    assert_eq!(
        mcp("context7", Scope::User).shadowed_by.as_ref(),
        Some(&mcp("context7", Scope::Local).id)
    );
    assert_eq!(
        mcp("postgres", Scope::Project).shadowed_by.as_ref(),
        Some(&mcp("postgres", Scope::Local).id)
    );
    let Details::McpServer(linear) = &mcp("linear", Scope::Project).details else {
        panic!()
    };
    assert_eq!(linear.approval, Some(jarvis_core::McpApproval::Disabled));
    let Details::McpServer(sentry) = &mcp("sentry", Scope::Project).details else {
        panic!()
    };
    assert_eq!(sentry.approval, Some(jarvis_core::McpApproval::Enabled));
    let Details::McpServer(api) = &mcp("internal-api", Scope::Project).details else {
        panic!()
    };
    assert_eq!(api.url.as_deref(), Some("https://api.acme.internal/mcp"));
}

#[test]
fn skills_list_their_reference_files() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    let api = snap.resolve(ResourceKind::Skill, "claude-api").unwrap();
    let Details::Skill(d) = &api.details else {
        panic!()
    };
    assert_eq!(d.files.len(), 65);
    assert!(d.files.iter().any(|f| f.path == "shared/prompt-caching.md"));
    assert!(d.files.iter().any(|f| f.path == "LICENSE.txt"));
    assert!(api.flags.contains(&DiagnosticCode::DescriptionTooLong));
    let total_files: usize = snap
        .of_kind(ResourceKind::Skill)
        .map(|r| match &r.details {
            Details::Skill(d) => d.files.len() + 1,
            _ => 0,
        })
        .sum();
    assert_eq!(
        total_files, 181,
        "28 SKILL.md files and their 153 other files"
    );
}

#[test]
fn mcp_secrets_are_masked() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    let text = serde_json::to_string(&(snap.resources(), snap.diagnostics())).unwrap();
    // Values of `env` and `headers` in the corpus, and the default of `${PGPASSWORD:-devpass}`.
    for secret in [
        "<redacted>",
        "devpass",
        "\"6000\"",
        "Bearer ${GITHUB_PAT}",
        "\"payments\"",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    let github = snap
        .of_kind(ResourceKind::McpServer)
        .find(|r| r.name == "github" && r.scope == Scope::Desktop)
        .unwrap();
    let Details::McpServer(d) = &github.details else {
        panic!()
    };
    assert_eq!(d.env["GITHUB_PERSONAL_ACCESS_TOKEN"].expose(), "<redacted>");
    assert!(
        snap.diagnostics()
            .iter()
            .any(|d| d.code == DiagnosticCode::EnvVarUnset && d.message.contains("GITHUB_PAT"))
    );
}

#[test]
fn every_awkward_file_listed_in_sources_has_its_diagnostic() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    let has = |code: DiagnosticCode, suffix: &str| {
        snap.diagnostics()
            .iter()
            .any(|d| d.code == code && d.path.to_string_lossy().ends_with(suffix))
    };
    assert!(has(DiagnosticCode::NoFrontmatter, "agents/README.md"));
    for agent in [
        "ab-test-analysis",
        "assumption-mapping",
        "backlog-grooming",
        "cohort-analysis",
    ] {
        assert!(
            has(DiagnosticCode::YamlRecovered, &format!("agents/{agent}.md")),
            "{agent}"
        );
        let r = snap.resolve(ResourceKind::Agent, agent).unwrap();
        assert!(
            r.description.contains(": "),
            "{agent}: description recovered whole"
        );
    }
    assert!(has(DiagnosticCode::Shadowed, "agents/cpp-pro.md"));
    assert!(has(
        DiagnosticCode::NoFrontmatter,
        "commands/comprehensive-review/pr-enhance.md"
    ));
    let no_frontmatter_commands = snap
        .diagnostics()
        .iter()
        .filter(|d| {
            d.code == DiagnosticCode::NoFrontmatter
                && d.path.to_string_lossy().contains("/commands/")
        })
        .count();
    assert_eq!(no_frontmatter_commands, 4);
    assert!(has(
        DiagnosticCode::MissingDescription,
        "commands/tools/code-migrate.md"
    ));
    assert!(has(
        DiagnosticCode::DescriptionTooLong,
        "skills/claude-api/SKILL.md"
    ));

    // Block scalars and YAML lists parse properly.
    let arm = snap
        .resolve(ResourceKind::Agent, "arm-cortex-expert")
        .unwrap();
    assert!(
        arm.description
            .starts_with("Senior embedded software engineer")
    );
    let Details::Agent(d) = &arm.details else {
        panic!()
    };
    assert_eq!(d.tools.as_deref(), Some(&[][..]));
    let gallery = snap
        .resolve(ResourceKind::Agent, "gallery-researcher")
        .unwrap();
    assert!(
        gallery
            .description
            .starts_with("Gallery search and inspiration agent.")
    );
    assert!(!gallery.description.contains('\n'));
}

#[test]
fn workflows_from_the_n8n_export() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    let hooks: BTreeMap<String, (Vec<String>, String, bool)> = snap
        .of_kind(ResourceKind::Workflow)
        .filter_map(|r| match &r.details {
            Details::Workflow(d) => d.webhooks.first().map(|w| {
                (
                    r.name.clone(),
                    (w.methods.clone(), w.production_path.clone(), d.active),
                )
            }),
            _ => None,
        })
        .collect();
    assert_eq!(hooks.len(), 3);
    let cost = hooks
        .values()
        .find(|(_, p, _)| p == "cc-cost-alert")
        .unwrap();
    assert_eq!(cost.0, ["POST"]);
    let lead = hooks
        .values()
        .find(|(_, p, _)| p.ends_with("lead/:leadId"))
        .unwrap();
    assert_eq!(lead.0, ["GET"]);
    assert_eq!(lead.1, "0ebd48f0-1744-5efb-bada-424ec8570edb/lead/:leadId");
    assert!(!lead.2);
}

#[test]
fn search_finds_real_agents_with_typos() {
    let Some(dir) = corpus() else { return };
    let snap = load(&dir);
    let hits = snap.search(&jarvis_discovery::SearchQuery::new("kubernets"));
    assert!(!hits.is_empty());
    let hits = snap.search(&jarvis_discovery::SearchQuery {
        kinds: vec![ResourceKind::Agent],
        ..jarvis_discovery::SearchQuery::new("rust pro")
    });
    assert_eq!(hits[0].name, "rust-pro");
}
