//! Checking a log from the outside, as an auditor would: the signed checkpoint, every leaf downloaded
//! through the C2SP entry bundles, the Merkle tree recomputed from them, the hash tiles compared with it,
//! receipts and consistency proofs verified with `ledger::merkle`.

use std::collections::HashMap;

use ledger::merkle::{Hash, MemoryTree, NodeSource, leaf_hash, verify_consistency, verify_inclusion};
use ledger::note::{Checkpoint, NoteVerifier, verify_checkpoint};
use ledger::tiles::{parse_entry_bundle, parse_tile_bytes, tiles_for_tree};
use ledger::{EntryVerifier, SignedEntry};
use serde::Deserialize;

use crate::harness::{Api, CheckpointView, ORIGIN, Receipt};

pub fn hash_from_hex(text: &str) -> Hash {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).unwrap_or_else(|_| panic!("{text:?} is not a hex SHA-256 hash"));
    hash
}

/// Opens a checkpoint note with the log's key and checks its origin.
pub fn open_checkpoint(note: &str, verifier: &NoteVerifier) -> Checkpoint {
    verify_checkpoint(note, verifier, Some(ORIGIN))
        .unwrap_or_else(|error| panic!("checkpoint does not verify: {error}\n{note}"))
}

/// The checkpoint of a JSON view: its note verifies and says what the view says.
pub fn open_checkpoint_view(view: &CheckpointView, verifier: &NoteVerifier) -> Checkpoint {
    let checkpoint = open_checkpoint(&view.note, verifier);
    assert_eq!(checkpoint.tree_size, view.tree_size, "the checkpoint note's size differs from the JSON view");
    assert_eq!(hex::encode(checkpoint.root), view.root, "the checkpoint note's root differs from the JSON view");
    checkpoint
}

/// The server's latest checkpoint (`/checkpoint`), verified.
pub fn latest_checkpoint(api: &Api, verifier: &NoteVerifier) -> (Checkpoint, String) {
    let note = api.get_text("/checkpoint");
    (open_checkpoint(&note, verifier), note)
}

/// Checks that a receipt's checkpoint is signed and that its inclusion proof puts the leaf in it.
pub fn check_receipt(receipt: &Receipt, verifier: &NoteVerifier, opened: &mut HashMap<String, Checkpoint>) {
    let checkpoint = opened
        .entry(receipt.checkpoint.note.clone())
        .or_insert_with(|| open_checkpoint_view(&receipt.checkpoint, verifier));
    let proof: Vec<Hash> = receipt.inclusion_proof.iter().map(|hash| hash_from_hex(hash)).collect();
    verify_inclusion(&hash_from_hex(&receipt.leaf_hash), receipt.index, checkpoint.tree_size, &proof, &checkpoint.root)
        .unwrap_or_else(|error| panic!("the receipt for index {} has a bad inclusion proof: {error}", receipt.index));
}

/// Downloads leaves `[0, size)` through the entry bundles.
pub fn download_leaves(api: &Api, size: u64) -> Vec<Vec<u8>> {
    let mut leaves = Vec::with_capacity(size as usize);
    for tile in tiles_for_tree(size).into_iter().filter(|tile| tile.is_entry_bundle()) {
        let bytes = api.get_ok(&format!("/{}", tile.to_path()));
        let entries = parse_entry_bundle(&bytes).unwrap_or_else(|error| panic!("{}: {error}", tile.to_path()));
        assert_eq!(entries.len(), usize::from(tile.width), "{} holds {} entries", tile.to_path(), entries.len());
        leaves.extend(entries);
    }
    assert_eq!(leaves.len() as u64, size, "the entry bundles hold {} leaves for a tree of {size}", leaves.len());
    leaves
}

/// Consistency from `old` to `new`, proved by the server and checked against the two signed roots.
pub fn check_consistency(api: &Api, old: &Checkpoint, new: &Checkpoint) {
    #[derive(Deserialize)]
    struct ConsistencyProof {
        proof: Vec<String>,
    }
    assert!(old.tree_size <= new.tree_size, "the log shrank from {} to {}", old.tree_size, new.tree_size);
    let answer: ConsistencyProof =
        api.get_json(&format!("/api/v1/proofs/consistency?old_size={}&new_size={}", old.tree_size, new.tree_size));
    let proof: Vec<Hash> = answer.proof.iter().map(|hash| hash_from_hex(hash)).collect();
    verify_consistency(old.tree_size, new.tree_size, &old.root, &new.root, &proof).unwrap_or_else(|error| {
        panic!("checkpoint {} is not consistent with checkpoint {}: {error}", new.tree_size, old.tree_size)
    });
}

/// A log as an auditor downloaded it.
pub struct Audit {
    pub checkpoint: Checkpoint,
    pub leaves: Vec<Vec<u8>>,
    pub leaf_hashes: Vec<Hash>,
    pub tree: MemoryTree,
}

impl Audit {
    pub fn size(&self) -> u64 {
        self.checkpoint.tree_size
    }

    /// Where each leaf hash is.
    pub fn positions(&self) -> HashMap<Hash, u64> {
        let positions: HashMap<Hash, u64> =
            self.leaf_hashes.iter().enumerate().map(|(index, hash)| (*hash, index as u64)).collect();
        assert_eq!(positions.len(), self.leaf_hashes.len(), "the log holds the same leaf twice");
        positions
    }

    /// A checkpoint of an earlier size must have the root this tree had at that size.
    pub fn check_earlier_checkpoint(&self, checkpoint: &Checkpoint, what: &str) {
        assert!(
            checkpoint.tree_size <= self.size(),
            "{what}: checkpoint {} is beyond the log ({} entries): acknowledged entries were lost",
            checkpoint.tree_size,
            self.size()
        );
        let root = self.tree.root_at(checkpoint.tree_size).expect("a size inside the tree");
        assert_eq!(
            root, checkpoint.root,
            "{what}: checkpoint {} has a root this log never had: the log forked",
            checkpoint.tree_size
        );
    }
}

/// Downloads and checks the whole log: the checkpoint verifies; the leaves fill the entry bundles up to
/// the checkpoint's size and no further; every leaf is a validly signed entry; the tree of the leaves has
/// the checkpoint's root and the served hash tiles hold its nodes; `/api/v1/log` agrees.
pub fn audit(api: &Api, verifier: &NoteVerifier) -> Audit {
    let (checkpoint, _) = latest_checkpoint(api, verifier);
    let size = checkpoint.tree_size;
    let leaves = download_leaves(api, size);
    let mut entry_verifier = EntryVerifier::new(ORIGIN).expect("a valid origin");
    let mut tree = MemoryTree::with_capacity(leaves.len());
    let mut leaf_hashes = Vec::with_capacity(leaves.len());
    for (index, leaf) in leaves.iter().enumerate() {
        let signed = SignedEntry::decode(leaf).unwrap_or_else(|error| panic!("leaf {index} does not decode: {error}"));
        entry_verifier.verify(signed).unwrap_or_else(|error| panic!("leaf {index} is not validly signed: {error}"));
        let hash = leaf_hash(leaf);
        tree.push_leaf_hash(hash);
        leaf_hashes.push(hash);
    }
    assert_eq!(
        tree.root(),
        checkpoint.root,
        "the root recomputed from the {size} leaves differs from the checkpoint's"
    );
    for tile in tiles_for_tree(size).into_iter().filter(|tile| !tile.is_entry_bundle()) {
        let hashes = parse_tile_bytes(&api.get_ok(&format!("/{}", tile.to_path()))).expect("a well-formed hash tile");
        let ids = tile.node_ids().expect("node ids of a tile");
        assert_eq!(hashes.len(), ids.len(), "{} holds {} hashes", tile.to_path(), hashes.len());
        for (id, hash) in ids.into_iter().zip(hashes) {
            assert_eq!(Some(hash), tree.node(id), "{} serves a wrong hash for {id:?}", tile.to_path());
        }
    }
    // Nothing is stored beyond the head; the last entry is where the bundles say.
    match api.get(&format!("/api/v1/entries/{size}")) {
        Ok((404, _)) => {}
        other => panic!("GET /api/v1/entries/{size} (one past the head) answered {other:?}"),
    }
    #[derive(Deserialize)]
    struct Indexed {
        index: u64,
    }
    #[derive(Deserialize)]
    struct Page {
        entries: Vec<Indexed>,
    }
    let newest: Page = api.get_json("/api/v1/entries?order=desc&limit=1");
    assert_eq!(
        newest.entries.first().map(|entry| entry.index),
        size.checked_sub(1),
        "the newest stored entry is not the last one the checkpoint covers"
    );
    if size > 0 {
        let last = entry_at(api, size - 1);
        assert_eq!(last, leaf_hashes[size as usize - 1], "the API's last entry differs from the last bundled leaf");
    }
    #[derive(Deserialize)]
    struct LogInfo {
        tree_size: u64,
        root: String,
    }
    let info: LogInfo = api.get_json("/api/v1/log");
    assert_eq!(
        (info.tree_size, info.root),
        (size, hex::encode(checkpoint.root)),
        "/api/v1/log disagrees with /checkpoint"
    );
    Audit { checkpoint, leaves, leaf_hashes, tree }
}

/// The leaf hash the entry API gives for an index (and its bytes hash to it).
pub fn entry_at(api: &Api, index: u64) -> Hash {
    #[derive(Deserialize)]
    struct EntryView {
        index: u64,
        leaf_hash: String,
        leaf: String,
    }
    let view: EntryView = api.get_json(&format!("/api/v1/entries/{index}"));
    assert_eq!(view.index, index);
    let hash = hash_from_hex(&view.leaf_hash);
    let leaf = hex::decode(&view.leaf).expect("hex leaf bytes");
    assert_eq!(leaf_hash(&leaf), hash, "entry {index}: its bytes do not hash to its leaf hash");
    hash
}
