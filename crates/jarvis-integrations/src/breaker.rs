//! A circuit breaker per service.
//!
//! Closed: calls go through; the breaker opens after `failure_threshold` consecutive failures, or
//! when at least `min_calls` calls in the last `window` failed at `failure_ratio` or more. Open:
//! calls fail at once with the time left. After `cool_down`, one probe call is let through
//! (half-open): its success closes the breaker, its failure opens it again. Every change is
//! logged and published.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// The window for the failure ratio, in seconds.
    pub window_secs: u64,
    /// The failure ratio in the window that opens the breaker.
    pub failure_ratio: f64,
    /// Calls needed in the window before the ratio counts.
    pub min_calls: u32,
    /// How long the breaker stays open before a probe, in milliseconds.
    pub cool_down_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            window_secs: 60,
            failure_ratio: 0.5,
            min_calls: 10,
            cool_down_ms: 30_000,
        }
    }
}

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail at once.
    Open,
    /// One probe is deciding.
    HalfOpen,
}

/// A state change, for the event bus.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerEvent {
    /// The service.
    pub service: String,
    /// The new state.
    pub state: BreakerState,
    /// Why.
    pub reason: String,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    open_until: Option<Instant>,
    probing: bool,
    consecutive: u32,
    window: VecDeque<(Instant, bool)>,
}

/// The breaker of one service.
#[derive(Debug)]
pub struct CircuitBreaker {
    service: String,
    config: BreakerConfig,
    inner: Mutex<Inner>,
    events: broadcast::Sender<BreakerEvent>,
}

/// Permission for one call. Report how it went; a permit dropped without a report counts as a
/// failure (the call was abandoned).
///
/// ```
/// use jarvis_integrations::{BreakerConfig, BreakerState, CircuitBreaker, Permit};
///
/// fn call(breaker: &CircuitBreaker, service_up: bool) -> Result<(), String> {
///     let permit: Permit<'_> = breaker
///         .acquire()
///         .map_err(|wait| format!("suspended for {} s", wait.as_secs()))?;
///     if service_up { permit.success() } else { permit.failure() }
///     Ok(())
/// }
///
/// let breaker = CircuitBreaker::new("search", BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() });
/// assert!(call(&breaker, false).is_ok()); // made, and failed: the breaker opens
/// assert_eq!(breaker.state(), BreakerState::Open);
/// assert!(call(&breaker, true).unwrap_err().starts_with("suspended"));
/// ```
#[derive(Debug)]
#[must_use = "report the call's outcome with `success` or `failure`"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    reported: bool,
}

impl Permit<'_> {
    /// The call succeeded (or failed in a way that is the caller's fault, such as a 404).
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record(true);
    }

    /// The call failed because of the service.
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.record(false);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported {
            self.breaker.record(false);
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker for `service`.
    pub fn new(service: impl Into<String>, config: BreakerConfig) -> CircuitBreaker {
        let (events, _) = broadcast::channel(64);
        CircuitBreaker {
            service: service.into(),
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                open_until: None,
                probing: false,
                consecutive: 0,
                window: VecDeque::new(),
            }),
            events,
        }
    }

    /// State changes as they happen, from now on: each one is also logged. No runtime is
    /// needed to receive them (`try_recv` polls, `blocking_recv` waits on a plain thread,
    /// `recv().await` in async code); a receiver more than 64 changes behind is told how many
    /// it missed (`Lagged`) and goes on from the oldest kept.
    pub fn subscribe(&self) -> broadcast::Receiver<BreakerEvent> {
        self.events.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state now (an open breaker past its cool-down reports half-open).
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match (inner.state, inner.open_until) {
            (BreakerState::Open, Some(until)) if Instant::now() >= until => BreakerState::HalfOpen,
            (state, _) => state,
        }
    }

    /// A permit for one call, or the time until calls are allowed again.
    pub fn acquire(&self) -> Result<Permit<'_>, Duration> {
        let mut inner = self.lock();
        let now = Instant::now();
        match inner.state {
            BreakerState::Closed => {}
            BreakerState::Open => {
                let until = inner.open_until.unwrap_or(now);
                if now < until {
                    return Err(until - now);
                }
                inner.state = BreakerState::HalfOpen;
                inner.probing = true;
                drop(inner);
                self.announce(
                    BreakerState::HalfOpen,
                    "cool-down over; one probe call goes through",
                );
                return Ok(Permit {
                    breaker: self,
                    reported: false,
                });
            }
            BreakerState::HalfOpen => {
                if inner.probing {
                    return Err(Duration::from_millis(self.config.cool_down_ms.min(1_000)));
                }
                inner.probing = true;
            }
        }
        Ok(Permit {
            breaker: self,
            reported: false,
        })
    }

    fn record(&self, ok: bool) {
        let now = Instant::now();
        let mut inner = self.lock();
        let horizon = Duration::from_secs(self.config.window_secs);
        inner.window.push_back((now, ok));
        while inner
            .window
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > horizon)
        {
            inner.window.pop_front();
        }
        let change = match inner.state {
            BreakerState::HalfOpen => {
                inner.probing = false;
                if ok {
                    inner.state = BreakerState::Closed;
                    inner.consecutive = 0;
                    inner.window.clear();
                    Some((BreakerState::Closed, "the probe call succeeded".to_owned()))
                } else {
                    inner.state = BreakerState::Open;
                    inner.open_until = Some(now + Duration::from_millis(self.config.cool_down_ms));
                    Some((BreakerState::Open, "the probe call failed".to_owned()))
                }
            }
            BreakerState::Closed => {
                inner.consecutive = if ok { 0 } else { inner.consecutive + 1 };
                let calls = inner.window.len() as u32;
                let failures = inner.window.iter().filter(|(_, ok)| !ok).count() as u32;
                let ratio_tripped = calls >= self.config.min_calls
                    && f64::from(failures) / f64::from(calls.max(1)) >= self.config.failure_ratio;
                if inner.consecutive >= self.config.failure_threshold || (!ok && ratio_tripped) {
                    inner.state = BreakerState::Open;
                    inner.open_until = Some(now + Duration::from_millis(self.config.cool_down_ms));
                    Some((
                        BreakerState::Open,
                        format!(
                            "{} consecutive failures, {failures} of {calls} in the window",
                            inner.consecutive
                        ),
                    ))
                } else {
                    None
                }
            }
            BreakerState::Open => None,
        };
        drop(inner);
        if let Some((state, reason)) = change {
            self.announce(state, &reason);
        }
    }

    fn announce(&self, state: BreakerState, reason: &str) {
        match state {
            BreakerState::Open => {
                tracing::warn!(service = %self.service, reason, "circuit breaker opened")
            }
            _ => {
                tracing::info!(service = %self.service, ?state, reason, "circuit breaker changed state")
            }
        }
        let _ = self.events.send(BreakerEvent {
            service: self.service.clone(),
            state,
            reason: reason.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, cool_down_ms: u64) -> CircuitBreaker {
        CircuitBreaker::new(
            "svc",
            BreakerConfig {
                failure_threshold: threshold,
                window_secs: 60,
                failure_ratio: 0.5,
                min_calls: 100,
                cool_down_ms,
            },
        )
    }

    #[test]
    fn opens_fails_fast_half_opens_and_closes() {
        let b = breaker(3, 50);
        let mut events = b.subscribe();
        for _ in 0..3 {
            b.acquire().unwrap().failure();
        }
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.acquire().unwrap_err();
        assert!(wait <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.acquire().unwrap();
        assert!(b.acquire().is_err(), "one probe at a time");
        probe.failure();
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(60));
        b.acquire().unwrap().success();
        assert_eq!(b.state(), BreakerState::Closed);
        let states: Vec<BreakerState> = std::iter::from_fn(|| events.try_recv().ok())
            .map(|e| e.state)
            .collect();
        assert_eq!(
            states,
            [
                BreakerState::Open,
                BreakerState::HalfOpen,
                BreakerState::Open,
                BreakerState::HalfOpen,
                BreakerState::Closed
            ]
        );
    }

    #[test]
    fn successes_reset_the_count_and_the_ratio_trips_too() {
        let b = breaker(3, 1_000);
        for _ in 0..10 {
            b.acquire().unwrap().failure();
            b.acquire().unwrap().failure();
            b.acquire().unwrap().success();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        let ratio = CircuitBreaker::new(
            "svc",
            BreakerConfig {
                failure_threshold: 100,
                min_calls: 4,
                failure_ratio: 0.5,
                ..BreakerConfig::default()
            },
        );
        ratio.acquire().unwrap().success();
        ratio.acquire().unwrap().failure();
        ratio.acquire().unwrap().success();
        ratio.acquire().unwrap().failure();
        assert_eq!(ratio.state(), BreakerState::Open);
    }

    #[test]
    fn an_abandoned_permit_counts_as_a_failure() {
        let b = breaker(1, 1_000);
        drop(b.acquire().unwrap());
        assert_eq!(b.state(), BreakerState::Open);
    }
}
