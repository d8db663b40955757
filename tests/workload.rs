//! Entries for the tests beyond the demo's: test NGOs and clinics registered by the demo's operator, and
//! streams of donations, transfers, acknowledgements and spends by them. Each pair of organisations
//! moves only its own money, so streams of different pairs never depend on each other or on the demo:
//! they can be submitted concurrently in any interleaving. Everything is reproducible from a seed.
//! Amounts are in EUR cents.

use ed25519_dalek::SigningKey;
use ledger::{
    Amount, AssetCode, AttributionPolicy, Body, Category, Date, Donor, Entry, EntryId, EntryVerifier, OrgId, PublicKey,
    Recipient, Role, SignedEntry, State, beneficiary_commitment, donor_reference,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use server::demo::{DemoLedger, OPERATOR};

use crate::harness::ORIGIN;

/// The demo's entries up to and including the operator's last one (genesis, assets, registrations):
/// everything the test organisations' registrations must come after.
pub fn operator_prefix_len(demo: &DemoLedger) -> usize {
    demo.entries.iter().rposition(|signed| signed.entry().author.as_str() == OPERATOR).expect("the demo has a genesis")
        + 1
}

fn operator_last_timestamp_ms(demo: &DemoLedger) -> u64 {
    demo.entries
        .iter()
        .filter(|signed| signed.entry().author.as_str() == OPERATOR)
        .map(|s| s.entry().timestamp_ms)
        .max()
        .expect("a genesis")
}

/// One NGO and one clinic it funds, with their keys.
pub struct Pair {
    pub ngo: String,
    pub clinic: String,
    ngo_key: SigningKey,
    clinic_key: SigningKey,
}

/// Test organisations and a reproducible source of ids, commitments and amounts.
pub struct Workload {
    pub pairs: Vec<Pair>,
    rng: StdRng,
    operator_key: SigningKey,
    /// Timestamps of the test organisations' entries start here: after every operator entry of the demo.
    pub start_ms: u64,
}

fn eur() -> AssetCode {
    AssetCode::new("EUR").expect("a valid asset code")
}

fn org(id: &str) -> OrgId {
    OrgId::new(id).expect("a valid organisation id")
}

impl Workload {
    pub fn new(demo: &DemoLedger, seed: u64, pairs: usize) -> Workload {
        // Not the demo's generator: its seed gives the demo its entry ids.
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x0e2e);
        let pairs = (0..pairs)
            .map(|n| Pair {
                ngo: format!("e2e-ngo-{n}"),
                clinic: format!("e2e-clinic-{n}"),
                ngo_key: SigningKey::from_bytes(&rng.random()),
                clinic_key: SigningKey::from_bytes(&rng.random()),
            })
            .collect();
        Workload {
            pairs,
            rng,
            operator_key: demo.keys.get(OPERATOR).expect("the demo's operator key").clone(),
            start_ms: operator_last_timestamp_ms(demo) + 1_000,
        }
    }

    fn sign(&mut self, author: &str, key: &SigningKey, timestamp_ms: u64, body: Body) -> SignedEntry {
        let entry = Entry { entry_id: EntryId(self.rng.random()), author: org(author), timestamp_ms, body };
        SignedEntry::sign(entry, ORIGIN, key).expect("a test entry signs")
    }

    /// The operator registers every test organisation (after the demo's operator entries).
    pub fn registrations(&mut self) -> Vec<SignedEntry> {
        let operator_key = self.operator_key.clone();
        let mut registered = Vec::new();
        for (id, role, key, country) in self
            .pairs
            .iter()
            .flat_map(|pair| {
                [
                    (pair.ngo.clone(), Role::Ngo, pair.ngo_key.clone(), "FR"),
                    (pair.clinic.clone(), Role::Clinic, pair.clinic_key.clone(), "CD"),
                ]
            })
            .collect::<Vec<_>>()
        {
            let body = Body::RegisterOrganisation {
                organisation: org(&id),
                role,
                name: format!("End-to-end test {id}"),
                country: country.parse().expect("a valid country"),
                iati_identifier: None,
                attribution_policy: AttributionPolicy::Fifo,
                public_key: PublicKey(key.verifying_key().to_bytes()),
            };
            let timestamp = self.start_ms;
            registered.push(self.sign(OPERATOR, &operator_key, timestamp, body));
        }
        registered
    }

    fn donation(&mut self, pair: usize, timestamp_ms: u64, amount: u128) -> SignedEntry {
        let (ngo, key) = (self.pairs[pair].ngo.clone(), self.pairs[pair].ngo_key.clone());
        let receipt: [u8; 32] = self.rng.random();
        let body = Body::Donation {
            donor: Donor::Anonymous(donor_reference(&receipt)),
            asset: eur(),
            amount: Amount(amount),
            value_date: Date::from_timestamp_ms(timestamp_ms),
            earmark: None,
            external_reference: None,
        };
        self.sign(&ngo, &key, timestamp_ms, body)
    }

    /// A transfer from the pair's NGO to its clinic and the clinic's acknowledgement.
    fn transfer(&mut self, pair: usize, timestamp_ms: u64, amount: u128) -> [SignedEntry; 2] {
        let p = &self.pairs[pair];
        let (ngo, ngo_key, clinic, clinic_key) =
            (p.ngo.clone(), p.ngo_key.clone(), p.clinic.clone(), p.clinic_key.clone());
        let body = Body::Transfer {
            to: org(&clinic),
            asset: eur(),
            amount: Amount(amount),
            value_date: Date::from_timestamp_ms(timestamp_ms),
            programme: None,
            purpose: "end-to-end test funds".into(),
        };
        let transfer = self.sign(&ngo, &ngo_key, timestamp_ms, body);
        let acknowledgement = self.sign(
            &clinic,
            &clinic_key,
            timestamp_ms,
            Body::Acknowledgement { transfer: transfer.entry().entry_id },
        );
        [transfer, acknowledgement]
    }

    fn spend(&mut self, pair: usize, timestamp_ms: u64, amount: u128) -> SignedEntry {
        let (clinic, key) = (self.pairs[pair].clinic.clone(), self.pairs[pair].clinic_key.clone());
        let salt: [u8; 32] = self.rng.random();
        let pseudonym: [u8; 16] = self.rng.random();
        let body = Body::Spend {
            asset: eur(),
            amount: Amount(amount),
            value_date: Date::from_timestamp_ms(timestamp_ms),
            category: Category::Consultation,
            recipient: Recipient::Beneficiary(beneficiary_commitment(&salt, &pseudonym)),
            programme: None,
            evidence: None,
            description: String::new(),
        };
        self.sign(&clinic, &key, timestamp_ms, body)
    }

    /// A pair's history in blocks of 11 entries: a donation to the NGO, a transfer to the clinic and its
    /// acknowledgement, eight spends by the clinic (always covered by the block's transfer). Later entries
    /// depend on earlier ones, so a stream is submitted in order.
    pub fn stream(&mut self, pair: usize, blocks: usize) -> Vec<SignedEntry> {
        let mut clock = self.start_ms;
        let mut tick = || {
            clock += 1_000;
            clock
        };
        let mut entries = Vec::with_capacity(blocks * 11);
        for _ in 0..blocks {
            entries.push(self.donation(pair, tick(), 500_000));
            entries.extend(self.transfer(pair, tick(), 100_000));
            for _ in 0..8 {
                let amount = self.rng.random_range(500..10_000);
                entries.push(self.spend(pair, tick(), amount));
            }
        }
        entries
    }

    /// Funds every pair generously: a donation, a transfer and its acknowledgement each.
    pub fn funding(&mut self, timestamp_ms: u64) -> Vec<SignedEntry> {
        (0..self.pairs.len())
            .flat_map(|pair| {
                let mut entries = vec![self.donation(pair, timestamp_ms, 10_000_000)];
                entries.extend(self.transfer(pair, timestamp_ms, 5_000_000));
                entries
            })
            .collect()
    }

    /// Entries that commute: small spends by every clinic and small donations to every NGO, all with one
    /// timestamp (an author's timestamps may repeat, not go back), shuffled. Any order of them is valid.
    pub fn independent(
        &mut self,
        timestamp_ms: u64,
        spends_per_clinic: usize,
        donations_per_ngo: usize,
    ) -> Vec<SignedEntry> {
        let mut entries = Vec::new();
        for pair in 0..self.pairs.len() {
            for _ in 0..spends_per_clinic {
                let amount = self.rng.random_range(100..1_000);
                entries.push(self.spend(pair, timestamp_ms, amount));
            }
            for _ in 0..donations_per_ngo {
                let amount = self.rng.random_range(1_000..50_000);
                entries.push(self.donation(pair, timestamp_ms, amount));
            }
        }
        // Fisher-Yates with the workload's generator, so the order is reproducible.
        for i in (1..entries.len()).rev() {
            let j = self.rng.random_range(0..=i);
            entries.swap(i, j);
        }
        entries
    }
}

/// Applies entries in order to a fresh ledger state, as the server would: every one must be accepted.
/// Checks the tests' own workloads before any server sees them.
pub fn validate<'a>(entries: impl IntoIterator<Item = &'a SignedEntry>) -> State {
    let mut state = State::new();
    let mut verifier = EntryVerifier::new(ORIGIN).expect("a valid origin");
    for (position, signed) in entries.into_iter().enumerate() {
        let verified = verifier
            .verify(signed.clone())
            .unwrap_or_else(|error| panic!("workload entry {position} does not verify: {error}"));
        let applied = state.apply(&verified).unwrap_or_else(|rejection| {
            panic!("workload entry {position} ({}) breaks a rule: {rejection}", signed.entry().body.kind().as_str())
        });
        assert!(!applied.duplicate, "workload entry {position} repeats an earlier one");
    }
    state
}
