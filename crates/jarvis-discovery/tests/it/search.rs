//! Ranked search over the fixture and over small purpose-built trees.

use std::fs;

use jarvis_core::ResourceKind;
use jarvis_discovery::{
    DiscoveryConfig, Environment, HighlightField, LiveCatalog, MatchQuality, ReloadOutcome,
    SearchIndex, SearchQuery,
};

use crate::fixture;

fn query(text: &str) -> SearchQuery {
    SearchQuery::new(text)
}

#[test]
fn exact_names_rank_first_and_shadowed_are_hidden_by_default() {
    let fx = fixture::build();
    let snap = LiveCatalog::load(fx.roots()).snapshot();
    let hits = snap.search(&query("reviewer"));
    assert!(!hits.is_empty());
    assert_eq!(hits[0].name, "reviewer");
    assert_eq!(hits[0].quality, MatchQuality::Exact);
    assert_eq!(hits[0].highlight.field, HighlightField::Name);
    assert_eq!(hits[0].highlight.ranges, [[0, 8]]);
    let reviewers = hits.iter().filter(|h| h.name == "reviewer").count();
    assert_eq!(reviewers, 1, "the shadowed user reviewer is not listed");
    let mut q = query("reviewer");
    q.include_shadowed = true;
    assert_eq!(
        snap.search(&q)
            .iter()
            .filter(|h| h.name == "reviewer")
            .count(),
        2
    );
}

#[test]
fn typos_prefixes_and_kind_filters() {
    let fx = fixture::build();
    let snap = LiveCatalog::load(fx.roots()).snapshot();

    let typo = snap.search(&query("reveiwer"));
    assert_eq!(typo[0].name, "reviewer");
    assert_eq!(typo[0].quality, MatchQuality::Fuzzy);

    let prefix = snap.search(&query("firmw"));
    assert_eq!(prefix[0].name, "firmware-expert");
    assert_eq!(prefix[0].quality, MatchQuality::Prefix);

    let mut only_skills = query("helper");
    only_skills.kinds = vec![ResourceKind::Skill];
    let hits = snap.search(&only_skills);
    assert!(hits.iter().all(|h| h.kind == ResourceKind::Skill));
    assert_eq!(hits[0].name, "helper");

    assert!(snap.search(&query("")).is_empty());
    assert!(snap.search(&query("zzqqxx")).is_empty());
}

#[test]
fn body_matches_carry_a_highlighted_snippet() {
    let fx = fixture::build();
    let snap = LiveCatalog::load(fx.roots()).snapshot();
    let hits = snap.search(&query("statistician"));
    let hit = &hits[0];
    assert_eq!(hit.name, "stats-analyst");
    assert_eq!(hit.highlight.field, HighlightField::Body);
    let [start, end] = hit.highlight.ranges[0];
    assert_eq!(&hit.highlight.text[start..end], "statistician");
    assert!(
        hit.highlight
            .marked("<b>", "</b>")
            .contains("<b>statistician</b>")
    );
}

#[test]
fn an_exact_match_always_ranks_above_a_fuzzy_one() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join(".claude/agents");
    fs::create_dir_all(&agents).unwrap();
    // `cachy` is one edit from `cache` and sits in the heaviest field, repeated; the other agent
    // mentions `cache` once, in its body only. The exact match must still come first.
    fs::write(
        agents.join("a.md"),
        "---\nname: cachy\ndescription: cachy cachy cachy\ntags: [cachy]\n---\ncachy\n",
    )
    .unwrap();
    fs::write(
        agents.join("b.md"),
        "---\nname: warmer\ndescription: Warms things.\n---\nUses the cache.\n",
    )
    .unwrap();
    let env = Environment {
        home: Some(dir.path().to_path_buf()),
        vars: Default::default(),
    };
    let roots = DiscoveryConfig::default().resolve(&env).unwrap();
    let snap = LiveCatalog::load(roots).snapshot();
    let hits = snap.search(&SearchQuery::new("cache"));
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].name, "warmer");
    assert_eq!(hits[0].quality, MatchQuality::Exact);
    assert_eq!(hits[1].name, "cachy");
    assert_eq!(hits[1].quality, MatchQuality::Fuzzy);
}

#[test]
fn more_matched_tokens_rank_higher() {
    let fx = fixture::build();
    let snap = LiveCatalog::load(fx.roots()).snapshot();
    let hits = snap.search(&query("changelog release"));
    assert_eq!(hits[0].name, "helper");
    assert_eq!(hits[0].matched_tokens, 2);
}

/// The top results of a few queries on the generated corpus, pinned: ranking and typo tolerance
/// stay what they are while the search path is made faster.
#[test]
fn top_results_on_the_generated_corpus_are_pinned() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("corpus");
    jarvis_testkit::generate(&dir, 2000).unwrap();
    let snapshot = LiveCatalog::load(fixture::generated_roots(&dir)).snapshot();
    let mut seen = Vec::new();
    for text in [
        "security review",
        "kubernetes deploy",
        "reveiw",
        "kube",
        "docker audit",
        "latency cache memory",
    ] {
        let names: Vec<String> = snapshot
            .search(&SearchQuery::new(text))
            .into_iter()
            .take(3)
            .map(|h| format!("{}:{:?}", h.name, h.quality))
            .collect();
        seen.push(format!("{text} => {}", names.join(", ")));
    }
    let seen = seen.join("\n");
    let pinned = fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/pinned-search.txt"),
    )
    .unwrap_or_default();
    assert_eq!(seen.trim(), pinned.trim(), "\n{seen}");
}

/// A rescan after a few edits updates the index instead of rebuilding it: only what changed is
/// tokenized, and every query answers exactly as an index built from scratch would.
#[test]
fn an_updated_index_answers_as_a_rebuilt_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("corpus");
    jarvis_testkit::generate(&dir, 800).unwrap();
    fixture::age(&dir);
    let layout = jarvis_testkit::Layout::of(&dir);
    let catalog = LiveCatalog::load(fixture::generated_roots(&dir));
    let agents = layout.claude_dir.join("agents");
    let mut names: Vec<std::path::PathBuf> = fs::read_dir(&agents)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    let commands = layout.claude_dir.join("commands");
    let command = walkdir::WalkDir::new(&commands)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .unwrap();
    let project_agents = layout.projects[0].join(".claude/agents");
    fs::create_dir_all(&project_agents).unwrap();
    let shadowing_name = {
        let text = fs::read_to_string(&names[3]).unwrap();
        let line = text.lines().find(|l| l.starts_with("name:")).unwrap();
        line.trim_start_matches("name:")
            .trim()
            .trim_matches('"')
            .to_owned()
    };
    let edits: Vec<Box<dyn Fn()>> = vec![
        // A changed description, with a word no other resource has.
        Box::new(|| {
            let text = fs::read_to_string(&names[0]).unwrap();
            let text = text.replacen(
                "description:",
                "description: Zanzibarian quokka wrangler;",
                1,
            );
            fs::write(&names[0], text).unwrap();
        }),
        // A new agent, a deleted command.
        Box::new(|| {
            fs::write(
                agents.join("aaa-new-probe.md"),
                "---\nname: aaa-new-probe\ndescription: Reviews kubernetes deploys for security\n---\nChecks docker images and latency.\n",
            )
            .unwrap();
            fs::remove_file(&command).unwrap();
        }),
        // A project agent that shadows a user one.
        Box::new(|| {
            fs::write(
                project_agents.join("shadow.md"),
                format!("---\nname: {shadowing_name}\ndescription: The project's own security reviewer\n---\nBody.\n"),
            )
            .unwrap();
        }),
        // A deleted agent whose words leave the dictionary.
        Box::new(|| fs::remove_file(&names[0]).unwrap()),
    ];
    let queries = [
        "security review",
        "kubernetes deploy",
        "reveiw",
        "kube",
        "docker audit",
        "latency cache memory",
        "zanzibarian",
        "quokka wrangler",
        "aaa",
        "probe",
        shadowing_name.as_str(),
    ];
    for (step, edit) in edits.iter().enumerate() {
        edit();
        assert!(matches!(catalog.reload(), ReloadOutcome::Swapped(_)));
        let snapshot = catalog.snapshot();
        let stats = snapshot.stats();
        assert!(
            stats.reuse.reused > 700 && stats.reuse.parsed <= 4,
            "step {step}: {:?}",
            stats.reuse
        );
        assert!(
            stats.indexed < 100,
            "step {step}: {} tokenized",
            stats.indexed
        );
        let rebuilt = SearchIndex::build(snapshot.resources());
        for text in queries {
            for include_shadowed in [false, true] {
                let mut q = SearchQuery::new(text);
                q.include_shadowed = include_shadowed;
                q.limit = 50;
                assert_eq!(
                    snapshot.search(&q),
                    rebuilt.search(snapshot.resources(), &q),
                    "step {step}, query {text:?}"
                );
            }
        }
        assert_eq!(
            snapshot.index_size(),
            (rebuilt.term_count(), rebuilt.posting_count()),
            "step {step}"
        );
    }
    let found = catalog.snapshot().search(&SearchQuery::new("zanzibarian"));
    assert!(
        found.is_empty(),
        "a deleted agent's words are gone: {found:?}"
    );
}

/// A short page is the head of a long one: the page ranks only the resources that matched every
/// token when there are enough of them, and that must not change what it holds.
#[test]
fn a_short_page_is_the_head_of_a_long_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("corpus");
    jarvis_testkit::generate(&dir, 1500).unwrap();
    let snapshot = LiveCatalog::load(fixture::generated_roots(&dir)).snapshot();
    for text in [
        "security review",
        "kubernetes deploy latency",
        "reveiw cache",
        "kube",
        "docker audit zzqq",
    ] {
        let mut long = SearchQuery::new(text);
        long.limit = 100_000;
        let all = snapshot.search(&long);
        for limit in [1, 5, 20, 100] {
            let mut short = SearchQuery::new(text);
            short.limit = limit;
            let page = snapshot.search(&short);
            assert_eq!(
                page[..],
                all[..limit.min(all.len())],
                "{text:?}, limit {limit}"
            );
        }
    }
}
