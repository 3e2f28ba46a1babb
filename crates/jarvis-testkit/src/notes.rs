//! A folder of notes like a person's: topical folders (some nested), Markdown with frontmatter
//! `tags` and `topics` on most, headings, paragraphs and lists of about 2 KB, a few accented
//! words, some plain-text files.

use std::fmt::Write as _;
use std::path::Path;

use crate::{Result, Rng, WORDS, capitalize, context, sentence, write};

const FOLDERS: &[&str] = &[
    "projects/jarvis",
    "projects/website",
    "projects/cli",
    "ops",
    "ops/incidents",
    "research",
    "research/papers",
    "journal",
    "meetings",
    "recipes",
    "travel",
    "reading",
];

const TAGS: &[&str] = &[
    "rust", "python", "deploy", "review", "idea", "todo", "design", "bug", "perf", "security",
    "writing", "people",
];

const ACCENTED: &[&str] = &["café", "naïve", "résumé", "déjà", "façade", "Zürich", "São"];

/// Writes `count` notes below `out` (replacing what is there). Returns a one-line summary.
pub fn generate_notes(out: &Path, count: usize) -> Result<String> {
    if out.exists() {
        context(std::fs::remove_dir_all(out), || {
            format!("cannot clear {}", out.display())
        })?;
    }
    let mut rng = Rng(0x004E_4F54_4553);
    let mut bytes = 0usize;
    for i in 0..count {
        let folder = rng.pick(FOLDERS);
        let title = format!(
            "{} {} {}",
            capitalize(rng.pick(WORDS)),
            rng.pick(WORDS),
            rng.pick(WORDS)
        );
        let mut text = String::with_capacity(2600);
        if !rng.chance(15) {
            let tags: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(TAGS)).collect();
            let _ = write!(text, "---\ntitle: {title}\ntags: [{}]\n", tags.join(", "));
            if rng.chance(40) {
                let _ = writeln!(text, "topics: [{}]", rng.pick(WORDS));
            }
            text.push_str("---\n");
        }
        let _ = writeln!(text, "# {title}\n");
        while text.len() < 1800 + rng.below(800) {
            let _ = writeln!(
                text,
                "## {} {}\n",
                capitalize(rng.pick(WORDS)),
                rng.pick(WORDS)
            );
            for _ in 0..2 + rng.below(3) {
                text.push_str(&sentence(&mut rng));
                text.push(' ');
            }
            if rng.chance(20) {
                let _ = write!(text, "{} ", rng.pick(ACCENTED));
            }
            text.push_str("\n\n");
            if rng.chance(30) {
                for _ in 0..3 {
                    let _ = writeln!(text, "- {}", sentence(&mut rng));
                }
                text.push('\n');
            }
        }
        let ending = if rng.chance(10) { "txt" } else { "md" };
        let path = out.join(folder).join(format!("note-{i:05}.{ending}"));
        bytes += text.len();
        write(&path, &text)?;
    }
    Ok(format!(
        "wrote {count} notes ({:.1} MB) below {}",
        bytes as f64 / 1e6,
        out.display()
    ))
}
