//! Entries as bytes and as JSON: canonical encoding round trips, strict decoding, the lossless JSON view,
//! and signatures — including crafted edge cases on which strict single and batch verification must agree.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Commitment, Digest, Donor, Earmark, Entry,
    EntryError, EntryId, EntryVerifier, ErasureReason, Kind, ProgrammeId, PublicKey, Recipient, Role, SignedEntry,
    VoucherId, signed_message,
};
use sha2::{Digest as _, Sha512};

use crate::support::{ORIGIN, date, eur, key_for, org, public};

/// One entry of every kind, with every optional field present in some and absent in others.
pub fn one_of_each_kind() -> Vec<Entry> {
    let bodies = vec![
        Body::Genesis { origin: ORIGIN.into(), operator: org("operator"), operator_key: public("operator") },
        Body::OperatorKeyRotation { new_key: public("operator-2") },
        Body::RegisterOrganisation {
            organisation: org("clinique-goma"),
            role: Role::Clinic,
            name: "Clinique de Goma — Himbi".into(),
            country: "CD".parse().unwrap(),
            iati_identifier: Some("CD-RCCM-12345".into()),
            attribution_policy: AttributionPolicy::ProRata,
            public_key: public("clinique-goma"),
        },
        Body::KeyRotation { organisation: org("ngo-a"), new_key: public("ngo-a-2") },
        Body::KeyRevocation {
            organisation: org("ngo-a"),
            revoked_key: public("ngo-a"),
            replacement_key: Some(public("ngo-a-3")),
            reason: "laptop stolen in Goma".into(),
        },
        Body::DeclareAsset { asset: AssetCode::new("USDC").unwrap(), decimals: 6, asset_kind: AssetKind::Token },
        Body::DeclareProgramme {
            programme: ProgrammeId::new("kivu-health").unwrap(),
            name: "Santé primaire Nord-Kivu".into(),
            countries: vec!["CD".parse().unwrap(), "RW".parse().unwrap()],
            sector: "12220".into(),
            iati_identifier: Some("FR-RNA-W123-kivu".into()),
        },
        Body::Donation {
            donor: Donor::Anonymous(Commitment([7; 32])),
            asset: eur(),
            amount: Amount(10_000),
            value_date: date("2026-01-05"),
            earmark: Some(Earmark::Country("CD".parse().unwrap())),
            external_reference: Some("SEPA-2026-0001".into()),
        },
        Body::Transfer {
            to: org("clinique-goma"),
            asset: eur(),
            amount: Amount(u128::MAX),
            value_date: date("2026-01-06"),
            programme: Some(ProgrammeId::new("kivu-health").unwrap()),
            purpose: "January operating funds".into(),
        },
        Body::Acknowledgement { transfer: EntryId([3; 16]) },
        Body::Spend {
            asset: eur(),
            amount: Amount(125_000),
            value_date: date("2026-01-07"),
            category: Category::Medicine,
            recipient: Recipient::Beneficiary(Commitment([0x7f; 32])),
            programme: None,
            evidence: Some(Digest([0xab; 32])),
            description: String::new(),
        },
        Body::Pledge {
            to: org("clinique-goma"),
            asset: eur(),
            amount: Amount(500_000),
            value_date: date("2026-02-01"),
            verifier: org("audit-co"),
            result: "500 children vaccinated against measles".into(),
            expires_at_ms: 1_800_000_000_000,
            programme: None,
        },
        Body::Attestation { pledge: EntryId([4; 16]), statement: "registers checked on site".into(), evidence: None },
        Body::PledgeRelease { pledge: EntryId([4; 16]) },
        Body::PledgeVoid { pledge: EntryId([4; 16]) },
        Body::Reversal { target: EntryId([5; 16]), reason: "recorded twice".into() },
        Body::Conversion {
            from_asset: eur(),
            from_amount: Amount(u128::MAX / 10_000_000_000_000_000_000),
            to_asset: AssetCode::new("USDC").unwrap(),
            to_amount: Amount(1),
            rate: "0.000000000000000001".parse().unwrap(),
            rate_source: "Kraken EUR/USDC mid 2026-01-07 12:00Z".into(),
            value_date: date("2026-01-07"),
        },
        Body::Refund {
            donation: EntryId([6; 16]),
            asset: eur(),
            amount: Amount(2_500),
            value_date: date("2026-01-08"),
            reason: "unspent earmarked balance returned".into(),
        },
        Body::AccountsSignOff {
            organisation: org("ngo-a"),
            tree_size: u64::MAX,
            period_start: date("2026-01-01"),
            period_end: date("2026-01-01"),
            report: Digest([0xcd; 32]),
            opinion: "qualified: two invoices missing".into(),
        },
        Body::VoucherIssue {
            programme: ProgrammeId::new("kivu-health").unwrap(),
            asset: eur(),
            face_value: Amount(1_500),
            category: Category::MaternalCare,
            clinics: vec![org("clinique-bukavu"), org("clinique-goma")],
            vouchers: vec![VoucherId([1; 16]), VoucherId([2; 16]), VoucherId([0xff; 16])],
            value_date: date("2026-01-09"),
            expires_at_ms: 1_800_000_000_000,
        },
        Body::VoucherRedemption { voucher: VoucherId([2; 16]), evidence: Some(Digest([0xef; 32])) },
        Body::VoucherSettlement {
            clinic: org("clinique-goma"),
            vouchers: vec![VoucherId([2; 16])],
            value_date: date("2026-01-10"),
        },
        Body::VoucherExpiry { issue: EntryId([9; 16]) },
        Body::Erasure { count: 3, digest: Digest([0xe5; 32]), reason: ErasureReason::DataSubjectRequest },
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(position, body)| Entry {
            entry_id: EntryId((position as u128 + 1).to_be_bytes()),
            author: org("ngo-a"),
            timestamp_ms: 1_790_000_000_000 + position as u64,
            body,
        })
        .collect()
}

#[test]
fn every_kind_round_trips_through_bytes_and_json() {
    let entries = one_of_each_kind();
    let kinds: Vec<Kind> = entries.iter().map(|entry| entry.body.kind()).collect();
    assert_eq!(kinds, Kind::ALL.to_vec(), "the examples cover every kind");
    for entry in entries {
        let bytes = entry.encode().unwrap();
        assert_eq!(bytes[0], entry.body.kind().version());
        assert!(bytes[0] <= ledger::FORMAT_VERSION);
        assert_eq!(bytes[1], entry.body.kind().code());
        assert_eq!(Entry::decode(&bytes).unwrap(), entry);
        let json = serde_json::to_string(&entry).unwrap();
        let back: Entry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entry, "{json}");
        assert_eq!(back.encode().unwrap(), bytes, "JSON is lossless");
    }
}

#[test]
fn the_json_view_reads_like_the_format_says() {
    let entry = &one_of_each_kind()[10];
    let json = serde_json::to_value(entry).unwrap();
    assert_eq!(json["body"]["kind"], "spend");
    assert_eq!(json["body"]["amount"], "125000");
    assert_eq!(json["body"]["value_date"], "2026-01-07");
    assert_eq!(json["body"]["category"], "medicine");
    assert_eq!(json["body"]["recipient"]["beneficiary"], "7f".repeat(32));
    assert_eq!(json["entry_id"], format!("{:032x}", 11));
}

#[test]
fn json_with_unknown_fields_wrong_types_or_non_canonical_values_is_refused() {
    let entry = &one_of_each_kind()[10];
    let good = serde_json::to_value(entry).unwrap();
    let mutations: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>)> = vec![
        ("unknown top-level field", Box::new(|v| v["extra"] = 1.into())),
        ("unknown body field", Box::new(|v| v["body"]["colour"] = "red".into())),
        ("amount as a number", Box::new(|v| v["body"]["amount"] = 125000.into())),
        ("amount with leading zero", Box::new(|v| v["body"]["amount"] = "0125000".into())),
        ("amount with decimals", Box::new(|v| v["body"]["amount"] = "1250.00".into())),
        ("negative amount", Box::new(|v| v["body"]["amount"] = "-5".into())),
        ("bad date", Box::new(|v| v["body"]["value_date"] = "2026-02-30".into())),
        ("upper-case hex", Box::new(|v| v["entry_id"] = "0000000000000000000000000000000B".into())),
        ("short id", Box::new(|v| v["entry_id"] = "0b".into())),
        ("unknown kind", Box::new(|v| v["body"]["kind"] = "gift".into())),
        ("unknown category", Box::new(|v| v["body"]["category"] = "party".into())),
        ("bad author", Box::new(|v| v["author"] = "NGO A".into())),
        ("timestamp as string", Box::new(|v| v["timestamp_ms"] = "1".into())),
    ];
    for (what, mutate) in mutations {
        let mut value = good.clone();
        mutate(&mut value);
        assert!(serde_json::from_value::<Entry>(value).is_err(), "{what} was accepted");
    }
}

#[test]
fn a_json_view_that_breaks_a_value_rule_is_refused_when_read() {
    let entries = one_of_each_kind();
    let mut transfer = serde_json::to_value(&entries[8]).unwrap();
    transfer["body"]["purpose"] = "line\nbreak".into();
    assert!(serde_json::from_value::<Entry>(transfer).is_err(), "control character");
    let mut programme = serde_json::to_value(&entries[6]).unwrap();
    programme["body"]["countries"] = serde_json::json!(["RW", "CD"]);
    assert!(serde_json::from_value::<Entry>(programme).is_err(), "unsorted countries");
    let mut asset = serde_json::to_value(&entries[5]).unwrap();
    asset["body"]["decimals"] = 200.into();
    assert!(serde_json::from_value::<Entry>(asset).is_err(), "too many decimals");
}

#[test]
fn decoding_refuses_every_non_canonical_byte_string() {
    for entry in one_of_each_kind() {
        let bytes = entry.encode().unwrap();
        // Truncation anywhere and a trailing byte are refused.
        for length in 0..bytes.len() {
            assert!(Entry::decode(&bytes[..length]).is_err(), "{:?} truncated to {length}", entry.body.kind());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Entry::decode(&longer).is_err());
        // Whatever a single byte change decodes to, it must re-encode to exactly those bytes.
        for position in 0..bytes.len() {
            for replacement in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff] {
                let mut changed = bytes.clone();
                changed[position] = replacement;
                if let Ok(decoded) = Entry::decode(&changed) {
                    assert_eq!(decoded.encode().unwrap(), changed, "two encodings of one entry");
                }
            }
        }
    }
}

#[test]
fn text_fields_refuse_control_characters_and_oversize_values() {
    let mut entry = one_of_each_kind()[8].clone();
    if let Body::Transfer { purpose, .. } = &mut entry.body {
        *purpose = "line\nbreak".into();
    }
    assert!(entry.encode().is_err());
    if let Body::Transfer { purpose, .. } = &mut entry.body {
        *purpose = "x".repeat(1_001);
    }
    assert!(entry.encode().is_err());
    let mut programme = one_of_each_kind()[6].clone();
    if let Body::DeclareProgramme { countries, .. } = &mut programme.body {
        countries.reverse();
    }
    assert!(programme.encode().is_err(), "countries must be sorted so the encoding is canonical");
}

#[test]
fn signing_binds_the_payload_the_key_and_the_log_origin() {
    let key = key_for("ngo-a");
    for entry in one_of_each_kind() {
        let signed = SignedEntry::sign(entry.clone(), ORIGIN, &key).unwrap();
        assert_eq!(SignedEntry::decode(signed.bytes()).unwrap(), signed);
        let mut verifier = EntryVerifier::new(ORIGIN).unwrap();
        let verified = verifier.verify(signed.clone()).unwrap();
        assert_eq!(verified.leaf_hash(), ledger::merkle::leaf_hash(signed.bytes()));
        // The same entry is not valid in another log.
        let mut other_log = EntryVerifier::new("other.example.org/log").unwrap();
        let refused = other_log.verify(signed.clone()).unwrap_err();
        if matches!(entry.body, Body::Genesis { .. }) {
            assert!(matches!(refused, EntryError::OriginMismatch { .. }), "{refused:?}");
        } else {
            assert_eq!(refused, EntryError::BadSignature);
        }
        // Flipping any bit of the leaf makes it undecodable or unverifiable.
        let bytes = signed.bytes().to_vec();
        for position in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[position] ^= 1 << bit;
                let accepted = SignedEntry::decode(&flipped).map(|s| verifier.verify(s).is_ok()).unwrap_or(false);
                assert!(!accepted, "{:?}: bit {bit} of byte {position} flipped and still verified", entry.body.kind());
            }
        }
    }
}

/// A hand-made Ed25519 signature `(R, s)` over `message` for the key `A = [a]B + torsion_a`, whose nonce
/// point is `R = [r]B + torsion_r`: lets tests craft the edge cases that strict verification refuses.
fn craft(
    message: &[u8],
    a: Scalar,
    torsion_a: EdwardsPoint,
    r: Scalar,
    torsion_r: EdwardsPoint,
) -> (PublicKey, [u8; 64]) {
    let big_a = ED25519_BASEPOINT_POINT * a + torsion_a;
    let big_r = ED25519_BASEPOINT_POINT * r + torsion_r;
    let a_bytes = big_a.compress().to_bytes();
    let r_bytes = big_r.compress().to_bytes();
    let mut hasher = Sha512::new();
    hasher.update(r_bytes);
    hasher.update(a_bytes);
    hasher.update(message);
    let k = Scalar::from_bytes_mod_order_wide(&hasher.finalize().into());
    let s = r + k * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r_bytes);
    signature[32..].copy_from_slice(&s.to_bytes());
    (PublicKey(a_bytes), signature)
}

#[test]
fn strict_single_and_batch_verification_agree_on_crafted_edge_cases() {
    let identity = EdwardsPoint::default();
    let entries = one_of_each_kind();
    let mut cases: Vec<(&str, SignedEntry, bool)> = Vec::new();
    let scalar = |n: u64| Scalar::from(n) * Scalar::from(0x9e37_79b9_7f4a_7c15u64);
    for (position, entry) in entries.iter().enumerate() {
        let payload = entry.encode().unwrap();
        let message = signed_message(ORIGIN, &payload);
        let a = scalar(position as u64 + 11);
        let r = scalar(position as u64 + 101);
        let make =
            |key: PublicKey, signature: [u8; 64]| SignedEntry::from_parts(entry.clone(), key, signature).unwrap();
        let (key, signature) = craft(&message, a, identity, r, identity);
        cases.push(("valid", make(key, signature), true));
        for torsion in 1..8 {
            // A nonce with a torsion component: refused by the cofactorless strict equation; a
            // cofactored or unlucky batch equation would accept it.
            let (key, signature) = craft(&message, a, identity, r, EIGHT_TORSION[torsion]);
            cases.push(("torsion in R", make(key, signature), false));
            // A key with a torsion component: refused by the key check on both paths.
            let (key, signature) = craft(&message, a, EIGHT_TORSION[torsion], r, identity);
            cases.push(("torsion in A", make(key, signature), false));
        }
        // s not reduced modulo the group order.
        let (key, mut signature) = craft(&message, a, identity, r, identity);
        // The group order l, little-endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut non_canonical: [u8; 32] = signature[32..].try_into().unwrap();
        let mut carry = 0u16;
        for (byte, l_byte) in non_canonical.iter_mut().zip(l) {
            let sum = u16::from(*byte) + u16::from(l_byte) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        signature[32..].copy_from_slice(&non_canonical);
        cases.push(("s + l", make(key, signature), false));
        // A small-order key with a small-order R and s = 0 verifies under the plain equation for any
        // message: the key check refuses it.
        let mut weak = [0u8; 64];
        weak[0] = 1;
        let mut weak_key = [0u8; 32];
        weak_key[0] = 1;
        cases.push(("small-order key and R", make(PublicKey(weak_key), weak), false));
        // A non-canonical encoding of R (y = p + 1 for the identity).
        let (key, mut signature) = craft(&message, a, identity, r, identity);
        let mut non_canonical_r = [0xffu8; 32];
        non_canonical_r[0] = 0xee;
        non_canonical_r[31] = 0x7f;
        signature[..32].copy_from_slice(&non_canonical_r);
        cases.push(("non-canonical R", make(key, signature), false));
        // The right signature over another message.
        let (key, signature) = craft(b"another message", a, identity, r, identity);
        cases.push(("wrong message", make(key, signature), false));
    }
    let mut single = EntryVerifier::new(ORIGIN).unwrap();
    let single_results: Vec<bool> = cases.iter().map(|(_, signed, _)| single.verify(signed.clone()).is_ok()).collect();
    for ((what, _, expected), got) in cases.iter().zip(&single_results) {
        assert_eq!(got, expected, "single verification of {what}");
    }
    // The batch path, over the whole mixed set, in chunks, and over the valid ones alone.
    for chunk_size in [1, 3, 17, cases.len()] {
        let mut batch = EntryVerifier::new(ORIGIN).unwrap();
        for (chunk, expected) in cases.chunks(chunk_size).zip(single_results.chunks(chunk_size)) {
            let results = batch.verify_batch(chunk.iter().map(|(_, signed, _)| signed.clone()).collect());
            let got: Vec<bool> = results.iter().map(Result::is_ok).collect();
            assert_eq!(got, expected, "batch of {chunk_size}");
        }
    }
    let valid: Vec<SignedEntry> = cases.iter().filter(|case| case.2).map(|case| case.1.clone()).collect();
    let mut batch = EntryVerifier::new(ORIGIN).unwrap();
    assert!(batch.verify_batch(valid).iter().all(Result::is_ok));
}
