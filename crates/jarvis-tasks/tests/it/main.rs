//! The task engine with fake runner scripts written by the tests — never a real `claude`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod engine;
mod jobs;
