//! Black-box tests of the HTTP API: the real server on a loopback port, a real HTTP client, a
//! fixture home written to a temporary folder, and the real file watcher.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod analyses;
mod api;
mod browser;
mod costs;
mod knowledge;
mod mcp;
mod security;
mod services;
mod support;
mod tasks;
mod telemetry;
mod ui;
mod workflows;
mod ws;
