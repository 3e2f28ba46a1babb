//! Skills: `skills/<folder>/SKILL.md`. The invocation name is the folder name.
//!
//! The folder may also hold reference documents and scripts; they are listed (path and size) so
//! a user can see what a skill brings, and never executed or parsed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jarvis_core::{
    Body, Details, Diagnostic, DiagnosticCode, Resource, ResourceId, ResourceKind, Scope,
    SkillDetails, SkillFile, mask_secret_values,
};
use serde_json::Value;

use crate::fields::{Fields, one_line};
use crate::frontmatter::parse_document;
use crate::scan::Scan;
use crate::sources::{relative, string_list};
use crate::walk::files_below;

/// The manifest file name.
const MANIFEST: &str = "SKILL.md";
/// The portable limit on a description's length.
const MAX_DESCRIPTION: usize = 1024;
/// The portable limit on a name's length.
const MAX_NAME: usize = 64;

/// What a `skills/` folder holds: skill folders with and without a manifest, stray files.
#[derive(Debug, Clone, Default)]
struct Listing {
    manifests: Vec<PathBuf>,
    missing: Vec<PathBuf>,
    strays: Vec<PathBuf>,
    errors: Vec<Diagnostic>,
}

fn list(dir: &Path) -> Listing {
    let mut listing = Listing::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            listing.errors.push(Diagnostic::new(
                DiagnosticCode::WalkFailed,
                dir,
                format!("cannot be read: {e}"),
            ));
            return listing;
        }
    };
    let mut folders = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                // `is_dir` follows symlinks, as Claude Code does for linked skill folders.
                if path.is_dir() {
                    folders.push(path);
                } else {
                    listing.strays.push(path);
                }
            }
            Err(e) => listing.errors.push(Diagnostic::new(
                DiagnosticCode::WalkFailed,
                dir,
                format!("an entry cannot be read: {e}"),
            )),
        }
    }
    folders.sort();
    listing.strays.sort();
    (listing.manifests, listing.missing) = folders
        .into_iter()
        .map(|folder| folder.join(MANIFEST))
        .partition(|manifest| manifest.is_file());
    listing
}

/// Whether a `skills/` listing still holds after `changed` (paths at or below the folder): it
/// does when each is a file inside a skill folder that is still a file, other than a manifest
/// that was not there before.
fn listing_holds(dir: &Path, before: &Listing, changed: &[&Path]) -> bool {
    changed.iter().all(|path| {
        let Ok(rest) = path.strip_prefix(dir) else {
            return false;
        };
        rest.components().count() >= 2
            && path.is_file()
            && (path.file_name() != Some(MANIFEST.as_ref())
                || before.manifests.iter().any(|m| m == path))
    })
}

/// The skill folder of a manifest: what a skill's parse reads.
fn folder_of(manifest: &Path) -> &Path {
    manifest.parent().unwrap_or(manifest)
}

/// Scans a `skills/` folder: each direct sub-folder is one skill.
pub(crate) fn scan(scan: &mut Scan<'_>, dir: &Path, scope: Scope, project: Option<&Path>) {
    let listing = scan.listing(
        dir,
        LISTING,
        |before: &Arc<Listing>, changed| listing_holds(dir, before, changed),
        |_| Arc::new(list(dir)),
    );
    for diag in &listing.errors {
        scan.diag(diag.clone());
    }
    for path in &listing.strays {
        scan.saw(path, 0);
        scan.diag(
            Diagnostic::new(
                DiagnosticCode::SkillManifestMissing,
                path,
                "a file directly in `skills/` is not a skill; skills are folders holding SKILL.md",
            )
            .with_severity(jarvis_core::Severity::Info),
        );
    }
    for manifest in &listing.missing {
        let folder = folder_of(manifest);
        scan.saw(folder, 0);
        scan.diag(Diagnostic::new(
            DiagnosticCode::SkillManifestMissing,
            folder,
            format!("skill folder has no {MANIFEST}; not a skill"),
        ));
    }
    // A skill is its manifest plus the list of files beside it: a file added to or removed
    // from the folder parses the skill again even when SKILL.md is unchanged.
    let listing_of =
        |manifest: &Path, parsed: Option<&Arc<Resource>>| match parsed.map(|r| &r.details) {
            Some(Details::Skill(details)) => listing_stamp(&details.files),
            _ => listing_stamp(&list_files(folder_of(manifest), &mut Vec::new())),
        };
    let resources = scan.read_all_depending(
        &listing.manifests,
        folder_of,
        listing_of,
        |manifest, text, diags| {
            let folder = folder_of(manifest);
            let files = list_files(folder, diags);
            Arc::new(parse(text, folder, files, scope, project, diags))
        },
    );
    for resource in resources {
        if let Details::Skill(details) = &resource.details {
            for file in &details.files {
                scan.saw_in(&details.folder, &file.path, file.bytes);
            }
        }
        scan.push_shared(resource);
    }
}

/// The kind of listing [`Scan::listing`] keeps of a `skills/` folder.
const LISTING: u8 = 1;

/// A hash of a skill folder's listing: each file's path and size.
fn listing_stamp(files: &[SkillFile]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hash = rustc_hash::FxHasher::default();
    for file in files {
        file.path.hash(&mut hash);
        file.bytes.hash(&mut hash);
    }
    hash.finish()
}

/// Every file in the skill folder except the manifest, sorted by relative path.
fn list_files(folder: &Path, diags: &mut Vec<Diagnostic>) -> Vec<SkillFile> {
    let manifest = folder.join(MANIFEST);
    let mut walk_diags = Vec::new();
    let paths = files_below(folder, 16, |p| p != manifest, &mut walk_diags);
    diags.extend(walk_diags);
    paths
        .into_iter()
        .filter_map(|path| match fs::metadata(&path) {
            Ok(meta) => Some(SkillFile {
                path: relative(folder, &path),
                bytes: meta.len(),
            }),
            Err(e) => {
                diags.push(Diagnostic::new(
                    DiagnosticCode::ReadFailed,
                    &path,
                    format!("cannot stat skill file: {e}"),
                ));
                None
            }
        })
        .collect()
}

/// Parses a skill manifest. A skill always loads; departures from the portable rules are flags.
pub(crate) fn parse(
    text: &str,
    folder: &Path,
    files: Vec<SkillFile>,
    scope: Scope,
    project: Option<&Path>,
    diags: &mut Vec<Diagnostic>,
) -> Resource {
    let manifest = folder.join(MANIFEST);
    let doc = parse_document(text, &manifest, diags);
    let mut flags = Vec::new();
    if doc.recovered {
        flags.push(DiagnosticCode::YamlRecovered);
    }
    let fm = match doc.frontmatter {
        Some(fm) => fm,
        None => {
            diags.push(
                Diagnostic::new(
                    DiagnosticCode::NoFrontmatter,
                    &manifest,
                    "SKILL.md has no frontmatter; the skill has no description",
                )
                .with_severity(jarvis_core::Severity::Warning),
            );
            flags.push(DiagnosticCode::NoFrontmatter);
            serde_json::Map::new()
        }
    };
    let fields = Fields::new(&fm, &manifest);
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(declared) = fields.string("name", diags)
        && declared != name
    {
        diags.push(Diagnostic::new(
            DiagnosticCode::NameMismatch,
            &manifest,
            format!("frontmatter name `{declared}` differs from the folder name `{name}`, which is what invokes the skill"),
        ));
        flags.push(DiagnosticCode::NameMismatch);
    }
    if !is_portable_name(&name) {
        diags.push(Diagnostic::new(
            DiagnosticCode::InvalidName,
            folder,
            format!(
                "skill name `{name}` is not lowercase-with-hyphens of at most {MAX_NAME} characters"
            ),
        ));
        flags.push(DiagnosticCode::InvalidName);
    }
    let raw_description = fields.string("description", diags);
    let description = match &raw_description {
        Some(d) => {
            let chars = d.chars().count();
            if chars > MAX_DESCRIPTION {
                diags.push(Diagnostic::new(
                    DiagnosticCode::DescriptionTooLong,
                    &manifest,
                    format!("description has {chars} characters; the portable limit is {MAX_DESCRIPTION}"),
                ));
                flags.push(DiagnosticCode::DescriptionTooLong);
            }
            one_line(d)
        }
        None => {
            if !flags.contains(&DiagnosticCode::NoFrontmatter) {
                diags.push(Diagnostic::new(
                    DiagnosticCode::MissingDescription,
                    &manifest,
                    "skill has no `description`; Claude Code cannot tell when to use it",
                ));
            }
            flags.push(DiagnosticCode::MissingDescription);
            String::new()
        }
    };
    let details = SkillDetails {
        folder: folder.to_path_buf(),
        files,
        allowed_tools: fields.list("allowed-tools", diags),
        model: fields.string("model", diags),
        license: fields.string("license", diags),
        when_to_use: fields.string("when_to_use", diags),
    };
    let tags = fields
        .list("tags", diags)
        .unwrap_or_else(|| string_list(fm.get("metadata").and_then(|m| m.get("tags"))));
    let category = fields.string("category", diags).or_else(|| {
        fm.get("metadata")
            .and_then(|m| m.get("category"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let mut metadata = Value::Object(fm.clone());
    mask_secret_values(&mut metadata);
    Resource {
        id: ResourceId::derive(ResourceKind::Skill, scope, &manifest.to_string_lossy(), ""),
        kind: ResourceKind::Skill,
        qualified_name: name.clone(),
        name,
        aliases: Vec::new(),
        description,
        scope,
        project: project.map(Path::to_path_buf),
        source: manifest,
        category,
        tags,
        metadata,
        body: Body::new(&doc.body),
        details: Details::Skill(details),
        shadowed_by: None,
        flags,
    }
}

fn is_portable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
