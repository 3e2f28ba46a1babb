//! Secrets: values that must never appear in output or logs.
//!
//! MCP server `env` values and `headers` carry API keys and tokens. They are kept in a [`Secret`],
//! whose `Debug`, `Display` and `Serialize` all print [`MASK`]; only [`Secret::expose`] yields the
//! value, so leaking one takes a deliberate call that stands out in review.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What a masked value is shown as.
pub const MASK: &str = "********";

/// A string that is never printed, logged or serialized in clear.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value in clear. Call only where the value is handed to the peer that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an empty secret is still masked when shown).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Masks, anywhere in `value`, the values of objects held under an `env` or `headers` key.
///
/// Frontmatter and MCP entries can nest server definitions (an agent's `mcpServers`, a plugin's
/// manifest), so the walk is recursive rather than tied to one known position.
pub fn mask_secret_values(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let is_secret_map = matches!(key.as_str(), "env" | "headers");
                match child {
                    Value::Object(inner) if is_secret_map => {
                        for v in inner.values_mut() {
                            *v = Value::String(MASK.to_owned());
                        }
                    }
                    _ => mask_secret_values(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secret_values),
        _ => {}
    }
}

/// Hides the password of a URL with credentials (`scheme://user:password@host`) wherever one
/// appears in `text`; everything else is returned unchanged.
pub fn mask_url_password(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Secret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A secret value; always shown as `********`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s}"), MASK);
        assert_eq!(format!("{s:?}"), format!("Secret({MASK})"));
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{MASK}\""));
        assert_eq!(s.expose(), "sk-live-123");
    }

    #[test]
    fn nested_env_and_headers_are_masked() {
        let mut v = serde_json::json!({
            "mcpServers": {"x": {"env": {"TOKEN": "abc"}, "headers": {"Authorization": "Bearer z"}, "command": "npx"}},
            "list": [{"env": {"K": "v"}}]
        });
        mask_secret_values(&mut v);
        let text = v.to_string();
        assert!(!text.contains("abc") && !text.contains("Bearer z") && !text.contains("\"v\""));
        assert!(text.contains("npx"));
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("postgresql://app:hunter2@db:5432/x"),
            format!("postgresql://app:{MASK}@db:5432/x")
        );
        assert_eq!(mask_url_password("https://a.b/c?d=e"), "https://a.b/c?d=e");
        assert_eq!(
            mask_url_password("u://tok@h go x://y:z@w"),
            format!("u://tok@h go x://y:{MASK}@w")
        );
        assert_eq!(mask_url_password("no url"), "no url");
    }
}
