//! Gives the heap memory a catalog reload freed back to the system.
//!
//! A reload builds the next generation (search index, changed resources) while the last one
//! still serves; once the last one is dropped, glibc keeps the freed pages in the arenas of the
//! threads that used them, for a next allocation that may never come. After a dozen reloads at
//! 16,000 resources that was 138 MB resident where 102 MB were in use (`malloc_trim` called by
//! hand). So a second after each burst of reloads, once the old generation has gone, and again
//! once the catalog cache has been written (9 s later), the heap is trimmed. Elsewhere than
//! glibc this does nothing.

use std::sync::mpsc;
use std::time::Duration;

use jarvis_discovery::LiveCatalog;

/// Trims the heap after the load of `catalog` and after each burst of its reloads, on a thread
/// that ends with it.
pub fn after_reloads(catalog: &LiveCatalog) {
    if !SUPPORTED {
        return;
    }
    let (tx, rx) = mpsc::channel::<()>();
    // The load itself is the first burst.
    let _ = tx.send(());
    catalog.on_swap(move |_| {
        // The receiver is gone only if the thread could not start: nothing to tell.
        let _ = tx.send(());
    });
    let spawned = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // A second without a reload ends the burst.
                loop {
                    match rx.recv_timeout(Duration::from_secs(1)) {
                        Ok(()) => {}
                        Err(mpsc::RecvTimeoutError::Timeout) => break,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                trim();
                // Again once the catalog cache has been written (3 s after the last reload).
                std::thread::sleep(Duration::from_secs(9));
                trim();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the heap trimmer; memory freed by reloads stays with the process");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const SUPPORTED: bool = true;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const SUPPORTED: bool = false;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(
    unsafe_code,
    reason = "malloc_trim has no safe wrapper; it takes no pointer and only returns free pages"
)]
fn trim() {
    // SAFETY: `malloc_trim` only walks glibc's own arenas under their locks and releases free
    // pages; it takes no pointer from us and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
