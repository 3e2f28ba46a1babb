//! Searching: a query string becomes terms and phrases; each term must match in some field,
//! exactly (scored highest), with a typo or two (by length), or — the last term, as people type
//! — as a prefix. Title beats headings and tags, which beat the body. Filters by tag, topic and
//! folder; offset pages; a snippet of the body with the matched words' ranges.

use std::collections::BTreeMap;

use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::{Searcher, TantivyDocument, Term};

use crate::index::Searchable;
use crate::schema::{analyzer, boosts};

/// The most terms and phrases a query searches for: the first ones (duplicates counted once);
/// the rest are not searched.
pub const MAX_QUERY_TERMS: usize = 32;

/// A search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// What to look for: words, and phrases in double quotes.
    pub q: String,
    /// Only notes with this tag.
    pub tag: Option<String>,
    /// Only notes under this topic.
    pub topic: Option<String>,
    /// Only notes in this folder (relative to its root: `projects/jarvis`), or this file.
    pub path: Option<String>,
    /// Hits per page.
    pub limit: usize,
    /// Hits skipped.
    pub offset: usize,
}

/// One hit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = KnowledgeHit))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The note id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its file.
    pub path: String,
    /// BM25 with the field boosts; exact matches above typo-tolerant ones.
    pub score: f32,
    /// A passage of the body around the best matches (or its start).
    pub snippet: String,
    /// The matched words in `snippet`: `[start, end)` in characters.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<u64>>))]
    pub highlights: Vec<[usize; 2]>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// A page of hits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    /// Every note that matches.
    pub total: usize,
    /// This page.
    pub hits: Vec<Hit>,
}

/// A query that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Nothing to look for (only blanks and punctuation): answered with no hits.
    #[error("the query holds no word to look for")]
    Empty,
}

/// A query term, normalized, with how it may match.
#[derive(Debug, Clone, PartialEq)]
struct Word {
    text: String,
    typos: u8,
    prefix: bool,
}

/// Typos forgiven by length: none up to 3 characters, one up to 7, two beyond.
fn typos_for(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The normalized tokens of `text`.
fn tokens(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Splits `q` into words and quoted phrases; the last bare word is matched as a prefix too.
fn parse(q: &str) -> Result<(Vec<Word>, Vec<Vec<String>>), QueryError> {
    let mut words = Vec::new();
    let mut phrases = Vec::new();
    for (i, part) in q.split('"').enumerate() {
        let inner = tokens(part);
        if i % 2 == 1 && inner.len() > 1 {
            if !phrases.contains(&inner) {
                phrases.push(inner);
            }
        } else {
            for text in inner {
                if !words.iter().any(|w: &Word| w.text == text) {
                    words.push(Word {
                        typos: typos_for(&text),
                        text,
                        prefix: false,
                    });
                }
            }
        }
    }
    phrases.truncate(MAX_QUERY_TERMS);
    words.truncate(MAX_QUERY_TERMS - phrases.len());
    let ends_open = !q.ends_with(' ') && !q.ends_with('"');
    if ends_open && let Some(last) = words.last_mut() {
        last.prefix = true;
    }
    if words.is_empty() && phrases.is_empty() {
        return Err(QueryError::Empty);
    }
    Ok((words, phrases))
}

/// The query for one word over every text field: exact, typo-tolerant, prefix.
fn word_query(index: &Searchable, word: &Word) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (field, boost) in boosts(&index.fields) {
        let term = Term::from_field_text(field, &word.text);
        clauses.push((
            Occur::Should,
            Box::new(BoostQuery::new(
                Box::new(TermQuery::new(
                    term.clone(),
                    IndexRecordOption::WithFreqsAndPositions,
                )),
                boost * 4.0,
            )),
        ));
        if word.typos > 0 {
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(FuzzyTermQuery::new(term.clone(), word.typos, true)),
                    boost,
                )),
            ));
        }
        if word.prefix && !word.text.is_empty() {
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(FuzzyTermQuery::new_prefix(term, 0, true)),
                    boost * 2.0,
                )),
            ));
        }
    }
    Box::new(BooleanQuery::new(clauses))
}

/// The query for one phrase: in the title, headings or body.
fn phrase_query(index: &Searchable, phrase: &[String]) -> Box<dyn Query> {
    let fields = [
        (index.fields.title, 3.0),
        (index.fields.headings, 2.0),
        (index.fields.body, 1.0),
    ];
    let clauses: Vec<(Occur, Box<dyn Query>)> = fields
        .into_iter()
        .map(|(field, boost)| {
            let terms: Vec<Term> = phrase
                .iter()
                .map(|w| Term::from_field_text(field, w))
                .collect();
            (
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(PhraseQuery::new(terms)),
                    boost * 4.0,
                )) as Box<dyn Query>,
            )
        })
        .collect();
    Box::new(BooleanQuery::new(clauses))
}

fn exact(field: tantivy::schema::Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn text_of(doc: &TantivyDocument, field: tantivy::schema::Field) -> String {
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn texts_of(doc: &TantivyDocument, field: tantivy::schema::Field) -> Vec<String> {
    doc.get_all(field)
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Runs `request` on the index's current snapshot. A query with no word in it finds nothing.
pub fn search(index: &Searchable, request: &SearchRequest) -> SearchPage {
    let Ok((words, phrases)) = parse(&request.q) else {
        return SearchPage {
            total: 0,
            hits: Vec::new(),
        };
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for word in &words {
        clauses.push((Occur::Must, word_query(index, word)));
    }
    for phrase in &phrases {
        clauses.push((Occur::Must, phrase_query(index, phrase)));
    }
    let f = &index.fields;
    if let Some(tag) = &request.tag {
        clauses.push((Occur::Must, exact(f.tags, &tag.trim().to_lowercase())));
    }
    if let Some(topic) = &request.topic {
        clauses.push((Occur::Must, exact(f.topics, &topic.trim().to_lowercase())));
    }
    if let Some(path) = &request.path {
        let folder = path.trim().trim_matches('/');
        clauses.push((
            Occur::Must,
            Box::new(BooleanQuery::new(vec![
                (Occur::Should, exact(f.folders, folder)),
                (Occur::Should, exact(f.path, path.trim())),
            ])),
        ));
    }
    let query = BooleanQuery::new(clauses);
    let searcher = index.reader.searcher();
    let limit = request.limit.max(1);
    let (top, total) = searcher
        .search(
            &query,
            &(
                TopDocs::with_limit(limit)
                    .and_offset(request.offset)
                    .order_by_score(),
                Count,
            ),
        )
        .unwrap_or_default();
    let mut hits = Vec::with_capacity(top.len());
    for (score, address) in top {
        let Ok(doc) = searcher.doc::<TantivyDocument>(address) else {
            continue;
        };
        let body = text_of(&doc, f.body);
        let (snippet, highlights) = snippet(&body, &words, &phrases);
        hits.push(Hit {
            id: text_of(&doc, f.id),
            title: text_of(&doc, f.title),
            path: text_of(&doc, f.path),
            score,
            snippet,
            highlights,
            tags: texts_of(&doc, f.tags),
        });
    }
    SearchPage { total, hits }
}

/// Levenshtein distance of two short words, stopping early above `max`.
fn within(a: &str, b: &str, max: u8) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let max = usize::from(max);
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        if current.iter().min().copied().unwrap_or(0) > max {
            return false;
        }
        previous = current;
    }
    previous[b.len()] <= max
}

/// How long a snippet is, in characters, about.
const SNIPPET_CHARS: usize = 200;

/// A passage of `body` around the densest run of matched words, with their character ranges.
fn snippet(body: &str, words: &[Word], phrases: &[Vec<String>]) -> (String, Vec<[usize; 2]>) {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(body);
    let mut matched: Vec<(usize, usize)> = Vec::new();
    while stream.advance() {
        let token = stream.token();
        let text = token.text.as_str();
        let hit = words.iter().any(|w| {
            text == w.text
                || (w.prefix && text.starts_with(&w.text))
                || (w.typos > 0 && within(text, &w.text, w.typos))
        }) || phrases.iter().any(|p| p.iter().any(|w| w == text));
        if hit {
            matched.push((token.offset_from, token.offset_to));
        }
    }
    // Where the window starts: the match with the most others within reach after it.
    let best = (0..matched.len()).max_by_key(|&i| {
        let start = matched[i].0;
        (
            matched[i..]
                .iter()
                .take_while(|m| m.1 <= start + SNIPPET_CHARS * 4)
                .count(),
            std::cmp::Reverse(i),
        )
    });
    let window_start = best.map_or(0, |i| {
        // A little context before the first match, cut at a character boundary.
        let mut at = matched[i].0.saturating_sub(40);
        while !body.is_char_boundary(at) {
            at -= 1;
        }
        // Begin at a word.
        if at > 0
            && let Some(space) = body[at..matched[i].0].find(char::is_whitespace)
        {
            at += space + 1;
        }
        at
    });
    let mut end = body[window_start..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(body.len(), |(i, _)| window_start + i);
    // End at a word.
    if end < body.len()
        && let Some(space) = body[window_start..end].rfind(char::is_whitespace)
        && space > SNIPPET_CHARS / 2
    {
        end = window_start + space;
    }
    let text = &body[window_start..end];
    let lead = if window_start > 0 { "…" } else { "" };
    let tail = if end < body.len() { "…" } else { "" };
    let offset_chars = lead.chars().count();
    let highlights = matched
        .iter()
        .filter(|(from, to)| *from >= window_start && *to <= end)
        .map(|(from, to)| {
            let start = body[window_start..*from].chars().count() + offset_chars;
            let len = body[*from..*to].chars().count();
            [start, start + len]
        })
        .collect();
    let snippet = format!("{lead}{}{tail}", text.replace('\n', " "));
    (snippet, highlights)
}

/// A topic and how many notes are under it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = KnowledgeTopic))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topic {
    /// The topic.
    pub topic: String,
    /// Notes under it.
    pub notes: u64,
}

/// Every topic with its note count, most notes first.
pub fn topics(index: &Searchable) -> tantivy::Result<Vec<Topic>> {
    let searcher = index.reader.searcher();
    let mut names = std::collections::BTreeSet::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(index.fields.topics)?;
        let mut stream = inverted.terms().stream()?;
        while stream.advance() {
            names.insert(String::from_utf8_lossy(stream.key()).into_owned());
        }
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        // Counted by a search: deleted notes still in a segment's terms do not count.
        let notes = searcher.search(&*exact(index.fields.topics, &name), &Count)?;
        if notes > 0 {
            out.push(Topic {
                topic: name,
                notes: notes as u64,
            });
        }
    }
    out.sort_by(|a, b| b.notes.cmp(&a.notes).then_with(|| a.topic.cmp(&b.topic)));
    Ok(out)
}

/// A note as stored in the index.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = KnowledgeNote))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteView {
    /// The note id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its file.
    pub path: String,
    /// Its headings, in order.
    pub headings: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its topics.
    pub topics: Vec<String>,
    /// The text after the frontmatter.
    pub body: String,
    /// Last modification, ms since the Unix epoch.
    pub modified_ms: u64,
    /// Bytes on disk.
    pub size: u64,
}

/// The note `id`, if indexed.
pub fn note(index: &Searchable, id: &str) -> tantivy::Result<Option<NoteView>> {
    let searcher = index.reader.searcher();
    let f = &index.fields;
    let top = searcher.search(&*exact(f.id, id), &TopDocs::with_limit(1).order_by_score())?;
    let Some((_, address)) = top.first() else {
        return Ok(None);
    };
    let doc: TantivyDocument = searcher.doc(*address)?;
    let number = |field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
    Ok(Some(NoteView {
        id: text_of(&doc, f.id),
        title: text_of(&doc, f.title),
        path: text_of(&doc, f.path),
        headings: text_of(&doc, f.headings)
            .lines()
            .map(str::to_owned)
            .collect(),
        tags: texts_of(&doc, f.tags),
        topics: texts_of(&doc, f.topics),
        body: text_of(&doc, f.body),
        modified_ms: number(f.modified),
        size: number(f.size),
    }))
}

/// Notes, and distinct terms per text field summed over segments (a term in two segments counts
/// twice until they merge).
pub fn counts(searcher: &Searcher, index: &Searchable) -> (u64, BTreeMap<&'static str, u64>) {
    let f = &index.fields;
    let mut terms = BTreeMap::new();
    for (name, field) in [
        ("title", f.title),
        ("headings", f.headings),
        ("body", f.body),
    ] {
        let mut total = 0u64;
        for segment in searcher.segment_readers() {
            if let Ok(inverted) = segment.inverted_index(field) {
                total += inverted.terms().num_terms() as u64;
            }
        }
        terms.insert(name, total);
    }
    (searcher.num_docs(), terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_grow_with_length() {
        assert_eq!(typos_for("cat"), 0);
        assert_eq!(typos_for("search"), 1);
        assert_eq!(typos_for("knowledge"), 2);
    }

    #[test]
    fn queries_split_into_words_and_phrases() {
        let (words, phrases) = parse("Café \"open the door\" sea").unwrap();
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["cafe", "sea"]);
        assert!(words[1].prefix && !words[0].prefix);
        assert_eq!(phrases, [vec!["open", "the", "door"]]);
        assert!(!parse("done ").unwrap().0[0].prefix);
        assert_eq!(parse(" ?! "), Err(QueryError::Empty));
        // Duplicates count once; beyond the limit, words are not searched.
        assert_eq!(parse("w w w").unwrap().0.len(), 1);
        let many: String = (0..40).map(|i| format!("w{i} ")).collect();
        assert_eq!(parse(&many).unwrap().0.len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn edit_distance_is_bounded() {
        assert!(within("knowlege", "knowledge", 1));
        assert!(within("serach", "search", 2));
        assert!(!within("cat", "dog", 2));
    }

    #[test]
    fn snippets_cut_around_matches_and_mark_them() {
        let body = format!(
            "{} The parser reads the logs and the parser keeps its cursor. {}",
            "lead ".repeat(80),
            "tail ".repeat(80)
        );
        let words = vec![Word {
            text: "parser".into(),
            typos: 1,
            prefix: false,
        }];
        let (snippet, highlights) = snippet(&body, &words, &[]);
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert_eq!(highlights.len(), 2, "{snippet}");
        let chars: Vec<char> = snippet.chars().collect();
        for [a, b] in highlights {
            let word: String = chars[a..b].iter().collect();
            assert_eq!(word, "parser");
        }
        // Accents: the range covers the word as written.
        let words = vec![Word {
            text: "cafe".into(),
            typos: 0,
            prefix: false,
        }];
        let (snippet, highlights) = super::snippet("Un café noir.", &words, &[]);
        let chars: Vec<char> = snippet.chars().collect();
        let word: String = chars[highlights[0][0]..highlights[0][1]].iter().collect();
        assert_eq!(word, "café");
    }
}
