//! Query parameters, parsed strictly: an unknown parameter, a repeated one, or a value out of
//! range is a `VALIDATION_ERROR` naming the parameter — never silently ignored or clamped.

use crate::envelope::Pagination;
use crate::error::ApiError;

/// The most items one page may hold.
pub const MAX_LIMIT: usize = 500;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 50;

/// A request's query parameters.
#[derive(Debug)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `query`, accepting only `allowed` names (each at most once, unless `repeatable`).
    pub fn parse(query: &str, allowed: &[&str], repeatable: &[&str]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::invalid(
                    name,
                    format!(
                        "unknown query parameter `{name}`; expected one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if !repeatable.contains(&name.as_str()) && pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::invalid(
                    name,
                    format!("`{name}` is given more than once"),
                ));
            }
        }
        Ok(Params { pairs })
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

    /// An integer in `min..=max`, or `default` when absent.
    pub fn number(
        &self,
        name: &str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let value: usize = raw.parse().map_err(|_| {
            ApiError::invalid(
                name,
                format!("`{name}` must be a whole number from {min} to {max}, not `{raw}`"),
            )
        })?;
        if !(min..=max).contains(&value) {
            return Err(ApiError::invalid(
                name,
                format!("`{name}` must be from {min} to {max}, not {value}"),
            ));
        }
        Ok(value)
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
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid(
                name,
                format!("`{name}` must be true or false, not `{other}`"),
            )),
        }
    }

    /// `limit` (up to [`MAX_LIMIT`]), and the start from `offset` or `cursor` (not both).
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        self.page_up_to(MAX_LIMIT)
    }

    /// [`Params::page`] with another most items per page.
    pub fn page_up_to(&self, max_limit: usize) -> Result<(usize, usize), ApiError> {
        let limit = self.number("limit", DEFAULT_LIMIT, 1, max_limit)?;
        let offset = match (self.get("offset"), self.get("cursor")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "cursor",
                    "give either `offset` or `cursor`, not both",
                ));
            }
            (_, Some(cursor)) => decode_cursor(cursor)?,
            _ => self.number("offset", 0, 0, usize::MAX)?,
        };
        Ok((limit, offset))
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

    #[test]
    fn strict_parsing_names_the_parameter() {
        let p = Params::parse("limit=10&offset=5", &["limit", "offset", "cursor"], &[]).unwrap();
        assert_eq!(p.page().unwrap(), (10, 5));
        for (query, param) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("offset=-3", "offset"),
            ("cursor=zzz", "cursor"),
            ("offset=1&cursor=c1.2", "cursor"),
            ("limit=1&limit=2", "limit"),
            ("colour=red", "colour"),
        ] {
            let err = Params::parse(query, &["limit", "offset", "cursor"], &[])
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
