//! Stable resource ids.
//!
//! An id must survive a rescan, a restart and a reordering of files, and must differ between two
//! files that define the same name (one of which is shadowed). It is therefore derived from what
//! identifies a definition on disk: its kind, scope, source file and the key inside that file
//! (an MCP server's name, a workflow's position). The hash is FNV-1a, chosen because it is tiny,
//! deterministic across platforms and Rust versions, and collisions among a few thousand ids are
//! vanishingly unlikely at 64 bits.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kind::{ResourceKind, Scope};

/// A stable, opaque resource id such as `agent_3f09c1d2a4b5e6f7`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(String);

impl ResourceId {
    /// Derives the id of the definition `key` inside `source`.
    pub fn derive(kind: ResourceKind, scope: Scope, source: &str, key: &str) -> Self {
        let mut hash = Fnv1a::new();
        hash.write(kind.as_str().as_bytes());
        hash.write(&[0]);
        hash.write(scope.as_str().as_bytes());
        hash.write(&[0]);
        hash.write(source.as_bytes());
        hash.write(&[0]);
        hash.write(key.as_bytes());
        ResourceId(format!("{}_{:016x}", kind.as_str(), hash.finish()))
    }

    /// Wraps an id received from a client. Whether it exists is for the catalog to say.
    pub fn from_raw(raw: impl Into<String>) -> Self {
        ResourceId(raw.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64-bit FNV-1a.
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = ResourceId::derive(
            ResourceKind::Agent,
            Scope::User,
            "/h/.claude/agents/a.md",
            "a",
        );
        let again = ResourceId::derive(
            ResourceKind::Agent,
            Scope::User,
            "/h/.claude/agents/a.md",
            "a",
        );
        let other = ResourceId::derive(
            ResourceKind::Agent,
            Scope::User,
            "/h/.claude/agents/b.md",
            "a",
        );
        assert_eq!(a, again);
        assert_ne!(a, other);
        assert!(a.as_str().starts_with("agent_"));
        assert_eq!(a.as_str().len(), "agent_".len() + 16);
    }

    #[test]
    fn fnv_matches_reference_vector() {
        // Reference value for FNV-1a 64 of "a".
        let mut h = Fnv1a::new();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
