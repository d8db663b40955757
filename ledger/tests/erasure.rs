//! Kind 24, `erasure`: its bytes (version byte 2, strict decoding), its JSON view, the erasure digest, and
//! the rule: only the NGO or clinic that recorded beneficiary commitments erases their data, never more
//! than it recorded, and each digest once.

use ledger::{Body, Commitment, Digest, Entry, EntryId, ErasureReason, Kind, Recipient, State, erasure_digest};

use crate::support::{OPERATOR, World, org};

fn erasure(count: u32, seed: u8) -> Body {
    Body::Erasure { count, digest: Digest([seed; 32]), reason: ErasureReason::DataSubjectRequest }
}

fn entry(body: Body) -> Entry {
    Entry { entry_id: EntryId([0x24; 16]), author: org("clinic-goma"), timestamp_ms: 1_790_000_000_000, body }
}

#[test]
fn an_erasure_encodes_with_version_2_and_round_trips() {
    let entry = entry(Body::Erasure { count: 2, digest: Digest([0xd1; 32]), reason: ErasureReason::RetentionExpired });
    let bytes = entry.encode().unwrap();
    assert_eq!(Kind::Erasure.code(), 24);
    assert_eq!(Kind::from_code(24), Some(Kind::Erasure));
    assert_eq!(Kind::from_code(25), None, "no kind 25");
    assert_eq!(Kind::parse("erasure"), Some(Kind::Erasure));
    assert_eq!(&bytes[..2], &[2, 24], "version byte 2, the first version that defines kind 24, then the kind");
    // The body: u32 count, 32-byte digest, u8 reason, nothing after.
    let body = &bytes[bytes.len() - 37..];
    assert_eq!(&body[..4], &[0, 0, 0, 2]);
    assert_eq!(&body[4..36], &[0xd1; 32]);
    assert_eq!(body[36], 3);
    assert_eq!(Entry::decode(&bytes).unwrap(), entry);
    let json = serde_json::to_value(&entry).unwrap();
    assert_eq!(
        json["body"],
        serde_json::json!({"kind": "erasure", "count": 2, "digest": "d1".repeat(32), "reason": "retention_expired"})
    );
    let back: Entry = serde_json::from_value(json).unwrap();
    assert_eq!(back, entry);
    for reason in ErasureReason::ALL {
        assert_eq!(ErasureReason::from_code(reason.code()), Some(reason));
        assert_eq!(reason.as_str().parse::<ErasureReason>(), Ok(reason));
    }
}

#[test]
fn decoding_an_erasure_is_strict() {
    let good = entry(erasure(1, 7)).encode().unwrap();
    // Version 1 does not define kind 24; an unknown version is refused; other kinds keep version 1.
    let mut old_version = good.clone();
    old_version[0] = 1;
    assert!(Entry::decode(&old_version).unwrap_err().to_string().contains("format version"));
    let mut future = good.clone();
    future[0] = 3;
    assert!(Entry::decode(&future).is_err());
    let spend_like = World::new().log[0].payload().to_vec();
    let mut genesis_v2 = spend_like.clone();
    genesis_v2[0] = 2;
    assert!(Entry::decode(&genesis_v2).is_err(), "a version-1 kind written with version 2 is refused");
    // A zero count, an unknown reason, a truncated digest, a trailing byte.
    let reason_at = good.len() - 1;
    let count_at = good.len() - 37;
    let mut zero = good.clone();
    zero[count_at..count_at + 4].copy_from_slice(&[0; 4]);
    assert!(Entry::decode(&zero).unwrap_err().to_string().contains("erasure count"));
    for bad_reason in [0u8, 5, 255] {
        let mut bytes = good.clone();
        bytes[reason_at] = bad_reason;
        assert!(Entry::decode(&bytes).unwrap_err().to_string().contains("erasure reason"), "{bad_reason}");
    }
    assert!(Entry::decode(&good[..good.len() - 2]).is_err());
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(Entry::decode(&trailing).is_err());
    // The JSON view refuses the same.
    let mut json = serde_json::to_value(entry(erasure(1, 7))).unwrap();
    json["body"]["count"] = 0.into();
    assert!(serde_json::from_value::<Entry>(json.clone()).is_err());
    json["body"]["count"] = 1.into();
    json["body"]["reason"] = "because".into();
    assert!(serde_json::from_value::<Entry>(json.clone()).is_err());
    json["body"]["reason"] = "legal_obligation".into();
    json["body"]["commitments"] = serde_json::json!([]);
    assert!(serde_json::from_value::<Entry>(json).is_err(), "an erasure lists no commitments");
    assert!(entry(erasure(0, 1)).encode().is_err(), "an entry that does not validate has no encoding");
}

#[test]
fn the_erasure_digest_covers_the_set_and_the_random_value() {
    let a = Commitment([1; 32]);
    let b = Commitment([2; 32]);
    let random = [9u8; 32];
    assert_eq!(erasure_digest(&random, &[a, b]), erasure_digest(&random, &[b, a]), "order does not matter");
    assert_eq!(erasure_digest(&random, &[a, b]), erasure_digest(&random, &[a, b, a]), "each commitment once");
    assert_ne!(erasure_digest(&random, &[a, b]), erasure_digest(&random, &[a]));
    assert_ne!(erasure_digest(&random, &[a]), erasure_digest(&[8; 32], &[a]), "without the random value, no test");
    // SHA-256("aidtrail/erasure/v1" || 00 || random || a || b).
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"aidtrail/erasure/v1\0");
    hasher.update(random);
    hasher.update(a.0);
    hasher.update(b.0);
    assert_eq!(erasure_digest(&random, &[b, a]).0, <[u8; 32]>::from(hasher.finalize()));
}

/// A clinic that paid three beneficiaries and a supplier.
fn world_with_three_beneficiary_spends() -> World {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    world.transfer("ngo-a", "clinic-goma", 5_000);
    world.transfer("ngo-a", "clinic-bukavu", 1_000);
    for _ in 0..3 {
        world.spend("clinic-goma", 100);
    }
    let mut supplier_spend = world.spend_body(100, ledger::Category::Medicine, None);
    if let Body::Spend { recipient, .. } = &mut supplier_spend {
        *recipient = Recipient::Supplier(org("pharma-supply"));
    }
    world.ok("clinic-goma", supplier_spend);
    world
}

#[test]
fn only_the_organisation_that_recorded_the_commitments_erases_their_data() {
    let mut world = world_with_three_beneficiary_spends();
    // The operator, a donor, an auditor, a supplier: not entitled.
    for author in [OPERATOR, "fondation-x", "audit-co", "pharma-supply"] {
        world.reject(author, erasure(1, 1), "not_entitled");
    }
    // Another clinic or the NGO that funded the spends recorded no beneficiary commitment.
    world.reject("clinic-bukavu", erasure(1, 1), "erasure_exceeds_recorded");
    world.reject("ngo-a", erasure(1, 1), "erasure_exceeds_recorded");
    // Signed with another organisation's key: the author's key rule comes first.
    world.reject_as("clinic-goma", "clinic-bukavu", erasure(1, 1), "unknown_key");
    // The clinic itself may, up to what it recorded (supplier spends do not count).
    world.reject("clinic-goma", erasure(4, 1), "erasure_exceeds_recorded");
    world.ok("clinic-goma", erasure(2, 1));
    let records = world.state.beneficiary_records(&org("clinic-goma")).unwrap();
    assert_eq!((records.recorded, records.erased, records.erasures), (3, 2, 1));
    world.reject("clinic-goma", erasure(1, 1), "erasure_repeated");
    world.reject("clinic-goma", erasure(2, 2), "erasure_exceeds_recorded");
    world.ok("clinic-goma", erasure(1, 2));
    world.reject("clinic-goma", erasure(1, 3), "erasure_exceeds_recorded");
    let records = world.state.beneficiary_records(&org("clinic-goma")).unwrap();
    assert_eq!((records.recorded, records.erased, records.erasures), (3, 3, 2));
    assert_eq!(world.state.beneficiary_records(&org("nobody")), None);
}

#[test]
fn an_erasure_moves_no_money_and_a_replay_reaches_the_same_state() {
    let mut world = world_with_three_beneficiary_spends();
    let before = world.balance("clinic-goma");
    let spend = world.spend_indexes_last();
    let trace_before = world.state.backward_trace(&world.entry_id_at(spend)).unwrap();
    world.ok("clinic-goma", erasure(1, 9));
    assert_eq!(world.balance("clinic-goma"), before);
    assert_eq!(world.state.backward_trace(&world.entry_id_at(spend)).unwrap(), trace_before);
    // The erasure cannot be reversed.
    let erasure_id = world.entry_id_at(world.state.size() - 1);
    world.reject("clinic-goma", Body::Reversal { target: erasure_id, reason: "undo".into() }, "not_reversible");
    // Replaying the leaves gives the same state, and the snapshot format carries the new records.
    let mut replay = State::new();
    let mut verifier = ledger::EntryVerifier::new(crate::support::ORIGIN).unwrap();
    for signed in &world.log {
        replay.apply(&verifier.verify(signed.clone()).unwrap()).unwrap();
    }
    assert!(replay == world.state);
}

#[test]
fn last_mile_cells_of_fewer_than_k_beneficiary_spends_are_suppressed() {
    use ledger::last_mile::Period;
    let mut world = World::standard();
    world.donate("ngo-a", 100_000, None);
    world.transfer("ngo-a", "clinic-goma", 50_000);
    world.transfer("ngo-a", "clinic-bukavu", 50_000);
    for _ in 0..10 {
        world.spend("clinic-goma", 100);
    }
    for _ in 0..9 {
        world.spend("clinic-bukavu", 200);
    }
    // A supplier payment and a reversed beneficiary spend do not count.
    let mut supplier_spend = world.spend_body(5_000, ledger::Category::Medicine, None);
    if let Body::Spend { recipient, .. } = &mut supplier_spend {
        *recipient = Recipient::Supplier(org("pharma-supply"));
    }
    world.ok("clinic-bukavu", supplier_spend);
    let reversed = world.spend("clinic-bukavu", 300);
    world.ok("clinic-bukavu", Body::Reversal { target: world.entry_id_at(reversed), reason: "duplicate".into() });

    let cells = world.state.last_mile(&crate::support::eur(), Period::Month, 10).unwrap();
    assert_eq!(cells.len(), 2);
    let bukavu = &cells[0];
    assert_eq!((bukavu.organisation.as_str(), bukavu.period.as_str()), ("clinic-bukavu", "2026-01"));
    assert!(bukavu.suppressed);
    assert_eq!((bukavu.beneficiary_spends, bukavu.total), (None, None));
    let goma = &cells[1];
    assert!(!goma.suppressed);
    assert_eq!((goma.beneficiary_spends, goma.total), (Some(10), Some(1_000)));
    let json = serde_json::to_value(&cells).unwrap();
    assert_eq!(json[0]["total"], serde_json::Value::Null);
    assert_eq!(json[1]["total"], "1000");
    // k is a parameter: at 9, Bukavu's cell shows.
    let cells = world.state.last_mile(&crate::support::eur(), Period::Week, 9).unwrap();
    assert!(cells.iter().all(|cell| !cell.suppressed));
    assert_eq!(cells[0].period, "2026-W03", "2026-01-12 is the Monday of week 3");
    assert_eq!(cells[0].total, Some(1_800));
    assert!(world.state.last_mile(&ledger::AssetCode::new("XYZ").unwrap(), Period::Month, 10).is_none());
}
