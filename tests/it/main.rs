//! Tidy checks that keep the workspace honest, run as ordinary tests.
//!
//! - Layers point one way: a crate may depend only on the Jarvis crates below it, as listed in
//!   `docs/architecture.md`; only the binary sets up logging; only the HTTP crate knows actix.
//! - Within a crate, modules import each other without a circle.
//! - Every Rust file starts with a `//!` line saying what it is for.
//! - No `todo!`, `unimplemented!`, `dbg!` or ignored test in the sources.
//! - The documentation lists every crate, every error code and every diagnostic code.
//! - Every library crate's front page has a doc-tested example, and the README names it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Each workspace package and its normal (non-dev) dependencies.
fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// The layer of each Jarvis crate: a crate may depend on crates of lower layers only.
/// Keep in step with the graph in `docs/architecture.md`.
const LAYERS: &[(&str, u8)] = &[
    ("jarvis-core", 0),
    ("jarvis-discovery", 1),
    ("jarvis-cache", 1),
    ("jarvis-auth", 1),
    ("jarvis-store", 1),
    ("jarvis-integrations", 1),
    ("jarvis-costs", 2),
    ("jarvis-telemetry", 2),
    ("jarvis-tasks", 2),
    ("jarvis-workflows", 2),
    ("jarvis-knowledge", 2),
    ("jarvis-api", 3),
    ("jarvis-testkit", 0),
    ("jarvis", 9),
    ("xtask", 9),
    ("jarvis-tests", 9),
];

#[test]
fn crates_depend_only_downwards() {
    let graph = dependency_graph();
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    for (package, deps) in &graph {
        let own = *layer.get(package.as_str()).unwrap_or_else(|| {
            panic!("{package} has no layer in tests/it/main.rs and docs/architecture.md")
        });
        for dep in deps.iter().filter(|d| layer.contains_key(d.as_str())) {
            let theirs = layer[dep.as_str()];
            assert!(
                theirs < own,
                "{package} (layer {own}) must not depend on {dep} (layer {theirs})"
            );
        }
    }
    // Core stays free of I/O frameworks; only the binary installs a subscriber or reads config.
    let core = &graph["jarvis-core"];
    for banned in [
        "tokio",
        "actix-web",
        "reqwest",
        "notify",
        "walkdir",
        "config",
        "tracing-subscriber",
    ] {
        assert!(!core.contains(banned), "jarvis-core depends on {banned}");
    }
    for (package, deps) in &graph {
        if package != "jarvis" {
            for binary_only in [
                "tracing-subscriber",
                "config",
                "clap",
                "logroller",
                "tracing-appender",
            ] {
                assert!(
                    !deps.contains(binary_only),
                    "{package} depends on {binary_only}, which only the binary may use"
                );
            }
        }
        if package != "jarvis-api" {
            assert!(
                !deps.contains("actix-web"),
                "{package} depends on actix-web; only jarvis-api may"
            );
        }
    }
    // The test kit never ships.
    for (package, deps) in &graph {
        if package != "xtask" {
            assert!(
                !deps.contains("jarvis-testkit"),
                "{package} depends on jarvis-testkit outside dev-dependencies"
            );
        }
    }
}

fn rust_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_rust_file_says_what_it_is_for() {
    for file in rust_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not start with a `//!` line",
            file.display()
        );
    }
}

#[test]
fn no_stubs_or_ignored_tests() {
    // Built from pieces so that this file does not trip its own check.
    let banned = [
        ["todo", "!("].concat(),
        ["unimplemented", "!("].concat(),
        ["dbg", "!("].concat(),
        ["#[", "ignore"].concat(),
        ["#[", "should_panic"].concat(),
    ];
    for file in rust_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for pattern in &banned {
            assert!(
                !text.contains(pattern.as_str()),
                "{} contains `{pattern}`",
                file.display()
            );
        }
    }
}

/// The workspace denies `unsafe`; the exemptions are the parent-death signal of the runner and
/// of ffmpeg, which can only be set between fork and exec, and the binary's `malloc_trim` after
/// reloads.
#[test]
fn unsafe_lives_in_three_places() {
    let allowed = [
        root().join("crates/jarvis-tasks/src/process.rs"),
        root().join("crates/jarvis-integrations/src/child.rs"),
        root().join("bin/jarvis/src/trim.rs"),
    ];
    // Built from pieces so that this file does not trip its own check.
    let block = ["uns", "afe {"].concat();
    let lint = ["uns", "afe_code"].concat();
    for file in rust_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .filter(|l| l.contains(&block) || l.contains(&lint))
            .count();
        if allowed.contains(&file) {
            assert_eq!(code, 2, "{}: one exemption, one block", file.display());
        } else {
            assert_eq!(code, 0, "{} uses unsafe code", file.display());
        }
    }
}

#[test]
fn architecture_doc_names_every_crate() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    for (package, _) in LAYERS {
        assert!(
            doc.contains(&format!("`{package}`")),
            "docs/architecture.md does not mention `{package}`"
        );
    }
}

/// Each library crate's front page shows its main use in a doc-tested example (run by
/// `cargo test --doc`), and the README points embedders at them.
#[test]
fn every_library_crate_opens_with_an_example() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (package, _) in LAYERS {
        // The binary, the chores and these checks are not libraries.
        if matches!(*package, "jarvis" | "xtask" | "jarvis-tests") {
            continue;
        }
        let lib = root().join("crates").join(package).join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).unwrap();
        let front: String = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            front.contains("# Example") && front.contains("//! ```"),
            "{} has no example on its front page",
            lib.display()
        );
        assert!(
            front.contains("assert"),
            "the example on {}'s front page checks nothing",
            lib.display()
        );
        assert!(
            readme.contains(&format!("`{package}`")),
            "the README's library section does not name `{package}`"
        );
    }
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/errors.md")).unwrap();
    for code in jarvis_core::Code::ALL {
        let row = format!("| `{}` | {} |", code.name(), code.http_status());
        assert!(doc.contains(&row), "docs/errors.md lacks the row `{row}`");
    }
    for code in jarvis_core::DiagnosticCode::ALL {
        assert!(
            doc.contains(&format!("| `{}` |", code.as_str())),
            "docs/errors.md lacks diagnostic `{code}`"
        );
    }
}

/// The modules of the crate whose sources are in `src`, each with the modules of the same crate
/// it names (`crate::a::b` or `super::b`, outside comments and the test module).
fn module_imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut texts = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let name = relative
                    .to_string_lossy()
                    .replace('\\', "/")
                    .trim_end_matches("/mod")
                    .replace('/', "::");
                if name == "lib" || name == "main" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code: String = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                texts.insert(name, code);
            }
        }
    }
    let names: BTreeSet<String> = texts.keys().cloned().collect();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut imports = BTreeMap::new();
    for (module, code) in &texts {
        let mut named = BTreeSet::new();
        for (prefix, base) in [
            ("crate::", String::new()),
            ("super::", {
                let mut parts: Vec<&str> = module.split("::").collect();
                parts.pop();
                parts.join("::")
            }),
        ] {
            for (at, _) in code.match_indices(prefix) {
                if code[..at].ends_with(|c: char| word(c)) {
                    continue;
                }
                let rest: String = code[at + prefix.len()..]
                    .chars()
                    .take_while(|&c| word(c))
                    .collect();
                let parts: Vec<&str> = rest.split("::").filter(|p| !p.is_empty()).collect();
                // The longest prefix of the path that is a module of this crate.
                let found = (1..=parts.len()).rev().find_map(|k| {
                    let path = parts[..k].join("::");
                    let full = if base.is_empty() {
                        path
                    } else {
                        format!("{base}::{path}")
                    };
                    names.contains(&full).then_some(full)
                });
                if let Some(target) = found
                    && &target != module
                    && !module.starts_with(&format!("{target}::"))
                {
                    named.insert(target);
                }
            }
        }
        imports.insert(module.clone(), named);
    }
    imports
}

/// A circle in `imports`, if there is one.
fn find_circle(imports: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut circle = path[at..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in imports.get(module).into_iter().flatten() {
            if let Some(circle) = visit(next, imports, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    imports
        .keys()
        .find_map(|m| visit(m, imports, &mut Vec::new(), &mut done))
}

/// Within a crate, modules import each other without a circle: a module that needs another's
/// rule gets it from a module below both, so each can be understood and tested from its imports
/// down.
#[test]
fn no_import_circle_between_modules_of_a_crate() {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .collect();
    sources.push(root().join("bin/jarvis/src"));
    sources.push(root().join("xtask/src"));
    for src in sources.iter().filter(|s| s.is_dir()) {
        let imports = module_imports(src);
        if let Some(circle) = find_circle(&imports) {
            panic!(
                "{}: modules import each other in a circle: {}",
                src.display(),
                circle.join(" → ")
            );
        }
    }
    // The check sees real imports: the HTTP crate's route wiring names the gate.
    let api = module_imports(&root().join("crates/jarvis-api/src"));
    assert!(api["routing"].contains("guard"), "{:?}", api["routing"]);
    assert!(
        api["hub::session"].contains("services::tasks"),
        "{:?}",
        api["hub::session"]
    );
}

/// The circle check finds a circle through `super::` and `crate::` paths, and not in comments.
#[test]
fn the_circle_check_sees_a_circle() {
    let dir = std::env::temp_dir().join(format!("jarvis-tidy-circle-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("outer")).unwrap();
    std::fs::write(dir.join("lib.rs"), "//! A crate.\nmod a;\nmod outer;\n").unwrap();
    std::fs::write(
        dir.join("a.rs"),
        "//! A.\nuse crate::outer::inner::Thing;\n",
    )
    .unwrap();
    std::fs::write(dir.join("outer/mod.rs"), "//! Outer.\npub mod inner;\n").unwrap();
    std::fs::write(
        dir.join("outer/inner.rs"),
        "//! Inner. See [`crate::a`] (a comment: no import).\npub struct Thing;\n",
    )
    .unwrap();
    assert_eq!(find_circle(&module_imports(&dir)), None);
    std::fs::write(
        dir.join("outer/inner.rs"),
        "//! Inner.\npub struct Thing;\nfn f() { super::super::a::g(); crate::a::g() }\n",
    )
    .unwrap();
    let circle = find_circle(&module_imports(&dir)).expect("a → outer::inner → a");
    assert!(
        circle.contains(&"a".to_owned()) && circle.contains(&"outer::inner".to_owned()),
        "{circle:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
