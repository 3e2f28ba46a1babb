//! Model prices, and finding the price of a model id as it appears in a log.
//!
//! The embedded table holds Anthropic's published prices per token in nano-dollars. A model id
//! is matched the way ccusage matches it: exactly; else the longest table key found inside the
//! id (or the id inside a key) at name boundaries, with `.` and `@` read as `-`, so that
//! Bedrock's `us.anthropic.claude-sonnet-4-20250514-v1:0` and Vertex's
//! `claude-sonnet-4@20250514` find `claude-sonnet-4`. A key ending in a version number does not
//! match an id that continues with another version number (`claude-opus-4` is not
//! `claude-opus-4-1`), but does match one that continues with an eight-digit date.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use crate::money::Usd;

/// Tokens of one field beyond which the field's higher price applies, where the model has one.
pub const TIER_THRESHOLD: u64 = 200_000;

/// The length of the date suffix of Anthropic's dated model ids (`20250514`).
const DATE_SUFFIX_DIGITS: usize = 8;

/// One model's prices, per token, in nano-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Input tokens.
    pub input: i64,
    /// Output tokens.
    pub output: i64,
    /// Cache writes with the 5-minute lifetime.
    pub cache_write: i64,
    /// Cache reads.
    pub cache_read: i64,
    /// Input tokens beyond [`TIER_THRESHOLD`], when the model prices them higher.
    pub input_above: Option<i64>,
    /// Output tokens beyond the threshold.
    pub output_above: Option<i64>,
    /// Cache writes beyond the threshold.
    pub cache_write_above: Option<i64>,
    /// Cache reads beyond the threshold.
    pub cache_read_above: Option<i64>,
    /// What `speed: "fast"` multiplies the cost by.
    pub fast_multiplier: i64,
}

impl Price {
    /// Prices given in US$ per million tokens (`$3` → 3.0), with the cache prices derived the
    /// usual way when absent: writes at 1.25 × input, reads at 0.1 × input.
    pub fn per_million(
        input: f64,
        output: f64,
        cache_write: Option<f64>,
        cache_read: Option<f64>,
    ) -> Price {
        let nanos = |per_million: f64| (per_million * 1000.0).round() as i64;
        Price {
            input: nanos(input),
            output: nanos(output),
            cache_write: nanos(cache_write.unwrap_or(input * 1.25)),
            cache_read: nanos(cache_read.unwrap_or(input * 0.1)),
            input_above: None,
            output_above: None,
            cache_write_above: None,
            cache_read_above: None,
            fast_multiplier: 1,
        }
    }

    /// The same prices with higher ones beyond [`TIER_THRESHOLD`] tokens, per million.
    #[must_use]
    pub fn tiered(mut self, input: f64, output: f64, cache_write: f64, cache_read: f64) -> Price {
        let nanos = |per_million: f64| Some((per_million * 1000.0).round() as i64);
        self.input_above = nanos(input);
        self.output_above = nanos(output);
        self.cache_write_above = nanos(cache_write);
        self.cache_read_above = nanos(cache_read);
        self
    }

    /// The cost of `tokens` tokens at `base`, and at `above` for those beyond the threshold.
    pub fn tiered_cost(tokens: u64, base: i64, above: Option<i64>) -> Usd {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        let threshold = TIER_THRESHOLD as i64;
        let nanos = match above {
            Some(above) if tokens > threshold => threshold
                .saturating_mul(base)
                .saturating_add((tokens - threshold).saturating_mul(above)),
            _ => tokens.saturating_mul(base),
        };
        Usd::from_nanos(nanos)
    }
}

/// The built-in prices: (key, input, output, cache write, cache read) in US$ per million
/// tokens, and the keys priced higher beyond 200k tokens a field.
const BUILT_IN: &[(&str, f64, f64, f64, f64)] = &[
    ("claude-opus-4-8", 5.0, 25.0, 6.25, 0.5),
    ("claude-opus-4-7", 5.0, 25.0, 6.25, 0.5),
    ("claude-opus-4-6", 5.0, 25.0, 6.25, 0.5),
    ("claude-opus-4-5", 5.0, 25.0, 6.25, 0.5),
    ("claude-opus-4-1", 15.0, 75.0, 18.75, 1.5),
    ("claude-opus-4", 15.0, 75.0, 18.75, 1.5),
    ("claude-sonnet-4-6", 3.0, 15.0, 3.75, 0.3),
    ("claude-sonnet-4-5", 3.0, 15.0, 3.75, 0.3),
    ("claude-sonnet-4", 3.0, 15.0, 3.75, 0.3),
    ("claude-haiku-4-5", 1.0, 5.0, 1.25, 0.1),
    ("claude-3-7-sonnet", 3.0, 15.0, 3.75, 0.3),
    ("claude-3-5-sonnet", 3.0, 15.0, 3.75, 0.3),
    ("claude-3-5-haiku", 0.8, 4.0, 1.0, 0.08),
    ("claude-3-opus", 15.0, 75.0, 18.75, 1.5),
    ("claude-3-sonnet", 3.0, 15.0, 3.75, 0.3),
    ("claude-3-haiku", 0.25, 1.25, 0.3, 0.03),
];

/// Keys whose prices rise beyond 200k tokens a field: 6 / 22.5 / 7.5 / 0.6 per million.
const TIERED: &[&str] = &["claude-sonnet-4-5", "claude-sonnet-4"];

/// Keys (and their dated ids) whose fast mode costs six times as much.
const FAST_SIX_TIMES: &[&str] = &["claude-opus-4-6", "claude-opus-4-7"];

/// Prices by model key.
#[derive(Debug, Clone)]
pub struct PriceTable {
    entries: FxHashMap<String, Price>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::built_in()
    }
}

impl PriceTable {
    /// The embedded table.
    pub fn built_in() -> PriceTable {
        let mut entries = FxHashMap::default();
        for &(key, input, output, write, read) in BUILT_IN {
            let mut price = Price::per_million(input, output, Some(write), Some(read));
            if TIERED.contains(&key) {
                price = price.tiered(6.0, 22.5, 7.5, 0.6);
            }
            if FAST_SIX_TIMES.contains(&key) {
                price.fast_multiplier = 6;
            }
            entries.insert(key.to_owned(), price);
        }
        PriceTable { entries }
    }

    /// Sets the price of a model key (matched as the built-in keys are).
    pub fn set(&mut self, key: &str, price: Price) {
        self.entries.insert(key.to_owned(), price);
    }

    /// The price of `model` as a log names it, or `None` for a model the table does not know.
    pub fn find(&self, model: &str) -> Option<Price> {
        if let Some(price) = self.entries.get(model) {
            return Some(*price);
        }
        let normalized = normalized(model);
        self.entries
            .iter()
            .filter(|(key, _)| key_matches(key, model, &normalized))
            .max_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| b.cmp(a)))
            .map(|(_, price)| *price)
    }
}

/// `.` and `@` read as `-`.
fn normalized(value: &str) -> Cow<'_, str> {
    if value.contains(['.', '@']) {
        Cow::Owned(value.replace(['.', '@'], "-"))
    } else {
        Cow::Borrowed(value)
    }
}

fn key_matches(key: &str, model: &str, normalized_model: &str) -> bool {
    if contains_at_boundaries(model, key) || contains_at_boundaries(key, model) {
        return true;
    }
    let key = normalized(key);
    contains_at_boundaries(normalized_model, &key) || contains_at_boundaries(&key, normalized_model)
}

/// Whether `key` occurs in `value` with a non-alphanumeric byte (or nothing) on each side, and
/// is not followed by another version number.
fn contains_at_boundaries(value: &str, key: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    value.match_indices(key).any(|(at, _)| {
        let before_ok = at == 0 || !value.as_bytes()[at - 1].is_ascii_alphanumeric();
        before_ok && suffix_allows(key, &value[at + key.len()..])
    })
}

fn suffix_allows(key: &str, suffix: &str) -> bool {
    let Some(&first) = suffix.as_bytes().first() else {
        return true;
    };
    if first.is_ascii_alphanumeric() {
        return false;
    }
    // `claude-opus-4` + `-1…` is another version; `claude-sonnet-4` + `-20250514` is a date.
    if !key.as_bytes().last().is_some_and(u8::is_ascii_digit) || !matches!(first, b'-' | b'.') {
        return true;
    }
    let rest = &suffix.as_bytes()[1..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return true;
    }
    let after = rest.get(digits);
    digits == DATE_SUFFIX_DIGITS && after.is_none_or(|b| !b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_find_their_model_across_providers_versions_and_dates() {
        let table = PriceTable::built_in();
        let sonnet_4 = table.find("claude-sonnet-4").unwrap();
        for id in [
            "claude-sonnet-4-20250514",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-sonnet-4@20250514",
            "anthropic/claude-sonnet-4",
        ] {
            assert_eq!(table.find(id), Some(sonnet_4), "{id}");
        }
        let opus_41 = table.find("claude-opus-4-1").unwrap();
        assert_eq!(table.find("claude-opus-4-1-20250805"), Some(opus_41));
        assert_eq!(opus_41.input, 15_000);
        // A later version is not an earlier one with a suffix.
        let opus_46 = table.find("claude-opus-4-6").unwrap();
        assert_eq!(opus_46.input, 5_000);
        assert_eq!(opus_46.fast_multiplier, 6);
        assert_eq!(
            table.find("claude-sonnet-4-5-20250929").unwrap().input,
            3_000
        );
        assert_eq!(
            table.find("claude-haiku-4-5-20251001").unwrap().cache_read,
            100
        );
        assert_eq!(
            table
                .find("eu.anthropic.claude-3-5-haiku-20241022-v1:0")
                .unwrap()
                .cache_read,
            80
        );
        for unknown in ["gpt-4o", "claude-opus-9", "<synthetic>", "claude-sonnet-5"] {
            assert_eq!(table.find(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn fields_beyond_the_threshold_cost_the_higher_price() {
        let sonnet = PriceTable::built_in().find("claude-sonnet-4").unwrap();
        assert_eq!(
            Price::tiered_cost(200_000, sonnet.input, sonnet.input_above).nanos(),
            600_000_000
        );
        assert_eq!(
            Price::tiered_cost(200_001, sonnet.input, sonnet.input_above).nanos(),
            600_000_000 + 6_000
        );
        let haiku = PriceTable::built_in().find("claude-haiku-4-5").unwrap();
        assert_eq!(
            Price::tiered_cost(300_000, haiku.input, haiku.input_above).nanos(),
            300_000_000
        );
        let derived = Price::per_million(2.0, 10.0, None, None);
        assert_eq!((derived.cache_write, derived.cache_read), (2_500, 200));
    }
}
