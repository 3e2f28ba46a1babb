//! Money as an integer count of nano-dollars (10⁻⁹ US$), so sums are exact.
//!
//! Every per-token price Anthropic publishes is a whole number of nano-dollars ($0.03 per million
//! tokens is 30 n$ a token), so a computed cost is exact; a reported `costUSD` is rounded to the
//! nearest nano-dollar once, when it is read.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Serialize, Serializer};

/// An amount in US$, held as nano-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i64);

impl Usd {
    /// Nothing.
    pub const ZERO: Usd = Usd(0);

    /// `nanos` nano-dollars.
    pub const fn from_nanos(nanos: i64) -> Usd {
        Usd(nanos)
    }

    /// A dollar amount read from a log or a request, rounded to the nearest nano-dollar;
    /// `None` for a value that is not finite or does not fit.
    pub fn from_dollars(dollars: f64) -> Option<Usd> {
        let nanos = (dollars * 1e9).round();
        (nanos.is_finite() && nanos.abs() < 9.2e18).then_some(Usd(nanos as i64))
    }

    /// The amount in nano-dollars.
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// The amount in dollars, for display and JSON (exact to the nano-dollar up to $9 million).
    pub fn dollars(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl Add for Usd {
    type Output = Usd;

    fn add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = *self + other;
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

impl fmt::Display for Usd {
    /// `$0.5103204`: as many decimals as the amount needs, at least two.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 1_000_000_000, abs % 1_000_000_000);
        let mut digits = format!("{frac:09}");
        while digits.len() > 2 && digits.ends_with('0') {
            digits.pop();
        }
        write!(f, "{sign}${whole}.{digits}")
    }
}

impl Serialize for Usd {
    /// As a JSON number of dollars, the way ccusage writes `totalCost`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.dollars())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Usd {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .description(Some(
                "US dollars, exact to the nano-dollar (kept as an integer, shown as a decimal).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Usd {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_and_dollars_round_once() {
        let tenth = Usd::from_dollars(0.1).unwrap();
        let sum: Usd = std::iter::repeat_n(tenth, 10).sum();
        assert_eq!(sum, Usd::from_nanos(1_000_000_000));
        assert_eq!(Usd::from_dollars(0.000_000_000_4), Some(Usd::ZERO));
        assert_eq!(Usd::from_dollars(f64::NAN), None);
        assert_eq!(Usd::from_dollars(1e30), None);
        assert_eq!(Usd::from_nanos(510_320_400).to_string(), "$0.5103204");
        assert_eq!(Usd::from_nanos(2_000_000_000).to_string(), "$2.00");
        assert_eq!(Usd::from_nanos(-5).to_string(), "-$0.000000005");
        assert_eq!(
            serde_json::to_string(&Usd::from_nanos(510_320_400)).unwrap(),
            "0.5103204"
        );
    }
}
