//! [`Body`]: a resource's Markdown body, held compressed.
//!
//! Bodies are most of a catalog's weight (real agents average about 5 KB, commands about 15 KB),
//! yet they are read only when one resource is shown in full or a search hit needs a snippet.
//! Keeping them zstd-compressed cuts a 10,000-resource catalog's memory by more than half, while
//! decompressing one body takes microseconds. The body still serializes as a plain string.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// zstd's fastest level: about three times smaller than the text for Markdown, and fast enough
/// that compressing every body adds a fraction of the scan time.
const LEVEL: i32 = 1;
/// Bodies shorter than this are kept as they are: compression would not pay for itself.
const COMPRESS_FROM: usize = 256;

/// A body as [`Body`] holds it: what a cache saves so that loading it back costs no
/// compression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredBody<'a> {
    /// No body.
    Empty,
    /// Text held as it is (too short to gain from compression).
    Plain(&'a str),
    /// A zstd frame, and the length of the text it holds.
    Zstd {
        /// The frame.
        frame: Cow<'a, [u8]>,
        /// The length of the text, in bytes.
        len: u32,
    },
}

/// Where bodies kept outside memory are read from, by position: a catalog cache file, whose
/// bodies then take no memory until they are asked for. Its owner (discovery) does the I/O;
/// the frames at a position must never change while bodies point at them.
pub trait FrameSource: Send + Sync + fmt::Debug {
    /// Fills `buf` with the bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// A text body, stored compressed when that saves space.
///
/// Two bodies are equal when their texts are.
#[derive(Clone, Default)]
pub struct Body(Repr);

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    Plain(Box<str>),
    /// A zstd frame, and the uncompressed length.
    Zstd(Box<[u8]>, u32),
    /// A zstd frame in a file: where, how long, and the uncompressed length.
    InFile {
        file: Arc<dyn FrameSource>,
        offset: u64,
        frame: u32,
        len: u32,
    },
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

    /// A body whose zstd frame is `frame` bytes at `offset` in `file`, holding `len` bytes of
    /// text. Nothing is read until the text is asked for; the frame's own checksum is checked
    /// then.
    pub fn in_file(file: &Arc<dyn FrameSource>, offset: u64, frame: u32, len: u32) -> Body {
        Body(Repr::InFile {
            file: Arc::clone(file),
            offset,
            frame,
            len,
        })
    }

    /// The text. Decompresses (and, for a body in a file, reads) on every call: keep the
    /// result if you need it twice. A body in a file that cannot be read back is logged and
    /// comes back empty; [`Body::try_text`] says why instead.
    pub fn text(&self) -> String {
        self.try_text().unwrap_or_else(|e| {
            if let Repr::InFile { file, offset, .. } = &self.0 {
                tracing::error!(source = ?file, offset, error = %e, "a resource body cannot be read back from where it is kept; it shows empty until its file is read again");
            }
            String::new()
        })
    }

    /// The text, or why it cannot be read back (only a body in a file can fail).
    pub fn try_text(&self) -> io::Result<String> {
        let damaged = || io::Error::new(io::ErrorKind::InvalidData, "damaged body");
        match &self.0 {
            Repr::Empty => Ok(String::new()),
            Repr::Plain(text) => Ok(text.to_string()),
            Repr::Zstd(bytes, len) => decompress(bytes, *len as usize)
                .and_then(|raw| String::from_utf8(raw).ok())
                .ok_or_else(damaged),
            Repr::InFile { len, .. } => {
                let frame = self.frame_in_file()?;
                decompress(&frame, *len as usize)
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .ok_or_else(damaged)
            }
        }
    }

    fn frame_in_file(&self) -> io::Result<Vec<u8>> {
        let Repr::InFile {
            file,
            offset,
            frame,
            ..
        } = &self.0
        else {
            return Ok(Vec::new());
        };
        let mut bytes = vec![0u8; *frame as usize];
        file.read_at(*offset, &mut bytes)?;
        Ok(bytes)
    }

    /// The body as it is held, for saving it and taking it back with [`Body::from_stored`]
    /// without compressing it again. A body in a file has its frame read.
    pub fn stored(&self) -> io::Result<StoredBody<'_>> {
        Ok(match &self.0 {
            Repr::Empty => StoredBody::Empty,
            Repr::Plain(text) => StoredBody::Plain(text),
            Repr::Zstd(frame, len) => StoredBody::Zstd {
                frame: Cow::Borrowed(frame),
                len: *len,
            },
            Repr::InFile { len, .. } => StoredBody::Zstd {
                frame: Cow::Owned(self.frame_in_file()?),
                len: *len,
            },
        })
    }

    /// Takes back a body that [`Body::stored`] gave. `None` when a frame does not announce the
    /// length it is said to hold: the bytes are not the ones that were saved.
    pub fn from_stored(stored: StoredBody<'_>) -> Option<Body> {
        Some(Body(match stored {
            StoredBody::Empty | StoredBody::Plain("") => Repr::Empty,
            StoredBody::Plain(text) => Repr::Plain(text.into()),
            StoredBody::Zstd { frame, len } => {
                match zstd::zstd_safe::get_frame_content_size(&frame) {
                    Ok(Some(size)) if size == u64::from(len) => {
                        Repr::Zstd(frame.into_owned().into_boxed_slice(), len)
                    }
                    _ => return None,
                }
            }
        }))
    }

    /// The length of the zstd frame the body is held in; 0 when it is not compressed.
    pub fn frame_len(&self) -> usize {
        match &self.0 {
            Repr::Zstd(frame, _) => frame.len(),
            Repr::InFile { frame, .. } => *frame as usize,
            Repr::Empty | Repr::Plain(_) => 0,
        }
    }

    /// Whether the text is held in memory (a body in a file is read when asked for).
    pub fn in_memory(&self) -> bool {
        !matches!(self.0, Repr::InFile { .. })
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        matches!(self.0, Repr::Empty)
    }

    /// Bytes held in memory for the body.
    pub fn stored_bytes(&self) -> usize {
        match &self.0 {
            Repr::Empty | Repr::InFile { .. } => 0,
            Repr::Plain(text) => text.len(),
            Repr::Zstd(bytes, _) => bytes.len(),
        }
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        match (&self.0, &other.0) {
            (Repr::Empty, Repr::Empty) => true,
            (Repr::Plain(a), Repr::Plain(b)) => a == b,
            (Repr::Zstd(a, n), Repr::Zstd(b, m)) if n == m && a == b => true,
            _ => self.text() == other.text(),
        }
    }
}

impl Eq for Body {}

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
            // Each frame carries a checksum of its text: a frame read back from a file is
            // checked when it is decompressed.
            *slot = zstd::bulk::Compressor::new(LEVEL).ok().and_then(|mut c| {
                c.include_checksum(true).ok()?;
                Some(c)
            });
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

    #[test]
    fn a_stored_body_comes_back_the_same_and_a_damaged_frame_does_not() {
        let long = "Review the change for security problems. ".repeat(100);
        for text in ["", "short", long.as_str()] {
            let body = Body::new(text);
            let back = Body::from_stored(body.stored().unwrap()).expect("a body's own bytes");
            assert_eq!(back, body);
            assert_eq!(back.text(), text);
        }
        let body = Body::new(&long);
        let StoredBody::Zstd { frame, len } = body.stored().unwrap() else {
            panic!("a long body is compressed");
        };
        let wrong_len = StoredBody::Zstd {
            frame: frame.clone(),
            len: len + 1,
        };
        assert_eq!(Body::from_stored(wrong_len), None);
        let garbage = StoredBody::Zstd {
            frame: Cow::Borrowed(b"not a zstd frame"),
            len,
        };
        assert_eq!(Body::from_stored(garbage), None);
    }

    /// Frames in memory, standing in for a file.
    #[derive(Debug)]
    struct Frames(std::sync::Mutex<Vec<u8>>);

    impl FrameSource for Frames {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            let bytes = self.0.lock().unwrap();
            let start = usize::try_from(offset).unwrap();
            let part = bytes
                .get(start..start + buf.len())
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(part);
            Ok(())
        }
    }

    #[test]
    fn a_body_in_a_file_reads_back_and_a_damaged_frame_is_an_error() {
        let long = "Deploy the service behind a canary first. ".repeat(80);
        let body = Body::new(&long);
        let StoredBody::Zstd { frame, len } = body.stored().unwrap() else {
            panic!("a long body is compressed");
        };
        let mut bytes = b"header".to_vec();
        bytes.extend_from_slice(&frame);
        let frames = Arc::new(Frames(std::sync::Mutex::new(bytes)));
        let source: Arc<dyn FrameSource> = frames.clone();
        let frame_len = u32::try_from(frame.len()).unwrap();
        let in_file = Body::in_file(&source, 6, frame_len, len);
        assert!(!in_file.in_memory());
        assert_eq!(in_file.stored_bytes(), 0);
        assert_eq!(in_file.frame_len(), frame.len());
        assert_eq!(in_file.text(), long);
        assert_eq!(in_file, body);
        assert_eq!(Body::from_stored(in_file.stored().unwrap()).unwrap(), body);

        // One byte of the frame changed: its checksum catches it.
        {
            let mut bytes = frames.0.lock().unwrap();
            let last = bytes.len() - 10;
            bytes[last] ^= 0x20;
        }
        assert!(in_file.try_text().is_err());
        assert_eq!(in_file.text(), "");
        // A frame said to run past the end.
        let past = Body::in_file(&source, 6, frame_len + 100, len);
        assert!(past.try_text().is_err());
    }
}
