//! The n8n client against a real HTTP server on loopback playing n8n (wiremock), with replies
//! shaped like n8n's own; the content analyzer against real ffmpeg.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod analyzer;
mod mcp;
mod n8n;
