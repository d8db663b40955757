//! Benchmarks of the ledger core: signing, strict verification (single and batch), applying a realistic mix of
//! entries (with and without the anomaly flags), and fund tracing in a one-million-entry ledger. Results and how to run: `BENCHMARKS.md`.
//!
//! The histories are made by a deterministic generator (seeded `StdRng`) that keeps every balance positive, so
//! every generated entry is accepted; the benchmark checks that once, outside the timed parts.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Commitment, Country, Date, Digest, Donor, Earmark,
    Entry, EntryId, EntryVerifier, Flags, Kind, OrgId, ProgrammeId, PublicKey, Recipient, Role, SignedEntry, State,
    VerifiedEntry,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest as _, Sha256};

/// The log every benchmarked entry is signed for.
const ORIGIN: &str = "bench.aidtrail.example/log";
/// A fixed seed, so every run benchmarks the same history.
const SEED: u64 = 0xA1D7_2A11;
/// Entries applied by `apply_mix` (a prefix of the 1M history).
const MIX_ENTRIES: usize = 200_000;
/// Entries in the ledger that the trace benchmarks query.
const LEDGER_ENTRIES: usize = 1_000_000;
/// The deliberately built trace: one donation, then its money transferred and spent in pieces, each piece one hop.
const TRACE_HOPS: usize = 100;
/// Every `TRACE_TRANSFER_EVERY`-th step of the trace is a transfer to the trace clinic, the others are spends there.
const TRACE_TRANSFER_EVERY: usize = 5;
/// The trace entries are spread over this part of the 1M history (so they are far apart in the log, as in life).
const TRACE_SPAN: std::ops::Range<usize> = 600_000..950_000;

const OPERATOR: &str = "operator";
/// The NGOs; the last one attributes pro rata, the others FIFO.
const NGOS: [(&str, &str); 3] = [("ngo-alpha", "FR"), ("ngo-beta", "CD"), ("ngo-gamma", "BE")];
const CLINICS: [&str; 10] = [
    "clinic-goma",
    "clinic-bukavu",
    "clinic-uvira",
    "clinic-beni",
    "clinic-butembo",
    "clinic-bunia",
    "clinic-kalemie",
    "clinic-kindu",
    "clinic-kisangani",
    "clinic-rutshuru",
];
const DONORS: [&str; 5] = ["fondation-x", "echo-fund", "ville-de-lyon", "trust-y", "gov-aid-z"];
const SUPPLIERS: [&str; 3] = ["pharma-supply", "fuel-depot", "food-wholesale"];
const AUDITOR: &str = "audit-co";
/// Used only by the deliberately built trace, so that nothing else touches its money.
const TRACE_NGO: &str = "ngo-trace";
const TRACE_CLINIC: &str = "clinic-trace";
const PROGRAMME: &str = "drc-health";

fn key_for(name: &str) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("bench key {name}").as_bytes()).into())
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

fn org(id: &str) -> OrgId {
    OrgId::new(id).expect("a valid identifier")
}

fn eur() -> AssetCode {
    AssetCode::new("EUR").expect("a valid asset code")
}

fn programme() -> ProgrammeId {
    ProgrammeId::new(PROGRAMME).expect("a valid programme id")
}

fn hashed(domain: &str, counter: u64) -> [u8; 32] {
    Sha256::digest(format!("{domain} {counter}").as_bytes()).into()
}

/// The resident set size of this process, in KiB (Linux only).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Gives the memory that the allocator keeps free back to the system, so that a VmRSS difference measures what
/// was allocated in between rather than what reused earlier free memory (glibc only; elsewhere a no-op).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns free heap pages to the kernel; it is safe to call at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The CPU time this thread has used (Linux only). On a shared machine the wall time of a pass includes the
/// time the thread waited for a core; the CPU time does not, so printing both shows how much load inflated it.
fn thread_cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            seconds: i64,
            nanoseconds: i64,
        }
        unsafe extern "C" {
            fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
        }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        let mut time = Timespec { seconds: 0, nanoseconds: 0 };
        // SAFETY: clock_gettime writes one timespec to the pointer it is given, which points to a live value.
        let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
        if status == 0 {
            return Some(Duration::new(time.seconds as u64, time.nanoseconds as u32));
        }
    }
    None
}

/// Applies `entries` to clones of `base` a few times, outside criterion, and prints entries/s by wall time and
/// by this thread's CPU time.
fn print_pass_rates(label: &str, base: &State, entries: &[VerifiedEntry], passes: usize) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..passes {
        let mut state = base.clone();
        let (started, cpu_started) = (Instant::now(), thread_cpu_time());
        for verified in entries {
            if state.apply(verified).is_err() {
                panic!("an entry accepted before is rejected");
            }
        }
        wall.push(entries.len() as f64 / started.elapsed().as_secs_f64() / 1e3);
        if let (Some(before), Some(after)) = (cpu_started, thread_cpu_time()) {
            cpu.push(entries.len() as f64 / (after - before).as_secs_f64() / 1e3);
        }
    }
    let list = |rates: &[f64]| rates.iter().map(|rate| format!("{rate:.0}k")).collect::<Vec<_>>().join(", ");
    eprintln!(
        "{label}: {passes} passes outside criterion: entries/s by wall time {}; by thread CPU time {}",
        list(&wall),
        list(&cpu)
    );
}

/// One pass of `entries` onto a fresh state, with or without the flags; this thread's CPU time (wall time
/// where that is not available).
fn timed_pass(entries: &[VerifiedEntry], with_flags: bool) -> Duration {
    let (started, cpu_started) = (Instant::now(), thread_cpu_time());
    let mut state = State::new();
    let mut flags = Flags::new();
    for verified in entries {
        if state.apply(verified).is_err() {
            panic!("an entry accepted before is rejected");
        }
        if with_flags {
            flags.observe(&state, verified.entry());
        }
    }
    let elapsed = match (cpu_started, thread_cpu_time()) {
        (Some(before), Some(after)) => after - before,
        _ => started.elapsed(),
    };
    drop(black_box((state, flags)));
    elapsed
}

/// The flags' share of ingest time, measured so that a shared machine's load cancels out: passes without and
/// with the flags alternate (in both orders), each timed by this thread's CPU time; prints the median of
/// each and the ratio of the medians.
fn print_flags_overhead(entries: &[VerifiedEntry], rounds: usize) {
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            without.push(timed_pass(entries, false));
            with.push(timed_pass(entries, true));
        } else {
            with.push(timed_pass(entries, true));
            without.push(timed_pass(entries, false));
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (without, with) = (median(&mut without), median(&mut with));
    eprintln!(
        "apply_mix_flags: {rounds} alternating passes of {} entries, median thread CPU time: apply {:.1} ms, apply \
         and flags {:.1} ms: the flags add {:.1} %",
        entries.len(),
        without.as_secs_f64() * 1e3,
        with.as_secs_f64() * 1e3,
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A party of the generated history: its name, its key and (for NGOs and clinics) the money the
/// generator knows it holds, free to move.
struct Party {
    name: &'static str,
    key: SigningKey,
    balance: u128,
}

#[derive(Clone, Copy)]
struct OpenPledge {
    id: EntryId,
    pledger: usize,
    receiver: usize,
    amount: u128,
    expires_at_ms: u64,
}

/// Makes a valid history entry by entry: setup (genesis, asset, organisations, programme), then a field mix of
/// spends, transfers, donations, acknowledgements and a few pledges, attestations, releases, voids and
/// reversals. It models each holder's balance and only moves less than it holds; every earmark it uses is one
/// the later uses honour (programme `drc-health`, country CD), so the generator's balance is the usable one.
struct Generator {
    rng: StdRng,
    clock_ms: u64,
    next_id: u128,
    next_counter: u64,
    parties: Vec<Party>,
    ngos: Vec<usize>,
    clinics: Vec<usize>,
    donors: Vec<usize>,
    suppliers: Vec<usize>,
    auditor: usize,
    trace_ngo: usize,
    trace_clinic: usize,
    setup: VecDeque<(Entry, usize)>,
    unacknowledged: VecDeque<(EntryId, usize)>,
    open_pledges: VecDeque<OpenPledge>,
    attested_pledges: VecDeque<OpenPledge>,
    recent_spends: VecDeque<(EntryId, usize, u128)>,
    /// Positions (in the history) of the trace entries, in order.
    trace_positions: Vec<usize>,
    trace_step: usize,
    trace_donation: Option<EntryId>,
    trace_spend: Option<EntryId>,
    emitted: usize,
    /// Entries generated, by kind code (a `u8`).
    kinds: [u64; 256],
}

impl Generator {
    fn new(seed: u64) -> Self {
        let mut parties = vec![Party { name: OPERATOR, key: key_for(OPERATOR), balance: 0 }];
        let mut add = |name: &'static str| {
            parties.push(Party { name, key: key_for(name), balance: 0 });
            parties.len() - 1
        };
        let donors: Vec<usize> = DONORS.iter().map(|name| add(name)).collect();
        let ngos: Vec<usize> = NGOS.iter().map(|(name, _)| add(name)).collect();
        let clinics: Vec<usize> = CLINICS.iter().map(|name| add(name)).collect();
        let suppliers: Vec<usize> = SUPPLIERS.iter().map(|name| add(name)).collect();
        let auditor = add(AUDITOR);
        let trace_ngo = add(TRACE_NGO);
        let trace_clinic = add(TRACE_CLINIC);

        let mut trace_rng = StdRng::seed_from_u64(seed ^ 0x7ACE);
        let stride = TRACE_SPAN.len() / TRACE_HOPS;
        let trace_positions =
            (0..TRACE_HOPS).map(|step| TRACE_SPAN.start + step * stride + trace_rng.random_range(0..stride)).collect();

        let mut generator = Generator {
            rng: StdRng::seed_from_u64(seed),
            clock_ms: 1_790_000_000_000,
            next_id: 1,
            next_counter: 0,
            parties,
            ngos,
            clinics,
            donors,
            suppliers,
            auditor,
            trace_ngo,
            trace_clinic,
            setup: VecDeque::new(),
            unacknowledged: VecDeque::new(),
            open_pledges: VecDeque::new(),
            attested_pledges: VecDeque::new(),
            recent_spends: VecDeque::new(),
            trace_positions,
            trace_step: 0,
            trace_donation: None,
            trace_spend: None,
            emitted: 0,
            kinds: [0; 256],
        };
        generator.plan_setup();
        generator
    }

    fn plan_setup(&mut self) {
        let operator_key = public(&self.parties[0].key);
        let mut setup = vec![
            Body::Genesis { origin: ORIGIN.into(), operator: org(OPERATOR), operator_key },
            Body::DeclareAsset { asset: eur(), decimals: 2, asset_kind: AssetKind::Fiat },
        ];
        let roles = |party: usize, generator: &Generator| -> (Role, &'static str, AttributionPolicy) {
            if generator.donors.contains(&party) {
                (Role::Donor, "CH", AttributionPolicy::Fifo)
            } else if let Some(position) = generator.ngos.iter().position(|&ngo| ngo == party) {
                let policy = if position == 2 { AttributionPolicy::ProRata } else { AttributionPolicy::Fifo };
                (Role::Ngo, NGOS[position].1, policy)
            } else if generator.clinics.contains(&party) || party == generator.trace_clinic {
                (Role::Clinic, "CD", AttributionPolicy::Fifo)
            } else if generator.suppliers.contains(&party) {
                (Role::Supplier, "KE", AttributionPolicy::Fifo)
            } else if party == generator.auditor {
                (Role::Auditor, "BE", AttributionPolicy::Fifo)
            } else {
                assert_eq!(party, generator.trace_ngo);
                (Role::Ngo, "CD", AttributionPolicy::Fifo)
            }
        };
        for party in 1..self.parties.len() {
            let (role, country, attribution_policy) = roles(party, self);
            setup.push(Body::RegisterOrganisation {
                organisation: org(self.parties[party].name),
                role,
                name: format!("{} (benchmark organisation)", self.parties[party].name),
                country: country.parse::<Country>().expect("a country code"),
                iati_identifier: (role == Role::Ngo).then(|| format!("XM-DAC-{party:05}")),
                attribution_policy,
                public_key: public(&self.parties[party].key),
            });
        }
        for body in setup {
            let entry = self.entry(OPERATOR, body);
            self.setup.push_back((entry, 0));
        }
        let alpha = self.ngos[0];
        let body = Body::DeclareProgramme {
            programme: programme(),
            name: "North and South Kivu primary health".into(),
            countries: vec!["CD".parse().expect("a country code")],
            sector: "12220".into(),
            iati_identifier: Some("XM-DAC-00001-KIVU".into()),
        };
        let entry = self.entry(self.parties[alpha].name, body);
        self.setup.push_back((entry, alpha));
    }

    /// A new entry by `author`; the clock moves on by 0.2 to 1.8 s.
    fn entry(&mut self, author: &str, body: Body) -> Entry {
        self.clock_ms += self.rng.random_range(200..=1_800);
        let entry_id = EntryId(self.next_id.to_be_bytes());
        self.next_id += 1;
        Entry { entry_id, author: org(author), timestamp_ms: self.clock_ms, body }
    }

    fn counter(&mut self) -> u64 {
        self.next_counter += 1;
        self.next_counter
    }

    fn today(&self) -> Date {
        Date::from_timestamp_ms(self.clock_ms)
    }

    /// The next entry of the history and the party whose key signs it.
    fn next_entry(&mut self) -> (Entry, usize) {
        let (entry, signer) = if let Some(setup) = self.setup.pop_front() {
            setup
        } else if self.trace_positions.get(self.trace_step) == Some(&self.emitted) {
            self.trace_entry()
        } else {
            self.mix_entry()
        };
        self.emitted += 1;
        self.kinds[entry.body.kind().code() as usize] += 1;
        (entry, signer)
    }

    fn mix_entry(&mut self) -> (Entry, usize) {
        let roll = self.rng.random_range(0..10_000);
        let made = match roll {
            0..7_000 => self.spend(),
            7_000..8_200 => self.transfer(),
            8_200..9_200 => Some(self.donation()),
            9_200..9_960 => self.acknowledgement(),
            _ => self.pledge_life(),
        };
        // Early on (no money yet) or when nothing is pending, fall back: spend, transfer, donation.
        made.or_else(|| self.spend()).or_else(|| self.transfer()).unwrap_or_else(|| self.donation())
    }

    /// A random party of `among` that holds money.
    fn holder(&mut self, among: &[usize]) -> Option<usize> {
        let start = self.rng.random_range(0..among.len());
        (0..among.len()).map(|offset| among[(start + offset) % among.len()]).find(|&p| self.parties[p].balance > 0)
    }

    /// `percent_range` percent of `balance`, at least 1 and at most `balance`.
    fn part_of(&mut self, balance: u128, percent_range: std::ops::RangeInclusive<u128>) -> u128 {
        let percent = self.rng.random_range(percent_range);
        (balance * percent / 100).clamp(1, balance)
    }

    fn spend(&mut self) -> Option<(Entry, usize)> {
        let by_clinic = self.rng.random_bool(0.9);
        let clinics = self.clinics.clone();
        let ngos = self.ngos.clone();
        let spender = if by_clinic { self.holder(&clinics) } else { self.holder(&ngos) }?;
        let amount = self.part_of(self.parties[spender].balance, 1..=8);
        self.parties[spender].balance -= amount;
        let categories = &Category::ALL[..Category::ALL.len() - 1];
        let category = categories[self.rng.random_range(0..categories.len())];
        let recipient = if self.rng.random_bool(0.85) {
            let counter = self.counter();
            Recipient::Beneficiary(Commitment(hashed("beneficiary", counter)))
        } else {
            let supplier = self.suppliers[self.rng.random_range(0..self.suppliers.len())];
            Recipient::Supplier(org(self.parties[supplier].name))
        };
        let evidence = if self.rng.random_bool(0.5) {
            let counter = self.counter();
            Some(Digest(hashed("invoice", counter)))
        } else {
            None
        };
        let description =
            if self.rng.random_bool(0.5) { "consultations and essential medicines".into() } else { String::new() };
        let body = Body::Spend {
            asset: eur(),
            amount: Amount(amount),
            value_date: self.today(),
            category,
            recipient,
            programme: Some(programme()),
            evidence,
            description,
        };
        let entry = self.entry(self.parties[spender].name, body);
        self.recent_spends.push_back((entry.entry_id, spender, amount));
        if self.recent_spends.len() > 1_000 {
            self.recent_spends.pop_front();
        }
        Some((entry, spender))
    }

    fn transfer(&mut self) -> Option<(Entry, usize)> {
        let ngos = self.ngos.clone();
        let from = self.holder(&ngos)?;
        let to = if self.rng.random_bool(0.05) {
            let others: Vec<usize> = self.ngos.iter().copied().filter(|&ngo| ngo != from).collect();
            others[self.rng.random_range(0..others.len())]
        } else {
            self.clinics[self.rng.random_range(0..self.clinics.len())]
        };
        let amount = self.part_of(self.parties[from].balance, 5..=25);
        self.parties[from].balance -= amount;
        self.parties[to].balance += amount;
        let to_clinic = self.clinics.contains(&to);
        let body = Body::Transfer {
            to: org(self.parties[to].name),
            asset: eur(),
            amount: Amount(amount),
            value_date: self.today(),
            programme: to_clinic.then(programme),
            purpose: "monthly operating funds".into(),
        };
        let entry = self.entry(self.parties[from].name, body);
        self.unacknowledged.push_back((entry.entry_id, to));
        Some((entry, from))
    }

    fn donation(&mut self) -> (Entry, usize) {
        let receiver = if self.rng.random_bool(0.95) {
            self.ngos[self.rng.random_range(0..self.ngos.len())]
        } else {
            self.clinics[self.rng.random_range(0..self.clinics.len())]
        };
        let donor = if self.rng.random_bool(0.8) {
            Donor::Organisation(org(self.parties[self.donors[self.rng.random_range(0..self.donors.len())]].name))
        } else {
            let counter = self.counter();
            Donor::Anonymous(Commitment(hashed("donor", counter)))
        };
        let amount = self.rng.random_range(10_000..=5_000_000u128);
        self.parties[receiver].balance += amount;
        let earmark = match self.rng.random_range(0..10) {
            0 | 1 => Some(Earmark::Programme(programme())),
            2 => Some(Earmark::Country("CD".parse().expect("a country code"))),
            _ => None,
        };
        let external_reference = if self.rng.random_bool(0.7) {
            let counter = self.counter();
            Some(format!("SEPA-{counter:010}"))
        } else {
            None
        };
        let body = Body::Donation {
            donor,
            asset: eur(),
            amount: Amount(amount),
            value_date: self.today(),
            earmark,
            external_reference,
        };
        (self.entry(self.parties[receiver].name, body), receiver)
    }

    fn acknowledgement(&mut self) -> Option<(Entry, usize)> {
        let (transfer, receiver) = self.unacknowledged.pop_front()?;
        let entry = self.entry(self.parties[receiver].name, Body::Acknowledgement { transfer });
        Some((entry, receiver))
    }

    /// Pledges (35%), attestations (25%), releases (25%), voids of expired pledges (5%), spend reversals (10%).
    fn pledge_life(&mut self) -> Option<(Entry, usize)> {
        let roll = self.rng.random_range(0..100);
        if roll < 25 && !self.attested_pledges.is_empty() {
            let pledge = self.attested_pledges.pop_front().expect("not empty");
            self.parties[pledge.receiver].balance += pledge.amount;
            let entry = self.entry(self.parties[pledge.pledger].name, Body::PledgeRelease { pledge: pledge.id });
            return Some((entry, pledge.pledger));
        }
        if roll < 50 {
            // Attest the oldest pledge that will still be open (short pledges expire and are voided).
            let now = self.clock_ms + 1_800;
            if let Some(position) = self.open_pledges.iter().position(|pledge| pledge.expires_at_ms > now + 86_400_000)
            {
                let pledge = self.open_pledges.remove(position).expect("found");
                self.attested_pledges.push_back(pledge);
                let body = Body::Attestation {
                    pledge: pledge.id,
                    statement: "clinic open six days a week, verified on site".into(),
                    evidence: Some(Digest(hashed("audit", pledge.amount as u64))),
                };
                let entry = self.entry(AUDITOR, body);
                return Some((entry, self.auditor));
            }
        }
        if roll < 55
            && let Some(position) = self.open_pledges.iter().position(|pledge| pledge.expires_at_ms < self.clock_ms)
        {
            let pledge = self.open_pledges.remove(position).expect("found");
            self.parties[pledge.pledger].balance += pledge.amount;
            let entry = self.entry(self.parties[pledge.pledger].name, Body::PledgeVoid { pledge: pledge.id });
            return Some((entry, pledge.pledger));
        }
        if roll >= 90 && !self.recent_spends.is_empty() {
            let position = self.rng.random_range(0..self.recent_spends.len());
            let (target, spender, amount) = self.recent_spends.remove(position).expect("in range");
            self.parties[spender].balance += amount;
            let body = Body::Reversal { target, reason: "duplicate payment, refunded by the pharmacy".into() };
            return Some((self.entry(self.parties[spender].name, body), spender));
        }
        let ngos = self.ngos.clone();
        let pledger = self.holder(&ngos)?;
        let receiver = self.clinics[self.rng.random_range(0..self.clinics.len())];
        let amount = self.part_of(self.parties[pledger].balance, 2..=5);
        self.parties[pledger].balance -= amount;
        // One pledge in five is short-lived and ends voided; the others last 90 days and are attested.
        let lifetime_ms = if self.rng.random_bool(0.2) { 600_000 } else { 90 * 86_400_000 };
        let expires_at_ms = self.clock_ms + 1_800 + lifetime_ms;
        let body = Body::Pledge {
            to: org(self.parties[receiver].name),
            asset: eur(),
            amount: Amount(amount),
            value_date: self.today(),
            verifier: org(AUDITOR),
            result: "the clinic is open six days a week for a quarter".into(),
            expires_at_ms,
            programme: Some(programme()),
        };
        let entry = self.entry(self.parties[pledger].name, body);
        self.open_pledges.push_back(OpenPledge { id: entry.entry_id, pledger, receiver, amount, expires_at_ms });
        Some((entry, pledger))
    }

    /// One step of the deliberately built trace: a donation to the trace NGO, then transfers of its money to
    /// the trace clinic and spends there, each of which moves one piece of that donation only.
    fn trace_entry(&mut self) -> (Entry, usize) {
        let step = self.trace_step;
        self.trace_step += 1;
        let (ngo, clinic) = (self.trace_ngo, self.trace_clinic);
        if step == 0 {
            let body = Body::Donation {
                donor: Donor::Organisation(org(DONORS[0])),
                asset: eur(),
                amount: Amount(1_000_000),
                value_date: self.today(),
                earmark: None,
                external_reference: Some("SEPA-TRACE-0001".into()),
            };
            let entry = self.entry(TRACE_NGO, body);
            self.trace_donation = Some(entry.entry_id);
            return (entry, ngo);
        }
        if (step - 1).is_multiple_of(TRACE_TRANSFER_EVERY) {
            let body = Body::Transfer {
                to: org(TRACE_CLINIC),
                asset: eur(),
                amount: Amount(40_000),
                value_date: self.today(),
                programme: Some(programme()),
                purpose: "monthly operating funds".into(),
            };
            return (self.entry(TRACE_NGO, body), ngo);
        }
        let counter = self.counter();
        let body = Body::Spend {
            asset: eur(),
            amount: Amount(2_000),
            value_date: self.today(),
            category: Category::Consultation,
            recipient: Recipient::Beneficiary(Commitment(hashed("beneficiary", counter))),
            programme: Some(programme()),
            evidence: None,
            description: "consultation".into(),
        };
        let entry = self.entry(TRACE_CLINIC, body);
        self.trace_spend = Some(entry.entry_id);
        (entry, clinic)
    }

    fn kind_summary(&self) -> String {
        let total: u64 = self.kinds.iter().sum();
        Kind::ALL
            .iter()
            .filter(|kind| self.kinds[kind.code() as usize] > 0)
            .map(|kind| {
                let count = self.kinds[kind.code() as usize];
                format!("{kind} {count} ({:.2}%)", 100.0 * count as f64 / total as f64)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Signs and verifies entries on every available core (this is setup, never timed); results in log order.
fn sign_and_verify(entries: Vec<(Entry, usize)>, keys: &[SigningKey]) -> Vec<VerifiedEntry> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).max(1);
    let chunk = entries.len().div_ceil(threads).max(1);
    let mut chunks = Vec::new();
    let mut rest = entries;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let mut verifier = EntryVerifier::new(ORIGIN).expect("a valid origin");
                    chunk
                        .into_iter()
                        .map(|(entry, signer)| {
                            let signed = SignedEntry::sign(entry, ORIGIN, &keys[signer]).expect("a valid entry");
                            verifier.verify(signed).expect("a valid signature")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().expect("no panic")).collect()
    })
}

/// The generated history, signed and verified, extended on demand and shared by the benchmarks.
struct History {
    generator: Generator,
    verified: Vec<VerifiedEntry>,
}

impl History {
    fn new() -> Self {
        History { generator: Generator::new(SEED), verified: Vec::new() }
    }

    fn ensure(&mut self, count: usize) -> &[VerifiedEntry] {
        if self.verified.len() < count {
            let started = Instant::now();
            let entries: Vec<(Entry, usize)> =
                (self.verified.len()..count).map(|_| self.generator.next_entry()).collect();
            let generated = started.elapsed();
            let keys: Vec<SigningKey> = self.generator.parties.iter().map(|party| party.key.clone()).collect();
            let added = entries.len();
            self.verified.extend(sign_and_verify(entries, &keys));
            eprintln!(
                "history: generated {added} entries in {:.1} s, signed and verified them in {:.1} s; now {} entries: {}",
                generated.as_secs_f64(),
                (started.elapsed() - generated).as_secs_f64(),
                self.verified.len(),
                self.generator.kind_summary(),
            );
        }
        &self.verified[..count]
    }
}

/// Applies entries to a fresh state, checking that every one is accepted.
fn apply_all(entries: &[VerifiedEntry]) -> State {
    let mut state = State::new();
    for (position, verified) in entries.iter().enumerate() {
        if let Err(rejection) = state.apply(verified) {
            panic!("generated entry {position} ({}) was rejected: {rejection}", verified.entry().body.kind());
        }
    }
    state
}

/// The 1M-entry ledger and the entries the trace benchmarks ask about.
struct Ledger {
    state: State,
    trace_donation: EntryId,
    trace_spend: EntryId,
    widest_donation: (EntryId, usize),
    widest_spend: (EntryId, usize),
}

fn build_ledger(history: &mut History) -> Ledger {
    history.ensure(LEDGER_ENTRIES);
    release_free_memory();
    let rss_before = rss_kib();
    let started = Instant::now();
    let mut state = State::new();
    let mut rates = Vec::new();
    for (chunk_number, chunk) in history.verified[..LEDGER_ENTRIES].chunks(MIX_ENTRIES).enumerate() {
        let chunk_started = Instant::now();
        for (position, verified) in chunk.iter().enumerate() {
            if let Err(rejection) = state.apply(verified) {
                let index = chunk_number * MIX_ENTRIES + position;
                panic!("generated entry {index} ({}) was rejected: {rejection}", verified.entry().body.kind());
            }
        }
        rates.push(format!("{:.0}k", chunk.len() as f64 / chunk_started.elapsed().as_secs_f64() / 1e3));
    }
    let applied_in = started.elapsed();
    let rss_after = rss_kib();
    eprintln!(
        "ledger: applied {LEDGER_ENTRIES} entries in {:.2} s ({:.0} entries/s, one pass on fresh memory, not a criterion \
         figure); entries/s by successive 200k: {}",
        applied_in.as_secs_f64(),
        LEDGER_ENTRIES as f64 / applied_in.as_secs_f64(),
        rates.join(", ")
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        eprintln!(
            "ledger: VmRSS {:.0} MiB before applying (the signed history and the benchmark), {:.0} MiB after: the 1M-entry \
         State takes about {:.0} MiB ({:.0} bytes/entry)",
            mib(before),
            mib(after),
            mib(after.saturating_sub(before)),
            after.saturating_sub(before) as f64 * 1024.0 / LEDGER_ENTRIES as f64
        );
    }
    let trace_donation = history.generator.trace_donation.expect("the 1M history holds the trace");
    let trace_spend = history.generator.trace_spend.expect("the 1M history holds the trace");
    // The signed entries stay alive: freeing 1M small allocations here leaves glibc's malloc consolidating
    // free chunks during the timed traces (measured: 60-70% of a trace's time), which would time the allocator.

    // Informative: the widest forward and backward traces among a sample of the generated history.
    let donations = state.donation_indexes();
    let spends = state.spend_indexes();
    let sample = |indexes: &[u64], count: usize| -> Vec<EntryId> {
        let step = (indexes.len() / count).max(1);
        indexes.iter().step_by(step).map(|&index| state.entry_id_at(index).expect("an entry")).collect()
    };
    let mut hop_counts: Vec<(usize, EntryId)> = sample(&donations, 2_000)
        .into_iter()
        .map(|id| (state.forward_trace(&id).expect("a donation").hops.len(), id))
        .collect();
    hop_counts.sort_by_key(|(hops, _)| *hops);
    let mut source_counts: Vec<(usize, EntryId)> = sample(&spends, 10_000)
        .into_iter()
        .map(|id| (state.backward_trace(&id).expect("a spend").sources.len(), id))
        .collect();
    source_counts.sort_by_key(|(sources, _)| *sources);
    let median = |counts: &[(usize, EntryId)]| counts[counts.len() / 2].0;
    let mean = |counts: &[(usize, EntryId)]| {
        counts.iter().map(|(count, _)| *count).sum::<usize>() as f64 / counts.len() as f64
    };
    eprintln!(
        "ledger: {} donations, {} spends; forward-trace hops over {} sampled donations: median {}, mean {:.1}, max {}; \
         backward-trace sources over {} sampled spends: median {}, mean {:.1}, max {}",
        donations.len(),
        spends.len(),
        hop_counts.len(),
        median(&hop_counts),
        mean(&hop_counts),
        hop_counts.last().expect("sampled").0,
        source_counts.len(),
        median(&source_counts),
        mean(&source_counts),
        source_counts.last().expect("sampled").0,
    );
    let widest_donation = hop_counts.last().map(|&(hops, id)| (id, hops)).expect("sampled");
    let widest_spend = source_counts.last().map(|&(sources, id)| (id, sources)).expect("sampled");
    let trace_hops = state.forward_trace(&trace_donation).expect("a donation").hops.len();
    assert_eq!(trace_hops, TRACE_HOPS, "the built trace has {TRACE_HOPS} hops");
    let trace_sources = state.backward_trace(&trace_spend).expect("a spend").sources.len();
    eprintln!(
        "ledger: forward_trace_1m/{TRACE_HOPS}_hops traces {trace_hops} hops; forward_trace_1m/widest_sampled {} hops; \
         backward_trace_1m/trace_spend {trace_sources} source(s); backward_trace_1m/widest_sampled {} sources",
        widest_donation.1, widest_spend.1
    );
    Ledger { state, trace_donation, trace_spend, widest_donation, widest_spend }
}

/// A typical spend of a clinic, as the field app submits it.
fn typical_spend(id: u128) -> Entry {
    Entry {
        entry_id: EntryId(id.to_be_bytes()),
        author: org(CLINICS[0]),
        timestamp_ms: 1_790_000_123_456,
        body: Body::Spend {
            asset: eur(),
            amount: Amount(4_250),
            value_date: Date::from_timestamp_ms(1_790_000_123_456),
            category: Category::Medicine,
            recipient: Recipient::Beneficiary(Commitment(hashed("beneficiary", id as u64))),
            programme: Some(programme()),
            evidence: Some(Digest(hashed("invoice", id as u64))),
            description: "consultations and essential medicines".into(),
        },
    }
}

fn configure<M: criterion::measurement::Measurement>(
    group: &mut criterion::BenchmarkGroup<'_, M>,
    samples: usize,
    seconds: u64,
) {
    group.sample_size(samples);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(seconds));
}

fn crypto_benchmarks(criterion: &mut Criterion) {
    let clinic_key = key_for(CLINICS[0]);
    let entry = typical_spend(1);
    let signed = SignedEntry::sign(entry.clone(), ORIGIN, &clinic_key).expect("a valid entry");
    eprintln!(
        "sign: a typical spend is {} bytes signed ({} bytes of payload)",
        signed.bytes().len(),
        signed.payload().len()
    );

    let mut group = criterion.benchmark_group("sign");
    configure(&mut group, 20, 3);
    group.throughput(Throughput::Elements(1));
    group.bench_function("spend", |bencher| {
        bencher.iter_batched(
            || entry.clone(),
            |entry| SignedEntry::sign(entry, black_box(ORIGIN), &clinic_key).expect("signs"),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = criterion.benchmark_group("verify");
    configure(&mut group, 20, 3);
    group.throughput(Throughput::Elements(1));
    let mut cached = EntryVerifier::new(ORIGIN).expect("a valid origin");
    cached.verify(signed.clone()).expect("verifies");
    group.bench_function("cached_key", |bencher| {
        bencher.iter_batched(
            || signed.clone(),
            |signed| cached.verify(signed).expect("verifies"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("fresh_verifier", |bencher| {
        bencher.iter_batched(
            || (EntryVerifier::new(ORIGIN).expect("a valid origin"), signed.clone()),
            |(mut verifier, signed)| verifier.verify(signed).expect("verifies"),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // Batches of spends from as many clinics (one key each), with every key already checked.
    let keys: Vec<SigningKey> = (0..256).map(|n| key_for(&format!("batch-clinic-{n}"))).collect();
    let batch: Vec<SignedEntry> = keys
        .iter()
        .enumerate()
        .map(|(n, key)| SignedEntry::sign(typical_spend(1_000 + n as u128), ORIGIN, key).expect("signs"))
        .collect();
    let mut warm = EntryVerifier::new(ORIGIN).expect("a valid origin");
    for signed in &batch {
        warm.verify(signed.clone()).expect("verifies");
    }
    let mut group = criterion.benchmark_group("batch_verify");
    configure(&mut group, 20, 4);
    for size in [64usize, 256] {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("{size}"), |bencher| {
            bencher.iter_batched(
                || batch[..size].to_vec(),
                |entries| {
                    let results = warm.verify_batch(entries);
                    assert!(results.iter().all(Result::is_ok));
                    results
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn ledger_benchmarks(criterion: &mut Criterion) {
    let mut history = History::new();

    let mut group = criterion.benchmark_group("apply_mix");
    configure(&mut group, 10, 10);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(MIX_ENTRIES as u64));
    let mut checked = false;
    group.bench_function("200k", |bencher| {
        let entries = history.ensure(MIX_ENTRIES);
        if !checked {
            let started = Instant::now();
            let state = apply_all(entries);
            eprintln!(
                "apply_mix: all {} entries accepted (first pass {:.2} s)",
                state.size(),
                started.elapsed().as_secs_f64()
            );
            drop(state);
            print_pass_rates("apply_mix/200k", &State::new(), entries, 3);
            checked = true;
        }
        bencher.iter_batched(
            State::new,
            |mut state| {
                for verified in entries {
                    if state.apply(verified).is_err() {
                        panic!("an entry accepted before is rejected");
                    }
                }
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // The same mix with the anomaly flags observed after every entry, as the sequencer does: the flags'
    // share of ingest time is this group's time over `apply_mix/200k`.
    let mut group = criterion.benchmark_group("apply_mix_flags");
    configure(&mut group, 10, 10);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(MIX_ENTRIES as u64));
    let mut counted = false;
    group.bench_function("200k", |bencher| {
        let entries = history.ensure(MIX_ENTRIES);
        if !counted {
            let (mut state, mut flags) = (State::new(), Flags::new());
            for verified in entries {
                state.apply(verified).expect("accepted before");
                flags.observe(&state, verified.entry());
            }
            eprintln!("apply_mix_flags: {} entries raise {} flags: {:?}", state.size(), flags.len(), flags.counts());
            print_flags_overhead(entries, 10);
            counted = true;
        }
        bencher.iter_batched(
            || (State::new(), Flags::new()),
            |(mut state, mut flags)| {
                for verified in entries {
                    if state.apply(verified).is_err() {
                        panic!("an entry accepted before is rejected");
                    }
                    flags.observe(&state, verified.entry());
                }
                (state, flags)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let mut ledger: Option<Ledger> = None;
    let mut group = criterion.benchmark_group("forward_trace_1m");
    configure(&mut group, 20, 3);
    group.bench_function(format!("{TRACE_HOPS}_hops"), |bencher| {
        let ledger = ledger.get_or_insert_with(|| build_ledger(&mut history));
        bencher.iter(|| ledger.state.forward_trace(black_box(&ledger.trace_donation)).expect("traces"))
    });
    group.bench_function("widest_sampled", |bencher| {
        let ledger = ledger.get_or_insert_with(|| build_ledger(&mut history));
        let (id, _) = ledger.widest_donation;
        bencher.iter(|| ledger.state.forward_trace(black_box(&id)).expect("traces"))
    });
    group.finish();

    let mut group = criterion.benchmark_group("backward_trace_1m");
    configure(&mut group, 20, 3);
    group.bench_function("trace_spend", |bencher| {
        let ledger = ledger.get_or_insert_with(|| build_ledger(&mut history));
        bencher.iter(|| ledger.state.backward_trace(black_box(&ledger.trace_spend)).expect("traces"))
    });
    group.bench_function("widest_sampled", |bencher| {
        let ledger = ledger.get_or_insert_with(|| build_ledger(&mut history));
        let (id, _) = ledger.widest_spend;
        bencher.iter(|| ledger.state.backward_trace(black_box(&id)).expect("traces"))
    });
    group.finish();
    drop(ledger);

    // The same mix applied to a state that already holds 800k entries: does the rate hold as the ledger grows?
    let base_entries = LEDGER_ENTRIES - MIX_ENTRIES;
    let mut base: Option<State> = None;
    let mut group = criterion.benchmark_group("apply_at_scale");
    configure(&mut group, 10, 20);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(MIX_ENTRIES as u64));
    group.bench_function("200k_onto_800k", |bencher| {
        let entries = history.ensure(LEDGER_ENTRIES);
        let base = base.get_or_insert_with(|| {
            let state = apply_all(&entries[..base_entries]);
            let started = Instant::now();
            let copy = state.clone();
            eprintln!(
                "apply_at_scale: cloning the 800k-entry state (setup, not timed) takes {:.2} s",
                started.elapsed().as_secs_f64()
            );
            drop(copy);
            print_pass_rates("apply_at_scale/200k_onto_800k", &state, &entries[base_entries..], 3);
            state
        });
        let tail = &entries[base_entries..];
        bencher.iter_batched(
            || base.clone(),
            |mut state| {
                for verified in tail {
                    if state.apply(verified).is_err() {
                        panic!("an entry accepted before is rejected");
                    }
                }
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, crypto_benchmarks, ledger_benchmarks);
criterion_main!(benches);
