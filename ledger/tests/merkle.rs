//! Tests of the RFC 9162 Merkle tree against external vectors, a naive RFC oracle, rs_merkle and u64 edge cases.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ledger::merkle::{
    Frontier, Hash, MemoryTree, NodeId, NodeSource, ProofError, consistency_proof, consistency_proof_node_ids,
    empty_root, hash_from_slice, inclusion_proof, inclusion_proof_node_ids, leaf_hash, node_hash, root_from_source,
    root_node_ids, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Sizes up to which every (index, size) and (old size, new size) pair is checked exhaustively.
const EXHAUSTIVE_SIZE_MAX: u64 = 130;

/// The largest tree size the property tests sample.
const SAMPLED_SIZE_MAX: u64 = 500;

/// The largest tree size compared against rs_merkle.
const RS_MERKLE_SIZE_MAX: usize = 300;

fn testdata_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/merkle")
}

/// The entry of leaf `leaf_index` in the generated test trees.
fn test_entry(leaf_index: u64) -> Vec<u8> {
    format!("entry number {leaf_index}").into_bytes()
}

fn test_tree(tree_size: u64) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf_index in 0..tree_size {
        tree.push_entry(&test_entry(leaf_index));
    }
    tree
}

// ---------------------------------------------------------------------------------------------
// The oracle: RFC 9162 §2.1 written out naively and recursively, with its own hashing.
// ---------------------------------------------------------------------------------------------

fn oracle_leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

fn oracle_node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two smaller than `n` (n > 1).
fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 PROOF over leaf hashes, memoising MTH per range.
struct Oracle {
    leaf_hashes: Vec<Hash>,
    mth_cache: RefCell<HashMap<(usize, usize), Hash>>,
}

impl Oracle {
    fn new(tree_size: u64) -> Self {
        Oracle {
            leaf_hashes: (0..tree_size).map(|leaf_index| oracle_leaf_hash(&test_entry(leaf_index))).collect(),
            mth_cache: RefCell::new(HashMap::new()),
        }
    }

    /// MTH(D[start:end]).
    fn mth(&self, start: usize, end: usize) -> Hash {
        if let Some(hash) = self.mth_cache.borrow().get(&(start, end)) {
            return *hash;
        }
        let n = end - start;
        let hash = match n {
            0 => Sha256::digest([]).into(),
            1 => self.leaf_hashes[start],
            _ => {
                let k = largest_power_of_two_below(n);
                oracle_node_hash(&self.mth(start, start + k), &self.mth(start + k, end))
            }
        };
        self.mth_cache.borrow_mut().insert((start, end), hash);
        hash
    }

    /// PATH(m, D[start:end]).
    fn path(&self, m: usize, start: usize, end: usize) -> Vec<Hash> {
        let n = end - start;
        if n == 1 {
            return Vec::new();
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            let mut path = self.path(m, start, start + k);
            path.push(self.mth(start + k, end));
            path
        } else {
            let mut path = self.path(m - k, start + k, end);
            path.push(self.mth(start, start + k));
            path
        }
    }

    /// SUBPROOF(m, D[start:end], b).
    fn subproof(&self, m: usize, start: usize, end: usize, whole_subtree: bool) -> Vec<Hash> {
        let n = end - start;
        if m == n {
            return if whole_subtree { Vec::new() } else { vec![self.mth(start, end)] };
        }
        let k = largest_power_of_two_below(n);
        if m <= k {
            let mut proof = self.subproof(m, start, start + k, whole_subtree);
            proof.push(self.mth(start + k, end));
            proof
        } else {
            let mut proof = self.subproof(m - k, start + k, end, false);
            proof.push(self.mth(start, start + k));
            proof
        }
    }

    /// PROOF(m, D[n]) for 0 < m < n; empty otherwise.
    fn consistency(&self, m: usize, n: usize) -> Vec<Hash> {
        if m == 0 || m == n {
            return Vec::new();
        }
        self.subproof(m, 0, n, true)
    }
}

fn flip_bit(hash: &Hash, bit: usize) -> Hash {
    let mut flipped = *hash;
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

// ---------------------------------------------------------------------------------------------
// External vectors (transparency-dev/merkle test data).
// ---------------------------------------------------------------------------------------------

/// Decodes a base64 hash field; a null, empty, undecodable or wrong-length field is an invalid hash.
fn vector_hash(value: &serde_json::Value) -> Result<Hash, String> {
    let text = value.as_str().unwrap_or_default();
    let bytes = BASE64.decode(text).map_err(|error| format!("base64: {error}"))?;
    hash_from_slice(&bytes).map_err(|error| error.to_string())
}

fn vector_proof(value: &serde_json::Value) -> Result<Vec<Hash>, String> {
    match value {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(items) => items.iter().map(vector_hash).collect(),
        other => Err(format!("proof is not an array: {other}")),
    }
}

fn vector_u64(case: &serde_json::Value, field: &str) -> u64 {
    case[field].as_u64().unwrap_or_else(|| panic!("field {field} is not a u64"))
}

fn check_inclusion_case(case: &serde_json::Value) -> Result<(), String> {
    let leaf = vector_hash(&case["leafHash"])?;
    let root = vector_hash(&case["root"])?;
    let proof = vector_proof(&case["proof"])?;
    verify_inclusion(&leaf, vector_u64(case, "leafIdx"), vector_u64(case, "treeSize"), &proof, &root)
        .map_err(|error| error.to_string())
}

fn check_consistency_case(case: &serde_json::Value) -> Result<(), String> {
    let old_root = vector_hash(&case["root1"])?;
    let new_root = vector_hash(&case["root2"])?;
    let proof = vector_proof(&case["proof"])?;
    verify_consistency(vector_u64(case, "size1"), vector_u64(case, "size2"), &old_root, &new_root, &proof)
        .map_err(|error| error.to_string())
}

/// Runs every case file of one vector directory and reports all files with the wrong outcome at once.
fn run_vector_directory(directory: &str, check: fn(&serde_json::Value) -> Result<(), String>) -> usize {
    let path = testdata_dir().join(directory);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|file| file.extension().is_some_and(|extension| extension == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", path.display());
    let mut failures = Vec::new();
    for file in &files {
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("readable vector")).expect("vector is JSON");
        let want_error = case["wantErr"].as_bool().expect("wantErr is a bool");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        match (check(&case), want_error) {
            (Ok(()), false) | (Err(_), true) => {}
            (Ok(()), true) => failures.push(format!("{directory}/{name}: verified but must fail")),
            (Err(error), false) => failures.push(format!("{directory}/{name}: failed but must verify: {error}")),
        }
    }
    assert!(failures.is_empty(), "vector failures:\n{}", failures.join("\n"));
    files.len()
}

#[test]
fn inclusion_vectors_0() {
    run_vector_directory("inclusion/0", check_inclusion_case);
}

#[test]
fn inclusion_vectors_1() {
    run_vector_directory("inclusion/1", check_inclusion_case);
}

#[test]
fn inclusion_vectors_2() {
    run_vector_directory("inclusion/2", check_inclusion_case);
}

#[test]
fn inclusion_vectors_single_entry() {
    run_vector_directory("inclusion/single-entry", check_inclusion_case);
}

#[test]
fn consistency_vectors_0() {
    run_vector_directory("consistency/0", check_consistency_case);
}

#[test]
fn consistency_vectors_1() {
    run_vector_directory("consistency/1", check_consistency_case);
}

#[test]
fn consistency_vectors_2() {
    run_vector_directory("consistency/2", check_consistency_case);
}

#[test]
fn reference_tree_roots_match_for_every_prefix() {
    let text = std::fs::read_to_string(testdata_dir().join("reference-tree.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let leaf_inputs: Vec<Vec<u8>> = reference["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|input| hex::decode(input.as_str().unwrap()).unwrap())
        .collect();
    let roots: Vec<Hash> = reference["root_by_size_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|root| hash_from_slice(&hex::decode(root.as_str().unwrap()).unwrap()).unwrap())
        .collect();
    assert_eq!(roots.len(), leaf_inputs.len() + 1);

    let mut tree = MemoryTree::new();
    let mut frontier = Frontier::new();
    let mut failures = Vec::new();
    for (tree_size, expected_root) in roots.iter().enumerate() {
        if tree_size > 0 {
            tree.push_entry(&leaf_inputs[tree_size - 1]);
            frontier.push(leaf_hash(&leaf_inputs[tree_size - 1]));
        }
        for (source, root) in [("memory tree", tree.root()), ("frontier", frontier.root())] {
            if root != *expected_root {
                failures.push(format!("size {tree_size}: {source} root differs"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every prefix root is also reachable from the full tree.
    for (tree_size, expected_root) in roots.iter().enumerate() {
        assert_eq!(tree.root_at(tree_size as u64).unwrap(), *expected_root);
    }
}

// ---------------------------------------------------------------------------------------------
// Hashing primitives.
// ---------------------------------------------------------------------------------------------

#[test]
fn primitives_match_rfc_definitions() {
    assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(leaf_hash(b"some entry"), oracle_leaf_hash(b"some entry"));
    let (left, right) = (leaf_hash(b"left"), leaf_hash(b"right"));
    assert_eq!(node_hash(&left, &right), oracle_node_hash(&left, &right));
    assert_ne!(node_hash(&left, &right), node_hash(&right, &left));
    assert_eq!(hash_from_slice(&[0u8; 31]), Err(ProofError::MalformedHash { length: 31 }));
    assert_eq!(hash_from_slice(&[]), Err(ProofError::MalformedHash { length: 0 }));
}

// ---------------------------------------------------------------------------------------------
// Exhaustive comparison with the oracle for small trees.
// ---------------------------------------------------------------------------------------------

#[test]
fn exhaustive_inclusion_proofs_match_oracle_and_reject_tampering() {
    let tree = test_tree(EXHAUSTIVE_SIZE_MAX);
    let oracle = Oracle::new(EXHAUSTIVE_SIZE_MAX + 1);
    for tree_size in 1..=EXHAUSTIVE_SIZE_MAX {
        let root = oracle.mth(0, tree_size as usize);
        assert_eq!(tree.root_at(tree_size).unwrap(), root, "root of {tree_size}");
        for leaf_index in 0..tree_size {
            let context = format!("leaf {leaf_index} of {tree_size}");
            let leaf = oracle.leaf_hashes[leaf_index as usize];
            let proof = tree.inclusion_proof(leaf_index, tree_size).unwrap();
            assert_eq!(proof, oracle.path(leaf_index as usize, 0, tree_size as usize), "{context}");
            verify_inclusion(&leaf, leaf_index, tree_size, &proof, &root)
                .unwrap_or_else(|error| panic!("{context}: {error}"));

            // One bit flipped per element, at a position that varies across the loop.
            for (element, hash) in proof.iter().enumerate() {
                let mut tampered = proof.clone();
                tampered[element] = flip_bit(hash, (leaf_index as usize * 7 + element * 31) % 256);
                assert!(
                    verify_inclusion(&leaf, leaf_index, tree_size, &tampered, &root).is_err(),
                    "{context}: tampered element {element} verified"
                );
            }
            // The proof does not prove the leaf at any neighbouring index.
            for wrong_index in [leaf_index.wrapping_sub(1), leaf_index + 1, leaf_index ^ 1] {
                if wrong_index != leaf_index {
                    assert!(
                        verify_inclusion(&leaf, wrong_index, tree_size, &proof, &root).is_err(),
                        "{context}: verified at index {wrong_index}"
                    );
                }
            }
            // Nor in trees of neighbouring sizes, each with its own true root.
            for wrong_size in [tree_size - 1, tree_size + 1] {
                if wrong_size > leaf_index && wrong_size != tree_size {
                    let wrong_root = oracle.mth(0, wrong_size as usize);
                    assert!(
                        verify_inclusion(&leaf, leaf_index, wrong_size, &proof, &wrong_root).is_err(),
                        "{context}: verified in size {wrong_size}"
                    );
                }
            }
        }
    }
}

#[test]
fn exhaustive_consistency_proofs_match_oracle_and_reject_tampering() {
    let tree = test_tree(EXHAUSTIVE_SIZE_MAX);
    let oracle = Oracle::new(EXHAUSTIVE_SIZE_MAX + 1);
    for new_size in 0..=EXHAUSTIVE_SIZE_MAX {
        let new_root = oracle.mth(0, new_size as usize);
        for old_size in 0..=new_size {
            let context = format!("consistency {old_size} -> {new_size}");
            let old_root = oracle.mth(0, old_size as usize);
            let proof = tree.consistency_proof(old_size, new_size).unwrap();
            assert_eq!(proof, oracle.consistency(old_size as usize, new_size as usize), "{context}");
            verify_consistency(old_size, new_size, &old_root, &new_root, &proof)
                .unwrap_or_else(|error| panic!("{context}: {error}"));

            for (element, hash) in proof.iter().enumerate() {
                let mut tampered = proof.clone();
                tampered[element] = flip_bit(hash, (old_size as usize * 13 + element * 29) % 256);
                assert!(
                    verify_consistency(old_size, new_size, &old_root, &new_root, &tampered).is_err(),
                    "{context}: tampered element {element} verified"
                );
            }
            // Swapped or altered roots fail, unless they are equal anyway.
            if old_root != new_root {
                assert!(
                    verify_consistency(old_size, new_size, &new_root, &old_root, &proof).is_err(),
                    "{context}: swapped roots verified"
                );
            }
            assert!(
                verify_consistency(old_size, new_size, &flip_bit(&old_root, 3), &new_root, &proof).is_err(),
                "{context}: wrong old root verified"
            );
            // Every tree extends the empty tree, so only a non-empty old tree constrains the new root.
            if old_size > 0 {
                assert!(
                    verify_consistency(old_size, new_size, &old_root, &flip_bit(&new_root, 3), &proof).is_err(),
                    "{context}: wrong new root verified"
                );
            }
            // Neighbouring sizes with their own true roots fail.
            for wrong_old_size in [old_size.wrapping_sub(1), old_size + 1] {
                // The empty proof is both the proof from the empty tree and the proof between equal
                // sizes, so it rightly verifies for either.
                let empty_proof_also_valid = proof.is_empty() && (wrong_old_size == new_size || wrong_old_size == 0);
                if wrong_old_size <= new_size && wrong_old_size != old_size && !empty_proof_also_valid {
                    let wrong_old_root = oracle.mth(0, wrong_old_size as usize);
                    assert!(
                        verify_consistency(wrong_old_size, new_size, &wrong_old_root, &new_root, &proof).is_err(),
                        "{context}: verified from size {wrong_old_size}"
                    );
                }
            }
            if new_size < EXHAUSTIVE_SIZE_MAX && 0 < old_size && old_size < new_size {
                let wrong_new_root = oracle.mth(0, new_size as usize + 1);
                assert!(
                    verify_consistency(old_size, new_size + 1, &old_root, &wrong_new_root, &proof).is_err(),
                    "{context}: verified to size {}",
                    new_size + 1
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests for larger sampled trees.
// ---------------------------------------------------------------------------------------------

fn tree_size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=SAMPLED_SIZE_MAX).prop_flat_map(|tree_size| (Just(tree_size), 0..tree_size))
}

fn old_and_new_size() -> impl Strategy<Value = (u64, u64)> {
    (1..=SAMPLED_SIZE_MAX).prop_flat_map(|new_size| (0..=new_size, Just(new_size)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sampled_inclusion_proofs_verify_and_every_bit_matters(
        (tree_size, leaf_index) in tree_size_and_index(),
        element_choice in any::<prop::sample::Index>(),
    ) {
        let tree = test_tree(tree_size);
        let oracle = Oracle::new(tree_size);
        let root = oracle.mth(0, tree_size as usize);
        let leaf = oracle.leaf_hashes[leaf_index as usize];
        let proof = tree.inclusion_proof(leaf_index, tree_size).unwrap();
        prop_assert_eq!(&proof, &oracle.path(leaf_index as usize, 0, tree_size as usize));
        prop_assert!(verify_inclusion(&leaf, leaf_index, tree_size, &proof, &root).is_ok());
        if !proof.is_empty() {
            let element = element_choice.index(proof.len());
            for bit in 0..256 {
                let mut tampered = proof.clone();
                tampered[element] = flip_bit(&proof[element], bit);
                prop_assert!(verify_inclusion(&leaf, leaf_index, tree_size, &tampered, &root).is_err());
            }
        }
        for bit in 0..256 {
            prop_assert!(verify_inclusion(&flip_bit(&leaf, bit), leaf_index, tree_size, &proof, &root).is_err());
        }
    }

    #[test]
    fn sampled_consistency_proofs_verify_and_every_bit_matters(
        (old_size, new_size) in old_and_new_size(),
        element_choice in any::<prop::sample::Index>(),
    ) {
        let tree = test_tree(new_size);
        let oracle = Oracle::new(new_size);
        let old_root = oracle.mth(0, old_size as usize);
        let new_root = oracle.mth(0, new_size as usize);
        let proof = tree.consistency_proof(old_size, new_size).unwrap();
        prop_assert_eq!(&proof, &oracle.consistency(old_size as usize, new_size as usize));
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof).is_ok());
        if !proof.is_empty() {
            let element = element_choice.index(proof.len());
            for bit in 0..256 {
                let mut tampered = proof.clone();
                tampered[element] = flip_bit(&proof[element], bit);
                prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &tampered).is_err());
            }
        }
    }

    #[test]
    fn sampled_proofs_from_prefetched_node_ids_match_memory_tree(
        (tree_size, leaf_index) in tree_size_and_index(),
        old_size_choice in any::<prop::sample::Index>(),
    ) {
        let tree = test_tree(tree_size);
        let old_size = old_size_choice.index(tree_size as usize + 1) as u64;
        // A server fetches exactly the listed ids; the proof functions must need no other.
        let prefetch = |ids: Vec<NodeId>| -> HashMap<NodeId, Hash> {
            ids.into_iter().map(|id| (id, tree.node(id).expect("listed id is a stored perfect node"))).collect()
        };
        let inclusion_nodes = prefetch(inclusion_proof_node_ids(leaf_index, tree_size).unwrap());
        prop_assert_eq!(
            inclusion_proof(&inclusion_nodes, leaf_index, tree_size).unwrap(),
            tree.inclusion_proof(leaf_index, tree_size).unwrap()
        );
        let consistency_nodes = prefetch(consistency_proof_node_ids(old_size, tree_size).unwrap());
        prop_assert_eq!(
            consistency_proof(&consistency_nodes, old_size, tree_size).unwrap(),
            tree.consistency_proof(old_size, tree_size).unwrap()
        );
        let root_nodes = prefetch(root_node_ids(tree_size));
        prop_assert_eq!(root_from_source(&root_nodes, tree_size).unwrap(), tree.root());
        // Without one of the listed nodes the proof cannot be built, and the error names the node.
        let mut incomplete = inclusion_nodes.clone();
        if let Some(&missing) = incomplete.keys().next() {
            incomplete.remove(&missing);
            prop_assert_eq!(
                inclusion_proof(&incomplete, leaf_index, tree_size),
                Err(ProofError::MissingNode(missing))
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Node-id arithmetic and the frontier.
// ---------------------------------------------------------------------------------------------

#[test]
fn node_id_lists_are_documented_shape() {
    // Size 7, leaf 0: siblings leaf 1, node (1,1) covering leaves 2..4, then the ragged range 4..7
    // made of (1,2) and the leaf 6.
    assert_eq!(
        inclusion_proof_node_ids(0, 7).unwrap(),
        vec![
            NodeId { level: 0, index: 1 },
            NodeId { level: 1, index: 1 },
            NodeId { level: 1, index: 2 },
            NodeId { level: 0, index: 6 },
        ]
    );
    assert_eq!(
        root_node_ids(7),
        vec![NodeId { level: 2, index: 0 }, NodeId { level: 1, index: 2 }, NodeId { level: 0, index: 6 },]
    );
    assert_eq!(root_node_ids(0), Vec::<NodeId>::new());
    // Consistency 3 -> 7: leaf 2, leaf 3, node (1,0), then the ragged range 4..7.
    assert_eq!(
        consistency_proof_node_ids(3, 7).unwrap(),
        vec![
            NodeId { level: 0, index: 2 },
            NodeId { level: 0, index: 3 },
            NodeId { level: 1, index: 0 },
            NodeId { level: 1, index: 2 },
            NodeId { level: 0, index: 6 },
        ]
    );
    assert_eq!(consistency_proof_node_ids(0, 7).unwrap(), Vec::<NodeId>::new());
    assert_eq!(consistency_proof_node_ids(7, 7).unwrap(), Vec::<NodeId>::new());
    assert_eq!(consistency_proof_node_ids(8, 7), Err(ProofError::SizeOutOfRange { old_size: 8, new_size: 7 }));
    assert_eq!(inclusion_proof_node_ids(7, 7), Err(ProofError::IndexOutOfRange { leaf_index: 7, tree_size: 7 }));
}

#[test]
fn frontier_matches_memory_tree_and_reports_completed_nodes() {
    let tree_size = 300;
    let mut tree = MemoryTree::new();
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), empty_root());
    for leaf_index in 0..tree_size {
        let leaf = leaf_hash(&test_entry(leaf_index));
        tree.push_leaf_hash(leaf);
        let completed = frontier.push(leaf);
        assert_eq!(completed[0], (NodeId::leaf(leaf_index), leaf));
        assert_eq!(completed.len() as u32, 1 + leaf_index.trailing_ones());
        for (id, hash) in &completed {
            assert_eq!(tree.node(*id), Some(*hash), "completed node {id:?}");
        }
        assert_eq!(frontier.size(), leaf_index + 1);
        assert_eq!(frontier.root(), tree.root());
        let ids = frontier.node_ids();
        assert_eq!(ids.len(), frontier.hashes().len());
        for (id, hash) in ids.iter().zip(frontier.hashes()) {
            assert_eq!(tree.node(*id), Some(*hash));
        }
    }

    let mut with_callback = Frontier::new();
    let mut reported = Vec::new();
    for leaf_index in 0..tree_size {
        with_callback.push_with(leaf_hash(&test_entry(leaf_index)), |id, hash| reported.push((id, *hash)));
    }
    assert_eq!(with_callback, frontier);
    let perfect_node_count: u64 = (0..u64::BITS).map(|level| tree_size >> level).sum();
    assert_eq!(reported.len() as u64, perfect_node_count, "every perfect node once");
    let distinct: std::collections::HashSet<NodeId> = reported.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), reported.len());
}

#[test]
fn frontier_parts_are_validated_including_when_deserialized() {
    let mut frontier = Frontier::new();
    for leaf_index in 0..11 {
        frontier.push(leaf_hash(&test_entry(leaf_index)));
    }
    let rebuilt = Frontier::from_parts(frontier.size(), frontier.hashes().to_vec()).unwrap();
    assert_eq!(rebuilt, frontier);
    assert_eq!(
        Frontier::from_parts(11, vec![[0; 32]; 2]),
        Err(ProofError::FrontierHashCount { size: 11, expected: 3, actual: 2 })
    );
    let json = serde_json::to_string(&frontier).unwrap();
    assert_eq!(serde_json::from_str::<Frontier>(&json).unwrap(), frontier);
    let corrupted = json.replace("\"size\":11", "\"size\":12");
    assert!(serde_json::from_str::<Frontier>(&corrupted).is_err());
}

#[test]
fn memory_tree_rejects_sizes_it_does_not_hold() {
    let tree = test_tree(5);
    let unavailable = ProofError::TreeSizeUnavailable { tree_size: 6, available_size: 5 };
    assert_eq!(tree.root_at(6), Err(unavailable.clone()));
    assert_eq!(tree.inclusion_proof(0, 6), Err(unavailable.clone()));
    assert_eq!(tree.consistency_proof(2, 6), Err(unavailable));
    assert_eq!(tree.root_at(0), Ok(empty_root()));
    assert_eq!(MemoryTree::with_capacity(5).root(), MemoryTree::new().root());
}

#[test]
fn memory_tree_gives_runs_of_stored_nodes() {
    let tree = test_tree(5);
    let leaves: Vec<Hash> = (0..5).map(|leaf_index| leaf_hash(&test_entry(leaf_index))).collect();
    assert_eq!(tree.nodes(0, 1, 4), Some(&leaves[1..5]));
    assert_eq!(tree.nodes(1, 0, 2), Some(&[node_hash(&leaves[0], &leaves[1]), node_hash(&leaves[2], &leaves[3])][..]));
    assert_eq!(tree.nodes(0, 2, 4), None, "leaf 5 is not there");
    assert_eq!(tree.nodes(1, 2, 1), None, "node (1, 2) is not complete");
    assert_eq!(tree.nodes(7, 0, 1), None);
    assert_eq!(tree.nodes(0, u64::MAX, 2), None);
}

// ---------------------------------------------------------------------------------------------
// u64 edge cases: errors or correct results, never a panic or an overflow.
// ---------------------------------------------------------------------------------------------

/// A tree of any size whose leaves all have the same hash, so every node at a level has the same hash:
/// a consistent node source for trees far too large to build.
struct UniformTree {
    hash_by_level: Vec<Hash>,
}

impl UniformTree {
    fn new() -> Self {
        let mut hash_by_level = vec![leaf_hash(b"uniform leaf")];
        for level in 1..64 {
            let below = hash_by_level[level - 1];
            hash_by_level.push(node_hash(&below, &below));
        }
        UniformTree { hash_by_level }
    }
}

impl NodeSource for UniformTree {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.hash_by_level.get(usize::from(id.level)).copied()
    }
}

#[test]
fn sizes_near_u64_max_give_errors_or_correct_results() {
    let leaf = leaf_hash(b"uniform leaf");
    let root = [7u8; 32];
    assert_eq!(
        verify_inclusion(&leaf, u64::MAX, u64::MAX, &[], &root),
        Err(ProofError::IndexOutOfRange { leaf_index: u64::MAX, tree_size: u64::MAX })
    );
    assert_eq!(
        verify_inclusion(&leaf, u64::MAX - 1, u64::MAX, &[], &root),
        Err(ProofError::WrongProofLength { expected: 63, actual: 0 })
    );
    assert_eq!(
        verify_inclusion(&leaf, 0, u64::MAX, &[], &root),
        Err(ProofError::WrongProofLength { expected: 64, actual: 0 })
    );
    assert!(matches!(verify_inclusion(&leaf, 0, u64::MAX, &[root; 64], &root), Err(ProofError::RootMismatch { .. })));
    assert!(verify_inclusion(&leaf, u64::MAX, 0, &[], &root).is_err());
    assert!(verify_inclusion(&leaf, 0, 0, &[], &empty_root()).is_err());
    assert!(verify_consistency(u64::MAX, u64::MAX - 1, &root, &root, &[]).is_err());
    assert!(verify_consistency(1, u64::MAX, &root, &root, &[]).is_err());
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &root, &root, &[root; 70]).is_err());
    assert!(verify_consistency(u64::MAX, u64::MAX, &root, &root, &[]).is_ok());

    // Real proofs in a tree of u64::MAX leaves, generated and verified.
    let uniform = UniformTree::new();
    let huge_root = root_from_source(&uniform, u64::MAX).unwrap();
    assert_eq!(root_node_ids(u64::MAX).len(), 64);
    for leaf_index in [0, 1, 1 << 63, u64::MAX - 2, u64::MAX - 1] {
        let proof = inclusion_proof(&uniform, leaf_index, u64::MAX).unwrap();
        verify_inclusion(&leaf, leaf_index, u64::MAX, &proof, &huge_root)
            .unwrap_or_else(|error| panic!("leaf {leaf_index}: {error}"));
    }
    for (old_size, new_size) in [
        (1, u64::MAX),
        (1 << 63, u64::MAX),
        ((1 << 63) + 1, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (u64::MAX, u64::MAX),
        (0, u64::MAX),
        (3, u64::MAX - 1),
    ] {
        let old_root = root_from_source(&uniform, old_size).unwrap();
        let new_root = root_from_source(&uniform, new_size).unwrap();
        let proof = consistency_proof(&uniform, old_size, new_size).unwrap();
        verify_consistency(old_size, new_size, &old_root, &new_root, &proof)
            .unwrap_or_else(|error| panic!("{old_size} -> {new_size}: {error}"));
    }
    assert_eq!(
        inclusion_proof(&uniform, u64::MAX, u64::MAX),
        Err(ProofError::IndexOutOfRange { leaf_index: u64::MAX, tree_size: u64::MAX })
    );
    // A memory tree simply lacks nodes of huge trees.
    let small = test_tree(3);
    assert!(matches!(root_from_source(&small, u64::MAX), Err(ProofError::MissingNode(_))));

    let full = Frontier::from_parts(u64::MAX, vec![[0; 32]; 64]).unwrap();
    assert_eq!(full.node_ids().len(), 64);
}

#[test]
#[should_panic(expected = "cannot hold more than u64::MAX leaves")]
fn frontier_refuses_to_grow_past_u64_max() {
    let mut full = Frontier::from_parts(u64::MAX, vec![[0; 32]; 64]).unwrap();
    full.push([1; 32]);
}

// ---------------------------------------------------------------------------------------------
// rs_merkle as an independent implementation.
// ---------------------------------------------------------------------------------------------

/// RFC 6962 node hashing for rs_merkle. rs_merkle pairs nodes bottom up and promotes a lone last node
/// unchanged, which yields the RFC 6962 tree shape; leaves are passed in already hashed.
#[derive(Clone)]
struct Rfc6962Hasher;

impl rs_merkle::Hasher for Rfc6962Hasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        oracle_leaf_hash(data)
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => oracle_node_hash(left, right),
            None => *left,
        }
    }
}

/// Compared: the root for every size 1..=300, and for every (index, size) pair in that range both the
/// single-leaf proof hashes (identical in content and order to RFC 9162's PATH) and rs_merkle's verdict on
/// our proof.
#[test]
fn roots_and_single_leaf_proofs_match_rs_merkle() {
    let tree = test_tree(RS_MERKLE_SIZE_MAX as u64);
    let leaves: Vec<Hash> =
        (0..RS_MERKLE_SIZE_MAX as u64).map(|leaf_index| leaf_hash(&test_entry(leaf_index))).collect();
    let mut failures = Vec::new();
    for tree_size in 1..=RS_MERKLE_SIZE_MAX {
        let reference = rs_merkle::MerkleTree::<Rfc6962Hasher>::from_leaves(&leaves[..tree_size]);
        let reference_root = reference.root().expect("non-empty tree has a root");
        let root = tree.root_at(tree_size as u64).unwrap();
        if root != reference_root {
            failures.push(format!("size {tree_size}: root differs"));
            continue;
        }
        for (leaf_index, leaf) in leaves[..tree_size].iter().enumerate() {
            let proof = tree.inclusion_proof(leaf_index as u64, tree_size as u64).unwrap();
            let reference_proof = reference.proof(&[leaf_index]);
            if reference_proof.proof_hashes() != proof.as_slice() {
                failures.push(format!("leaf {leaf_index} of {tree_size}: proof differs"));
            }
            let ours_in_theirs = rs_merkle::MerkleProof::<Rfc6962Hasher>::new(proof);
            if !ours_in_theirs.verify(root, &[leaf_index], &[*leaf], tree_size) {
                failures.push(format!("leaf {leaf_index} of {tree_size}: rs_merkle rejects our proof"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
