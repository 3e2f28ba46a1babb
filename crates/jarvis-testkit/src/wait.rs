//! Waiting in tests for something that happens on another thread or task: one helper instead
//! of a hand-written poll loop per test.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] asks again.
const POLL: Duration = Duration::from_millis(20);

/// Asks `check` until it answers `Some` and returns that, polling every 20 ms for at most
/// `within`; panics with `what` (what was awaited) when the time runs out. Needs a tokio
/// runtime with timers.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime: asks `check` every 20 ms on this thread.
pub fn eventually_blocking<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn answers_once_the_check_does() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let found = eventually("the third call", Duration::from_secs(5), || {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move { (n == 3).then_some(n) }
        })
        .await;
        assert_eq!(found, 3);
        let mut calls = 0;
        let found = eventually_blocking("the second call", Duration::from_secs(5), || {
            calls += 1;
            (calls == 2).then_some(calls)
        });
        assert_eq!(found, 2);
    }

    #[tokio::test]
    async fn panics_naming_what_it_waited_for() {
        let waited = tokio::spawn(eventually("nothing", Duration::from_millis(50), || async {
            None::<()>
        }));
        let payload = waited.await.unwrap_err().into_panic();
        let message = payload.downcast_ref::<String>().unwrap();
        assert!(message.contains("waiting for nothing"), "{message}");
    }
}
