//! Precedence between definitions of the same name.
//!
//! The rules follow Claude Code:
//! - agents and commands: a project definition beats the user's; within one folder tree two
//!   files with one name load only once (the first by path), the other is shadowed;
//! - skills: the user's (personal) definition beats a project's, and a skill beats a command of
//!   the same name;
//! - MCP servers: local (`~/.claude.json` project entry) beats project (`.mcp.json`) beats user;
//!   Claude Desktop is a separate application and shadows nothing;
//! - workflows: the same workflow id in two export files loads once.
//!
//! A project-bound definition only competes with definitions of the same project or with
//! user-level ones: two projects may each have their own `code-reviewer`. Shadowed resources stay
//! in the catalog, marked with `shadowed_by` and reported as a `shadowed` diagnostic, so a user
//! can see why an edit has no effect.

use std::sync::Arc;

use jarvis_core::{Diagnostic, DiagnosticCode, Resource, ResourceKind, Scope};

/// Marks shadowed resources and reports each one. A shadowed resource is copied before it is
/// marked, so the parse it came from (shared with the next scan) stays as it was read.
pub(crate) fn apply(resources: &mut [Arc<Resource>], diags: &mut Vec<Diagnostic>) {
    // `resources` arrive sorted by kind and qualified name (the scan sorts them first), so the
    // definitions of one name are runs of that order; workflows compete by workflow id and are
    // sorted apart. Names defined more than once are settled in the order of (kind, name), so
    // diagnostics come out in the same order on every scan.
    let mut keyed: Vec<(ResourceKind, &str, Vec<usize>)> = Vec::new();
    let mut workflows: Vec<(&str, usize)> = Vec::new();
    let mut start = 0;
    while start < resources.len() {
        let r = &resources[start];
        let mut end = start + 1;
        if r.kind == ResourceKind::Workflow {
            workflows.push((identity(r), start));
        } else {
            while end < resources.len()
                && resources[end].kind == r.kind
                && resources[end].qualified_name == r.qualified_name
            {
                end += 1;
            }
            if end - start > 1 {
                keyed.push((r.kind, identity(r), (start..end).collect()));
            }
        }
        start = end;
    }
    workflows.sort_unstable();
    for run in workflows.chunk_by(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            let members = run.iter().map(|&(_, i)| i).collect();
            keyed.push((ResourceKind::Workflow, run[0].0, members));
        }
    }
    keyed.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut groups: Vec<Vec<usize>> = keyed.into_iter().map(|(_, _, m)| m).collect();
    for members in &mut groups {
        members.sort_by(|&a, &b| {
            let (ra, rb) = (&resources[a], &resources[b]);
            (rank(ra), &ra.project, &ra.source).cmp(&(rank(rb), &rb.project, &rb.source))
        });
        let mut winners: Vec<usize> = Vec::new();
        for &i in members.iter() {
            match winners
                .iter()
                .find(|&&w| competes(&resources[w], &resources[i]))
            {
                Some(&w) => shadow(resources, i, w, diags),
                None => winners.push(i),
            }
        }
    }
    skills_beat_commands(resources, diags);
    report_ambiguous_aliases(resources, diags);
}

/// What two definitions must share to compete.
fn identity(r: &Resource) -> &str {
    match &r.details {
        jarvis_core::Details::Workflow(w) => w.workflow_id.as_deref().unwrap_or(&r.name),
        _ => &r.qualified_name,
    }
}

/// Lower wins.
fn rank(r: &Resource) -> u8 {
    match (r.kind, r.scope) {
        (ResourceKind::Skill, Scope::User) => 0,
        (ResourceKind::Skill, _) => 1,
        (ResourceKind::McpServer, Scope::Local) => 0,
        (ResourceKind::McpServer, Scope::Project) => 1,
        (ResourceKind::McpServer, Scope::User) => 2,
        (ResourceKind::McpServer, _) => 3,
        // The live API knows a workflow's current state better than an export file.
        (ResourceKind::Workflow, Scope::Remote) => 0,
        (_, Scope::Project) => 0,
        _ => 1,
    }
}

/// Whether `a` and `b` are alternatives for the same slot: both in Claude Desktop or both not,
/// and not bound to two different projects.
fn competes(a: &Resource, b: &Resource) -> bool {
    (a.scope == Scope::Desktop) == (b.scope == Scope::Desktop)
        && (a.project.is_none() || b.project.is_none() || a.project == b.project)
}

fn shadow(
    resources: &mut [Arc<Resource>],
    loser: usize,
    winner: usize,
    diags: &mut Vec<Diagnostic>,
) {
    let (winner_id, winner_source, winner_scope) = {
        let w = &resources[winner];
        (w.id.clone(), w.source.clone(), w.scope)
    };
    let r = Arc::make_mut(&mut resources[loser]);
    let why = if r.scope == winner_scope {
        "has the same name in the same scope".to_owned()
    } else {
        format!("takes precedence ({} over {})", winner_scope, r.scope)
    };
    diags.push(Diagnostic::new(
        DiagnosticCode::Shadowed,
        &r.source,
        format!(
            "{} `{}` is shadowed: {} {why}",
            r.kind,
            r.qualified_name,
            winner_source.display()
        ),
    ));
    r.shadowed_by = Some(winner_id);
    r.flags.push(DiagnosticCode::Shadowed);
}

fn skills_beat_commands(resources: &mut [Arc<Resource>], diags: &mut Vec<Diagnostic>) {
    // Active skills sorted by name: a binary search per command rather than a pass over every
    // skill.
    let mut skills: Vec<(&str, usize)> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == ResourceKind::Skill && r.is_active())
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    skills.sort_unstable();
    let mut losers = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if r.kind != ResourceKind::Command || !r.is_active() {
            continue;
        }
        let name = r.qualified_name.as_str();
        let start = skills.partition_point(|&(n, _)| n < name);
        if let Some(&(_, s)) = skills[start..]
            .iter()
            .take_while(|&&(n, _)| n == name)
            .find(|&&(_, s)| competes(&resources[s], r))
        {
            losers.push((i, s));
        }
    }
    drop(skills);
    for (loser, winner) in losers {
        shadow(resources, loser, winner, diags);
    }
}

/// A bare command name defined several times: within one scope it is ambiguous (use `dir:name`);
/// across scopes the project's definition takes the bare name, and the others remain reachable
/// by their namespaced form.
fn report_ambiguous_aliases(resources: &[Arc<Resource>], diags: &mut Vec<Diagnostic>) {
    let mut commands: Vec<(&str, usize)> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.kind == ResourceKind::Command && r.is_active())
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    commands.sort_unstable();
    for run in commands.chunk_by(|a, b| a.0 == b.0) {
        if run.len() < 2 {
            continue;
        }
        let name = run[0].0;
        let rs: Vec<&Resource> = run.iter().map(|&(_, i)| &*resources[i]).collect();
        let best_rank = rs.iter().map(|r| rank(r)).min().unwrap_or(0);
        let owners: Vec<&&Resource> = rs.iter().filter(|r| rank(r) == best_rank).collect();
        let forms = |set: &[&&Resource]| {
            set.iter()
                .map(|r| format!("/{}", r.qualified_name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if owners.len() > 1 {
            for r in &owners {
                diags.push(Diagnostic::new(
                    DiagnosticCode::AmbiguousName,
                    &r.source,
                    format!(
                        "/{name} is defined {} times in the {} scope ({}); use the namespaced form",
                        owners.len(),
                        r.scope,
                        forms(&owners)
                    ),
                ));
            }
        }
        for r in rs.iter().filter(|r| rank(r) != best_rank) {
            if let Some(owner) = owners.iter().find(|o| competes(o, r)) {
                diags.push(Diagnostic::new(
                    DiagnosticCode::Shadowed,
                    &r.source,
                    format!(
                        "the bare name /{name} resolves to the {} command {}; this one stays reachable as /{}",
                        owner.scope,
                        owner.source.display(),
                        r.qualified_name
                    ),
                ));
            }
        }
    }
}
