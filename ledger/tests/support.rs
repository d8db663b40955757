//! A small world for tests: an operator, organisations with deterministic keys, and helpers that sign,
//! verify and apply entries the way the log service does.

use ed25519_dalek::SigningKey;
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Commitment, Country, Date, Donor, Earmark, Entry,
    EntryId, EntryVerifier, OrgId, ProgrammeId, PublicKey, Recipient, Rejection, Role, SignedEntry, State,
};
use sha2::{Digest, Sha256};

pub const ORIGIN: &str = "aid.example.org/log";
pub const OPERATOR: &str = "operator";

/// A deterministic signing key for a name.
pub fn key_for(name: &str) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("test key {name}").as_bytes()).into())
}

pub fn public(name: &str) -> PublicKey {
    PublicKey(key_for(name).verifying_key().to_bytes())
}

pub fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

pub fn eur() -> AssetCode {
    AssetCode::new("EUR").unwrap()
}

pub fn date(text: &str) -> Date {
    text.parse().unwrap()
}

/// A fresh commitment per call, derived from a counter (a real client uses a random salt).
pub fn commitment(seed: u64) -> Commitment {
    Commitment(Sha256::digest(format!("beneficiary {seed}").as_bytes()).into())
}

pub struct World {
    pub state: State,
    pub verifier: EntryVerifier,
    pub clock_ms: u64,
    next_id: u128,
    next_commitment: u64,
    /// Every entry applied, in log order (the leaves).
    pub log: Vec<SignedEntry>,
}

impl World {
    /// An empty log with its genesis entry applied.
    pub fn new() -> Self {
        let mut world = World {
            state: State::new(),
            verifier: EntryVerifier::new(ORIGIN).unwrap(),
            clock_ms: 1_790_000_000_000,
            next_id: 1,
            next_commitment: 1,
            log: Vec::new(),
        };
        world
            .apply_as(
                OPERATOR,
                OPERATOR,
                Body::Genesis { origin: ORIGIN.into(), operator: org(OPERATOR), operator_key: public(OPERATOR) },
            )
            .unwrap();
        world
    }

    /// A log with EUR, a donor, two NGOs (one FIFO, one pro-rata), two clinics, a supplier, an auditor and a programme.
    pub fn standard() -> Self {
        let mut world = World::new();
        world.ok(OPERATOR, Body::DeclareAsset { asset: eur(), decimals: 2, asset_kind: AssetKind::Fiat });
        for (id, role, country, policy) in [
            ("fondation-x", Role::Donor, "CH", AttributionPolicy::Fifo),
            ("ngo-a", Role::Ngo, "FR", AttributionPolicy::Fifo),
            ("ngo-b", Role::Ngo, "CD", AttributionPolicy::ProRata),
            ("clinic-goma", Role::Clinic, "CD", AttributionPolicy::Fifo),
            ("clinic-bukavu", Role::Clinic, "CD", AttributionPolicy::Fifo),
            ("clinic-bamako", Role::Clinic, "ML", AttributionPolicy::Fifo),
            ("pharma-supply", Role::Supplier, "KE", AttributionPolicy::Fifo),
            ("audit-co", Role::Auditor, "BE", AttributionPolicy::Fifo),
        ] {
            world.register(id, role, country, policy);
        }
        world.ok(
            "ngo-a",
            Body::DeclareProgramme {
                programme: ProgrammeId::new("kivu-health").unwrap(),
                name: "North Kivu primary health".into(),
                countries: vec!["CD".parse().unwrap()],
                sector: "12220".into(),
                iati_identifier: None,
            },
        );
        world
    }

    pub fn register(&mut self, id: &str, role: Role, country: &str, policy: AttributionPolicy) -> u64 {
        self.ok(
            OPERATOR,
            Body::RegisterOrganisation {
                organisation: org(id),
                role,
                name: format!("{id} display name"),
                country: country.parse::<Country>().unwrap(),
                iati_identifier: None,
                attribution_policy: policy,
                public_key: public(id),
            },
        )
    }

    pub fn fresh_id(&mut self) -> EntryId {
        let id = self.next_id;
        self.next_id += 1;
        EntryId(id.to_be_bytes())
    }

    pub fn fresh_commitment(&mut self) -> Commitment {
        self.next_commitment += 1;
        commitment(self.next_commitment)
    }

    /// Builds and signs an entry by `author` with `signer`'s key; the clock moves one second.
    pub fn sign_as(&mut self, author: &str, signer: &str, body: Body) -> SignedEntry {
        self.clock_ms += 1_000;
        let entry = Entry { entry_id: self.fresh_id(), author: org(author), timestamp_ms: self.clock_ms, body };
        SignedEntry::sign(entry, ORIGIN, &key_for(signer)).unwrap()
    }

    pub fn submit(&mut self, signed: SignedEntry) -> Result<ledger::Applied, Rejection> {
        let verified = self.verifier.verify(signed.clone()).map_err(Rejection::from)?;
        let applied = self.state.apply(&verified)?;
        if !applied.duplicate {
            self.log.push(signed);
        }
        Ok(applied)
    }

    pub fn apply_as(&mut self, author: &str, signer: &str, body: Body) -> Result<ledger::Applied, Rejection> {
        let signed = self.sign_as(author, signer, body);
        self.submit(signed)
    }

    pub fn apply(&mut self, author: &str, body: Body) -> Result<ledger::Applied, Rejection> {
        self.apply_as(author, author, body)
    }

    /// Applies an entry that must be accepted; returns its index.
    pub fn ok(&mut self, author: &str, body: Body) -> u64 {
        match self.apply(author, body.clone()) {
            Ok(applied) => applied.index,
            Err(rejection) => panic!("{author} {body:?} was rejected: {rejection}"),
        }
    }

    /// Applies an entry signed with `signer`'s key that must be accepted.
    pub fn ok_as_signer(&mut self, author: &str, signer: &str, body: Body) -> u64 {
        match self.apply_as(author, signer, body.clone()) {
            Ok(applied) => applied.index,
            Err(rejection) => panic!("{author} (key {signer}) {body:?} was rejected: {rejection}"),
        }
    }

    /// Applies an entry that must be rejected with `code`, and checks that nothing changed.
    pub fn reject(&mut self, author: &str, body: Body, code: &str) {
        self.reject_as(author, author, body, code);
    }

    pub fn reject_as(&mut self, author: &str, signer: &str, body: Body, code: &str) {
        let before = self.state.clone();
        match self.apply_as(author, signer, body.clone()) {
            Ok(applied) => panic!("{author} {body:?} was accepted at {}; expected {code}", applied.index),
            Err(rejection) => {
                assert_eq!(rejection.code(), code, "{author} {body:?}: {rejection}");
                assert!(!rejection.to_string().is_empty());
            }
        }
        assert!(self.state == before, "a rejected entry changed the state");
    }

    pub fn entry_id_at(&self, index: u64) -> EntryId {
        self.state.entry_id_at(index).unwrap()
    }

    pub fn donate(&mut self, ngo: &str, amount: u128, earmark: Option<Earmark>) -> u64 {
        self.ok(
            ngo,
            Body::Donation {
                donor: Donor::Organisation(org("fondation-x")),
                asset: eur(),
                amount: Amount(amount),
                value_date: date("2026-01-10"),
                earmark,
                external_reference: Some(format!("BANK-{}", self.next_id)),
            },
        )
    }

    pub fn transfer_body(to: &str, amount: u128, programme: Option<&str>) -> Body {
        Body::Transfer {
            to: org(to),
            asset: eur(),
            amount: Amount(amount),
            value_date: date("2026-01-11"),
            programme: programme.map(|p| ProgrammeId::new(p).unwrap()),
            purpose: "operating funds".into(),
        }
    }

    pub fn transfer(&mut self, from: &str, to: &str, amount: u128) -> u64 {
        self.ok(from, Self::transfer_body(to, amount, None))
    }

    pub fn spend_body(&mut self, amount: u128, category: Category, programme: Option<&str>) -> Body {
        Body::Spend {
            asset: eur(),
            amount: Amount(amount),
            value_date: date("2026-01-12"),
            category,
            recipient: Recipient::Beneficiary(self.fresh_commitment()),
            programme: programme.map(|p| ProgrammeId::new(p).unwrap()),
            evidence: None,
            description: String::new(),
        }
    }

    pub fn spend(&mut self, by: &str, amount: u128) -> u64 {
        let body = self.spend_body(amount, Category::Medicine, None);
        self.ok(by, body)
    }

    pub fn balance(&self, id: &str) -> u128 {
        let profile = self.state.organisation_profile(&org(id)).unwrap();
        profile.balances.iter().find(|b| b.asset == eur()).map_or(0, |b| b.available)
    }
}

impl World {
    /// The log index of the latest spend.
    pub fn spend_indexes_last(&self) -> u64 {
        *self.state.spend_indexes().last().expect("a spend was recorded")
    }
}
