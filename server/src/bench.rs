//! `aidtrail bench`: measures a real `aidtrail serve` process against the targets of BENCHMARKS.md.
//!
//! The bench pre-signs a synthetic but valid ledger (not timed), starts the server as a child process on
//! SQLite in a temporary directory or on a fresh PostgreSQL database, and drives it over HTTP from this
//! process: ingest in batches of 1,000, single-entry writes from many concurrent clients, inclusion
//! proofs, tiles, and finally the server's memory. Beside every figure it reports where the machine's CPU
//! went (server, load generator, database, anything else), because the load generator shares the cores
//! with the server; and it measures in-process what bounds a missed target: signature verification and
//! the money rules on one core, and the cost of an fsync.
//!
//! The synthetic ledger: a genesis, EUR, one donor, three NGOs with ten clinics each, and one extra clinic
//! per single-entry client. After the setup, each NGO and its clinics form an independent group that
//! repeats rounds of a donation, top-up transfers to the clinics, their acknowledgements and spends to
//! fresh beneficiary commitments (70% of the entries). Each ingest batch holds entries of one group only,
//! and one sender per group sends that group's batches in order: batches of different groups never depend
//! on each other (balances, acknowledgements, per-author timestamps), so concurrent batches may be
//! sequenced in any interleaving. The single-entry clients each own a clinic funded during the setup.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use ledger::tiles::TilePath;
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Country, Date, Digest, Donor, Entry, EntryId,
    EntryVerifier, OrgId, PublicKey, Recipient, Role, SignedEntry, State, beneficiary_commitment,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest as _, Sha256};

/// The origin of the bench's log.
pub const BENCH_ORIGIN: &str = "bench.aidtrail.local/log";
/// Entries per ingest request.
pub const BATCH_ENTRIES: usize = crate::api::BATCH_REQUEST_ENTRIES_MAX;
/// NGOs, each the head of an independent group of clinics; also the number of concurrent ingest senders.
pub const NGOS: usize = 3;
/// Clinics funded by each NGO.
pub const CLINICS_PER_NGO: usize = 10;
/// Every round tops each clinic up to this balance (1,000.00 EUR).
const CLINIC_FLOAT: u128 = 100_000;
/// Spends per round in a group (with 1 donation, 10 transfers and 10 acknowledgements: 70% spends).
const SPENDS_PER_ROUND: usize = 49;
/// Spend amounts, in cents: at least the minimum, below the maximum.
const SPEND_MIN: u128 = 500;
const SPEND_MAX: u128 = 12_000;
/// Donations are whole multiples of 1,000.00 EUR.
const DONATION_STEP: u128 = 100_000;
/// Spend categories of the clinics and their weights.
const CATEGORIES: &[(Category, u32)] = &[
    (Category::Consultation, 40),
    (Category::Medicine, 30),
    (Category::MaternalCare, 8),
    (Category::Vaccination, 8),
    (Category::Laboratory, 8),
    (Category::Surgery, 3),
    (Category::Food, 3),
];
/// Entries verified and applied in-process to measure the sequencer's CPU cost per entry.
const COST_SAMPLE_ENTRIES: usize = 20_000;

/// The targets of the issue, checked by the report.
pub mod targets {
    pub const INGEST_ENTRIES_PER_S: f64 = 20_000.0;
    pub const SINGLE_ENTRIES_PER_S: f64 = 5_000.0;
    pub const SINGLE_P99_MS: f64 = 50.0;
    pub const PROOFS_PER_S: f64 = 20_000.0;
    pub const TILES_PER_S: f64 = 50_000.0;
    pub const RSS_MB: f64 = 300.0;
}

/// What `aidtrail bench` was asked to do.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Entries of the ingest set (setup included).
    pub entries: u64,
    /// Entries of the single-entry scenario, after the ingest set.
    pub single_entries: u64,
    /// Concurrent clients of the single-entry, proof and tile scenarios.
    pub clients: usize,
    /// Length of each read scenario.
    pub duration: Duration,
    /// A PostgreSQL URL whose server gets a fresh database for the run; `None`: SQLite in a temporary directory.
    pub database_url: Option<String>,
    /// Print a markdown table for BENCHMARKS.md too.
    pub markdown: bool,
    /// Seed of the synthetic ledger (keys, amounts, ids).
    pub seed: u64,
}

// ---------------------------------------------------------------------------------------------------------
// The synthetic ledger.

/// The shape of a synthetic ledger.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    /// Entries of the ingest set, setup included.
    pub entries: u64,
    /// Entries of the single-entry scenario.
    pub single_entries: u64,
    /// Single-entry clients (each owns one clinic); at most `single_entries`.
    pub clients: usize,
    pub seed: u64,
    /// The clock the timestamps end before: they start at `now_ms - all entries - 1 h`, 1 ms apart.
    pub now_ms: u64,
}

/// One ingest request: entries of one group, to be sent after the group's previous batches.
pub struct Batch {
    pub group: usize,
    pub leaves: Vec<Vec<u8>>,
}

/// Pre-signed entries (leaf bytes), in the order and grouping the scenarios send them.
pub struct Workload {
    pub origin: String,
    /// The setup: genesis, asset, registrations, funding of the single-entry clinics. Sent first, in order.
    pub prefix: Vec<Vec<u8>>,
    /// The rest of the ingest set.
    pub batches: Vec<Batch>,
    /// Per single-entry client, its clinic's spends in order.
    pub single: Vec<Vec<Vec<u8>>>,
    pub planning: Duration,
    pub signing: Duration,
    pub signing_threads: usize,
}

impl Workload {
    /// Entries of the ingest set.
    pub fn ingest_len(&self) -> usize {
        self.prefix.len() + self.batches.iter().map(|batch| batch.leaves.len()).sum::<usize>()
    }

    pub fn single_len(&self) -> usize {
        self.single.iter().map(Vec::len).sum()
    }

    /// The ingest set in one valid order (setup, then the batches as numbered).
    pub fn ingest_in_order(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.prefix.iter().chain(self.batches.iter().flat_map(|batch| batch.leaves.iter()))
    }
}

struct Planned {
    entry: Entry,
    key: u32,
}

#[derive(Clone)]
struct Org {
    id: OrgId,
    key: u32,
}

struct Planner {
    origin: String,
    rng: StdRng,
    seed: u64,
    clock_ms: u64,
    keys: Vec<SigningKey>,
    planned: Vec<Planned>,
    eur: AssetCode,
    donor: OrgId,
    donations: u64,
}

impl Planner {
    fn org(&mut self, name: String) -> Org {
        let key = SigningKey::from_bytes(&Sha256::digest(format!("aidtrail bench {} {name}", self.seed)).into());
        self.keys.push(key);
        Org { id: OrgId::new(name).expect("bench organisation ids are valid"), key: (self.keys.len() - 1) as u32 }
    }

    fn public(&self, org: &Org) -> PublicKey {
        PublicKey(self.keys[org.key as usize].verifying_key().to_bytes())
    }

    fn today(&self) -> Date {
        Date::from_timestamp_ms(self.clock_ms + 1)
    }

    fn push(&mut self, author: &Org, body: Body) -> EntryId {
        self.clock_ms += 1;
        let entry_id = EntryId(self.rng.random());
        let entry = Entry { entry_id, author: author.id.clone(), timestamp_ms: self.clock_ms, body };
        self.planned.push(Planned { entry, key: author.key });
        entry_id
    }

    fn register(&mut self, operator: &Org, org: &Org, role: Role, name: String, country: &str) {
        let public_key = self.public(org);
        self.push(
            operator,
            Body::RegisterOrganisation {
                organisation: org.id.clone(),
                role,
                name,
                country: country.parse::<Country>().expect("valid country"),
                iati_identifier: None,
                attribution_policy: AttributionPolicy::Fifo,
                public_key,
            },
        );
    }

    fn donation(&mut self, ngo: &Org, amount: u128) {
        self.donations += 1;
        let body = Body::Donation {
            donor: Donor::Organisation(self.donor.clone()),
            asset: self.eur.clone(),
            amount: Amount(amount),
            value_date: self.today(),
            earmark: None,
            external_reference: Some(format!("SEPA-BENCH-{:08}", self.donations)),
        };
        self.push(ngo, body);
    }

    fn transfer(&mut self, from: &Org, to: &Org, amount: u128, purpose: String) -> EntryId {
        let body = Body::Transfer {
            to: to.id.clone(),
            asset: self.eur.clone(),
            amount: Amount(amount),
            value_date: self.today(),
            programme: None,
            purpose,
        };
        self.push(from, body)
    }

    /// A spend by a clinic to a fresh beneficiary; returns the amount (drawn at random, at most `balance`).
    fn spend(&mut self, clinic: &Org, balance: u128) -> u128 {
        let total: u32 = CATEGORIES.iter().map(|c| c.1).sum();
        let mut pick = self.rng.random_range(0..total);
        let category = CATEGORIES
            .iter()
            .find(|c| {
                if pick < c.1 {
                    true
                } else {
                    pick -= c.1;
                    false
                }
            })
            .expect("the weights cover the range")
            .0;
        let amount = self.rng.random_range(SPEND_MIN..SPEND_MAX).min(balance);
        assert!(amount > 0, "the synthetic clinics are funded before they spend");
        let salt: [u8; 32] = self.rng.random();
        let pseudonym: [u8; 16] = self.rng.random();
        let evidence = self.rng.random_bool(0.3).then(|| Digest(self.rng.random()));
        let body = Body::Spend {
            asset: self.eur.clone(),
            amount: Amount(amount),
            value_date: self.today(),
            category,
            recipient: Recipient::Beneficiary(beneficiary_commitment(&salt, &pseudonym)),
            programme: None,
            evidence,
            description: String::new(),
        };
        self.push(clinic, body);
        amount
    }
}

enum Action {
    Donation(u128),
    Transfer(usize, u128),
    Acknowledgement,
    Spend(usize),
}

/// An NGO and its clinics: everything one ingest sender touches.
struct Group {
    ngo: Org,
    clinics: Vec<Org>,
    ngo_balance: u128,
    balances: Vec<u128>,
    queue: VecDeque<Action>,
    unacknowledged: VecDeque<(usize, EntryId)>,
    round: u64,
}

impl Group {
    /// A round: a donation covering the top-ups, a transfer topping up each clinic to its float, the
    /// acknowledgements, then spends spread over the clinics.
    fn plan_round(&mut self, rng: &mut StdRng) {
        self.round += 1;
        let top_ups: Vec<u128> = self.balances.iter().map(|balance| CLINIC_FLOAT - balance).collect();
        let needed: u128 = top_ups.iter().sum();
        let donation = needed.saturating_sub(self.ngo_balance).div_ceil(DONATION_STEP).max(1) * DONATION_STEP;
        self.queue.push_back(Action::Donation(donation));
        for (clinic, &amount) in top_ups.iter().enumerate() {
            if amount > 0 {
                self.queue.push_back(Action::Transfer(clinic, amount));
            }
        }
        for &amount in &top_ups {
            if amount > 0 {
                self.queue.push_back(Action::Acknowledgement);
            }
        }
        let offset = rng.random_range(0..self.clinics.len());
        for spend in 0..SPENDS_PER_ROUND {
            self.queue.push_back(Action::Spend((offset + spend) % self.clinics.len()));
        }
    }

    fn emit(&mut self, planner: &mut Planner) {
        if self.queue.is_empty() {
            self.plan_round(&mut planner.rng);
        }
        match self.queue.pop_front().expect("a round was just planned") {
            Action::Donation(amount) => {
                planner.donation(&self.ngo, amount);
                self.ngo_balance += amount;
            }
            Action::Transfer(clinic, amount) => {
                let purpose = format!("operating funds, round {}", self.round);
                let id = planner.transfer(&self.ngo, &self.clinics[clinic], amount, purpose);
                self.ngo_balance -= amount;
                self.balances[clinic] += amount;
                self.unacknowledged.push_back((clinic, id));
            }
            Action::Acknowledgement => {
                let (clinic, transfer) =
                    self.unacknowledged.pop_front().expect("each acknowledgement follows its transfer");
                planner.push(&self.clinics[clinic], Body::Acknowledgement { transfer });
            }
            Action::Spend(clinic) => {
                let amount = planner.spend(&self.clinics[clinic], self.balances[clinic]);
                self.balances[clinic] -= amount;
            }
        }
    }
}

/// The number of setup entries for `clients` single-entry clients.
pub fn prefix_len(clients: usize) -> u64 {
    let funding = if clients > 0 { 1 + 2 * clients } else { 0 };
    (3 + NGOS + NGOS * CLINICS_PER_NGO + clients + funding) as u64
}

/// Plans the synthetic ledger and signs it on every core.
pub fn generate(spec: &WorkloadSpec) -> anyhow::Result<Workload> {
    let clients = if spec.single_entries == 0 { 0 } else { spec.clients.clamp(1, spec.single_entries as usize) };
    let prefix_entries = prefix_len(clients);
    if spec.entries < prefix_entries + 1 {
        bail!("--entries must be more than the {prefix_entries} setup entries (genesis, registrations, funding)");
    }
    let started = Instant::now();
    let total = spec.entries + spec.single_entries;
    let mut p = Planner {
        origin: BENCH_ORIGIN.to_string(),
        rng: StdRng::seed_from_u64(spec.seed),
        seed: spec.seed,
        clock_ms: spec.now_ms - total - 3_600_000,
        keys: Vec::new(),
        planned: Vec::with_capacity(total as usize),
        eur: AssetCode::new("EUR").expect("valid"),
        donor: OrgId::new("bench-donor").expect("valid"),
        donations: 0,
    };
    // The setup.
    let operator = p.org("bench-operator".into());
    let operator_key = p.public(&operator);
    p.push(&operator, Body::Genesis { origin: p.origin.clone(), operator: operator.id.clone(), operator_key });
    let eur = p.eur.clone();
    p.push(&operator, Body::DeclareAsset { asset: eur, decimals: 2, asset_kind: AssetKind::Fiat });
    let donor = p.org("bench-donor".into());
    p.register(&operator, &donor, Role::Donor, "Bench Donor Foundation".into(), "DE");
    let mut groups = Vec::with_capacity(NGOS);
    for g in 0..NGOS {
        let ngo = p.org(format!("bench-ngo-{g}"));
        p.register(&operator, &ngo, Role::Ngo, format!("Bench NGO {g}"), "FR");
        groups.push(Group {
            ngo,
            clinics: Vec::new(),
            ngo_balance: 0,
            balances: vec![0; CLINICS_PER_NGO],
            queue: VecDeque::new(),
            unacknowledged: VecDeque::new(),
            round: 0,
        });
    }
    for (g, group) in groups.iter_mut().enumerate() {
        for c in 0..CLINICS_PER_NGO {
            let clinic = p.org(format!("bench-clinic-{g}-{c:02}"));
            p.register(&operator, &clinic, Role::Clinic, format!("Bench clinic {g}-{c:02}"), "CD");
            group.clinics.push(clinic);
        }
    }
    let mut posts = Vec::with_capacity(clients);
    for c in 0..clients {
        let post = p.org(format!("bench-post-{c:03}"));
        p.register(&operator, &post, Role::Clinic, format!("Bench health post {c:03}"), "ML");
        posts.push(post);
    }
    // Fund the single-entry clinics through the first NGO, enough for all their spends.
    let spends_per_post: Vec<usize> = (0..clients)
        .map(|c| spec.single_entries as usize / clients + usize::from(c < spec.single_entries as usize % clients))
        .collect();
    let mut post_balances: Vec<u128> = spends_per_post.iter().map(|&n| n as u128 * SPEND_MAX).collect();
    if clients > 0 {
        let ngo = groups[0].ngo.clone();
        p.donation(&ngo, post_balances.iter().sum());
        let mut transfers = Vec::with_capacity(clients);
        for (post, &amount) in posts.iter().zip(&post_balances) {
            transfers.push(p.transfer(&ngo, post, amount, "health post operating funds".into()));
        }
        for (post, transfer) in posts.iter().zip(transfers) {
            p.push(post, Body::Acknowledgement { transfer });
        }
    }
    debug_assert_eq!(p.planned.len() as u64, prefix_entries);
    // The bulk: batches of one group each, round robin over the groups.
    let mut batch_plan: Vec<(usize, usize)> = Vec::new();
    let mut remaining = (spec.entries - prefix_entries) as usize;
    while remaining > 0 {
        let group = batch_plan.len() % NGOS;
        let size = remaining.min(BATCH_ENTRIES);
        for _ in 0..size {
            groups[group].emit(&mut p);
        }
        batch_plan.push((group, size));
        remaining -= size;
    }
    // The single-entry scenario: each client's clinic spends in turn.
    let mut single_owner = Vec::with_capacity(spec.single_entries as usize);
    for turn in 0..spends_per_post.iter().copied().max().unwrap_or(0) {
        for (c, post) in posts.iter().enumerate() {
            if turn < spends_per_post[c] {
                let amount = p.spend(post, post_balances[c]);
                post_balances[c] -= amount;
                single_owner.push(c);
            }
        }
    }
    let planning = started.elapsed();

    let started = Instant::now();
    let (leaves, threads) = sign_all(std::mem::take(&mut p.planned), &p.keys, &p.origin);
    let signing = started.elapsed();
    let mut leaves = leaves.into_iter();
    let prefix: Vec<Vec<u8>> = leaves.by_ref().take(prefix_entries as usize).collect();
    let batches = batch_plan
        .into_iter()
        .map(|(group, size)| Batch { group, leaves: leaves.by_ref().take(size).collect() })
        .collect();
    let mut single: Vec<Vec<Vec<u8>>> = spends_per_post.iter().map(|&n| Vec::with_capacity(n)).collect();
    for (owner, leaf) in single_owner.into_iter().zip(leaves) {
        single[owner].push(leaf);
    }
    Ok(Workload { origin: p.origin, prefix, batches, single, planning, signing, signing_threads: threads })
}

/// Signs the planned entries on every core; returns the leaf bytes in plan order and the thread count.
fn sign_all(planned: Vec<Planned>, keys: &[SigningKey], origin: &str) -> (Vec<Vec<u8>>, usize) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(planned.len().max(1));
    let chunk = planned.len().div_ceil(threads).max(1);
    let mut parts: Vec<Vec<Planned>> = Vec::with_capacity(threads);
    let mut rest = planned.into_iter();
    loop {
        let part: Vec<Planned> = rest.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let signed = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.into_iter()
                        .map(|planned| {
                            SignedEntry::sign(planned.entry, origin, &keys[planned.key as usize])
                                .expect("bench entries encode")
                                .into_bytes()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().expect("a signing thread panicked")).collect()
    });
    (signed, threads)
}

// ---------------------------------------------------------------------------------------------------------
// In-process costs: what the sequencer spends per entry before any I/O, and what an fsync costs.

/// CPU costs per entry measured in this process, on one core.
#[derive(Clone, Debug)]
pub struct EntryCosts {
    pub sample: usize,
    pub decode_per_s: f64,
    pub verify_per_s: f64,
    pub batch_verify_per_s: f64,
    pub apply_per_s: f64,
    /// True when the rates are per second of this thread's CPU time (robust to other load on the
    /// machine); false when the thread's CPU time was unavailable and wall time was used.
    pub cpu_time: bool,
    /// Share of the wall time this thread was running (below 100%: other work competed for the core).
    pub on_cpu_pct: f64,
}

impl EntryCosts {
    /// CPU per entry for the checks: verification (in the request handlers) and the money rules (in the
    /// sequencer), in microseconds.
    pub fn checks_us(&self) -> f64 {
        1e6 / self.verify_per_s + 1e6 / self.apply_per_s
    }
}

/// The CPU time this thread has run, in nanoseconds (from /proc/thread-self/schedstat).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// Measures a stretch of work on this thread in CPU time when available, else in wall time.
struct Stopwatch {
    wall: Instant,
    cpu_ns: Option<u64>,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch { wall: Instant::now(), cpu_ns: thread_cpu_ns() }
    }

    /// (seconds measured, wall seconds)
    fn stop(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        match (self.cpu_ns, thread_cpu_ns()) {
            (Some(before), Some(after)) if after > before => ((after - before) as f64 / 1e9, wall),
            _ => (wall, wall),
        }
    }
}

/// Decodes, verifies (one by one and in batches of 1,000) and applies the first entries of the ingest
/// set on this thread, timed in this thread's CPU time.
pub fn measure_entry_costs(origin: &str, leaves: &[&[u8]]) -> anyhow::Result<EntryCosts> {
    let cpu_time = thread_cpu_ns().is_some_and(|ns| ns > 0);
    let mut measured = 0.0;
    let mut wall = 0.0;
    let mut timed = |watch: Stopwatch| {
        let (seconds, wall_seconds) = watch.stop();
        measured += seconds;
        wall += wall_seconds;
        seconds
    };
    let watch = Stopwatch::start();
    let signed: Vec<SignedEntry> = leaves.iter().map(|leaf| SignedEntry::decode(leaf)).collect::<Result<_, _>>()?;
    let decode = timed(watch);

    let mut verifier = EntryVerifier::new(origin).map_err(|error| anyhow::anyhow!("{error}"))?;
    let copies = signed.clone();
    let watch = Stopwatch::start();
    let verified: Vec<_> = copies.into_iter().map(|entry| verifier.verify(entry)).collect::<Result<_, _>>()?;
    let verify = timed(watch);

    let mut verifier = EntryVerifier::new(origin).map_err(|error| anyhow::anyhow!("{error}"))?;
    let mut chunks: Vec<Vec<SignedEntry>> = signed.chunks(BATCH_ENTRIES).map(<[SignedEntry]>::to_vec).collect();
    let watch = Stopwatch::start();
    for chunk in chunks.drain(..) {
        for result in verifier.verify_batch(chunk) {
            result?;
        }
    }
    let batch_verify = timed(watch);

    let mut state = State::new();
    let watch = Stopwatch::start();
    for entry in &verified {
        state.apply(entry).map_err(|rejection| anyhow::anyhow!("a synthetic entry breaks the rules: {rejection}"))?;
    }
    let apply = timed(watch);
    let per_s = |seconds: f64| leaves.len() as f64 / seconds.max(1e-9);
    Ok(EntryCosts {
        sample: leaves.len(),
        decode_per_s: per_s(decode),
        verify_per_s: per_s(verify),
        batch_verify_per_s: per_s(batch_verify),
        apply_per_s: per_s(apply),
        cpu_time,
        on_cpu_pct: if cpu_time { measured / wall.max(1e-9) * 100.0 } else { 100.0 },
    })
}

/// Latencies of `rounds` appends of 4 KiB each followed by fdatasync, in a file of `dir`.
pub fn measure_fsync(dir: &Path, rounds: usize) -> anyhow::Result<Latency> {
    let path = dir.join("bench-fsync-probe");
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).context("creating the fsync probe")?;
    let block = [0x5au8; 4096];
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(started.elapsed().as_micros() as u32);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(Latency::from_micros(samples))
}

// ---------------------------------------------------------------------------------------------------------
// Measuring processes through /proc.

/// Clock ticks per second of /proc's CPU times.
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|&ticks| ticks > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in clock ticks, and its command name.
fn process_ticks(pid: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_string();
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The CPU ticks of every process named `postgres` (the database's backends and workers).
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|pid| process_ticks(&pid))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, ticks)| ticks)
        .sum()
}

/// Busy and total ticks of the whole machine (all cores), from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return (0, 0) };
    let Some(line) = stat.lines().find(|line| line.starts_with("cpu ")) else { return (0, 0) };
    let values: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// VmRSS and VmHWM (peak) of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return (0, 0) };
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[derive(Clone, Copy, Debug)]
struct CpuSnapshot {
    at: Instant,
    server: u64,
    generator: u64,
    database: u64,
    machine_busy: u64,
    machine_total: u64,
}

/// Where the CPU went during a scenario, in % of one core (a 2-core machine has 200%).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuShare {
    pub seconds: f64,
    pub server: f64,
    pub generator: f64,
    pub database: Option<f64>,
    /// Everything else that ran on the machine (other users' work, the kernel's own threads).
    pub other: f64,
    /// Busy share of the whole machine, in % of all cores.
    pub machine_busy: f64,
    pub server_cpu_seconds: f64,
}

struct CpuMeter {
    server_pid: String,
    with_database: bool,
    ticks_per_second: f64,
    cores: f64,
}

impl CpuMeter {
    fn snapshot(&self) -> CpuSnapshot {
        let (machine_busy, machine_total) = machine_ticks();
        CpuSnapshot {
            at: Instant::now(),
            server: process_ticks(&self.server_pid).map_or(0, |(_, ticks)| ticks),
            generator: process_ticks("self").map_or(0, |(_, ticks)| ticks),
            database: if self.with_database { postgres_ticks() } else { 0 },
            machine_busy,
            machine_total,
        }
    }

    fn share(&self, before: &CpuSnapshot, after: &CpuSnapshot) -> CpuShare {
        let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let core_pct = |ticks: u64| ticks as f64 / self.ticks_per_second / seconds * 100.0;
        let server = after.server.saturating_sub(before.server);
        let generator = after.generator.saturating_sub(before.generator);
        let database = after.database.saturating_sub(before.database);
        let busy = after.machine_busy.saturating_sub(before.machine_busy);
        let total = after.machine_total.saturating_sub(before.machine_total).max(1);
        let machine_busy = busy as f64 / total as f64 * 100.0;
        let accounted = core_pct(server) + core_pct(generator) + core_pct(database);
        CpuShare {
            seconds,
            server: core_pct(server),
            generator: core_pct(generator),
            database: self.with_database.then(|| core_pct(database)),
            other: (machine_busy * self.cores - accounted).max(0.0),
            machine_busy,
            server_cpu_seconds: server as f64 / self.ticks_per_second,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Latencies and scenario results.

/// Latency percentiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn from_micros(mut samples: Vec<u32>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        // Nearest rank: the smallest sample with at least a share q of the samples at or below it.
        let at = |q: f64| {
            let rank = ((samples.len() as f64 * q) - 1e-9).ceil().max(1.0) as usize;
            f64::from(samples[rank.min(samples.len()) - 1]) / 1000.0
        };
        Latency { count: samples.len(), p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1.0) }
    }
}

/// The first few errors of a scenario, and how many there were.
#[derive(Default)]
struct Errors {
    count: u64,
    first: Vec<String>,
}

type SharedErrors = Arc<Mutex<Errors>>;

fn note_error(errors: &SharedErrors, count: u64, message: String) {
    let mut errors = errors.lock().expect("the error log is never poisoned");
    errors.count += count;
    if errors.first.len() < 5 {
        errors.first.push(message);
    }
}

/// What one scenario measured.
#[derive(Default)]
struct Measured {
    /// Entries acknowledged, or successful read requests.
    items: u64,
    requests: u64,
    errors: u64,
    first_errors: Vec<String>,
    wall: Duration,
    latency: Latency,
    bytes_received: u64,
    cpu: CpuShare,
    slow: Option<SlowRequests>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.items as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Server CPU per item, in microseconds.
    fn server_us_per_item(&self) -> f64 {
        self.cpu.server_cpu_seconds * 1e6 / (self.items.max(1) as f64)
    }
}

#[derive(Default)]
struct TaskTally {
    items: u64,
    requests: u64,
    bytes: u64,
    latencies_us: Vec<u32>,
    /// When each request started, in ms since the scenario started (kept by the write scenarios only).
    offsets_ms: Vec<u32>,
}

/// The requests much slower than the median, and when in the scenario they started.
#[derive(Clone, Copy, Debug, Default)]
struct SlowRequests {
    threshold_ms: f64,
    count: usize,
    first_s: f64,
    last_s: f64,
}

fn merge(tallies: Vec<TaskTally>, errors: &SharedErrors, wall: Duration, cpu: CpuShare) -> Measured {
    let mut measured = Measured { wall, cpu, ..Measured::default() };
    let mut latencies = Vec::new();
    let mut timed = Vec::new();
    for tally in tallies {
        measured.items += tally.items;
        measured.requests += tally.requests;
        measured.bytes_received += tally.bytes;
        if tally.offsets_ms.len() == tally.latencies_us.len() {
            timed.extend(tally.offsets_ms.iter().copied().zip(tally.latencies_us.iter().copied()));
        }
        latencies.extend(tally.latencies_us);
    }
    measured.latency = Latency::from_micros(latencies);
    let threshold_ms = (measured.latency.p50_ms * 4.0).max(50.0);
    let slow: Vec<u32> =
        timed.iter().filter(|(_, us)| f64::from(*us) / 1000.0 > threshold_ms).map(|(at, _)| *at).collect();
    if !slow.is_empty() {
        measured.slow = Some(SlowRequests {
            threshold_ms,
            count: slow.len(),
            first_s: f64::from(*slow.iter().min().expect("not empty")) / 1000.0,
            last_s: f64::from(*slow.iter().max().expect("not empty")) / 1000.0,
        });
    }
    let errors = errors.lock().expect("the error log is never poisoned");
    measured.errors = errors.count;
    measured.first_errors = errors.first.clone();
    measured
}

fn micros(started: Instant) -> u32 {
    started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32
}

// ---------------------------------------------------------------------------------------------------------
// The HTTP scenarios.

fn batch_body(leaves: &[Vec<u8>]) -> String {
    let mut body = String::with_capacity(24 + leaves.iter().map(|leaf| leaf.len() * 2 + 3).sum::<usize>());
    body.push_str("{\"signed_entries\":[");
    for (position, leaf) in leaves.iter().enumerate() {
        if position > 0 {
            body.push(',');
        }
        body.push('"');
        body.push_str(&hex::encode(leaf));
        body.push('"');
    }
    body.push_str("]}");
    body
}

fn single_body(leaf: &[u8]) -> String {
    format!("{{\"signed_entry\":\"{}\"}}", hex::encode(leaf))
}

/// Sends one batch; returns the entries accepted and the response's size.
async fn post_batch(
    http: &reqwest::Client,
    url: &str,
    body: String,
    count: usize,
    errors: &SharedErrors,
) -> (u64, u64) {
    #[derive(serde::Deserialize)]
    struct Summary {
        accepted: u64,
        rejected: u64,
    }
    let response =
        match http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body).send().await {
            Ok(response) => response,
            Err(error) => {
                note_error(errors, count as u64, format!("batch request failed: {error}"));
                return (0, 0);
            }
        };
    let status = response.status();
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => {
            note_error(errors, count as u64, format!("reading a batch response failed: {error}"));
            return (0, 0);
        }
    };
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        note_error(errors, count as u64, format!("batch refused: {status}: {text}"));
        return (0, bytes.len() as u64);
    }
    match serde_json::from_slice::<Summary>(&bytes) {
        Ok(summary) => {
            if summary.rejected > 0 {
                let first = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|value| {
                        value["results"].as_array().and_then(|results| {
                            results
                                .iter()
                                .enumerate()
                                .find(|(_, r)| r.get("error").is_some())
                                .map(|(i, r)| format!("#{i}: {}", r["error"]))
                        })
                    })
                    .unwrap_or_default();
                note_error(
                    errors,
                    summary.rejected,
                    format!("{} of a batch's entries rejected, first {first}", summary.rejected),
                );
            }
            (summary.accepted, bytes.len() as u64)
        }
        Err(error) => {
            note_error(errors, count as u64, format!("unreadable batch response: {error}"));
            (0, bytes.len() as u64)
        }
    }
}

/// Ingest: the setup batches in order, then one sender per group sending its batches in order.
async fn ingest(
    http: &reqwest::Client,
    base: &str,
    prefix: Vec<(String, usize)>,
    groups: Vec<Vec<(String, usize)>>,
) -> (Vec<TaskTally>, SharedErrors) {
    let url = format!("{base}/api/v1/entries/batch");
    let errors: SharedErrors = Arc::default();
    let scenario_started = Instant::now();
    let mut first = TaskTally::default();
    for (body, count) in prefix {
        let started = Instant::now();
        first.offsets_ms.push(started.duration_since(scenario_started).as_millis() as u32);
        let (accepted, bytes) = post_batch(http, &url, body, count, &errors).await;
        first.latencies_us.push(micros(started));
        first.items += accepted;
        first.requests += 1;
        first.bytes += bytes;
    }
    let mut tasks = Vec::new();
    for bodies in groups {
        let (http, url, errors) = (http.clone(), url.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = TaskTally::default();
            for (body, count) in bodies {
                let started = Instant::now();
                tally.offsets_ms.push(started.duration_since(scenario_started).as_millis() as u32);
                let (accepted, bytes) = post_batch(&http, &url, body, count, &errors).await;
                tally.latencies_us.push(micros(started));
                tally.items += accepted;
                tally.requests += 1;
                tally.bytes += bytes;
            }
            tally
        }));
    }
    let mut tallies = vec![first];
    for task in tasks {
        tallies.push(task.await.unwrap_or_default());
    }
    (tallies, errors)
}

/// Single-entry writes: each client submits its clinic's entries one at a time, over its own keep-alive
/// connection of the lean client.
async fn single(base: &str, clients: Vec<Vec<String>>) -> (Vec<TaskTally>, SharedErrors) {
    let errors: SharedErrors = Arc::default();
    let scenario_started = Instant::now();
    let mut tasks = Vec::new();
    for bodies in clients {
        let (base, errors) = (base.to_string(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = TaskTally { latencies_us: Vec::with_capacity(bodies.len()), ..TaskTally::default() };
            let mut connection = None;
            for body in bodies {
                let started = Instant::now();
                let offset_ms = started.duration_since(scenario_started).as_millis() as u32;
                let outcome = send(&mut connection, &base, Request::Post(body.as_bytes())).await;
                if outcome.is_ok() {
                    tally.offsets_ms.push(offset_ms);
                }
                tally.record(outcome, started, &errors, "entry");
            }
            tally
        }));
    }
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await.unwrap_or_default());
    }
    (tallies, errors)
}

/// Read load: `clients` tasks GET paths from `path` until the time is up, each over its own keep-alive
/// connection of the lean client ([`crate::loadgen`]), so that the generator's share of the CPU stays small.
async fn reads<F>(base: &str, clients: usize, duration: Duration, seed: u64, path: F) -> (Vec<TaskTally>, SharedErrors)
where
    F: Fn(&mut StdRng) -> String + Clone + Send + Sync + 'static,
{
    let errors: SharedErrors = Arc::default();
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (base, errors, path) = (base.to_string(), errors.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed ^ (client as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut tally = TaskTally::default();
            let mut connection = None;
            while Instant::now() < deadline {
                let path = format!("/{}", path(&mut rng));
                let started = Instant::now();
                let outcome = send(&mut connection, &base, Request::Get(&path)).await;
                tally.record(outcome, started, &errors, &format!("GET {path}"));
            }
            tally
        }));
    }
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await.unwrap_or_default());
    }
    (tallies, errors)
}

/// One request of the load generator.
enum Request<'a> {
    Get(&'a str),
    /// A single entry to `/api/v1/entries`.
    Post(&'a [u8]),
}

/// Sends a request over the task's keep-alive connection, opening it first when there is none; a failed
/// exchange drops the connection so that the next request opens a fresh one.
async fn send(
    connection: &mut Option<crate::loadgen::Connection>,
    base: &str,
    request: Request<'_>,
) -> std::io::Result<crate::loadgen::Response> {
    if connection.is_none() {
        let host = crate::loadgen::Connection::host_of(base)?;
        *connection = Some(crate::loadgen::Connection::connect(&host).await?);
    }
    let open = connection.as_mut().expect("opened above");
    let outcome = match request {
        Request::Get(path) => open.get(path).await,
        Request::Post(body) => open.post_json("/api/v1/entries", body).await,
    };
    if outcome.is_err() {
        *connection = None;
    }
    outcome
}

impl TaskTally {
    /// Counts one request's outcome: its latency and size, and an error for a failure or a refusal.
    fn record(
        &mut self,
        outcome: std::io::Result<crate::loadgen::Response>,
        started: Instant,
        errors: &SharedErrors,
        what: &str,
    ) {
        self.requests += 1;
        match outcome {
            Ok(response) => {
                self.latencies_us.push(micros(started));
                self.bytes += response.body.len() as u64;
                if (200..300).contains(&response.status) {
                    self.items += 1;
                } else {
                    let text = String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).into_owned();
                    note_error(errors, 1, format!("{what}: {}: {text}", response.status));
                }
            }
            Err(error) => note_error(errors, 1, format!("{what} failed: {error}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The server under test.

struct ServerProcess {
    child: Child,
    base: String,
    log_path: PathBuf,
}

impl ServerProcess {
    fn start(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log_path = data_dir.join("server.log");
        let log = std::fs::File::create(&log_path).context("creating the server's log file")?;
        let exe = std::env::current_exe().context("finding the aidtrail executable")?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--origin",
                BENCH_ORIGIN,
                "--write-rate-per-key",
                "0",
                "--write-rate-per-address",
                "0",
                "--log-json",
            ])
            .env_remove("AIDTRAIL_DATABASE_URL")
            .env_remove("AIDTRAIL_CHECKPOINT_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        let child = command.spawn().context("starting aidtrail serve")?;
        Ok(ServerProcess { child, base: format!("http://127.0.0.1:{port}"), log_path })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited ({status}) before it was ready; its log:\n{}", self.log_tail());
            }
            if let Ok(response) = http.get(format!("{}/healthz", self.base)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not answer /healthz within 2 minutes; its log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The "state snapshot saved" lines of the server's log: (tree size, bytes, milliseconds).
    /// The state snapshots the server saved, from its log.
    fn snapshots(&self) -> Vec<SnapshotSaved> {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|value| value["fields"]["message"] == "state snapshot saved")
            .map(|value| {
                let field = |name: &str| value["fields"][name].as_u64().unwrap_or(0);
                SnapshotSaved {
                    tree_size: field("tree_size"),
                    bytes: field("bytes"),
                    elapsed_ms: field("elapsed_ms"),
                    locked_ms: field("locked_ms"),
                }
            })
            .collect()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum and count of a Prometheus summary (all label sets whose line contains `label`).
async fn summary_totals(http: &reqwest::Client, base: &str, name: &str, label: &str) -> (f64, f64) {
    let Ok(response) = http.get(format!("{base}/metrics")).send().await else { return (0.0, 0.0) };
    let text = response.text().await.unwrap_or_default();
    let mut sum = 0.0;
    let mut count = 0.0;
    for line in text.lines().filter(|line| line.contains(label)) {
        let Some((key, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let metric = key.split('{').next().unwrap_or(key);
        if metric == format!("{name}_sum") {
            sum += value;
        } else if metric == format!("{name}_count") {
            count += value;
        }
    }
    (sum, count)
}

/// A state snapshot the server saved, as its log says.
#[derive(Clone, Copy, Debug)]
struct SnapshotSaved {
    tree_size: u64,
    bytes: u64,
    /// Milliseconds in all, and holding the view's read lock (writers wait that long).
    elapsed_ms: u64,
    locked_ms: u64,
}

/// The server's memory by part, from its `aidtrail_memory_bytes` gauges, in bytes.
#[derive(Clone, Copy, Debug, Default)]
struct MemoryParts {
    resident: f64,
    heap_in_use: f64,
    heap_free: f64,
    sqlite: f64,
    merkle_tree: f64,
    entry_history: f64,
    tile_cache: f64,
}

async fn memory_parts(http: &reqwest::Client, base: &str) -> Option<MemoryParts> {
    let text = http.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    let mut parts = MemoryParts::default();
    for line in text.lines().filter(|line| line.starts_with("aidtrail_memory_bytes{")) {
        let (key, value) = line.rsplit_once(' ')?;
        let value: f64 = value.parse().ok()?;
        let part = key.split("part=\"").nth(1)?.split('"').next()?;
        match part {
            "resident" => parts.resident = value,
            "heap_in_use" => parts.heap_in_use = value,
            "heap_free" => parts.heap_free = value,
            "sqlite" => parts.sqlite = value,
            "merkle_tree" => parts.merkle_tree = value,
            "entry_history" => parts.entry_history = value,
            "tile_cache" => parts.tile_cache = value,
            _ => {}
        }
    }
    (parts.resident > 0.0).then_some(parts)
}

async fn tree_size(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let health: serde_json::Value = http.get(format!("{base}/healthz")).send().await?.json().await?;
    health["tree_size"].as_u64().context("/healthz has no tree_size")
}

/// The admin URL with its database replaced.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").context("the database URL has no scheme")? + 3;
    let path = base[authority..].find('/').map_or(base.len(), |position| authority + position);
    let mut result = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    Ok(result)
}

async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut connection =
        sqlx::PgConnection::connect(admin_url).await.context("connecting to PostgreSQL with --database-url")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .with_context(|| format!("creating the database {name}"))?;
    connection.close().await?;
    Ok(())
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The run.

/// Runs the whole bench and prints the report.
pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    let work_dir =
        std::env::temp_dir().join(format!("aidtrail-bench-{}-{:08x}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
    let database = match &options.database_url {
        Some(admin_url) => {
            let name = format!("aidtrail_bench_{:016x}", rand::random::<u64>());
            create_database(admin_url, &name).await?;
            Some((admin_url.clone(), name.clone(), with_database(admin_url, &name)?))
        }
        None => None,
    };
    let result =
        run_in(&options, &work_dir, database.as_ref().map(|(_, name, url)| (name.as_str(), url.as_str()))).await;
    if let Some((admin_url, name, _)) = &database
        && let Err(error) = drop_database(admin_url, name).await
    {
        eprintln!("bench: could not drop the database {name}: {error:#}");
    }
    let _ = std::fs::remove_dir_all(&work_dir);
    result
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench: {}", message.as_ref());
}

struct Preparation {
    workload_entries: usize,
    single_entries: usize,
    planning: Duration,
    signing: Duration,
    signing_threads: usize,
    encoding: Duration,
    costs: EntryCosts,
    prefix: Vec<(String, usize)>,
    groups: Vec<Vec<(String, usize)>>,
    single: Vec<Vec<String>>,
}

fn prepare(options: &BenchOptions) -> anyhow::Result<Preparation> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let spec = WorkloadSpec {
        entries: options.entries,
        single_entries: options.single_entries,
        clients: options.clients,
        seed: options.seed,
        now_ms,
    };
    progress(format!(
        "planning and signing {} entries on every core (not timed)",
        options.entries + options.single_entries
    ));
    let workload = generate(&spec)?;
    progress(format!(
        "measuring decode, verification and rules on one core ({} entries)",
        COST_SAMPLE_ENTRIES.min(workload.ingest_len())
    ));
    let sample: Vec<&[u8]> = workload.ingest_in_order().take(COST_SAMPLE_ENTRIES).map(Vec::as_slice).collect();
    let costs = measure_entry_costs(&workload.origin, &sample)?;
    drop(sample);
    let started = Instant::now();
    let prefix = workload.prefix.chunks(BATCH_ENTRIES).map(|chunk| (batch_body(chunk), chunk.len())).collect();
    let mut groups: Vec<Vec<(String, usize)>> = (0..NGOS).map(|_| Vec::new()).collect();
    for batch in &workload.batches {
        groups[batch.group].push((batch_body(&batch.leaves), batch.leaves.len()));
    }
    let single = workload.single.iter().map(|leaves| leaves.iter().map(|leaf| single_body(leaf)).collect()).collect();
    Ok(Preparation {
        workload_entries: workload.ingest_len(),
        single_entries: workload.single_len(),
        planning: workload.planning,
        signing: workload.signing,
        signing_threads: workload.signing_threads,
        encoding: started.elapsed(),
        costs,
        prefix,
        groups,
        single,
    })
}

/// Waits (at most 30 s) until the server has used less than 5% of a core for half a second, so a
/// scenario does not start while the previous one's after-effects (a state snapshot, WAL checkpoints)
/// still run.
async fn settle(meter: &CpuMeter) {
    let started = Instant::now();
    let quiet_ticks = (meter.ticks_per_second * 0.5 * 0.05).max(1.0) as u64;
    let mut before = meter.snapshot();
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = meter.snapshot();
        if after.server.saturating_sub(before.server) <= quiet_ticks {
            break;
        }
        before = after;
    }
    let waited = started.elapsed();
    if waited > Duration::from_millis(600) {
        progress(format!("waited {:.1} s for the server to go idle", waited.as_secs_f64()));
    }
}

struct Driver<'a> {
    meter: &'a CpuMeter,
}

impl Driver<'_> {
    async fn phase<F, Fut>(&self, scenario: F) -> Measured
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = (Vec<TaskTally>, SharedErrors)>,
    {
        let before = self.meter.snapshot();
        let started = Instant::now();
        let (tallies, errors) = scenario().await;
        let wall = started.elapsed();
        let after = self.meter.snapshot();
        merge(tallies, &errors, wall, self.meter.share(&before, &after))
    }
}

type SingleResult = (Measured, (f64, f64), (f64, f64));

struct Results {
    backend: String,
    options: BenchOptions,
    prep_entries: usize,
    prep_single: usize,
    planning: Duration,
    signing: Duration,
    signing_threads: usize,
    encoding: Duration,
    costs: EntryCosts,
    fsync: Latency,
    cores: f64,
    ingest: Measured,
    ingest_commits: (f64, f64),
    snapshots: Vec<SnapshotSaved>,
    rss_after_ingest: (u64, u64),
    /// The scenario, its (sum, count) of entries per commit, and of server-side seconds per request.
    single: Option<SingleResult>,
    proofs: Option<Measured>,
    hash_tiles: Option<Measured>,
    bundles: Option<Measured>,
    final_size: u64,
    rss: (u64, u64),
    /// The server's own account of its memory at the end.
    memory: Option<MemoryParts>,
}

async fn run_in(options: &BenchOptions, work_dir: &Path, database: Option<(&str, &str)>) -> anyhow::Result<()> {
    let prep_options = options.clone();
    let prep =
        tokio::task::spawn_blocking(move || prepare(&prep_options)).await.context("the preparation task failed")??;
    progress(format!(
        "prepared {} + {} entries: planned in {:.1} s, signed in {:.1} s on {} threads, encoded in {:.1} s",
        prep.workload_entries,
        prep.single_entries,
        prep.planning.as_secs_f64(),
        prep.signing.as_secs_f64(),
        prep.signing_threads,
        prep.encoding.as_secs_f64()
    ));
    let fsync = measure_fsync(work_dir, 200)?;

    let data_dir = work_dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let mut server = ServerProcess::start(&data_dir, database.map(|(_, url)| url))?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(300))
        .build()
        .context("building the HTTP client")?;
    server.wait_ready(&http).await?;
    let base = server.base.clone();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let meter = CpuMeter {
        server_pid: server.pid().to_string(),
        with_database: database.is_some(),
        ticks_per_second: clock_ticks_per_second(),
        cores,
    };
    let driver = Driver { meter: &meter };
    let backend = match database {
        Some((name, _)) => format!("PostgreSQL (fresh database {name})"),
        None => "SQLite (embedded, WAL, synchronous=FULL)".to_string(),
    };
    progress(format!("server pid {} on {base}, {backend}", server.pid()));

    // a. Ingest.
    progress(format!("ingest: {} entries in batches of {BATCH_ENTRIES}, {NGOS} senders", prep.workload_entries));
    let commits_before = summary_totals(&http, &base, "aidtrail_sequencer_batch_entries", "").await;
    let (prefix, groups) = (prep.prefix, prep.groups);
    let ingest_result = driver.phase(|| ingest(&http, &base, prefix, groups)).await;
    let commits_after = summary_totals(&http, &base, "aidtrail_sequencer_batch_entries", "").await;
    let ingest_commits = (commits_after.0 - commits_before.0, commits_after.1 - commits_before.1);
    let rss_after_ingest = memory_kib(server.pid());
    let size = tree_size(&http, &base).await?;
    progress(format!("ingest: {:.0} entries/s, log size {size}", ingest_result.rate()));

    // b. Single-entry writes.
    let single_result = if prep.single_entries > 0 {
        settle(&meter).await;
        progress(format!("single: {} entries from {} concurrent clients", prep.single_entries, prep.single.len()));
        let route = "route=\"/api/v1/entries\",method=\"POST\"";
        let commits_before = summary_totals(&http, &base, "aidtrail_sequencer_batch_entries", "").await;
        let server_before = summary_totals(&http, &base, "aidtrail_http_request_seconds", route).await;
        let clients = prep.single;
        let measured = driver.phase(|| single(&base, clients)).await;
        let commits_after = summary_totals(&http, &base, "aidtrail_sequencer_batch_entries", "").await;
        let server_after = summary_totals(&http, &base, "aidtrail_http_request_seconds", route).await;
        progress(format!("single: {:.0} entries/s, p99 {:.1} ms", measured.rate(), measured.latency.p99_ms));
        Some((
            measured,
            (commits_after.0 - commits_before.0, commits_after.1 - commits_before.1),
            (server_after.0 - server_before.0, server_after.1 - server_before.1),
        ))
    } else {
        None
    };
    let final_size = tree_size(&http, &base).await?;

    // c, d. Reads.
    let clients = options.clients.max(1);
    settle(&meter).await;
    let (proofs, hash_tiles, bundles) = if options.duration.is_zero() || final_size == 0 {
        (None, None, None)
    } else {
        check_one_proof(&http, &base, final_size).await?;
        progress(format!("proofs: {clients} clients for {} s at tree size {final_size}", options.duration.as_secs()));
        let proofs = driver
            .phase(|| {
                reads(&base, clients, options.duration, options.seed, move |rng: &mut StdRng| {
                    format!("api/v1/proofs/inclusion?index={}&tree_size={final_size}", rng.random_range(0..final_size))
                })
            })
            .await;
        let full_tiles = final_size / ledger::tiles::TILE_WIDTH_MAX;
        let (hash_tiles, bundles) = if full_tiles == 0 {
            (None, None)
        } else {
            progress(format!(
                "tiles: {clients} clients for {} s, random full level-0 tiles",
                options.duration.as_secs()
            ));
            let hash_tiles = driver
                .phase(|| {
                    reads(&base, clients, options.duration, options.seed + 1, move |rng: &mut StdRng| {
                        TilePath::full_tile(0, rng.random_range(0..full_tiles)).to_path()
                    })
                })
                .await;
            progress(format!(
                "entry bundles: {clients} clients for {} s, random full bundles",
                options.duration.as_secs()
            ));
            let bundles = driver
                .phase(|| {
                    reads(&base, clients, options.duration, options.seed + 2, move |rng: &mut StdRng| {
                        TilePath::full_entry_bundle(rng.random_range(0..full_tiles)).to_path()
                    })
                })
                .await;
            (Some(hash_tiles), Some(bundles))
        };
        (Some(proofs), hash_tiles, bundles)
    };

    // e. Memory.
    let rss = memory_kib(server.pid());
    let memory = memory_parts(&http, &base).await;
    let snapshots = server.snapshots();
    drop(server);

    let results = Results {
        backend,
        options: options.clone(),
        prep_entries: prep.workload_entries,
        prep_single: prep.single_entries,
        planning: prep.planning,
        signing: prep.signing,
        signing_threads: prep.signing_threads,
        encoding: prep.encoding,
        costs: prep.costs,
        fsync,
        cores,
        ingest: ingest_result,
        ingest_commits,
        snapshots,
        rss_after_ingest,
        single: single_result,
        proofs,
        hash_tiles,
        bundles,
        final_size,
        rss,
        memory,
    };
    print!("{}", report(&results));
    if options.markdown {
        print!("\n{}", markdown(&results));
    }
    Ok(())
}

/// Fetches one inclusion proof and checks it against its root, so the read scenarios measure real answers.
async fn check_one_proof(http: &reqwest::Client, base: &str, size: u64) -> anyhow::Result<()> {
    let index = size / 2;
    let view: serde_json::Value = http
        .get(format!("{base}/api/v1/proofs/inclusion?index={index}&tree_size={size}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let hash = |text: &serde_json::Value| -> anyhow::Result<ledger::merkle::Hash> {
        let bytes = hex::decode(text.as_str().context("a hash is not a string")?)?;
        Ok(ledger::merkle::hash_from_slice(&bytes)?)
    };
    let proof: Vec<ledger::merkle::Hash> =
        view["proof"].as_array().context("no proof")?.iter().map(hash).collect::<anyhow::Result<_>>()?;
    ledger::merkle::verify_inclusion(&hash(&view["leaf_hash"])?, index, size, &proof, &hash(&view["root"])?)
        .map_err(|error| anyhow::anyhow!("the server's inclusion proof does not verify: {error}"))
}

// ---------------------------------------------------------------------------------------------------------
// The report.

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[derive(Clone, Copy)]
enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(target) => value >= target,
            Target::AtMost(target) => value <= target,
        }
    }

    fn text(self, unit: &str) -> String {
        match self {
            Target::AtLeast(target) => format!(">= {} {unit}", thousands(target)),
            Target::AtMost(target) => format!("<= {} {unit}", thousands(target)),
        }
    }
}

struct Row {
    figure: String,
    value: f64,
    unit: &'static str,
    target: Target,
    latency: Option<Latency>,
    cpu: Option<CpuShare>,
    errors: u64,
}

fn rows(results: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    rows.push(Row {
        figure: format!("ingest, batches of {BATCH_ENTRIES} ({NGOS} in flight)"),
        value: results.ingest.rate(),
        unit: "entries/s",
        target: Target::AtLeast(targets::INGEST_ENTRIES_PER_S),
        latency: Some(results.ingest.latency),
        cpu: Some(results.ingest.cpu),
        errors: results.ingest.errors,
    });
    if let Some((single, _, _)) = &results.single {
        let clients = results.options.clients.min(results.prep_single.max(1));
        rows.push(Row {
            figure: format!("single-entry writes, {clients} clients"),
            value: single.rate(),
            unit: "entries/s",
            target: Target::AtLeast(targets::SINGLE_ENTRIES_PER_S),
            latency: Some(single.latency),
            cpu: Some(single.cpu),
            errors: single.errors,
        });
        rows.push(Row {
            figure: "single-entry acknowledgement p99".into(),
            value: single.latency.p99_ms,
            unit: "ms",
            target: Target::AtMost(targets::SINGLE_P99_MS),
            latency: None,
            cpu: None,
            errors: single.errors,
        });
    }
    let clients = results.options.clients;
    let size = thousands(results.final_size as f64);
    for (measured, figure, target) in [
        (&results.proofs, format!("inclusion proofs at {size} entries, {clients} clients"), targets::PROOFS_PER_S),
        (&results.hash_tiles, format!("hash tiles /tile/0/N, {clients} clients"), targets::TILES_PER_S),
        (&results.bundles, format!("entry bundles /tile/entries/N, {clients} clients"), targets::TILES_PER_S),
    ] {
        if let Some(measured) = measured {
            rows.push(Row {
                figure,
                value: measured.rate(),
                unit: "requests/s",
                target: Target::AtLeast(target),
                latency: Some(measured.latency),
                cpu: Some(measured.cpu),
                errors: measured.errors,
            });
        }
    }
    rows.push(Row {
        figure: format!("server RSS at {size} entries (peak {:.0} MB)", results.rss.1 as f64 / 1024.0),
        value: results.rss.0 as f64 / 1024.0,
        unit: "MB",
        target: Target::AtMost(targets::RSS_MB),
        latency: None,
        cpu: None,
        errors: 0,
    });
    rows
}

fn cpu_text(cpu: &CpuShare, cores: f64) -> (String, String, String, String) {
    let pct = |core_pct: f64| format!("{core_pct:.0}% ({:.0}% of machine)", core_pct / cores);
    (
        pct(cpu.server),
        pct(cpu.generator),
        cpu.database.map_or_else(|| "in server".to_string(), pct),
        format!("{:.0}%", cpu.other / cores),
    )
}

fn value_text(row: &Row) -> String {
    if row.unit == "ms" {
        format!("{:.1} {}", row.value, row.unit)
    } else {
        format!("{} {}", thousands(row.value), row.unit)
    }
}

fn report(results: &Results) -> String {
    let mut out = String::new();
    let c = &results.costs;
    let o = &results.options;
    let _ = writeln!(out, "\n== aidtrail bench: {} ==", results.backend);
    let _ = writeln!(
        out,
        "{} ingest entries + {} single-entry entries; {} clients; {} s per read scenario; {} cores shared by server, database and load generator",
        thousands(results.prep_entries as f64),
        thousands(results.prep_single as f64),
        o.clients,
        o.duration.as_secs(),
        results.cores
    );
    let _ = writeln!(
        out,
        "preparation (not timed): planned in {:.1} s, signed {} entries in {:.1} s on {} threads, request bodies in {:.1} s",
        results.planning.as_secs_f64(),
        thousands((results.prep_entries + results.prep_single) as f64),
        results.signing.as_secs_f64(),
        results.signing_threads,
        results.encoding.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "in-process, one core, first {} entries, per second of {}: decode {}/s; verification alone: {} entries/s per core ({:.1} us each), batched {}/s; rules (State::apply) {}/s ({:.1} us each)",
        thousands(c.sample as f64),
        if c.cpu_time {
            format!("thread CPU time (on CPU {:.0}% of the wall time)", c.on_cpu_pct)
        } else {
            "wall time".to_string()
        },
        thousands(c.decode_per_s),
        thousands(c.verify_per_s),
        1e6 / c.verify_per_s,
        thousands(c.batch_verify_per_s),
        thousands(c.apply_per_s),
        1e6 / c.apply_per_s
    );
    let _ = writeln!(
        out,
        "  -> the request handlers verify on both cores while the sequencer applies and stores on one: verification alone allows at most {} entries/s on {} cores",
        thousands(c.verify_per_s * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let _ = writeln!(
        out,
        "fsync (4 KiB append + fdatasync in the temp dir): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        results.fsync.p50_ms, results.fsync.p99_ms, results.fsync.max_ms
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<48} {:>20} {:>22} {:>4} {:>26} {:>24} {:>24} {:>24} {:>7} {:>6}",
        "figure",
        "result",
        "target",
        "met",
        "latency p50/p99/max ms",
        "server CPU",
        "generator CPU",
        "database CPU",
        "other",
        "errors"
    );
    for row in rows(results) {
        let latency =
            row.latency.map_or_else(|| "-".into(), |l| format!("{:.1} / {:.1} / {:.1}", l.p50_ms, l.p99_ms, l.max_ms));
        let (server, generator, database, other) = row
            .cpu
            .map_or_else(|| ("-".into(), "-".into(), "-".into(), "-".into()), |cpu| cpu_text(&cpu, results.cores));
        let _ = writeln!(
            out,
            "{:<48} {:>20} {:>22} {:>4} {:>26} {:>24} {:>24} {:>24} {:>7} {:>6}",
            row.figure,
            value_text(&row),
            row.target.text(row.unit),
            if row.target.met(row.value) { "yes" } else { "NO" },
            latency,
            server,
            generator,
            database,
            other,
            row.errors
        );
    }
    let _ = writeln!(
        out,
        "CPU: % of one core (and of the whole machine); 'other' is CPU used by anything else on the machine meanwhile."
    );
    let mut failures = Vec::new();
    for (name, measured) in [
        ("ingest", Some(&results.ingest)),
        ("single", results.single.as_ref().map(|s| &s.0)),
        ("proofs", results.proofs.as_ref()),
        ("hash tiles", results.hash_tiles.as_ref()),
        ("entry bundles", results.bundles.as_ref()),
    ] {
        if let Some(measured) = measured
            && measured.errors > 0
        {
            failures.push(format!("{name}: {} errors; first: {}", measured.errors, measured.first_errors.join(" | ")));
        }
    }
    let expected = (results.prep_entries + results.prep_single) as u64;
    if results.final_size != expected {
        failures.push(format!("the log holds {} entries, {} were sent", results.final_size, expected));
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nERRORS (the figures above are not valid):");
        for failure in failures {
            let _ = writeln!(out, "  {failure}");
        }
    }
    let _ = writeln!(out, "\nwhat bounds each figure:");
    for line in bounds(results) {
        let _ = writeln!(out, "- {line}");
    }
    out
}

/// Says when other processes used a noticeable share of the machine during a scenario.
fn noise(cpu: &CpuShare, cores: f64) -> String {
    let other = cpu.other / cores;
    if other >= 20.0 {
        format!(
            " NOISY: other processes used {other:.0}% of the machine meanwhile, so this figure is pessimistic; the server CPU per item is the steadier measure."
        )
    } else {
        String::new()
    }
}

fn machine_text(cpu: &CpuShare, cores: f64) -> String {
    format!(
        "machine {:.0}% busy (server {:.0}%, generator {:.0}%{}, other {:.0}%)",
        cpu.machine_busy,
        cpu.server / cores,
        cpu.generator / cores,
        cpu.database.map_or_else(String::new, |db| format!(", database {:.0}%", db / cores)),
        cpu.other / cores,
    )
}

/// Measured facts about what limits each scenario, and a verdict for each missed target.
fn bounds(results: &Results) -> Vec<String> {
    let cores = results.cores;
    let c = &results.costs;
    let sqlite = results.options.database_url.is_none();
    let saturated = |cpu: &CpuShare| cpu.machine_busy >= 90.0;
    let mut lines = Vec::new();

    let ingest = &results.ingest;
    let (batch_sum, commits) = results.ingest_commits;
    let rate = ingest.rate();
    // The sequencer's own share of the checks: the rules (verification runs in the request handlers).
    let sequencer_busy = rate * (1e6 / c.apply_per_s) / 1e6 * 100.0;
    let snapshot_ms: u64 = results.snapshots.iter().map(|s| s.elapsed_ms).sum();
    let commit_rate = commits / ingest.wall.as_secs_f64().max(1e-9);
    let commit_ms = 1e3 / commit_rate.max(1e-9);
    let commit_checks_ms = batch_sum / commits.max(1.0) * (1e6 / c.apply_per_s) / 1e3;
    let mut line = format!(
        "ingest: {} commits of {:.0} entries on average ({:.1} commits/s, one every {commit_ms:.0} ms: the rules ~{commit_checks_ms:.0} ms of it, \
         the rest SQL writes, commit with fsync, receipts and waiting for requests; verification runs beside it in the request handlers); server CPU {:.0} us/entry, \
         of which verification {:.1} us and rules {:.1} us ({:.0}%); at this rate the rules keep the sequencer's thread {:.0}% busy; {} state snapshots took {} ms ({:.1}% of the run); \
         responses {:.0} bytes/entry; {}.",
        thousands(commits),
        batch_sum / commits.max(1.0),
        commit_rate,
        ingest.server_us_per_item(),
        1e6 / c.verify_per_s,
        1e6 / c.apply_per_s,
        c.checks_us() / ingest.server_us_per_item().max(1e-9) * 100.0,
        sequencer_busy,
        results.snapshots.len(),
        snapshot_ms,
        snapshot_ms as f64 / 10.0 / ingest.wall.as_secs_f64().max(1e-9),
        ingest.bytes_received as f64 / ingest.items.max(1) as f64,
        machine_text(&ingest.cpu, cores),
    );
    if rate < targets::INGEST_ENTRIES_PER_S {
        let dedicated = cores * 1e6 / ingest.server_us_per_item().max(1e-9);
        let mut verdicts = Vec::new();
        let budget_us = 1e6 / targets::INGEST_ENTRIES_PER_S;
        // Verification runs beside the sequencer on every core; at the target it alone takes this share of
        // the machine, and the rest of the server's work per entry the remainder.
        let verify_us = 1e6 / c.verify_per_s;
        let verify_share = targets::INGEST_ENTRIES_PER_S * verify_us / (cores * 1e6) * 100.0;
        let total_share = targets::INGEST_ENTRIES_PER_S * ingest.server_us_per_item() / (cores * 1e6) * 100.0;
        if total_share >= 75.0 {
            verdicts.push(format!(
                "CPU, mostly in signature checks: at the target, verification alone ({verify_us:.1} us per entry) would take {verify_share:.0}% \
                 of the machine and the whole server ({:.0} us per entry: HTTP, hex and JSON, verification, rules, SQL, receipts) {total_share:.0}%, \
                 beside the load generator and the database (the target leaves {:.0} us of CPU per entry across {cores} cores)",
                ingest.server_us_per_item(),
                budget_us * cores
            ));
        }
        if saturated(&ingest.cpu) {
            verdicts.push(format!(
                "CPU: the cores were saturated; at {:.0} us of server CPU per entry (HTTP, hex and JSON, verification, rules, SQL, receipts) \
                 a server with both cores to itself would reach ~{} entries/s",
                ingest.server_us_per_item(),
                thousands(dedicated)
            ));
        } else if sequencer_busy < 60.0 {
            let rest = (commit_ms - commit_checks_ms).max(0.0);
            verdicts.push(if sqlite {
                format!(
                    "the serial storage path: the cores were not saturated, and of each commit's {commit_ms:.0} ms ~{rest:.0} ms go to SQLite's writes \
                     (entries, tree nodes, balances, checkpoint) in the sequencer, one batch at a time (fsync alone: {:.1} ms)",
                    results.fsync.p50_ms
                )
            } else {
                format!(
                    "the database: the cores were not saturated, and of each commit's {commit_ms:.0} ms ~{rest:.0} ms go to PostgreSQL's writes \
                     and commit, one batch at a time"
                )
            });
        }
        let _ = write!(line, " MISSED, bounded by {}.", verdicts.join("; and by "));
    }
    line.push_str(&noise(&ingest.cpu, cores));
    lines.push(line);

    if let Some((single, (batch_sum, commits), (server_sum, server_count))) = &results.single {
        let commit_rate = commits / single.wall.as_secs_f64().max(1e-9);
        let fsync_share = commit_rate * results.fsync.p50_ms / 10.0;
        let per_commit_ms = single.cpu.server_cpu_seconds * 1e3 / commits.max(1.0);
        let mut line = format!(
            "single: {} commits of {:.1} entries on average ({:.0} commits/s, server CPU {:.1} ms per commit; one fsync per commit would take {:.0}% of the time); \
             server-side handling {:.1} ms on average (client-side p50 {:.1} ms); server CPU {:.0} us/entry; {}.",
            thousands(*commits),
            batch_sum / commits.max(1.0),
            commit_rate,
            per_commit_ms,
            fsync_share,
            server_sum / server_count.max(1.0) * 1e3,
            single.latency.p50_ms,
            single.server_us_per_item(),
            machine_text(&single.cpu, cores),
        );
        let missed_rate = single.rate() < targets::SINGLE_ENTRIES_PER_S;
        let missed_latency = single.latency.p99_ms > targets::SINGLE_P99_MS;
        if missed_rate || missed_latency {
            let commit_wall_ms = 1e3 / commit_rate.max(1e-9);
            let verdict = if sqlite && fsync_share >= 50.0 {
                "fsync: each group commit waits for SQLite's fsync".to_string()
            } else if !saturated(&single.cpu) && per_commit_ms >= 0.75 * commit_wall_ms {
                format!(
                    "one core: the commits are serial (one every {commit_wall_ms:.1} ms) and the server spends {per_commit_ms:.1} ms of CPU per commit, \
                     so the sequencer's path (checkpoint signature, SQL writes of entries, nodes, balances and the checkpoint, receipts) \
                     plus the HTTP handling keep about one core busy while the second core idles ({:.0}% of the machine was busy)",
                    single.cpu.machine_busy
                )
            } else if saturated(&single.cpu) {
                format!(
                    "CPU: the cores were saturated; at {:.0} us of server CPU per entry a server with both cores to itself would reach ~{} entries/s; \
                     with {} clients waiting, a request waits for about {:.0} commits",
                    single.server_us_per_item(),
                    thousands(cores * 1e6 / single.server_us_per_item().max(1e-9)),
                    results.options.clients,
                    (results.options.clients as f64 / (batch_sum / commits.max(1.0)).max(1.0)).max(1.0)
                )
            } else if !sqlite {
                "the database: each group commit waits for PostgreSQL's transaction and WAL flush".to_string()
            } else {
                "the sequencer's serial commits (one batch at a time), not CPU".to_string()
            };
            let which = match (missed_rate, missed_latency) {
                (true, true) => "rate and p99",
                (true, false) => "rate",
                _ => "p99",
            };
            let _ = write!(line, " MISSED ({which}), bounded by {verdict}.");
        }
        if let Some(&SnapshotSaved { tree_size: size, elapsed_ms: ms, locked_ms, .. }) =
            results.snapshots.iter().max_by_key(|s| s.locked_ms)
        {
            let _ = write!(
                line,
                " A state snapshot (every {} entries) is written in the background; the sequencer waits only while the state is copied (a read lock on it): at {} entries the copy held writers for {locked_ms} ms, and the snapshot took {ms} ms in all.",
                thousands(crate::log::SNAPSHOT_EVERY_ENTRIES as f64),
                thousands(size as f64)
            );
        }
        if let Some(slow) = single.slow {
            let _ = write!(
                line,
                " {} requests took more than {:.0} ms; they started between {:.1} s and {:.1} s into the {:.1} s run.",
                slow.count,
                slow.threshold_ms,
                slow.first_s,
                slow.last_s,
                single.wall.as_secs_f64()
            );
        }
        line.push_str(&noise(&single.cpu, cores));
        lines.push(line);
    }

    for (name, measured, target) in [
        ("proofs", &results.proofs, targets::PROOFS_PER_S),
        ("hash tiles", &results.hash_tiles, targets::TILES_PER_S),
        ("entry bundles", &results.bundles, targets::TILES_PER_S),
    ] {
        let Some(measured) = measured else { continue };
        let dedicated = cores * 1e6 / measured.server_us_per_item().max(1e-9);
        let mut line = format!(
            "{name}: server CPU {:.0} us/request (with both cores to itself: ~{} requests/s); generator CPU {:.0} us/request; {:.0} bytes/response; {}.",
            measured.server_us_per_item(),
            thousands(dedicated),
            measured.cpu.generator / 100.0 * measured.cpu.seconds * 1e6 / measured.items.max(1) as f64,
            measured.bytes_received as f64 / measured.items.max(1) as f64,
            machine_text(&measured.cpu, cores),
        );
        if measured.rate() < target {
            let what = if name == "entry bundles" {
                if sqlite {
                    "reading 256 rows from SQLite inside the server and building the bundle"
                } else {
                    "reading 256 rows from PostgreSQL and building the bundle"
                }
            } else {
                "the HTTP stack, the request layers and the JSON or tile encoding"
            };
            let verdict = if saturated(&measured.cpu) {
                let reach = if dedicated < target {
                    "below the target even without the load generator"
                } else {
                    "enough for the target if the load generator ran elsewhere"
                };
                format!(
                    "server CPU per request ({what}): the cores were saturated; with both cores to itself the server would reach ~{} requests/s, {reach}",
                    thousands(dedicated)
                )
            } else if name == "entry bundles" && !sqlite {
                "the database reads (256 rows per bundle), not CPU".to_string()
            } else {
                "latency with this many clients, not CPU".to_string()
            };
            let _ = write!(line, " MISSED, bounded by {verdict}.");
        }
        line.push_str(&noise(&measured.cpu, cores));
        lines.push(line);
    }

    let mib = |bytes: f64| bytes / 1_048_576.0;
    let state = results
        .snapshots
        .last()
        .map(|s| format!("{:.0} MB serialised at {} entries", mib(s.bytes as f64), thousands(s.tree_size as f64)));
    let mut line = format!(
        "memory: RSS {:.0} MB after ingest, {:.0} MB at the end (peak {:.0} MB{}); the ledger state: {}.",
        results.rss_after_ingest.0 as f64 / 1024.0,
        results.rss.0 as f64 / 1024.0,
        results.rss.1 as f64 / 1024.0,
        if results.snapshots.is_empty() { "" } else { ", while a state snapshot is serialised and saved" },
        state.unwrap_or_else(|| "no snapshot yet".into())
    );
    // The server's own account: what malloc has handed out (Rust and SQLite), what it keeps free, the rest.
    let entries = results.final_size.max(1) as f64;
    let mut parts = None;
    if let Some(memory) = results.memory {
        let rest = (memory.heap_in_use - memory.sqlite - memory.merkle_tree - memory.entry_history - memory.tile_cache)
            .max(0.0);
        let other = (memory.resident - memory.heap_in_use).max(0.0);
        let database = if sqlite {
            format!(
                "SQLite {:.0} MB (page caches of up to {} MiB for the writer and {} MiB for each of {} readers)",
                mib(memory.sqlite),
                crate::store::SQLITE_WRITE_CACHE_KIB / 1024,
                crate::store::SQLITE_READ_CACHE_KIB / 1024,
                crate::store::SQLITE_READERS,
            )
        } else {
            "no database (PostgreSQL's memory is its own processes')".to_string()
        };
        let _ = write!(
            line,
            " Of the server's {:.0} MB resident at the end: {:.0} MB in use on the heap, of which {database}, the \
             Merkle tree {:.0} MB ({:.0} bytes per entry), the entries' history {:.0} MB ({:.0} bytes per entry: \
             each entry's encoded record and id, the tables that find entries by id and by beneficiary \
             commitment, each donation's flows), cached entry bundles {:.0} MB, and the rest {:.0} MB (balances, \
             lots, the anomaly flags and request buffers: {:.0} bytes per entry); the other {:.0} MB are code, \
             thread stacks and free memory the allocator keeps (its free lists hold {:.0} MB, much of it already \
             returned to the system).",
            mib(memory.resident),
            mib(memory.heap_in_use),
            mib(memory.merkle_tree),
            memory.merkle_tree / entries,
            mib(memory.entry_history),
            memory.entry_history / entries,
            mib(memory.tile_cache),
            mib(rest),
            rest / entries,
            mib(other),
            mib(memory.heap_free),
        );
        parts = Some((memory, rest));
    }
    if results.rss.0 as f64 / 1024.0 > targets::RSS_MB {
        let budget = targets::RSS_MB * 1_048_576.0 / entries;
        match parts {
            Some((memory, rest)) => {
                let growing = (memory.merkle_tree + memory.entry_history + rest) / entries;
                let fixed = memory.sqlite + memory.tile_cache + (memory.resident - memory.heap_in_use).max(0.0);
                let _ = write!(
                    line,
                    " MISSED, bounded by what grows with the log: the target leaves {budget:.0} bytes per entry \
                     for everything at this size; the tree, the history and the rest of the state keep \
                     {growing:.0} per entry, beside {:.0} MB that does not grow with the log (database caches, \
                     cached bundles, code and the allocator's free memory).",
                    mib(fixed),
                );
            }
            None => {
                let _ = write!(line, " MISSED: the in-memory view (ledger state, tree) exceeds the budget.");
            }
        }
    }
    lines.push(line);
    lines
}

fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let o = &results.options;
    let _ = writeln!(out, "<!-- aidtrail bench, {} -->", results.backend);
    let mut command = format!(
        "aidtrail bench --entries {} --single-entries {} --clients {} --duration-secs {}",
        o.entries,
        o.single_entries,
        o.clients,
        o.duration.as_secs()
    );
    if o.database_url.is_some() {
        command.push_str(" --database-url postgres://...");
    }
    let _ = writeln!(out, "`{command} --markdown` on {}, {} cores:\n", results.backend, results.cores);
    let _ = writeln!(
        out,
        "| Figure | Result | Target | Met? | Latency p50 / p99 / max (ms) | Server CPU | Generator CPU | Database CPU | Other load |"
    );
    let _ = writeln!(out, "|---|---:|---:|:---:|---:|---:|---:|---:|---:|");
    for row in rows(results) {
        let latency =
            row.latency.map_or_else(|| "".into(), |l| format!("{:.1} / {:.1} / {:.1}", l.p50_ms, l.p99_ms, l.max_ms));
        let (server, generator, database, other) =
            row.cpu.map_or_else(|| ("".into(), "".into(), "".into(), "".into()), |cpu| cpu_text(&cpu, results.cores));
        let errors = if row.errors > 0 { format!(" ({} errors)", row.errors) } else { String::new() };
        let _ = writeln!(
            out,
            "| {} | {}{errors} | {} | {} | {latency} | {server} | {generator} | {database} | {other} |",
            row.figure,
            value_text(&row),
            row.target.text(row.unit),
            if row.target.met(row.value) { "yes" } else { "**no**" },
        );
    }
    let c = &results.costs;
    let _ = writeln!(
        out,
        "\nVerification alone: {} entries/s per core ({} batched); rules alone: {} entries/s per core; fsync p50 {:.2} ms. CPU columns: % of one core (% of the {}-core machine).",
        thousands(c.verify_per_s),
        thousands(c.batch_verify_per_s),
        thousands(c.apply_per_s),
        results.fsync.p50_ms,
        results.cores
    );
    let _ = writeln!(out, "\nWhat bounds each figure:\n");
    for line in bounds(results) {
        let _ = writeln!(out, "- {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_all<'a>(
        origin: &str,
        leaves: impl Iterator<Item = &'a Vec<u8>>,
        state: &mut State,
        verifier: &mut EntryVerifier,
        now_ms: u64,
    ) {
        for leaf in leaves {
            let signed = SignedEntry::decode(leaf).expect("a synthetic entry decodes");
            let verified = verifier.verify(signed).expect("a synthetic entry verifies");
            ledger::check_clock(verified.entry().timestamp_ms, now_ms).expect("no synthetic entry is in the future");
            let applied = state
                .apply(&verified)
                .unwrap_or_else(|rejection| panic!("entry {} of {origin} rejected: {rejection}", state.size()));
            assert!(!applied.duplicate);
        }
    }

    fn spec() -> WorkloadSpec {
        WorkloadSpec { entries: 3_000, single_entries: 300, clients: 8, seed: 7, now_ms: 1_800_000_000_000 }
    }

    #[test]
    fn the_synthetic_ledger_applies_in_order() {
        let spec = spec();
        let workload = generate(&spec).unwrap();
        assert_eq!(workload.ingest_len(), 3_000);
        assert_eq!(workload.single_len(), 300);
        assert_eq!(workload.single.len(), 8);
        assert_eq!(workload.prefix.len() as u64, prefix_len(8));
        assert!(workload.batches.iter().all(|batch| batch.leaves.len() <= BATCH_ENTRIES));
        let mut state = State::new();
        let mut verifier = EntryVerifier::new(&workload.origin).unwrap();
        apply_all(&workload.origin, workload.ingest_in_order(), &mut state, &mut verifier, spec.now_ms);
        let single_in_turn = (0..).map_while(|turn| {
            let round: Vec<&Vec<u8>> = workload.single.iter().filter_map(|leaves| leaves.get(turn)).collect();
            (!round.is_empty()).then_some(round)
        });
        apply_all(&workload.origin, single_in_turn.flatten(), &mut state, &mut verifier, spec.now_ms);
        assert_eq!(state.size(), 3_300);
        // Mostly spends.
        let spends = workload
            .ingest_in_order()
            .filter(|leaf| matches!(SignedEntry::decode(leaf).unwrap().entry().body, Body::Spend { .. }))
            .count();
        assert!(spends * 100 >= 3_000 * 65, "{spends} spends of 3,000");
    }

    #[test]
    fn batches_of_different_groups_and_clients_do_not_depend_on_each_other() {
        let spec = spec();
        let workload = generate(&spec).unwrap();
        let mut state = State::new();
        let mut verifier = EntryVerifier::new(&workload.origin).unwrap();
        apply_all(&workload.origin, workload.prefix.iter(), &mut state, &mut verifier, spec.now_ms);
        // The groups one after the other, last group first: concurrent senders may interleave them so.
        for group in (0..NGOS).rev() {
            let leaves =
                workload.batches.iter().filter(|batch| batch.group == group).flat_map(|batch| batch.leaves.iter());
            apply_all(&workload.origin, leaves, &mut state, &mut verifier, spec.now_ms);
        }
        // The single-entry clients one after the other, last first.
        for leaves in workload.single.iter().rev() {
            apply_all(&workload.origin, leaves.iter(), &mut state, &mut verifier, spec.now_ms);
        }
        assert_eq!(state.size(), 3_300);
    }

    #[test]
    fn too_few_entries_for_the_setup_are_refused() {
        let spec = WorkloadSpec { entries: prefix_len(8), ..spec() };
        assert!(generate(&spec).is_err());
    }

    #[test]
    fn the_admin_url_gets_the_fresh_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "b").unwrap(),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5432", "b").unwrap(), "postgres://h:5432/b");
    }

    #[test]
    fn percentiles_and_thousands() {
        let latency = Latency::from_micros((1..=1000).collect());
        assert_eq!(latency.p50_ms, 0.5);
        assert_eq!(latency.p99_ms, 0.99);
        assert_eq!(latency.max_ms, 1.0);
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
