//! Ranked search over the catalog: an in-memory inverted index built with each snapshot.
//!
//! Why our own index and not tantivy: the catalog is rebuilt whole on every reload and holds at
//! most tens of thousands of short documents; an in-memory index over them is built in tens of
//! milliseconds, answers in microseconds (see `docs/benchmarks.md`), costs no on-disk state and
//! keeps the dependency tree small. What it must do is narrow and tested here:
//!
//! - fields carry weights: name ≫ tags/category > description > body;
//! - every query token matches exactly, as a prefix of a longer term, or with typos (edit
//!   distance 1 for tokens of 4–7 characters, 2 from 8; transpositions count as one edit);
//! - ranking is by number of query tokens matched, then match quality (exact > prefix > fuzzy,
//!   so an exact match always ranks above a fuzzy one), then the weighted score;
//! - each hit carries a snippet of the best field with the byte ranges to highlight.
//!
//! Typo tolerance is applied to the vocabulary of names, tags and descriptions only: body
//! vocabulary is large and mostly prose, and a fuzzy match there is more noise than help.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use jarvis_core::{Resource, ResourceId, ResourceKind};
use serde::{Deserialize, Serialize};

const NAME: u8 = 1;
const TAGS: u8 = 2;
const DESCRIPTION: u8 = 4;
const BODY: u8 = 8;
const SHORT_FIELDS: u8 = NAME | TAGS | DESCRIPTION;

/// How many bytes of a body are indexed and scanned for highlights.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How many prefix expansions one query token may have.
const MAX_PREFIX_TERMS: usize = 64;
/// Words too common to be worth a posting list.
fn is_stop_word(t: &str) -> bool {
    matches!(
        t,
        "a" | "an"
            | "and"
            | "are"
            | "as"
            | "at"
            | "be"
            | "by"
            | "for"
            | "from"
            | "if"
            | "in"
            | "is"
            | "it"
            | "of"
            | "on"
            | "or"
            | "that"
            | "the"
            | "this"
            | "to"
            | "with"
    )
}

/// A search request.
///
/// Ranking puts exact words before prefixes before typo-tolerant matches, and names before
/// descriptions before bodies; every hit carries a highlighted snippet.
///
/// ```
/// use jarvis_discovery::{ResourceKind, SearchQuery};
///
/// let query = SearchQuery {
///     kinds: vec![ResourceKind::Agent, ResourceKind::Skill], // empty: every kind
///     limit: 5,
///     ..SearchQuery::new("code review")
/// };
/// // Plain data: a saved search can be kept as JSON.
/// let json = serde_json::to_value(&query)?;
/// assert_eq!(json["kinds"], serde_json::json!(["agent", "skill"]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// The text typed by the user.
    pub text: String,
    /// Only these kinds; empty means all.
    #[serde(default)]
    pub kinds: Vec<ResourceKind>,
    /// Whether shadowed resources are included.
    #[serde(default)]
    pub include_shadowed: bool,
    /// The maximum number of hits.
    pub limit: usize,
}

impl SearchQuery {
    /// A query for `text` over every kind, with a limit of 20.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            kinds: Vec::new(),
            include_shadowed: false,
            limit: 20,
        }
    }
}

/// How well a query token matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchQuality {
    /// Within the typo budget.
    Fuzzy,
    /// The start of a longer term.
    Prefix,
    /// The term itself.
    Exact,
}

impl MatchQuality {
    fn points(self) -> u16 {
        match self {
            MatchQuality::Exact => 2,
            MatchQuality::Prefix => 1,
            MatchQuality::Fuzzy => 0,
        }
    }

    fn factor(self) -> f32 {
        match self {
            MatchQuality::Exact => 1.0,
            MatchQuality::Prefix => 0.7,
            MatchQuality::Fuzzy => 0.4,
        }
    }
}

/// Which field a snippet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HighlightField {
    /// The name.
    Name,
    /// The description.
    Description,
    /// Tags and category.
    Tags,
    /// The body.
    Body,
}

/// A snippet with the parts that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlight {
    /// Where the snippet comes from.
    pub field: HighlightField,
    /// The snippet text.
    pub text: String,
    /// Byte ranges `[start, end)` of `text` that matched.
    pub ranges: Vec<[usize; 2]>,
}

impl Highlight {
    /// The snippet with each match wrapped in `open` … `close`.
    pub fn marked(&self, open: &str, close: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + self.ranges.len() * 8);
        let mut at = 0;
        for [start, end] in &self.ranges {
            out.push_str(&self.text[at..*start]);
            out.push_str(open);
            out.push_str(&self.text[*start..*end]);
            out.push_str(close);
            at = *end;
        }
        out.push_str(&self.text[at..]);
        out
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The resource.
    pub id: ResourceId,
    /// Its kind.
    pub kind: ResourceKind,
    /// Its qualified name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The relevance score (higher is better; comparable within one query only).
    pub score: f32,
    /// How many query tokens matched.
    pub matched_tokens: usize,
    /// The worst match quality among the matched tokens.
    pub quality: MatchQuality,
    /// The best snippet.
    pub highlight: Highlight,
}

/// One (term, resource) pair packed into 32 bits: the resource in the top 24 bits, the fields
/// the term occurs in (4 bits), and the body frequency as a log2 bucket (4 bits). Postings are
/// the bulk of the index, so halving them matters at 10,000 resources.
#[derive(Debug, Clone, Copy)]
struct Posting(u32);

/// The largest resource number a posting can hold.
const MAX_DOCS: usize = 1 << 24;

impl Posting {
    fn new(doc: u32, fields: u8, body_tf: u16) -> Posting {
        let bucket = (16 - body_tf.leading_zeros()).min(15);
        Posting((doc << 8) | (u32::from(fields & 0xF) << 4) | bucket)
    }

    fn doc(self) -> u32 {
        self.0 >> 8
    }

    /// The same posting for another resource number.
    fn renumbered(self, doc: u32) -> Posting {
        Posting((doc << 8) | (self.0 & 0xFF))
    }

    fn fields(self) -> u8 {
        ((self.0 >> 4) & 0xF) as u8
    }

    /// Roughly log2 of the body frequency, plus one; 0 when the term is not in the body.
    fn body_bucket(self) -> u8 {
        (self.0 & 0xF) as u8
    }

    /// The fields and body bucket together: an index into [`field_weights`].
    fn weight_index(self) -> usize {
        (self.0 & 0xFF) as usize
    }
}

/// The index over one snapshot's resources.
#[derive(Debug, Default)]
pub struct SearchIndex {
    /// Term text → term id. A term whose last resource went away keeps its id (with no
    /// postings) until the index is rebuilt whole.
    dict: FxHashMap<Arc<str>, u32>,
    /// The ids of terms with postings, sorted by term text, for prefix ranges.
    sorted: Vec<u32>,
    /// Term id → text.
    texts: Vec<Arc<str>>,
    /// Term id → postings, sorted by doc.
    postings: Vec<Vec<Posting>>,
    /// Terms from short fields, bucketed by character count and sorted by text within a
    /// bucket, for typo matching. Each with the set of its characters ([`char_set`]), which
    /// rules most candidates out before the distance is computed.
    fuzzy_by_len: Vec<Vec<(u32, u64)>>,
    /// How many terms have postings.
    live_terms: usize,
    /// How many resources were tokenized to build this index (the others kept their postings).
    tokenized: usize,
    /// Per doc: its kind, whether it is active, and how many distinct tokens its name has.
    docs: Vec<(ResourceKind, bool, u8)>,
    /// One bit per doc, set when it is shadowed: the scoring loop's test, in a few KB that stay
    /// in the first-level cache.
    shadowed: Vec<u64>,
    /// For each term with a long posting list: its heaviest postings and the resources whose
    /// name holds it, which let a query over common words stop early ([`SearchIndex::top_exact`]).
    impacts: FxHashMap<u32, Impact>,
}

/// A long posting list seen by weight: see [`SearchIndex::top_exact`].
#[derive(Debug, Default)]
struct Impact {
    /// The [`TOP_POSTINGS`] heaviest postings, heaviest first (ties by resource number).
    top: Box<[Posting]>,
    /// The resources whose posting has the name field, ascending.
    names: Box<[u32]>,
}

/// Heaviest first, then lowest resource number: a posting's place in [`Impact::top`], as one
/// integer (larger first).
fn impact_order(weights: &[f32; 256], p: Posting) -> u64 {
    (u64::from(weights[p.weight_index()].to_bits()) << 32) | u64::from(u32::MAX - p.doc())
}

/// A posting list this long gets an [`Impact`]: shorter ones are cheap to score whole.
const LONG_POSTINGS: usize = 1024;
/// How many of a long list's heaviest postings are kept in weight order.
const TOP_POSTINGS: usize = 256;

impl SearchIndex {
    /// Builds the index. `resources[i]` is doc `i`.
    ///
    /// Tokenizing is the expensive part (bodies are most of the text), so each resource is
    /// tokenized into its own term list on all cores first; the lists are then merged into the
    /// shared dictionary on one thread.
    pub fn build(resources: &[Arc<Resource>]) -> SearchIndex {
        let resources = capped(resources);
        let mut index = SearchIndex {
            docs: resources.iter().map(|r| doc_facts(r)).collect(),
            ..SearchIndex::default()
        };
        let refs: Vec<&Resource> = resources.iter().map(|r| &**r).collect();
        index.add_docs(&refs, 0);
        index.finish(None);
        index.impacts = index.impacts_of(|_| None);
        index.tokenized = resources.len();
        index
    }

    /// Builds the index of `resources` from `previous`, the index of `previous_resources`:
    /// resources found in both (the same `Arc`, as a rescan hands back for files that did not
    /// change) keep their postings, renumbered; only the others are tokenized. The result
    /// answers every query exactly as [`SearchIndex::build`] would. Falls back to a full build
    /// when most resources are new or the dictionary holds more dead terms than live ones.
    pub fn update(
        resources: &[Arc<Resource>],
        previous: &SearchIndex,
        previous_resources: &[Arc<Resource>],
    ) -> SearchIndex {
        if resources.len() > MAX_DOCS
            || previous_resources.len() != previous.docs.len()
            || previous.texts.len() > 2 * previous.live_terms.max(1024)
        {
            return SearchIndex::build(resources);
        }
        let old_doc: FxHashMap<*const Resource, u32> = previous_resources
            .iter()
            .zip(0u32..)
            .map(|(r, doc)| (Arc::as_ptr(r), doc))
            .collect();
        let mut old_to_new = vec![u32::MAX; previous_resources.len()];
        let mut fresh: Vec<(u32, &Resource)> = Vec::new();
        let mut in_order = true;
        let mut last_old: Option<u32> = None;
        let mut docs = Vec::with_capacity(resources.len());
        for (r, doc) in resources.iter().zip(0u32..) {
            match old_doc.get(&Arc::as_ptr(r)) {
                Some(&old) if old_to_new[old as usize] == u32::MAX => {
                    old_to_new[old as usize] = doc;
                    in_order &= last_old.is_none_or(|last| last < old);
                    last_old = Some(old);
                    let (_, _, name_tokens) = previous.docs[old as usize];
                    docs.push((r.kind, r.is_active(), name_tokens));
                }
                _ => {
                    fresh.push((doc, &**r));
                    docs.push(doc_facts(r));
                }
            }
        }
        if fresh.len() > resources.len() / 2 {
            return SearchIndex::build(resources);
        }
        let postings: Vec<Vec<Posting>> = previous
            .postings
            .iter()
            .map(|list| {
                // Sized up front: a collect through `filter_map` grows (and copies) each list.
                let mut out: Vec<Posting> = Vec::with_capacity(list.len());
                for p in list {
                    let doc = old_to_new[p.doc() as usize];
                    if doc != u32::MAX {
                        out.push(p.renumbered(doc));
                    }
                }
                if !in_order {
                    out.sort_unstable_by_key(|p| p.doc());
                }
                out
            })
            .collect();
        let mut index = SearchIndex {
            dict: previous.dict.clone(),
            sorted: Vec::new(),
            texts: previous.texts.clone(),
            postings,
            fuzzy_by_len: Vec::new(),
            live_terms: 0,
            tokenized: fresh.len(),
            docs,
            shadowed: Vec::new(),
            impacts: FxHashMap::default(),
        };
        let known_terms = index.texts.len();
        let mut touched = vec![false; known_terms];
        for batch in fresh.chunks(1024) {
            let refs: Vec<&Resource> = batch.iter().map(|&(_, r)| r).collect();
            let numbers: Vec<u32> = batch.iter().map(|&(doc, _)| doc).collect();
            for term in index.add_numbered(&refs, &numbers) {
                if let Some(flag) = touched.get_mut(term as usize) {
                    *flag = true;
                }
            }
        }
        // Fresh postings were appended after renumbered ones: merge each touched list (two
        // sorted runs, which a stable sort merges in one pass). New terms hold fresh postings
        // only, already in order.
        for (list, &was_touched) in index.postings.iter_mut().zip(&touched) {
            if was_touched {
                list.sort_by_key(|p| p.doc());
            }
        }
        index.finish(Some((&previous.sorted, known_terms)));
        index.carry_impacts(&previous.impacts, &old_to_new, &touched, in_order);
        index
    }

    /// Writes the index for the catalog cache (`persist`): terms, postings, per-doc
    /// facts and the sorted term order. The typo buckets are derived again when the index is
    /// updated from the one read back.
    pub(crate) fn write_to(&self, out: &mut dyn crate::codec::Sink) -> std::io::Result<()> {
        out.put_len(self.texts.len())?;
        for text in &self.texts {
            out.put_blob(text.as_bytes())?;
        }
        for list in &self.postings {
            out.put_u32s(&mut list.iter().map(|p| p.0))?;
        }
        out.put_len(self.docs.len())?;
        for &(kind, active, name_tokens) in &self.docs {
            let kind = ResourceKind::ALL
                .iter()
                .position(|&k| k == kind)
                .and_then(|n| u8::try_from(n).ok())
                .unwrap_or(u8::MAX);
            out.put_u8(kind)?;
            out.put_u8(u8::from(active))?;
            out.put_u8(name_tokens)?;
        }
        out.put_u32s(&mut self.sorted.iter().copied())
    }

    /// Reads back what [`SearchIndex::write_to`] wrote, for an index of `docs` resources. The
    /// result is only a base for [`SearchIndex::update`]: it has no typo buckets of its own.
    pub(crate) fn read_from(
        input: &mut dyn crate::codec::Source,
        docs: usize,
    ) -> Result<SearchIndex, crate::codec::Unusable> {
        use crate::codec::Unusable::Damaged;
        let terms = input.get_count(4)?;
        let mut texts: Vec<Arc<str>> = Vec::with_capacity(terms);
        let mut dict = FxHashMap::default();
        dict.reserve(terms);
        for id in 0..terms {
            let text: Arc<str> = String::from_utf8(input.get_blob()?)
                .map_err(|_| Damaged("a term is not UTF-8"))?
                .into();
            dict.insert(Arc::clone(&text), u32::try_from(id).unwrap_or(u32::MAX));
            texts.push(text);
        }
        let mut postings = Vec::with_capacity(terms);
        for _ in 0..terms {
            let list: Vec<Posting> = input.get_u32s()?.into_iter().map(Posting).collect();
            if list.iter().any(|p| p.doc() as usize >= docs)
                || list.windows(2).any(|w| w[0].doc() >= w[1].doc())
            {
                return Err(Damaged("a posting list"));
            }
            postings.push(list);
        }
        if input.get_count(3)? != docs {
            return Err(Damaged("the index's resource count"));
        }
        let mut facts = Vec::with_capacity(docs);
        for _ in 0..docs {
            let kind = *ResourceKind::ALL
                .get(usize::from(input.get_u8()?))
                .ok_or(Damaged("a resource kind"))?;
            let active = input.get_u8()? != 0;
            facts.push((kind, active, input.get_u8()?));
        }
        let sorted = input.get_u32s()?;
        if sorted.iter().any(|&id| id as usize >= terms) {
            return Err(Damaged("the term order"));
        }
        let mut shadowed = vec![0u64; docs.div_ceil(64)];
        for (doc, &(_, active, _)) in facts.iter().enumerate() {
            if !active {
                shadowed[doc / 64] |= 1 << (doc % 64);
            }
        }
        Ok(SearchIndex {
            dict,
            live_terms: sorted.len(),
            sorted,
            texts,
            postings,
            fuzzy_by_len: Vec::new(),
            tokenized: 0,
            docs: facts,
            shadowed,
            impacts: FxHashMap::default(),
        })
    }

    /// Tokenizes `resources` as docs `first..` and adds their postings.
    fn add_docs(&mut self, resources: &[&Resource], first: u32) {
        let numbers: Vec<u32> = (first..).take(resources.len()).collect();
        // Batches bound the memory held by term lists waiting to be merged.
        for (batch, numbers) in resources.chunks(1024).zip(numbers.chunks(1024)) {
            self.add_numbered(batch, numbers);
        }
    }

    /// Tokenizes `resources` as docs `numbers` (ascending) on all cores and appends their
    /// postings; returns the ids of the terms that got postings. Within a batch each core
    /// tokenizes a chunk against its own dictionary, so merging costs one lookup per distinct
    /// term per chunk rather than one per posting.
    fn add_numbered(&mut self, resources: &[&Resource], numbers: &[u32]) -> Vec<u32> {
        let mut seen = Vec::new();
        let mut numbers = numbers.iter();
        for (terms, per_doc) in crate::scan::parallel_chunks(resources, chunk_terms) {
            let remap: Vec<u32> = terms.iter().map(|t| self.term_id(t)).collect();
            seen.extend_from_slice(&remap);
            for entries in per_doc {
                let Some(&doc) = numbers.next() else {
                    break;
                };
                for (local, fields, body_tf) in entries {
                    self.postings[remap[local as usize] as usize]
                        .push(Posting::new(doc, fields, body_tf));
                }
            }
        }
        seen
    }

    /// Derives what queries need besides the postings: the shadowed bits, the sorted live
    /// terms and the typo buckets. With `previous` (the previous index's sorted terms and its
    /// term count), the live ones of those are merged with the new terms rather than sorting
    /// every term again.
    fn finish(&mut self, previous: Option<(&[u32], usize)>) {
        for list in &mut self.postings {
            list.shrink_to_fit();
        }
        self.shadowed = vec![0u64; self.docs.len().div_ceil(64)];
        for (doc, &(_, active, _)) in self.docs.iter().enumerate() {
            if !active {
                self.shadowed[doc / 64] |= 1 << (doc % 64);
            }
        }
        let live = |id: &u32| !self.postings[*id as usize].is_empty();
        let by_text = |a: &u32, b: &u32| self.texts[*a as usize].cmp(&self.texts[*b as usize]);
        let total = u32::try_from(self.texts.len()).unwrap_or(u32::MAX);
        let sorted: Vec<u32> = match previous {
            None => {
                let mut sorted: Vec<u32> = (0..total).filter(live).collect();
                sorted.sort_unstable_by(by_text);
                sorted
            }
            Some((before, known)) => {
                let known = u32::try_from(known).unwrap_or(u32::MAX);
                let mut new: Vec<u32> = (known..total).filter(live).collect();
                new.sort_unstable_by(by_text);
                let mut merged = Vec::with_capacity(before.len() + new.len());
                let mut new = new.into_iter().peekable();
                for &id in before.iter().filter(|id| live(id)) {
                    while let Some(&n) = new.peek()
                        && by_text(&n, &id).is_lt()
                    {
                        merged.push(n);
                        new.next();
                    }
                    merged.push(id);
                }
                merged.extend(new);
                merged
            }
        };
        let mut fuzzy_by_len: Vec<Vec<(u32, u64)>> = Vec::new();
        for &id in &sorted {
            let list = &self.postings[id as usize];
            if list.iter().any(|p| p.fields() & SHORT_FIELDS != 0) {
                let text = &self.texts[id as usize];
                let len = text.chars().count();
                if fuzzy_by_len.len() <= len {
                    fuzzy_by_len.resize_with(len + 1, Vec::new);
                }
                fuzzy_by_len[len].push((id, char_set(text)));
            }
        }
        self.live_terms = sorted.len();
        self.sorted = sorted;
        self.fuzzy_by_len = fuzzy_by_len;
    }

    /// After [`SearchIndex::update`]: the previous index's impacts, renumbered, for the long
    /// lists that got no new posting and lost none of their heaviest; the others are derived
    /// again. `old_to_new` maps the previous resource numbers (`u32::MAX`: gone).
    fn carry_impacts(
        &mut self,
        previous: &FxHashMap<u32, Impact>,
        old_to_new: &[u32],
        touched: &[bool],
        in_order: bool,
    ) {
        let carried = |term: u32| -> Option<Impact> {
            if touched.get(term as usize).copied().unwrap_or(true) {
                return None;
            }
            let before = previous.get(&term)?;
            let mut top = Vec::with_capacity(before.top.len());
            for p in before.top.iter() {
                let doc = *old_to_new.get(p.doc() as usize)?;
                if doc == u32::MAX {
                    return None;
                }
                top.push(p.renumbered(doc));
            }
            let mut names: Vec<u32> = before
                .names
                .iter()
                .filter_map(|&doc| old_to_new.get(doc as usize).copied())
                .filter(|&doc| doc != u32::MAX)
                .collect();
            if !in_order {
                let weights = field_weights();
                top.sort_unstable_by_key(|p| std::cmp::Reverse(impact_order(weights, *p)));
                names.sort_unstable();
            }
            Some(Impact {
                top: top.into_boxed_slice(),
                names: names.into_boxed_slice(),
            })
        };
        self.impacts = self.impacts_of(carried);
    }

    /// The impact of every long list: `reuse`'s when it has one, else derived from the list.
    fn impacts_of(&self, reuse: impl Fn(u32) -> Option<Impact>) -> FxHashMap<u32, Impact> {
        let weights = field_weights();
        (0u32..)
            .zip(&self.postings)
            .filter(|(_, list)| list.len() >= LONG_POSTINGS)
            .map(|(term, list)| {
                if let Some(impact) = reuse(term) {
                    return (term, impact);
                }
                // The lightest weight among the heaviest TOP_POSTINGS, from a count of postings
                // per weight class; then only postings at least that heavy are sorted.
                let mut per_class = [0u32; 256];
                for p in list {
                    per_class[p.weight_index()] += 1;
                }
                let mut classes: Vec<usize> = (0..256).filter(|&c| per_class[c] > 0).collect();
                classes.sort_unstable_by(|&a, &b| weights[b].total_cmp(&weights[a]));
                let mut cutoff = 0.0f32;
                let mut taken = 0usize;
                for c in classes {
                    cutoff = weights[c];
                    taken += per_class[c] as usize;
                    if taken >= TOP_POSTINGS {
                        break;
                    }
                }
                let mut top: Vec<Posting> = list
                    .iter()
                    .copied()
                    .filter(|p| weights[p.weight_index()] >= cutoff)
                    .collect();
                top.sort_unstable_by_key(|p| std::cmp::Reverse(impact_order(weights, *p)));
                top.truncate(TOP_POSTINGS);
                let names = list
                    .iter()
                    .filter(|p| p.fields() & NAME != 0)
                    .map(|p| p.doc())
                    .collect();
                (
                    term,
                    Impact {
                        top: top.into_boxed_slice(),
                        names,
                    },
                )
            })
            .collect()
    }

    fn term_id(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.dict.get(token) {
            return id;
        }
        let id = u32::try_from(self.texts.len()).unwrap_or(u32::MAX);
        let text: Arc<str> = token.into();
        self.dict.insert(text.clone(), id);
        self.texts.push(text);
        self.postings.push(Vec::new());
        id
    }

    /// How many distinct terms the index holds.
    pub fn term_count(&self) -> usize {
        self.live_terms
    }

    /// How many resources were tokenized to build this index; the others kept the postings
    /// of the index it was updated from.
    pub fn last_tokenized(&self) -> usize {
        self.tokenized
    }

    /// How many (term, resource) postings the index holds.
    pub fn posting_count(&self) -> usize {
        self.postings.iter().map(Vec::len).sum()
    }

    /// Runs `query` against the index; `resources` must be the slice the index was built from.
    ///
    /// Scores accumulate in a dense per-resource array (no hashing on the hot loop); only the
    /// best `limit` candidates are sorted, and only they get their matched terms and snippet.
    pub fn search(&self, resources: &[Arc<Resource>], query: &SearchQuery) -> Vec<SearchHit> {
        let mut query_tokens: Vec<String> = Vec::new();
        for (_, token) in tokens(&query.text) {
            let token = token.into_owned();
            if !query_tokens.contains(&token) && query_tokens.len() < 64 {
                query_tokens.push(token);
            }
        }
        if query_tokens.is_empty() || query.limit == 0 || self.docs.is_empty() {
            return Vec::new();
        }
        let total_docs = self.docs.len() as f32;
        let expansions: Vec<Vec<(u32, MatchQuality)>> =
            query_tokens.iter().map(|t| self.expand(t)).collect();
        SCRATCH.with_borrow_mut(|scratch| {
            if scratch.acc.len() < self.docs.len() {
                scratch.acc.resize(self.docs.len(), DocScore::default());
            }
            self.score(
                resources,
                query,
                &query_tokens,
                &expansions,
                scratch,
                total_docs,
            )
        })
    }

    /// Scores every resource the expanded tokens reach into `acc` (all default on entry, and
    /// left so on return), then ranks them and builds the best `limit` hits.
    fn score(
        &self,
        resources: &[Arc<Resource>],
        query: &SearchQuery,
        query_tokens: &[String],
        expansions: &[Vec<(u32, MatchQuality)>],
        scratch: &mut Scratch,
        total_docs: f32,
    ) -> Vec<SearchHit> {
        let Scratch {
            acc,
            touched,
            complete,
            ranked,
        } = scratch;
        // A query that panicked half-way left its resources behind: clean them first.
        for &doc in touched.iter() {
            acc[doc as usize] = DocScore::default();
        }
        touched.clear();
        complete.clear();
        ranked.clear();
        let all_tokens = if query_tokens.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << query_tokens.len()) - 1
        };
        let weights = field_weights();
        let wanted = u8::try_from(query_tokens.len()).unwrap_or(u8::MAX);
        if let Some(top) = self.top_exact(query, expansions, total_docs, wanted) {
            return top
                .iter()
                .map(|(key, s)| {
                    self.hit(resources, expansions, u32::MAX - (*key as u32), s, wanted)
                })
                .collect();
        }
        for (slot, terms) in expansions.iter().enumerate() {
            let bit = 1u64 << slot;
            // `expand` yields exact, then prefix, then fuzzy terms: the first term to reach a
            // resource for this token is its best match, later ones are skipped.
            for &(term, quality) in terms {
                let list = &self.postings[term as usize];
                let idf = (1.0 + total_docs / list.len().max(1) as f32).ln();
                for &p in list {
                    let doc = p.doc();
                    if !query.include_shadowed
                        && self.shadowed[doc as usize / 64] & (1 << (doc % 64)) != 0
                    {
                        continue;
                    }
                    if !query.kinds.is_empty() && !query.kinds.contains(&self.docs[doc as usize].0)
                    {
                        continue;
                    }
                    let entry = &mut acc[doc as usize];
                    if entry.tokens & bit != 0 {
                        continue;
                    }
                    if entry.tokens == 0 {
                        touched.push(doc);
                    }
                    entry.tokens |= bit;
                    if entry.tokens == all_tokens {
                        complete.push(doc);
                    }
                    entry.quality_points += quality.points();
                    entry.worst = entry.worst.min(quality);
                    entry.score += weights[p.weight_index()] * idf * quality.factor();
                    if quality == MatchQuality::Exact && p.fields() & NAME != 0 {
                        entry.exact_name_tokens += 1;
                    }
                }
            }
        }
        // Each candidate's rank as one integer, computed once: tokens matched, then match
        // quality, then score (higher first), then resource number (lower first). Tokens
        // matched come first, so when enough resources matched every token, the page is made
        // of them alone and the others need no rank.
        let candidates: &[u32] = if complete.len() >= query.limit {
            complete
        } else {
            touched
        };
        ranked.extend(candidates.iter().map(|&doc| {
            let s = &acc[doc as usize];
            let score = s.score_of(self.docs[doc as usize].2, wanted);
            rank_key(
                s.tokens.count_ones(),
                u32::from(s.quality_points),
                score,
                doc,
            )
        }));
        let better = |a: &u128, b: &u128| b.cmp(a);
        if ranked.len() > query.limit {
            ranked.select_nth_unstable_by(query.limit, better);
            ranked.truncate(query.limit);
        }
        ranked.sort_unstable_by(better);
        let hits = ranked
            .iter()
            .map(|&key| {
                let doc = u32::MAX - (key as u32);
                self.hit(resources, expansions, doc, &acc[doc as usize], wanted)
            })
            .collect();
        // Leave the scratch array as it was found, touching only what this query touched.
        for &doc in touched.iter() {
            acc[doc as usize] = DocScore::default();
        }
        touched.clear();
        hits
    }

    /// The hit for `doc`, scored `s`: its matched terms (for the snippet) and its snippet.
    fn hit(
        &self,
        resources: &[Arc<Resource>],
        expansions: &[Vec<(u32, MatchQuality)>],
        doc: u32,
        s: &DocScore,
        wanted: u8,
    ) -> SearchHit {
        let r = &resources[doc as usize];
        let score = s.score_of(self.docs[doc as usize].2, wanted);
        let matched: Vec<&str> = expansions
            .iter()
            .flatten()
            .filter(|&&(term, _)| {
                self.postings[term as usize]
                    .binary_search_by_key(&doc, |p| p.doc())
                    .is_ok()
            })
            .map(|&(term, _)| &*self.texts[term as usize])
            .collect();
        SearchHit {
            id: r.id.clone(),
            kind: r.kind,
            name: r.qualified_name.clone(),
            description: r.description.clone(),
            score,
            matched_tokens: s.tokens.count_ones() as usize,
            quality: s.worst,
            highlight: highlight(r, &matched),
        }
    }

    /// The page of a query whose every token is a common word, found without scoring every
    /// resource those words reach — or `None`, and the caller scores them all.
    ///
    /// Resources that hold every token exactly ("exact-complete") rank above all others:
    /// tokens matched, then match quality, come before the score. So once `limit` of them are
    /// found, the page is the best `limit` exact-complete resources by score. They are looked
    /// for in each token's heaviest postings first ([`Impact::top`], round by round, each
    /// resource met scored in full by binary search in every token's list), and the search
    /// stops when the page's weakest score is above what any resource not yet met could reach:
    /// the sum over tokens of the weight at the current round (threshold algorithm). The
    /// fourfold bonus for a name typed whole can only go to a resource whose name holds every
    /// token, so those (the intersection of [`Impact::names`]) are scored first, and the bound
    /// needs no bonus. Scores are summed in the same order as the full scoring, so the page is
    /// the full scoring's to the bit (`the_early_stop_ranks_as_the_full_scoring`).
    fn top_exact(
        &self,
        query: &SearchQuery,
        expansions: &[Vec<(u32, MatchQuality)>],
        total_docs: f32,
        wanted: u8,
    ) -> Option<Vec<(u128, DocScore)>> {
        if query.limit == 0 || query.limit > TOP_POSTINGS / 2 || expansions.len() > 8 {
            return None;
        }
        #[cfg(test)]
        if tests::EXHAUSTIVE.get() {
            return None;
        }
        let weights = field_weights();
        let mut exact: Vec<(&[Posting], f32, &Impact)> = Vec::with_capacity(expansions.len());
        for terms in expansions {
            let &(term, quality) = terms.first()?;
            if quality != MatchQuality::Exact {
                return None;
            }
            let impact = self.impacts.get(&term)?;
            let list = &self.postings[term as usize];
            let idf = (1.0 + total_docs / list.len().max(1) as f32).ln();
            exact.push((list, idf, impact));
        }
        let n = u32::try_from(exact.len()).unwrap_or(u32::MAX);
        let eval = |doc: u32| -> Option<DocScore> {
            if !query.include_shadowed && self.shadowed[doc as usize / 64] & (1 << (doc % 64)) != 0
            {
                return None;
            }
            if !query.kinds.is_empty() && !query.kinds.contains(&self.docs[doc as usize].0) {
                return None;
            }
            let mut s = DocScore::default();
            for (slot, &(list, idf, _)) in exact.iter().enumerate() {
                let at = list.binary_search_by_key(&doc, |p| p.doc()).ok()?;
                let p = list[at];
                s.tokens |= 1 << slot;
                s.quality_points += MatchQuality::Exact.points();
                s.score += weights[p.weight_index()] * idf * MatchQuality::Exact.factor();
                if p.fields() & NAME != 0 {
                    s.exact_name_tokens += 1;
                }
            }
            Some(s)
        };
        // The page so far, weakest first.
        let mut page: std::collections::BinaryHeap<std::cmp::Reverse<(u128, u32)>> =
            std::collections::BinaryHeap::with_capacity(query.limit + 1);
        let mut scores: FxHashMap<u32, DocScore> = FxHashMap::default();
        let offer = |page: &mut std::collections::BinaryHeap<_>,
                     scores: &mut FxHashMap<u32, DocScore>,
                     doc: u32,
                     s: DocScore| {
            let key = rank_key(
                n,
                u32::from(s.quality_points),
                s.score_of(self.docs[doc as usize].2, wanted),
                doc,
            );
            scores.insert(doc, s);
            page.push(std::cmp::Reverse((key, doc)));
            if page.len() > query.limit {
                page.pop();
            }
        };
        let mut seen: rustc_hash::FxHashSet<u32> = rustc_hash::FxHashSet::default();
        // Whoever may earn the name bonus is scored first.
        let (first, rest) = exact.split_first()?;
        for &doc in first.2.names.iter() {
            if self.docs[doc as usize].2 == wanted
                && rest
                    .iter()
                    .all(|(_, _, impact)| impact.names.binary_search(&doc).is_ok())
            {
                seen.insert(doc);
                if let Some(s) = eval(doc) {
                    offer(&mut page, &mut scores, doc, s);
                }
            }
        }
        let depth = exact.iter().map(|e| e.2.top.len()).min()?;
        for round in 0..depth {
            for &(_, _, impact) in &exact {
                let doc = impact.top[round].doc();
                if seen.insert(doc)
                    && let Some(s) = eval(doc)
                {
                    offer(&mut page, &mut scores, doc, s);
                }
            }
            if page.len() < query.limit {
                continue;
            }
            // What a resource not met yet could score at most: summed in scoring order.
            let mut bound = 0.0f32;
            for &(_, idf, impact) in &exact {
                bound +=
                    weights[impact.top[round].weight_index()] * idf * MatchQuality::Exact.factor();
            }
            let std::cmp::Reverse((weakest, _)) = *page.peek()?;
            // The score sits in the key's third field (see `rank_key`).
            let weakest_score = f32::from_bits((weakest >> 64) as u32);
            if weakest_score > bound {
                #[cfg(test)]
                tests::EARLY_STOPS.set(tests::EARLY_STOPS.get() + 1);
                let mut best: Vec<(u128, DocScore)> = page
                    .into_iter()
                    .map(|std::cmp::Reverse((key, doc))| (key, scores[&doc]))
                    .collect();
                best.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
                return Some(best);
            }
        }
        None
    }

    /// The terms `token` matches, best quality first.
    fn expand(&self, token: &str) -> Vec<(u32, MatchQuality)> {
        let mut out = Vec::new();
        let exact = self
            .dict
            .get(token)
            .copied()
            .filter(|&id| !self.postings[id as usize].is_empty());
        if let Some(id) = exact {
            out.push((id, MatchQuality::Exact));
        }
        if token.chars().count() >= 2 {
            let start = self
                .sorted
                .partition_point(|&id| &*self.texts[id as usize] < token);
            out.extend(
                self.sorted[start..]
                    .iter()
                    .take_while(|&&id| self.texts[id as usize].starts_with(token))
                    .filter(|&&id| Some(id) != exact)
                    .take(MAX_PREFIX_TERMS)
                    .map(|&id| (id, MatchQuality::Prefix)),
            );
        }
        let len = token.chars().count();
        let budget = match len {
            0..=3 => 0,
            4..=7 => 1,
            _ => 2,
        };
        if budget > 0 {
            let query: Vec<char> = token.chars().collect();
            let query_set = char_set(token);
            let mut rows = [[0usize; STACK_CHARS + 1]; 3];
            for l in len.saturating_sub(budget)..=len + budget {
                let Some(bucket) = self.fuzzy_by_len.get(l) else {
                    continue;
                };
                for &(id, set) in bucket {
                    // One edit changes the set of characters by at most two: a term whose set
                    // differs by more than twice the budget cannot be within it.
                    if (set ^ query_set).count_ones() as usize > 2 * budget {
                        continue;
                    }
                    if out.iter().any(|&(t, _)| t == id) {
                        continue;
                    }
                    if within_distance(&query, &self.texts[id as usize], budget, &mut rows) {
                        out.push((id, MatchQuality::Fuzzy));
                    }
                }
            }
        }
        out
    }
}

/// `resources`, cut to the most an index can number.
fn capped(resources: &[Arc<Resource>]) -> &[Arc<Resource>] {
    if resources.len() > MAX_DOCS {
        tracing::error!(
            resources = resources.len(),
            "too many resources to index; the rest are not searchable"
        );
        &resources[..MAX_DOCS]
    } else {
        resources
    }
}

/// Per doc: its kind, whether it is active, and how many distinct tokens its name has.
fn doc_facts(r: &Resource) -> (ResourceKind, bool, u8) {
    let mut name_tokens: Vec<String> = tokens(&r.name).map(|(_, t)| t.into_owned()).collect();
    name_tokens.sort_unstable();
    name_tokens.dedup();
    let count = u8::try_from(name_tokens.len()).unwrap_or(u8::MAX);
    (r.kind, r.is_active(), count)
}

/// The distinct terms of each resource in `chunk`, as ids into a dictionary local to the chunk,
/// with the fields each occurs in and its body frequency.
type ChunkTerms = (Vec<Box<str>>, Vec<Vec<(u32, u8, u16)>>);

fn chunk_terms(chunk: &[&Resource]) -> ChunkTerms {
    let mut dict: FxHashMap<Box<str>, u32> = FxHashMap::default();
    let mut terms: Vec<Box<str>> = Vec::new();
    let mut per_doc = Vec::with_capacity(chunk.len());
    // One slot per chunk-local term (fields, body frequency, and the doc that last touched it):
    // a resource's terms accumulate without a hash map per occurrence.
    let mut slots: Vec<(u8, u16, u32)> = Vec::new();
    let mut touched: Vec<u32> = Vec::new();
    let mut lowered = String::new();
    for (r, stamp) in chunk.iter().zip(1u32..) {
        touched.clear();
        let mut add = |field: u8, text: &str| {
            for_each_word(text, |raw| {
                let token: &str = if raw.is_ascii() {
                    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
                        lowered.clear();
                        lowered.extend(raw.bytes().map(|b| char::from(b.to_ascii_lowercase())));
                        &lowered
                    } else {
                        raw
                    }
                } else {
                    lowered.clear();
                    lowered.extend(raw.chars().flat_map(char::to_lowercase));
                    &lowered
                };
                if is_stop_word(token) {
                    return;
                }
                let id = match dict.get(token) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(terms.len()).unwrap_or(u32::MAX);
                        terms.push(token.into());
                        dict.insert(token.into(), id);
                        slots.push((0, 0, 0));
                        id
                    }
                };
                let slot = &mut slots[id as usize];
                if slot.2 != stamp {
                    *slot = (0, 0, stamp);
                    touched.push(id);
                }
                slot.0 |= field;
                if field == BODY {
                    slot.1 = slot.1.saturating_add(1);
                }
            });
        };
        add(NAME, &r.name);
        if r.qualified_name != r.name {
            add(NAME, &r.qualified_name);
        }
        for alias in &r.aliases {
            add(NAME, alias);
        }
        for tag in r.tags.iter().chain(r.category.iter()) {
            add(TAGS, tag);
        }
        add(DESCRIPTION, &r.description);
        let body = r.body.text();
        add(BODY, prefix_at_char_boundary(&body, MAX_BODY_BYTES));
        per_doc.push(
            touched
                .iter()
                .map(|&id| {
                    let (fields, tf, _) = slots[id as usize];
                    (id, fields, tf)
                })
                .collect(),
        );
    }
    (terms, per_doc)
}

/// Calls `f` with each maximal run of alphanumeric characters in `text`. ASCII text (most of
/// it) is split byte by byte; other text by characters, as `char::is_alphanumeric` decides.
fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    if text.is_ascii() {
        let bytes = text.as_bytes();
        let mut start = None;
        for (i, b) in bytes.iter().enumerate() {
            match (b.is_ascii_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    f(&text[s..i]);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            f(&text[s..]);
        }
    } else {
        for raw in text.split(|c: char| !c.is_alphanumeric()) {
            if !raw.is_empty() {
                f(raw);
            }
        }
    }
}

/// Packs a candidate's rank so that a larger integer ranks higher: tokens matched (7 bits),
/// quality points (9 bits), the score's bits (scores are never negative, so their bit patterns
/// order as the numbers do), and the resource number inverted (lower numbers first on ties).
fn rank_key(tokens: u32, quality_points: u32, score: f32, doc: u32) -> u128 {
    (u128::from(tokens.min(127)) << 105)
        | (u128::from(quality_points.min(511)) << 96)
        | (u128::from(score.max(0.0).to_bits()) << 64)
        | u128::from(u32::MAX - doc)
}

impl DocScore {
    /// The score a hit shows: boosted fourfold when the whole name was typed exactly.
    fn score_of(&self, name_tokens: u8, wanted: u8) -> f32 {
        if self.exact_name_tokens == wanted && name_tokens == wanted {
            self.score * 4.0
        } else {
            self.score
        }
    }
}

/// What a query works in, kept between queries on each thread: allocating and zeroing an
/// accumulator per resource for every query cost more than the scoring (a fresh mapping and
/// its page faults at 16,000 resources), and the candidate lists are as long.
#[derive(Debug)]
struct Scratch {
    /// One accumulator per resource, all default between queries.
    acc: Vec<DocScore>,
    /// The resources this query reached.
    touched: Vec<u32>,
    /// Those that matched every token.
    complete: Vec<u32>,
    /// Their rank keys.
    ranked: Vec<u128>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch {
            acc: Vec::new(),
            touched: Vec::new(),
            complete: Vec::new(),
            ranked: Vec::new(),
        })
    };
}

#[derive(Debug, Clone, Copy)]
struct DocScore {
    tokens: u64,
    score: f32,
    quality_points: u16,
    exact_name_tokens: u8,
    worst: MatchQuality,
}

impl Default for DocScore {
    fn default() -> Self {
        DocScore {
            tokens: 0,
            quality_points: 0,
            exact_name_tokens: 0,
            worst: MatchQuality::Exact,
            score: 0.0,
        }
    }
}

/// [`field_weight`] of every fields-and-bucket byte a posting can hold, computed once: the
/// scoring loop looks a weight up instead of branching on four fields for each posting.
fn field_weights() -> &'static [f32; 256] {
    static WEIGHTS: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    WEIGHTS.get_or_init(|| {
        let mut table = [0.0; 256];
        for (byte, weight) in (0u32..).zip(table.iter_mut()) {
            *weight = field_weight(Posting(byte));
        }
        table
    })
}

fn field_weight(p: Posting) -> f32 {
    let fields = p.fields();
    let mut w = 0.0;
    if fields & NAME != 0 {
        w += 10.0;
    }
    if fields & TAGS != 0 {
        w += 5.0;
    }
    if fields & DESCRIPTION != 0 {
        w += 3.0;
    }
    if fields & BODY != 0 {
        // 1 + ln(tf), with tf approximated by the bucket's lower bound 2^(bucket - 1).
        w += 1.0 + f32::from(p.body_bucket().saturating_sub(1)) * std::f32::consts::LN_2;
    }
    w
}

/// Splits text into lowercase alphanumeric tokens with their byte offsets, skipping stop words.
fn tokens(text: &str) -> impl Iterator<Item = (usize, std::borrow::Cow<'_, str>)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(move |t| {
            let offset = t.as_ptr() as usize - text.as_ptr() as usize;
            let lowered = if t.chars().any(char::is_uppercase) {
                std::borrow::Cow::Owned(t.to_lowercase())
            } else {
                std::borrow::Cow::Borrowed(t)
            };
            (offset, lowered)
        })
        .filter(|(_, t)| !is_stop_word(t))
}

fn prefix_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Optimal-string-alignment distance of `a` and `b` is at most `max`. Terms up to
/// [`STACK_CHARS`] characters are compared without allocating: this runs once per candidate
/// term of the fuzzy vocabulary, thousands of times a query.
fn within_distance(
    a: &[char],
    b: &str,
    max: usize,
    rows: &mut [[usize; STACK_CHARS + 1]; 3],
) -> bool {
    let mut stack = ['\0'; STACK_CHARS];
    let mut heap = Vec::new();
    let mut n = 0;
    for c in b.chars() {
        if n < STACK_CHARS {
            stack[n] = c;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(c);
        }
        n += 1;
    }
    let b: &[char] = if n <= STACK_CHARS { &stack[..n] } else { &heap };
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let width = b.len() + 1;
    if width <= STACK_CHARS + 1 {
        let [r0, r1, r2] = rows;
        osa(a, b, max, r0, r1, r2)
    } else {
        let mut rows = vec![vec![0usize; width]; 3];
        let [r0, r1, r2] = &mut rows[..] else {
            return false;
        };
        osa(a, b, max, r0, r1, r2)
    }
}

/// The set of characters of `text` as 64 bits: a–z and 0–9 have a bit each, every other
/// character shares the rest by its code point. Two characters sharing a bit can only make two
/// sets look closer, never further apart, so the typo pre-filter never drops a real match.
fn char_set(text: &str) -> u64 {
    text.chars().fold(0u64, |set, c| {
        let bit = match c {
            'a'..='z' => c as u32 - 'a' as u32,
            '0'..='9' => 26 + c as u32 - '0' as u32,
            other => 36 + other as u32 % 28,
        };
        set | (1u64 << bit)
    })
}

/// The longest term compared without allocating.
const STACK_CHARS: usize = 32;

/// The dynamic program over three rows (two back, one back, current) of `b.len() + 1` cells.
fn osa(
    a: &[char],
    b: &[char],
    max: usize,
    prev2: &mut [usize],
    prev: &mut [usize],
    cur: &mut [usize],
) -> bool {
    let width = b.len() + 1;
    let (mut prev2, mut prev, mut cur) =
        (&mut prev2[..width], &mut prev[..width], &mut cur[..width]);
    for (j, cell) in prev.iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return false;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= max
}

/// The best snippet for a hit: the first of name, description, tags and body in which one of
/// `terms` occurs. The body is decompressed only when no shorter field matched.
fn highlight(r: &Resource, terms: &[&str]) -> Highlight {
    let tags = || {
        r.category
            .iter()
            .chain(r.tags.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let body = || {
        let mut body = r.body.text();
        body.truncate(prefix_at_char_boundary(&body, MAX_BODY_BYTES).len());
        body
    };
    let fields: [(HighlightField, &dyn Fn() -> String); 4] = [
        (HighlightField::Name, &|| r.qualified_name.clone()),
        (HighlightField::Description, &|| r.description.clone()),
        (HighlightField::Tags, &tags),
        (HighlightField::Body, &body),
    ];
    for (field, text) in fields {
        let text = text();
        let ranges: Vec<[usize; 2]> = tokens(&text)
            .filter(|(_, t)| terms.contains(&t.as_ref()))
            .map(|(start, _)| {
                let len = text[start..]
                    .find(|c: char| !c.is_alphanumeric())
                    .unwrap_or(text.len() - start);
                [start, start + len]
            })
            .collect();
        if ranges.is_empty() {
            continue;
        }
        return window(field, &text, &ranges);
    }
    Highlight {
        field: HighlightField::Name,
        text: r.qualified_name.clone(),
        ranges: Vec::new(),
    }
}

/// Cuts long text to a window of about 160 bytes around the first match, shifting the ranges.
fn window(field: HighlightField, text: &str, ranges: &[[usize; 2]]) -> Highlight {
    const BEFORE: usize = 60;
    const SPAN: usize = 160;
    if text.len() <= SPAN + 40 {
        return Highlight {
            field,
            text: text.to_owned(),
            ranges: ranges.to_vec(),
        };
    }
    let first = ranges[0][0];
    let mut start = first.saturating_sub(BEFORE);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    // Start at a word boundary, unless that would drop the match.
    if start > 0
        && let Some(space) = text[start..first].find(char::is_whitespace)
    {
        start += space + 1;
    }
    let mut end = (start + SPAN).min(text.len()).max(ranges[0][1]);
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if end < text.len() { "…" } else { "" };
    let body = text[start..end].replace('\n', " ");
    let shift = prefix.len();
    Highlight {
        field,
        text: format!("{prefix}{body}{suffix}"),
        ranges: ranges
            .iter()
            .filter(|[s, e]| *s >= start && *e <= end)
            .map(|[s, e]| [s - start + shift, e - start + shift])
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Set to score every resource, as if no early stop existed.
        pub(super) static EXHAUSTIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// How many searches stopped early on this thread.
        pub(super) static EARLY_STOPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// The early stop over common words answers every query exactly as scoring every resource
    /// does: same resources, order, scores, qualities and snippets, for pairs and triples of
    /// common words, one word, every page size up to the largest it takes, kind filters and
    /// shadowed resources.
    #[test]
    fn the_early_stop_ranks_as_the_full_scoring() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("corpus");
        jarvis_testkit::generate(&dir, 3000).unwrap();
        let layout = jarvis_testkit::Layout::of(&dir);
        let config = crate::DiscoveryConfig {
            claude_dir: Some(layout.claude_dir),
            claude_json: Some(layout.claude_json),
            desktop_config: None,
            projects: layout
                .projects
                .into_iter()
                .map(crate::ProjectConfig::Path)
                .collect(),
            workflow_paths: vec![layout.workflows],
            ..crate::DiscoveryConfig::default()
        };
        let env = crate::Environment {
            home: Some(dir.clone()),
            vars: Default::default(),
        };
        let out = crate::scan(&config.resolve(&env).unwrap());
        let index = SearchIndex::build(&out.resources);
        assert!(
            index.impacts.len() > 20,
            "{} long lists",
            index.impacts.len()
        );
        let words: Vec<String> = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../xtask/data/search-words.txt"),
        )
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect();
        let mut queries: Vec<String> = words.clone();
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                queries.push(format!("{a} {b}"));
            }
        }
        for (i, w) in words.iter().enumerate().step_by(3) {
            queries.push(format!(
                "{w} {} {}",
                words[(i + 5) % words.len()],
                words[(i + 11) % words.len()]
            ));
        }
        // Indexes updated from this one (resources gone, and resources out of their order)
        // carry its impacts over: they must stop early as truly as a fresh build.
        let fewer: Vec<Arc<Resource>> = out
            .resources
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 10 != 3)
            .map(|(_, r)| Arc::clone(r))
            .collect();
        let mut moved = fewer.clone();
        moved.rotate_left(150);
        let updated = SearchIndex::update(&fewer, &index, &out.resources);
        let reordered = SearchIndex::update(&moved, &updated, &fewer);
        assert_eq!(reordered.last_tokenized(), 0);
        let answer_from = |index: &SearchIndex,
                           resources: &[Arc<Resource>],
                           query: &SearchQuery,
                           exhaustive: bool| {
            EXHAUSTIVE.set(exhaustive);
            let hits = index.search(resources, query);
            EXHAUSTIVE.set(false);
            serde_json::to_string(&hits).unwrap()
        };
        for text in queries.iter().step_by(4) {
            let query = SearchQuery::new(text.as_str());
            for (index, resources) in [(&updated, &fewer), (&reordered, &moved)] {
                assert_eq!(
                    answer_from(index, resources, &query, true),
                    answer_from(index, resources, &query, false),
                    "{text}, updated index"
                );
            }
        }
        let answer = |query: &SearchQuery, exhaustive: bool| {
            answer_from(&index, &out.resources, query, exhaustive)
        };
        let mut compared = 0;
        for (n, text) in queries.iter().enumerate() {
            let limits: &[usize] = if n % 10 == 0 {
                &[1, 5, 20, 100, 128, 129]
            } else {
                &[20]
            };
            for &limit in limits {
                let mut query = SearchQuery::new(text.as_str());
                query.limit = limit;
                if n % 7 == 0 {
                    query.kinds = vec![ResourceKind::Agent];
                }
                if n % 5 == 0 {
                    query.include_shadowed = true;
                }
                assert_eq!(
                    answer(&query, true),
                    answer(&query, false),
                    "{text} (limit {limit})"
                );
                compared += 1;
            }
        }
        let stopped = EARLY_STOPS.get();
        assert!(
            stopped > compared / 2,
            "only {stopped} of {compared} searches stopped early"
        );
    }

    #[test]
    fn postings_pack_and_unpack() {
        let p = Posting::new(123_456, NAME | BODY, 9);
        assert_eq!(p.doc(), 123_456);
        assert_eq!(p.fields(), NAME | BODY);
        assert_eq!(p.body_bucket(), 4);
        assert_eq!(Posting::new(0, DESCRIPTION, 0).body_bucket(), 0);
        assert_eq!(Posting::new(1, BODY, u16::MAX).body_bucket(), 15);
    }

    #[test]
    fn the_character_set_filter_never_drops_a_match() {
        let mut rows = [[0usize; STACK_CHARS + 1]; 3];
        let words = [
            "review",
            "reveiw",
            "reviews",
            "kubernetes",
            "kubernetis",
            "kube",
            "docker",
            "dockre",
            "search",
            "seach",
            "starch",
            "café",
            "cafe",
            "naïve",
            "naive",
            "x1",
            "x12",
            "über",
        ];
        for a in words {
            for b in words {
                let budget = 2;
                let chars: Vec<char> = a.chars().collect();
                if within_distance(&chars, b, budget, &mut rows) {
                    assert!(
                        (char_set(a) ^ char_set(b)).count_ones() as usize <= 2 * budget,
                        "{a} ~ {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_score_accumulator_takes_sixteen_bytes() {
        // 16,000 of them fit the L2 cache that 32-byte ones did not.
        assert_eq!(size_of::<DocScore>(), 16);
    }

    #[test]
    fn distance_counts_edits_and_transpositions() {
        let mut rows = [[0usize; STACK_CHARS + 1]; 3];
        let mut within = |a: &str, b: &str, max| {
            let a: Vec<char> = a.chars().collect();
            within_distance(&a, b, max, &mut rows)
        };
        assert!(within("reveiw", "review", 1));
        assert!(within("seach", "search", 1));
        assert!(!within("seach", "starch", 1));
        assert!(within("kubernetis", "kubernetes", 2));
        // Rows are reused between calls; a longer term than the stack holds still compares.
        let long = "x".repeat(40);
        assert!(within(&format!("{long}ab"), &format!("{long}ba"), 1));
        assert!(!within(&format!("{long}abc"), &format!("{long}xyz"), 2));
        assert!(within("review", "review", 1));
    }

    #[test]
    fn tokens_lowercase_and_drop_stop_words() {
        let t: Vec<(usize, String)> = tokens("The Code-Reviewer of tools:smart_debug")
            .map(|(o, t)| (o, t.into_owned()))
            .collect();
        let words: Vec<&str> = t.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(words, ["code", "reviewer", "tools", "smart", "debug"]);
        assert_eq!(t[0].0, 4);
    }

    #[test]
    fn words_split_as_alphanumeric_runs_in_both_paths() {
        for text in [
            "The Code-Reviewer of tools:smart_debug 42x",
            "trailing word",
            "  --leading and, punctuation!! ",
            "Café naïve über-fast straße 東京 tokens",
            "",
            "x",
        ] {
            let mut words = Vec::new();
            for_each_word(text, |w| words.push(w.to_owned()));
            let expected: Vec<String> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            assert_eq!(words, expected, "{text:?}");
        }
    }

    #[test]
    fn marked_wraps_ranges() {
        let h = Highlight {
            field: HighlightField::Name,
            text: "code reviewer".into(),
            ranges: vec![[5, 13]],
        };
        assert_eq!(h.marked("[", "]"), "code [reviewer]");
    }
}
