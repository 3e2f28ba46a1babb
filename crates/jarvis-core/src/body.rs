//! [`Body`]: a resource's Markdown body, held compressed.
//!
//! Bodies are most of a catalog's weight (real agents average about 5 KB, commands about 15 KB),
//! yet they are read only when one resource is shown in full or a search hit needs a snippet.
//! Keeping them zstd-compressed cuts a 10,000-resource catalog's memory by more than half, while
//! decompressing one body takes microseconds. The body still serializes as a plain string.

use std::cell::RefCell;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// zstd's fastest level: about three times smaller than the text for Markdown, and fast enough
/// that compressing every body adds a fraction of the scan time.
const LEVEL: i32 = 1;
/// Bodies shorter than this are kept as they are: compression would not pay for itself.
const COMPRESS_FROM: usize = 256;

/// A text body, stored compressed when that saves space.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Body(Repr);

#[derive(Clone, PartialEq, Eq, Default)]
enum Repr {
    #[default]
    Empty,
    Plain(Box<str>),
    /// A zstd frame, and the uncompressed length.
    Zstd(Box<[u8]>, u32),
}

impl Body {
    /// Stores `text`, compressed when it is long enough to benefit.
    pub fn new(text: &str) -> Body {
        if text.is_empty() {
            return Body(Repr::Empty);
        }
        if text.len() >= COMPRESS_FROM
            && let Ok(len) = u32::try_from(text.len())
            && let Some(compressed) = compress(text.as_bytes())
            && compressed.len() < text.len()
        {
            return Body(Repr::Zstd(compressed.into_boxed_slice(), len));
        }
        Body(Repr::Plain(text.into()))
    }

    /// The text. Decompresses on every call: keep the result if you need it twice.
    pub fn text(&self) -> String {
        match &self.0 {
            Repr::Empty => String::new(),
            Repr::Plain(text) => text.to_string(),
            Repr::Zstd(bytes, len) => decompress(bytes, *len as usize)
                .and_then(|raw| String::from_utf8(raw).ok())
                // Both were produced by `new` from a `&str`; a failure here is memory corruption.
                .unwrap_or_default(),
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        matches!(self.0, Repr::Empty)
    }

    /// Bytes held in memory for the body.
    pub fn stored_bytes(&self) -> usize {
        match &self.0 {
            Repr::Empty => 0,
            Repr::Plain(text) => text.len(),
            Repr::Zstd(bytes, _) => bytes.len(),
        }
    }
}

thread_local! {
    // zstd contexts are costly to create (large zeroed tables) and cheap to reuse: one pair per
    // thread keeps a 10,000-body scan from spending a tenth of its time setting them up.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(LEVEL).ok();
        }
        slot.as_mut()?.compress(bytes).ok()
    })
}

fn decompress(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Decompressor::new().ok();
        }
        slot.as_mut()?.decompress(bytes, len).ok()
    })
}

impl From<&str> for Body {
    fn from(text: &str) -> Self {
        Body::new(text)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({} bytes stored)", self.stored_bytes())
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Body::new(&s))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Body {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("The Markdown body, as text."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Body {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_long_and_empty_text() {
        let long = "You are a senior code reviewer. ".repeat(200);
        for text in ["", "short", long.as_str(), "ünïcödé ✓"] {
            let body = Body::new(text);
            assert_eq!(body.text(), text);
            assert_eq!(
                serde_json::to_string(&body).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
        assert!(Body::new(&long).stored_bytes() < long.len() / 4);
        assert!(Body::new("").is_empty());
    }
}
