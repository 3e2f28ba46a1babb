//! API keys: creation, verification, revocation, persistence.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jarvis_core::{Code, ErrorCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// GET routes: resources, search, diagnostics.
    Read,
    /// Running commands, agents, workflows and analyses.
    Execute,
    /// Keys and configuration; an admin key may do everything.
    Admin,
}

impl Scope {
    /// The name, as in configuration and errors.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Execute => "execute",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "execute" => Ok(Scope::Execute),
            "admin" => Ok(Scope::Admin),
            other => Err(AuthError::InvalidScope(other.to_owned())),
        }
    }
}

/// Who is calling: the key's id, name and scopes (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The key id, or `anonymous` when authentication is off.
    pub key_id: String,
    /// The key's name, for audit lines.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// The caller when no keys are configured (loopback only): may do everything.
    pub fn anonymous() -> Principal {
        Principal {
            key_id: "anonymous".to_owned(),
            name: "anonymous".to_owned(),
            scopes: vec![Scope::Read, Scope::Execute, Scope::Admin],
        }
    }

    /// Whether the caller holds `needed` (an admin key holds every scope).
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.contains(&needed) || self.scopes.contains(&Scope::Admin)
    }
}

/// What can go wrong with keys.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The key file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is not what Jarvis writes.
    #[error("{path} is not a valid key file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A key name outside the allowed characters or length.
    #[error(
        "invalid key name `{0}`: use 1 to 64 letters, digits, spaces, `-`, `_` or `.`, with no space at either end"
    )]
    InvalidName(String),
    /// An unknown scope.
    #[error("unknown scope `{0}`: expected read, execute or admin")]
    InvalidScope(String),
    /// A key needs at least one scope.
    #[error("a key needs at least one scope")]
    NoScope,
    /// The JWT configuration is unusable.
    #[error("invalid JWT configuration: {0}")]
    Jwt(String),
    /// The system's random source failed.
    #[error("cannot generate a key: {0}")]
    Random(String),
    /// The database holding the keys failed.
    #[error("cannot use the keys in {location}: {reason}")]
    Backend {
        /// Where (the database's address, without its password).
        location: String,
        /// Why.
        reason: String,
    },
}

impl ErrorCode for AuthError {
    fn error_code(&self) -> Code {
        match self {
            AuthError::InvalidName(_) | AuthError::InvalidScope(_) | AuthError::NoScope => {
                Code::ValidationError
            }
            AuthError::Io { .. } | AuthError::Corrupt { .. } | AuthError::Random(_) => {
                Code::InternalError
            }
            AuthError::Backend { .. } => Code::StoreUnavailable,
            AuthError::Jwt(_) => Code::ConfigInvalid,
        }
    }
}

type Result<T, E = AuthError> = std::result::Result<T, E>;

/// A stored key: everything but the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyRecord {
    id: String,
    name: String,
    scopes: Vec<Scope>,
    created_at: u64,
    /// Hex SHA-256 of the full key.
    sha256: String,
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A key as a [`KeyBackend`] keeps it: everything but the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was created (seconds since the Unix epoch).
    pub created_at: u64,
    /// Hex SHA-256 of the whole key.
    pub sha256: String,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Where keys live when not in a file: a database several instances share, so that a key
/// created or revoked on one is known to all. Blocking.
pub trait KeyBackend: Send + Sync + fmt::Debug {
    /// Every key.
    fn load(&self) -> std::result::Result<Vec<StoredKey>, String>;
    /// Records a new key.
    fn insert(&self, key: &StoredKey) -> std::result::Result<(), String>;
    /// Deletes a key; whether there was one.
    fn delete(&self, id: &str) -> std::result::Result<bool, String>;
    /// Where, for messages (no password).
    fn location(&self) -> String;
}

/// A key as listed: no secret, no hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key id (also the start of the key, `jv_<id>_…`).
    pub id: String,
    /// A name for people and audit lines.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was created (seconds since the Unix epoch).
    pub created_at: u64,
}

/// A freshly created key: shown once.
pub struct NewKey {
    /// Its listing.
    pub info: KeyInfo,
    /// The key itself. Print it once; it cannot be recovered.
    pub secret: String,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("info", &self.info)
            .field("secret", &"********")
            .finish()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    keys: Vec<KeyRecord>,
}

#[derive(Debug)]
struct Loaded {
    keys: Vec<KeyRecord>,
    modified: Option<SystemTime>,
}

/// The key store.
#[derive(Debug)]
pub struct KeyStore {
    source: Source,
    loaded: RwLock<Loaded>,
}

/// Where the keys are.
#[derive(Debug)]
enum Source {
    /// An owner-only JSON file (one instance, or several sharing a folder).
    File(PathBuf),
    /// A database (several instances).
    Backend(Arc<dyn KeyBackend>),
}

/// How long a key id is (hex characters).
const ID_LEN: usize = 12;

/// What a key's name may be: 1 to 64 letters, digits, spaces, `-`, `_` or `.`, with no space
/// at either end.
pub const KEY_NAME_PATTERN: &str = "^[A-Za-z0-9._-]([A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?$";
/// Random bytes in a key's secret part.
const SECRET_BYTES: usize = 20;

impl KeyStore {
    /// Opens (or prepares) the key file at `path`; its folder is created owner-only.
    pub fn open(path: impl Into<PathBuf>) -> Result<KeyStore> {
        KeyStore::from_source(Source::File(path.into()))
    }

    /// Keys kept by `backend` (a database several instances share); loaded now, and again by
    /// [`KeyStore::reload`].
    pub fn with_backend(backend: Arc<dyn KeyBackend>) -> Result<KeyStore> {
        KeyStore::from_source(Source::Backend(backend))
    }

    fn from_source(source: Source) -> Result<KeyStore> {
        let store = KeyStore {
            source,
            loaded: RwLock::new(Loaded {
                keys: Vec::new(),
                modified: None,
            }),
        };
        store.reload()?;
        Ok(store)
    }

    /// The key file, when the keys are in one.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            Source::File(path) => Some(path),
            Source::Backend(_) => None,
        }
    }

    /// Where the keys are, for messages: the file, or the database (without its password).
    pub fn location(&self) -> String {
        match &self.source {
            Source::File(path) => path.display().to_string(),
            Source::Backend(backend) => backend.location(),
        }
    }

    /// Whether no key exists (authentication is then off, and Jarvis serves loopback only).
    pub fn is_empty(&self) -> bool {
        self.read().keys.is_empty()
    }

    /// Whether a key with this id exists (it has not been revoked).
    pub fn contains(&self, id: &str) -> bool {
        self.read().keys.iter().any(|k| k.id == id)
    }

    /// Every key, without secrets.
    pub fn list(&self) -> Vec<KeyInfo> {
        self.read()
            .keys
            .iter()
            .map(|k| KeyInfo {
                id: k.id.clone(),
                name: k.name.clone(),
                scopes: k.scopes.clone(),
                created_at: k.created_at,
            })
            .collect()
    }

    /// Creates a key named `name` ([`KEY_NAME_PATTERN`]) and persists it. The secret is in the
    /// result and nowhere else.
    pub fn create(&self, name: &str, scopes: &[Scope]) -> Result<NewKey> {
        // The rule of [`KEY_NAME_PATTERN`]: no space at either end.
        let valid = !name.is_empty()
            && name.chars().count() <= 64
            && !name.starts_with(' ')
            && !name.ends_with(' ')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
        if !valid {
            return Err(AuthError::InvalidName(name.to_owned()));
        }
        if scopes.is_empty() {
            return Err(AuthError::NoScope);
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let mut random = [0u8; ID_LEN / 2 + SECRET_BYTES];
        getrandom::fill(&mut random).map_err(|e| AuthError::Random(e.to_string()))?;
        let id = hex(&random[..ID_LEN / 2]);
        let secret = format!("jv_{id}_{}", hex(&random[ID_LEN / 2..]));
        let record = KeyRecord {
            id: id.clone(),
            name: name.to_owned(),
            scopes: scopes.clone(),
            created_at: now_secs(),
            sha256: hex(&Sha256::digest(secret.as_bytes())),
        };
        match &self.source {
            Source::File(_) => self.update(|keys| keys.push(record))?,
            Source::Backend(backend) => {
                backend
                    .insert(&StoredKey {
                        id: record.id.clone(),
                        name: record.name.clone(),
                        scopes: record.scopes.clone(),
                        created_at: record.created_at,
                        sha256: record.sha256.clone(),
                    })
                    .map_err(|reason| self.backend_error(reason))?;
                self.reload()?;
            }
        }
        Ok(NewKey {
            info: KeyInfo {
                id,
                name: name.to_owned(),
                scopes,
                created_at: now_secs(),
            },
            secret,
        })
    }

    /// Revokes the key with `id`; `false` when there is none. Takes effect at once in this
    /// process, and within a second in others watching the file.
    pub fn revoke(&self, id: &str) -> Result<bool> {
        if let Source::Backend(backend) = &self.source {
            let found = backend
                .delete(id)
                .map_err(|reason| self.backend_error(reason))?;
            self.reload()?;
            return Ok(found);
        }
        let mut found = false;
        self.update(|keys| {
            let before = keys.len();
            keys.retain(|k| k.id != id);
            found = keys.len() != before;
        })?;
        Ok(found)
    }

    /// The principal a presented key stands for, if it is a live key.
    pub fn verify(&self, presented: &str) -> Option<Principal> {
        let id = presented.strip_prefix("jv_")?.split('_').next()?;
        if id.len() != ID_LEN {
            return None;
        }
        let digest = Sha256::digest(presented.as_bytes());
        let loaded = self.read();
        let record = loaded.keys.iter().find(|k| k.id == id)?;
        let stored = unhex(&record.sha256)?;
        constant_time_eq(&stored, &digest).then(|| Principal {
            key_id: record.id.clone(),
            name: record.name.clone(),
            scopes: record.scopes.clone(),
        })
    }

    /// Re-reads the file if it changed since the last read (another process created or revoked
    /// a key). Blocking: call it off the async executor, as [`KeyStore::spawn_refresher`] does.
    pub fn reload(&self) -> Result<()> {
        let path = match &self.source {
            Source::File(path) => path,
            Source::Backend(backend) => {
                let keys = backend
                    .load()
                    .map_err(|reason| self.backend_error(reason))?
                    .into_iter()
                    .map(|k| KeyRecord {
                        id: k.id,
                        name: k.name,
                        scopes: k.scopes,
                        created_at: k.created_at,
                        sha256: k.sha256,
                    })
                    .collect::<Vec<_>>();
                if let Some(bad) = keys.iter().find(|k| !well_formed(k)) {
                    return Err(self
                        .backend_error(format!("key `{}` has a malformed id or hash", bad.name)));
                }
                self.write().keys = keys;
                return Ok(());
            }
        };
        let modified = match fs::metadata(path) {
            Ok(meta) => meta.modified().ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut loaded = self.write();
                loaded.keys.clear();
                loaded.modified = None;
                return Ok(());
            }
            Err(source) => {
                return Err(AuthError::Io {
                    action: "read",
                    path: path.clone(),
                    source,
                });
            }
        };
        if modified.is_some() && self.read().modified == modified {
            return Ok(());
        }
        let file = self.read_file()?;
        let mut loaded = self.write();
        loaded.keys = file.keys;
        loaded.modified = modified;
        Ok(())
    }

    /// Starts a thread that calls [`KeyStore::reload`] every `interval` while the store lives.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        interval: Duration,
    ) -> std::io::Result<RefresherGuard> {
        let weak: Weak<KeyStore> = Arc::downgrade(self);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("jarvis-keys-refresh".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    let Some(store) = weak.upgrade() else { return };
                    if let Err(e) = store.reload() {
                        tracing::error!(error = %e, "cannot reload API keys; keeping the keys already loaded");
                    }
                }
            })?;
        Ok(RefresherGuard { stop })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Loaded> {
        self.loaded.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn backend_error(&self, reason: String) -> AuthError {
        AuthError::Backend {
            location: self.location(),
            reason,
        }
    }

    /// The key file's path (only called for a file source).
    fn file(&self) -> &Path {
        match &self.source {
            Source::File(path) => path,
            Source::Backend(_) => Path::new(""),
        }
    }

    fn read_file(&self) -> Result<KeyFile> {
        let path = self.file();
        let text = fs::read_to_string(path).map_err(|source| AuthError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| AuthError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        for key in &file.keys {
            if !well_formed(key) {
                return Err(AuthError::Corrupt {
                    path: path.to_owned(),
                    reason: format!("key `{}` has a malformed id or hash", key.name),
                });
            }
        }
        Ok(file)
    }

    /// Applies `change` to the current file contents and writes them back atomically.
    fn update(&self, change: impl FnOnce(&mut Vec<KeyRecord>)) -> Result<()> {
        let mut loaded = self.write();
        // Start from the file, not memory: another process may have changed it.
        let path = self.file();
        let mut keys = if path.exists() {
            self.read_file()?.keys
        } else {
            Vec::new()
        };
        change(&mut keys);
        let file = KeyFile { version: 1, keys };
        let text = serde_json::to_string_pretty(&file).map_err(|e| AuthError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        write_private(path, text.as_bytes())?;
        loaded.keys = file.keys;
        loaded.modified = fs::metadata(path).ok().and_then(|m| m.modified().ok());
        Ok(())
    }
}

/// Stops the refresher thread when dropped.
#[derive(Debug)]
pub struct RefresherGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for RefresherGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Whether a stored key has an id and a hash of the right shape.
fn well_formed(key: &KeyRecord) -> bool {
    key.id.len() == ID_LEN && unhex(&key.sha256).is_some_and(|h| h.len() == 32)
}

/// Writes `bytes` to `path` through a temporary file and a rename, owner-only on Unix.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |action, source| AuthError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io("create the folder of", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| io("restrict", e))?;
        }
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| io("write", e))?;
    file.write_all(bytes).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("write", e))?;
    fs::rename(&tmp, path).map_err(|e| io("replace", e))?;
    Ok(())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Compares without an early exit, so timing does not reveal how much of a hash matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_verify_revoke_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/keys.json");
        let store = KeyStore::open(&path).unwrap();
        assert!(store.is_empty());
        let key = store.create("ci bot", &[Scope::Read, Scope::Read]).unwrap();
        assert!(key.secret.starts_with(&format!("jv_{}_", key.info.id)));
        assert_eq!(key.info.scopes, [Scope::Read]);
        let who = store.verify(&key.secret).unwrap();
        assert_eq!(who.name, "ci bot");
        assert!(who.allows(Scope::Read) && !who.allows(Scope::Execute));
        // Near misses fail.
        let mut wrong = key.secret.clone();
        wrong.pop();
        wrong.push('x');
        assert!(store.verify(&wrong).is_none());
        assert!(store.verify("jv_short_x").is_none());
        assert!(store.verify("Bearer nonsense").is_none());
        // The file holds a hash, never the key, and only the owner may read it.
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&key.secret));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                fs::metadata(path.parent().unwrap())
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o700
            );
        }
        // Another process (a second store on the same file) sees it, and its revocation
        // reaches the first store on reload.
        let other = KeyStore::open(&path).unwrap();
        assert!(other.verify(&key.secret).is_some());
        assert!(other.revoke(&key.info.id).unwrap());
        assert!(!other.revoke(&key.info.id).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        store.reload().unwrap();
        assert!(store.verify(&key.secret).is_none());
        assert!(
            format!("{key:?}").contains("********") && !format!("{key:?}").contains(&key.secret)
        );
    }

    #[test]
    fn names_and_scopes_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path().join("keys.json")).unwrap();
        assert!(matches!(
            store.create("", &[Scope::Read]),
            Err(AuthError::InvalidName(_))
        ));
        assert!(matches!(
            store.create("a\nb", &[Scope::Read]),
            Err(AuthError::InvalidName(_))
        ));
        assert!(matches!(
            store.create(&"x".repeat(65), &[Scope::Read]),
            Err(AuthError::InvalidName(_))
        ));
        assert!(matches!(store.create("ok", &[]), Err(AuthError::NoScope)));
        assert!("root".parse::<Scope>().is_err());
        assert_eq!(" Admin ".parse::<Scope>().unwrap(), Scope::Admin);
        let admin = store.create("ops", &[Scope::Admin]).unwrap();
        let who = store.verify(&admin.secret).unwrap();
        assert!(who.allows(Scope::Execute) && who.allows(Scope::Read));
    }

    #[test]
    fn corrupt_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            KeyStore::open(&path),
            Err(AuthError::Corrupt { .. })
        ));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(unhex("00ff"), Some(vec![0, 255]));
        assert_eq!(unhex("0"), None);
    }
}
