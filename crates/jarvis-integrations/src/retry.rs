//! When to retry, and how long to wait: the schedule is data, the rule is one function.

use std::time::Duration;

use backoff::ExponentialBackoff;
use serde::{Deserialize, Serialize};

/// An exponential schedule with jitter and a ceiling on the total time spent retrying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySchedule {
    /// The first wait, in milliseconds.
    pub initial_ms: u64,
    /// The longest single wait, in milliseconds.
    pub max_interval_ms: u64,
    /// How much each wait grows.
    pub multiplier: f64,
    /// Random spread around each wait (0.3 = ±30 %), so clients do not retry in step.
    pub jitter: f64,
    /// Give up after this long, in milliseconds.
    pub max_elapsed_ms: u64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            initial_ms: 200,
            max_interval_ms: 5_000,
            multiplier: 2.0,
            jitter: 0.3,
            max_elapsed_ms: 20_000,
        }
    }
}

impl RetrySchedule {
    /// The `backoff` crate's view of this schedule. The crate is kept behind this type so that
    /// it can be replaced without touching callers.
    pub fn backoff(&self) -> ExponentialBackoff {
        backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(Duration::from_millis(self.initial_ms))
            .with_max_interval(Duration::from_millis(self.max_interval_ms))
            .with_multiplier(self.multiplier)
            .with_randomization_factor(self.jitter.clamp(0.0, 1.0))
            .with_max_elapsed_time(Some(Duration::from_millis(self.max_elapsed_ms)))
            .build()
    }
}

/// What happened to one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The connection failed before the request was sent.
    ConnectFailed,
    /// No answer in time (the request may have been processed).
    TimedOut,
    /// Another transport failure after sending (the request may have been processed).
    BrokenAfterSend,
    /// The service answered with this status.
    Status(u16),
}

/// Whether to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a failure.
    Done,
    /// Try again after the schedule's wait (or the service's `Retry-After`).
    Retry,
    /// A failure retrying cannot fix, or could make worse.
    GiveUp,
}

/// The retry rule. `idempotent` calls (reads) may also retry timeouts.
pub fn classify(attempt: Attempt, idempotent: bool) -> Verdict {
    match attempt {
        Attempt::Status(s) if (200..400).contains(&s) => Verdict::Done,
        Attempt::ConnectFailed | Attempt::Status(429 | 502 | 503 | 504) => Verdict::Retry,
        Attempt::TimedOut | Attempt::BrokenAfterSend if idempotent => Verdict::Retry,
        Attempt::TimedOut | Attempt::BrokenAfterSend | Attempt::Status(_) => Verdict::GiveUp,
    }
}

/// Parses `Retry-After` given in seconds (HTTP dates are rare from n8n and fall back to the
/// schedule).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        assert_eq!(classify(Attempt::Status(200), false), Verdict::Done);
        assert_eq!(classify(Attempt::ConnectFailed, false), Verdict::Retry);
        for s in [429, 502, 503, 504] {
            assert_eq!(classify(Attempt::Status(s), false), Verdict::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422, 500] {
            assert_eq!(classify(Attempt::Status(s), true), Verdict::GiveUp, "{s}");
        }
        assert_eq!(classify(Attempt::TimedOut, false), Verdict::GiveUp);
        assert_eq!(classify(Attempt::TimedOut, true), Verdict::Retry);
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
