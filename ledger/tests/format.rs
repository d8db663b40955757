//! The worked examples of `docs/FORMAT.md`, rebuilt from fixed keys, ids and timestamps so that the document
//! cannot drift from the code; and `tools/verify_format.py`, a verifier written from the document alone, run
//! over them.
//!
//! Every block of the document that follows a marker line `<!-- example: NAME -->` (a fenced `hex`, `json` or
//! `text` block, or a Markdown table) is generated here and compared with the document: hex ignoring white
//! space, JSON as values, text and tables line by line.
//!
//! - `AIDTRAIL_PRINT_FORMAT_EXAMPLES=1 cargo test -p ledger --test ledger format` prints every block.
//! - `AIDTRAIL_PRINT_FORMAT_EXAMPLES=write cargo test -p ledger --test ledger format` rewrites the blocks of
//!   `docs/FORMAT.md` in place (after a deliberate change of the format, see its "Versioning" section).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer as _, SigningKey};
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Commitment, Country, Date, Digest, Donor, Earmark,
    Entry, EntryId, EntryVerifier, OrgId, ProgrammeId, PublicKey, Recipient, Role, SignedEntry, State, VoucherId,
    beneficiary_commitment, donor_reference, pro_rata_shares, signed_message,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};

/// The origin of the example log.
const ORIGIN: &str = "aidtrail.example/log";
/// The timestamp of the first example entry: 2026-03-02T08:00:00Z. Entry `i` is signed `i` minutes later.
const T0_MS: u64 = 1_772_438_400_000;
/// The random value of the example erasure (in a real erasure it is drawn at random and destroyed).
const ERASURE_RANDOM: [u8; 32] = [0x5e; 32];
/// The environment variable that prints (`1`) or rewrites (`write`) the document's example blocks.
const PRINT_VARIABLE: &str = "AIDTRAIL_PRINT_FORMAT_EXAMPLES";

// ---------------------------------------------------------------------------------------------------------
// The example log
// ---------------------------------------------------------------------------------------------------------

/// The text whose SHA-256 is the example key named `name`.
fn key_seed_text(name: &str) -> String {
    format!("aidtrail format example {name}")
}

/// An example signing key: the Ed25519 secret key (seed) is SHA-256("aidtrail format example <name>").
fn example_key(name: &str) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(key_seed_text(name).as_bytes()).into())
}

fn example_public(name: &str) -> PublicKey {
    PublicKey(example_key(name).verifying_key().to_bytes())
}

/// The names of every example key, in the order the document lists them.
const KEY_NAMES: [&str; 8] =
    ["operator", "operator-2", "helping-hands", "clinique-goma", "clinique-goma-2", "audit-co", "audit-co-2", "other"];

/// The example entry ids: the 8 ASCII bytes "aidtrail" then the entry's log index as a big-endian u64.
fn example_id(index: u64) -> EntryId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(b"aidtrail");
    bytes[8..].copy_from_slice(&index.to_be_bytes());
    EntryId(bytes)
}

fn timestamp(index: u64) -> u64 {
    T0_MS + index * 60_000
}

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

fn programme(id: &str) -> ProgrammeId {
    ProgrammeId::new(id).unwrap()
}

fn eur() -> AssetCode {
    AssetCode::new("EUR").unwrap()
}

fn country(code: &str) -> Country {
    code.parse().unwrap()
}

fn date(text: &str) -> Date {
    text.parse().unwrap()
}

/// The anonymous donor's secret receipt in the examples (a real one is 32 random bytes).
fn donor_secret() -> [u8; 32] {
    Sha256::digest(b"aidtrail format example donor secret receipt").into()
}

/// The salt of the example beneficiary commitment (a real one is 32 fresh random bytes).
fn beneficiary_salt() -> [u8; 32] {
    Sha256::digest(b"aidtrail format example beneficiary salt").into()
}

/// The clinic's private pseudonym of the example patient.
const BENEFICIARY_PSEUDONYM: &str = "CG-2026-004471";

/// The document kept off the ledger whose SHA-256 is the spend's evidence.
const EVIDENCE_DOCUMENT: &str = "Invoice 2026-0042, Pharmacie du Lac: artemether-lumefantrine 20/120 mg x 24";

/// The audit report kept off the ledger whose SHA-256 the sign-off carries.
const AUDIT_REPORT: &str = "Audit report HH-2026-03: Helping Hands accounts, 1-31 March 2026";

/// The example voucher ids: the 8 ASCII bytes "voucher-" then a big-endian u64 (a real one is random).
fn example_voucher(number: u64) -> VoucherId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(b"voucher-");
    id[8..].copy_from_slice(&number.to_be_bytes());
    VoucherId(id)
}

fn usd() -> AssetCode {
    AssetCode::new("USD").unwrap()
}

/// One entry of the example log.
struct Example {
    /// The name used in the document's markers (`donation leaf`, `donation json`).
    name: &'static str,
    /// The example key that signs it.
    signer: &'static str,
    entry: Entry,
}

/// The example log: every kind of entry, in an order that `State::apply` accepts.
fn example_log() -> Vec<Example> {
    let pledge_expiry_ms = 1_782_777_600_000; // 2026-06-30T00:00:00Z
    let rows: Vec<(&'static str, &'static str, &'static str, Body)> = vec![
        (
            "genesis",
            "operator",
            "operator",
            Body::Genesis {
                origin: ORIGIN.into(),
                operator: org("operator"),
                operator_key: example_public("operator"),
            },
        ),
        (
            "declare_asset",
            "operator",
            "operator",
            Body::DeclareAsset { asset: eur(), decimals: 2, asset_kind: AssetKind::Fiat },
        ),
        (
            "register_organisation",
            "operator",
            "operator",
            Body::RegisterOrganisation {
                organisation: org("helping-hands"),
                role: Role::Ngo,
                name: "Helping Hands International".into(),
                country: country("FR"),
                iati_identifier: Some("FR-RNA-W751234567".into()),
                attribution_policy: AttributionPolicy::Fifo,
                public_key: example_public("helping-hands"),
            },
        ),
        (
            "register_clinic",
            "operator",
            "operator",
            Body::RegisterOrganisation {
                organisation: org("clinique-goma"),
                role: Role::Clinic,
                name: "Clinique de Goma".into(),
                country: country("CD"),
                iati_identifier: None,
                attribution_policy: AttributionPolicy::ProRata,
                public_key: example_public("clinique-goma"),
            },
        ),
        (
            "register_auditor",
            "operator",
            "operator",
            Body::RegisterOrganisation {
                organisation: org("audit-co"),
                role: Role::Auditor,
                name: "Audit & Co".into(),
                country: country("BE"),
                iati_identifier: None,
                attribution_policy: AttributionPolicy::Fifo,
                public_key: example_public("audit-co"),
            },
        ),
        (
            "declare_programme",
            "helping-hands",
            "helping-hands",
            Body::DeclareProgramme {
                programme: programme("kivu-health"),
                name: "North Kivu primary health care".into(),
                countries: vec![country("CD"), country("RW")],
                sector: "12220".into(),
                iati_identifier: Some("FR-RNA-W751234567-KIVU".into()),
            },
        ),
        (
            "donation",
            "helping-hands",
            "helping-hands",
            Body::Donation {
                donor: Donor::Anonymous(donor_reference(&donor_secret())),
                asset: eur(),
                amount: Amount(250_000),
                value_date: date("2026-03-02"),
                earmark: Some(Earmark::Programme(programme("kivu-health"))),
                external_reference: Some("SEPA-2026-03-0042".into()),
            },
        ),
        (
            "transfer",
            "helping-hands",
            "helping-hands",
            Body::Transfer {
                to: org("clinique-goma"),
                asset: eur(),
                amount: Amount(100_000),
                value_date: date("2026-03-02"),
                programme: Some(programme("kivu-health")),
                purpose: "March medicines and consultations".into(),
            },
        ),
        ("acknowledgement", "clinique-goma", "clinique-goma", Body::Acknowledgement { transfer: example_id(7) }),
        (
            "spend",
            "clinique-goma",
            "clinique-goma",
            Body::Spend {
                asset: eur(),
                amount: Amount(12_500),
                value_date: date("2026-03-02"),
                category: Category::Medicine,
                recipient: Recipient::Beneficiary(beneficiary_commitment(
                    &beneficiary_salt(),
                    BENEFICIARY_PSEUDONYM.as_bytes(),
                )),
                programme: Some(programme("kivu-health")),
                evidence: Some(Digest(Sha256::digest(EVIDENCE_DOCUMENT.as_bytes()).into())),
                description: "Malaria treatment, 3 days".into(),
            },
        ),
        (
            "pledge",
            "helping-hands",
            "helping-hands",
            Body::Pledge {
                to: org("clinique-goma"),
                asset: eur(),
                amount: Amount(50_000),
                value_date: date("2026-03-02"),
                verifier: org("audit-co"),
                result: "200 children vaccinated against measles".into(),
                expires_at_ms: pledge_expiry_ms,
                programme: Some(programme("kivu-health")),
            },
        ),
        (
            "attestation",
            "audit-co",
            "audit-co",
            Body::Attestation {
                pledge: example_id(10),
                statement: "Vaccination registers checked on site".into(),
                evidence: None,
            },
        ),
        ("pledge_release", "helping-hands", "helping-hands", Body::PledgeRelease { pledge: example_id(10) }),
        (
            "second_pledge",
            "helping-hands",
            "helping-hands",
            Body::Pledge {
                to: org("clinique-goma"),
                asset: eur(),
                amount: Amount(20_000),
                value_date: date("2026-03-02"),
                verifier: org("audit-co"),
                result: "Maternity ward reopened".into(),
                expires_at_ms: timestamp(13) + 30_000,
                programme: Some(programme("kivu-health")),
            },
        ),
        ("pledge_void", "helping-hands", "helping-hands", Body::PledgeVoid { pledge: example_id(13) }),
        (
            "key_rotation",
            "clinique-goma",
            "clinique-goma",
            Body::KeyRotation { organisation: org("clinique-goma"), new_key: example_public("clinique-goma-2") },
        ),
        (
            "key_revocation",
            "audit-co",
            "audit-co",
            Body::KeyRevocation {
                organisation: org("audit-co"),
                revoked_key: example_public("audit-co"),
                replacement_key: Some(example_public("audit-co-2")),
                reason: "Laptop lost in transit".into(),
            },
        ),
        (
            "operator_key_rotation",
            "operator",
            "operator",
            Body::OperatorKeyRotation { new_key: example_public("operator-2") },
        ),
        (
            "reversal",
            "clinique-goma",
            "clinique-goma-2",
            Body::Reversal { target: example_id(9), reason: "Invoice recorded twice".into() },
        ),
        (
            "declare_second_asset",
            "operator",
            "operator-2",
            Body::DeclareAsset { asset: usd(), decimals: 2, asset_kind: AssetKind::Fiat },
        ),
        (
            "conversion",
            "helping-hands",
            "helping-hands",
            Body::Conversion {
                from_asset: eur(),
                from_amount: Amount(10_000),
                to_asset: usd(),
                to_amount: Amount(10_835),
                rate: "1.0835".parse().unwrap(),
                rate_source: "ECB euro reference rate 2026-03-02".into(),
                value_date: date("2026-03-02"),
            },
        ),
        (
            "refund",
            "helping-hands",
            "helping-hands",
            Body::Refund {
                donation: example_id(6),
                asset: eur(),
                amount: Amount(5_000),
                value_date: date("2026-03-02"),
                reason: "Donor asked for the unspent part of the gift back".into(),
            },
        ),
        (
            "voucher_issue",
            "helping-hands",
            "helping-hands",
            Body::VoucherIssue {
                programme: programme("kivu-health"),
                asset: eur(),
                face_value: Amount(1_500),
                category: Category::Consultation,
                clinics: vec![org("clinique-goma")],
                vouchers: vec![example_voucher(1), example_voucher(2)],
                value_date: date("2026-03-02"),
                expires_at_ms: timestamp(22) + 90_000,
            },
        ),
        (
            "voucher_redemption",
            "clinique-goma",
            "clinique-goma-2",
            Body::VoucherRedemption { voucher: example_voucher(1), evidence: None },
        ),
        (
            "voucher_settlement",
            "helping-hands",
            "helping-hands",
            Body::VoucherSettlement {
                clinic: org("clinique-goma"),
                vouchers: vec![example_voucher(1)],
                value_date: date("2026-03-02"),
            },
        ),
        ("voucher_expiry", "helping-hands", "helping-hands", Body::VoucherExpiry { issue: example_id(22) }),
        (
            "accounts_sign_off",
            "audit-co",
            "audit-co-2",
            Body::AccountsSignOff {
                organisation: org("helping-hands"),
                tree_size: 26,
                period_start: date("2026-03-01"),
                period_end: date("2026-03-31"),
                report: Digest(Sha256::digest(AUDIT_REPORT.as_bytes()).into()),
                opinion: "The accounts agree with the log; no exception found".into(),
            },
        ),
        (
            "erasure",
            "clinique-goma",
            "clinique-goma-2",
            Body::Erasure {
                count: 1,
                digest: ledger::erasure_digest(
                    &ERASURE_RANDOM,
                    &[beneficiary_commitment(&beneficiary_salt(), BENEFICIARY_PSEUDONYM.as_bytes())],
                ),
                reason: ledger::ErasureReason::DataSubjectRequest,
            },
        ),
    ];
    rows.into_iter()
        .enumerate()
        .map(|(index, (name, author, signer, body))| Example {
            name,
            signer,
            entry: Entry {
                entry_id: example_id(index as u64),
                author: org(author),
                timestamp_ms: timestamp(index as u64),
                body,
            },
        })
        .collect()
}

fn sign(example: &Example) -> SignedEntry {
    SignedEntry::sign(example.entry.clone(), ORIGIN, &example_key(example.signer)).unwrap()
}

/// The example log's leaves, in log order.
fn example_leaves() -> Vec<Vec<u8>> {
    example_log().iter().map(|example| sign(example).into_bytes()).collect()
}

/// Entries outside the log that cover every branch the log does not: the other donor, earmark and recipient
/// types, absent options, empty texts, extreme amounts and dates, multi-byte UTF-8, every role and category.
fn coverage_entries() -> Vec<Entry> {
    let mut bodies = vec![
        Body::Donation {
            donor: Donor::Organisation(org("fondation-x")),
            asset: eur(),
            amount: Amount(u128::MAX),
            value_date: date("1970-01-01"),
            earmark: Some(Earmark::Country(country("CD"))),
            external_reference: None,
        },
        Body::Donation {
            donor: Donor::Anonymous(Commitment([0xd0; 32])),
            asset: AssetCode::new("USDC").unwrap(),
            amount: Amount(1),
            value_date: date("9999-12-31"),
            earmark: Some(Earmark::Clinic(org("clinique-goma"))),
            external_reference: Some("0x5f3c9e".into()),
        },
        Body::Donation {
            donor: Donor::Organisation(org("fondation-x")),
            asset: eur(),
            amount: Amount(0),
            value_date: date("2000-02-29"),
            earmark: None,
            external_reference: Some("BANK 42".into()),
        },
        Body::Transfer {
            to: org("ngo-b"),
            asset: eur(),
            amount: Amount(1 << 64),
            value_date: date("2026-12-31"),
            programme: None,
            purpose: String::new(),
        },
        Body::Spend {
            asset: eur(),
            amount: Amount(99),
            value_date: date("2026-03-03"),
            category: Category::Other,
            recipient: Recipient::Supplier(org("pharma-supply")),
            programme: None,
            evidence: None,
            description: String::new(),
        },
        Body::Pledge {
            to: org("ngo-b"),
            asset: eur(),
            amount: Amount(7),
            value_date: date("2026-03-04"),
            verifier: org("audit-co"),
            result: "Santé: 12 puits réparés".into(),
            expires_at_ms: u64::MAX,
            programme: None,
        },
        Body::Attestation { pledge: EntryId([0xee; 16]), statement: String::new(), evidence: Some(Digest([0xab; 32])) },
        Body::KeyRevocation {
            organisation: org("ngo-b"),
            revoked_key: example_public("other"),
            replacement_key: None,
            reason: String::new(),
        },
        Body::DeclareProgramme {
            programme: programme("sahel.water_2026"),
            name: "Eau potable — Sahel".into(),
            countries: vec![country("ML")],
            sector: "14030".into(),
            iati_identifier: None,
        },
        Body::DeclareAsset { asset: AssetCode::new("USDC").unwrap(), decimals: 6, asset_kind: AssetKind::Token },
        Body::DeclareAsset { asset: AssetCode::new("X9").unwrap(), decimals: 18, asset_kind: AssetKind::Fiat },
        Body::Genesis { origin: ORIGIN.into(), operator: org("0perator"), operator_key: example_public("other") },
    ];
    for reason in ledger::ErasureReason::ALL {
        bodies.push(Body::Erasure { count: u32::from(reason.code()) * 1_000_000, digest: Digest([0xe0; 32]), reason });
    }
    for role in [Role::Donor, Role::Ngo, Role::Clinic, Role::Supplier, Role::Auditor] {
        bodies.push(Body::RegisterOrganisation {
            organisation: org(&format!("{role}-1")),
            role,
            name: format!("Clinique de Goma \u{2014} {role}"),
            country: country("ZZ"),
            iati_identifier: (role == Role::Clinic).then(|| "CD-RCCM-12345".into()),
            attribution_policy: if role == Role::Ngo { AttributionPolicy::ProRata } else { AttributionPolicy::Fifo },
            public_key: example_public(role.as_str()),
        });
    }
    for category in [
        Category::Consultation,
        Category::Medicine,
        Category::Surgery,
        Category::MaternalCare,
        Category::Vaccination,
        Category::Laboratory,
        Category::Food,
        Category::Shelter,
        Category::WaterSanitation,
        Category::Transport,
        Category::CashAssistance,
        Category::Equipment,
        Category::Staff,
        Category::Training,
        Category::Administration,
        Category::BankFees,
    ] {
        bodies.push(Body::Spend {
            asset: eur(),
            amount: Amount(u128::from(category.code())),
            value_date: date("2026-03-05"),
            category,
            recipient: Recipient::Beneficiary(Commitment([category.code(); 32])),
            programme: Some(programme("kivu-health")),
            evidence: None,
            description: format!("{category} for patient {}", category.code()),
        });
    }
    bodies
        .into_iter()
        .enumerate()
        .map(|(position, body)| Entry {
            entry_id: EntryId((0xc0de_0000_u128 + position as u128).to_be_bytes()),
            author: org("ngo-b"),
            timestamp_ms: 1_000 * position as u64,
            body,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Hashing, independent of the ledger's merkle module
// ---------------------------------------------------------------------------------------------------------

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// RFC 9162 §2.1.1: the leaf hash SHA-256(0x00 || leaf).
fn rfc_leaf_hash(leaf: &[u8]) -> [u8; 32] {
    sha256(&[&[0x00], leaf])
}

/// RFC 9162 §2.1.1: MTH over leaf hashes, splitting at the largest power of two smaller than n.
fn rfc_root(leaf_hashes: &[[u8; 32]]) -> [u8; 32] {
    match leaf_hashes.len() {
        0 => sha256(&[]),
        1 => leaf_hashes[0],
        n => {
            // The largest power of two smaller than n.
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            sha256(&[&[0x01], &rfc_root(&leaf_hashes[..k]), &rfc_root(&leaf_hashes[k..])])
        }
    }
}

fn example_root() -> [u8; 32] {
    let hashes: Vec<[u8; 32]> = example_leaves().iter().map(|leaf| rfc_leaf_hash(leaf)).collect();
    rfc_root(&hashes)
}

/// The C2SP signed-note key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
fn note_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    sha256(&[name.as_bytes(), b"\n", &[0x01], public_key])[..4].try_into().unwrap()
}

/// The checkpoint key of the example log: named like the log (the server's default), seed "checkpoint".
fn checkpoint_key() -> SigningKey {
    example_key("checkpoint")
}

fn verifier_key_string() -> String {
    let public = checkpoint_key().verifying_key().to_bytes();
    let mut typed = vec![0x01];
    typed.extend_from_slice(&public);
    format!("{ORIGIN}+{}+{}", hex::encode(note_key_id(ORIGIN, &public)), BASE64.encode(typed))
}

/// The signed checkpoint of the whole example log, built from the C2SP specifications by hand.
fn checkpoint_note() -> String {
    let size = example_log().len();
    let text = format!("{ORIGIN}\n{size}\n{}\n", BASE64.encode(example_root()));
    let key = checkpoint_key();
    let mut signature = note_key_id(ORIGIN, &key.verifying_key().to_bytes()).to_vec();
    signature.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    format!("{text}\n\u{2014} {ORIGIN} {}\n", BASE64.encode(signature))
}

// ---------------------------------------------------------------------------------------------------------
// Field-by-field breakdowns, encoded here from the document's layouts
// ---------------------------------------------------------------------------------------------------------

/// Bytes built field by field, each with what it means.
#[derive(Default)]
struct Annotated {
    bytes: Vec<u8>,
    rows: Vec<(usize, Vec<u8>, String)>,
}

impl Annotated {
    fn field(&mut self, bytes: &[u8], meaning: impl Into<String>) {
        self.rows.push((self.bytes.len(), bytes.to_vec(), meaning.into()));
        self.bytes.extend_from_slice(bytes);
    }

    fn str8(&mut self, text: &str, what: &str) {
        self.field(&[u8::try_from(text.len()).unwrap()], format!("{what}: length {}", text.len()));
        self.field(text.as_bytes(), format!("{what}: \"{text}\""));
    }

    fn str16(&mut self, text: &str, what: &str) {
        self.field(&u16::try_from(text.len()).unwrap().to_be_bytes(), format!("{what}: length {}", text.len()));
        self.field(text.as_bytes(), format!("{what}: \"{text}\""));
    }

    fn header(&mut self, entry: &Entry, kind_name: &str) {
        let kind = entry.body.kind().code();
        self.field(&[1], "format version 1");
        self.field(&[kind], format!("kind {kind} ({kind_name})"));
        self.field(&entry.entry_id.0, "entry id");
        self.str8(entry.author.as_str(), "author");
        let when = format!("timestamp_ms {} ({})", entry.timestamp_ms, utc(entry.timestamp_ms));
        self.field(&entry.timestamp_ms.to_be_bytes(), when);
    }

    /// The leaf around these payload bytes: length prefix, payload, signer key, signature.
    fn leaf(self, signed: &SignedEntry) -> Annotated {
        let mut leaf = Annotated::default();
        let length = u16::try_from(self.bytes.len()).unwrap();
        leaf.field(&length.to_be_bytes(), format!("payload length {length}"));
        for (offset, bytes, meaning) in self.rows {
            leaf.rows.push((offset + 2, bytes, meaning));
        }
        leaf.bytes.extend_from_slice(&self.bytes);
        leaf.field(&signed.signer().0, "signer's Ed25519 public key");
        leaf.field(&signed.signature()[..32], "signature R");
        leaf.field(&signed.signature()[32..], "signature s");
        leaf
    }

    fn table(&self) -> String {
        let mut table = String::from("| offset | size | bytes (hex) | meaning |\n|---:|---:|---|---|\n");
        for (offset, bytes, meaning) in &self.rows {
            table.push_str(&format!("| {offset} | {} | `{}` | {meaning} |\n", bytes.len(), hex::encode(bytes)));
        }
        table
    }
}

/// A Unix timestamp in milliseconds as an RFC 3339 UTC time.
fn utc(timestamp_ms: u64) -> String {
    let seconds = (timestamp_ms / 1_000) % 86_400;
    let millis = timestamp_ms % 1_000;
    let date = Date::from_timestamp_ms(timestamp_ms);
    format!("{date}T{:02}:{:02}:{:02}.{millis:03}Z", seconds / 3_600, seconds / 60 % 60, seconds % 60)
}

fn donation_breakdown(example: &Example) -> Annotated {
    let entry = &example.entry;
    let Body::Donation { donor, asset, amount, value_date, earmark, external_reference } = &entry.body else {
        panic!("not a donation")
    };
    let mut payload = Annotated::default();
    payload.header(entry, "donation");
    let Donor::Anonymous(reference) = donor else { panic!("the example donor is anonymous") };
    payload.field(&[2], "donor type 2 (anonymous)");
    payload.field(&reference.0, "donor reference");
    payload.str8(asset.as_str(), "asset");
    payload.field(&amount.0.to_be_bytes(), format!("amount {} minor units (u128)", amount.0));
    payload.field(&value_date.days().to_be_bytes(), format!("value date: day {} = {value_date}", value_date.days()));
    let Some(Earmark::Programme(earmarked)) = earmark else { panic!("the example earmark names a programme") };
    payload.field(&[1], "earmark present");
    payload.field(&[1], "earmark type 1 (programme)");
    payload.str8(earmarked.as_str(), "earmark programme");
    let reference = external_reference.as_deref().expect("the example has an external reference");
    payload.field(&[1], "external reference present");
    payload.str8(reference, "external reference");
    payload.leaf(&sign(example))
}

fn spend_breakdown(example: &Example) -> Annotated {
    let entry = &example.entry;
    let Body::Spend { asset, amount, value_date, category, recipient, programme, evidence, description } = &entry.body
    else {
        panic!("not a spend")
    };
    let mut payload = Annotated::default();
    payload.header(entry, "spend");
    payload.str8(asset.as_str(), "asset");
    payload.field(&amount.0.to_be_bytes(), format!("amount {} minor units (u128)", amount.0));
    payload.field(&value_date.days().to_be_bytes(), format!("value date: day {} = {value_date}", value_date.days()));
    payload.field(&[category.code()], format!("category {} ({category})", category.code()));
    let Recipient::Beneficiary(commitment) = recipient else { panic!("the example pays a beneficiary") };
    payload.field(&[1], "recipient type 1 (beneficiary)");
    payload.field(&commitment.0, "beneficiary commitment");
    let programme = programme.as_ref().expect("the example names a programme");
    payload.field(&[1], "programme present");
    payload.str8(programme.as_str(), "programme");
    let evidence = evidence.as_ref().expect("the example has evidence");
    payload.field(&[1], "evidence present");
    payload.field(&evidence.0, "evidence (SHA-256 of the invoice)");
    payload.str16(description, "description");
    payload.leaf(&sign(example))
}

// ---------------------------------------------------------------------------------------------------------
// The document's example blocks
// ---------------------------------------------------------------------------------------------------------

/// A generated block: marker name, block type (`hex`, `json`, `text` or `table`) and content.
struct Generated {
    name: String,
    kind: &'static str,
    content: String,
}

/// Hex in lines of 16 space-separated bytes.
fn hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| line.iter().map(|byte| format!("{byte:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn generated_blocks() -> Vec<Generated> {
    let mut blocks = Vec::new();
    let mut push = |name: String, kind: &'static str, content: String| blocks.push(Generated { name, kind, content });
    let log = example_log();

    let mut keys = String::from("| key name | SHA-256 of | Ed25519 public key |\n|---|---|---|\n");
    for name in KEY_NAMES.iter().chain(["checkpoint"].iter()) {
        keys.push_str(&format!("| {name} | `{}` | `{}` |\n", key_seed_text(name), example_public(name)));
    }
    push("example keys".into(), "table", keys);

    push(
        "donor reference".into(),
        "text",
        format!(
            "secret receipt  = {}\ndonor reference = {}",
            hex::encode(donor_secret()),
            donor_reference(&donor_secret())
        ),
    );
    push(
        "beneficiary commitment".into(),
        "text",
        format!(
            "salt       = {}\npseudonym  = \"{BENEFICIARY_PSEUDONYM}\" (UTF-8, {} bytes)\ncommitment = {}",
            hex::encode(beneficiary_salt()),
            BENEFICIARY_PSEUDONYM.len(),
            beneficiary_commitment(&beneficiary_salt(), BENEFICIARY_PSEUDONYM.as_bytes())
        ),
    );

    let mut hashes = String::from("| index | example | kind | leaf hash |\n|---:|---|---|---|\n");
    for (index, example) in log.iter().enumerate() {
        let signed = sign(example);
        push(format!("{} json", example.name), "json", serde_json::to_string_pretty(&example.entry).unwrap());
        push(format!("{} leaf", example.name), "hex", hex_lines(signed.bytes()));
        hashes.push_str(&format!(
            "| {index} | {} | {} | `{}` |\n",
            example.name,
            example.entry.body.kind(),
            hex::encode(rfc_leaf_hash(signed.bytes()))
        ));
        if example.name == "donation" {
            push("donation payload".into(), "hex", hex_lines(signed.payload()));
            push("donation signed message".into(), "hex", hex_lines(&signed_message(ORIGIN, signed.payload())));
            push("donation leaf hash".into(), "hex", hex::encode(rfc_leaf_hash(signed.bytes())));
            push("donation breakdown".into(), "table", donation_breakdown(example).table());
        }
        if example.name == "spend" {
            push("spend breakdown".into(), "table", spend_breakdown(example).table());
        }
    }
    push("leaf hashes".into(), "table", hashes);
    push(
        "erasure digest".into(),
        "text",
        format!(
            "random     = {}\ncommitment = {}\ndigest     = {}",
            hex::encode(ERASURE_RANDOM),
            beneficiary_commitment(&beneficiary_salt(), BENEFICIARY_PSEUDONYM.as_bytes()),
            ledger::erasure_digest(
                &ERASURE_RANDOM,
                &[beneficiary_commitment(&beneficiary_salt(), BENEFICIARY_PSEUDONYM.as_bytes())]
            )
        ),
    );
    push("root".into(), "hex", hex::encode(example_root()));
    push("checkpoint".into(), "text", checkpoint_note());
    push("checkpoint verifier key".into(), "text", verifier_key_string());
    let public = checkpoint_key().verifying_key().to_bytes();
    push(
        "checkpoint key id".into(),
        "text",
        format!(
            "SHA-256(\"{ORIGIN}\" || 0a || 01 || {})\n  = {}\nkey id = {}",
            hex::encode(public),
            hex::encode(sha256(&[ORIGIN.as_bytes(), b"\n", &[0x01], &public])),
            hex::encode(note_key_id(ORIGIN, &public))
        ),
    );

    let list = |values: &[u128]| values.iter().map(u128::to_string).collect::<Vec<_>>().join(", ");
    let mut pro_rata = String::from("| amount X | eligible lots, in key order | shares |\n|---:|---|---|\n");
    let cases: [(u128, Vec<u128>); 7] = [
        (10, vec![7, 7, 7]),
        (2, vec![5, 5, 5]),
        (3, vec![1, 1, 1, 1]),
        (3, vec![2, 2, 1]),
        (4, vec![2, 3, 3]),
        (100, vec![50, 30, 20]),
        (5, vec![6, 2, 2]),
    ];
    for (amount, lots) in cases {
        let shares = pro_rata_shares(amount, &lots);
        pro_rata.push_str(&format!("| {amount} | {} | {} |\n", list(&lots), list(&shares)));
    }
    push("pro-rata".into(), "table", pro_rata);
    blocks
}

/// A block of the document that follows an example marker.
struct DocBlock {
    name: String,
    kind: String,
    content: String,
    /// Lines of the document holding the content (without fences), as a half-open range.
    lines: std::ops::Range<usize>,
}

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md")
}

fn doc_blocks(doc: &str) -> Vec<DocBlock> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut position = 0;
    while position < lines.len() {
        let line = lines[position].trim();
        position += 1;
        let Some(name) = line.strip_prefix("<!-- example:").and_then(|rest| rest.strip_suffix("-->")) else {
            continue;
        };
        let name = name.trim().to_string();
        let opening = lines.get(position).map(|line| line.trim()).unwrap_or_default();
        if let Some(kind) = opening.strip_prefix("```") {
            let start = position + 1;
            let end = (start..lines.len())
                .find(|&at| lines[at].trim() == "```")
                .unwrap_or_else(|| panic!("the block of example {name:?} is not closed"));
            blocks.push(DocBlock {
                name,
                kind: kind.trim().to_string(),
                content: lines[start..end].join("\n"),
                lines: start..end,
            });
            position = end + 1;
        } else if opening.starts_with('|') {
            let start = position;
            let end = (start..lines.len()).find(|&at| !lines[at].trim().starts_with('|')).unwrap_or(lines.len());
            let content = lines[start..end].join("\n");
            blocks.push(DocBlock { name, kind: "table".into(), content, lines: start..end });
            position = end;
        } else {
            panic!("example marker {name:?} is not followed by a fenced block or a table");
        }
    }
    blocks
}

fn table_cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|line| line.trim().trim_matches('|').split('|').map(|cell| cell.trim().to_string()).collect())
        .collect()
}

/// Whether a document block says the same as a generated one.
fn same_content(kind: &str, document: &str, generated: &str) -> bool {
    match kind {
        "hex" => {
            let strip = |text: &str| text.split_whitespace().collect::<String>().to_lowercase();
            strip(document) == strip(generated)
        }
        "json" => match (serde_json::from_str::<Value>(document), serde_json::from_str::<Value>(generated)) {
            (Ok(document), Ok(generated)) => document == generated,
            _ => false,
        },
        "table" => table_cells(document) == table_cells(generated),
        _ => {
            let lines = |text: &str| text.trim_end().lines().map(str::trim_end).map(String::from).collect::<Vec<_>>();
            lines(document) == lines(generated)
        }
    }
}

fn print_or_write_blocks(generated: &[Generated], mode: &str) {
    if mode == "write" {
        let path = doc_path();
        let doc = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = doc.lines().map(String::from).collect();
        let mut blocks = doc_blocks(&doc);
        // Replace from the end so earlier line numbers stay valid.
        blocks.sort_by_key(|block| std::cmp::Reverse(block.lines.start));
        for block in blocks {
            if let Some(new) = generated.iter().find(|candidate| candidate.name == block.name) {
                let replacement: Vec<String> = new.content.trim_end().lines().map(String::from).collect();
                lines.splice(block.lines.clone(), replacement);
            }
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        println!("rewrote the example blocks of {}", path.display());
    } else {
        for block in generated {
            println!("<!-- example: {} -->", block.name);
            if block.kind == "table" {
                println!("{}", block.content.trim_end());
            } else {
                println!("```{}\n{}\n```", block.kind, block.content.trim_end());
            }
            println!();
        }
    }
}

#[test]
fn examples_in_the_document_match_the_code() {
    let generated = generated_blocks();
    if let Ok(mode) = std::env::var(PRINT_VARIABLE) {
        print_or_write_blocks(&generated, &mode);
    }
    let doc = std::fs::read_to_string(doc_path()).expect("docs/FORMAT.md exists");
    let blocks = doc_blocks(&doc);
    let mut problems = Vec::new();
    for wanted in &generated {
        let found: Vec<&DocBlock> = blocks.iter().filter(|block| block.name == wanted.name).collect();
        if found.is_empty() {
            problems.push(format!("example {:?} is missing from the document", wanted.name));
        }
        for block in found {
            if block.kind != wanted.kind {
                problems.push(format!("example {:?} is a {} block; expected {}", wanted.name, block.kind, wanted.kind));
            } else if !same_content(wanted.kind, &block.content, &wanted.content) {
                problems.push(format!(
                    "example {:?} differs from the code; the code gives:\n{}",
                    wanted.name, wanted.content
                ));
            }
        }
    }
    for block in &blocks {
        if !generated.iter().any(|wanted| wanted.name == block.name) {
            problems.push(format!("the document has an example {:?} that the test does not generate", block.name));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/FORMAT.md is out of date ({PRINT_VARIABLE}=write regenerates its examples):\n\n{}",
        problems.join("\n\n")
    );
}

#[test]
fn the_breakdowns_encode_like_the_code() {
    let log = example_log();
    let donation = log.iter().find(|example| example.name == "donation").unwrap();
    assert_eq!(donation_breakdown(donation).bytes, sign(donation).bytes());
    let spend = log.iter().find(|example| example.name == "spend").unwrap();
    assert_eq!(spend_breakdown(spend).bytes, sign(spend).bytes());
}

#[test]
fn the_example_log_obeys_the_money_rules() {
    let log = example_log();
    let mut kinds: Vec<_> = log.iter().map(|example| example.entry.body.kind()).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, ledger::Kind::ALL.to_vec(), "the example log has an entry of every kind");
    let mut verifier = EntryVerifier::new(ORIGIN).unwrap();
    let mut state = State::new();
    let mut after_reversal = None;
    for (index, example) in log.iter().enumerate() {
        let signed = sign(example);
        assert_eq!(SignedEntry::decode(signed.bytes()).unwrap(), signed, "{}", example.name);
        let verified = verifier.verify(signed).unwrap_or_else(|error| panic!("{}: {error}", example.name));
        assert_eq!(verified.leaf_hash(), ledger::merkle::leaf_hash(verified.bytes()));
        assert_eq!(verified.leaf_hash(), rfc_leaf_hash(verified.bytes()));
        let applied = state.apply(&verified).unwrap_or_else(|rejection| panic!("{}: {rejection}", example.name));
        assert_eq!(applied.index, index as u64);
        if example.name == "reversal" {
            after_reversal = Some(state.clone());
        }
    }
    // The lots of the attribution walk-through in the document's "Fund attribution" section.
    let available = |state: &State, id: &str, asset: &AssetCode| {
        let profile = state.organisation_profile(&org(id)).unwrap();
        profile.balances.iter().find(|balance| &balance.asset == asset).map_or(0, |balance| balance.available)
    };
    let version_1 = after_reversal.expect("the log has the reversal");
    assert_eq!(available(&version_1, "helping-hands", &eur()), 100_000);
    assert_eq!(available(&version_1, "clinique-goma", &eur()), 150_000);
    let trace = version_1.forward_trace(&example_id(6)).unwrap();
    assert_eq!((trace.held, trace.spent, trace.reserved, trace.returned), (250_000, 0, 0, 0));
    // Then the conversion, refund and vouchers (entries 19 to 26).
    assert_eq!(available(&state, "helping-hands", &eur()), 83_500);
    assert_eq!(available(&state, "helping-hands", &usd()), 10_835);
    assert_eq!(available(&state, "clinique-goma", &eur()), 150_000);
    let trace = state.forward_trace(&example_id(6)).unwrap();
    assert_eq!(
        (trace.held, trace.spent, trace.reserved, trace.returned, trace.converted),
        (233_500, 1_500, 0, 5_000, 10_000)
    );
    assert_eq!(trace.positions[1].asset, usd());
    assert_eq!((trace.positions[1].received, trace.positions[1].held), (10_835, 10_835));
    let programmes = state.voucher_programmes();
    assert_eq!(programmes.len(), 1);
    let vouchers = &programmes[0];
    assert_eq!((vouchers.issued, vouchers.redeemed, vouchers.settled, vouchers.expired), (2, 1, 1, 1));
    assert_eq!(state.sign_offs_of(&org("helping-hands")).len(), 1);
    let spend = state.backward_trace(&example_id(9)).unwrap();
    assert!(spend.reversed);
    assert_eq!(spend.sources.len(), 1);
    assert_eq!((spend.sources[0].donation_index, spend.sources[0].amount), (6, 12_500));
    // The checkpoint built by hand from the C2SP specifications is the one the ledger's note module signs.
    let signer = ledger::note::NoteSigner::new(ORIGIN, checkpoint_key()).unwrap();
    assert_eq!(signer.verifier().to_string(), verifier_key_string());
    let note = ledger::note::Checkpoint::new(ORIGIN, log.len() as u64, example_root()).sign(&signer).unwrap();
    assert_eq!(note, checkpoint_note());
}

#[test]
fn the_json_view_reads_missing_options_as_absent_and_refuses_unknown_fields() {
    let log = example_log();
    let mut json = serde_json::to_value(&log[3].entry).unwrap();
    assert_eq!(json["body"]["iati_identifier"], Value::Null, "absent options are written as null");
    json["body"].as_object_mut().unwrap().remove("iati_identifier");
    assert_eq!(serde_json::from_value::<Entry>(json.clone()).unwrap(), log[3].entry);
    json["body"]["colour"] = "red".into();
    assert!(serde_json::from_value::<Entry>(json).is_err());
}

// ---------------------------------------------------------------------------------------------------------
// The independent Python verifier
// ---------------------------------------------------------------------------------------------------------

/// Leaf bytes around a payload that need not be canonical, validly signed for the example log.
fn sign_raw(payload: &[u8], key: &SigningKey) -> Vec<u8> {
    let mut leaf = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    leaf.extend_from_slice(payload);
    leaf.extend_from_slice(key.verifying_key().as_bytes());
    leaf.extend_from_slice(&key.sign(&signed_message(ORIGIN, payload)).to_bytes());
    leaf
}

/// A signature `(R, s)` made by hand for the key `[a]B + torsion_a` with nonce point `[r]B + torsion_r`.
fn craft(payload: &[u8], a: Scalar, torsion_a: EdwardsPoint, r: Scalar, torsion_r: EdwardsPoint) -> Vec<u8> {
    let key = (ED25519_BASEPOINT_POINT * a + torsion_a).compress().to_bytes();
    let nonce = (ED25519_BASEPOINT_POINT * r + torsion_r).compress().to_bytes();
    let mut hasher = Sha512::new();
    hasher.update(nonce);
    hasher.update(key);
    hasher.update(signed_message(ORIGIN, payload));
    let k = Scalar::from_bytes_mod_order_wide(&hasher.finalize().into());
    let mut leaf = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    leaf.extend_from_slice(payload);
    leaf.extend_from_slice(&key);
    leaf.extend_from_slice(&nonce);
    leaf.extend_from_slice((r + k * a).as_bytes());
    leaf
}

/// Leaves that a verifier must refuse, each with why; every one is also refused by the ledger itself.
fn bad_leaves() -> Vec<(&'static str, Vec<u8>)> {
    let log = example_log();
    let donation = sign(&log[6]);
    let payload = donation.payload().to_vec();
    let key = example_key("helping-hands");
    let identity = EdwardsPoint::default();
    let a = Scalar::from(0x9e37_79b9_7f4a_7c15u64);
    let r = Scalar::from(0x7f4a_7c15_9e37_79b9u64);
    let mut bad: Vec<(&'static str, Vec<u8>)> = Vec::new();

    let mut flipped = donation.bytes().to_vec();
    flipped[2 + 1 + 1 + 16 + 14 + 8 + 1 + 32 + 4 + 15] ^= 0x01; // the amount's last byte
    bad.push(("one bit of the amount flipped", flipped));
    let mut flipped = donation.bytes().to_vec();
    let s_lowest = flipped.len() - 32;
    flipped[s_lowest] ^= 0x01;
    bad.push(("one bit of the signature flipped", flipped));
    let mut longer = donation.bytes().to_vec();
    longer.push(0);
    bad.push(("a byte after the signature", longer));

    // s + l: the equation still holds modulo l, only the canonical-s rule refuses it.
    let mut non_canonical_s = donation.bytes().to_vec();
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let s_start = non_canonical_s.len() - 32;
    let mut carry = 0u16;
    for (byte, l_byte) in non_canonical_s[s_start..].iter_mut().zip(l) {
        let sum = u16::from(*byte) + u16::from(l_byte) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    bad.push(("s + l (non-canonical s)", non_canonical_s));
    // The identity as key and R with s = 0 satisfies the equation for every message.
    let mut weak = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    weak.extend_from_slice(&payload);
    let mut identity_encoding = [0u8; 32];
    identity_encoding[0] = 1;
    weak.extend_from_slice(&identity_encoding);
    weak.extend_from_slice(&identity_encoding);
    weak.extend_from_slice(&[0u8; 32]);
    bad.push(("small-order key and R, s = 0", weak));
    bad.push(("key with a torsion component", craft(&payload, a, EIGHT_TORSION[1], r, identity)));
    bad.push(("R with a torsion component", craft(&payload, a, identity, r, EIGHT_TORSION[2])));
    let mut non_canonical_r = craft(&payload, a, identity, r, identity);
    let r_start = non_canonical_r.len() - 64;
    let mut p_plus_one = [0xffu8; 32];
    p_plus_one[0] = 0xee;
    p_plus_one[31] = 0x7f;
    non_canonical_r[r_start..r_start + 32].copy_from_slice(&p_plus_one);
    bad.push(("non-canonical R (y = p + 1)", non_canonical_r));
    let mut wrong_log = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    wrong_log.extend_from_slice(&payload);
    wrong_log.extend_from_slice(key.verifying_key().as_bytes());
    wrong_log.extend_from_slice(&key.sign(&signed_message("other.example/log", &payload)).to_bytes());
    bad.push(("signed for another log", wrong_log));

    // Payloads that are not canonical, validly signed.
    let changed = |position: usize, value: u8| {
        let mut changed = payload.clone();
        changed[position] = value;
        changed
    };
    bad.push(("format version 2", sign_raw(&changed(0, 2), &key)));
    bad.push(("kind 17", sign_raw(&changed(1, 17), &key)));
    let erasure = sign(log.iter().find(|example| example.name == "erasure").unwrap()).payload().to_vec();
    let erasure_changed = |position: usize, value: u8| {
        let mut changed = erasure.clone();
        changed[position] = value;
        changed
    };
    let clinic_key = example_key("clinique-goma-2");
    bad.push(("an erasure with format version 1", sign_raw(&erasure_changed(0, 1), &clinic_key)));
    bad.push(("erasure reason 5", sign_raw(&erasure_changed(erasure.len() - 1, 5), &clinic_key)));
    bad.push(("an erasure of count 0", sign_raw(&erasure_changed(erasure.len() - 34, 0), &clinic_key)));
    bad.push(("upper-case letter in the author", sign_raw(&changed(1 + 1 + 16 + 1, b'H'), &key)));
    let earmark_presence = 1 + 1 + 16 + 14 + 8 + 1 + 32 + 4 + 16 + 4;
    assert_eq!(payload[earmark_presence], 1);
    bad.push(("presence byte 2", sign_raw(&changed(earmark_presence, 2), &key)));
    bad.push(("earmark type 4", sign_raw(&changed(earmark_presence + 1, 4), &key)));
    let mut after_last_day = payload.clone();
    after_last_day[earmark_presence - 4..earmark_presence].copy_from_slice(&2_932_897u32.to_be_bytes());
    bad.push(("value date after 9999-12-31", sign_raw(&after_last_day, &key)));
    let mut short = payload.clone();
    short.pop();
    bad.push(("payload one byte short", sign_raw(&short, &key)));
    let mut trailing = payload.clone();
    trailing.push(0);
    bad.push(("a byte after the payload's last field", sign_raw(&trailing, &key)));

    let transfer = sign(&log[7]).payload().to_vec();
    let purpose_start = transfer.len() - "March medicines and consultations".len();
    let mut control = transfer.clone();
    control[purpose_start + 5] = b'\n';
    bad.push(("line break in a text", sign_raw(&control, &key)));
    let mut leading_space = transfer.clone();
    leading_space[purpose_start] = b' ';
    bad.push(("text starting with a space", sign_raw(&leading_space, &key)));
    let mut bad_utf8 = transfer.clone();
    bad_utf8[purpose_start] = 0xc3;
    bad.push(("text that is not UTF-8", sign_raw(&bad_utf8, &key)));

    let programme = sign(&log[5]).payload().to_vec();
    let countries = programme.windows(5).position(|window| window == [2, b'C', b'D', b'R', b'W']).unwrap();
    let mut unsorted = programme.clone();
    unsorted[countries + 1..countries + 5].copy_from_slice(b"RWCD");
    bad.push(("countries out of order", sign_raw(&unsorted, &key)));
    let mut lower_case = programme.clone();
    lower_case[countries + 1] = b'c';
    bad.push(("lower-case country", sign_raw(&lower_case, &key)));
    let mut sector = programme.clone();
    sector[countries + 6] = b'x';
    bad.push(("sector not five digits", sign_raw(&sector, &key)));

    let asset = sign(&log[1]).payload().to_vec();
    let mut decimals = asset.clone();
    let decimals_at = asset.len() - 2;
    decimals[decimals_at] = 19;
    bad.push(("19 decimals", sign_raw(&decimals, &key)));
    let mut lower_asset = asset.clone();
    lower_asset[decimals_at - 1] = b'r';
    bad.push(("lower-case asset code", sign_raw(&lower_asset, &key)));

    let genesis = Entry {
        entry_id: example_id(99),
        author: org("operator"),
        timestamp_ms: T0_MS,
        body: Body::Genesis {
            origin: "other.example/log".into(),
            operator: org("operator"),
            operator_key: example_public("operator"),
        },
    };
    let other_log = SignedEntry::sign(genesis, ORIGIN, &example_key("operator")).unwrap().into_bytes();
    bad.push(("genesis naming another log", other_log));
    let plus_payload = log[0].entry.encode().unwrap();
    let origin_at = plus_payload.windows(ORIGIN.len()).position(|window| window == ORIGIN.as_bytes()).unwrap();
    let mut with_plus = plus_payload.clone();
    with_plus[origin_at + 3] = b'+';
    bad.push(("origin with '+'", sign_raw(&with_plus, &example_key("operator"))));
    bad
}

/// Pro-rata splits for the Python verifier to compute: small ones with ties, and large ones whose products
/// need more than 128 bits.
fn pro_rata_cases() -> Vec<(u128, Vec<u128>)> {
    let mut cases = vec![
        (10, vec![7, 7, 7]),
        (3, vec![2, 2, 1]),
        (4, vec![2, 3, 3]),
        (u128::MAX / 3, vec![u128::MAX / 3; 3]),
        (u128::MAX - 1, vec![u128::MAX / 2, u128::MAX / 2 + 1]),
        (12_345, vec![1, 0, 99_999, 7]),
    ];
    let mut seed: u128 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed = seed.wrapping_mul(0x5851_f42d_4c95_7f2d_1405_7b7e_f767_814f).wrapping_add(1);
        seed
    };
    for round in 0..40 {
        let count = 1 + (next() % 6) as usize;
        let shift = if round % 2 == 0 { 100 } else { 8 };
        let lots: Vec<u128> = (0..count).map(|_| next() >> shift).collect();
        let total = lots.iter().fold(0u128, |sum, lot| sum.saturating_add(*lot));
        if total == u128::MAX {
            continue;
        }
        let amount = if total == 0 { 0 } else { next() % (total + 1) };
        cases.push((amount, lots));
    }
    cases
}

fn python_with_cryptography_available() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography.hazmat.primitives.asymmetric.ed25519"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs `tools/verify_format.py` on an input file; returns its exit status and its JSON report.
fn run_python(input: &Value, label: &str) -> (bool, Value) {
    let path = std::env::temp_dir().join(format!(
        "aidtrail-format-{}-{}-{label}.json",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::write(&path, serde_json::to_vec_pretty(input).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/verify_format.py");
    let output = Command::new("python3").arg(&script).arg(&path).output().expect("python3 runs");
    let _ = std::fs::remove_file(&path);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "verify_format.py ({label}) did not print a JSON report ({error}):\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

fn leaves_hex(leaves: &[Vec<u8>]) -> Vec<String> {
    leaves.iter().map(hex::encode).collect()
}

#[test]
fn the_independent_python_verifier_accepts_the_examples_and_rejects_tampering() {
    if !python_with_cryptography_available() {
        assert!(std::env::var_os("CI").is_none(), "python3 with cryptography is required in CI");
        println!("skipped: python3 with cryptography not available");
        return;
    }
    let leaves = example_leaves();
    let coverage: Vec<SignedEntry> = coverage_entries()
        .into_iter()
        .map(|entry| SignedEntry::sign(entry, ORIGIN, &example_key("other")).unwrap())
        .collect();
    // The C2SP entry bundle of the example log: each leaf prefixed with its length as a big-endian u16.
    let mut bundle = Vec::new();
    for leaf in &leaves {
        bundle.extend_from_slice(&u16::try_from(leaf.len()).unwrap().to_be_bytes());
        bundle.extend_from_slice(leaf);
    }
    let input = serde_json::json!({
        "origin": ORIGIN,
        "leaves": leaves_hex(&leaves),
        "root": hex::encode(example_root()),
        "entry_bundle": hex::encode(&bundle),
        "checkpoint": checkpoint_note(),
        "checkpoint_key": verifier_key_string(),
        "other_leaves": coverage.iter().map(|signed| hex::encode(signed.bytes())).collect::<Vec<_>>(),
        "pro_rata": pro_rata_cases().iter().map(|(amount, lots)| serde_json::json!({
            "amount": amount.to_string(),
            "lots": lots.iter().map(u128::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let (ok, report) = run_python(&input, "good");
    assert!(ok, "the Python verifier refused the examples:\n{report:#}");
    assert_eq!(report["root"], hex::encode(example_root()));
    assert_eq!(report["checkpoint_ok"], true, "{report:#}");
    assert_eq!(report["entry_bundle_ok"], true, "{report:#}");
    // Python decoded every entry to the same JSON view and leaf hash as the ledger.
    let expected = example_log().into_iter().map(|example| sign(&example)).chain(coverage);
    let reported = report["leaves"].as_array().unwrap().iter().chain(report["other_leaves"].as_array().unwrap());
    let mut compared = 0;
    for (signed, result) in expected.zip(reported) {
        assert_eq!(result["ok"], true, "{result:#}");
        assert_eq!(result["leaf_hash"], hex::encode(rfc_leaf_hash(signed.bytes())));
        assert_eq!(result["entry"], serde_json::to_value(signed.entry()).unwrap(), "the JSON views differ");
        compared += 1;
    }
    assert_eq!(compared, leaves.len() + coverage_entries().len());
    // Python split amounts pro rata, from the rule as the document states it, like the ledger.
    for ((amount, lots), shares) in pro_rata_cases().iter().zip(report["pro_rata"].as_array().unwrap()) {
        let expected: Vec<String> = pro_rata_shares(*amount, lots).iter().map(u128::to_string).collect();
        assert_eq!(shares, &serde_json::json!(expected), "pro rata {amount} over {lots:?}");
    }

    // One flipped bit in one leaf of the log: that leaf and the root are refused.
    let mut tampered = leaves.clone();
    tampered[6][2 + 60] ^= 0x04;
    let input = serde_json::json!({
        "origin": ORIGIN,
        "leaves": leaves_hex(&tampered),
        "root": hex::encode(example_root()),
    });
    let (ok, report) = run_python(&input, "tampered");
    assert!(!ok, "the Python verifier accepted a tampered log:\n{report:#}");
    let results = report["leaves"].as_array().unwrap();
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result["ok"], index != 6, "leaf {index}: {result:#}");
    }
    assert_ne!(report["root"], hex::encode(example_root()));
    assert_eq!(report["root_ok"], false);

    // Leaves that break the format's or the key rules: the ledger and the Python verifier both refuse each.
    let bad = bad_leaves();
    for (what, leaf) in &bad {
        let mut verifier = EntryVerifier::new(ORIGIN).unwrap();
        let accepted = SignedEntry::decode(leaf).map(|signed| verifier.verify(signed).is_ok()).unwrap_or(false);
        assert!(!accepted, "the ledger accepted a leaf with {what}");
    }
    let input = serde_json::json!({
        "origin": ORIGIN,
        "other_leaves": bad.iter().map(|(_, leaf)| hex::encode(leaf)).collect::<Vec<_>>(),
    });
    let (ok, report) = run_python(&input, "bad");
    assert!(!ok);
    let results = report["other_leaves"].as_array().unwrap();
    assert_eq!(results.len(), bad.len());
    for ((what, _), result) in bad.iter().zip(results) {
        assert_eq!(result["ok"], false, "the Python verifier accepted a leaf with {what}: {result:#}");
        println!("{what}: refused: {}", result["error"]);
    }
}
