//! Parameters, checked against their declaration: the route table's [`Param`]s are the one
//! statement of what a route accepts, read by this parser and by the OpenAPI document alike.
//! An unknown parameter, a repeated one, a value of the wrong type or out of range, two sides
//! of a [`crate::registry::Choice`] at once: each is a `VALIDATION_ERROR` naming the parameter
//! — never silently ignored or clamped.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use actix_web::{HttpMessage, HttpRequest};

use crate::envelope::Pagination;
use crate::error::ApiError;
use crate::registry::{In, Kind, MAX_ITEMS, PAGE_START, Param};

/// The most items one page may hold.
pub const MAX_LIMIT: u64 = 500;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 50;

/// Text with something in it: at least one character other than a space, tab, CR or LF.
pub const NOT_BLANK: &str = "[^ \\t\\r\\n]";

/// `text` without the spaces, tabs, CRs and LFs around it (the blanks of [`NOT_BLANK`]).
pub fn trim_blanks(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

/// The pattern of a cursor this server issues.
pub const CURSOR_PATTERN: &str = "^c1\\.[0-9a-f]{1,16}$";

/// `limit` (1 to `max`, default `default`), then `offset` or `cursor`.
pub fn page_params(max: u64, default: u64) -> [Param; 3] {
    [
        Param::query("limit", "integer", "Page size")
            .range(1, max)
            .default(default),
        Param::query("offset", "integer", "Items to skip (default 0)").side_of(&PAGE_START, 0),
        Param::query("cursor", "string", "The `next_cursor` of the previous page")
            .pattern(CURSOR_PATTERN, 4, 19)
            .side_of(&PAGE_START, 1),
    ]
}

/// A pattern for a comma-separated list of `words` (`a`, `a,b`): built once per list of words
/// and kept for the life of the process (the route table is built more than once).
pub fn list_pattern(words: &[&str]) -> &'static str {
    static BUILT: LazyLock<RwLock<HashMap<String, &'static str>>> = LazyLock::new(RwLock::default);
    let alternatives = words
        .iter()
        .map(|w| regex_lite::escape(w))
        .collect::<Vec<_>>()
        .join("|");
    if let Some(pattern) = BUILT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&alternatives)
    {
        return pattern;
    }
    let pattern: &'static str =
        Box::leak(format!("^({alternatives})(,({alternatives}))*$").into_boxed_str());
    BUILT
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(alternatives)
        .or_insert(pattern)
}

/// A request's query parameters, checked against the route's declaration.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    specs: Arc<[Param]>,
}

impl Params {
    /// Parses `query` and checks it against `specs`, the route's parameters.
    pub fn parse(query: &str, specs: Arc<[Param]>) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)?;
        let query_specs = || specs.iter().filter(|p| p.location == In::Query);
        for (i, (name, value)) in pairs.iter().enumerate() {
            let Some(spec) = query_specs().find(|p| p.name == name) else {
                let expected: Vec<&str> = query_specs().map(|p| p.name).collect();
                return Err(ApiError::invalid(
                    name,
                    if expected.is_empty() {
                        format!("unknown query parameter `{name}`; this route takes none")
                    } else {
                        format!(
                            "unknown query parameter `{name}`; expected one of: {}",
                            expected.join(", ")
                        )
                    },
                ));
            };
            let earlier = pairs[..i].iter().filter(|(n, _)| n == name).count();
            if !spec.repeatable && earlier > 0 {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` is given more than once"),
                ));
            }
            if earlier >= MAX_ITEMS {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` is given more than {MAX_ITEMS} times"),
                ));
            }
            check(spec, value)?;
        }
        for spec in query_specs() {
            if spec.required && !pairs.iter().any(|(n, _)| n == spec.name) {
                return Err(ApiError::invalid(
                    spec.name,
                    format!("`{}` is required", spec.name),
                ));
            }
        }
        check_choices(&pairs, &specs)?;
        Ok(Params { pairs, specs })
    }

    /// The parameters the route table checked for this request (none outside a route).
    pub fn of(req: &HttpRequest) -> Params {
        req.extensions()
            .get::<Params>()
            .cloned()
            .unwrap_or_default()
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable `name`; comma-separated values are split too.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The whole number `name` (already within its declared range), or its declared default.
    pub fn integer(&self, name: &str) -> Option<u64> {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .or_else(|| self.specs.iter().find(|p| p.name == name)?.default)
    }

    /// [`Params::integer`] as a `usize`, 0 when absent without a default.
    pub fn count(&self, name: &str) -> usize {
        self.integer(name)
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// The parameter parsed as `T`, or `None` when absent; a value `T` refuses is a
    /// `VALIDATION_ERROR` naming the parameter, with `T`'s own message.
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|e: T::Err| ApiError::invalid(name, e.to_string()))
            })
            .transpose()
    }

    /// `true` or `false`, or `None` when absent.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| v == "true")
    }

    /// `limit` (its declared default and bounds), and the start from `offset` or `cursor`.
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let limit = self.count("limit");
        let offset = match self.get("cursor") {
            Some(cursor) => decode_cursor(cursor)?,
            None => self.count("offset"),
        };
        Ok((limit, offset))
    }
}

/// Checks one value against its parameter's declaration.
pub fn check(spec: &Param, value: &str) -> Result<(), ApiError> {
    let name = spec.name;
    match spec.kind {
        Kind::Text {
            min_len,
            max_len,
            pattern,
        } => {
            let len = value.chars().count();
            if len < min_len || len > max_len {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` must have {min_len} to {max_len} characters, not {len}"),
                ));
            }
            if let Some(pattern) = pattern
                && !matches(pattern, value)
            {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` must match `{pattern}`: {}", spec.description),
                ));
            }
        }
        Kind::Integer { min, max } => {
            let number = value
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten();
            match number {
                Some(n) if (min..=max).contains(&n) => {}
                Some(n) => {
                    return Err(ApiError::invalid(
                        name,
                        format!("`{name}` must be from {min} to {max}, not {n}"),
                    ));
                }
                None => {
                    return Err(ApiError::invalid(
                        name,
                        format!(
                            "`{name}` must be a whole number from {min} to {max}, not `{value}`"
                        ),
                    ));
                }
            }
        }
        Kind::Boolean => {
            if value != "true" && value != "false" {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` must be true or false, not `{value}`"),
                ));
            }
        }
        Kind::Date => {
            if jarvis_costs::zone::parse_iso_date(value).is_none() {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` must be a date that exists, YYYY-MM-DD, not `{value}`"),
                ));
            }
        }
        Kind::Named { name: list, values } => {
            if values.binary_search(&value).is_err() {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` must be one of the {list} names, not `{value}`"),
                ));
            }
        }
        Kind::OneOf(values) => {
            if !values.contains(&value) {
                return Err(ApiError::invalid(
                    name,
                    format!(
                        "`{name}` must be one of {}, not `{value}`",
                        values.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks that each [`crate::registry::Choice`] is used on one side at most (one exactly when
/// required).
fn check_choices(pairs: &[(String, String)], specs: &[Param]) -> Result<(), ApiError> {
    let mut seen: Vec<&'static str> = Vec::new();
    for (choice, _) in specs.iter().filter_map(|p| p.choice) {
        if seen.contains(&choice.name) {
            continue;
        }
        seen.push(choice.name);
        let members = || {
            specs
                .iter()
                .filter(|p| p.choice.is_some_and(|(c, _)| std::ptr::eq(c, choice)))
        };
        let given: Vec<&Param> = members()
            .filter(|p| pairs.iter().any(|(n, _)| n == p.name))
            .collect();
        let side = |p: &Param| p.choice.map_or(0, |(_, side)| side);
        if let Some(first) = given.first()
            && let Some(other) = given.iter().find(|p| side(p) != side(first))
        {
            return Err(ApiError::invalid(
                other.name,
                format!("give `{}` or `{}`, not both", first.name, other.name),
            ));
        }
        if choice.required && given.is_empty() {
            let names: Vec<String> = members().map(|p| format!("`{}`", p.name)).collect();
            let first = members().next().map_or(choice.name, |p| p.name);
            return Err(ApiError::invalid(
                first,
                format!("give one of {}", names.join(" or ")),
            ));
        }
    }
    Ok(())
}

/// Whether `value` contains a match of `pattern` (compiled once).
fn matches(pattern: &'static str, value: &str) -> bool {
    static COMPILED: LazyLock<RwLock<HashMap<&'static str, regex_lite::Regex>>> =
        LazyLock::new(RwLock::default);
    if let Some(regex) = COMPILED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
    {
        return regex.is_match(value);
    }
    match regex_lite::Regex::new(pattern) {
        Ok(regex) => {
            let found = regex.is_match(value);
            COMPILED
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(pattern, regex);
            found
        }
        Err(e) => {
            tracing::error!(pattern, error = %e, "a declared parameter pattern does not compile");
            false
        }
    }
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(actix_web::web::Query::into_inner)
        .map_err(|e| {
            ApiError::new(
                jarvis_core::Code::ValidationError,
                format!("invalid query string: {e}"),
            )
        })
}

/// Cursors are opaque to clients; today they encode the next offset.
fn encode_cursor(offset: usize) -> String {
    format!("c1.{offset:x}")
}

fn decode_cursor(cursor: &str) -> Result<usize, ApiError> {
    cursor
        .strip_prefix("c1.")
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "cursor",
                format!("`{cursor}` is not a cursor this server issued"),
            )
        })
}

/// The page `items[offset..offset + limit]` and its pagination metadata.
pub fn paginate<T>(items: Vec<T>, limit: usize, offset: usize) -> (Vec<T>, Pagination) {
    let total = items.len();
    let end = offset.saturating_add(limit).min(total);
    let has_more = end < total;
    let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let pagination = Pagination {
        total,
        limit,
        offset,
        has_more,
        next_cursor: has_more.then(|| encode_cursor(end)),
    };
    (page, pagination)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::PAGE_START;

    fn specs() -> Arc<[Param]> {
        vec![
            Param::query("limit", "integer", "Page size")
                .range(1, MAX_LIMIT)
                .default(DEFAULT_LIMIT),
            Param::query("offset", "integer", "Skip").side_of(&PAGE_START, 0),
            Param::query("cursor", "string", "Cursor").side_of(&PAGE_START, 1),
            Param::query("sort", "string", "Order").one_of(&["name", "-name"]),
            Param::query("active", "boolean", "Active"),
            Param::query("id", "string", "An id").pattern("^task_[0-9a-f]{4}$", 9, 9),
            Param::query("tag", "string", "Tags").repeatable(),
        ]
        .into()
    }

    #[test]
    fn strict_parsing_names_the_parameter() {
        let p = Params::parse("limit=10&offset=5", specs()).unwrap();
        assert_eq!(p.page().unwrap(), (10, 5));
        assert_eq!(Params::parse("", specs()).unwrap().page().unwrap(), (50, 0));
        let p = Params::parse(
            "tag=a&tag=b,c&sort=-name&active=false&id=task_00af",
            specs(),
        );
        let p = p.unwrap();
        assert_eq!(p.all("tag"), ["a", "b", "c"]);
        assert_eq!(p.flag("active"), Some(false));
        for (query, param) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=-1", "limit"),
            ("limit=+1", "limit"),
            ("limit=ten", "limit"),
            ("offset=-3", "offset"),
            ("cursor=zzz", "cursor"),
            ("cursor=", "cursor"),
            ("offset=1&cursor=c1.2", "cursor"),
            ("limit=1&limit=2", "limit"),
            ("colour=red", "colour"),
            ("sort=size", "sort"),
            ("active=1", "active"),
            ("id=task_00AF", "id"),
            ("id=xtask_00af", "id"),
        ] {
            let err = Params::parse(query, specs())
                .and_then(|p| p.page())
                .unwrap_err();
            assert_eq!(err.details.unwrap()["parameter"], param, "{query}");
        }
    }

    #[test]
    fn pages_and_cursors() {
        let (page, p) = paginate((0..7).collect(), 3, 3);
        assert_eq!(page, [3, 4, 5]);
        assert!(p.has_more);
        let next = decode_cursor(p.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next, 6);
        let (page, p) = paginate((0..7).collect::<Vec<i32>>(), 3, 6);
        assert_eq!(page, [6]);
        assert!(!p.has_more && p.next_cursor.is_none());
        let (page, p) = paginate((0..7).collect::<Vec<i32>>(), 3, 100);
        assert!(page.is_empty() && p.total == 7);
    }
}
