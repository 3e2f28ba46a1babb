//! Integration tests for discovery: one test binary, one module per concern.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "tests fail loudly and say what they skipped"
)]

mod cache;
mod corpus;
mod fixture;
mod props;
mod scan;
mod search;
mod watch;
