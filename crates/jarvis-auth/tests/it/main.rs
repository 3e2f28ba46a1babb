//! Integration tests for jarvis-auth.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod jwt;
