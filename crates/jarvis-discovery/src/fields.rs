//! Typed reads of loosely typed frontmatter fields.
//!
//! Real files write the same field in several shapes (`tools: Read, Grep` and `tools: [Read]`;
//! `disable-model-invocation: "true"`). These helpers accept every shape Claude Code accepts and
//! turn anything else into a `field_invalid` diagnostic instead of an error.

use std::path::Path;

use jarvis_core::{Diagnostic, DiagnosticCode};
use serde_json::{Map, Value};

/// Reads frontmatter fields of one file, collecting diagnostics.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a Path,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>, path: &'a Path) -> Self {
        Fields { map, path }
    }

    /// A string field; numbers and booleans are accepted as their text. Empty strings are `None`.
    pub(crate) fn string(&self, key: &str, diags: &mut Vec<Diagnostic>) -> Option<String> {
        match self.map.get(key)? {
            Value::String(s) => {
                let s = s.trim();
                (!s.is_empty()).then(|| s.to_owned())
            }
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            other => {
                diags.push(self.invalid(key, "a string", other));
                None
            }
        }
    }

    /// A list of strings: a YAML list, or a comma-separated string. `None` when absent.
    pub(crate) fn list(&self, key: &str, diags: &mut Vec<Diagnostic>) -> Option<Vec<String>> {
        match self.map.get(key)? {
            Value::String(s) => Some(
                s.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                        Value::Number(n) => out.push(n.to_string()),
                        Value::String(_) | Value::Null => {}
                        other => diags.push(self.invalid(key, "a list of strings", other)),
                    }
                }
                Some(out)
            }
            Value::Null => None,
            other => {
                diags.push(self.invalid(key, "a list or a comma-separated string", other));
                None
            }
        }
    }

    /// A boolean; `"true"`/`"false"` strings are accepted. `false` when absent.
    pub(crate) fn flag(&self, key: &str, diags: &mut Vec<Diagnostic>) -> bool {
        match self.map.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(other) => {
                diags.push(self.invalid(key, "true or false", other));
                false
            }
        }
    }

    fn invalid(&self, key: &str, expected: &str, got: &Value) -> Diagnostic {
        let shown = match got {
            Value::Object(_) => "a mapping".to_owned(),
            Value::Array(_) => "a list".to_owned(),
            other => other.to_string(),
        };
        Diagnostic::new(
            DiagnosticCode::FieldInvalid,
            self.path,
            format!("field `{key}` should be {expected}, found {shown}; ignored"),
        )
    }
}

/// Collapses runs of whitespace to single spaces and trims: descriptions from block scalars.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first non-empty line of a Markdown body, without heading marks, as a fallback description.
pub(crate) fn first_body_line(body: &str) -> Option<String> {
    body.lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .map(|l| truncate_chars(l, 300))
}

/// Cuts `s` to at most `max` characters at a character boundary, adding `…` when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_accept_strings_and_arrays() {
        let map = json!({"a": "Read, Grep ,", "b": ["X", 1, null], "c": {"k": 1}})
            .as_object()
            .unwrap()
            .clone();
        let f = Fields::new(&map, Path::new("f.md"));
        let mut d = Vec::new();
        assert_eq!(f.list("a", &mut d).unwrap(), ["Read", "Grep"]);
        assert_eq!(f.list("b", &mut d).unwrap(), ["X", "1"]);
        assert!(f.list("c", &mut d).is_none());
        assert!(f.list("missing", &mut d).is_none());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, DiagnosticCode::FieldInvalid);
    }

    #[test]
    fn first_line_skips_headings_and_blanks() {
        assert_eq!(
            first_body_line("\n\n# Title here\nmore").unwrap(),
            "Title here"
        );
        assert!(first_body_line("  \n").is_none());
        assert_eq!(truncate_chars("héllo", 2), "hé…");
    }
}
