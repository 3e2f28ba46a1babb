//! Cost tracking against logs on disk: fixtures this suite writes for every rule, and the
//! shared corpus with its expected summary when `JARVIS_CORPUS` names it.

#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "tests fail loudly and say what they skipped"
)]

mod corpus;
mod live;
mod rules;
