//! The checks the browser runs itself, with the `ledger` crate: nothing here trusts the server's word.
//!
//! [`verify_entry`] takes what the server sent for one entry (its leaf bytes, the inclusion proof and the
//! signed checkpoint) and the verifier key the reader trusts, and recomputes everything: the leaf hash from
//! the bytes, the author's signature, the path from the leaf to the root and the checkpoint's signature.
//! [`check_growth`] checks that a newly seen checkpoint extends the last one this browser saw.

use ledger::merkle::{self, Hash};
use ledger::note::{self, Checkpoint, NoteVerifier};
use ledger::{EntryVerifier, SignedEntry};

/// One check and its outcome: `Ok` carries what was established, `Err` what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub step: Step,
    pub outcome: Result<String, String>,
}

/// The steps of an entry's verification, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The leaf bytes decode as a signed entry and hash to the leaf hash the server names.
    LeafHash,
    /// The author's Ed25519 signature over the entry, bound to this log's origin.
    AuthorSignature,
    /// The checkpoint note is signed by the trusted verifier key and names this log.
    CheckpointSignature,
    /// The inclusion path leads from the leaf hash to the signed checkpoint's root.
    InclusionPath,
}

/// What the server sent about one entry.
#[derive(Clone, Debug)]
pub struct EntryEvidence<'a> {
    pub index: u64,
    /// The signed entry's bytes, hexadecimal.
    pub leaf_hex: &'a str,
    /// The leaf hash the server claims, hexadecimal.
    pub claimed_leaf_hash: &'a str,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The proof's hashes, hexadecimal, RFC 9162 order.
    pub proof: &'a [String],
    /// The signed checkpoint note of that tree size.
    pub checkpoint_note: Option<&'a str>,
}

/// The outcome of [`verify_entry`]: every step with its result. It succeeded only if every step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryReport {
    pub checks: Vec<Check>,
    /// The checkpoint the entry was proven against, when its signature checked out.
    pub checkpoint: Option<(u64, String)>,
}

impl EntryReport {
    pub fn ok(&self) -> bool {
        self.checks.len() == 4 && self.checks.iter().all(|check| check.outcome.is_ok())
    }

    /// The first failed step.
    pub fn failure(&self) -> Option<&Check> {
        self.checks.iter().find(|check| check.outcome.is_err())
    }
}

fn short(hex: &str) -> String {
    hex.chars().take(16).collect::<String>() + "…"
}

fn parse_hash(what: &str, text: &str) -> Result<Hash, String> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| format!("{what} is not 64 hexadecimal digits: {text:?}"))?;
    Ok(hash)
}

/// Runs every check on one entry against the verifier key the reader trusts and the log's origin. Checks
/// after a failed one that depends on it are not run (and so the report is not `ok`).
pub fn verify_entry(evidence: &EntryEvidence<'_>, trusted_key: &str, origin: &str) -> EntryReport {
    let mut checks = Vec::new();
    let mut checkpoint_seen = None;

    // 1. The bytes and their hash.
    let leaf = hex::decode(evidence.leaf_hex).map_err(|_| "the entry's bytes are not hexadecimal".to_string());
    let decoded = leaf.and_then(|bytes| {
        SignedEntry::decode(&bytes).map_err(|error| format!("the bytes are not a valid signed entry: {error}"))
    });
    let leaf_hash = decoded.as_ref().map_err(Clone::clone).and_then(|signed| {
        let computed = merkle::leaf_hash(signed.bytes());
        let claimed = parse_hash("the claimed leaf hash", evidence.claimed_leaf_hash)?;
        if computed == claimed {
            Ok(computed)
        } else {
            Err(format!(
                "the bytes hash to {} but the server says {}",
                short(&hex::encode(computed)),
                short(evidence.claimed_leaf_hash)
            ))
        }
    });
    checks.push(Check {
        step: Step::LeafHash,
        outcome: leaf_hash
            .as_ref()
            .map(|hash| format!("SHA-256(0x00 ‖ bytes) = {}", hex::encode(hash)))
            .map_err(Clone::clone),
    });
    let (Ok(signed), Ok(leaf_hash)) = (decoded, leaf_hash) else {
        return EntryReport { checks, checkpoint: None };
    };

    // 2. The author's signature, over the entry bound to this log's origin.
    let signer = hex::encode(signed.signer().0);
    let author = signed.entry().author.to_string();
    let signature = EntryVerifier::new(origin)
        .map_err(|error| format!("the log's origin {origin:?} is not valid: {error}"))
        .and_then(|mut verifier| verifier.verify(signed).map_err(|error| format!("{error}")));
    checks.push(Check {
        step: Step::AuthorSignature,
        outcome: signature.map(|_| format!("{author} signed with key {}", short(&signer))),
    });

    // 3. The checkpoint, signed by the key the reader trusts.
    let checkpoint = NoteVerifier::parse(trusted_key)
        .map_err(|error| format!("the trusted verifier key is not valid: {error}"))
        .and_then(|verifier| {
            let note = evidence.checkpoint_note.ok_or("the server sent no signed checkpoint for this proof")?;
            note::verify_checkpoint(note, &verifier, Some(origin)).map_err(|error| format!("{error}"))
        })
        .and_then(|checkpoint| {
            if checkpoint.tree_size == evidence.tree_size {
                Ok(checkpoint)
            } else {
                Err(format!(
                    "the checkpoint is for {} entries but the proof for {}",
                    checkpoint.tree_size, evidence.tree_size
                ))
            }
        });
    checks.push(Check {
        step: Step::CheckpointSignature,
        outcome: checkpoint
            .as_ref()
            .map(|checkpoint| {
                format!(
                    "{} entries, root {}, signed by {}",
                    checkpoint.tree_size,
                    short(&hex::encode(checkpoint.root)),
                    key_name(trusted_key)
                )
            })
            .map_err(Clone::clone),
    });
    let Ok(checkpoint) = checkpoint else {
        return EntryReport { checks, checkpoint: None };
    };
    checkpoint_seen = checkpoint_seen.or(Some((checkpoint.tree_size, hex::encode(checkpoint.root))));

    // 4. The path from the leaf to the signed root (never the root the server states beside it).
    let path = evidence
        .proof
        .iter()
        .map(|hash| parse_hash("a proof hash", hash))
        .collect::<Result<Vec<Hash>, String>>()
        .and_then(|proof| {
            merkle::verify_inclusion(&leaf_hash, evidence.index, checkpoint.tree_size, &proof, &checkpoint.root)
                .map(|()| proof.len())
                .map_err(|error| format!("{error}"))
        });
    checks.push(Check {
        step: Step::InclusionPath,
        outcome: path.map(|hashes| {
            format!("entry {} of {}: {hashes} hashes lead to the signed root", evidence.index, checkpoint.tree_size)
        }),
    });
    EntryReport { checks, checkpoint: checkpoint_seen }
}

fn key_name(verifier_key: &str) -> &str {
    verifier_key.split('+').next().unwrap_or(verifier_key)
}

/// A checkpoint this browser has verified and remembers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeenCheckpoint {
    pub tree_size: u64,
    /// Hexadecimal.
    pub root: String,
    /// The signed note, kept so that a reader can publish it if the log is ever rewritten.
    pub note: String,
    /// When this browser saw it, milliseconds since 1970.
    pub seen_at_ms: u64,
}

/// Opens a signed checkpoint note with the trusted key and checks it names this log.
pub fn open_checkpoint(note: &str, trusted_key: &str, origin: &str) -> Result<Checkpoint, String> {
    let verifier =
        NoteVerifier::parse(trusted_key).map_err(|error| format!("the trusted verifier key is not valid: {error}"))?;
    note::verify_checkpoint(note, &verifier, Some(origin)).map_err(|error| format!("{error}"))
}

/// Why a new checkpoint does not extend the last one seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrowthError {
    /// The new checkpoint is smaller: entries were removed.
    Shrunk { old_size: u64, new_size: u64 },
    /// Same size, other root: the log was rewritten.
    SameSizeOtherRoot { tree_size: u64 },
    /// The consistency proof does not connect the two roots.
    Inconsistent(String),
}

impl std::fmt::Display for GrowthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrowthError::Shrunk { old_size, new_size } => {
                write!(f, "the log had {old_size} entries and now has {new_size}")
            }
            GrowthError::SameSizeOtherRoot { tree_size } => {
                write!(f, "two checkpoints of {tree_size} entries have different roots")
            }
            GrowthError::Inconsistent(reason) => write!(f, "the consistency proof fails: {reason}"),
        }
    }
}

/// Checks that the tree `new` (already verified with the trusted key) extends the tree `old`, with the
/// consistency proof the server sent. The roots come from the two signed checkpoints, never from the proof
/// response.
pub fn check_growth(old: &SeenCheckpoint, new: &Checkpoint, proof: &[String]) -> Result<(), GrowthError> {
    let old_root = parse_hash("the remembered root", &old.root).map_err(GrowthError::Inconsistent)?;
    if new.tree_size < old.tree_size {
        return Err(GrowthError::Shrunk { old_size: old.tree_size, new_size: new.tree_size });
    }
    if new.tree_size == old.tree_size {
        return if new.root == old_root {
            Ok(())
        } else {
            Err(GrowthError::SameSizeOtherRoot { tree_size: new.tree_size })
        };
    }
    let proof = proof
        .iter()
        .map(|hash| parse_hash("a proof hash", hash))
        .collect::<Result<Vec<Hash>, String>>()
        .map_err(GrowthError::Inconsistent)?;
    merkle::verify_consistency(old.tree_size, new.tree_size, &old_root, &new.root, &proof)
        .map_err(|error| GrowthError::Inconsistent(error.to_string()))
}
