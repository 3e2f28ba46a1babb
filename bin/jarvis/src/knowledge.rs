//! `jarvis knowledge search QUERY` and `jarvis knowledge reindex`: the server's index in the data
//! folder, read or built by this process. Searching works beside a running server (readers need
//! no lock); building is refused while a server holds the index — it is asked over HTTP instead.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use jarvis_knowledge::{KnowledgeConfig, SearchRequest, Sources};

/// What `jarvis knowledge` does.
#[derive(Debug, Subcommand)]
pub enum KnowledgeAction {
    /// Ranked search over the notes: words (typos forgiven), a prefix as typed, "phrases".
    Search {
        /// What to look for.
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Only notes with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only notes under this topic.
        #[arg(long)]
        topic: Option<String>,
        /// The most hits shown.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
        limit: u16,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build the index again from the notes folders and memory files.
    Reindex {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `action` on the index in `<data_dir>/knowledge`; answers what to print.
pub fn run(
    action: &KnowledgeAction,
    config: &KnowledgeConfig,
    claude_dir: Option<&Path>,
    projects: &[PathBuf],
    data_dir: &Path,
) -> anyhow::Result<String> {
    let dir = data_dir.join("knowledge");
    let mut out = String::new();
    match action {
        KnowledgeAction::Search {
            query,
            tag,
            topic,
            limit,
            json,
        } => {
            let request = SearchRequest {
                q: query.join(" "),
                tag: tag.clone(),
                topic: topic.clone(),
                path: None,
                limit: usize::from(*limit),
                offset: 0,
            };
            let started = std::time::Instant::now();
            let page = jarvis_knowledge::search_index(&dir, &request)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let took = started.elapsed();
            if *json {
                out = serde_json::to_string_pretty(&serde_json::json!({
                    "query": request.q,
                    "total": page.total,
                    "took_us": took.as_micros() as u64,
                    "hits": page.hits,
                }))?;
            } else if page.hits.is_empty() {
                writeln!(out, "No note matches \"{}\".", request.q)?;
            } else {
                for (i, hit) in page.hits.iter().enumerate() {
                    writeln!(out, "{:>2}. {}  ({:.2})", i + 1, hit.title, hit.score)?;
                    writeln!(out, "    {}", hit.path)?;
                    writeln!(out, "    {}", marked(&hit.snippet, &hit.highlights))?;
                }
                writeln!(
                    out,
                    "{} of {} notes in {} ms",
                    page.hits.len(),
                    page.total,
                    took.as_millis()
                )?;
            }
        }
        KnowledgeAction::Reindex { json } => {
            let sources = Sources::resolve(config, claude_dir, projects);
            let report = jarvis_knowledge::build_index(config, sources, &dir)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if *json {
                out = serde_json::to_string_pretty(&report)?;
            } else {
                writeln!(
                    out,
                    "Indexed {} notes in {} ms ({:.1} MB on disk) in {}.",
                    report.notes,
                    report.took_ms,
                    report.index_bytes as f64 / 1e6,
                    dir.display()
                )?;
                for d in &report.diagnostics {
                    writeln!(out, "  {} {}: {}", d.code, d.path.display(), d.message)?;
                }
            }
        }
    }
    Ok(out)
}

/// `snippet` with its highlighted ranges in brackets.
fn marked(snippet: &str, highlights: &[[usize; 2]]) -> String {
    let mut out = String::with_capacity(snippet.len() + highlights.len() * 2);
    for (i, c) in snippet.chars().enumerate() {
        if highlights.iter().any(|[a, _]| *a == i) {
            out.push('[');
        }
        if highlights.iter().any(|[_, b]| *b == i) {
            out.push(']');
        }
        out.push(c);
    }
    if highlights
        .iter()
        .any(|[_, b]| *b == snippet.chars().count())
    {
        out.push(']');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_are_bracketed() {
        assert_eq!(marked("un café noir", &[[3, 7]]), "un [café] noir");
        assert_eq!(marked("café", &[[0, 4]]), "[café]");
    }
}
