//! A full scan of the fixture: counts, precedence, diagnostics, secrets.

use std::path::Path;

use jarvis_core::{Details, DiagnosticCode, McpApproval, ResourceKind, Scope, Severity};
use jarvis_discovery::{CatalogSnapshot, LiveCatalog, ReloadOutcome};

use crate::fixture;

fn load() -> (fixture::Fixture, LiveCatalog) {
    let fx = fixture::build();
    let catalog = LiveCatalog::load(fx.roots());
    (fx, catalog)
}

fn count(snapshot: &CatalogSnapshot, kind: ResourceKind) -> (usize, usize) {
    let all: Vec<_> = snapshot.of_kind(kind).collect();
    (all.len(), all.iter().filter(|r| r.is_active()).count())
}

fn has_diag(snapshot: &CatalogSnapshot, code: DiagnosticCode, file_suffix: &str) -> bool {
    snapshot
        .diagnostics()
        .iter()
        .any(|d| d.code == code && d.path.to_string_lossy().ends_with(file_suffix))
}

#[test]
fn counts_per_kind_include_shadowed_definitions() {
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    assert_eq!(snap.generation(), 1);
    assert_eq!(count(&snap, ResourceKind::Agent), (9, 7));
    assert_eq!(count(&snap, ResourceKind::Command), (8, 7));
    assert_eq!(count(&snap, ResourceKind::Skill), (5, 4));
    assert_eq!(count(&snap, ResourceKind::McpServer), (11, 9));
    assert_eq!(count(&snap, ResourceKind::Workflow), (2, 2));
    let stats = snap.stats();
    assert_eq!(stats.kinds[&ResourceKind::Agent].shadowed, 2);
}

#[test]
fn every_awkward_file_has_its_diagnostic() {
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    let expected = [
        (DiagnosticCode::NoFrontmatter, "agents/README.md"),
        (DiagnosticCode::MissingName, "agents/noname.md"),
        (DiagnosticCode::MissingDescription, "agents/nodesc.md"),
        (DiagnosticCode::InvalidName, "agents/dash.md"),
        (DiagnosticCode::InvalidName, "agents/colon-name.md"),
        (DiagnosticCode::YamlRecovered, "agents/colon.md"),
        (DiagnosticCode::NotUtf8, "agents/latin1.md"),
        (DiagnosticCode::EmptyFile, "agents/empty.md"),
        (DiagnosticCode::FileTooLarge, "agents/huge.md"),
        (
            DiagnosticCode::FrontmatterUnterminated,
            "agents/unterminated.md",
        ),
        (DiagnosticCode::YamlInvalid, "agents/garbage.md"),
        (DiagnosticCode::SymlinkLoop, "agents/loop"),
        (DiagnosticCode::WalkFailed, "agents/dangling.md"),
        (DiagnosticCode::Shadowed, "agents/dup-b.md"),
        (DiagnosticCode::NoFrontmatter, "commands/top.md"),
        (DiagnosticCode::MissingDescription, "commands/modelonly.md"),
        (DiagnosticCode::AmbiguousName, "commands/tools/debug.md"),
        (DiagnosticCode::AmbiguousName, "commands/other/debug.md"),
        (DiagnosticCode::Shadowed, "commands/workflows/fix.md"),
        (DiagnosticCode::Shadowed, "commands/helper.md"),
        (DiagnosticCode::InvalidName, "skills/Bad_Name"),
        (
            DiagnosticCode::DescriptionTooLong,
            "skills/long-desc/SKILL.md",
        ),
        (DiagnosticCode::NameMismatch, "skills/mismatch/SKILL.md"),
        (DiagnosticCode::SkillManifestMissing, "skills/nomanifest"),
        (DiagnosticCode::SkillManifestMissing, "skills/stray.md"),
        (DiagnosticCode::McpUrlWithoutType, ".claude.json"),
        (DiagnosticCode::McpEntryInvalid, ".claude.json"),
        (DiagnosticCode::EnvVarUnset, ".claude.json"),
        (DiagnosticCode::WorkflowInvalid, "n8n/export.json"),
    ];
    for (code, suffix) in expected {
        assert!(
            has_diag(&snap, code, suffix),
            "missing {code} for {suffix}; got:\n{}",
            snap.diagnostics()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // An unterminated or unparseable frontmatter is not also reported as "documentation".
    assert!(!has_diag(
        &snap,
        DiagnosticCode::NoFrontmatter,
        "agents/unterminated.md"
    ));
    assert!(!has_diag(
        &snap,
        DiagnosticCode::NoFrontmatter,
        "agents/garbage.md"
    ));
    // Lines are reported where known.
    let recovered = snap
        .diagnostics()
        .iter()
        .find(|d| d.code == DiagnosticCode::YamlRecovered)
        .unwrap();
    assert_eq!(recovered.line, Some(3));
    // The default Claude Desktop location was configured explicitly here, so nothing is missing.
    assert!(
        !snap
            .diagnostics()
            .iter()
            .any(|d| d.code == DiagnosticCode::RootMissing)
    );
}

#[test]
fn recovered_and_awkward_files_still_load_with_their_fields() {
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    let stats = snap.resolve(ResourceKind::Agent, "stats-analyst").unwrap();
    assert_eq!(
        stats.description,
        "Use when analysing A/B tests. Triggers on: 'p-value', 'significance'"
    );
    assert!(stats.flags.contains(&DiagnosticCode::YamlRecovered));

    let firmware = snap
        .resolve(ResourceKind::Agent, "firmware-expert")
        .unwrap();
    assert_eq!(
        firmware.description,
        "Embedded engineer for ARM Cortex-M microcontrollers and DMA."
    );
    let Details::Agent(details) = &firmware.details else {
        panic!("agent details")
    };
    assert_eq!(details.tools.as_deref(), Some(&[][..]));
    assert_eq!(details.model, "inherit");

    let tester = snap.resolve(ResourceKind::Agent, "tester").unwrap();
    assert_eq!(tester.category.as_deref(), Some("quality"));
    let Details::Agent(details) = &tester.details else {
        panic!("agent details")
    };
    assert_eq!(
        details.tools.as_deref(),
        Some(&["Read".to_owned(), "Bash".to_owned()][..])
    );

    let windows = snap.resolve(ResourceKind::Agent, "windows-agent").unwrap();
    assert_eq!(windows.description, "Saved on Windows with a BOM.");
    assert_eq!(windows.body.text(), "Body line\n");

    let latin = snap.resolve(ResourceKind::Agent, "latin-agent").unwrap();
    assert_eq!(latin.body.text(), "Caf\u{FFFD}\n");

    let reviewer = snap
        .of_kind(ResourceKind::Agent)
        .find(|r| r.name == "reviewer" && r.scope == Scope::User)
        .unwrap();
    let Details::Agent(details) = &reviewer.details else {
        panic!("agent details")
    };
    assert_eq!(details.tools.as_ref().unwrap(), &["Read", "Grep", "Glob"]);
}

#[test]
fn precedence_follows_claude_code() {
    let (fx, catalog) = load();
    let snap = catalog.snapshot();

    // Agents: project beats user; same name in one tree loads once.
    let reviewer = snap.resolve(ResourceKind::Agent, "reviewer").unwrap();
    assert_eq!(reviewer.scope, Scope::Project);
    assert_eq!(reviewer.project.as_deref(), Some(fx.project.as_path()));
    let user_reviewer = snap
        .of_kind(ResourceKind::Agent)
        .find(|r| r.name == "reviewer" && r.scope == Scope::User)
        .unwrap();
    assert_eq!(user_reviewer.shadowed_by.as_ref(), Some(&reviewer.id));
    let twins: Vec<_> = snap
        .of_kind(ResourceKind::Agent)
        .filter(|r| r.name == "twin")
        .collect();
    assert_eq!(twins.len(), 2);
    assert!(twins[0].source.ends_with("dup-a.md") && twins[0].is_active());
    assert_eq!(twins[1].shadowed_by.as_ref(), Some(&twins[0].id));

    // Commands: qualified and bare names; the project takes the bare name.
    let debug = snap.resolve(ResourceKind::Command, "tools:debug").unwrap();
    assert_eq!(debug.qualified_name, "tools:debug");
    assert_eq!(debug.aliases, ["debug"]);
    assert!(
        snap.resolve(ResourceKind::Command, "/debug").is_none(),
        "ambiguous bare name"
    );
    assert_eq!(snap.candidates(ResourceKind::Command, "debug").len(), 2);
    let fix = snap.resolve(ResourceKind::Command, "fix").unwrap();
    assert_eq!(fix.scope, Scope::Project);
    let user_fix = snap
        .resolve(ResourceKind::Command, "workflows:fix")
        .unwrap();
    assert!(
        user_fix.is_active(),
        "still reachable by its namespaced form"
    );
    let deep = snap
        .resolve(ResourceKind::Command, "ns:deeper:thing")
        .unwrap();
    assert_eq!(deep.category.as_deref(), Some("ns:deeper"));

    // A skill beats a command of the same name; the personal skill beats the project's.
    let helper_skill = snap.resolve(ResourceKind::Skill, "helper").unwrap();
    assert_eq!(helper_skill.scope, Scope::User);
    let project_skill = snap
        .of_kind(ResourceKind::Skill)
        .find(|r| r.name == "helper" && r.scope == Scope::Project)
        .unwrap();
    assert_eq!(project_skill.shadowed_by.as_ref(), Some(&helper_skill.id));
    let helper_command = snap
        .of_kind(ResourceKind::Command)
        .find(|r| r.name == "helper")
        .unwrap();
    assert_eq!(helper_command.shadowed_by.as_ref(), Some(&helper_skill.id));

    // MCP: local > project > user; another project's local server competes with nothing here.
    let mcp = |name: &str, scope: Scope| {
        snap.of_kind(ResourceKind::McpServer)
            .find(|r| r.name == name && r.scope == scope)
            .unwrap_or_else(|| panic!("{name} in {scope}"))
    };
    assert_eq!(
        mcp("ctx", Scope::User).shadowed_by.as_ref(),
        Some(&mcp("ctx", Scope::Local).id)
    );
    assert_eq!(
        mcp("db", Scope::Project).shadowed_by.as_ref(),
        Some(&mcp("db", Scope::Local).id)
    );
    assert!(mcp("far", Scope::Local).is_active());
    assert_eq!(
        mcp("far", Scope::Local).project.as_deref(),
        Some(Path::new("/elsewhere/other-project"))
    );
}

#[test]
fn commands_record_namespace_placeholders_and_references() {
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    let debug = snap.resolve(ResourceKind::Command, "tools:debug").unwrap();
    let Details::Command(d) = &debug.details else {
        panic!("command details")
    };
    assert_eq!(d.namespace.as_deref(), Some("tools"));
    assert_eq!(d.placeholders, ["$1", "$2"]);
    assert_eq!(d.shell_commands, ["git status"]);
    assert_eq!(d.file_references, ["docs/debugging.md"]);
    assert_eq!(
        d.allowed_tools.as_deref(),
        Some(&["Bash".to_owned(), "Read".to_owned()][..])
    );
    assert_eq!(d.argument_hint.as_deref(), Some("<error> [file]"));
    let top = snap.resolve(ResourceKind::Command, "top").unwrap();
    assert_eq!(top.description, "Summarize the repository");
}

#[test]
fn skills_list_their_files_without_running_them() {
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    let helper = snap.resolve(ResourceKind::Skill, "helper").unwrap();
    let Details::Skill(d) = &helper.details else {
        panic!("skill details")
    };
    let files: Vec<&str> = d.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["references/style.md", "scripts/run.sh"]);
    assert_eq!(d.license.as_deref(), Some("Apache-2.0"));
    let long = snap.resolve(ResourceKind::Skill, "long-desc").unwrap();
    assert!(long.flags.contains(&DiagnosticCode::DescriptionTooLong));
}

#[test]
fn mcp_servers_expand_variables_and_keep_secrets_masked() {
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    let get = |name: &str, scope: Scope| {
        snap.of_kind(ResourceKind::McpServer)
            .find(|r| r.name == name && r.scope == scope)
            .unwrap()
    };
    let api = get("api", Scope::Project);
    let Details::McpServer(d) = &api.details else {
        panic!("mcp details")
    };
    assert_eq!(d.url.as_deref(), Some("https://api.example/mcp"));
    assert_eq!(d.approval, Some(McpApproval::Enabled));
    assert_eq!(d.headers["X-Key"].expose(), "literal-header-secret");
    let Details::McpServer(pending) = &get("pending", Scope::Project).details else {
        panic!()
    };
    assert_eq!(pending.transport, jarvis_core::McpTransport::Http);
    assert_eq!(pending.approval, Some(McpApproval::Pending));
    let Details::McpServer(db) = &get("db", Scope::Project).details else {
        panic!()
    };
    assert_eq!(db.approval, Some(McpApproval::Disabled));
    assert_eq!(db.args[1], "postgres://app:********@db:5432/app");
    let Details::McpServer(remote) = &get("remote", Scope::User).details else {
        panic!()
    };
    assert_eq!(
        remote.headers["Authorization"].expose(),
        "Bearer tok-user-4242"
    );
    let Details::McpServer(unset) = &get("unset", Scope::User).details else {
        panic!()
    };
    assert_eq!(unset.unresolved_vars, ["MISSING_VAR"]);
    assert_eq!(
        unset.headers["Authorization"].expose(),
        "Bearer ${MISSING_VAR}"
    );

    let everything = serde_json::to_string(&(snap.resources(), snap.diagnostics())).unwrap();
    let debug = format!("{:?}", snap.resources());
    for secret in fixture::SECRETS {
        assert!(!everything.contains(secret), "{secret} leaked into JSON");
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
    assert!(everything.contains("********"));
}

#[test]
fn workflows_expose_their_webhooks() {
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    let digest = snap.resolve(ResourceKind::Workflow, "PR digest").unwrap();
    assert_eq!(digest.tags, ["ci"]);
    let Details::Workflow(d) = &digest.details else {
        panic!("workflow details")
    };
    assert_eq!(d.workflow_id.as_deref(), Some("wfA1"));
    assert_eq!(d.webhooks[0].methods, ["POST"]);
    assert_eq!(d.webhooks[0].production_path, "github-pr");
    let lead = snap.resolve(ResourceKind::Workflow, "Lead lookup").unwrap();
    let Details::Workflow(d) = &lead.details else {
        panic!("workflow details")
    };
    assert!(!d.active);
    assert_eq!(d.webhooks[0].production_path, "b-2/lead/:leadId");
    assert_eq!(d.webhooks[0].response_mode, "lastNode");
}

#[test]
fn ids_are_stable_across_rescans_and_unchanged_rescans_keep_the_generation() {
    let (fx, catalog) = load();
    let first = catalog.snapshot();
    assert_eq!(catalog.reload(), ReloadOutcome::Unchanged(1));
    // A second, independent catalog over the same files derives the same ids.
    let other = LiveCatalog::load(fx.roots()).snapshot();
    let ids = |s: &CatalogSnapshot| {
        s.resources()
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&other));
    assert!(first.get(&first.resources()[0].id).is_some());
}

/// The snapshot of the default configuration under `home` and `vars`.
fn load_defaults(home: Option<&Path>, vars: &[(&str, &Path)]) -> std::sync::Arc<CatalogSnapshot> {
    let env = jarvis_discovery::Environment {
        home: home.map(Path::to_path_buf),
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.display().to_string()))
            .collect(),
    };
    let roots = jarvis_discovery::DiscoveryConfig::default()
        .resolve(&env)
        .unwrap();
    LiveCatalog::load(roots).snapshot()
}

/// The paths of the diagnostics with `code`.
fn paths_with(snap: &CatalogSnapshot, code: DiagnosticCode) -> Vec<String> {
    snap.diagnostics()
        .iter()
        .filter(|d| d.code == code)
        .map(|d| d.path.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn missing_default_locations_are_info_diagnostics_only() {
    let dir = tempfile::tempdir().unwrap();
    let snap = load_defaults(Some(dir.path()), &[]);
    assert!(snap.resources().is_empty());
    let missing: Vec<_> = snap
        .diagnostics()
        .iter()
        .filter(|d| d.code == DiagnosticCode::RootMissing)
        .collect();
    assert_eq!(missing.len(), 3, "{missing:?}");
    assert!(missing.iter().all(|d| d.severity == Severity::Info));
}

/// With no home folder handed in (`Environment::default()`), the defaults that derive from it
/// are not scanned, and the scan says so for each instead of answering an empty catalog.
#[test]
fn default_locations_without_a_home_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    let config = jarvis_discovery::DiscoveryConfig {
        claude_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let roots = config
        .resolve(&jarvis_discovery::Environment::default())
        .unwrap();
    let snap = LiveCatalog::load(roots).snapshot();
    assert_eq!(
        paths_with(&snap, DiagnosticCode::RootUnknown),
        ["~/.claude.json", "claude_desktop_config.json"],
        "the explicit Claude folder is scanned; the two defaults are reported"
    );
    let unknown: Vec<_> = snap
        .diagnostics()
        .iter()
        .filter(|d| d.code == DiagnosticCode::RootUnknown)
        .collect();
    assert!(unknown.iter().all(|d| d.severity == Severity::Warning));
    assert!(unknown[0].message.contains("Environment::from_process()"));

    // `$CLAUDE_CONFIG_DIR` alone is enough for the Claude folder and `.claude.json`.
    let snap = load_defaults(None, &[("CLAUDE_CONFIG_DIR", dir.path())]);
    assert_eq!(
        paths_with(&snap, DiagnosticCode::RootUnknown),
        ["claude_desktop_config.json"]
    );

    // A home folder handed in leaves nothing unknown.
    let snap = load_defaults(Some(dir.path()), &[]);
    assert!(paths_with(&snap, DiagnosticCode::RootUnknown).is_empty());
}

/// A reload keeps nothing of the snapshot it replaces: once its last reader lets go, the old
/// generation is freed (its listeners and the catalog hold only the current one).
#[test]
fn a_reload_releases_the_snapshot_it_replaces() {
    let (fx, catalog) = load();
    catalog.on_swap(|snapshot| assert!(snapshot.generation() > 1));
    let mut previous = std::sync::Arc::downgrade(&catalog.snapshot());
    for i in 0..5 {
        std::fs::write(
            fx.claude.join(format!("agents/probe-{i}.md")),
            format!("---\nname: probe-{i}\ndescription: Probe {i}\n---\nBody\n"),
        )
        .unwrap();
        assert!(matches!(catalog.reload(), ReloadOutcome::Swapped(_)));
        assert!(
            previous.upgrade().is_none(),
            "generation kept after reload {i}"
        );
        previous = std::sync::Arc::downgrade(&catalog.snapshot());
    }
}

/// A rescan parses only the files whose stamp changed, and a change the size and modification
/// time do not show (same length, the old time put back) is still seen.
#[test]
fn a_rescan_parses_only_what_changed() {
    let fx = fixture::build();
    fixture::age(fx._dir.path());
    let catalog = LiveCatalog::load(fx.roots());
    let first = catalog.snapshot();
    let files = first.stats().reuse.parsed;
    assert!(files > 10, "{:?}", first.stats().reuse);

    // Nothing changed: nothing parsed, the same generation.
    assert!(matches!(catalog.reload(), ReloadOutcome::Unchanged(_)));

    // One agent rewritten to the same length with its old modification time.
    let agent = fx.claude.join("agents/probe-stamp.md");
    std::fs::write(
        &agent,
        "---\nname: probe-stamp\ndescription: Version one\n---\nBody\n",
    )
    .unwrap();
    fixture::age(&agent);
    assert!(matches!(catalog.reload(), ReloadOutcome::Swapped(_)));
    let stats = catalog.snapshot().stats().reuse;
    assert_eq!(stats.parsed, 1, "{stats:?}");
    let old_time = std::fs::metadata(&agent).unwrap().modified().unwrap();
    std::fs::write(
        &agent,
        "---\nname: probe-stamp\ndescription: Version two\n---\nBody\n",
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&agent)
        .unwrap()
        .set_modified(old_time)
        .unwrap();
    assert!(matches!(catalog.reload(), ReloadOutcome::Swapped(_)));
    let snapshot = catalog.snapshot();
    assert_eq!(snapshot.stats().reuse.parsed, 1);
    let probe = snapshot
        .resolve(ResourceKind::Agent, "probe-stamp")
        .unwrap();
    assert_eq!(probe.description, "Version two");

    // A file added beside an unchanged SKILL.md is seen in the skill's file list.
    std::fs::write(fx.claude.join("skills/helper/references/new.md"), "# New\n").unwrap();
    assert!(matches!(catalog.reload(), ReloadOutcome::Swapped(_)));
    let snapshot = catalog.snapshot();
    let helper = snapshot.resolve(ResourceKind::Skill, "helper").unwrap();
    let Details::Skill(details) = &helper.details else {
        panic!("not a skill")
    };
    assert!(
        details.files.iter().any(|f| f.path == "references/new.md"),
        "{:?}",
        details.files
    );

    // Unchanged resources are the same allocation in both snapshots.
    let before = catalog.snapshot();
    std::fs::remove_file(&agent).unwrap();
    assert!(matches!(catalog.reload(), ReloadOutcome::Swapped(_)));
    let after = catalog.snapshot();
    // MCP servers are parsed again with their config files (approvals in one file apply to
    // servers of another); shadowed resources are copies marked as such.
    let from_files: Vec<_> = after
        .resources()
        .iter()
        .filter(|r| r.kind != ResourceKind::McpServer && r.is_active())
        .collect();
    let shared = from_files
        .iter()
        .filter(|r| {
            before
                .resources()
                .iter()
                .any(|b| std::sync::Arc::ptr_eq(b, r))
        })
        .count();
    assert!(from_files.len() > 10);
    assert_eq!(shared, from_files.len());
    assert!(after.resolve(ResourceKind::Agent, "probe-stamp").is_none());
}

/// Everything a snapshot says, in a form two snapshots can be compared by.
pub(crate) fn everything(snapshot: &CatalogSnapshot) -> (String, Vec<String>) {
    let resources = serde_json::to_string(snapshot.resources()).unwrap();
    let mut diagnostics: Vec<String> = snapshot
        .diagnostics()
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    diagnostics.sort();
    (resources, diagnostics)
}

/// A reload told which paths changed looks only there, and ends where a full scan of the same
/// files ends: files added, rewritten and deleted, a manifest added to a folder that had none,
/// a file added beside a skill, a folder of commands removed.
#[test]
fn a_reload_told_what_changed_ends_where_a_full_scan_does() {
    let fx = fixture::build();
    fixture::age(fx._dir.path());
    let catalog = LiveCatalog::load(fx.roots());
    let skills = fx.claude.join("skills");
    type Step<'a> = Box<dyn Fn() -> Vec<std::path::PathBuf> + 'a>;
    let steps: Vec<Step<'_>> = vec![
        Box::new(|| {
            let path = fx.claude.join("agents/probe-told.md");
            std::fs::write(
                &path,
                "---\nname: probe-told\ndescription: Told\n---\nBody\n",
            )
            .unwrap();
            vec![path]
        }),
        Box::new(|| {
            let path = skills.join("nomanifest/SKILL.md");
            std::fs::write(
                &path,
                "---\nname: nomanifest\ndescription: Now a skill\n---\nDo it.\n",
            )
            .unwrap();
            vec![path]
        }),
        Box::new(|| {
            let path = skills.join("helper/references/added.md");
            std::fs::write(&path, "# Added\n").unwrap();
            vec![path]
        }),
        Box::new(|| {
            let path = skills.join("stray-two.md");
            std::fs::write(&path, "Another stray file.\n").unwrap();
            vec![path]
        }),
        Box::new(|| {
            let path = fx.claude.join("agents/probe-told.md");
            std::fs::write(
                &path,
                "---\nname: probe-told\ndescription: Told twice\n---\nBody\n",
            )
            .unwrap();
            vec![path]
        }),
        Box::new(|| {
            let dir = fx.claude.join("commands");
            let sub = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.is_dir())
                .expect("a namespaced commands folder");
            std::fs::remove_dir_all(&sub).unwrap();
            vec![sub]
        }),
        Box::new(|| {
            let path = fx.claude.join("agents/probe-told.md");
            std::fs::remove_file(&path).unwrap();
            vec![path]
        }),
    ];
    for (step, edit) in steps.iter().enumerate() {
        let changed = edit();
        catalog.reload_changed(&changed);
        let told = catalog.snapshot();
        let full = LiveCatalog::load(fx.roots()).snapshot();
        let (told_all, full_all) = (everything(&told), everything(&full));
        if told_all != full_all {
            let only = |a: &[String], b: &[String]| -> Vec<String> {
                a.iter().filter(|x| !b.contains(x)).cloned().collect()
            };
            panic!(
                "step {step}: {} vs {} resources, {} vs {} diagnostics; only after the told reload: {:?}; only after the full scan: {:?}",
                told.resources().len(),
                full.resources().len(),
                told_all.1.len(),
                full_all.1.len(),
                only(&told_all.1, &full_all.1),
                only(&full_all.1, &told_all.1),
            );
        }
        // Files written in the last two seconds are read again whatever the watcher says.
        assert!(
            told.stats().reuse.parsed <= 5,
            "step {step}: {:?}",
            told.stats().reuse
        );
    }
    // A full rescan of the same files agrees: same fingerprint, nothing to swap.
    assert!(
        matches!(catalog.reload(), ReloadOutcome::Unchanged(_)),
        "a full rescan after told reloads found a change"
    );
    let told = catalog.snapshot();
    assert!(told.resolve(ResourceKind::Skill, "nomanifest").is_some());
    assert!(told.resolve(ResourceKind::Agent, "probe-told").is_none());
}

/// One lookup rule for every door: id, a workflow's n8n id, then the name as precedence picks
/// it; a name several definitions answer to is ambiguous, with those definitions.
#[test]
fn lookup_takes_ids_and_names_and_names_the_ambiguous() {
    use jarvis_discovery::LookupError;
    let (_fx, catalog) = load();
    let snap = catalog.snapshot();
    let debug = snap.resolve(ResourceKind::Command, "tools:debug").unwrap();
    assert_eq!(
        snap.lookup(ResourceKind::Command, debug.id.as_str()),
        Ok(debug)
    );
    assert_eq!(snap.lookup(ResourceKind::Command, "tools:debug"), Ok(debug));
    match snap.lookup(ResourceKind::Command, "debug") {
        Err(LookupError::Ambiguous(candidates)) => assert_eq!(candidates.len(), 2),
        other => panic!("`debug` names two commands: {other:?}"),
    }
    assert_eq!(
        snap.lookup(ResourceKind::Command, "no-such-command"),
        Err(LookupError::NotFound)
    );
    // An id asks for its own kind only.
    assert_eq!(
        snap.lookup(ResourceKind::Agent, debug.id.as_str()),
        Err(LookupError::NotFound)
    );
    let digest = snap.lookup(ResourceKind::Workflow, "PR digest").unwrap();
    assert_eq!(snap.lookup(ResourceKind::Workflow, "wfA1"), Ok(digest));
    assert_eq!(
        snap.lookup(ResourceKind::Workflow, digest.id.as_str()),
        Ok(digest)
    );
}

/// Workflows sharing a name or an n8n id across exports: precedence keeps one of each in
/// effect, and a lookup by name or n8n id finds that one, never a shadowed copy.
#[test]
fn a_workflow_lookup_finds_the_one_in_effect() {
    let fx = fixture::build();
    let second = fx._dir.path().join("second-export.json");
    std::fs::write(
        &second,
        r#"[{"id": "wfC3", "name": "PR digest", "active": true, "nodes": []}]"#,
    )
    .unwrap();
    let copy = fx._dir.path().join("copy-export.json");
    std::fs::copy(&fx.workflows, &copy).unwrap();
    let mut roots = fx.roots();
    roots.workflow_paths.push(second);
    roots.workflow_paths.push(copy);
    let snap = LiveCatalog::load(roots).snapshot();
    let named: Vec<_> = snap
        .of_kind(ResourceKind::Workflow)
        .filter(|r| r.name == "PR digest")
        .collect();
    assert_eq!(named.len(), 3);
    let by_name = snap.lookup(ResourceKind::Workflow, "PR digest").unwrap();
    assert!(by_name.is_active());
    if let Ok(by_id) = snap.lookup(ResourceKind::Workflow, "wfA1") {
        assert!(by_id.is_active());
    }
    for r in named {
        assert_eq!(snap.lookup(ResourceKind::Workflow, r.id.as_str()), Ok(r));
    }
}
