//! The demo ledger: a realistic, reproducible history generated from a seed — institutional and
//! anonymous donors, three NGOs, ten field clinics in five countries, EUR and a token, thousands of
//! spends to beneficiary commitments, earmarked gifts, pledges released on attestations and one voided,
//! transfers never acknowledged, one reversal, and a few planted anomalies for the flags page (money sent back
//! to its NGO, a transfer passed on at once, gifts just under the reporting threshold, a transfer left
//! unacknowledged, an invoice dated before the money arrived, a month of medicine far above the usual).
//! Every entry is checked against the ledger's rules as it is generated, so the demo can never hold an entry
//! the log would refuse.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Country, Date, Digest, Donor, Earmark, Entry,
    EntryId, EntryVerifier, OrgId, ProgrammeId, PublicKey, Rate, Recipient, Role, SignedEntry, State, VoucherId,
    beneficiary_commitment, donor_reference,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest as _, Sha256};

/// The seed `aidtrail demo` uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 2026;
/// The first day of the demo's history (2026-01-05, 08:00 UTC).
pub const START_MS: u64 = 1_767_600_000_000;
/// The origin of the demo log.
pub const DEMO_ORIGIN: &str = "demo.aidtrail.local/log";
/// The operator's identifier in the demo log.
pub const OPERATOR: &str = "aidtrail-operator";

/// How big a demo to make.
#[derive(Clone, Copy, Debug)]
pub struct DemoScale {
    /// Weeks of field operations.
    pub weeks: u32,
    /// Spends per clinic per week, on average.
    pub spends_per_clinic_week: u32,
    pub anonymous_donors: u32,
}

impl Default for DemoScale {
    fn default() -> Self {
        DemoScale { weeks: 40, spends_per_clinic_week: 12, anonymous_donors: 300 }
    }
}

/// A generated demo: the signed entries in log order and the keys and secrets needed to extend it.
pub struct DemoLedger {
    pub origin: String,
    pub entries: Vec<SignedEntry>,
    pub keys: BTreeMap<String, SigningKey>,
    /// Secret receipts of a few anonymous donors who gave, so a user can trace "their" gift.
    pub donor_receipts: Vec<[u8; 32]>,
    /// Example entry ids: a donation to trace forward and a spend to trace back.
    pub example_donation: EntryId,
    pub example_spend: EntryId,
    /// The private store of [`PRIVATE_STORE_CLINIC`], after the erasure of one patient.
    pub private: DemoPrivate,
}

/// Keeps the links of the private-store clinic's accepted spends, then erases one patient: a tombstone
/// (kind 24) in the log, and the patient gone from the private data.
fn private_data(b: &mut Builder) -> DemoPrivate {
    let mut links = Vec::new();
    for (index, signed) in b.entries.iter().enumerate() {
        let entry = signed.entry();
        if let Body::Spend { recipient: Recipient::Beneficiary(commitment), .. } = &entry.body
            && entry.author.as_str() == PRIVATE_STORE_CLINIC
            && let Some(link) = b.links.get(commitment)
        {
            links.push(DemoLink { entry_id: entry.entry_id, index: index as u64, ..link.clone() });
        }
    }
    let mut private = DemoPrivate {
        persons: (1..=DEMO_PATIENTS).map(demo_patient).collect(),
        programme_keys: Vec::new(),
        links,
        erased_person: None,
        erasure_index: None,
    };
    let mut programmes: Vec<Option<ProgrammeId>> = private.links.iter().map(|link| link.programme.clone()).collect();
    programmes.sort();
    programmes.dedup();
    private.programme_keys = programmes
        .into_iter()
        .map(|programme| (programme.clone(), demo_programme_key(b.seed, programme.as_ref())))
        .collect();
    // The first patient with at least two spends asks to be erased.
    let erased = private
        .persons
        .iter()
        .find(|person| private.links.iter().filter(|link| &link.person_id == *person).count() >= 2)
        .cloned();
    if let Some(person) = erased {
        let commitments: Vec<ledger::Commitment> =
            private.links.iter().filter(|link| link.person_id == person).map(|link| link.commitment).collect();
        let random: [u8; 32] = Sha256::digest(format!("aidtrail demo erasure {}", b.seed).as_bytes()).into();
        let body = Body::Erasure {
            count: commitments.len() as u32,
            digest: ledger::erasure_digest(&random, &commitments),
            reason: ledger::ErasureReason::DataSubjectRequest,
        };
        b.clock_ms += 86_400_000;
        if b.push(PRIVATE_STORE_CLINIC, body).is_some() {
            private.erasure_index = Some(b.entries.len() as u64 - 1);
            private.links.retain(|link| link.person_id != person);
            private.persons.retain(|known| known != &person);
            private.erased_person = Some(person);
        }
    }
    private
}

/// Writes the demo clinic's private store to `path`, unless a file is already there (a second run of the
/// demo on the same data directory keeps it). Returns whether it was written.
pub async fn write_private_store(demo: &DemoLedger, path: &std::path::Path) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let store = crate::private_store::PrivateStore::create(path).await?;
    let clinic = OrgId::new(PRIVATE_STORE_CLINIC).expect("valid");
    let result = async {
        for person in &demo.private.persons {
            store.add_person(person, None).await?;
        }
        for (programme, key) in &demo.private.programme_keys {
            store.set_programme_key(programme.as_ref(), key).await?;
        }
        for link in &demo.private.links {
            let prepared = crate::private_store::PreparedLink {
                person_id: link.person_id.clone(),
                programme: link.programme.clone(),
                pseudonym: link.pseudonym,
                salt: link.salt,
                commitment: link.commitment,
            };
            store.record_link(&prepared, &clinic, &link.entry_id, link.index).await?;
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result?;
    Ok(true)
}

struct Organisation {
    id: &'static str,
    role: Role,
    name: &'static str,
    country: &'static str,
    policy: AttributionPolicy,
    /// The IATI organisation identifier (fictional, like the rest of the demo); `None` for organisations
    /// that do not publish to IATI.
    iati: Option<&'static str>,
}

const ORGANISATIONS: &[Organisation] = &[
    Organisation {
        id: "fondation-lumiere",
        role: Role::Donor,
        name: "Fondation Lumière",
        country: "FR",
        policy: AttributionPolicy::Fifo,
        iati: Some("FR-RNA-W751000101"),
    },
    Organisation {
        id: "nordic-health-fund",
        role: Role::Donor,
        name: "Nordic Health Fund",
        country: "NO",
        policy: AttributionPolicy::Fifo,
        iati: Some("NO-BRC-990000101"),
    },
    Organisation {
        id: "global-relief-trust",
        role: Role::Donor,
        name: "Global Relief Trust",
        country: "GB",
        policy: AttributionPolicy::Fifo,
        iati: Some("GB-CHC-1000101"),
    },
    Organisation {
        id: "ville-de-geneve",
        role: Role::Donor,
        name: "Ville de Genève",
        country: "CH",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
    Organisation {
        id: "medecins-solidaires",
        role: Role::Ngo,
        name: "Médecins Solidaires",
        country: "FR",
        policy: AttributionPolicy::Fifo,
        iati: Some("FR-RNA-W751000201"),
    },
    Organisation {
        id: "health-bridge",
        role: Role::Ngo,
        name: "Health Bridge International",
        country: "GB",
        policy: AttributionPolicy::ProRata,
        iati: Some("GB-CHC-1000201"),
    },
    Organisation {
        id: "sahel-care",
        role: Role::Ngo,
        name: "Sahel Care",
        country: "SN",
        policy: AttributionPolicy::Fifo,
        iati: Some("SN-RCCM-DKR-2015-B-0301"),
    },
    Organisation {
        id: "clinique-goma",
        role: Role::Clinic,
        name: "Clinique de Goma",
        country: "CD",
        policy: AttributionPolicy::Fifo,
        iati: Some("CD-RCCM-GOM-2018-B-0101"),
    },
    Organisation {
        id: "centre-sante-bukavu",
        role: Role::Clinic,
        name: "Centre de santé de Bukavu",
        country: "CD",
        policy: AttributionPolicy::Fifo,
        iati: Some("CD-RCCM-BKV-2017-B-0102"),
    },
    Organisation {
        id: "poste-sante-beni",
        role: Role::Clinic,
        name: "Poste de santé de Beni",
        country: "CD",
        policy: AttributionPolicy::Fifo,
        iati: Some("CD-RCCM-BNI-2019-B-0103"),
    },
    Organisation {
        id: "cscom-bamako",
        role: Role::Clinic,
        name: "CSCom de Bamako",
        country: "ML",
        policy: AttributionPolicy::Fifo,
        iati: Some("ML-RCCM-BKO-2016-B-0104"),
    },
    Organisation {
        id: "cscom-mopti",
        role: Role::Clinic,
        name: "CSCom de Mopti",
        country: "ML",
        policy: AttributionPolicy::Fifo,
        iati: Some("ML-RCCM-MPT-2016-B-0105"),
    },
    Organisation {
        id: "clinique-cite-soleil",
        role: Role::Clinic,
        name: "Clinique de Cité Soleil",
        country: "HT",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
    Organisation {
        id: "clinique-jacmel",
        role: Role::Clinic,
        name: "Clinique de Jacmel",
        country: "HT",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
    Organisation {
        id: "juba-health-post",
        role: Role::Clinic,
        name: "Juba Health Post",
        country: "SS",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
    Organisation {
        id: "malakal-clinic",
        role: Role::Clinic,
        name: "Malakal Field Clinic",
        country: "SS",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
    Organisation {
        id: "niamey-maternity",
        role: Role::Clinic,
        name: "Maternité de Niamey",
        country: "NE",
        policy: AttributionPolicy::Fifo,
        iati: Some("NE-RCCM-NIA-2014-B-0106"),
    },
    Organisation {
        id: "medipharm-kenya",
        role: Role::Supplier,
        name: "MediPharm Kenya",
        country: "KE",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
    Organisation {
        id: "logistique-sahel",
        role: Role::Supplier,
        name: "Logistique Sahel",
        country: "SN",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
    Organisation {
        id: "audit-verite",
        role: Role::Auditor,
        name: "Audit Vérité",
        country: "BE",
        policy: AttributionPolicy::Fifo,
        iati: None,
    },
];

/// Which NGO funds which clinics.
const NETWORK: &[(&str, &[&str])] = &[
    ("medecins-solidaires", &["clinique-goma", "centre-sante-bukavu", "poste-sante-beni", "clinique-cite-soleil"]),
    ("health-bridge", &["juba-health-post", "malakal-clinic", "clinique-jacmel"]),
    ("sahel-care", &["cscom-bamako", "cscom-mopti", "niamey-maternity"]),
];

const PROGRAMMES: &[(&str, &str, &str, &[&str], &str)] = &[
    ("medecins-solidaires", "kivu-primary-health", "Santé primaire au Nord et Sud-Kivu", &["CD"], "12220"),
    ("medecins-solidaires", "haiti-emergency-care", "Soins d'urgence en Haïti", &["HT"], "12220"),
    ("health-bridge", "south-sudan-malaria", "Malaria control in South Sudan", &["SS"], "12262"),
    ("sahel-care", "sahel-maternal-health", "Santé maternelle au Sahel", &["ML", "NE"], "13020"),
];

const CLINIC_CATEGORIES: &[(Category, u32, u128, u128)] = &[
    // category, weight, minimum and maximum amount in cents
    (Category::Consultation, 40, 800, 4_500),
    (Category::Medicine, 30, 500, 12_000),
    (Category::MaternalCare, 8, 3_000, 25_000),
    (Category::Vaccination, 8, 400, 2_000),
    (Category::Laboratory, 8, 600, 6_000),
    (Category::Surgery, 3, 20_000, 90_000),
    (Category::Food, 3, 1_000, 5_000),
];

/// The signing key of `name` (an organisation id or the operator) in the demo generated from `seed`.
pub fn demo_key(seed: u64, name: &str) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("aidtrail demo {seed} {name}").as_bytes()).into())
}

struct Builder {
    origin: String,
    state: State,
    verifier: EntryVerifier,
    keys: BTreeMap<String, SigningKey>,
    entries: Vec<SignedEntry>,
    rng: StdRng,
    /// The random numbers of the planted anomalies, apart, so that the rest of the demo draws the same ones.
    plant_rng: StdRng,
    clock_ms: u64,
    seed: u64,
    /// The links the private-store clinic would keep, by commitment (only those of accepted spends are kept).
    links: BTreeMap<ledger::Commitment, DemoLink>,
}

/// The clinic of the demo that keeps a private store of its patients (`docs/PRIVACY.md`).
pub const PRIVATE_STORE_CLINIC: &str = "clinique-goma";
/// How many patients that clinic's private store knows.
const DEMO_PATIENTS: u32 = 40;

/// One beneficiary spend of the private-store clinic, as its private store holds it.
#[derive(Clone, Debug)]
pub struct DemoLink {
    pub person_id: String,
    pub programme: Option<ProgrammeId>,
    pub pseudonym: [u8; 32],
    pub salt: [u8; 32],
    pub commitment: ledger::Commitment,
    pub entry_id: EntryId,
    pub index: u64,
}

/// What the demo clinic's private store holds: its patients, its programme keys, the links of their spends,
/// and which patient was erased (by the tombstone at `erasure_index`).
#[derive(Clone, Debug, Default)]
pub struct DemoPrivate {
    pub persons: Vec<String>,
    pub programme_keys: Vec<(Option<ProgrammeId>, [u8; 32])>,
    pub links: Vec<DemoLink>,
    pub erased_person: Option<String>,
    pub erasure_index: Option<u64>,
}

/// The demo's per-programme HMAC key of the private-store clinic, derived from the seed (a real store draws
/// them at random).
fn demo_programme_key(seed: u64, programme: Option<&ProgrammeId>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"aidtrail demo programme key\0");
    hasher.update(seed.to_be_bytes());
    hasher.update(programme.map_or("", ProgrammeId::as_str).as_bytes());
    hasher.finalize().into()
}

fn demo_patient(number: u32) -> String {
    format!("CG-2026-{number:04}")
}

impl Builder {
    fn key(&mut self, name: &str) -> SigningKey {
        let seed = self.seed;
        self.keys.entry(name.to_string()).or_insert_with(|| demo_key(seed, name)).clone()
    }

    fn public(&mut self, name: &str) -> PublicKey {
        PublicKey(self.key(name).verifying_key().to_bytes())
    }

    fn fresh_id(&mut self) -> EntryId {
        EntryId(self.rng.random())
    }

    /// Signs and applies an entry; returns its id, or `None` when the rules refuse it (the demo then skips it).
    fn push(&mut self, author: &str, body: Body) -> Option<EntryId> {
        self.clock_ms += self.rng.random_range(1_000..60_000);
        let entry_id = self.fresh_id();
        let entry = Entry {
            entry_id,
            author: OrgId::new(author).expect("demo ids are valid"),
            timestamp_ms: self.clock_ms,
            body,
        };
        let key = self.key(author);
        let signed = SignedEntry::sign(entry, &self.origin, &key).expect("demo entries encode");
        let verified = self.verifier.verify(signed.clone()).expect("demo entries verify");
        match self.state.apply(&verified) {
            Ok(_) => {
                self.entries.push(signed);
                Some(entry_id)
            }
            Err(_) => None,
        }
    }

    /// Signs and applies a planted anomaly, drawing its clock step and id from the anomalies' own numbers.
    fn plant(&mut self, author: &str, body: Body) -> Option<EntryId> {
        std::mem::swap(&mut self.rng, &mut self.plant_rng);
        let id = self.push(author, body);
        std::mem::swap(&mut self.rng, &mut self.plant_rng);
        id
    }

    fn today(&self) -> Date {
        Date::from_timestamp_ms(self.clock_ms)
    }

    fn balance(&self, organisation: &str, asset: &AssetCode) -> u128 {
        self.state
            .balances_of(&OrgId::new(organisation).expect("valid"))
            .into_iter()
            .find(|balance| &balance.asset == asset)
            .map_or(0, |balance| balance.available)
    }

    fn commitment(&mut self) -> ledger::Commitment {
        let salt: [u8; 32] = self.rng.random();
        let pseudonym: [u8; 16] = self.rng.random();
        beneficiary_commitment(&salt, &pseudonym)
    }

    /// A fresh commitment for a spend by `clinic`. The private-store clinic's commitments are made from a
    /// patient's per-programme pseudonym, and their links remembered; the random draws are the same either
    /// way, so the rest of the demo does not change.
    fn commitment_by(&mut self, clinic: &str, programme: Option<&ProgrammeId>) -> ledger::Commitment {
        if clinic != PRIVATE_STORE_CLINIC {
            return self.commitment();
        }
        let salt: [u8; 32] = self.rng.random();
        let pick: [u8; 16] = self.rng.random();
        let person_id = demo_patient(1 + (u128::from_be_bytes(pick) % u128::from(DEMO_PATIENTS)) as u32);
        let pseudonym = crate::private_store::pseudonym(&demo_programme_key(self.seed, programme), &person_id);
        let commitment = beneficiary_commitment(&salt, &pseudonym);
        self.links.insert(
            commitment,
            DemoLink {
                person_id,
                programme: programme.cloned(),
                pseudonym,
                salt,
                commitment,
                entry_id: EntryId([0; 16]),
                index: 0,
            },
        );
        commitment
    }
}

/// Generates the demo ledger for `origin` from `seed`.
pub fn generate(seed: u64, origin: &str, scale: DemoScale) -> DemoLedger {
    let mut b = Builder {
        origin: origin.to_string(),
        state: State::new(),
        verifier: EntryVerifier::new(origin).expect("a valid origin"),
        keys: BTreeMap::new(),
        entries: Vec::new(),
        rng: StdRng::seed_from_u64(seed),
        plant_rng: StdRng::seed_from_u64(seed ^ 0xF1A6_5EED),
        clock_ms: START_MS,
        seed,
        links: BTreeMap::new(),
    };
    let eur = AssetCode::new("EUR").expect("valid");
    let usdc = AssetCode::new("USDC").expect("valid");
    let operator_key = b.public(OPERATOR);
    b.push(
        OPERATOR,
        Body::Genesis { origin: origin.to_string(), operator: OrgId::new(OPERATOR).expect("valid"), operator_key },
    );
    b.push(OPERATOR, Body::DeclareAsset { asset: eur.clone(), decimals: 2, asset_kind: AssetKind::Fiat });
    b.push(OPERATOR, Body::DeclareAsset { asset: usdc.clone(), decimals: 6, asset_kind: AssetKind::Token });
    for organisation in ORGANISATIONS {
        let public_key = b.public(organisation.id);
        b.push(
            OPERATOR,
            Body::RegisterOrganisation {
                organisation: OrgId::new(organisation.id).expect("valid"),
                role: organisation.role,
                name: organisation.name.to_string(),
                country: organisation.country.parse::<Country>().expect("valid"),
                iati_identifier: organisation.iati.map(str::to_string),
                attribution_policy: organisation.policy,
                public_key,
            },
        );
    }
    for (ngo, programme, name, countries, sector) in PROGRAMMES {
        let mut countries: Vec<Country> = countries.iter().map(|c| c.parse().expect("valid")).collect();
        countries.sort();
        b.push(
            ngo,
            Body::DeclareProgramme {
                programme: ProgrammeId::new(*programme).expect("valid"),
                name: name.to_string(),
                countries,
                sector: sector.to_string(),
                iati_identifier: None,
            },
        );
    }

    let institutional = ["fondation-lumiere", "nordic-health-fund", "global-relief-trust", "ville-de-geneve"];
    let mut receipts_used = std::collections::BTreeSet::new();
    let donor_receipts: Vec<[u8; 32]> =
        (0..scale.anonymous_donors).map(|n| Sha256::digest(format!("demo {seed} donor receipt {n}")).into()).collect();
    let mut example_donation = None;
    let mut example_spend = None;
    let mut open_pledges: Vec<(EntryId, &str, u64, usize, u32)> = Vec::new();
    let mut pledge_count = 0;
    let mut reversal_done = false;
    let mut token_flow_done = false;
    let mut field = FieldOperations::default();

    for week in 0..scale.weeks {
        // Donations: institutional grants every four weeks, individual gifts every week.
        if week % 4 == 0 {
            for (position, donor) in institutional.iter().enumerate() {
                let (ngo, _) = NETWORK[(position + week as usize / 4) % NETWORK.len()];
                let earmark = match b.rng.random_range(0..6) {
                    0 => PROGRAMMES
                        .iter()
                        .find(|p| p.0 == ngo)
                        .map(|p| Earmark::Programme(ProgrammeId::new(p.1).expect("valid"))),
                    1 => NETWORK.iter().find(|n| n.0 == ngo).map(|n| {
                        let clinic = n.1[b.rng.random_range(0..n.1.len())];
                        Earmark::Clinic(OrgId::new(clinic).expect("valid"))
                    }),
                    _ => None,
                };
                let amount = b.rng.random_range(20_000u128..150_000) * 100;
                let reference = format!("SEPA-{}-{:05}", b.today(), b.rng.random_range(0..100_000));
                let id = b.push(
                    ngo,
                    Body::Donation {
                        donor: ledger::Donor::Organisation(OrgId::new(*donor).expect("valid")),
                        asset: eur.clone(),
                        amount: Amount(amount),
                        value_date: b.today(),
                        earmark,
                        external_reference: Some(reference),
                    },
                );
                if example_donation.is_none() {
                    example_donation = id;
                }
            }
        }
        for _ in 0..(scale.anonymous_donors / scale.weeks.max(1)).max(1) {
            let n = b.rng.random_range(0..donor_receipts.len());
            receipts_used.insert(n);
            let (ngo, _) = NETWORK[b.rng.random_range(0..NETWORK.len())];
            let earmark = if b.rng.random_bool(0.2) {
                let countries = ["CD", "ML", "HT", "SS", "NE"];
                Some(Earmark::Country(countries[b.rng.random_range(0..countries.len())].parse().expect("valid")))
            } else {
                None
            };
            let amount = b.rng.random_range(10u128..500) * 100;
            b.push(
                ngo,
                Body::Donation {
                    donor: Donor::Anonymous(donor_reference(&donor_receipts[n])),
                    asset: eur.clone(),
                    amount: Amount(amount),
                    value_date: b.today(),
                    earmark,
                    external_reference: None,
                },
            );
        }
        // Monthly transfers from each NGO to its clinics; a few are never acknowledged.
        if week % 4 == 1 {
            for (ngo, clinics) in NETWORK {
                let available = b.balance(ngo, &eur);
                let share = available * 8 / 10 / clinics.len() as u128;
                for clinic in *clinics {
                    if share == 0 {
                        continue;
                    }
                    let programme = PROGRAMMES
                        .iter()
                        .find(|p| {
                            p.0 == *ngo
                                && p.3.contains(&ORGANISATIONS.iter().find(|o| o.id == *clinic).expect("known").country)
                        })
                        .map(|p| ProgrammeId::new(p.1).expect("valid"));
                    let transfer = b.push(
                        ngo,
                        Body::Transfer {
                            to: OrgId::new(*clinic).expect("valid"),
                            asset: eur.clone(),
                            amount: Amount(share),
                            value_date: b.today(),
                            programme: programme.clone(),
                            purpose: format!("operating funds, month {}", week / 4 + 1),
                        },
                    );
                    // The earmarks may leave less eligible money than the share: try the programme-free amount.
                    let transfer = match transfer {
                        Some(id) => Some(id),
                        None => b.push(
                            ngo,
                            Body::Transfer {
                                to: OrgId::new(*clinic).expect("valid"),
                                asset: eur.clone(),
                                amount: Amount(share / 2),
                                value_date: b.today(),
                                programme,
                                purpose: format!("operating funds, month {}", week / 4 + 1),
                            },
                        ),
                    };
                    if let Some(transfer) = transfer {
                        let never_acknowledged = b.rng.random_bool(0.06);
                        if !never_acknowledged {
                            b.push(clinic, Body::Acknowledgement { transfer });
                        }
                    }
                }
            }
        }
        plant_anomalies(&mut b, week, &eur);
        // Field spending by the clinics, in small amounts to fresh beneficiary commitments.
        for (_, clinics) in NETWORK {
            for clinic in *clinics {
                let programme = PROGRAMMES
                    .iter()
                    .find(|p| p.3.contains(&ORGANISATIONS.iter().find(|o| o.id == *clinic).expect("known").country))
                    .map(|p| ProgrammeId::new(p.1).expect("valid"));
                for _ in 0..b.rng.random_range(scale.spends_per_clinic_week / 2..=scale.spends_per_clinic_week * 3 / 2)
                {
                    let total_weight: u32 = CLINIC_CATEGORIES.iter().map(|c| c.1).sum();
                    let mut pick = b.rng.random_range(0..total_weight);
                    let (category, _, low, high) = *CLINIC_CATEGORIES
                        .iter()
                        .find(|c| {
                            if pick < c.1 {
                                true
                            } else {
                                pick -= c.1;
                                false
                            }
                        })
                        .expect("weights cover the range");
                    let amount = b.rng.random_range(low..high);
                    if b.balance(clinic, &eur) < amount {
                        continue;
                    }
                    let to_supplier = category == Category::Medicine && b.rng.random_bool(0.1);
                    let recipient = if to_supplier {
                        Recipient::Supplier(OrgId::new("medipharm-kenya").expect("valid"))
                    } else {
                        Recipient::Beneficiary(b.commitment_by(clinic, None))
                    };
                    let evidence = b.rng.random_bool(0.3).then(|| Digest(b.rng.random()));
                    let mut spent = b.push(
                        clinic,
                        Body::Spend {
                            asset: eur.clone(),
                            amount: Amount(amount),
                            value_date: b.today(),
                            category,
                            recipient: recipient.clone(),
                            programme: None,
                            evidence,
                            description: String::new(),
                        },
                    );
                    if spent.is_none() {
                        // The clinic's money may be earmarked for its programme: say so.
                        let recipient = match recipient {
                            Recipient::Beneficiary(_) => {
                                Recipient::Beneficiary(b.commitment_by(clinic, programme.as_ref()))
                            }
                            other => other,
                        };
                        spent = b.push(
                            clinic,
                            Body::Spend {
                                asset: eur.clone(),
                                amount: Amount(amount),
                                value_date: b.today(),
                                category,
                                recipient,
                                programme: programme.clone(),
                                evidence,
                                description: String::new(),
                            },
                        );
                    }
                    if example_spend.is_none() && spent.is_some() {
                        example_spend = spent;
                    }
                }
            }
        }
        // NGO overheads.
        if week % 4 == 2 {
            for (ngo, _) in NETWORK {
                for (category, amount) in [(Category::Administration, 150_000u128), (Category::BankFees, 2_500)] {
                    if b.balance(ngo, &eur) > amount * 4 {
                        let description = format!("{category}, month {}", week / 4 + 1);
                        b.push(
                            ngo,
                            Body::Spend {
                                asset: eur.clone(),
                                amount: Amount(amount),
                                value_date: b.today(),
                                category,
                                recipient: Recipient::Supplier(OrgId::new("logistique-sahel").expect("valid")),
                                programme: None,
                                evidence: None,
                                description,
                            },
                        );
                    }
                }
            }
        }
        // Pay for results: pledges from NGOs to clinics, attested by the auditor; one left to expire.
        if week % 8 == 3 && pledge_count < 4 {
            let (ngo, clinics) = NETWORK[pledge_count % NETWORK.len()];
            let clinic = clinics[0];
            let amount = (b.balance(ngo, &eur) / 10).min(2_000_000);
            if amount > 0 {
                let expires_at_ms = b.clock_ms + 21 * 86_400_000;
                let result = match pledge_count {
                    0 => "90% of children under five vaccinated against measles in the catchment area",
                    1 => "cold chain for vaccines operational 30 days in a row",
                    2 => "500 antenatal consultations recorded in one quarter",
                    _ => "malaria rapid tests available every day for a month",
                };
                let pledge = |programme: Option<ProgrammeId>, today: Date| Body::Pledge {
                    to: OrgId::new(clinic).expect("valid"),
                    asset: eur.clone(),
                    amount: Amount(amount),
                    value_date: today,
                    verifier: OrgId::new("audit-verite").expect("valid"),
                    result: result.to_string(),
                    expires_at_ms,
                    programme,
                };
                // The earmarks may leave too little money free for the clinic: name the clinic's programme.
                let programme = PROGRAMMES
                    .iter()
                    .find(|p| {
                        p.0 == ngo
                            && p.3.contains(&ORGANISATIONS.iter().find(|o| o.id == clinic).expect("known").country)
                    })
                    .map(|p| ProgrammeId::new(p.1).expect("valid"));
                let made = match b.push(ngo, pledge(None, b.today())) {
                    Some(id) => Some(id),
                    None => programme.and_then(|programme| b.push(ngo, pledge(Some(programme), b.today()))),
                };
                if let Some(pledge) = made {
                    open_pledges.push((pledge, ngo, expires_at_ms, pledge_count, week));
                }
                pledge_count += 1;
            }
        }
        // Settle pledges a week later: attest and release the first three; the fourth is never attested
        // and its pledger voids it once it has expired.
        let mut still_open = Vec::new();
        for (pledge, ngo, expires_at_ms, number, week_made) in std::mem::take(&mut open_pledges) {
            if number < 3 && week > week_made && b.clock_ms < expires_at_ms {
                let evidence = Some(Digest(b.rng.random()));
                b.push(
                    "audit-verite",
                    Body::Attestation {
                        pledge,
                        statement: "verified on site against the clinic's registers".into(),
                        evidence,
                    },
                );
                b.push(ngo, Body::PledgeRelease { pledge });
            } else if number >= 3 && b.clock_ms > expires_at_ms {
                b.push(ngo, Body::PledgeVoid { pledge });
            } else {
                still_open.push((pledge, ngo, expires_at_ms, number, week_made));
            }
        }
        open_pledges = still_open;
        // One correction: a spend recorded twice by mistake is reversed.
        if week == 6 && !reversal_done {
            let clinic = "clinique-goma";
            if b.balance(clinic, &eur) > 5_000 {
                let commitment = b.commitment_by(clinic, None);
                if let Some(spend) = b.push(
                    clinic,
                    Body::Spend {
                        asset: eur.clone(),
                        amount: Amount(4_200),
                        value_date: b.today(),
                        category: Category::Consultation,
                        recipient: Recipient::Beneficiary(commitment),
                        programme: None,
                        evidence: None,
                        description: "entered twice by mistake".into(),
                    },
                ) {
                    reversal_done =
                        b.push(clinic, Body::Reversal { target: spend, reason: "duplicate entry".into() }).is_some();
                }
            }
        }
        // A token gift: stablecoins received on chain, passed to a clinic and spent.
        if week == 10 && !token_flow_done {
            let tx_hash = format!("0x{}", hex::encode(b.rng.random::<[u8; 32]>()));
            if b.push(
                "health-bridge",
                Body::Donation {
                    donor: Donor::Organisation(OrgId::new("global-relief-trust").expect("valid")),
                    asset: usdc.clone(),
                    amount: Amount(25_000_000_000),
                    value_date: b.today(),
                    earmark: None,
                    external_reference: Some(tx_hash),
                },
            )
            .is_some()
            {
                if let Some(transfer) = b.push(
                    "health-bridge",
                    Body::Transfer {
                        to: OrgId::new("juba-health-post").expect("valid"),
                        asset: usdc.clone(),
                        amount: Amount(15_000_000_000),
                        value_date: b.today(),
                        programme: None,
                        purpose: "mobile money for community health workers".into(),
                    },
                ) {
                    b.push("juba-health-post", Body::Acknowledgement { transfer });
                    for _ in 0..20 {
                        let commitment = b.commitment();
                        let amount = b.rng.random_range(5_000_000u128..40_000_000);
                        b.push(
                            "juba-health-post",
                            Body::Spend {
                                asset: usdc.clone(),
                                amount: Amount(amount),
                                value_date: b.today(),
                                category: Category::CashAssistance,
                                recipient: Recipient::Beneficiary(commitment),
                                programme: None,
                                evidence: None,
                                description: String::new(),
                            },
                        );
                    }
                }
                token_flow_done = true;
            }
        }
        field_operations(&mut b, week, &mut field);
        // The week ends: move the clock to next Monday.
        let week_start = START_MS + u64::from(week + 1) * 7 * 86_400_000;
        b.clock_ms = b.clock_ms.max(week_start);
    }
    // Pledges still open at the end: void the expired ones.
    for (pledge, ngo, expires_at_ms, _, _) in open_pledges {
        b.clock_ms = b.clock_ms.max(expires_at_ms + 60_000);
        b.push(ngo, Body::PledgeVoid { pledge });
    }
    let private = private_data(&mut b);
    DemoLedger {
        private,
        origin: origin.to_string(),
        example_donation: example_donation.expect("the demo has donations"),
        example_spend: example_spend.expect("the demo has spends"),
        entries: b.entries,
        keys: b.keys,
        // Receipts of donors who gave, so that each one traces something.
        donor_receipts: receipts_used.iter().take(3).map(|&n| donor_receipts[n]).collect(),
    }
}

/// The demo's voucher programme, conversions, refund and audit sign-off, as they unfold week by week.
#[derive(Default)]
struct FieldOperations {
    /// The voucher issue, its expiry, and its vouchers with the clinic that redeemed each one.
    vouchers: Option<(EntryId, u64, Vec<(VoucherId, Option<&'static str>)>)>,
}

/// Where the demo's vouchers can be redeemed.
const VOUCHER_CLINICS: [&str; 3] = ["centre-sante-bukavu", "clinique-goma", "poste-sante-beni"];

/// Vouchers, conversions, a refund and an audit sign-off, at fixed weeks of the demo.
fn field_operations(b: &mut Builder, week: u32, field: &mut FieldOperations) {
    let eur = AssetCode::new("EUR").expect("valid");
    let usdc = AssetCode::new("USDC").expect("valid");
    let convert = |b: &mut Builder, by: &str, from: &AssetCode, amount: u128, to: &AssetCode, rate: &str| {
        let rate: Rate = rate.parse().expect("a valid rate");
        let (from_decimals, to_decimals) = if from == &eur { (2, 6) } else { (6, 2) };
        let to_amount = rate.convert(amount, from_decimals, to_decimals).expect("demo amounts fit");
        b.push(
            by,
            Body::Conversion {
                from_asset: from.clone(),
                from_amount: Amount(amount),
                to_asset: to.clone(),
                to_amount: Amount(to_amount),
                rate,
                rate_source: format!("Bitstamp EUR/USDC fill, {}", b.today()),
                value_date: b.today(),
            },
        )
    };
    match week {
        // Health vouchers for displaced families around Goma: 25.00 EUR consultations at three clinics.
        12 => {
            let mut vouchers: Vec<VoucherId> = (0..240).map(|_| VoucherId(b.rng.random())).collect();
            vouchers.sort();
            let expires_at_ms = b.clock_ms + 5 * 7 * 86_400_000;
            let issue = b.push(
                "medecins-solidaires",
                Body::VoucherIssue {
                    programme: ProgrammeId::new("kivu-primary-health").expect("valid"),
                    asset: eur,
                    face_value: Amount(2_500),
                    category: Category::Consultation,
                    clinics: VOUCHER_CLINICS.iter().map(|id| OrgId::new(*id).expect("valid")).collect(),
                    vouchers: vouchers.clone(),
                    value_date: b.today(),
                    expires_at_ms,
                },
            );
            if let Some(issue) = issue {
                field.vouchers =
                    Some((issue, expires_at_ms, vouchers.into_iter().map(|voucher| (voucher, None)).collect()));
            }
        }
        // Families bring their vouchers to the clinics over four weeks; about four in five are used.
        13..=16 => {
            let Some((_, _, vouchers)) = field.vouchers.as_mut() else { return };
            for (voucher, redeemed_at) in vouchers.iter_mut() {
                if redeemed_at.is_some() || b.rng.random_range(0..100) >= 35 {
                    continue;
                }
                let clinic = VOUCHER_CLINICS[b.rng.random_range(0..VOUCHER_CLINICS.len())];
                let evidence = Some(Digest(b.rng.random()));
                if b.push(clinic, Body::VoucherRedemption { voucher: *voucher, evidence }).is_some() {
                    *redeemed_at = Some(clinic);
                }
            }
        }
        // The NGO pays each clinic for the vouchers it redeemed.
        17 => {
            let Some((_, _, vouchers)) = field.vouchers.as_ref() else { return };
            for clinic in VOUCHER_CLINICS {
                let redeemed: Vec<VoucherId> =
                    vouchers.iter().filter(|(_, at)| *at == Some(clinic)).map(|(voucher, _)| *voucher).collect();
                for chunk in redeemed.chunks(ledger::entry::VOUCHERS_PER_ENTRY_MAX) {
                    b.push(
                        "medecins-solidaires",
                        Body::VoucherSettlement {
                            clinic: OrgId::new(clinic).expect("valid"),
                            vouchers: chunk.to_vec(),
                            value_date: b.today(),
                        },
                    );
                }
            }
        }
        // After the expiry, the reserve of the unused vouchers returns to the NGO.
        18 => {
            let Some((issue, expires_at_ms, _)) = field.vouchers.as_ref() else { return };
            b.clock_ms = b.clock_ms.max(expires_at_ms + 60_000);
            b.push("medecins-solidaires", Body::VoucherExpiry { issue: *issue });
        }
        // Mobile money: an NGO buys stablecoins for cash transfers; a clinic cashes some out to euros.
        11 => {
            convert(b, "health-bridge", &eur, 1_500_000, &usdc, "1.0835");
            convert(b, "juba-health-post", &usdc, 2_000_000_000, &eur, "0.9229");
        }
        // A foundation's earmarked grant is partly returned when the programme it named is scaled down.
        20 => {
            let donation = b.push(
                "sahel-care",
                Body::Donation {
                    donor: Donor::Organisation(OrgId::new("ville-de-geneve").expect("valid")),
                    asset: eur,
                    amount: Amount(1_200_000),
                    value_date: b.today(),
                    earmark: Some(Earmark::Programme(ProgrammeId::new("sahel-maternal-health").expect("valid"))),
                    external_reference: Some(format!("SEPA-{}-GVA-MAT", b.today())),
                },
            );
            if let Some(donation) = donation {
                b.push(
                    "sahel-care",
                    Body::Refund {
                        donation,
                        asset: AssetCode::new("EUR").expect("valid"),
                        amount: Amount(400_000),
                        value_date: b.today(),
                        reason: "Niamey maternity extension postponed; unspent share returned".into(),
                    },
                );
            }
        }
        // The auditor signs off the first quarter of each NGO's accounts.
        26 => {
            for ngo in ["medecins-solidaires", "health-bridge", "sahel-care"] {
                let report = format!("Audit Vérité: {ngo}, accounts 2026-01-01 to 2026-03-31");
                b.push(
                    "audit-verite",
                    Body::AccountsSignOff {
                        organisation: OrgId::new(ngo).expect("valid"),
                        tree_size: b.entries.len() as u64,
                        period_start: "2026-01-01".parse().expect("valid"),
                        period_end: "2026-03-31".parse().expect("valid"),
                        report: Digest(Sha256::digest(report.as_bytes()).into()),
                        opinion: "The accounts agree with the log; no exception found".into(),
                    },
                );
            }
        }
        _ => {}
    }
}

/// Plants, in the weeks they belong to, one case of each pattern the anomaly flags look for (`docs/FLAGS.md`).
/// Each is an ordinary-looking entry; none breaks a rule.
fn plant_anomalies(b: &mut Builder, week: u32, eur: &AssetCode) {
    let transfer = |to: &str, amount: u128, programme: Option<&str>, purpose: &str, date: Date| Body::Transfer {
        to: OrgId::new(to).expect("valid"),
        asset: eur.clone(),
        amount: Amount(amount),
        value_date: date,
        programme: programme.map(|p| ProgrammeId::new(p).expect("valid")),
        purpose: purpose.to_string(),
    };
    match week {
        1 => {
            // Right after the monthly transfers, before any field spending: a clinic sends part of its
            // money back to its NGO (round trip), another passes almost all of it on to a sister clinic
            // (pass-through), and one transfer is never acknowledged.
            let back = b.balance("cscom-mopti", eur) / 5;
            if back > 0
                && let Some(id) =
                    b.plant("cscom-mopti", transfer("sahel-care", back, None, "unused funds returned", b.today()))
            {
                b.plant("sahel-care", Body::Acknowledgement { transfer: id });
            }
            let held = b.balance("poste-sante-beni", eur);
            for percent in [96, 93, 90] {
                let amount = held * percent / 100;
                let purpose = "stock shared with Goma";
                let body = transfer("clinique-goma", amount, Some("kivu-primary-health"), purpose, b.today());
                if amount > 0
                    && let Some(id) = b.plant("poste-sante-beni", body)
                {
                    b.plant("clinique-goma", Body::Acknowledgement { transfer: id });
                    break;
                }
            }
            if b.balance("health-bridge", eur) > 50_000 {
                let body = transfer("malakal-clinic", 50_000, None, "cold-chain repairs", b.today());
                b.plant("health-bridge", body);
            }
        }
        2 => {
            // Three gifts from one anonymous donor, each just under 10,000 EUR.
            let reference = donor_reference(&Sha256::digest(format!("demo {} split gift", b.seed)).into());
            for amount in [995_000u128, 990_000, 985_000] {
                b.plant(
                    "sahel-care",
                    Body::Donation {
                        donor: Donor::Anonymous(reference),
                        asset: eur.clone(),
                        amount: Amount(amount),
                        value_date: b.today(),
                        earmark: None,
                        external_reference: None,
                    },
                );
            }
            // An invoice dated before the clinic had received any money.
            let before_start = Date::from_timestamp_ms(START_MS - 3 * 86_400_000);
            for programme in [None, Some("kivu-primary-health")] {
                let body = Body::Spend {
                    asset: eur.clone(),
                    amount: Amount(30_000),
                    value_date: before_start,
                    category: Category::Equipment,
                    recipient: Recipient::Supplier(OrgId::new("medipharm-kenya").expect("valid")),
                    programme: programme.map(|p| ProgrammeId::new(p).expect("valid")),
                    evidence: None,
                    description: "refrigerator for vaccines".into(),
                };
                if b.balance("centre-sante-bukavu", eur) > 30_000 && b.plant("centre-sante-bukavu", body).is_some() {
                    break;
                }
            }
        }
        20 => {
            // A bulk purchase of medicine: one month far above the clinic's usual medicine spending.
            for programme in [None, Some("kivu-primary-health")] {
                let body = Body::Spend {
                    asset: eur.clone(),
                    amount: Amount(600_000),
                    value_date: b.today(),
                    category: Category::Medicine,
                    recipient: Recipient::Supplier(OrgId::new("medipharm-kenya").expect("valid")),
                    programme: programme.map(|p| ProgrammeId::new(p).expect("valid")),
                    evidence: None,
                    description: "antimalarials, bulk order for the rainy season".into(),
                };
                if b.balance("clinique-goma", eur) > 600_000 && b.plant("clinique-goma", body).is_some() {
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Submits the demo's entries to a log (idempotent: a second run finds them all logged); returns how
/// many were newly appended.
pub async fn load(log: &crate::log::Log, demo: &DemoLedger) -> anyhow::Result<usize> {
    let mut appended = 0;
    for chunk in demo.entries.chunks(crate::api::BATCH_REQUEST_ENTRIES_MAX) {
        for (signed, result) in chunk.iter().zip(log.submit_many(chunk.to_vec()).await) {
            match result {
                Ok(receipt) => appended += usize::from(!receipt.duplicate),
                Err(error) => anyhow::bail!("the demo entry {} was refused: {error}", signed.entry().entry_id),
            }
        }
    }
    Ok(appended)
}
