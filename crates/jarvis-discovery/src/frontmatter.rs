//! Markdown files with YAML frontmatter: splitting, strict parsing, and a lenient fallback.
//!
//! Real agent and command files often break YAML: an unquoted `: ` inside a description is the
//! most common case ("mapping values are not allowed here"). Claude Code skips such files; Jarvis
//! recovers what it can with a line-based `key: value` reader and flags the file, so the user sees
//! the resource *and* learns that Claude Code may not.

use std::path::Path;

use jarvis_core::{Diagnostic, DiagnosticCode};
use serde_json::{Map, Value};

/// A Markdown file split into frontmatter and body.
#[derive(Debug, Default)]
pub(crate) struct Document {
    /// The frontmatter fields, if the file has a frontmatter block that yielded any.
    pub frontmatter: Option<Map<String, Value>>,
    /// Whether the frontmatter is not valid YAML and was recovered line by line.
    pub recovered: bool,
    /// Whether a frontmatter block was opened, or found, but could not be used (unterminated, or
    /// YAML with nothing to recover): a diagnostic has been issued already.
    pub broken: bool,
    /// The text after the frontmatter (or the whole file).
    pub body: String,
}

/// Splits and parses `text` (already normalized: LF line ends, no BOM). Problems are pushed onto
/// `diags`; the function itself never fails.
pub(crate) fn parse_document(text: &str, path: &Path, diags: &mut Vec<Diagnostic>) -> Document {
    let Some((yaml, body)) = split(text) else {
        if opens_frontmatter(text) {
            diags.push(
                Diagnostic::new(
                    DiagnosticCode::FrontmatterUnterminated,
                    path,
                    "frontmatter opens with `---` but has no closing `---` line",
                )
                .at_line(1),
            );
        }
        return Document {
            body: text.to_owned(),
            broken: opens_frontmatter(text),
            ..Document::default()
        };
    };
    let body = body.to_owned();
    match parse_yaml(yaml) {
        Ok(map) => Document {
            frontmatter: Some(map),
            recovered: false,
            broken: false,
            body,
        },
        Err(reason) => {
            let (map, suspect_line) = parse_lenient(yaml);
            // Frontmatter starts on line 2 of the file (line 1 is `---`).
            let line = u32::try_from(suspect_line.map_or(1, |l| l + 2)).unwrap_or(u32::MAX);
            if map.is_empty() {
                diags.push(
                    Diagnostic::new(
                        DiagnosticCode::YamlInvalid,
                        path,
                        format!("frontmatter is not valid YAML and no field could be recovered: {reason}"),
                    )
                    .at_line(line),
                );
                Document {
                    frontmatter: None,
                    recovered: false,
                    broken: true,
                    body,
                }
            } else {
                diags.push(
                    Diagnostic::new(
                        DiagnosticCode::YamlRecovered,
                        path,
                        format!(
                            "frontmatter is not valid YAML ({reason}); fields were recovered line by line, \
                             but Claude Code may skip this file (quote values that contain `: `)"
                        ),
                    )
                    .at_line(line),
                );
                Document {
                    frontmatter: Some(map),
                    recovered: true,
                    broken: false,
                    body,
                }
            }
        }
    }
}

fn opens_frontmatter(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    first.trim_end() == "---"
}

/// Returns `(yaml, body)` when `text` starts with a closed `---` block.
fn split(text: &str) -> Option<(&str, &str)> {
    if !opens_frontmatter(text) {
        return None;
    }
    let after_open = text.find('\n').map_or(text.len(), |i| i + 1);
    let mut offset = after_open;
    for line in text[after_open..].split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed == "..." {
            let yaml = &text[after_open..offset];
            let body = &text[offset + line.len()..];
            return Some((yaml, body));
        }
        offset += line.len();
    }
    None
}

/// Strict YAML. Anything but a mapping (or an empty document) is an error.
fn parse_yaml(yaml: &str) -> Result<Map<String, Value>, String> {
    if yaml.trim().is_empty() {
        return Ok(Map::new());
    }
    let value: Value = serde_saphyr::from_str(yaml).map_err(|e| first_line(&e.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(format!(
            "frontmatter is a {}, not a mapping",
            type_name(&other)
        )),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// The line-based fallback: top-level `key: value` pairs, block scalars (`|`, `>`), block lists
/// and `[a, b]` flow lists. Returns the fields and the 0-based line most likely to have broken
/// strict parsing (the first plain value containing `: `).
pub(crate) fn parse_lenient(yaml: &str) -> (Map<String, Value>, Option<usize>) {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut map = Map::new();
    let mut suspect = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A stray indented line: continuation of the previous plain scalar.
            if let Some((_, Value::String(prev))) = map.iter_mut().next_back() {
                if !prev.is_empty() {
                    prev.push(' ');
                }
                prev.push_str(line.trim());
            }
            continue;
        }
        let Some((key, rest)) = split_key(line) else {
            continue;
        };
        let rest = rest.trim();
        let value = if let Some(style) = block_scalar_style(rest) {
            let (block, used) = take_indented(&lines[i..]);
            i += used;
            Value::String(fold_block(&block, style))
        } else if rest.is_empty() {
            let (block, used) = take_indented(&lines[i..]);
            i += used;
            block_list(&block).unwrap_or_else(|| {
                if block.is_empty() {
                    Value::Null
                } else {
                    Value::String(block.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "))
                }
            })
        } else {
            if suspect.is_none() && !is_quoted(rest) && rest.contains(": ") {
                suspect = Some(i - 1);
            }
            plain_value(rest)
        };
        map.insert(key.to_owned(), value);
    }
    (map, suspect)
}

fn split_key(line: &str) -> Option<(&str, &str)> {
    let colon = line.find(':')?;
    let key = line[..colon].trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let rest = &line[colon + 1..];
    (valid && (rest.is_empty() || rest.starts_with([' ', '\t']))).then_some((key, rest))
}

#[derive(Clone, Copy)]
enum BlockStyle {
    Literal,
    Folded,
}

fn block_scalar_style(rest: &str) -> Option<BlockStyle> {
    let indicator = rest.split_whitespace().next()?;
    let mut chars = indicator.chars();
    let style = match chars.next()? {
        '|' => BlockStyle::Literal,
        '>' => BlockStyle::Folded,
        _ => return None,
    };
    chars
        .all(|c| matches!(c, '-' | '+') || c.is_ascii_digit())
        .then_some(style)
}

/// Takes the following lines that are indented or blank; returns them and how many were used.
fn take_indented<'a>(lines: &[&'a str]) -> (Vec<&'a str>, usize) {
    let mut used = 0;
    for line in lines {
        if line.trim().is_empty() || line.starts_with([' ', '\t']) || line.starts_with("- ") {
            used += 1;
        } else {
            break;
        }
    }
    let mut block: Vec<&str> = lines[..used].to_vec();
    while block.last().is_some_and(|l| l.trim().is_empty()) {
        block.pop();
    }
    (block, used)
}

fn fold_block(block: &[&str], style: BlockStyle) -> String {
    let indent = block
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let dedented: Vec<&str> = block
        .iter()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim()
            }
        })
        .collect();
    match style {
        BlockStyle::Literal => dedented.join("\n"),
        BlockStyle::Folded => {
            let mut out = String::new();
            for line in dedented {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    if !out.is_empty() && !out.ends_with('\n') {
                        out.push(' ');
                    }
                    out.push_str(line);
                }
            }
            out
        }
    }
}

fn block_list(block: &[&str]) -> Option<Value> {
    let items: Vec<&str> = block
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if items.is_empty() || !items.iter().all(|l| l.starts_with('-')) {
        return None;
    }
    Some(Value::Array(
        items
            .iter()
            .map(|l| plain_value(l.trim_start_matches('-').trim()))
            .collect(),
    ))
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
}

fn plain_value(s: &str) -> Value {
    if is_quoted(s) {
        return Value::String(s[1..s.len() - 1].to_owned());
    }
    if s.starts_with('[') && s.ends_with(']') {
        let inner = &s[1..s.len() - 1];
        return Value::Array(
            inner
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(plain_value)
                .collect(),
        );
    }
    match s {
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        "null" | "~" => Value::Null,
        _ => Value::String(strip_comment(s).to_owned()),
    }
}

/// Drops a trailing ` # comment` from a plain scalar.
fn strip_comment(s: &str) -> &str {
    s.find(" #").map_or(s, |i| s[..i].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Document, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let doc = parse_document(text, Path::new("t.md"), &mut diags);
        (doc, diags)
    }

    #[test]
    fn valid_frontmatter_parses_strictly() {
        let (doc, diags) = parse("---\nname: a\ntools: [Read, Grep]\n---\nBody\n");
        assert!(diags.is_empty(), "{diags:?}");
        let fm = doc.frontmatter.unwrap();
        assert_eq!(fm["name"], "a");
        assert_eq!(fm["tools"], serde_json::json!(["Read", "Grep"]));
        assert_eq!(doc.body, "Body\n");
        assert!(!doc.recovered);
    }

    #[test]
    fn unquoted_colon_is_recovered_and_flagged() {
        let text = "---\nname: ab\ndescription: Use this. Triggers on: 'a', 'b'\ntools: Read, Grep\n---\nbody";
        let (doc, diags) = parse(text);
        assert!(doc.recovered);
        let fm = doc.frontmatter.unwrap();
        assert_eq!(fm["description"], "Use this. Triggers on: 'a', 'b'");
        assert_eq!(fm["tools"], "Read, Grep");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, DiagnosticCode::YamlRecovered);
        assert_eq!(diags[0].line, Some(3));
    }

    #[test]
    fn lenient_reader_handles_block_scalars_and_lists() {
        let yaml = "name: x\ndescription: >\n  folded\n  text\nbody: |\n  l1\n  l2\ntools:\n  - A\n  - B\nbad: a: b\n";
        let (map, suspect) = parse_lenient(yaml);
        assert_eq!(map["description"], "folded text");
        assert_eq!(map["body"], "l1\nl2");
        assert_eq!(map["tools"], serde_json::json!(["A", "B"]));
        assert_eq!(suspect, Some(10));
    }

    #[test]
    fn no_frontmatter_and_unterminated() {
        let (doc, diags) = parse("# Title\ntext");
        assert!(doc.frontmatter.is_none() && diags.is_empty());
        let (doc, diags) = parse("---\nname: a\nno close\n");
        assert!(doc.frontmatter.is_none());
        assert_eq!(diags[0].code, DiagnosticCode::FrontmatterUnterminated);
    }

    #[test]
    fn garbage_yaml_with_nothing_to_recover_is_invalid() {
        let (doc, diags) = parse("---\n[unclosed\n---\nbody");
        assert!(doc.frontmatter.is_none());
        assert_eq!(diags[0].code, DiagnosticCode::YamlInvalid);
        assert_eq!(doc.body, "body");
    }

    #[test]
    fn empty_frontmatter_is_an_empty_map() {
        let (doc, diags) = parse("---\n---\nbody");
        assert!(diags.is_empty());
        assert!(doc.frontmatter.unwrap().is_empty());
    }
}
