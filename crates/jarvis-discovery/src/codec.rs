//! The catalog cache's field codec as the parts that lay out their own sections see it (the
//! search index): a writer, a reader, and why a file is unusable. A leaf module: `persist`
//! implements it over files, and `search` writes and reads its index through it, without either
//! importing the other.

use std::io;

/// Why a cache file was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    #[error("it was written by another version ({0})")]
    Version(String),
    #[error("it was written under other discovery settings")]
    Settings,
    #[error("it is damaged: {0}")]
    Damaged(&'static str),
}

/// The index codec's view of the writer and reader, so that the search index lays out its own
/// part of the file.
pub(crate) trait Sink {
    fn put_u8(&mut self, v: u8) -> io::Result<()>;
    fn put_blob(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn put_u32s(&mut self, values: &mut dyn ExactSizeIterator<Item = u32>) -> io::Result<()>;
    fn put_len(&mut self, n: usize) -> io::Result<()>;
}

/// The reading side of [`Sink`].
pub(crate) trait Source {
    fn get_u8(&mut self) -> Result<u8, Unusable>;
    fn get_blob(&mut self) -> Result<Vec<u8>, Unusable>;
    fn get_u32s(&mut self) -> Result<Vec<u32>, Unusable>;
    /// A count of items at least `min_bytes` long each.
    fn get_count(&mut self, min_bytes: u64) -> Result<usize, Unusable>;
}
