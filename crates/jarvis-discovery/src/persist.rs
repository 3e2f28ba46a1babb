//! The catalog cache: what one run parsed and indexed, kept in a file so that the next start
//! reads, parses and tokenizes only the files that changed in between.
//!
//! The file is written whole under a temporary name and renamed over the last one, so a reader
//! never meets half a file. Loading checks a format number, the crate version, a hash of the
//! scan settings that shape a parse, and a checksum over every byte; a file that fails any
//! check is set aside (and said so) and the start reads every file, as it would with no cache.
//!
//! What is kept: per agent, command and skill file, its stamp (size, modification time, inode)
//! and what its parse returned — resources with their compressed bodies, and diagnostics — and
//! the search index with the order of its resources. MCP configurations and workflow exports,
//! which hold secrets, are never written: they are read again at each start (they are a few
//! small files). A cached parse is only taken when the file's stamp is unchanged, by the same
//! rule a rescan follows, so the cache can make a start faster but never different.

use std::fs::File;
use std::hash::Hasher;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use jarvis_core::{
    Body, Details, Diagnostic, DiagnosticCode, FrameSource, Resource, ResourceId, ResourceKind,
    Scope, StoredBody,
};
use rustc_hash::{FxHashMap, FxHasher};
use serde::{Deserialize, Serialize};

use crate::codec::{Sink, Source, Unusable};
use crate::config::ScanRoots;
use crate::scan::{ParseCache, Parsed, ReadFacts, Shared};
use crate::search::SearchIndex;
use crate::text::FileStamp;

const MAGIC: &[u8; 8] = b"JARVISCC";
/// Bumped whenever the layout below changes.
const FORMAT: u32 = 1;
/// A value that stands for "none" where an index is expected.
const NONE: u32 = u32::MAX;

/// A checksum that does not depend on how the bytes were split into calls (the writer hashes
/// one frame at a time, the reader a block at a time): FxHash's step over 8-byte words.
#[derive(Default)]
struct StreamHash {
    state: u64,
    pending: [u8; 8],
    pending_len: usize,
    total: u64,
}

impl StreamHash {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn word(&mut self, word: u64) {
        self.state = (self.state.rotate_left(26) ^ word).wrapping_mul(Self::K);
    }

    fn write(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.pending_len > 0 {
            let take = (8 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.pending));
            self.pending_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.word(u64::from_le_bytes(word));
        }
        let rest = words.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn finish(&self) -> u64 {
        let mut last = *self;
        let mut tail = [0u8; 8];
        tail[..last.pending_len].copy_from_slice(&last.pending[..last.pending_len]);
        last.word(u64::from_le_bytes(tail));
        last.word(last.total);
        last.state
    }
}

impl Clone for StreamHash {
    fn clone(&self) -> Self {
        *self
    }
}

impl Copy for StreamHash {}

/// Writes fields, hashing every byte for the trailing checksum.
struct Out<W: Write> {
    w: W,
    hash: StreamHash,
}

impl<W: Write> Out<W> {
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.write(bytes);
        self.w.write_all(bytes)
    }

    fn u8(&mut self, v: u8) -> io::Result<()> {
        self.raw(&[v])
    }

    fn u32(&mut self, v: u32) -> io::Result<()> {
        self.raw(&v.to_le_bytes())
    }

    fn u64(&mut self, v: u64) -> io::Result<()> {
        self.raw(&v.to_le_bytes())
    }

    fn len(&mut self, n: usize) -> io::Result<()> {
        let n = u32::try_from(n).map_err(|_| io::Error::other("a field over 4 GiB"))?;
        self.u32(n)
    }

    /// A length-prefixed run of bytes.
    fn blob(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.len(bytes.len())?;
        self.raw(bytes)
    }

    fn u32s(&mut self, values: impl ExactSizeIterator<Item = u32>) -> io::Result<()> {
        self.len(values.len())?;
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.raw(&bytes)
    }
}

/// Reads fields back, hashing as [`Out`] did, never asking for more bytes than the file has.
struct In<R: Read> {
    r: R,
    hash: StreamHash,
    left: u64,
}

impl<R: Read> In<R> {
    fn raw_into(&mut self, n: usize, buf: &mut Vec<u8>) -> Result<(), Unusable> {
        if n as u64 > self.left {
            return Err(Unusable::Damaged("a length runs past the end of the file"));
        }
        self.left -= n as u64;
        buf.clear();
        buf.resize(n, 0);
        self.r.read_exact(buf)?;
        self.hash.write(buf);
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Unusable> {
        if N as u64 > self.left {
            return Err(Unusable::Damaged("the file ends early"));
        }
        self.left -= N as u64;
        let mut bytes = [0u8; N];
        self.r.read_exact(&mut bytes)?;
        self.hash.write(&bytes);
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, Unusable> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, Unusable> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Unusable> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items at least `min_bytes` long each: bounded by what the file still holds.
    fn count(&mut self, min_bytes: u64) -> Result<usize, Unusable> {
        let n = self.u32()?;
        if u64::from(n) * min_bytes.max(1) > self.left {
            return Err(Unusable::Damaged("a count runs past the end of the file"));
        }
        Ok(n as usize)
    }

    fn blob(&mut self) -> Result<Vec<u8>, Unusable> {
        let n = self.count(1)?;
        let mut buf = Vec::new();
        self.raw_into(n, &mut buf)?;
        Ok(buf)
    }

    fn blob_into(&mut self, buf: &mut Vec<u8>) -> Result<(), Unusable> {
        let n = self.count(1)?;
        self.raw_into(n, buf)
    }

    fn u32s(&mut self) -> Result<Vec<u32>, Unusable> {
        let n = self.count(4)?;
        let mut bytes = Vec::new();
        self.raw_into(n * 4, &mut bytes)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    fn json<T: for<'de> Deserialize<'de>>(&mut self, buf: &mut Vec<u8>) -> Result<T, Unusable> {
        self.blob_into(buf)?;
        serde_json::from_slice(buf).map_err(|_| Unusable::Damaged("a record does not parse"))
    }
}

impl<W: Write> Sink for Out<W> {
    fn put_u8(&mut self, v: u8) -> io::Result<()> {
        self.u8(v)
    }
    fn put_blob(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.blob(bytes)
    }
    fn put_u32s(&mut self, values: &mut dyn ExactSizeIterator<Item = u32>) -> io::Result<()> {
        self.u32s(values)
    }
    fn put_len(&mut self, n: usize) -> io::Result<()> {
        self.len(n)
    }
}

impl<R: Read> Source for In<R> {
    fn get_u8(&mut self) -> Result<u8, Unusable> {
        self.u8()
    }
    fn get_blob(&mut self) -> Result<Vec<u8>, Unusable> {
        self.blob()
    }
    fn get_u32s(&mut self) -> Result<Vec<u32>, Unusable> {
        self.u32s()
    }
    fn get_count(&mut self, min_bytes: u64) -> Result<usize, Unusable> {
        self.count(min_bytes)
    }
}

/// A resource without its body, borrowed for writing; read back as a [`Resource`] whose body
/// is then set. Destructured in full below, so a field added to [`Resource`] fails to compile
/// here until the cache learns it (and [`FORMAT`] moves).
#[derive(Serialize)]
struct HeadRef<'a> {
    id: &'a ResourceId,
    kind: ResourceKind,
    name: &'a str,
    qualified_name: &'a str,
    aliases: &'a [String],
    description: &'a str,
    scope: Scope,
    project: &'a Option<std::path::PathBuf>,
    source: &'a Path,
    category: &'a Option<String>,
    tags: &'a [String],
    metadata: &'a serde_json::Value,
    details: &'a Details,
    shadowed_by: &'a Option<ResourceId>,
    flags: &'a [DiagnosticCode],
}

/// Whether a resource may be written: file kinds only, never MCP servers or workflows.
fn cacheable(r: &Resource) -> bool {
    matches!(
        r.details,
        Details::Agent(_) | Details::Command(_) | Details::Skill(_)
    )
}

/// Writes a resource's record: its head, and where its body is (`offset` into the bodies for
/// a compressed one, which [`write_file`] wrote before the records).
fn write_resource<W: Write>(
    out: &mut Out<W>,
    r: &Resource,
    offset: u64,
    json: &mut Vec<u8>,
) -> io::Result<()> {
    let Resource {
        id,
        kind,
        name,
        qualified_name,
        aliases,
        description,
        scope,
        project,
        source,
        category,
        tags,
        metadata,
        body,
        details,
        shadowed_by,
        flags,
    } = r;
    json.clear();
    serde_json::to_writer(
        &mut *json,
        &HeadRef {
            id,
            kind: *kind,
            name,
            qualified_name,
            aliases,
            description,
            scope: *scope,
            project,
            source,
            category,
            tags,
            metadata,
            details,
            shadowed_by,
            flags,
        },
    )
    .map_err(io::Error::other)?;
    out.blob(json)?;
    match body.stored()? {
        StoredBody::Empty => out.u8(0),
        StoredBody::Plain(text) => {
            out.u8(1)?;
            out.blob(text.as_bytes())
        }
        StoredBody::Zstd { frame, len } => {
            out.u8(2)?;
            out.u64(offset)?;
            out.len(frame.len())?;
            out.u32(len)
        }
    }
}

/// A cache file that bodies are read from by position. It is never written in place (a new
/// cache is a new file renamed over the old), so the open handle keeps every frame where it was.
struct FrameFile {
    file: File,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for FrameFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

impl FrameSource for FrameFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_read(
                    &self.file,
                    &mut buf[done..],
                    offset + done as u64,
                )?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
            }
            Ok(())
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = (offset, buf);
            Err(io::ErrorKind::Unsupported.into())
        }
    }
}

/// Where a file's bodies are: compressed bodies stay in the file and are read when asked for.
struct Bodies {
    file: Arc<dyn FrameSource>,
    start: u64,
    len: u64,
}

/// Reads a resource's record: its head, still JSON, and its body.
fn read_record<R: Read>(
    input: &mut In<R>,
    bodies: &Bodies,
    buf: &mut Vec<u8>,
) -> Result<(Vec<u8>, Body), Unusable> {
    let head = input.blob()?;
    let body = match input.u8()? {
        0 => Body::default(),
        1 => {
            input.blob_into(buf)?;
            let text = std::str::from_utf8(buf).map_err(|_| Unusable::Damaged("a body"))?;
            Body::from_stored(StoredBody::Plain(text)).ok_or(Unusable::Damaged("a body"))?
        }
        2 => {
            let offset = input.u64()?;
            let frame = input.u32()?;
            let len = input.u32()?;
            if offset.saturating_add(u64::from(frame)) > bodies.len {
                return Err(Unusable::Damaged("a body lies outside the bodies"));
            }
            Body::in_file(&bodies.file, bodies.start + offset, frame, len)
        }
        _ => return Err(Unusable::Damaged("a body's kind")),
    };
    Ok((head, body))
}

/// How a parse's value was shaped: the sources store `Option<Arc<Resource>>` (a Markdown file
/// that may hold no resource) or `Arc<Resource>` (a skill).
const NO_VALUE: u8 = 0;
const MAYBE_NONE: u8 = 1;
const MAYBE_SOME: u8 = 2;
const ONE: u8 = 3;

/// One parse, ready to be written: its value reduced to the resource it holds.
struct EntryOut<'a> {
    path: &'a [u8],
    parsed: &'a Parsed,
    shape: u8,
    resource: Option<&'a Arc<Resource>>,
}

fn entry_shape(parsed: &Parsed) -> Option<(u8, Option<&Arc<Resource>>)> {
    let Some(value) = &parsed.value else {
        return Some((NO_VALUE, None));
    };
    if let Some(maybe) = value.downcast_ref::<Option<Arc<Resource>>>() {
        return Some(match maybe {
            None => (MAYBE_NONE, None),
            Some(r) => (MAYBE_SOME, Some(r)),
        });
    }
    value
        .downcast_ref::<Arc<Resource>>()
        .map(|r| (ONE, Some(r)))
}

/// A hash of the settings that shape a parse: which folders are whose, and the size cap. The
/// variables for `${VAR}` expansion are left out: only MCP configurations use them, and those
/// are never cached.
pub(crate) fn settings_hash(roots: &ScanRoots) -> u64 {
    let mut hash = FxHasher::default();
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{}",
        roots.claude_dir,
        roots.claude_json,
        roots.desktop_config,
        roots.projects,
        roots.workflow_paths,
        roots.max_file_bytes
    );
    hash.write(text.as_bytes());
    hash.finish()
}

/// Removes temporary files that a write cut short (the process ended during it) left beside
/// `path`, once they are old enough that no live writer can still own them.
pub(crate) fn sweep(path: &Path) {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(listing) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in listing.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(600));
        if file_name.starts_with(&prefix) && file_name.ends_with(".tmp") && stale {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(path = %entry.path().display(), "removed a catalog cache write that was cut short")
                }
                Err(e) => {
                    tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a catalog cache write that was cut short")
                }
            }
        }
    }
}

/// What [`save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Saved {
    pub files: usize,
    pub resources: usize,
    pub bytes: u64,
}

/// Writes the cache of a scan: `entries` are its parse cache's, `docs` the resources of the
/// snapshot built from it in index order, `index` that snapshot's search index.
pub(crate) fn save(
    path: &Path,
    settings: u64,
    fingerprint: u64,
    entries: &[(Box<[u8]>, Box<Parsed>)],
    docs: &[Arc<Resource>],
    index: &SearchIndex,
) -> io::Result<Saved> {
    let parent = path.parent().unwrap_or(Path::new("."));
    // The cache holds the user's prompts and settings: only the user may read it.
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(parent)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result =
        write_file(&temporary, settings, fingerprint, entries, docs, index).and_then(|saved| {
            std::fs::rename(&temporary, path)?;
            Ok(saved)
        });
    if result.is_err() {
        // Best effort: the error being returned says what went wrong.
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn write_file(
    path: &Path,
    settings: u64,
    fingerprint: u64,
    entries: &[(Box<[u8]>, Box<Parsed>)],
    docs: &[Arc<Resource>],
    index: &SearchIndex,
) -> io::Result<Saved> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    let mut out = Out {
        w: BufWriter::with_capacity(1 << 18, file),
        hash: StreamHash::default(),
    };
    out.raw(MAGIC)?;
    out.u32(FORMAT)?;
    out.blob(env!("CARGO_PKG_VERSION").as_bytes())?;
    out.u64(settings)?;
    out.u64(fingerprint)?;

    // Resources first, each once, then the parses and the index's docs by number.
    let kept: Vec<EntryOut<'_>> = entries
        .iter()
        .filter_map(|(path, parsed)| {
            let (shape, resource) = entry_shape(parsed)?;
            if resource.is_some_and(|r| !cacheable(r)) {
                return None;
            }
            Some(EntryOut {
                path,
                parsed,
                shape,
                resource,
            })
        })
        .collect();
    let mut number: FxHashMap<*const Resource, u32> = FxHashMap::default();
    let mut resources: Vec<&Resource> = Vec::new();
    for resource in kept.iter().filter_map(|e| e.resource) {
        number.entry(Arc::as_ptr(resource)).or_insert_with(|| {
            resources.push(resource);
            u32::try_from(resources.len() - 1).unwrap_or(NONE)
        });
    }
    // The compressed bodies, back to back: a start checks them with the rest (a block at a
    // time, through a small buffer) and leaves them on disk, where each is read when asked for
    // (and its zstd frame checksum checked again).
    let mut offsets = Vec::with_capacity(resources.len());
    let mut bodies_len = 0u64;
    for r in &resources {
        offsets.push(bodies_len);
        bodies_len += r.body.frame_len() as u64;
    }
    out.u64(bodies_len)?;
    for r in &resources {
        if let StoredBody::Zstd { frame, .. } = r.body.stored()? {
            out.raw(&frame)?;
        }
    }
    let mut json = Vec::new();
    out.len(resources.len())?;
    for (r, &offset) in resources.iter().zip(&offsets) {
        write_resource(&mut out, r, offset, &mut json)?;
    }
    out.len(kept.len())?;
    for entry in &kept {
        let parsed = entry.parsed;
        out.blob(entry.path)?;
        let stamp = parsed.facts.stamp;
        out.u64(stamp.bytes)?;
        out.u64(stamp.mtime_ns as u64)?;
        out.u64((stamp.mtime_ns >> 64) as u64)?;
        out.u64(stamp.node)?;
        out.u64(parsed.depends)?;
        out.u8(u8::from(parsed.settled))?;
        out.u8(u8::from(parsed.facts.empty))?;
        json.clear();
        serde_json::to_writer(&mut json, &parsed.facts.not_utf8).map_err(io::Error::other)?;
        out.blob(&json)?;
        json.clear();
        serde_json::to_writer(&mut json, &parsed.diags).map_err(io::Error::other)?;
        out.blob(&json)?;
        out.u8(entry.shape)?;
        if let Some(r) = entry.resource {
            out.u32(number.get(&Arc::as_ptr(r)).copied().unwrap_or(NONE))?;
        }
    }
    out.u32s(
        docs.iter()
            .map(|r| number.get(&Arc::as_ptr(r)).copied().unwrap_or(NONE)),
    )?;
    index.write_to(&mut out)?;
    let checksum = out.hash.finish();
    out.w.write_all(&checksum.to_le_bytes())?;
    let file = out.w.into_inner().map_err(io::IntoInnerError::into_error)?;
    let bytes = file.metadata()?.len();
    Ok(Saved {
        files: kept.len(),
        resources: resources.len(),
        bytes,
    })
}

/// What a cache file held: the parses to seed the first scan with, and the resources and search
/// index of the snapshot they made (a resource the cache does not hold stands in as a copy that
/// matches nothing, so its postings are rebuilt).
pub(crate) struct Loaded {
    /// The fingerprint of the scan it was written from.
    pub fingerprint: u64,
    pub cache: ParseCache,
    pub docs: Vec<Arc<Resource>>,
    pub index: SearchIndex,
    pub files: usize,
}

/// Reads a cache file written by [`save`] under the same `settings`.
pub(crate) fn load(path: &Path, settings: u64) -> Result<Loaded, Unusable> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size < 8 {
        return Err(Unusable::Damaged("the file ends early"));
    }
    let mut input = In {
        r: BufReader::with_capacity(1 << 18, file),
        hash: StreamHash::default(),
        left: size - 8,
    };
    if &input.array::<8>()? != MAGIC {
        return Err(Unusable::Damaged("not a catalog cache"));
    }
    let format = input.u32()?;
    let version = String::from_utf8_lossy(&input.blob()?).into_owned();
    if format != FORMAT || version != env!("CARGO_PKG_VERSION") {
        return Err(Unusable::Version(format!("{version}, format {format}")));
    }
    if input.u64()? != settings {
        return Err(Unusable::Settings);
    }
    let fingerprint = input.u64()?;
    let bodies_len = input.u64()?;
    if bodies_len > input.left {
        return Err(Unusable::Damaged("the bodies run past the end of the file"));
    }
    let bodies = Bodies {
        file: Arc::new(FrameFile {
            file: input.r.get_ref().try_clone()?,
            path: path.to_path_buf(),
        }),
        start: size - 8 - input.left,
        len: bodies_len,
    };
    let mut buf = Vec::new();
    let mut unread = bodies_len;
    while unread > 0 {
        let block = unread.min(1 << 20);
        input.raw_into(block as usize, &mut buf)?;
        unread -= block;
    }
    // Parsed on this thread: parsing on all cores saves a few tens of milliseconds but leaves
    // the resources spread over the allocator's per-thread arenas, 15 MB more resident.
    let count = input.count(2)?;
    let mut resources = Vec::with_capacity(count);
    for _ in 0..count {
        let (head, body) = read_record(&mut input, &bodies, &mut buf)?;
        // The head is a resource without its body (`Resource::body` defaults to empty).
        let mut resource: Resource = serde_json::from_slice(&head)
            .map_err(|_| Unusable::Damaged("a record does not parse"))?;
        resource.body = body;
        resources.push(Arc::new(resource));
    }
    let resource = |n: u32| {
        resources
            .get(n as usize)
            .cloned()
            .ok_or(Unusable::Damaged("a parse names no resource"))
    };
    let count = input.count(40)?;
    let mut cache = ParseCache::default();
    cache.entries.reserve(count);
    for _ in 0..count {
        let path = input.blob()?.into_boxed_slice();
        let bytes = input.u64()?;
        let low = input.u64()?;
        let high = input.u64()?;
        let node = input.u64()?;
        let depends = input.u64()?;
        let settled = input.u8()? != 0;
        let empty = input.u8()? != 0;
        let not_utf8: Option<Diagnostic> = input.json(&mut buf)?;
        let diags: Vec<Diagnostic> = input.json(&mut buf)?;
        let value: Option<Shared> = match input.u8()? {
            NO_VALUE => None,
            MAYBE_NONE => Some(Arc::new(None::<Arc<Resource>>)),
            MAYBE_SOME => Some(Arc::new(Some(resource(input.u32()?)?))),
            ONE => Some(Arc::new(resource(input.u32()?)?)),
            _ => return Err(Unusable::Damaged("a parse's shape")),
        };
        let parsed = Parsed {
            facts: ReadFacts {
                stamp: FileStamp {
                    bytes,
                    mtime_ns: u128::from(low) | (u128::from(high) << 64),
                    node,
                },
                not_utf8,
                empty,
            },
            depends,
            settled,
            diags,
            value,
        };
        cache.entries.insert(path, Box::new(parsed));
    }
    let numbers = input.u32s()?;
    if numbers
        .iter()
        .any(|&n| n != NONE && n as usize >= resources.len())
    {
        return Err(Unusable::Damaged("a document names no resource"));
    }
    let index = SearchIndex::read_from(&mut input, numbers.len())?;
    let checksum = input.hash.finish();
    if input.left != 0 {
        return Err(Unusable::Damaged("bytes after the index"));
    }
    let mut trailer = [0u8; 8];
    input.r.read_exact(&mut trailer)?;
    if u64::from_le_bytes(trailer) != checksum {
        return Err(Unusable::Damaged("the checksum does not match"));
    }
    // Documents the cache does not hold (MCP servers, workflows) stand in as a copy of some
    // resource that no scan will hand back, so their postings are rebuilt; with nothing to copy,
    // the index is rebuilt whole.
    let (docs, index) = match resources.first() {
        Some(first) => {
            let stand_in = Arc::new(Resource::clone(first));
            let docs = numbers
                .iter()
                .map(|&n| Arc::clone(resources.get(n as usize).unwrap_or(&stand_in)))
                .collect();
            (docs, index)
        }
        None => (Vec::new(), SearchIndex::default()),
    };
    Ok(Loaded {
        fingerprint,
        files: cache.entries.len(),
        cache,
        docs,
        index,
    })
}
