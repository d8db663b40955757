//! placeholder for tiles tests
