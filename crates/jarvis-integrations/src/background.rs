//! A loop running on its own tokio task, owned: dropping the handle (or calling
//! [`LoopHandle::stop`]) ends it, so nothing a server starts keeps running after the server.

use tokio::task::JoinHandle;

/// Owns a background loop; the loop ends when the handle is dropped or stopped.
#[derive(Debug)]
#[must_use = "the loop stops when its handle is dropped"]
pub struct LoopHandle {
    task: Option<JoinHandle<()>>,
}

impl LoopHandle {
    /// Owns `task`.
    pub fn new(task: JoinHandle<()>) -> Self {
        LoopHandle { task: Some(task) }
    }

    /// Ends the loop and waits until it has ended (at its next await point).
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // A loop that was aborted answers a cancellation error; nothing else is expected.
            if let Err(e) = task.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "a background loop had panicked");
            }
        }
    }

    /// Whether the loop has ended.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    /// Sets its flag when dropped, as the loop's state is when the loop ends.
    struct Flag(Arc<AtomicBool>);

    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn endless(ended: &Arc<AtomicBool>) -> LoopHandle {
        let flag = Flag(Arc::clone(ended));
        LoopHandle::new(tokio::spawn(async move {
            let _flag = flag;
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }))
    }

    #[tokio::test]
    async fn a_stopped_loop_has_ended_when_stop_returns() {
        let ended = Arc::new(AtomicBool::new(false));
        let handle = endless(&ended);
        assert!(!handle.is_finished());
        handle.stop().await;
        assert!(ended.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_dropped_handle_ends_its_loop() {
        let ended = Arc::new(AtomicBool::new(false));
        drop(endless(&ended));
        for _ in 0..200 {
            if ended.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the loop outlived its handle");
    }
}
