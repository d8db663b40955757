//! The ledger crate's integration tests, linked as one binary.

mod support;

mod entries;
mod erasure;
mod field;
mod flags;
mod format;
mod merkle;
mod note;
mod props;
mod rules;
mod tiles;
mod trace;
mod words;
