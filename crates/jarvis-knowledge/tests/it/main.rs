//! The knowledge base over real files in a temporary folder: ranking, phrases, typos, prefixes,
//! accents, filters, topics, notes and diagnostics; edits, renames and deletions seen through the
//! watcher; a restart that opens the index and catches up; an outdated or corrupt index rebuilt.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::PathBuf;
use std::time::Duration;

use jarvis_knowledge::{
    KnowledgeBase, KnowledgeConfig, SearchRequest, Sources, build_index, search_index,
};
use jarvis_testkit::{eventually_blocking, write_file};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let setup = Setup {
            dir: tempfile::tempdir().unwrap(),
        };
        let notes = setup.notes();
        write_file(
            &notes.join("rust/ownership.md"),
            "---\ntitle: Ownership in Rust\ntags: [rust, memory-safety]\ntopics: [languages]\n---\n# Moves\n\nThe borrow checker enforces the ownership rules at compile time.\n",
        );
        write_file(
            &notes.join("cooking/cafe.md"),
            "# Café au lait\n\nUn café noir avec du lait chaud, le matin.\n",
        );
        write_file(
            &notes.join("ops/pager.md"),
            "---\ntags: ops\n---\n# On-call\n\nThe pager rotation names who has ownership of an incident.\n",
        );
        write_file(
            &notes.join("ops/form.md"),
            "A form to fill before the release.\n",
        );
        write_file(
            &notes.join("ops/from.md"),
            "Letters from home, read on the train.\n",
        );
        write_file(&notes.join(".obsidian/workspace.md"), "hidden settings\n");
        write_file(
            &notes.join("ops/diagram.png.md"),
            b"\x89PNG\0\0binary".as_slice(),
        );
        write_file(&notes.join("huge.md"), "word ".repeat(50_000));
        write_file(&notes.join("image.png"), "not a note");
        write_file(
            &setup.claude().join("CLAUDE.md"),
            "# Memory\n\nAlways run cargo fmt before committing.\n",
        );
        setup
    }

    fn notes(&self) -> PathBuf {
        self.dir.path().join("notes")
    }

    fn claude(&self) -> PathBuf {
        self.dir.path().join(".claude")
    }

    fn index_dir(&self) -> PathBuf {
        self.dir.path().join("data/knowledge")
    }

    fn config(&self) -> KnowledgeConfig {
        KnowledgeConfig {
            roots: vec![self.notes()],
            max_file_bytes: 100 * 1024,
            debounce_ms: 50,
            ..KnowledgeConfig::default()
        }
    }

    fn sources(&self) -> Sources {
        Sources::resolve(&self.config(), Some(&self.claude()), &[])
    }

    fn start(&self) -> KnowledgeBase {
        let kb = KnowledgeBase::start(&self.config(), self.sources(), self.index_dir()).unwrap();
        ready(&kb);
        kb
    }
}

/// Waits until the index is ready and has said how it opened (after catching up).
fn ready(kb: &KnowledgeBase) {
    eventually_blocking("the index ready", Duration::from_secs(20), || {
        let stats = kb.stats();
        (stats.state == "ready" && stats.opened.is_some()).then_some(())
    });
}

fn ask(q: &str) -> SearchRequest {
    SearchRequest {
        q: q.into(),
        limit: 10,
        ..SearchRequest::default()
    }
}

fn titles(kb: &KnowledgeBase, request: &SearchRequest) -> Vec<String> {
    kb.search(request)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.title)
        .collect()
}

#[test]
fn search_ranks_matches_filters_and_reports_what_it_skipped() {
    let setup = Setup::new();
    let kb = setup.start();

    // Title over body; both notes found.
    let page = kb.search(&ask("ownership")).unwrap();
    assert_eq!(page.total, 2, "{page:?}");
    assert_eq!(page.hits[0].title, "Ownership in Rust");
    assert_eq!(page.hits[1].title, "On-call");
    // A typo, a prefix as typed, a phrase in order (and not out of it).
    assert_eq!(titles(&kb, &ask("owenrship rules")), ["Ownership in Rust"]);
    assert_eq!(titles(&kb, &ask("borrow chec")), ["Ownership in Rust"]);
    assert_eq!(
        titles(&kb, &ask("\"borrow checker\"")),
        ["Ownership in Rust"]
    );
    assert!(titles(&kb, &ask("\"checker borrow\"")).is_empty());
    // Exact before fuzzy: `form` finds `from` too, but below.
    assert_eq!(titles(&kb, &ask("form ")), ["form", "from"]);
    // Accents fold both ways, and the highlight covers the word as written.
    let page = kb.search(&ask("cafe")).unwrap();
    assert_eq!(page.hits[0].title, "Café au lait");
    let hit = &page.hits[0];
    let chars: Vec<char> = hit.snippet.chars().collect();
    let marked: Vec<String> = hit
        .highlights
        .iter()
        .map(|[a, b]| chars[*a..*b].iter().collect())
        .collect();
    assert_eq!(marked, ["Café", "café"], "{hit:?}");
    // Filters: tag, topic (frontmatter, folder, memory), folder.
    let tagged = SearchRequest {
        tag: Some("Rust".into()),
        ..ask("ownership")
    };
    assert_eq!(titles(&kb, &tagged), ["Ownership in Rust"]);
    let topic = SearchRequest {
        topic: Some("cooking".into()),
        ..ask("lait")
    };
    assert_eq!(titles(&kb, &topic), ["Café au lait"]);
    let memory = SearchRequest {
        topic: Some("memory".into()),
        ..ask("cargo")
    };
    assert_eq!(titles(&kb, &memory), ["Memory"]);
    let folder = SearchRequest {
        path: Some("ops".into()),
        ..ask("ownership")
    };
    assert_eq!(titles(&kb, &folder), ["On-call"]);
    // Pages.
    let second = SearchRequest {
        limit: 1,
        offset: 1,
        ..ask("ownership")
    };
    let page = kb.search(&second).unwrap();
    assert_eq!((page.total, page.hits.len()), (2, 1));
    assert_eq!(page.hits[0].title, "On-call");
    assert_eq!(kb.search(&ask(" ?! ")).unwrap().total, 0);

    // Topics with counts; the note itself; what was skipped.
    let topics = kb.topics().unwrap();
    let count = |name: &str| topics.iter().find(|t| t.topic == name).map(|t| t.notes);
    assert_eq!(count("ops"), Some(3));
    assert_eq!(count("rust"), Some(1));
    assert_eq!(count("languages"), Some(1));
    assert_eq!(count("memory"), Some(1));
    let id = kb.search(&ask("ownership")).unwrap().hits[0].id.clone();
    let note = kb.note(&id).unwrap().unwrap();
    assert_eq!(note.tags, ["memory-safety", "rust"]);
    assert_eq!(note.headings, ["Moves"]);
    assert!(note.body.contains("borrow checker"));
    assert!(kb.note("note_0000000000000000").unwrap().is_none());
    let stats = kb.stats();
    assert_eq!(stats.notes, 6, "{stats:?}");
    assert!(stats.terms["body"] > 20);
    assert!(stats.index_bytes > 0);
    let codes: Vec<(String, String)> = stats
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str().to_owned(),
                d.path.file_name().unwrap().to_string_lossy().into_owned(),
            )
        })
        .collect();
    assert!(
        codes.contains(&("file_too_large".into(), "huge.md".into())),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("binary_file".into(), "diagram.png.md".into())),
        "{codes:?}"
    );
    assert!(titles(&kb, &ask("hidden settings")).is_empty());
    assert!(stats.opened.unwrap().rebuilt);
}

fn wait_for(kb: &KnowledgeBase, q: &str, want: usize) {
    eventually_blocking(
        &format!("`{q}` to find {want}"),
        Duration::from_secs(5),
        || (kb.search(&ask(q)).map(|p| p.total).unwrap_or(usize::MAX) == want).then_some(()),
    );
}

#[test]
fn edits_renames_and_deletions_are_followed() {
    let setup = Setup::new();
    let kb = setup.start();
    let mut events = kb.subscribe();
    let notes = setup.notes();

    std::fs::write(
        notes.join("ops/pager.md"),
        "# On-call\n\nEscalate to the zeppelin desk.\n",
    )
    .unwrap();
    wait_for(&kb, "zeppelin", 1);
    wait_for(&kb, "rotation", 0);
    let event = eventually_blocking("an event", Duration::from_secs(5), || {
        events.try_recv().ok()
    });
    assert_eq!(
        serde_json::to_value(&event).unwrap()["event"],
        "indexed",
        "{event:?}"
    );
    // A new folder with a note; a rename; a deletion; a folder removed.
    write_file(
        &notes.join("travel/lisbon.md"),
        "# Lisbon\n\nTrams and pastéis de nata.\n",
    );
    wait_for(&kb, "pasteis", 1);
    std::fs::rename(
        notes.join("travel/lisbon.md"),
        notes.join("travel/porto.md"),
    )
    .unwrap();
    eventually_blocking("the renamed note", Duration::from_secs(5), || {
        let page = kb.search(&ask("trams")).unwrap();
        (page.total == 1 && page.hits[0].path.ends_with("porto.md")).then_some(())
    });
    std::fs::remove_file(notes.join("ops/form.md")).unwrap();
    wait_for(&kb, "release", 0);
    std::fs::remove_dir_all(notes.join("travel")).unwrap();
    wait_for(&kb, "trams", 0);
    // A note that becomes binary leaves the index and becomes a diagnostic.
    std::fs::write(notes.join("cooking/cafe.md"), b"caf\0e").unwrap();
    wait_for(&kb, "lait", 0);
    assert!(
        kb.stats()
            .diagnostics
            .iter()
            .any(|d| d.code.as_str() == "binary_file" && d.path.ends_with("cafe.md"))
    );
}

#[test]
fn a_folder_of_many_notes_moved_in_is_announced_as_one_update() {
    let setup = Setup::new();
    let kb = setup.start();
    let mut events = kb.subscribe();
    // Written outside the notes folder, then moved in at once: one change, 200 notes.
    let staging = setup.notes().parent().unwrap().join("staging");
    for i in 0..200 {
        write_file(
            &staging.join(format!("n{i:03}.md")),
            format!("# Buoy {i}\n\nA note about buoys, number {i}.\n"),
        );
    }
    std::fs::rename(&staging, setup.notes().join("buoys")).unwrap();
    wait_for(&kb, "buoys", 200);
    let event = eventually_blocking("the update", Duration::from_secs(5), || {
        events.try_recv().ok()
    });
    assert_eq!(
        event,
        jarvis_knowledge::KnowledgeEvent::Updated {
            indexed: 200,
            removed: 0
        }
    );
    assert!(events.try_recv().is_err(), "no note-by-note events follow");
}

#[test]
fn a_restart_opens_the_index_and_catches_up_with_what_changed() {
    let setup = Setup::new();
    let kb = setup.start();
    assert_eq!(kb.search(&ask("zeppelin")).unwrap().total, 0);
    kb.stop();
    drop(kb);
    // Changed while no server ran.
    std::fs::write(
        setup.notes().join("ops/from.md"),
        "A zeppelin over the bay.\n",
    )
    .unwrap();
    std::fs::remove_file(setup.notes().join("ops/form.md")).unwrap();

    let kb = setup.start();
    let opened = kb.stats().opened.unwrap();
    assert!(!opened.rebuilt, "{opened:?}");
    wait_for(&kb, "zeppelin", 1);
    wait_for(&kb, "release", 0);
}

#[test]
fn an_outdated_or_corrupt_index_is_rebuilt_and_said_so() {
    let setup = Setup::new();
    drop(setup.start());
    std::fs::write(
        setup.index_dir().join("meta.json"),
        r#"{"schema_version": 0}"#,
    )
    .unwrap();
    let kb = setup.start();
    let opened = kb.stats().opened.unwrap();
    assert!(opened.rebuilt);
    assert!(opened.reason.unwrap().contains("schema version 0"));
    assert_eq!(kb.search(&ask("ownership")).unwrap().total, 2);
    drop(kb);

    // tantivy's own files damaged.
    std::fs::write(setup.index_dir().join("tantivy/meta.json"), "{ not json").unwrap();
    let kb = setup.start();
    let opened = kb.stats().opened.unwrap();
    assert!(opened.rebuilt);
    assert!(opened.reason.unwrap().contains("cannot be read"));
    assert_eq!(kb.search(&ask("ownership")).unwrap().total, 2);
}

#[test]
fn the_command_line_builds_and_searches_and_is_refused_while_a_server_holds_the_index() {
    let setup = Setup::new();
    let missing = search_index(&setup.index_dir(), &ask("ownership")).unwrap_err();
    assert!(
        missing.to_string().contains("jarvis knowledge reindex"),
        "{missing}"
    );
    let report = build_index(&setup.config(), setup.sources(), &setup.index_dir()).unwrap();
    assert_eq!(report.notes, 6);
    assert_eq!(report.diagnostics.len(), 2);
    assert_eq!(
        search_index(&setup.index_dir(), &ask("ownership"))
            .unwrap()
            .total,
        2
    );
    let kb = setup.start();
    let held = build_index(&setup.config(), setup.sources(), &setup.index_dir()).unwrap_err();
    assert!(
        held.to_string().contains("POST /api/v2/knowledge/reindex"),
        "{held}"
    );
    // Reading beside the server works.
    assert_eq!(
        search_index(&setup.index_dir(), &ask("ownership"))
            .unwrap()
            .total,
        2
    );
    drop(kb);
}
