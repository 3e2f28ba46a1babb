//! Text analysis: words, sentences, reading time, headings, links, a language guess and the
//! top keywords of a Markdown, plain-text or HTML document. Pure and synchronous.

use std::collections::HashMap;

use serde::Serialize;

/// Words a minute of an average adult reader, for the reading time.
pub const WORDS_PER_MINUTE: u64 = 230;

/// A heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heading {
    /// 1 to 6.
    pub level: u8,
    /// Its text.
    pub text: String,
}

/// A keyword and how often it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Keyword {
    /// The word, lowercased.
    pub word: String,
    /// Occurrences.
    pub count: u64,
}

/// The language the text is most likely in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageGuess {
    /// ISO 639-1 code.
    pub code: &'static str,
    /// The share of the counted common words that belong to it, 0 to 1.
    pub confidence: f64,
}

/// What a text holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextReport {
    /// Words.
    pub words: u64,
    /// Sentences.
    pub sentences: u64,
    /// Characters of readable text.
    pub characters: u64,
    /// Seconds to read at [`WORDS_PER_MINUTE`].
    pub reading_time_secs: u64,
    /// Headings, in order.
    pub headings: Vec<Heading>,
    /// Links, in order, each once.
    pub links: Vec<String>,
    /// The language, when enough common words say so.
    pub language: Option<LanguageGuess>,
    /// The ten most frequent words that are not common words.
    pub keywords: Vec<Keyword>,
}

/// Common words by language: what the guess counts, and what keywords leave out.
const STOPWORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "of", "to", "is", "in", "that", "it", "for", "with", "as", "was", "on",
            "are", "this", "be", "by", "not", "or", "from", "at", "have", "an", "but", "which",
            "you", "we", "they", "can", "will", "a", "if", "its", "their", "has",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "les", "et", "des", "est", "une", "un", "du", "que", "qui", "dans", "pour",
            "pas", "sur", "avec", "au", "il", "elle", "ce", "nous", "vous", "sont", "par", "plus",
            "mais", "ou",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "und", "das", "ist", "nicht", "ein", "eine", "zu", "den", "mit", "sich",
            "des", "auf", "für", "dem", "im", "es", "von", "auch", "wir", "sie", "ich", "oder",
            "aber",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "y", "es", "que", "en", "un", "una", "por", "con", "para", "del",
            "se", "no", "su", "al", "lo", "como", "pero", "más", "sus", "fue",
        ],
    ),
    (
        "it",
        &[
            "il", "gli", "e", "che", "di", "non", "per", "una", "sono", "della", "con", "del",
            "si", "nel", "alla", "anche", "come", "ma", "più", "questo",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "e", "que", "não", "uma", "um", "para", "com", "do", "da", "em", "no", "na",
            "se", "por", "mais", "como", "mas", "foi", "são",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "en", "een", "van", "is", "niet", "dat", "op", "te", "zijn", "met",
            "voor", "ook", "maar", "aan", "als", "bij", "wordt",
        ],
    ),
];

fn is_stopword(word: &str) -> bool {
    STOPWORDS.iter().any(|(_, words)| words.contains(&word))
}

/// Removes HTML: tags, comments, and the content of `script`, `style` and `noscript`
/// elements; entities for the common characters are decoded.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let rest = &lower[i..];
            let skip_to = if rest.starts_with("<!--") {
                lower[i..].find("-->").map(|e| i + e + 3)
            } else if let Some(tag) = ["script", "style", "noscript"]
                .iter()
                .find(|t| rest[1..].starts_with(**t))
            {
                lower[i..]
                    .find(&format!("</{tag}"))
                    .and_then(|e| lower[i + e..].find('>').map(|f| i + e + f + 1))
            } else {
                lower[i..].find('>').map(|e| i + e + 1)
            };
            let end = skip_to.unwrap_or(bytes.len());
            // Block-level tags separate words and sentences.
            out.push('\n');
            i = end;
            continue;
        }
        let next = html[i..].find('<').map_or(html.len(), |n| i + n);
        out.push_str(&html[i..next]);
        i = next;
    }
    out.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

fn looks_like_html(text: &str) -> bool {
    let head = text
        .trim_start()
        .get(..512.min(text.trim_start().len()))
        .unwrap_or("");
    let head = head.to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<body")
}

fn html_headings(html: &str) -> Vec<Heading> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<h") {
        let at = from + start;
        from = at + 2;
        let Some(level) = lower
            .as_bytes()
            .get(at + 2)
            .and_then(|b| (b'1'..=b'6').contains(b).then(|| b - b'0'))
        else {
            continue;
        };
        let Some(open_end) = lower[at..].find('>').map(|e| at + e + 1) else {
            break;
        };
        let close = format!("</h{level}");
        let Some(end) = lower[open_end..].find(&close).map(|e| open_end + e) else {
            continue;
        };
        let text = strip_html(&html[open_end..end]);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            out.push(Heading { level, text });
        }
        from = end;
    }
    out
}

fn markdown_headings(text: &str) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") {
            continue;
        }
        let hashes = trimmed.bytes().take_while(|b| *b == b'#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with([' ', '\t']) {
            let text = trimmed[hashes..].trim().trim_end_matches('#').trim();
            if !text.is_empty() {
                out.push(Heading {
                    level: hashes as u8,
                    text: text.to_owned(),
                });
            }
        }
    }
    out
}

fn links(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("http") {
        let at = from + start;
        from = at + 4;
        let rest = &text[at..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        // A URL ends at whitespace or at what encloses it in Markdown or HTML.
        let end = rest
            .find(|c: char| c.is_whitespace() || "\"'<>()[]`".contains(c))
            .unwrap_or(rest.len());
        let url = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if url.len() > "https://".len() && !out.iter().any(|u| u == url) {
            out.push(url.to_owned());
        }
        from = at + end.max(1);
    }
    out
}

/// Markdown without its fenced code blocks (code is not prose).
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Analyses `text` (Markdown, plain text, or HTML when it looks like a page).
pub fn analyze_text(text: &str) -> TextReport {
    let html = looks_like_html(text);
    let (mut readable, headings) = if html {
        (strip_html(text), html_headings(text))
    } else {
        (prose(text), markdown_headings(text))
    };
    let links = links(text);
    // Addresses are not words.
    for link in &links {
        readable = readable.replace(link.as_str(), " ");
    }
    let mut words = 0u64;
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut language_hits = vec![0u64; STOPWORDS.len()];
    for raw in readable.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-')) {
        let word = raw.trim_matches(|c| c == '\'' || c == '-');
        if word.is_empty() || !word.chars().any(char::is_alphabetic) {
            continue;
        }
        words += 1;
        let lower = word.to_lowercase();
        for (i, (_, stop)) in STOPWORDS.iter().enumerate() {
            if stop.contains(&lower.as_str()) {
                language_hits[i] += 1;
            }
        }
        if lower.chars().count() >= 3 && !is_stopword(&lower) {
            *counts.entry(lower).or_default() += 1;
        }
    }
    let sentences = readable
        .split(['.', '!', '?', '\n'])
        .filter(|s| {
            s.split_whitespace()
                .any(|w| w.chars().any(char::is_alphabetic))
        })
        .count() as u64;
    let total_hits: u64 = language_hits.iter().sum();
    let language = language_hits
        .iter()
        .enumerate()
        .max_by_key(|(_, hits)| **hits)
        .filter(|(_, hits)| **hits >= 3)
        .map(|(i, hits)| LanguageGuess {
            code: STOPWORDS[i].0,
            confidence: (*hits as f64 / total_hits as f64 * 100.0).round() / 100.0,
        });
    let mut keywords: Vec<Keyword> = counts
        .into_iter()
        .filter(|(_, count)| *count >= 2)
        .map(|(word, count)| Keyword { word, count })
        .collect();
    keywords.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    keywords.truncate(10);
    TextReport {
        words,
        sentences,
        characters: readable.chars().filter(|c| !c.is_whitespace()).count() as u64,
        reading_time_secs: (words * 60).div_ceil(WORDS_PER_MINUTE),
        headings,
        links,
        language,
        keywords,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_counted_with_headings_links_and_language() {
        let text = "# Release notes\n\nThe parser is faster. It reads the logs, and the parser keeps the cursor!\n\n## Links\n\nSee [the docs](https://example.com/docs) and https://example.org/x.\n\n```\n# not a heading\n```\n";
        let report = analyze_text(text);
        assert_eq!(
            report.headings,
            [
                Heading {
                    level: 1,
                    text: "Release notes".into()
                },
                Heading {
                    level: 2,
                    text: "Links".into()
                }
            ]
        );
        assert_eq!(
            report.links,
            ["https://example.com/docs", "https://example.org/x"]
        );
        assert_eq!(report.language.as_ref().map(|l| l.code), Some("en"));
        assert_eq!(
            report.keywords[0],
            Keyword {
                word: "parser".into(),
                count: 2
            }
        );
        assert_eq!(report.sentences, 5, "{report:?}");
        assert_eq!(
            (report.words, report.reading_time_secs),
            (21, 6),
            "{report:?}"
        );
    }

    #[test]
    fn html_pages_lose_their_tags_scripts_and_styles() {
        let page = "<!doctype html><html><head><style>body { color: red }</style><script>var secret = 1;</script></head><body><h1>Le titre</h1><p>Le chat est sur la table et le chien est dans le jardin. <a href=\"https://example.fr/a\">lien</a></p><!-- hidden words --></body></html>";
        let report = analyze_text(page);
        assert_eq!(
            report.headings,
            [Heading {
                level: 1,
                text: "Le titre".into()
            }]
        );
        assert_eq!(report.language.as_ref().map(|l| l.code), Some("fr"));
        assert_eq!(report.links, ["https://example.fr/a"]);
        assert!(
            !report
                .keywords
                .iter()
                .any(|k| k.word == "secret" || k.word == "hidden")
        );
        assert_eq!(analyze_text("").words, 0);
        assert_eq!(analyze_text("").language, None);
    }
}
