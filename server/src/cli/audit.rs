//! Auditing from the command line: `aidtrail verify`, `aidtrail trace`, `aidtrail export log` and
//! `aidtrail import log`.
//!
//! `verify` trusts nothing but the log's pinned verifier key. It downloads the whole log through the
//! C2SP tlog-tiles endpoints (or reads an export file), checks the checkpoint's signature, every entry's
//! signature (strict Ed25519), replays every money rule from an empty state, recomputes the tree root with
//! an O(log n) frontier, cross-checks the served level-0 tiles against the recomputed leaf hashes, and
//! checks that the log still extends the checkpoint it verified on its previous run. Any failure names the
//! first bad entry when one can be named. `export` and `import` stream through exactly the same checks.
//!
//! # The export format (`aidtrail-log-export`, version 1)
//!
//! JSON lines (UTF-8, one JSON object per line, `\n`-terminated), streamable in both directions:
//!
//! ```text
//! {"format":"aidtrail-log-export","version":1,"origin":"<origin>","tree_size":N,"root":"<hex>","checkpoint":"<signed note>"}
//! {"index":0,"leaf":"<hex of the leaf bytes>"}
//! {"index":1,"leaf":"<hex>"}
//! ...
//! {"index":N-1,"leaf":"<hex>"}
//! ```
//!
//! The first line is the header: `checkpoint` is the log's C2SP signed checkpoint note exactly as served
//! (it is what proves the copy; `origin`, `tree_size` and `root` repeat it for readers and must agree with
//! it). Then come exactly `tree_size` entry lines in index order, each holding the leaf bytes (the signed
//! entry: `u16 length || payload || key || signature`) in lowercase hexadecimal. A file is written under a
//! temporary name and renamed only once complete, so a file with the final name is always whole.
//!
//! # Performance
//!
//! Downloads run concurrently on the async runtime; decoding and strict signature verification run on
//! one thread per core, bundle by bundle in round robin; one thread applies the results in log order
//! (tiles, rules, frontier).
//! Memory holds the replay state, the O(log n) frontier and a bounded number of bundles in flight.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc as sync_mpsc;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ledger::merkle::{Frontier, Hash, leaf_hash, root_node_ids, verify_inclusion};
use ledger::note::{Checkpoint, NoteSigner, NoteVerifier, verify_checkpoint};
use ledger::tiles::{self, TILE_WIDTH_MAX, TilePath};
use ledger::trace::Party;
use ledger::{
    Amount, BackwardTrace, EntryError, EntryId, EntryVerifier, ForwardTrace, SignedEntry, State, VerifiedEntry,
    donor_reference,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::client::Client;
use crate::api::entries::EntryView;
use crate::api::ledger_views::DonationList;
use crate::api::log_views::InclusionProofView;

/// What the first line of an export file says it is.
pub const EXPORT_FORMAT: &str = "aidtrail-log-export";
pub const EXPORT_VERSION: u32 = 1;
/// What a verify state file says it is.
pub const STATE_FORMAT: &str = "aidtrail-verify-state";
/// Bundles downloaded at the same time.
const FETCHES_IN_FLIGHT: usize = 8;
/// Bundles waiting between the download and the checks (bounds memory).
const BUNDLES_QUEUED: usize = 32;
/// Entries handed to the log in one `submit_many` during an import (one sequencer transaction).
const IMPORT_CHUNK: usize = crate::log::BATCH_ENTRIES_MAX;
/// Inclusion proofs fetched at the same time by `trace`.
const PROOFS_IN_FLIGHT: usize = 16;

// ---------------------------------------------------------------------------------------------------
// Command-line arguments
// ---------------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The log's URL (where /checkpoint and /tile/... are served).
    #[arg(required_unless_present = "from_file", conflicts_with = "from_file")]
    pub url: Option<String>,
    /// Verify an offline copy written by `aidtrail export log` instead of a server.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// The log's note verifier key (`name+hexid+base64`), pinned: the checkpoint must be signed by it.
    #[arg(long, value_name = "VERIFIER_KEY")]
    pub key: String,
    /// The file holding the checkpoint verified on the previous run (default: one per log under
    /// $XDG_STATE_HOME/aidtrail or ~/.local/state/aidtrail). With --from-file it is used only when given.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Print one JSON object instead of text (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The log's URL.
    pub url: String,
    /// The donation's entry id (32 hex digits); with --back, the spend's.
    #[arg(required_unless_present = "receipt")]
    pub id: Option<String>,
    /// Trace a spend back to the donations that paid for it.
    #[arg(long)]
    pub back: bool,
    /// An anonymous donor's secret receipt (64 hex digits): trace the donations made with it. The secret
    /// never leaves this machine; only its donor reference is sent.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["id", "back"])]
    pub receipt: Option<String>,
    /// The log's note verifier key: every entry shown is proven included in a checkpoint signed by it.
    #[arg(long, value_name = "VERIFIER_KEY")]
    pub key: Option<String>,
    /// Print JSON instead of a tree.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Write an offline copy of a whole log (JSON lines: a header with the signed checkpoint, then one
    /// line per entry; see docs/OPERATIONS.md).
    Log {
        /// The log's URL.
        url: String,
        /// Where to write the copy (written under a temporary name, renamed when complete).
        file: PathBuf,
        /// The log's note verifier key: when given, the copy is fully verified while it is written.
        #[arg(long, value_name = "VERIFIER_KEY")]
        key: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the ledger as IATI 2.03 activities (XML) to standard output: every publishing organisation's,
    /// or one organisation's with `--org`.
    Iati {
        /// The log's URL.
        url: String,
        /// Only this organisation's activities.
        #[arg(long, value_name = "ORGANISATION")]
        org: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: ImportCommand,
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Rebuild a fresh, empty database (SQLite or PostgreSQL) from an offline copy, verifying everything
    /// on the way (restore, or move from SQLite to PostgreSQL).
    Log {
        /// The copy written by `aidtrail export log`.
        file: PathBuf,
        /// Directory of the embedded SQLite database to create.
        #[arg(long, default_value = "aidtrail-data", conflicts_with = "database_url")]
        data_dir: PathBuf,
        /// PostgreSQL URL (postgres://...) instead of the embedded SQLite database.
        #[arg(long)]
        database_url: Option<String>,
        /// The log's checkpoint-signing key file (or set AIDTRAIL_CHECKPOINT_KEY): the imported log keeps
        /// signing checkpoints with it.
        #[arg(long, value_name = "FILE")]
        checkpoint_key_file: Option<PathBuf>,
        /// The log's note verifier key, if you want to pin it too (it must match the signing key).
        #[arg(long, value_name = "VERIFIER_KEY")]
        key: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn init_cli_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("AIDTRAIL_LOG").unwrap_or_else(|_| "warn,sqlx=error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn progress_bar(total: u64, hidden: bool, message: &'static str) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} entries ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

fn parse_verifier_key(key: &str) -> anyhow::Result<NoteVerifier> {
    NoteVerifier::parse(key.trim())
        .map_err(|error| anyhow!("the key {key:?} is not a note verifier key (name+hexid+base64): {error}"))
}

/// Thousands separators for counts in messages.
fn count(value: u64) -> String {
    Amount(u128::from(value)).format(0, ',', '.')
}

// ---------------------------------------------------------------------------------------------------
// Failures and the checking pipeline
// ---------------------------------------------------------------------------------------------------

/// Why a log did not verify: the first bad entry when one can be named, and what failed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    /// The index of the first bad entry, when one entry can be named.
    pub index: Option<u64>,
    /// Its entry id, when its bytes decode.
    pub entry_id: Option<String>,
    /// What failed: `bad_signature`, `bad_key`, `malformed_entry`, `origin_mismatch`, `rule_broken`,
    /// `duplicate_entry`, `tile_mismatch`, `missing_entries`, `root_mismatch`, `fork`,
    /// `checkpoint_signature`, `state_file`, `malformed_export` or `error` (could not check).
    pub kind: String,
    /// A sentence for people.
    pub reason: String,
    /// For a fork: the first range of entries `[start, end)` whose hash changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<(u64, u64)>,
}

impl Failure {
    fn new(index: Option<u64>, kind: &str, reason: impl Into<String>) -> Self {
        Failure { index, entry_id: None, kind: kind.to_string(), reason: reason.into(), range: None }
    }

    fn error(error: &anyhow::Error) -> Self {
        Failure::new(None, "error", format!("{error:#}"))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.index, &self.entry_id) {
            (Some(index), Some(id)) => write!(f, "entry {index} (id {id}): {}", self.reason),
            (Some(index), None) => write!(f, "entry {index}: {}", self.reason),
            _ => write!(f, "{}", self.reason),
        }
    }
}

/// Consecutive leaves from a source, with the level-0 tile hashes the source served for them.
struct Batch {
    start: u64,
    leaves: Vec<Vec<u8>>,
    /// The tile's path and hashes, when the source serves tiles (a server does, a file does not).
    tile: Option<(String, Vec<Hash>)>,
}

type SourceItem = Result<Batch, Failure>;

/// One entry after the per-core checks.
enum Checked {
    /// Decoded, and its signature verified.
    Verified(VerifiedEntry),
    /// Only hashed (export without a key: nothing to verify against).
    Hashed {
        leaf_hash: Hash,
        bytes: Vec<u8>,
    },
    Bad {
        leaf_hash: Hash,
        entry_id: Option<EntryId>,
        kind: &'static str,
        reason: String,
    },
}

struct CheckedBatch {
    start: u64,
    tile: Option<(String, Vec<Hash>)>,
    entries: Vec<Checked>,
}

/// The checkpoint verified on a previous run.
#[derive(Clone, Debug)]
struct Previous {
    tree_size: u64,
    root: Hash,
    /// The frontier at that size, to say where a rewrite starts (absent or unusable: only the root is compared).
    frontier: Option<Vec<Hash>>,
    /// The hash of every full tile of 256 entries at that size (tree level 8), checked as the stream goes:
    /// the first that differs shows a rewrite early and within 256 entries. Only kept when they hash to
    /// the signed root.
    tiles: Option<Vec<Hash>>,
}

/// What a stream of leaves must add up to.
#[derive(Clone, Debug)]
struct Expectation {
    origin: String,
    tree_size: u64,
    root: Hash,
    previous: Option<Previous>,
    /// Check signatures and replay the rules (false only for an export without a key).
    verify_entries: bool,
}

struct Outcome {
    /// Entries that passed every check.
    entries_verified: u64,
    failure: Option<Failure>,
    frontier: Frontier,
    /// The hash of every full tile of 256 entries, in order (saved for the next run).
    tiles: Vec<Hash>,
}

/// The tree level of the hash of a full tile of 256 entries.
const TILE_LEVEL: u8 = ledger::tiles::TILE_HEIGHT;

/// Receives the leaves of each fully checked batch, in order: `(start index, leaves)`.
type Sink = Box<dyn FnMut(u64, Vec<Vec<u8>>) -> anyhow::Result<()> + Send>;

fn entry_error_kind(error: &EntryError) -> &'static str {
    match error {
        EntryError::BadSignature => "bad_signature",
        EntryError::BadKey(_) => "bad_key",
        EntryError::OriginMismatch { .. } => "origin_mismatch",
        EntryError::TooLarge { .. } | EntryError::Decode(_) => "malformed_entry",
    }
}

/// Decodes and verifies one batch (runs on a worker thread). Entries are verified one by one: the
/// ledger's batch verification must first check each signature's `R` for torsion (a full scalar
/// multiplication) to accept exactly what strict verification accepts, which leaves it no faster.
fn check_batch(verifier: &mut EntryVerifier, batch: Batch, verify_entries: bool) -> CheckedBatch {
    let Batch { start, leaves, tile } = batch;
    let entries = leaves
        .into_iter()
        .map(|bytes| {
            if !verify_entries {
                return Checked::Hashed { leaf_hash: leaf_hash(&bytes), bytes };
            }
            let signed = match SignedEntry::decode(&bytes) {
                Ok(signed) => signed,
                Err(error) => {
                    return Checked::Bad {
                        leaf_hash: leaf_hash(&bytes),
                        entry_id: None,
                        kind: entry_error_kind(&error),
                        reason: format!("the entry does not decode: {error}"),
                    };
                }
            };
            let entry_id = signed.entry().entry_id;
            match verifier.verify(signed) {
                Ok(verified) => Checked::Verified(verified),
                Err(error) => Checked::Bad {
                    leaf_hash: leaf_hash(&bytes),
                    entry_id: Some(entry_id),
                    kind: entry_error_kind(&error),
                    reason: match error {
                        EntryError::BadSignature => format!("bad signature: {error}"),
                        other => other.to_string(),
                    },
                },
            }
        })
        .collect();
    CheckedBatch { start, tile, entries }
}

/// Applies checked batches in log order: tile cross-check, rules, frontier, the previous root.
struct Applier<'a> {
    expect: &'a Expectation,
    state: State,
    frontier: Frontier,
    tiles: Vec<Hash>,
}

impl Applier<'_> {
    /// A rewrite found at the full tile `tile`, before the stream reached the old size.
    fn tile_fork_failure(&self, previous: &Previous, tile: u64) -> Failure {
        let start = tile * TILE_WIDTH_MAX;
        let end = start + TILE_WIDTH_MAX;
        let mut failure = Failure::new(
            None,
            "fork",
            format!(
                "the log was rewritten (fork): entries {start} to {} hash differently from the checkpoint of size {} \
                 verified on the previous run; this log does not extend what was verified before",
                end - 1,
                previous.tree_size
            ),
        );
        failure.range = Some((start, end));
        failure
    }

    fn fork_failure(&self, previous: &Previous) -> Failure {
        let mut failure = Failure::new(
            None,
            "fork",
            format!(
                "the log was rewritten (fork): its root at size {} is {}, but the checkpoint verified on the previous run \
                 says {} for that size; this log does not extend what was verified before",
                previous.tree_size,
                hex::encode(self.frontier.root()),
                hex::encode(previous.root)
            ),
        );
        if let Some(saved) = &previous.frontier
            && saved.len() == self.frontier.hashes().len()
        {
            let ids = root_node_ids(previous.tree_size);
            if let Some((position, _)) = saved.iter().zip(self.frontier.hashes()).enumerate().find(|(_, (a, b))| a != b)
                && let Some(id) = ids.get(position)
            {
                let start = id.index << id.level;
                let end = (id.index + 1) << id.level;
                failure.range = Some((start, end));
                if end - start == 1 {
                    failure.index = Some(start);
                    failure.entry_id = self.state.entry_id_at(start).map(|id| id.to_hex());
                    failure.reason.push_str(&format!("; the rewritten entry is entry {start}"));
                } else {
                    failure
                        .reason
                        .push_str(&format!("; the first rewritten entry is among entries {start} to {}", end - 1));
                }
            }
        }
        failure
    }

    fn apply(&mut self, batch: CheckedBatch, sink: &mut Sink) -> Result<u64, Failure> {
        let start = batch.start;
        if start != self.frontier.size() {
            return Err(Failure::new(
                Some(self.frontier.size()),
                "missing_entries",
                format!("the source skipped from entry {} to entry {start}", self.frontier.size()),
            ));
        }
        if let Some((path, hashes)) = &batch.tile
            && hashes.len() != batch.entries.len()
        {
            return Err(Failure::new(
                Some(start),
                "tile_mismatch",
                format!("the served tile {path} holds {} hashes for {} entries", hashes.len(), batch.entries.len()),
            ));
        }
        let mut leaves = Vec::with_capacity(batch.entries.len());
        for (position, checked) in batch.entries.into_iter().enumerate() {
            let index = start + position as u64;
            let leaf_hash = match &checked {
                Checked::Verified(verified) => verified.leaf_hash(),
                Checked::Hashed { leaf_hash, .. } | Checked::Bad { leaf_hash, .. } => *leaf_hash,
            };
            let tile_problem = batch.tile.as_ref().and_then(|(path, hashes)| {
                (hashes[position] != leaf_hash).then(|| {
                    format!(
                        "its leaf hash {} differs from the hash {} served for it in {path} (the server serves inconsistent data)",
                        hex::encode(leaf_hash),
                        hex::encode(hashes[position])
                    )
                })
            });
            match checked {
                Checked::Bad { entry_id, kind, mut reason, .. } => {
                    if let Some(problem) = tile_problem {
                        reason = format!("{reason}; also, {problem}");
                    }
                    return Err(Failure {
                        index: Some(index),
                        entry_id: entry_id.map(|id| id.to_hex()),
                        kind: kind.to_string(),
                        reason,
                        range: None,
                    });
                }
                Checked::Verified(verified) => {
                    let entry_id = verified.entry().entry_id.to_hex();
                    if let Some(problem) = tile_problem {
                        return Err(Failure {
                            index: Some(index),
                            entry_id: Some(entry_id),
                            kind: "tile_mismatch".into(),
                            reason: problem,
                            range: None,
                        });
                    }
                    match self.state.apply(&verified) {
                        Ok(applied) if applied.duplicate => {
                            return Err(Failure {
                                index: Some(index),
                                entry_id: Some(entry_id),
                                kind: "duplicate_entry".into(),
                                reason: format!(
                                    "the entry repeats entry {} (a log holds each entry once)",
                                    applied.index
                                ),
                                range: None,
                            });
                        }
                        Ok(_) => {}
                        Err(rejection) => {
                            return Err(Failure {
                                index: Some(index),
                                entry_id: Some(entry_id),
                                kind: "rule_broken".into(),
                                reason: format!("rule broken ({}): {rejection}", rejection.code()),
                                range: None,
                            });
                        }
                    }
                    leaves.push(verified.into_signed().into_bytes());
                }
                Checked::Hashed { bytes, .. } => {
                    if let Some(problem) = tile_problem {
                        let entry_id = SignedEntry::decode(&bytes).ok().map(|signed| signed.entry().entry_id.to_hex());
                        return Err(Failure {
                            index: Some(index),
                            entry_id,
                            kind: "tile_mismatch".into(),
                            reason: problem,
                            range: None,
                        });
                    }
                    leaves.push(bytes);
                }
            }
            let (tiles, saved) =
                (&mut self.tiles, self.expect.previous.as_ref().and_then(|previous| previous.tiles.as_ref()));
            let mut rewritten_tile = None;
            self.frontier.push_with(leaf_hash, |id, hash| {
                if id.level == TILE_LEVEL {
                    if saved.and_then(|saved| saved.get(id.index as usize)).is_some_and(|saved| saved != hash) {
                        rewritten_tile = Some(id.index);
                    }
                    tiles.push(*hash);
                }
            });
            if let (Some(tile), Some(previous)) = (rewritten_tile, &self.expect.previous) {
                return Err(self.tile_fork_failure(previous, tile));
            }
            if let Some(previous) = &self.expect.previous
                && previous.tree_size == self.frontier.size()
                && self.frontier.root() != previous.root
            {
                return Err(self.fork_failure(previous));
            }
        }
        let count = leaves.len() as u64;
        sink(start, leaves).map_err(|error| Failure::new(Some(start), "error", format!("{error:#}")))?;
        Ok(count)
    }

    fn finish(&self) -> Result<(), Failure> {
        let size = self.frontier.size();
        if size != self.expect.tree_size {
            return Err(Failure::new(
                Some(size),
                "missing_entries",
                format!("the source ended after {size} of the checkpoint's {} entries", self.expect.tree_size),
            ));
        }
        if self.frontier.root() != self.expect.root {
            return Err(Failure::new(
                None,
                "root_mismatch",
                format!(
                    "the {size} entries hash to root {}, but the checkpoint says {}",
                    hex::encode(self.frontier.root()),
                    hex::encode(self.expect.root)
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a stream of batches: per-core decoding and signature checks, then in-order application.
/// Blocking: run it on a blocking thread.
fn check_stream(
    mut source: mpsc::Receiver<SourceItem>,
    expect: &Expectation,
    progress: &ProgressBar,
    mut sink: Sink,
) -> Outcome {
    let mut applier = Applier { expect, state: State::new(), frontier: Frontier::new(), tiles: Vec::new() };
    let verifier = match EntryVerifier::new(&expect.origin) {
        Ok(verifier) => verifier,
        Err(error) => {
            return Outcome {
                entries_verified: 0,
                failure: Some(Failure::new(
                    None,
                    "checkpoint_signature",
                    format!("the checkpoint's origin is not a valid log origin: {error}"),
                )),
                frontier: Frontier::new(),
                tiles: Vec::new(),
            };
        }
    };
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8);
    let failure = std::thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (to_worker, inbox) = sync_mpsc::sync_channel::<SourceItem>(2);
            let (outbox, from_worker) = sync_mpsc::sync_channel::<Result<CheckedBatch, Failure>>(2);
            let mut verifier = verifier.clone();
            let verify_entries = expect.verify_entries;
            scope.spawn(move || {
                for item in inbox {
                    let checked = item.map(|batch| check_batch(&mut verifier, batch, verify_entries));
                    if outbox.send(checked).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(to_worker);
            from_workers.push(from_worker);
        }
        // Round robin: batch n goes to worker n % workers, and results are read back in the same order.
        scope.spawn(move || {
            let mut sequence = 0usize;
            while let Some(item) = source.blocking_recv() {
                if to_workers[sequence % to_workers.len()].send(item).is_err() {
                    break;
                }
                sequence += 1;
            }
        });
        let mut sequence = 0usize;
        while let Ok(item) = from_workers[sequence % workers].recv() {
            sequence += 1;
            let applied = item.and_then(|batch| applier.apply(batch, &mut sink));
            match applied {
                Ok(count) => progress.inc(count),
                Err(failure) => return Some(failure),
            }
        }
        applier.finish().err()
    });
    // The frontier holds exactly the entries that passed every check of their own.
    Outcome { entries_verified: applier.frontier.size(), failure, frontier: applier.frontier, tiles: applier.tiles }
}

// ---------------------------------------------------------------------------------------------------
// Sources: a server's tiles, or an export file
// ---------------------------------------------------------------------------------------------------

async fn fetch_checkpoint_note(client: &Client) -> anyhow::Result<String> {
    let bytes = client.get_bytes("/checkpoint").await?.context("the server has no /checkpoint")?;
    String::from_utf8(bytes).context("the checkpoint is not UTF-8 text")
}

async fn fetch_bundle(client: Client, bundle: u64, tree_size: u64) -> SourceItem {
    let start = bundle * TILE_WIDTH_MAX;
    let width = (tree_size - start).min(TILE_WIDTH_MAX) as u16;
    let entries_path = TilePath { level: None, index: bundle, width };
    let tile_path = TilePath { level: Some(0), index: bundle, width };
    let (entries_url, tile_url) = (format!("/{entries_path}"), format!("/{tile_path}"));
    let (entries, tile) = tokio::join!(client.get_bytes(&entries_url), client.get_bytes(&tile_url));
    // Not a bad entry: the server could not be read.
    let download = |error: anyhow::Error| {
        Failure::new(None, "error", format!("could not download entries from {start}: {error:#}"))
    };
    let entries = entries.map_err(download)?.ok_or_else(|| {
        Failure::new(
            Some(start),
            "missing_entries",
            format!("the server does not serve {entries_path}, which its checkpoint covers"),
        )
    })?;
    let tile = tile.map_err(download)?.ok_or_else(|| {
        Failure::new(
            Some(start),
            "tile_mismatch",
            format!("the server does not serve {tile_path}, which its checkpoint covers"),
        )
    })?;
    let leaves = tiles::parse_entry_bundle(&entries).map_err(|error| {
        Failure::new(Some(start), "missing_entries", format!("the bundle {entries_path} is malformed: {error}"))
    })?;
    if leaves.len() != usize::from(width) {
        return Err(Failure::new(
            Some(start + (leaves.len().min(usize::from(width))) as u64),
            "missing_entries",
            format!("the bundle {entries_path} holds {} entries instead of {width}", leaves.len()),
        ));
    }
    let hashes = tiles::parse_tile_bytes(&tile).map_err(|error| {
        Failure::new(Some(start), "tile_mismatch", format!("the tile {tile_path} is malformed: {error}"))
    })?;
    Ok(Batch { start, leaves, tile: Some((tile_path.to_string(), hashes)) })
}

/// Downloads bundles `[0, tree_size)` with a few requests in flight, sending them in order.
async fn produce_from_server(client: Client, tree_size: u64, sender: mpsc::Sender<SourceItem>) {
    let bundles = tree_size.div_ceil(TILE_WIDTH_MAX);
    let mut in_flight = VecDeque::new();
    let mut next = 0u64;
    loop {
        while in_flight.len() < FETCHES_IN_FLIGHT && next < bundles {
            in_flight.push_back(tokio::spawn(fetch_bundle(client.clone(), next, tree_size)));
            next += 1;
        }
        let Some(handle) = in_flight.pop_front() else { break };
        let item = handle
            .await
            .unwrap_or_else(|error| Err(Failure::new(None, "error", format!("a download task failed: {error}"))));
        let failed = item.is_err();
        if sender.send(item).await.is_err() || failed {
            break;
        }
    }
    for handle in in_flight {
        handle.abort();
    }
}

/// The first line of an export file.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ExportHeader {
    pub format: String,
    pub version: u32,
    pub origin: String,
    pub tree_size: u64,
    /// Hexadecimal.
    pub root: String,
    /// The signed checkpoint note, exactly as the log served it.
    pub checkpoint: String,
}

/// Every other line of an export file.
#[derive(Serialize, Deserialize, Debug)]
pub struct ExportLine {
    pub index: u64,
    /// The leaf bytes, hexadecimal.
    pub leaf: String,
}

/// Opens an export file and reads its header.
fn open_export(path: &Path) -> anyhow::Result<(ExportHeader, BufReader<std::fs::File>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut first = String::new();
    reader.read_line(&mut first).with_context(|| format!("reading {}", path.display()))?;
    let header: ExportHeader = serde_json::from_str(first.trim_end())
        .with_context(|| format!("{} does not start with an aidtrail export header", path.display()))?;
    if header.format != EXPORT_FORMAT || header.version != EXPORT_VERSION {
        bail!(
            "{} is a {:?} file of version {}; this aidtrail reads {EXPORT_FORMAT:?} version {EXPORT_VERSION}",
            path.display(),
            header.format,
            header.version
        );
    }
    Ok((header, reader))
}

/// Checks that an export header repeats its checkpoint faithfully.
fn check_header(header: &ExportHeader, checkpoint: &Checkpoint) -> Result<(), Failure> {
    if header.origin != checkpoint.origin
        || header.tree_size != checkpoint.tree_size
        || header.root != hex::encode(checkpoint.root)
    {
        return Err(Failure::new(
            None,
            "malformed_export",
            "the export header's origin, tree size or root differs from its signed checkpoint".to_string(),
        ));
    }
    Ok(())
}

/// Reads entry lines and sends them in batches of 256 (blocking: run on its own thread).
fn produce_from_file(reader: impl BufRead, tree_size: u64, sender: mpsc::Sender<SourceItem>) {
    let width = TILE_WIDTH_MAX as usize;
    let mut batch = Vec::with_capacity(width);
    let mut start = 0u64;
    let mut expected = 0u64;
    let malformed = |index: u64, reason: String| Err(Failure::new(Some(index), "malformed_export", reason));
    for (line_number, line) in reader.lines().enumerate() {
        let item: Result<Vec<u8>, Failure> = (|| {
            let line =
                line.map_err(|error| Failure::new(Some(expected), "error", format!("reading the file: {error}")))?;
            if expected >= tree_size {
                return malformed(expected, format!("the file holds more entries than its checkpoint's {tree_size}"));
            }
            let parsed: ExportLine = match serde_json::from_str(&line) {
                Ok(parsed) => parsed,
                Err(error) => {
                    return malformed(expected, format!("line {} is not an entry line: {error}", line_number + 2));
                }
            };
            if parsed.index != expected {
                return malformed(
                    expected,
                    format!(
                        "line {} holds entry {} where entry {expected} was expected",
                        line_number + 2,
                        parsed.index
                    ),
                );
            }
            hex::decode(&parsed.leaf)
                .or_else(|_| malformed(expected, format!("line {}: the leaf is not hexadecimal", line_number + 2)))
        })();
        match item {
            Ok(leaf) => batch.push(leaf),
            Err(failure) => {
                let _ = sender.blocking_send(Err(failure));
                return;
            }
        }
        expected += 1;
        if batch.len() == width {
            if sender.blocking_send(Ok(Batch { start, leaves: std::mem::take(&mut batch), tile: None })).is_err() {
                return;
            }
            start = expected;
        }
    }
    if !batch.is_empty() {
        let _ = sender.blocking_send(Ok(Batch { start, leaves: batch, tile: None }));
    }
}

/// Where the leaves come from.
enum Source {
    Server(Client),
    File(BufReader<std::fs::File>),
}

/// Runs the whole check of `expect` over `source` and returns the outcome.
async fn run_checks(source: Source, expect: Expectation, progress: ProgressBar, sink: Sink) -> Outcome {
    let (sender, receiver) = mpsc::channel(BUNDLES_QUEUED);
    let tree_size = expect.tree_size;
    let producer = match source {
        Source::Server(client) => tokio::spawn(produce_from_server(client, tree_size, sender)),
        Source::File(reader) => tokio::task::spawn_blocking(move || produce_from_file(reader, tree_size, sender)),
    };
    let checks = tokio::task::spawn_blocking(move || {
        let outcome = check_stream(receiver, &expect, &progress, sink);
        progress.finish_and_clear();
        outcome
    });
    let outcome = checks.await.unwrap_or_else(|error| Outcome {
        entries_verified: 0,
        failure: Some(Failure::new(None, "error", format!("the checks stopped: {error}"))),
        frontier: Frontier::new(),
        tiles: Vec::new(),
    });
    producer.abort();
    outcome
}

// ---------------------------------------------------------------------------------------------------
// The state file
// ---------------------------------------------------------------------------------------------------

/// What `verify` remembers between runs: the last checkpoint it verified.
#[derive(Serialize, Deserialize, Debug)]
pub struct SavedState {
    pub format: String,
    pub version: u32,
    pub origin: String,
    pub verifier_key: String,
    pub tree_size: u64,
    pub root: String,
    /// The signed checkpoint note as verified.
    pub checkpoint: String,
    /// The frontier (hex hashes of the perfect subtrees, left to right) at `tree_size`, to say where a
    /// later rewrite starts.
    pub frontier: Vec<String>,
    /// The hash (hex) of every full tile of 256 entries at `tree_size`, to find a later rewrite early and
    /// within 256 entries.
    #[serde(default)]
    pub tiles: Vec<String>,
    pub verified_at_ms: u64,
}

/// The default state file of a log: `$XDG_STATE_HOME/aidtrail/<origin>.json`, else
/// `~/.local/state/aidtrail/<origin>.json`, with the origin's unusual characters replaced by `_`.
pub fn default_state_path(origin: &str) -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|value| !value.is_empty()) {
        Some(directory) => PathBuf::from(directory),
        None => {
            let home = std::env::var_os("HOME").filter(|value| !value.is_empty()).context(
                "neither XDG_STATE_HOME nor HOME is set: pass --state FILE to say where the verified checkpoint is kept",
            )?;
            PathBuf::from(home).join(".local").join("state")
        }
    };
    let name: String = origin
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' })
        .collect();
    Ok(base.join("aidtrail").join(format!("{name}.json")))
}

/// Reads the previous run's checkpoint, checking it is this log's and signed by the pinned key.
fn load_previous(path: &Path, verifier: &NoteVerifier, origin: &str) -> Result<Option<Previous>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(Failure::new(
                None,
                "state_file",
                format!("reading the state file {}: {error}", path.display()),
            ));
        }
    };
    let saved: SavedState = serde_json::from_str(&text).map_err(|error| {
        Failure::new(
            None,
            "state_file",
            format!("the state file {} is not a verify state file: {error}", path.display()),
        )
    })?;
    if saved.format != STATE_FORMAT {
        return Err(Failure::new(
            None,
            "state_file",
            format!("the state file {} is not a verify state file", path.display()),
        ));
    }
    let checkpoint = verify_checkpoint(&saved.checkpoint, verifier, None).map_err(|error| {
        Failure::new(
            None,
            "state_file",
            format!(
                "the checkpoint saved in {} does not verify with the key given ({error}): it belongs to another log or key; \
                 pass another --state file",
                path.display()
            ),
        )
    })?;
    if checkpoint.origin != origin {
        return Err(Failure::new(
            None,
            "state_file",
            format!(
                "the state file {} is for the log {:?}, not {origin:?}; pass another --state file",
                path.display(),
                checkpoint.origin
            ),
        ));
    }
    let hashes = |texts: &[String]| -> Option<Vec<Hash>> {
        texts
            .iter()
            .map(|text| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(text, &mut hash).ok().map(|_| hash)
            })
            .collect()
    };
    // The frontier and the tiles only locate a rewrite: they are used only when they hash to the signed
    // root, so that a damaged state file can never make an honest log look rewritten.
    let frontier: Option<Vec<Hash>> = hashes(&saved.frontier)
        .and_then(|hashes| Frontier::from_parts(checkpoint.tree_size, hashes).ok())
        .filter(|frontier| frontier.root() == checkpoint.root)
        .map(|frontier| frontier.hashes().to_vec());
    let tiles = match &frontier {
        Some(frontier) => hashes(&saved.tiles).filter(|tiles| {
            // Tiles are the leaves of the tree above level 8: their frontier is the top of the saved one.
            let mut above = Frontier::new();
            for tile in tiles {
                above.push_with(*tile, |_, _| {});
            }
            tiles.len() as u64 == checkpoint.tree_size / TILE_WIDTH_MAX && frontier.starts_with(above.hashes())
        }),
        None => None,
    };
    Ok(Some(Previous { tree_size: checkpoint.tree_size, root: checkpoint.root, frontier, tiles }))
}

fn save_state(
    path: &Path,
    verifier: &NoteVerifier,
    note: &str,
    checkpoint: &Checkpoint,
    outcome: &Outcome,
) -> anyhow::Result<()> {
    let saved = SavedState {
        format: STATE_FORMAT.to_string(),
        version: 1,
        origin: checkpoint.origin.clone(),
        verifier_key: verifier.to_string(),
        tree_size: checkpoint.tree_size,
        root: hex::encode(checkpoint.root),
        checkpoint: note.to_string(),
        frontier: outcome.frontier.hashes().iter().map(hex::encode).collect(),
        tiles: outcome.tiles.iter().map(hex::encode).collect(),
        verified_at_ms: crate::log::now_ms(),
    };
    if let Some(directory) = path.parent().filter(|directory| !directory.as_os_str().is_empty()) {
        std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
    }
    let temporary = path.with_extension("json.partial");
    std::fs::write(&temporary, serde_json::to_vec_pretty(&saved)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// aidtrail verify
// ---------------------------------------------------------------------------------------------------

/// The result of `aidtrail verify`, printed with --json.
#[derive(Serialize, Deserialize, Debug)]
pub struct VerifyReport {
    pub ok: bool,
    /// The URL or file verified.
    pub source: String,
    pub origin: Option<String>,
    pub tree_size: Option<u64>,
    /// The checkpoint's root (hex).
    pub root: Option<String>,
    pub entries_verified: u64,
    pub first_error: Option<Failure>,
    /// The size of the checkpoint verified on the previous run, when there was one.
    pub previous_checkpoint_size: Option<u64>,
    pub state_file: Option<String>,
    pub elapsed_ms: u64,
}

pub async fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    init_cli_tracing();
    let started = Instant::now();
    let source_name = match (&args.url, &args.from_file) {
        (Some(url), _) => url.clone(),
        (None, Some(file)) => file.display().to_string(),
        (None, None) => bail!("give the log's URL or --from-file FILE"),
    };
    let mut report = VerifyReport {
        ok: false,
        source: source_name,
        origin: None,
        tree_size: None,
        root: None,
        entries_verified: 0,
        first_error: None,
        previous_checkpoint_size: None,
        state_file: None,
        elapsed_ms: 0,
    };
    let result = verify(&args, &mut report).await;
    if let Err(failure) = result {
        report.first_error = Some(failure);
    }
    report.ok = report.first_error.is_none();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if report.ok {
        print_verify_success(&report, args.from_file.is_some());
    }
    match &report.first_error {
        None => Ok(()),
        Some(failure) => {
            let checked = if report.entries_verified > 0 {
                format!(" ({} entries passed their own checks before this was found)", count(report.entries_verified))
            } else {
                String::new()
            };
            bail!("VERIFICATION FAILED [{}]: {failure}{checked}", failure.kind)
        }
    }
}

fn print_verify_success(report: &VerifyReport, from_file: bool) {
    let size = report.tree_size.unwrap_or(0);
    println!("✓ verified {} entries of {}", count(size), report.origin.as_deref().unwrap_or("?"));
    println!("  root {} (checkpoint signature verified with the pinned key)", report.root.as_deref().unwrap_or("?"));
    if from_file {
        println!("  every entry signature, every money rule and the tree root check out");
    } else {
        println!("  every entry signature, every money rule, the tree root and the served tiles check out");
    }
    match report.previous_checkpoint_size {
        Some(previous) => {
            println!("  consistent with the checkpoint verified on the previous run (size {})", count(previous))
        }
        None if report.state_file.is_some() => {
            println!("  first run: no previously verified checkpoint to compare with")
        }
        None => {}
    }
    if let Some(path) = &report.state_file {
        println!("  verified checkpoint saved to {path}");
    }
    println!("  in {:.2} s", report.elapsed_ms as f64 / 1000.0);
}

async fn verify(args: &VerifyArgs, report: &mut VerifyReport) -> Result<(), Failure> {
    let verifier = parse_verifier_key(&args.key).map_err(|error| Failure::error(&error))?;
    let (note, source, header) = match (&args.url, &args.from_file) {
        (Some(url), _) => {
            let client = Client::new(url).map_err(|error| Failure::error(&error))?;
            let note = fetch_checkpoint_note(&client).await.map_err(|error| Failure::error(&error))?;
            (note, Source::Server(client), None)
        }
        (None, Some(path)) => {
            let (header, reader) = open_export(path).map_err(|error| Failure::error(&error))?;
            (header.checkpoint.clone(), Source::File(reader), Some(header))
        }
        (None, None) => return Err(Failure::new(None, "error", "give the log's URL or --from-file FILE")),
    };
    let checkpoint = verify_checkpoint(&note, &verifier, None).map_err(|error| {
        Failure::new(
            None,
            "checkpoint_signature",
            format!("the checkpoint does not verify with the pinned key {}: {error}", verifier),
        )
    })?;
    report.origin = Some(checkpoint.origin.clone());
    report.tree_size = Some(checkpoint.tree_size);
    report.root = Some(hex::encode(checkpoint.root));
    if let Some(header) = &header {
        check_header(header, &checkpoint)?;
    }
    let state_path = match (&args.state, args.from_file.is_some()) {
        (Some(path), _) => Some(path.clone()),
        (None, false) => Some(default_state_path(&checkpoint.origin).map_err(|error| Failure::error(&error))?),
        (None, true) => None,
    };
    report.state_file = state_path.as_ref().map(|path| path.display().to_string());
    let previous = match &state_path {
        Some(path) => load_previous(path, &verifier, &checkpoint.origin)?,
        None => None,
    };
    if let Some(previous) = &previous {
        report.previous_checkpoint_size = Some(previous.tree_size);
        if previous.tree_size > checkpoint.tree_size {
            return Err(Failure::new(
                None,
                "fork",
                format!(
                    "the log shrank from {} entries (verified on the previous run) to {}: it was rewritten (fork)",
                    previous.tree_size, checkpoint.tree_size
                ),
            ));
        }
    }
    let expect = Expectation {
        origin: checkpoint.origin.clone(),
        tree_size: checkpoint.tree_size,
        root: checkpoint.root,
        previous,
        verify_entries: true,
    };
    let progress = progress_bar(checkpoint.tree_size, args.json, "verifying");
    let outcome = run_checks(source, expect, progress, Box::new(|_, _| Ok(()))).await;
    report.entries_verified = outcome.entries_verified;
    if let Some(failure) = outcome.failure {
        return Err(failure);
    }
    if let Some(path) = &state_path {
        save_state(path, &verifier, &note, &checkpoint, &outcome).map_err(|error| Failure::error(&error))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// aidtrail export log
// ---------------------------------------------------------------------------------------------------

/// The text of a signed note, without checking any signature (the signature block follows the last blank line).
fn unverified_checkpoint(note: &str) -> anyhow::Result<Checkpoint> {
    let separator = note.rfind("\n\n").context("the checkpoint is not a signed note")?;
    Checkpoint::parse(&note[..=separator]).map_err(|error| anyhow!("the checkpoint is malformed: {error}"))
}

/// `aidtrail export iati`: the server's IATI file, to standard output.
async fn export_iati(url: &str, organisation: Option<&str>) -> anyhow::Result<()> {
    let client = Client::new(url)?;
    let path = match organisation {
        Some(organisation) => format!("/api/v1/exports/iati.xml?organisation={organisation}"),
        None => "/api/v1/exports/iati.xml".to_string(),
    };
    let xml = client.get_text(&path).await?;
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(xml.as_bytes()).and_then(|()| stdout.flush()) {
        // A reader that stopped early (`| head`) is not an error of the export.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(error).context("writing to standard output"))
        }
        _ => Ok(()),
    }
}

pub async fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    init_cli_tracing();
    let (url, file, key, json) = match args.command {
        ExportCommand::Log { url, file, key, json } => (url, file, key, json),
        ExportCommand::Iati { url, org } => return export_iati(&url, org.as_deref()).await,
    };
    let started = Instant::now();
    let client = Client::new(&url)?;
    let note = fetch_checkpoint_note(&client).await?;
    let checkpoint = match &key {
        Some(key) => {
            let verifier = parse_verifier_key(key)?;
            verify_checkpoint(&note, &verifier, None)
                .map_err(|error| anyhow!("the checkpoint does not verify with the key given: {error}"))?
        }
        None => unverified_checkpoint(&note)?,
    };
    let temporary = {
        let mut name = file.file_name().context("the export needs a file name")?.to_os_string();
        name.push(".partial");
        file.with_file_name(name)
    };
    let mut writer = BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?,
    );
    let header = ExportHeader {
        format: EXPORT_FORMAT.to_string(),
        version: EXPORT_VERSION,
        origin: checkpoint.origin.clone(),
        tree_size: checkpoint.tree_size,
        root: hex::encode(checkpoint.root),
        checkpoint: note.clone(),
    };
    serde_json::to_writer(&mut writer, &header)?;
    writer.write_all(b"\n")?;
    let writer = std::sync::Arc::new(std::sync::Mutex::new(writer));
    let tree_size = checkpoint.tree_size;
    let sink: Sink = {
        let writer = writer.clone();
        Box::new(move |start, leaves| {
            let mut output = writer.lock().map_err(|_| anyhow!("the export writer failed"))?;
            for (offset, leaf) in leaves.iter().enumerate() {
                writeln!(output, "{{\"index\":{},\"leaf\":\"{}\"}}", start + offset as u64, hex::encode(leaf))?;
            }
            Ok(())
        })
    };
    let expect = Expectation {
        origin: checkpoint.origin.clone(),
        tree_size,
        root: checkpoint.root,
        previous: None,
        verify_entries: key.is_some(),
    };
    let progress = progress_bar(tree_size, json, "exporting");
    let outcome = run_checks(Source::Server(client), expect, progress, sink).await;
    if let Some(failure) = outcome.failure {
        let _ = std::fs::remove_file(&temporary);
        bail!("the export failed [{}]: {failure}", failure.kind);
    }
    // The checks are over and the sink is dropped: the writer is ours again.
    let writer = std::sync::Arc::try_unwrap(writer)
        .map_err(|_| anyhow!("the export writer is still in use"))?
        .into_inner()
        .map_err(|_| anyhow!("the export writer failed"))?;
    let file_handle =
        writer.into_inner().map_err(|error| anyhow!("writing {}: {}", temporary.display(), error.error()))?;
    file_handle.sync_all()?;
    drop(file_handle);
    std::fs::rename(&temporary, &file)
        .with_context(|| format!("renaming {} to {}", temporary.display(), file.display()))?;
    let verified = key.is_some();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "file": file.display().to_string(),
                "origin": checkpoint.origin,
                "tree_size": tree_size,
                "root": hex::encode(checkpoint.root),
                "verified": verified,
                "elapsed_ms": started.elapsed().as_millis() as u64,
            })
        );
    } else {
        println!("exported {} entries of {} to {}", count(tree_size), checkpoint.origin, file.display());
        println!("  root {} (the entries hash to the checkpoint's root)", hex::encode(checkpoint.root));
        if verified {
            println!("  verified while exporting: checkpoint signature, entry signatures, money rules, tiles");
        } else {
            println!(
                "  signatures and rules not checked: pass --key to verify while exporting, or run `aidtrail verify --from-file`"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// aidtrail import log
// ---------------------------------------------------------------------------------------------------

fn import_signer(checkpoint_key_file: Option<&Path>) -> anyhow::Result<NoteSigner> {
    if let Ok(text) = std::env::var("AIDTRAIL_CHECKPOINT_KEY") {
        return crate::keys::parse_private_key(text.trim())
            .context("AIDTRAIL_CHECKPOINT_KEY is not a valid private key");
    }
    match checkpoint_key_file {
        Some(path) => crate::keys::read_key_file(path),
        None => bail!(
            "the import needs the log's checkpoint-signing key, to keep signing its checkpoints: \
             pass --checkpoint-key-file FILE or set AIDTRAIL_CHECKPOINT_KEY"
        ),
    }
}

async fn close_store(store: &crate::store::Store) {
    match store {
        crate::store::Store::Sqlite(pools) => pools.close().await,
        crate::store::Store::Postgres(pool) => pool.close().await,
    }
}

/// Hands verified entries to the log in big chunks; each must be appended at the next index.
async fn submit_chunk(log: &crate::log::Log, chunk: Vec<SignedEntry>, next_index: &mut u64) -> anyhow::Result<()> {
    for result in log.submit_many(chunk).await {
        match result {
            Ok(receipt) if !receipt.duplicate && receipt.index == *next_index => *next_index += 1,
            Ok(receipt) => {
                bail!("entry {} was stored at index {} (duplicate: {})", *next_index, receipt.index, receipt.duplicate)
            }
            Err(error) => bail!("the log refused entry {}: {error}", *next_index),
        }
    }
    Ok(())
}

pub async fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    init_cli_tracing();
    let ImportCommand::Log { file, data_dir, database_url, checkpoint_key_file, key, json } = args.command;
    let started = Instant::now();
    let signer = import_signer(checkpoint_key_file.as_deref())?;
    let verifier = signer.verifier();
    if let Some(key) = &key {
        let pinned = parse_verifier_key(key)?;
        if pinned != verifier {
            bail!("the checkpoint-signing key given is {verifier}, not the pinned verifier key {pinned}");
        }
    }
    let (header, reader) = open_export(&file)?;
    let checkpoint = verify_checkpoint(&header.checkpoint, &verifier, None).map_err(|error| {
        anyhow!("the copy's checkpoint does not verify with the checkpoint key given ({verifier}): {error}; is this the log's key?")
    })?;
    check_header(&header, &checkpoint).map_err(|failure| anyhow!("{failure}"))?;
    let store = crate::store::Store::open(database_url.as_deref(), &data_dir).await?;
    if let Some(head) = store.head().await?
        && head.tree_size > 0
    {
        close_store(&store).await;
        bail!(
            "refusing to import into a database that already holds a log ({} entries of {:?}); import needs an empty database",
            head.tree_size,
            head.origin
        );
    }
    let log = crate::log::Log::open(store.clone(), &checkpoint.origin, signer).await?;

    let (sender, mut receiver) = mpsc::channel::<Vec<Vec<u8>>>(4);
    let submitter = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut pending: Vec<SignedEntry> = Vec::with_capacity(IMPORT_CHUNK);
            let mut next_index = 0u64;
            while let Some(leaves) = receiver.recv().await {
                for leaf in leaves {
                    pending.push(SignedEntry::decode(&leaf).context("an entry checked a moment ago does not decode")?);
                }
                if pending.len() >= IMPORT_CHUNK {
                    submit_chunk(&log, std::mem::take(&mut pending), &mut next_index).await?;
                }
            }
            if !pending.is_empty() {
                submit_chunk(&log, pending, &mut next_index).await?;
            }
            anyhow::Ok(next_index)
        })
    };
    let sink: Sink =
        Box::new(move |_, leaves| sender.blocking_send(leaves).map_err(|_| anyhow!("the database writer stopped")));
    let expect = Expectation {
        origin: checkpoint.origin.clone(),
        tree_size: checkpoint.tree_size,
        root: checkpoint.root,
        previous: None,
        verify_entries: true,
    };
    let progress = progress_bar(checkpoint.tree_size, json, "importing");
    let outcome = run_checks(Source::File(reader), expect, progress, sink).await;
    let submitted = submitter.await.map_err(|error| anyhow!("the database writer failed: {error}"))?;
    let where_to = match &database_url {
        Some(_) => "the PostgreSQL database".to_string(),
        None => data_dir.display().to_string(),
    };
    if let Some(failure) = outcome.failure {
        close_store(&store).await;
        let submitted = submitted.as_ref().map(|n| count(*n)).unwrap_or_else(|error| format!("? ({error:#})"));
        bail!(
            "the import failed [{}]: {failure}; {submitted} entries were written to {where_to}: delete it before trying again",
            failure.kind
        );
    }
    let submitted =
        submitted.with_context(|| format!("writing to {where_to} failed (delete it before trying again)"))?;
    let (tree_size, root) = {
        let view = log.view().await;
        (view.checkpoint.tree_size, view.checkpoint.root)
    };
    if submitted != checkpoint.tree_size || tree_size != checkpoint.tree_size || root != checkpoint.root {
        close_store(&store).await;
        bail!(
            "the imported log (size {tree_size}, root {}) differs from the copy's checkpoint (size {}, root {})",
            hex::encode(root),
            checkpoint.tree_size,
            hex::encode(checkpoint.root)
        );
    }
    // Keep the copy's checkpoint note itself (it may carry more signatures than the log's own).
    store.keep_checkpoint_note(checkpoint.tree_size, &checkpoint.root, &header.checkpoint).await?;
    log.snapshot().await?;
    drop(log);
    close_store(&store).await;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "origin": checkpoint.origin,
                "tree_size": checkpoint.tree_size,
                "root": hex::encode(checkpoint.root),
                "database": where_to,
                "elapsed_ms": started.elapsed().as_millis() as u64,
            })
        );
    } else {
        println!("imported {} entries of {} into {where_to}", count(checkpoint.tree_size), checkpoint.origin);
        println!("  every entry verified; root {} equals the copy's signed checkpoint", hex::encode(checkpoint.root));
        println!("  serve it with the same checkpoint key (--checkpoint-key-file or AIDTRAIL_CHECKPOINT_KEY)");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// aidtrail trace
// ---------------------------------------------------------------------------------------------------

/// The proof status of one entry shown by `trace`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ProofStatus {
    pub index: u64,
    pub entry_id: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// A checkpoint verified with the pinned key, that proofs are checked against.
struct Anchor {
    client: Client,
    checkpoint: Checkpoint,
    verifier: EntryVerifier,
}

/// Checks that the entry at `index` has id `entry_id` and kind `kind`, is signed, and is included in the
/// anchor's checkpoint.
async fn prove_entry(anchor: &Anchor, index: u64, entry_id: EntryId, kind: ledger::Kind) -> Result<(), String> {
    let size = anchor.checkpoint.tree_size;
    if index >= size {
        return Err(format!("entry {index} is beyond the verified checkpoint (size {size})"));
    }
    let proof: InclusionProofView = anchor
        .client
        .get_json(&format!("/api/v1/proofs/inclusion?index={index}&tree_size={size}"))
        .await
        .map_err(|error| format!("{error:#}"))?;
    let entry: EntryView =
        anchor.client.get_json(&format!("/api/v1/entries/{index}")).await.map_err(|error| format!("{error:#}"))?;
    let leaf = hex::decode(&entry.leaf).map_err(|_| "the entry's leaf is not hexadecimal".to_string())?;
    let hash = leaf_hash(&leaf);
    if hex::encode(hash) != proof.leaf_hash {
        return Err("the proof is for another leaf than the entry served".into());
    }
    let signed = SignedEntry::decode(&leaf).map_err(|error| format!("the entry does not decode: {error}"))?;
    if signed.entry().entry_id != entry_id {
        return Err(format!("the log holds entry {} at index {index}, not {entry_id}", signed.entry().entry_id));
    }
    if signed.entry().body.kind() != kind {
        return Err(format!("the entry at index {index} is a {}, not a {kind}", signed.entry().body.kind()));
    }
    anchor.verifier.clone().verify(signed).map_err(|error| format!("{error}"))?;
    let hashes = proof
        .proof
        .iter()
        .map(|text| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text, &mut hash)
                .map(|_| hash)
                .map_err(|_| "a proof hash is not 32 bytes of hex".to_string())
        })
        .collect::<Result<Vec<Hash>, String>>()?;
    verify_inclusion(&hash, index, size, &hashes, &anchor.checkpoint.root)
        .map_err(|error| format!("the inclusion proof does not verify: {error}"))
}

async fn prove_all(anchor: Option<&Anchor>, entries: &[(u64, EntryId, ledger::Kind)]) -> BTreeMap<u64, ProofStatus> {
    let mut statuses = BTreeMap::new();
    let Some(anchor) = anchor else { return statuses };
    let mut unique: Vec<(u64, EntryId, ledger::Kind)> = Vec::new();
    for entry in entries {
        if !unique.iter().any(|(index, _, _)| *index == entry.0) {
            unique.push(*entry);
        }
    }
    let anchor = std::sync::Arc::new(Anchor {
        client: anchor.client.clone(),
        checkpoint: anchor.checkpoint.clone(),
        verifier: anchor.verifier.clone(),
    });
    for group in unique.chunks(PROOFS_IN_FLIGHT) {
        let mut tasks = tokio::task::JoinSet::new();
        for &(index, entry_id, kind) in group {
            let anchor = anchor.clone();
            tasks.spawn(async move { (index, entry_id, prove_entry(&anchor, index, entry_id, kind).await) });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, entry_id, result)) = joined {
                statuses.insert(
                    index,
                    ProofStatus { index, entry_id: entry_id.to_hex(), ok: result.is_ok(), error: result.err() },
                );
            }
        }
    }
    for &(index, entry_id, _) in &unique {
        statuses.entry(index).or_insert_with(|| ProofStatus {
            index,
            entry_id: entry_id.to_hex(),
            ok: false,
            error: Some("the proof check did not finish".into()),
        });
    }
    statuses
}

fn money(amount: u128, decimals: u8, asset: &impl std::fmt::Display) -> String {
    format!("{} {asset}", Amount(amount).format(decimals, ',', '.'))
}

fn short(hex: &str) -> String {
    if hex.len() > 12 { format!("{}…", &hex[..12]) } else { hex.to_string() }
}

fn party(party: &Party) -> String {
    match party {
        Party::Donor(label) => match label.strip_prefix("anonymous:") {
            Some(reference) => format!("anonymous donor {}", short(reference)),
            None => label.clone(),
        },
        Party::Organisation(id) => id.to_string(),
        Party::Beneficiary(commitment) => format!("beneficiary {}", short(&commitment.to_hex())),
        Party::Supplier(id) => format!("supplier {id}"),
        Party::Pledge(id) => format!("pledge {}", short(&id.to_hex())),
        Party::Vouchers(id) => format!("vouchers of issue {}", short(&id.to_hex())),
    }
}

fn mark(statuses: &BTreeMap<u64, ProofStatus>, index: u64) -> String {
    match statuses.get(&index) {
        None => String::new(),
        Some(status) if status.ok => "  ✓".into(),
        Some(status) => format!("  ✗ {}", status.error.as_deref().unwrap_or("not proven")),
    }
}

/// A tree printed with box-drawing characters.
struct Tree {
    labels: Vec<String>,
    children: Vec<Vec<usize>>,
}

impl Tree {
    fn new(root: String) -> Self {
        Tree { labels: vec![root], children: vec![Vec::new()] }
    }

    fn add(&mut self, parent: usize, label: String) -> usize {
        self.labels.push(label);
        self.children.push(Vec::new());
        let node = self.labels.len() - 1;
        self.children[parent].push(node);
        node
    }

    fn render(&self) -> String {
        let mut out = format!("{}\n", self.labels[0]);
        self.render_children(0, "", &mut out);
        out
    }

    fn render_children(&self, node: usize, prefix: &str, out: &mut String) {
        let children = &self.children[node];
        for (position, &child) in children.iter().enumerate() {
            let last = position + 1 == children.len();
            out.push_str(prefix);
            out.push_str(if last { "└─ " } else { "├─ " });
            out.push_str(&self.labels[child]);
            out.push('\n');
            let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
            self.render_children(child, &deeper, out);
        }
    }
}

fn render_forward(trace: &ForwardTrace, statuses: &BTreeMap<u64, ProofStatus>) -> String {
    let amount = |value: u128| money(value, trace.decimals, &trace.asset);
    let decimals: HashMap<&str, u8> =
        trace.positions.iter().map(|position| (position.asset.as_str(), position.decimals)).collect();
    let amount_in = |value: u128, asset: &ledger::AssetCode| {
        money(value, decimals.get(asset.as_str()).copied().unwrap_or(trace.decimals), asset)
    };
    let earmark = match &trace.earmark {
        Some(ledger::trace::EarmarkView::Programme(id)) => format!(" · earmarked for programme {id}"),
        Some(ledger::trace::EarmarkView::Country(country)) => format!(" · earmarked for {country}"),
        Some(ledger::trace::EarmarkView::Clinic(id)) => format!(" · earmarked for {id}"),
        None => String::new(),
    };
    let donor = party(&Party::Donor(trace.donor.clone()));
    let mut tree = Tree::new(format!(
        "donation #{} · {} · {donor} → {}{earmark} · id {}{}",
        trace.donation_index,
        amount(trace.amount),
        trace.receiver,
        trace.donation_id,
        mark(statuses, trace.donation_index)
    ));
    // Outgoing hops hang under the hop that brought the money to their sender.
    let mut holder_nodes: HashMap<String, usize> = HashMap::from([(trace.receiver.to_string(), 0)]);
    for hop in &trace.hops {
        if hop.kind == ledger::Kind::Donation && hop.entry_index == trace.donation_index {
            continue;
        }
        let parent = match (&hop.from, &hop.to) {
            (Party::Organisation(from), _) => holder_nodes.get(from.as_str()).copied(),
            (Party::Pledge(pledge), _) => holder_nodes.get(&format!("pledge:{pledge}")).copied(),
            (Party::Vouchers(issue), _) => holder_nodes.get(&format!("vouchers:{issue}")).copied(),
            (_, Party::Organisation(to)) => holder_nodes.get(to.as_str()).copied(),
            _ => None,
        }
        .unwrap_or(0);
        let date = hop.value_date.map(|date| format!(" · {date}")).unwrap_or_default();
        let category = hop.category.map(|category| format!(" · {category}")).unwrap_or_default();
        let converted = hop
            .converted_into
            .as_ref()
            .map(|into| format!(" into {}", amount_in(into.amount, &into.asset)))
            .unwrap_or_default();
        let node = tree.add(
            parent,
            format!(
                "{} #{} · {}{converted} · {} → {}{category}{date} · id {}{}",
                hop.kind,
                hop.entry_index,
                amount_in(hop.amount, &hop.asset),
                party(&hop.from),
                party(&hop.to),
                hop.entry_id,
                mark(statuses, hop.entry_index)
            ),
        );
        match &hop.to {
            Party::Organisation(to) => {
                holder_nodes.entry(to.to_string()).or_insert(node);
            }
            Party::Pledge(pledge) => {
                holder_nodes.entry(format!("pledge:{pledge}")).or_insert(node);
            }
            Party::Vouchers(issue) => {
                holder_nodes.entry(format!("vouchers:{issue}")).or_insert(node);
            }
            _ => {}
        }
    }
    let mut out = tree.render();
    let converted =
        if trace.converted > 0 { format!(" · converted {}", amount(trace.converted)) } else { String::new() };
    out.push_str(&format!(
        "summary: spent {} · held {} · reserved {} · returned {}{converted} (of {})\n",
        amount(trace.spent),
        amount(trace.held),
        amount(trace.reserved),
        amount(trace.returned),
        amount(trace.amount)
    ));
    for position in trace.positions.iter().skip(1) {
        out.push_str(&format!(
            "  in {}: received {} · spent {} · held {} · reserved {} · returned {}\n",
            position.asset,
            amount_in(position.received, &position.asset),
            amount_in(position.spent, &position.asset),
            amount_in(position.held, &position.asset),
            amount_in(position.reserved, &position.asset),
            amount_in(position.returned, &position.asset)
        ));
    }
    for position in trace.positions.iter().filter(|position| position.overheads > 0) {
        // Per mille of what the gift brought into this asset, rounded down, in integers.
        let per_mille = position.overheads.saturating_mul(1_000) / position.received.max(1);
        out.push_str(&format!(
            "administration and bank fees: {} ({}.{}% of the gift{})\n",
            amount_in(position.overheads, &position.asset),
            per_mille / 10,
            per_mille % 10,
            if position.asset == trace.asset { String::new() } else { format!(" converted to {}", position.asset) }
        ));
    }
    let holders: Vec<String> = trace
        .holders
        .iter()
        .filter(|holder| holder.held > 0 || holder.reserved > 0)
        .map(|holder| {
            let reserved = if holder.reserved > 0 {
                format!(" (+{} reserved)", amount_in(holder.reserved, &holder.asset))
            } else {
                String::new()
            };
            format!("{} {}{reserved}", holder.organisation, amount_in(holder.held, &holder.asset))
        })
        .collect();
    if !holders.is_empty() {
        out.push_str(&format!("still held by: {}\n", holders.join(", ")));
    }
    if !trace.spent_by_category.is_empty() {
        let categories: Vec<String> = trace
            .spent_by_category
            .iter()
            .map(|c| format!("{} {}", c.category, amount_in(c.amount, &c.asset)))
            .collect();
        out.push_str(&format!("spent on: {}\n", categories.join(", ")));
    }
    out
}

fn render_backward(trace: &BackwardTrace, statuses: &BTreeMap<u64, ProofStatus>) -> String {
    let amount = |value: u128| money(value, trace.decimals, &trace.asset);
    let reversed = if trace.reversed { " · REVERSED" } else { "" };
    let mut tree = Tree::new(format!(
        "spend #{} · {} · {} → {} · {}{reversed} · id {}{}",
        trace.spend_index,
        amount(trace.amount),
        trace.spender,
        party(&trace.recipient),
        trace.category,
        trace.spend_id,
        mark(statuses, trace.spend_index)
    ));
    for source in &trace.sources {
        let earmark = match &source.earmark {
            Some(ledger::trace::EarmarkView::Programme(id)) => format!(" · earmarked for programme {id}"),
            Some(ledger::trace::EarmarkView::Country(country)) => format!(" · earmarked for {country}"),
            Some(ledger::trace::EarmarkView::Clinic(id)) => format!(" · earmarked for {id}"),
            None => String::new(),
        };
        tree.add(
            0,
            format!(
                "paid by donation #{} · {} of it · {} → {}{earmark} · id {}{}",
                source.donation_index,
                amount(source.amount),
                party(&Party::Donor(source.donor.clone())),
                source.receiver,
                source.donation_id,
                mark(statuses, source.donation_index)
            ),
        );
    }
    tree.render()
}

fn parse_entry_id(what: &str, text: &str) -> anyhow::Result<EntryId> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| anyhow!("{what} must be 32 hexadecimal digits, got {text:?}"))?;
    Ok(EntryId(bytes))
}

pub async fn run_trace(args: TraceArgs) -> anyhow::Result<()> {
    init_cli_tracing();
    let client = Client::new(&args.url)?;
    // The traces first, then the checkpoint: it then covers every entry the traces name.
    let mut forward: Vec<ForwardTrace> = Vec::new();
    let mut backward: Option<BackwardTrace> = None;
    let mut reference = None;
    if let Some(receipt) = &args.receipt {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(receipt.trim(), &mut secret)
            .map_err(|_| anyhow!("the receipt must be 64 hexadecimal digits"))?;
        let donor_ref = donor_reference(&secret).to_hex();
        let list: DonationList = client.get_json(&format!("/api/v1/donor-references/{donor_ref}/donations")).await?;
        for id in &list.donations {
            forward.push(client.get_json(&format!("/api/v1/trace/donations/{id}")).await?);
        }
        reference = Some(donor_ref);
    } else {
        let id = args.id.as_deref().context("give the entry id to trace (or --receipt)")?;
        if args.back {
            let id = parse_entry_id("the spend's entry id", id)?;
            backward = Some(client.get_json(&format!("/api/v1/trace/spends/{id}")).await?);
        } else {
            let id = parse_entry_id("the donation's entry id", id)?;
            forward.push(client.get_json(&format!("/api/v1/trace/donations/{id}")).await?);
        }
    }
    let anchor = match &args.key {
        Some(key) => {
            let verifier = parse_verifier_key(key)?;
            let note = fetch_checkpoint_note(&client).await?;
            let checkpoint = verify_checkpoint(&note, &verifier, None)
                .map_err(|error| anyhow!("the log's checkpoint does not verify with the key given: {error}"))?;
            let entry_verifier = EntryVerifier::new(&checkpoint.origin).map_err(|error| anyhow!("{error}"))?;
            Some(Anchor { client: client.clone(), checkpoint, verifier: entry_verifier })
        }
        None => None,
    };
    let mut to_prove = Vec::new();
    for trace in &forward {
        to_prove.push((trace.donation_index, trace.donation_id, ledger::Kind::Donation));
        to_prove.extend(trace.hops.iter().map(|hop| (hop.entry_index, hop.entry_id, hop.kind)));
    }
    if let Some(trace) = &backward {
        to_prove.push((trace.spend_index, trace.spend_id, ledger::Kind::Spend));
        to_prove.extend(
            trace.sources.iter().map(|source| (source.donation_index, source.donation_id, ledger::Kind::Donation)),
        );
    }
    let statuses = prove_all(anchor.as_ref(), &to_prove).await;
    let failed = statuses.values().filter(|status| !status.ok).count();
    if args.json {
        let mut output = serde_json::json!({
            "direction": if backward.is_some() { "backward" } else { "forward" },
            "proofs_checked": anchor.is_some(),
            "checkpoint": anchor.as_ref().map(|anchor| serde_json::json!({
                "origin": anchor.checkpoint.origin,
                "tree_size": anchor.checkpoint.tree_size,
                "root": hex::encode(anchor.checkpoint.root),
            })),
            "proofs": statuses.values().collect::<Vec<_>>(),
            "ok": failed == 0,
        });
        match (&reference, &backward) {
            (Some(reference), _) => {
                output["donor_reference"] = serde_json::json!(reference);
                output["traces"] = serde_json::to_value(&forward)?;
            }
            (None, Some(trace)) => output["trace"] = serde_json::to_value(trace)?,
            (None, None) => output["trace"] = serde_json::to_value(&forward[0])?,
        }
        println!("{}", serde_json::to_string(&output)?);
    } else {
        let mut text = String::new();
        if let Some(reference) = &reference {
            text.push_str(&format!("donor reference {reference}: {} donation(s)\n", forward.len()));
        }
        for trace in &forward {
            text.push_str(&render_forward(trace, &statuses));
        }
        if let Some(trace) = &backward {
            text.push_str(&render_backward(trace, &statuses));
        }
        match &anchor {
            Some(anchor) => text.push_str(&format!(
                "proofs: {} of {} entries proven included in the checkpoint of size {} (root {}) signed by {}\n",
                statuses.len() - failed,
                statuses.len(),
                anchor.checkpoint.tree_size,
                hex::encode(anchor.checkpoint.root),
                anchor.checkpoint.origin
            )),
            None => text.push_str("proofs not checked: pass --key\n"),
        }
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    if failed > 0 {
        bail!("{failed} entries of this trace could not be proven in the log");
    }
    Ok(())
}
