//! Encoding, JSON view and signatures of entries.
