//! placeholder for merkle tests
