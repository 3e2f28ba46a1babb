//! Ranked search over the fixture and over small purpose-built trees.

use std::fs;

use jarvis_core::ResourceKind;
use jarvis_discovery::{
    DiscoveryConfig, Environment, HighlightField, LiveCatalog, MatchQuality, SearchQuery,
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
    let layout = jarvis_testkit::Layout::of(&dir);
    let config = DiscoveryConfig {
        claude_dir: Some(layout.claude_dir),
        claude_json: Some(layout.claude_json),
        desktop_config: None,
        projects: layout
            .projects
            .into_iter()
            .map(jarvis_discovery::ProjectConfig::Path)
            .collect(),
        workflow_paths: vec![layout.workflows],
        ..DiscoveryConfig::default()
    };
    let env = Environment {
        home: Some(dir.clone()),
        vars: Default::default(),
    };
    let snapshot = LiveCatalog::load(config.resolve(&env).unwrap()).snapshot();
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
