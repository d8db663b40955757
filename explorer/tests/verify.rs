//! The explorer's verification glue, run as WebAssembly in a real browser: a small log is built and signed
//! here with the ledger crate, then every check is shown to pass on honest evidence and to fail, at the
//! right step, on each kind of tampering.
#![cfg(target_arch = "wasm32")]

use ed25519_dalek::SigningKey;
use explorer::verify::{self, EntryEvidence, GrowthError, SeenCheckpoint, Step};
use ledger::merkle::MemoryTree;
use ledger::note::{Checkpoint, NoteSigner};
use ledger::{Body, Entry, EntryId, OrgId, PublicKey, SignedEntry};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const ORIGIN: &str = "test.aidtrail.local/log";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn log_signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, key(200)).unwrap()
}

/// A log of `size` signed genesis-shaped entries (the verification does not apply money rules).
struct Log {
    leaves: Vec<SignedEntry>,
    tree: MemoryTree,
}

impl Log {
    fn new(size: u8) -> Log {
        let mut log = Log { leaves: Vec::new(), tree: MemoryTree::new() };
        for n in 0..size {
            let operator = key(1);
            let entry = Entry {
                entry_id: EntryId([n; 16]),
                author: OrgId::new("operator").unwrap(),
                timestamp_ms: 1_790_000_000_000 + u64::from(n),
                body: Body::Genesis {
                    origin: ORIGIN.to_string(),
                    operator: OrgId::new("operator").unwrap(),
                    operator_key: PublicKey(operator.verifying_key().to_bytes()),
                },
            };
            let signed = SignedEntry::sign(entry, ORIGIN, &operator).unwrap();
            log.tree.push_entry(signed.bytes());
            log.leaves.push(signed);
        }
        log
    }

    fn note(&self, size: u64, signer: &NoteSigner) -> String {
        Checkpoint::new(ORIGIN, size, self.tree.root_at(size).unwrap()).sign(signer).unwrap()
    }

    fn proof(&self, index: u64, size: u64) -> Vec<String> {
        self.tree.inclusion_proof(index, size).unwrap().iter().map(hex::encode).collect()
    }

    fn seen(&self, size: u64) -> SeenCheckpoint {
        SeenCheckpoint {
            tree_size: size,
            root: hex::encode(self.tree.root_at(size).unwrap()),
            note: self.note(size, &log_signer()),
            seen_at_ms: 0,
        }
    }
}

struct Case {
    leaf: String,
    leaf_hash: String,
    proof: Vec<String>,
    note: String,
}

fn honest(log: &Log, index: u64) -> Case {
    let size = log.leaves.len() as u64;
    let leaf = &log.leaves[index as usize];
    Case {
        leaf: hex::encode(leaf.bytes()),
        leaf_hash: hex::encode(ledger::merkle::leaf_hash(leaf.bytes())),
        proof: log.proof(index, size),
        note: log.note(size, &log_signer()),
    }
}

fn run(log: &Log, index: u64, case: &Case, trusted: &str) -> verify::EntryReport {
    let evidence = EntryEvidence {
        index,
        leaf_hex: &case.leaf,
        claimed_leaf_hash: &case.leaf_hash,
        tree_size: log.leaves.len() as u64,
        proof: &case.proof,
        checkpoint_note: Some(&case.note),
    };
    verify::verify_entry(&evidence, trusted, ORIGIN)
}

fn failed_step(report: &verify::EntryReport) -> Step {
    assert!(!report.ok(), "expected a failure, got {report:?}");
    report.failure().expect("a failed check").step
}

fn trusted() -> String {
    log_signer().verifier().to_string()
}

#[wasm_bindgen_test]
fn honest_evidence_passes_every_step() {
    let log = Log::new(13);
    for index in [0, 5, 12] {
        let report = run(&log, index, &honest(&log, index), &trusted());
        assert!(report.ok(), "{report:?}");
        let steps: Vec<Step> = report.checks.iter().map(|check| check.step).collect();
        assert_eq!(steps, [Step::LeafHash, Step::AuthorSignature, Step::CheckpointSignature, Step::InclusionPath]);
        assert_eq!(report.checkpoint.as_ref().map(|(size, _)| *size), Some(13));
    }
}

#[wasm_bindgen_test]
fn a_changed_byte_fails_the_leaf_hash() {
    let log = Log::new(8);
    let mut case = honest(&log, 3);
    // Flip the last hex digit of the signature: the bytes still decode but no longer hash as claimed.
    let last = case.leaf.pop().unwrap();
    case.leaf.push(if last == '0' { '1' } else { '0' });
    assert_eq!(failed_step(&run(&log, 3, &case, &trusted())), Step::LeafHash);
}

#[wasm_bindgen_test]
fn a_forged_signature_fails_the_author_check() {
    let log = Log::new(8);
    let mut case = honest(&log, 2);
    // Re-sign the bytes' signature field with another key but keep the leaf hash honest for those bytes.
    let signed = &log.leaves[2];
    let forged = SignedEntry::from_parts(signed.entry().clone(), signed.signer(), [7u8; 64]).unwrap();
    case.leaf = hex::encode(forged.bytes());
    case.leaf_hash = hex::encode(ledger::merkle::leaf_hash(forged.bytes()));
    assert_eq!(failed_step(&run(&log, 2, &case, &trusted())), Step::AuthorSignature);
}

#[wasm_bindgen_test]
fn a_checkpoint_signed_by_another_key_fails() {
    let log = Log::new(8);
    let mut case = honest(&log, 1);
    case.note = log.note(8, &NoteSigner::new(ORIGIN, key(99)).unwrap());
    assert_eq!(failed_step(&run(&log, 1, &case, &trusted())), Step::CheckpointSignature);
}

#[wasm_bindgen_test]
fn a_tampered_proof_fails_the_path() {
    let log = Log::new(21);
    let mut case = honest(&log, 9);
    let first = case.proof[0].clone();
    case.proof[0] = format!("{}{}", if first.starts_with('0') { '1' } else { '0' }, &first[1..]);
    let report = run(&log, 9, &case, &trusted());
    assert_eq!(failed_step(&report), Step::InclusionPath);
    // The earlier steps still say what they established.
    assert!(report.checks[..3].iter().all(|check| check.outcome.is_ok()));
}

#[wasm_bindgen_test]
fn a_proof_for_another_root_fails_even_if_the_server_states_that_root() {
    // The proof is honest for a tree of 20 but the signed checkpoint is for 21: the path must reach the
    // signed root, not a root the server names.
    let log = Log::new(21);
    let mut case = honest(&log, 4);
    case.proof = log.proof(4, 20);
    assert_eq!(failed_step(&run(&log, 4, &case, &trusted())), Step::InclusionPath);
}

#[wasm_bindgen_test]
fn growth_is_checked_with_consistency_proofs() {
    let log = Log::new(30);
    let old = log.seen(11);
    let new = Checkpoint::new(ORIGIN, 30, log.tree.root_at(30).unwrap());
    let proof: Vec<String> = log.tree.consistency_proof(11, 30).unwrap().iter().map(hex::encode).collect();
    assert_eq!(verify::check_growth(&old, &new, &proof), Ok(()));

    // Same size, same root: fine with no proof; other root: rewritten.
    assert_eq!(verify::check_growth(&log.seen(30), &new, &[]), Ok(()));
    let other = Log::new(31);
    let forked = Checkpoint::new(ORIGIN, 30, other.tree.root_at(31).unwrap());
    assert_eq!(
        verify::check_growth(&log.seen(30), &forked, &[]),
        Err(GrowthError::SameSizeOtherRoot { tree_size: 30 })
    );

    // A shrinking log.
    let smaller = Checkpoint::new(ORIGIN, 10, log.tree.root_at(10).unwrap());
    assert_eq!(verify::check_growth(&old, &smaller, &[]), Err(GrowthError::Shrunk { old_size: 11, new_size: 10 }));

    // A bent proof.
    let mut bent = proof.clone();
    bent[0] = "00".repeat(32);
    assert!(matches!(verify::check_growth(&old, &new, &bent), Err(GrowthError::Inconsistent(_))));
}

#[wasm_bindgen_test]
fn opening_checkpoints_checks_key_and_origin() {
    let log = Log::new(5);
    let note = log.note(5, &log_signer());
    assert_eq!(verify::open_checkpoint(&note, &trusted(), ORIGIN).unwrap().tree_size, 5);
    assert!(verify::open_checkpoint(&note, &trusted(), "other.example/log").is_err());
    let other_key = NoteSigner::new(ORIGIN, key(42)).unwrap().verifier().to_string();
    assert!(verify::open_checkpoint(&note, &other_key, ORIGIN).is_err());
    assert!(verify::open_checkpoint(&note, "not a key", ORIGIN).is_err());
}

#[wasm_bindgen_test]
fn every_interface_text_has_both_languages() {
    use explorer::i18n::{Language, T};
    for text in T::ALL {
        assert!(!text.get(Language::English).is_empty(), "{text:?}");
        assert!(!text.get(Language::French).is_empty(), "{text:?}");
    }
    assert_eq!(Language::French.money(125_000, 2, "EUR"), "1\u{202F}250,00\u{A0}EUR");
    assert_eq!(Language::English.money(125_000, 2, "EUR"), "1,250.00 EUR");
    assert_eq!(explorer::i18n::date(Language::French, "2026-11-28"), "28 nov. 2026");
    assert_eq!(explorer::i18n::iso_date_from_days(20_420), "2025-11-28");
}

#[wasm_bindgen_test]
fn a_receipt_code_becomes_its_donor_reference_in_the_browser() {
    let secret = [0x5au8; 32];
    let expected = ledger::donor_reference(&secret).to_hex();
    assert_eq!(explorer::pages::trace::reference_of_receipt(&hex::encode(secret)), Some(expected));
    assert_eq!(explorer::pages::trace::reference_of_receipt("not hex"), None);
    assert_eq!(explorer::pages::trace::reference_of_receipt("00"), None);
}
