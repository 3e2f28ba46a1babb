//! Workspace-wide checks live in `it/`; this library is empty on purpose, so that the checks have
//! a package to belong to without becoming part of any shipped crate.
