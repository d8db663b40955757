//! placeholder for note tests
