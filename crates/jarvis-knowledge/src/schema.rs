//! The index's schema: which fields hold what, how text is cut into terms, and the version
//! that says when an index on disk was built by another layout and must be rebuilt.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};

/// The layout's version. Raised whenever fields or analysis change: an index of another version
/// is rebuilt in the background.
pub const SCHEMA_VERSION: u32 = 1;

/// The analyzer every text field uses: words split on what is not a letter or digit, very long
/// tokens dropped, lowercased, accents folded (`café` finds `cafe`).
pub const ANALYZER: &str = "jarvis_text";

/// The analyzer itself.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// The note id (exact).
    pub id: Field,
    /// The file's path (exact).
    pub path: Field,
    /// Every folder between the root and the file (exact), for the `path` filter.
    pub folders: Field,
    /// The title (text, boosted most).
    pub title: Field,
    /// The headings, one per line (text).
    pub headings: Field,
    /// The tags (exact), for the `tag` filter.
    pub tags: Field,
    /// The tags as words (text).
    pub tag_words: Field,
    /// The topics (exact), for the `topic` filter and the topic counts.
    pub topics: Field,
    /// The body (text; stored for snippets and the note's own page).
    pub body: Field,
    /// Modification time, ms since the Unix epoch.
    pub modified: Field,
    /// Size in bytes.
    pub size: Field,
}

/// Builds the schema and answers its fields.
pub fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |stored: bool| {
        let options = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        path: builder.add_text_field("path", STRING | STORED | FAST),
        folders: builder.add_text_field("folders", STRING),
        title: builder.add_text_field("title", text(true)),
        headings: builder.add_text_field("headings", text(true)),
        tags: builder.add_text_field("tags", STRING | STORED),
        tag_words: builder.add_text_field("tag_words", text(false)),
        topics: builder.add_text_field("topics", STRING | STORED),
        body: builder.add_text_field("body", text(true)),
        modified: builder.add_u64_field("modified", INDEXED | STORED | FAST),
        size: builder.add_u64_field("size", STORED | FAST),
    };
    (builder.build(), fields)
}

/// Field boosts: title over headings and tags over body.
pub fn boosts(fields: &Fields) -> [(Field, f32); 4] {
    [
        (fields.title, 3.0),
        (fields.headings, 2.0),
        (fields.tag_words, 2.0),
        (fields.body, 1.0),
    ]
}
