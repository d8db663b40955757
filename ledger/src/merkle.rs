//! The RFC 9162 Merkle tree over SHA-256: leaf and node hashing, the append frontier, proof generation from any node store, and proof verification.
//!
//! # Node ids
//!
//! Every hash a log ever stores is the hash of a *perfect* subtree: `NodeId { level, index }` covers the
//! leaves `[index << level, (index + 1) << level)`. The hash of a non-perfect subtree (the ragged right edge
//! of a tree whose size is not a power of two) is never stored; it is recomputed by folding the perfect
//! subtrees that make up its leaf range, right to left, with [`node_hash`].
//!
//! # How node-id lists map to proof elements
//!
//! Each proof element (and each tree root) is the Merkle Tree Hash of one contiguous leaf range. That range
//! is split, left to right, into the fewest perfect subtrees: at every step the largest perfect subtree
//! that starts at the current leaf and ends inside the range. [`inclusion_proof_node_ids`],
//! [`consistency_proof_node_ids`] and [`root_node_ids`] return these subtrees for every proof element in
//! proof order, concatenated. An element whose range is perfect contributes exactly one id; only an element
//! covering the tree's ragged right edge contributes several, and its hash is
//! `node_hash(h1, node_hash(h2, ... node_hash(h_{k-1}, h_k)))` over its ids `h1 .. hk` in list order.
//!
//! A server therefore fetches exactly the ids returned by `*_node_ids` from its database, puts them into a
//! `HashMap<NodeId, Hash>` and calls [`inclusion_proof`], [`consistency_proof`] or [`root_from_source`]
//! with that map: those functions compute the same ids again, fetch them through [`NodeSource`] and fold
//! them. No other id is ever requested.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// The size of a [`Hash`] in bytes.
pub const HASH_SIZE: usize = 32;

/// The byte prepended to an entry before hashing it into a leaf hash (RFC 9162 §2.1.1).
pub const LEAF_HASH_PREFIX: u8 = 0x00;

/// The byte prepended to two child hashes before hashing them into their parent (RFC 9162 §2.1.1).
pub const NODE_HASH_PREFIX: u8 = 0x01;

/// The number of bits in a tree size, which bounds the height of any tree and the length of any proof.
const TREE_SIZE_BITS: u32 = u64::BITS;

/// The hash of one log entry as a leaf: `SHA-256(0x00 || entry_bytes)`.
pub fn leaf_hash(entry_bytes: &[u8]) -> Hash {
    Sha256::new().chain_update([LEAF_HASH_PREFIX]).chain_update(entry_bytes).finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One contiguous buffer lets SHA-256 consume it without the incremental hasher's buffering logic,
    // which matters because a log computes about one node hash per appended leaf.
    let mut buffer = [0u8; 1 + 2 * HASH_SIZE];
    buffer[0] = NODE_HASH_PREFIX;
    buffer[1..1 + HASH_SIZE].copy_from_slice(left);
    buffer[1 + HASH_SIZE..].copy_from_slice(right);
    Sha256::digest(buffer).into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Converts bytes received from outside (base64, a database column) into a [`Hash`], rejecting any length but 32.
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::MalformedHash { length: bytes.len() })
}

/// The hash of the perfect subtree of height `level` covering leaves [index << level, (index + 1) << level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct NodeId {
    /// The height of the subtree: 0 for a leaf hash.
    pub level: u8,
    /// The position of the subtree among the subtrees of the same height, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// The id of the leaf hash at `leaf_index`.
    pub fn leaf(leaf_index: u64) -> Self {
        NodeId { level: 0, index: leaf_index }
    }
}

/// Where the hashes of full (perfect) subtrees come from: an in-memory tree, a HashMap prefetched from a database, ...
pub trait NodeSource {
    /// The hash of the perfect subtree `id`, or `None` if the source does not hold it.
    fn node(&self, id: NodeId) -> Option<Hash>;
}

impl<S: std::hash::BuildHasher> NodeSource for HashMap<NodeId, Hash, S> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

/// Why a proof could not be built or did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ProofError {
    /// The leaf index does not name a leaf of the tree.
    #[error("leaf index {leaf_index} is outside a tree of {tree_size} leaves")]
    IndexOutOfRange {
        /// The requested leaf index.
        leaf_index: u64,
        /// The size of the tree the leaf was looked for in.
        tree_size: u64,
    },
    /// A consistency proof was asked for from a larger tree to a smaller one.
    #[error("the old tree size {old_size} is larger than the new tree size {new_size}")]
    SizeOutOfRange {
        /// The size of the earlier tree.
        old_size: u64,
        /// The size of the later tree.
        new_size: u64,
    },
    /// A tree size was asked for that is larger than the tree holding the nodes.
    #[error("tree size {tree_size} is larger than the {available_size} leaves available")]
    TreeSizeUnavailable {
        /// The requested tree size.
        tree_size: u64,
        /// The number of leaves actually held.
        available_size: u64,
    },
    /// The proof has more or fewer hashes than the sizes and index require.
    #[error("the proof has {actual} hashes but must have exactly {expected}")]
    WrongProofLength {
        /// The number of hashes the proof must have.
        expected: usize,
        /// The number of hashes it has.
        actual: usize,
    },
    /// The proof leads to a root other than the expected one.
    #[error("the proof leads to root {} instead of the expected root {}", hex::encode(.computed), hex::encode(.expected))]
    RootMismatch {
        /// The root the caller trusts.
        expected: Hash,
        /// The root computed from the proof.
        computed: Hash,
    },
    /// A consistency proof does not lead to the old tree's root.
    #[error("the proof leads to old root {} instead of the expected old root {}", hex::encode(.computed), hex::encode(.expected))]
    OldRootMismatch {
        /// The old root the caller trusts.
        expected: Hash,
        /// The old root computed from the proof.
        computed: Hash,
    },
    /// A consistency proof does not lead to the new tree's root.
    #[error("the proof leads to new root {} instead of the expected new root {}", hex::encode(.computed), hex::encode(.expected))]
    NewRootMismatch {
        /// The new root the caller trusts.
        expected: Hash,
        /// The new root computed from the proof.
        computed: Hash,
    },
    /// The node source lacks a hash the proof needs.
    #[error("the node store has no hash for the subtree at level {} index {}", .0.level, .0.index)]
    MissingNode(NodeId),
    /// Bytes that should be a SHA-256 hash have the wrong length.
    #[error("a hash must be {HASH_SIZE} bytes long, not {length}")]
    MalformedHash {
        /// The length of the rejected bytes.
        length: usize,
    },
    /// A frontier's hash count does not match its size.
    #[error("a frontier of {size} leaves needs {expected} hashes (one per set bit of the size), not {actual}")]
    FrontierHashCount {
        /// The frontier's tree size.
        size: u64,
        /// The number of hashes such a frontier has.
        expected: usize,
        /// The number of hashes given.
        actual: usize,
    },
}

/// Calls `on_node` for each perfect subtree covering leaves `[start, end)`, left to right, largest first.
fn for_each_range_node(start: u64, end: u64, mut on_node: impl FnMut(NodeId)) {
    let mut start = start;
    while start < end {
        let remaining = end - start;
        // The subtree must both start aligned to its own size and fit in what is left of the range.
        let largest_fitting_level = TREE_SIZE_BITS - 1 - remaining.leading_zeros();
        let level = start.trailing_zeros().min(largest_fitting_level);
        on_node(NodeId { level: level as u8, index: start >> level });
        start += 1u64 << level;
    }
}

/// The Merkle Tree Hash of leaves `[start, end)` (non-empty), folding its perfect subtrees right to left.
fn range_hash(source: &impl NodeSource, start: u64, end: u64) -> Result<Hash, ProofError> {
    // A range of u64 leaves splits into at most 64 perfect subtrees, so a fixed array avoids allocating.
    let mut ids = [NodeId::leaf(0); TREE_SIZE_BITS as usize];
    let mut id_count = 0;
    for_each_range_node(start, end, |id| {
        ids[id_count] = id;
        id_count += 1;
    });
    let mut ids_right_to_left = ids[..id_count].iter().rev();
    let Some(&rightmost) = ids_right_to_left.next() else {
        return Ok(empty_root());
    };
    let mut hash = fetch(source, rightmost)?;
    for &id in ids_right_to_left {
        hash = node_hash(&fetch(source, id)?, &hash);
    }
    Ok(hash)
}

fn fetch(source: &impl NodeSource, id: NodeId) -> Result<Hash, ProofError> {
    source.node(id).ok_or(ProofError::MissingNode(id))
}

/// A leaf range `[start, end)` whose Merkle Tree Hash is one proof element.
#[derive(Clone, Copy)]
struct LeafRange {
    start: u64,
    end: u64,
}

/// Splits an inclusion proof into the part below the point where the paths to `leaf_index` and to the
/// tree's last leaf diverge (`inner`) and the part along the tree's right border above it (`border`).
fn inclusion_proof_shape(leaf_index: u64, tree_size: u64) -> (u32, u32) {
    let inner = TREE_SIZE_BITS - (leaf_index ^ (tree_size - 1)).leading_zeros();
    let border = leaf_index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// The leaf ranges of the proof elements of an inclusion proof, bottom up (RFC 9162 §2.1.3.1).
fn inclusion_proof_ranges(leaf_index: u64, tree_size: u64) -> Result<Vec<LeafRange>, ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange { leaf_index, tree_size });
    }
    let (inner, _) = inclusion_proof_shape(leaf_index, tree_size);
    let mut ranges = Vec::with_capacity(TREE_SIZE_BITS as usize);
    for level in 0..TREE_SIZE_BITS {
        let node_index = leaf_index >> level;
        // Above the divergence point only left siblings exist; the path runs along the right border.
        if level >= inner && node_index & 1 == 0 {
            continue;
        }
        let start = (node_index ^ 1) << level;
        // Only the sibling just below the divergence point can stick out past the tree's last leaf.
        let end = start.saturating_add(1u64 << level).min(tree_size);
        ranges.push(LeafRange { start, end });
    }
    Ok(ranges)
}

/// The leaf ranges of the proof elements of a consistency proof (RFC 9162 §2.1.4.1).
fn consistency_proof_ranges(old_size: u64, new_size: u64) -> Result<Vec<LeafRange>, ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOutOfRange { old_size, new_size });
    }
    let mut ranges = Vec::with_capacity(TREE_SIZE_BITS as usize + 1);
    if old_size == 0 || old_size == new_size {
        return Ok(ranges);
    }
    // SUBPROOF(m, D[start:start + n], b) unrolled: each step appends after the recursive part, so the
    // ranges are collected outermost first and reversed at the end.
    let (mut start, mut m, mut n, mut old_tree_is_whole_subtree) = (0u64, old_size, new_size, true);
    while m != n {
        let k = 1u64 << (TREE_SIZE_BITS - 1 - (n - 1).leading_zeros());
        if m <= k {
            ranges.push(LeafRange { start: start + k, end: start + n });
            n = k;
        } else {
            ranges.push(LeafRange { start, end: start + k });
            start += k;
            m -= k;
            n -= k;
            old_tree_is_whole_subtree = false;
        }
    }
    if !old_tree_is_whole_subtree {
        ranges.push(LeafRange { start, end: start + n });
    }
    ranges.reverse();
    Ok(ranges)
}

fn range_node_ids(ranges: &[LeafRange]) -> Vec<NodeId> {
    let mut ids = Vec::with_capacity(ranges.len() + TREE_SIZE_BITS as usize);
    for range in ranges {
        for_each_range_node(range.start, range.end, |id| ids.push(id));
    }
    ids
}

fn range_hashes(source: &impl NodeSource, ranges: &[LeafRange]) -> Result<Vec<Hash>, ProofError> {
    ranges.iter().map(|range| range_hash(source, range.start, range.end)).collect()
}

/// Pure index arithmetic (ct-merkle / akd style): which stored nodes a proof needs, apart from storage.
///
/// The ids of the inclusion proof for `leaf_index` in a tree of `tree_size` leaves, grouped per proof
/// element as described in the [module documentation](self).
pub fn inclusion_proof_node_ids(leaf_index: u64, tree_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(range_node_ids(&inclusion_proof_ranges(leaf_index, tree_size)?))
}

/// The ids of the consistency proof from `old_size` to `new_size`, grouped per proof element as described
/// in the [module documentation](self). Empty when `old_size` is 0 or equals `new_size`.
pub fn consistency_proof_node_ids(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(range_node_ids(&consistency_proof_ranges(old_size, new_size)?))
}

/// The ids of the perfect subtrees whose right-to-left fold is the root of a tree of `tree_size` leaves
/// (one per set bit of the size, largest first); empty for the empty tree.
pub fn root_node_ids(tree_size: u64) -> Vec<NodeId> {
    let mut ids = Vec::with_capacity(tree_size.count_ones() as usize);
    for_each_range_node(0, tree_size, |id| ids.push(id));
    ids
}

/// The inclusion proof (RFC 9162 §2.1.3.1) for `leaf_index` in a tree of `tree_size` leaves, bottom up.
pub fn inclusion_proof(source: &impl NodeSource, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, ProofError> {
    range_hashes(source, &inclusion_proof_ranges(leaf_index, tree_size)?)
}

/// The consistency proof (RFC 9162 §2.1.4.1) from a tree of `old_size` leaves to one of `new_size` leaves.
pub fn consistency_proof(source: &impl NodeSource, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProofError> {
    range_hashes(source, &consistency_proof_ranges(old_size, new_size)?)
}

/// The root of the tree made of the first `tree_size` leaves of `source`.
pub fn root_from_source(source: &impl NodeSource, tree_size: u64) -> Result<Hash, ProofError> {
    range_hash(source, 0, tree_size)
}

/// Hashes the inner part of a proof, whose hashes sit on either side depending on the bits of `node_index`.
fn chain_inner(seed: Hash, proof: &[Hash], node_index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |hash, (level, sibling)| {
        if (node_index >> level) & 1 == 0 { node_hash(&hash, sibling) } else { node_hash(sibling, &hash) }
    })
}

/// Hashes only the left siblings of the inner part: the same subtree as it was before the right ones existed.
fn chain_inner_left_siblings_only(seed: Hash, proof: &[Hash], node_index: u64) -> Hash {
    proof.iter().enumerate().fold(
        seed,
        |hash, (level, sibling)| {
            if (node_index >> level) & 1 == 1 { node_hash(sibling, &hash) } else { hash }
        },
    )
}

/// Hashes the border part of a proof, which holds only left siblings.
fn chain_border(seed: Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(seed, |hash, sibling| node_hash(sibling, &hash))
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that the leaf with `leaf_hash` is at `leaf_index` in
/// the tree of `tree_size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange { leaf_index, tree_size });
    }
    let (inner, border) = inclusion_proof_shape(leaf_index, tree_size);
    let (inner, expected) = (inner as usize, (inner + border) as usize);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength { expected, actual: proof.len() });
    }
    let computed = chain_inner(*leaf_hash, &proof[..inner], leaf_index);
    let computed = chain_border(computed, &proof[inner..]);
    if computed != *root {
        return Err(ProofError::RootMismatch { expected: *root, computed });
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): that the tree of `old_size` leaves with `old_root` is a
/// prefix of the tree of `new_size` leaves with `new_root`.
///
/// Equal sizes need an empty proof and equal roots. The empty tree is a prefix of every tree, so
/// `old_size` 0 needs an empty proof and `old_root` equal to [`empty_root`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOutOfRange { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength { expected: 0, actual: proof.len() });
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::OldRootMismatch { expected: *old_root, computed: empty_root() });
        }
        if old_size == new_size && *new_root != *old_root {
            return Err(ProofError::NewRootMismatch { expected: *new_root, computed: *old_root });
        }
        return Ok(());
    }

    // The proof is the tail of the inclusion proof of the old tree's last leaf in the new tree, starting at
    // the level of the largest perfect subtree that ends the old tree; that subtree's hash comes first,
    // unless the old tree is itself that subtree, in which case the old root stands in for it.
    let (inner, border) = inclusion_proof_shape(old_size - 1, new_size);
    let shift = old_size.trailing_zeros();
    let inner = (inner - shift) as usize;
    let old_tree_is_perfect = old_size.is_power_of_two();
    let seed_count = usize::from(!old_tree_is_perfect);
    let expected = seed_count + inner + border as usize;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength { expected, actual: proof.len() });
    }
    let seed = if old_tree_is_perfect { *old_root } else { proof[0] };
    let path = &proof[seed_count..];
    let node_index = (old_size - 1) >> shift;

    let computed_old_root = chain_inner_left_siblings_only(seed, &path[..inner], node_index);
    let computed_old_root = chain_border(computed_old_root, &path[inner..]);
    if computed_old_root != *old_root {
        return Err(ProofError::OldRootMismatch { expected: *old_root, computed: computed_old_root });
    }
    let computed_new_root = chain_inner(seed, &path[..inner], node_index);
    let computed_new_root = chain_border(computed_new_root, &path[inner..]);
    if computed_new_root != *new_root {
        return Err(ProofError::NewRootMismatch { expected: *new_root, computed: computed_new_root });
    }
    Ok(())
}

/// Compact range / frontier: the roots of the perfect subtrees that make up a tree of `size` leaves (one per set bit), left to right. Appending is O(log n).
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "FrontierParts")]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

/// The unchecked serialized form of a [`Frontier`], so that deserializing validates like [`Frontier::from_parts`].
#[derive(serde::Deserialize)]
struct FrontierParts {
    size: u64,
    hashes: Vec<Hash>,
}

impl TryFrom<FrontierParts> for Frontier {
    type Error = ProofError;

    fn try_from(parts: FrontierParts) -> Result<Self, ProofError> {
        Frontier::from_parts(parts.size, parts.hashes)
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier { size: 0, hashes: Vec::with_capacity(TREE_SIZE_BITS as usize) }
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtree hashes, largest (leftmost) first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Rebuilds a frontier from stored parts, checking there is one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(ProofError::FrontierHashCount { size, expected, actual: hashes.len() });
        }
        Ok(Frontier { size, hashes })
    }

    /// Appends one leaf hash; returns every perfect node completed by this append (the leaf itself at level 0 first, then higher levels), so storage can persist exactly those.
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves.
    pub fn push(&mut self, leaf_hash: Hash) -> Vec<(NodeId, Hash)> {
        let mut completed = Vec::with_capacity(1 + self.size.trailing_ones() as usize);
        self.push_with(leaf_hash, |id, hash| completed.push((id, *hash)));
        completed
    }

    /// Appends one leaf hash without allocating, calling `on_node` for every perfect node this completes,
    /// in the same order as [`Frontier::push`] returns them.
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves.
    pub fn push_with(&mut self, leaf_hash: Hash, mut on_node: impl FnMut(NodeId, &Hash)) {
        let leaf_index = self.size;
        assert!(leaf_index != u64::MAX, "a Merkle tree cannot hold more than u64::MAX leaves");
        let mut hash = leaf_hash;
        on_node(NodeId::leaf(leaf_index), &hash);
        // Each trailing one bit of the old size is a perfect subtree the new leaf's subtree now completes.
        for level in 1..=leaf_index.trailing_ones() {
            let left = self.hashes.pop().expect("a frontier holds one hash per set bit of its size");
            hash = node_hash(&left, &hash);
            on_node(NodeId { level: level as u8, index: leaf_index >> level }, &hash);
        }
        self.hashes.push(hash);
        self.size = leaf_index + 1;
    }

    /// The root of the tree: [`empty_root`] for the empty tree.
    pub fn root(&self) -> Hash {
        let mut right_to_left = self.hashes.iter().rev();
        let Some(rightmost) = right_to_left.next() else {
            return empty_root();
        };
        right_to_left.fold(*rightmost, |hash, left| node_hash(left, &hash))
    }

    /// The NodeIds of the frontier's hashes, in the same order as [`Frontier::hashes`].
    pub fn node_ids(&self) -> Vec<NodeId> {
        root_node_ids(self.size)
    }
}

/// An in-memory tree storing every perfect node by (level, index): for tests, the command line's auditor and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[level][index]` is the hash of `NodeId { level, index }`.
    levels: Vec<Vec<Hash>>,
    size: u64,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// The empty tree, with room for `leaf_count` leaves and their nodes reserved up front.
    pub fn with_capacity(leaf_count: usize) -> Self {
        let mut levels = Vec::new();
        let mut level_capacity = leaf_count;
        while level_capacity > 0 {
            levels.push(Vec::with_capacity(level_capacity));
            level_capacity /= 2;
        }
        MemoryTree { levels, size: 0 }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes the tree's hashes take in memory (reserved room included).
    pub fn heap_bytes(&self) -> usize {
        self.levels.iter().map(|level| level.capacity() * std::mem::size_of::<Hash>()).sum()
    }

    /// The stored hashes of `count` consecutive nodes of one level from `start`, or `None` if any of them is
    /// not stored (not complete yet).
    pub fn nodes(&self, level: u8, start: u64, count: u64) -> Option<&[Hash]> {
        let start = usize::try_from(start).ok()?;
        let end = start.checked_add(usize::try_from(count).ok()?)?;
        self.levels.get(usize::from(level))?.get(start..end)
    }

    /// Appends one leaf hash and every perfect node it completes.
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves, or more than fit in memory.
    pub fn push_leaf_hash(&mut self, leaf_hash: Hash) {
        let mut hash = leaf_hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            crate::state::grow_gently(nodes);
            nodes.push(hash);
            let node_count = nodes.len();
            // A node with an even count just got its right child's sibling: the pair completes a parent.
            if node_count % 2 == 1 {
                break;
            }
            hash = node_hash(&nodes[node_count - 2], &nodes[node_count - 1]);
            level += 1;
        }
        self.size = self.size.checked_add(1).expect("a Merkle tree cannot hold more than u64::MAX leaves");
    }

    /// Hashes an entry into its leaf hash and appends it.
    pub fn push_entry(&mut self, entry_bytes: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry_bytes));
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        // Every node the root needs is stored, so this cannot fail.
        root_from_source(self, self.size).expect("a memory tree stores every perfect node")
    }

    /// The root of the tree made of the first `tree_size` leaves.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, ProofError> {
        self.check_size(tree_size)?;
        root_from_source(self, tree_size)
    }

    /// The inclusion proof of `leaf_index` in the tree made of the first `tree_size` leaves.
    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(tree_size)?;
        inclusion_proof(self, leaf_index, tree_size)
    }

    /// The consistency proof from the first `old_size` leaves to the first `new_size` leaves.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(new_size)?;
        consistency_proof(self, old_size, new_size)
    }

    fn check_size(&self, tree_size: u64) -> Result<(), ProofError> {
        if tree_size > self.size {
            return Err(ProofError::TreeSizeUnavailable { tree_size, available_size: self.size });
        }
        Ok(())
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, id: NodeId) -> Option<Hash> {
        let index = usize::try_from(id.index).ok()?;
        self.levels.get(usize::from(id.level))?.get(index).copied()
    }
}
