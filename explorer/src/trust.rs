//! What the browser trusts, and the audit it runs on every visit.
//!
//! The verifier key that checkpoint signatures are checked with comes from this explorer's build
//! configuration (`AIDTRAIL_VERIFIER_KEY` when it was built) or is pinned by the reader, and is kept in local
//! storage; a pinned key wins. A server presenting another key is an alarm, never a reason to switch.
//!
//! The audit keeps every checkpoint this browser verified; on each visit it checks, with a consistency
//! proof, that the newest checkpoint extends the last one seen.

use ledger::note::NoteVerifier;

use crate::api::{self, ConsistencyProofView};
use crate::storage;
use crate::verify::{self, SeenCheckpoint};

/// The key set when this explorer was built, if any.
pub const BUILD_VERIFIER_KEY: Option<&str> = option_env!("AIDTRAIL_VERIFIER_KEY");

const PINNED_KEY: &str = "aidtrail.verifier_key";
/// How many checkpoints the audit history keeps per log.
const HISTORY_MAX: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorSource {
    PinnedByReader,
    Build,
}

/// The verifier key the browser trusts and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub key: String,
    pub source: AnchorSource,
}

/// The pinned key if the reader pinned one, else the build's.
pub fn current_anchor() -> Option<Anchor> {
    storage::load(PINNED_KEY)
        .map(|key| Anchor { key, source: AnchorSource::PinnedByReader })
        .or_else(|| BUILD_VERIFIER_KEY.map(|key| Anchor { key: key.to_string(), source: AnchorSource::Build }))
}

/// Pins a verifier key after checking that it is one.
pub fn pin(key: &str) -> Result<(), String> {
    let key = key.trim();
    NoteVerifier::parse(key).map_err(|error| error.to_string())?;
    storage::save(PINNED_KEY, key);
    Ok(())
}

pub fn unpin() {
    storage::remove(PINNED_KEY);
}

/// How the server's key compares with the trusted one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustStatus {
    Matches(Anchor),
    Mismatch { anchor: Anchor, served: String },
    Unpinned { served: String },
}

pub fn status(anchor: Option<Anchor>, served: &str) -> TrustStatus {
    match anchor {
        Some(anchor) if anchor.key == served => TrustStatus::Matches(anchor),
        Some(anchor) => TrustStatus::Mismatch { anchor, served: served.to_string() },
        None => TrustStatus::Unpinned { served: served.to_string() },
    }
}

/// The outcome of the audit of this visit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audit {
    Pending,
    /// No trust anchor: nothing can be checked.
    NoAnchor,
    /// The first checkpoint this browser saw of this log: remembered.
    First(SeenCheckpoint),
    /// The newest checkpoint extends the last one seen.
    Consistent {
        from: SeenCheckpoint,
        to: SeenCheckpoint,
    },
    /// The newest checkpoint is not signed by the trusted key (or does not name this log).
    BadSignature {
        note: String,
        error: String,
    },
    /// The newest checkpoint does not extend the last one seen: the log was rewritten.
    Rewritten {
        previous: SeenCheckpoint,
        current_note: String,
        error: String,
    },
    /// The consistency proof could not be fetched.
    Unavailable(String),
}

impl Audit {
    pub fn is_alarm(&self) -> bool {
        matches!(self, Audit::BadSignature { .. } | Audit::Rewritten { .. })
    }
}

fn history_key(origin: &str) -> String {
    format!("aidtrail.checkpoints.{origin}")
}

/// The checkpoints this browser verified for a log, oldest first.
pub fn history(origin: &str) -> Vec<SeenCheckpoint> {
    storage::load(&history_key(origin)).and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
}

fn remember(origin: &str, mut seen: Vec<SeenCheckpoint>, checkpoint: SeenCheckpoint) -> SeenCheckpoint {
    if seen.last().map(|last| last.tree_size) != Some(checkpoint.tree_size) {
        seen.push(checkpoint.clone());
    }
    let excess = seen.len().saturating_sub(HISTORY_MAX);
    seen.drain(..excess);
    if let Ok(text) = serde_json::to_string(&seen) {
        storage::save(&history_key(origin), &text);
    }
    checkpoint
}

pub fn forget_history(origin: &str) {
    storage::remove(&history_key(origin));
}

/// Checks the server's newest checkpoint against the trusted key and against the last checkpoint this
/// browser saw, and remembers it when it is good.
pub async fn audit(origin: &str, anchor: Option<&Anchor>, latest_note: &str) -> Audit {
    let Some(anchor) = anchor else { return Audit::NoAnchor };
    let checkpoint = match verify::open_checkpoint(latest_note, &anchor.key, origin) {
        Ok(checkpoint) => checkpoint,
        Err(error) => return Audit::BadSignature { note: latest_note.to_string(), error },
    };
    let current = SeenCheckpoint {
        tree_size: checkpoint.tree_size,
        root: hex::encode(checkpoint.root),
        note: latest_note.to_string(),
        seen_at_ms: storage::now_ms(),
    };
    let seen = history(origin);
    let Some(previous) = seen.last().cloned() else {
        return Audit::First(remember(origin, seen, current));
    };
    let proof = if checkpoint.tree_size > previous.tree_size {
        let path =
            format!("/api/v1/proofs/consistency?old_size={}&new_size={}", previous.tree_size, checkpoint.tree_size);
        match api::get_json::<ConsistencyProofView>(&path).await {
            Ok(view) => view.proof,
            Err(error) => return Audit::Unavailable(error.to_string()),
        }
    } else {
        Vec::new()
    };
    match verify::check_growth(&previous, &checkpoint, &proof) {
        Ok(()) => Audit::Consistent { from: previous, to: remember(origin, seen, current) },
        Err(error) => Audit::Rewritten { previous, current_note: latest_note.to_string(), error: error.to_string() },
    }
}
