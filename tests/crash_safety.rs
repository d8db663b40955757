//! `kill -9` during concurrent group commits on SQLite, three times, then the rest of the work.
//!
//! Several streams of entries are submitted at once, one thread each, batch after batch: the demo's
//! entries in log order, and one stream per test NGO/clinic pair (which never depend on each other or on
//! the demo, so any interleaving of the streams is valid). Each round resubmits every stream from its
//! start (what is already logged comes back as a duplicate with its original index) and kills the server
//! with SIGKILL once the acknowledged log reaches a threshold, while batches are still in flight. After
//! each restart on the same data directory the log is audited from the outside: every acknowledged entry
//! is at its acknowledged index with its leaf hash; the log is an in-order prefix of each stream with no
//! holes and nothing else; the checkpoint verifies and its root is the root of the downloaded leaves;
//! every acknowledged checkpoint is a checkpoint of this tree, and the newest acknowledged one is proved
//! consistent with the new checkpoint. A last round submits everything to completion.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledger::SignedEntry;
use ledger::merkle::Hash;
use ledger::note::Checkpoint;
use rand::Rng;
use server::demo::{DemoScale, generate};

use crate::harness::{Api, BatchResult, KeyFile, ORIGIN, Receipt, Server, ServerOptions, TempDir};
use crate::verify::{self, Audit, check_consistency, check_receipt, entry_at, hash_from_hex};
use crate::workload::{Workload, operator_prefix_len, validate};

/// Entries per batch request.
const BATCH: usize = 20;
/// A round that takes longer than this has hung.
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);

struct Stream {
    name: String,
    entries: Vec<SignedEntry>,
}

/// An acknowledged entry: which stream and position, and the receipt the server gave.
struct Ack {
    stream: usize,
    position: usize,
    receipt: Receipt,
}

#[derive(Debug)]
enum Ending {
    Completed,
    Interrupted(String),
}

#[derive(Default)]
struct Progress {
    /// The largest tree size of an acknowledged checkpoint.
    acknowledged_size: AtomicU64,
    stop: AtomicBool,
    acks: Mutex<Vec<Ack>>,
    /// Entries the server refused: none may be.
    rejections: Mutex<Vec<String>>,
    /// Entries of requests that got no answer: (stream, position).
    unanswered: Mutex<Vec<(usize, usize)>>,
}

fn run_stream(api: &Api, number: usize, stream: &Stream, progress: &Progress) -> Ending {
    for (chunk_number, chunk) in stream.entries.chunks(BATCH).enumerate() {
        if progress.stop.load(Ordering::SeqCst) {
            return Ending::Interrupted("stopped".into());
        }
        let results = match api.submit_batch(chunk) {
            Ok(results) => results,
            Err(error) => {
                let start = chunk_number * BATCH;
                progress
                    .unanswered
                    .lock()
                    .unwrap()
                    .extend((start..start + chunk.len()).map(|position| (number, position)));
                return Ending::Interrupted(error);
            }
        };
        let mut acks = Vec::with_capacity(chunk.len());
        let mut largest = 0;
        for (offset, (signed, result)) in chunk.iter().zip(results).enumerate() {
            let position = chunk_number * BATCH + offset;
            match result {
                BatchResult::Accepted(receipt) => {
                    largest = largest.max(receipt.checkpoint.tree_size);
                    acks.push(Ack { stream: number, position, receipt });
                }
                BatchResult::Rejected { error } => {
                    progress.rejections.lock().unwrap().push(format!(
                        "stream {} entry {position} ({}): {}: {}",
                        stream.name,
                        signed.entry().body.kind().as_str(),
                        error.code,
                        error.message
                    ));
                    return Ending::Interrupted(format!("entry {position} rejected"));
                }
            }
        }
        progress.acks.lock().unwrap().extend(acks);
        progress.acknowledged_size.fetch_max(largest, Ordering::SeqCst);
    }
    Ending::Completed
}

struct Round {
    acks: Vec<Ack>,
    /// The acknowledged log size when the kill was sent.
    killed_at: Option<u64>,
    /// What a submitting thread saw when the server died under it.
    cut_off: Option<String>,
    /// Entries sent in requests that the kill left unanswered.
    unanswered: Vec<(usize, usize)>,
}

/// Submits every stream from its start, concurrently; with `kill_at`, kills the server with SIGKILL as
/// soon as the acknowledged log reaches that size.
fn run_round(server: &mut Server, streams: &[Stream], kill_at: Option<u64>) -> Round {
    let progress = Progress::default();
    let api = server.api.clone();
    let started = Instant::now();
    let mut killed_at = None;
    let endings: Vec<Ending> = std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .iter()
            .enumerate()
            .map(|(number, stream)| {
                let (api, progress) = (&api, &progress);
                scope.spawn(move || run_stream(api, number, stream, progress))
            })
            .collect();
        if let Some(threshold) = kill_at {
            loop {
                let acknowledged = progress.acknowledged_size.load(Ordering::SeqCst);
                if acknowledged >= threshold {
                    // A little jitter, so that the kill lands at different points of a commit.
                    std::thread::sleep(Duration::from_micros(rand::rng().random_range(0..10_000)));
                    killed_at = Some(progress.acknowledged_size.load(Ordering::SeqCst));
                    server.kill();
                    break;
                }
                if handles.iter().all(|handle| handle.is_finished()) || started.elapsed() > ROUND_TIMEOUT {
                    progress.stop.store(true, Ordering::SeqCst);
                    server.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            progress.stop.store(true, Ordering::SeqCst);
        }
        handles.into_iter().map(|handle| handle.join().expect("a submitting thread panicked")).collect()
    });
    let rejections = progress.rejections.into_inner().unwrap();
    assert!(
        rejections.is_empty(),
        "the server rejected entries that are valid in any interleaving:\n{}",
        rejections.join("\n")
    );
    match kill_at {
        Some(threshold) => {
            assert!(
                killed_at.is_some(),
                "the log never reached {threshold} acknowledged entries (after {:?}): {endings:?}",
                started.elapsed()
            );
        }
        None => {
            for (stream, ending) in streams.iter().zip(&endings) {
                assert!(
                    matches!(ending, Ending::Completed),
                    "stream {} did not complete: {ending:?}\n{}",
                    stream.name,
                    server.log_tail()
                );
            }
        }
    }
    let cut_off = endings.iter().find_map(|ending| match ending {
        Ending::Interrupted(reason) => Some(reason.clone()),
        Ending::Completed => None,
    });
    if kill_at.is_some() {
        assert!(
            cut_off.is_some(),
            "every stream had finished before the kill: the kill did not hit running submissions"
        );
    }
    Round {
        acks: progress.acks.into_inner().unwrap(),
        killed_at,
        cut_off,
        unanswered: progress.unanswered.into_inner().unwrap(),
    }
}

/// How many commits (acknowledged checkpoints) appended entries of more than one stream: requests that
/// were in flight together and went into one group commit.
fn shared_commits(acks: &[Ack]) -> usize {
    let mut streams_per_commit: HashMap<u64, HashSet<usize>> = HashMap::new();
    for ack in acks.iter().filter(|ack| !ack.receipt.duplicate) {
        streams_per_commit.entry(ack.receipt.checkpoint.tree_size).or_default().insert(ack.stream);
    }
    streams_per_commit.values().filter(|streams| streams.len() > 1).count()
}

/// Everything acknowledged so far.
#[derive(Default)]
struct Record {
    /// Leaf hash → acknowledged index: one entry is never acknowledged at two indexes.
    indexes: HashMap<Hash, u64>,
    /// The acknowledged checkpoint with the largest tree size.
    newest: Option<Checkpoint>,
    /// Every distinct acknowledged checkpoint note, opened.
    opened: HashMap<String, Checkpoint>,
    /// Indexes already read back through the entry API.
    reread: HashSet<u64>,
}

impl Record {
    fn add(&mut self, streams: &[Stream], key: &KeyFile, acks: &[Ack]) {
        for ack in acks {
            let hash = hash_from_hex(&ack.receipt.leaf_hash);
            let expected = streams[ack.stream].entries[ack.position].leaf_hash();
            assert_eq!(
                hash, expected,
                "the receipt for {} entry {} names another leaf",
                streams[ack.stream].name, ack.position
            );
            if let Some(&index) = self.indexes.get(&hash) {
                assert_eq!(
                    index, ack.receipt.index,
                    "{} entry {} was acknowledged at two indexes",
                    streams[ack.stream].name, ack.position
                );
            }
            self.indexes.insert(hash, ack.receipt.index);
            check_receipt(&ack.receipt, &key.verifier, &mut self.opened);
            let checkpoint = &self.opened[&ack.receipt.checkpoint.note];
            if self.newest.as_ref().is_none_or(|newest| newest.tree_size < checkpoint.tree_size) {
                self.newest = Some(checkpoint.clone());
            }
        }
    }
}

/// The whole log audited, and checked against everything acknowledged: see the module documentation.
fn check_log(
    server: &Server,
    key: &KeyFile,
    streams: &[Stream],
    record: &mut Record,
    previous: Option<&Audit>,
) -> Audit {
    let audit = verify::audit(&server.api, &key.verifier);
    let positions = audit.positions();
    for (hash, &index) in &record.indexes {
        assert_eq!(
            positions.get(hash),
            Some(&index),
            "an entry acknowledged at index {index} is not there (log of {} entries)\n{}",
            audit.size(),
            server.log_tail()
        );
    }
    // The entry API agrees, for every acknowledged entry not re-read after an earlier round.
    let reread: Vec<(u64, Hash)> = record
        .indexes
        .iter()
        .filter(|(_, index)| !record.reread.contains(index))
        .map(|(hash, &index)| (index, *hash))
        .collect();
    std::thread::scope(|scope| {
        for part in reread.chunks(reread.len().div_ceil(4).max(1)) {
            let api = &server.api;
            scope.spawn(move || {
                for &(index, hash) in part {
                    assert_eq!(entry_at(api, index), hash, "GET /api/v1/entries/{index} is not the acknowledged entry");
                }
            });
        }
    });
    record.reread.extend(reread.iter().map(|&(index, _)| index));
    for checkpoint in record.opened.values() {
        audit.check_earlier_checkpoint(checkpoint, "an acknowledged checkpoint");
    }
    if let Some(newest) = &record.newest {
        check_consistency(&server.api, newest, &audit.checkpoint);
    }
    if let Some(previous) = previous {
        check_consistency(&server.api, &previous.checkpoint, &audit.checkpoint);
    }
    // The log is, stream by stream, an in-order prefix of what was submitted, and holds nothing else.
    let origin: HashMap<Hash, (usize, usize)> = streams
        .iter()
        .enumerate()
        .flat_map(|(number, stream)| {
            stream.entries.iter().enumerate().map(move |(position, signed)| (signed.leaf_hash(), (number, position)))
        })
        .collect();
    let mut next = vec![0; streams.len()];
    for (index, hash) in audit.leaf_hashes.iter().enumerate() {
        let &(stream, position) =
            origin.get(hash).unwrap_or_else(|| panic!("the log holds at index {index} an entry nobody submitted"));
        assert_eq!(
            position, next[stream],
            "index {index} holds {} entry {position}, but entry {} of that stream is missing before it",
            streams[stream].name, next[stream]
        );
        next[stream] += 1;
    }
    audit
}

pub fn run() {
    let started = Instant::now();
    let dir = TempDir::new("crash");
    let key = KeyFile::create(dir.path());
    let demo = generate(41, ORIGIN, DemoScale { weeks: 6, spends_per_clinic_week: 10, anonymous_donors: 60 });
    let mut workload = Workload::new(&demo, 41, 5);
    let registrations = workload.registrations();
    let mut streams = vec![
        Stream { name: "demo".into(), entries: demo.entries.clone() },
        Stream { name: "registrations".into(), entries: registrations },
    ];
    for pair in 0..workload.pairs.len() {
        streams.push(Stream { name: workload.pairs[pair].clinic.clone(), entries: workload.stream(pair, 20) });
    }
    let prefix = operator_prefix_len(&demo);
    validate(
        demo.entries[..prefix]
            .iter()
            .chain(streams.iter().skip(1).flat_map(|s| &s.entries))
            .chain(&demo.entries[prefix..]),
    );
    let total: u64 = streams.iter().map(|stream| stream.entries.len() as u64).sum();
    println!(
        "crash_safety: {total} entries in {} streams, workload ready after {:?}",
        streams.len(),
        started.elapsed()
    );

    let options = ServerOptions::sqlite("crash", dir.path(), &key);
    let mut server = Server::start(&options);
    let mut record = Record::default();
    // The operator's entries come first, in order; the rounds resubmit them with the rest.
    let setup = demo.entries[..prefix].iter().chain(&streams[1].entries).cloned().collect::<Vec<_>>();
    let receipts = server.api.submit_all(&setup, BATCH);
    let mut acks = Vec::with_capacity(receipts.len());
    for (position, receipt) in receipts.into_iter().enumerate() {
        assert_eq!(receipt.index, position as u64, "setup entry {position} landed at index {}", receipt.index);
        let (stream, position) = if position < prefix { (0, position) } else { (1, position - prefix) };
        acks.push(Ack { stream, position, receipt });
    }
    record.add(&streams, &key, &acks);

    let mut previous: Option<Audit> = None;
    for (round, fraction) in [0.25, 0.5, 0.75].into_iter().enumerate() {
        let threshold = (total as f64 * fraction) as u64;
        let round_started = Instant::now();
        let result = run_round(&mut server, &streams, Some(threshold));
        let (acknowledged, shared) = (result.acks.len(), shared_commits(&result.acks));
        record.add(&streams, &key, &result.acks);
        server = Server::start(&options);
        let audit = check_log(&server, &key, &streams, &mut record, previous.as_ref());
        let newest = record.newest.as_ref().map_or(0, |checkpoint| checkpoint.tree_size);
        let positions = audit.positions();
        let unanswered_logged = result
            .unanswered
            .iter()
            .filter(|&&(stream, position)| positions.contains_key(&streams[stream].entries[position].leaf_hash()))
            .count();
        println!(
            "crash_safety: round {}: SIGKILL at {} acknowledged entries ({acknowledged} receipts, newest acknowledged checkpoint {newest}, \
             {shared} commits held several streams' entries; {} entries in unanswered requests); after the restart the log \
             holds {} entries ({unanswered_logged} of the unanswered ones: committed, never acknowledged); {:?}\n  a submitter saw: {}",
            round + 1,
            result.killed_at.unwrap_or(0),
            result.unanswered.len(),
            audit.size(),
            round_started.elapsed(),
            result.cut_off.as_deref().unwrap_or("-")
        );
        previous = Some(audit);
    }

    let round_started = Instant::now();
    let result = run_round(&mut server, &streams, None);
    let shared = shared_commits(&result.acks);
    record.add(&streams, &key, &result.acks);
    let audit = check_log(&server, &key, &streams, &mut record, previous.as_ref());
    assert_eq!(audit.size(), total, "after the last round the log should hold every entry once");
    for stream in &streams {
        for signed in &stream.entries {
            assert!(
                record.indexes.contains_key(&signed.leaf_hash()),
                "an entry of {} was never acknowledged",
                stream.name
            );
        }
    }
    println!(
        "crash_safety: last round completed the log ({total} entries, {shared} commits held several streams' entries) in {:?}; total {:?}",
        round_started.elapsed(),
        started.elapsed()
    );
}
