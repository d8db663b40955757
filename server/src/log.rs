//! The log service: the in-memory view (ledger state, Merkle tree, latest checkpoint) kept equal to what
//! the database holds, and the sequencer that orders submissions. The sequencer verifies signatures,
//! applies the money rules, assigns indexes, and persists entries, tree nodes, derived state and the new
//! signed checkpoint in one transaction under the head lock (group commit); only then does it answer.
//! The anomaly flags (`ledger::flags`) are computed next to the state, entry by entry; they depend only on
//! the log, so they are kept in the state snapshots and rebuilt by replaying the entries after it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use ledger::merkle::{Hash, MemoryTree, NodeId, NodeSource, empty_root};
use ledger::note::{Checkpoint, NoteSigner};
use ledger::{Body, EntryId, EntryVerifier, Flags, OrgId, Rejection, SignedEntry, State, VerifiedEntry, check_clock};
use tokio::sync::{RwLock, RwLockReadGuard, mpsc, oneshot};

use crate::store::{BalanceRow, DerivedRows, EntryRow, PledgeRow, Store, StoredCheckpoint, WriteTx};

/// The most submissions committed in one transaction.
pub const BATCH_ENTRIES_MAX: usize = 4_096;
/// A state snapshot is written after this many new entries.
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 100_000;
/// The serialisation format of state snapshots (the state and the flags, postcard); a snapshot of another
/// format is ignored (the log is replayed).
pub const SNAPSHOT_FORMAT: i64 = 4;
/// How often a server looks for entries appended by another server sharing its database.
pub const REFRESH_INTERVAL_MS: u64 = 500;

/// What the log answers a submitter once its entry is durable.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: Hash,
    /// True when the identical entry was already logged (its original index is returned).
    pub duplicate: bool,
    pub checkpoint: PublishedCheckpoint,
    /// Inclusion proof of the leaf in the checkpoint's tree.
    pub inclusion_proof: Vec<Hash>,
}

/// A signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedCheckpoint {
    pub tree_size: u64,
    pub root: Hash,
    pub note: String,
    pub signed_at_ms: u64,
}

impl From<StoredCheckpoint> for PublishedCheckpoint {
    fn from(stored: StoredCheckpoint) -> Self {
        PublishedCheckpoint {
            tree_size: stored.tree_size,
            root: stored.root,
            note: stored.note,
            signed_at_ms: stored.signed_at_ms,
        }
    }
}

/// A saved state snapshot.
struct SnapshotSaved {
    tree_size: u64,
    bytes: usize,
    /// How long the view's read lock was held (writers wait that long).
    locked: Duration,
}

/// Why a submission got no receipt.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{0}")]
    Rejected(#[from] Rejection),
    #[error("the log service is unavailable: {0}")]
    Unavailable(String),
}

/// What readers see: always equal to a committed state of the database.
pub struct View {
    pub state: State,
    /// The anomaly flags of the same entries as `state`.
    pub flags: Flags,
    pub tree: MemoryTree,
    pub checkpoint: PublishedCheckpoint,
}

enum Command {
    /// Entries that arrived together; they are committed in the same transaction.
    Submit(Vec<Pending>),
    Refresh {
        reply: oneshot::Sender<()>,
    },
}

/// The shared handle of the log service.
pub struct Log {
    store: Store,
    origin: String,
    verifier_key: String,
    view: RwLock<View>,
    commands: mpsc::Sender<Command>,
    /// Keys already checked, shared by the submitting tasks (a key check costs about a signature check).
    verifier: std::sync::Mutex<EntryVerifier>,
    /// Bytes per entry of the last snapshot, in thousandths: the next one's buffer is reserved from it.
    snapshot_millibytes_per_entry: std::sync::atomic::AtomicU64,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The perfect nodes completed by appending the leaf at `leaf_index`, read from the tree.
fn new_node_ids(leaf_index: u64) -> impl Iterator<Item = NodeId> {
    let size = leaf_index + 1;
    (0..64u8)
        .take_while(move |&level| size.is_multiple_of(1u64 << level))
        .map(move |level| NodeId { level, index: (size >> level) - 1 })
}

impl Log {
    /// Opens the log in `store`: creates it on first start, else loads the latest snapshot and the tree and
    /// replays the entries after the snapshot. Starts the sequencer and the refresher.
    pub async fn open(store: Store, origin: &str, signer: NoteSigner) -> anyhow::Result<Arc<Log>> {
        let verifier_key = signer.verifier().to_string();
        let head = match store.head().await? {
            Some(head) => head,
            None => store.init_head(origin, &verifier_key, &empty_root()).await?,
        };
        if head.origin != origin {
            bail!("this database holds the log {:?}, not {origin:?}", head.origin);
        }
        if head.verifier_key != verifier_key {
            bail!(
                "this database's log is signed by the key {}, but the checkpoint key given is {verifier_key}; \
                 start with the log's own key",
                head.verifier_key
            );
        }
        let started = Instant::now();
        // The tree, from the stored leaf hashes, must give the stored root.
        let leaf_hashes = store.leaf_hashes(0, head.tree_size).await?;
        if leaf_hashes.len() as u64 != head.tree_size {
            bail!("the database holds {} leaf hashes for a log of size {}", leaf_hashes.len(), head.tree_size);
        }
        let mut tree = MemoryTree::with_capacity(leaf_hashes.len());
        for leaf_hash in leaf_hashes {
            tree.push_leaf_hash(leaf_hash);
        }
        if tree.root() != head.root {
            bail!("the stored tree does not hash to the stored root: the database is damaged or was edited");
        }
        let mut state = State::new();
        let mut flags = Flags::new();
        // The snapshot only saves time: one that cannot be read is passed over and the log replayed.
        let snapshot = store.latest_snapshot().await.unwrap_or_else(|error| {
            tracing::warn!(error = %format!("{error:#}"), "the state snapshot cannot be used; replaying the log");
            None
        });
        if let Some((size, format, bytes)) = snapshot
            && format == SNAPSHOT_FORMAT
            && size <= head.tree_size
        {
            (state, flags) = postcard::from_bytes(&bytes).context("reading the state snapshot")?;
            anyhow::ensure!(
                state.size() == size && flags.size() == size,
                "the snapshot's state does not have its stated size"
            );
        }
        let mut verifier = EntryVerifier::new(origin).map_err(|error| anyhow::anyhow!("{error}"))?;
        let replayed = head.tree_size - state.size();
        replay(&store, &mut state, &mut flags, &mut verifier, head.tree_size, &tree).await?;
        count_flags(&flags, 0);
        let checkpoint = match store.latest_checkpoint().await? {
            Some(stored) => PublishedCheckpoint::from(stored),
            None => {
                // The empty log's checkpoint, signed once and kept like every other.
                let empty = sign_checkpoint(&signer, origin, 0, empty_root())?;
                store
                    .insert_checkpoint_if_absent(&StoredCheckpoint {
                        tree_size: 0,
                        root: empty.root,
                        note: empty.note,
                        signed_at_ms: empty.signed_at_ms,
                    })
                    .await?
                    .into()
            }
        };
        if checkpoint.tree_size != head.tree_size || checkpoint.root != head.root {
            bail!(
                "the latest checkpoint (size {}) does not match the log head (size {})",
                checkpoint.tree_size,
                head.tree_size
            );
        }
        tracing::info!(
            backend = store.backend_name(),
            tree_size = head.tree_size,
            replayed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "log loaded"
        );
        let (commands, receiver) = mpsc::channel(BATCH_ENTRIES_MAX * 4);
        let log = Arc::new(Log {
            store: store.clone(),
            origin: origin.to_string(),
            verifier_key,
            view: RwLock::new(View { state, flags, tree, checkpoint }),
            commands,
            verifier: std::sync::Mutex::new(verifier.clone()),
            snapshot_millibytes_per_entry: std::sync::atomic::AtomicU64::new(0),
        });
        let sequencer = Sequencer {
            log: Arc::downgrade(&log),
            store,
            signer,
            verifier,
            last_snapshot: head.tree_size,
            snapshot: None,
        };
        tokio::spawn(sequencer.run(receiver));
        let weak = Arc::downgrade(&log);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(REFRESH_INTERVAL_MS));
            loop {
                interval.tick().await;
                let Some(log) = weak.upgrade() else { break };
                log.refresh().await;
            }
        });
        Ok(log)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's verifier key (`name+hexid+base64`), for checkpoint signatures.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Read access to the committed view.
    pub async fn view(&self) -> RwLockReadGuard<'_, View> {
        self.view.read().await
    }

    /// Verifies signatures on the blocking threads, so that submissions arriving together use every core
    /// while the sequencer commits the previous batch; a single entry is verified in place.
    async fn verify(&self, mut entries: Vec<SignedEntry>) -> Vec<Result<VerifiedEntry, ledger::EntryError>> {
        if entries.len() == 1 {
            // One signature (about 40 us) is checked in place, with the shared key cache: handing it to a
            // blocking thread and back, with a copy of the cache, cost more than the check itself.
            let signed = entries.pop().expect("one entry");
            return vec![self.verifier.lock().expect("the verifier lock is never poisoned").verify(signed)];
        }
        let mut verifier = self.verifier.lock().expect("the verifier lock is never poisoned").clone();
        let known_keys = verifier.checked_key_count();
        let (results, verifier) = tokio::task::spawn_blocking(move || {
            let results: Vec<_> = entries.into_iter().map(|signed| verifier.verify(signed)).collect();
            (results, verifier)
        })
        .await
        .expect("signature verification does not panic");
        if verifier.checked_key_count() > known_keys {
            let mut shared = self.verifier.lock().expect("the verifier lock is never poisoned");
            if verifier.checked_key_count() > shared.checked_key_count() {
                *shared = verifier;
            }
        }
        results
    }

    /// Submits one signed entry and waits until it is durable (or rejected).
    pub async fn submit(&self, signed: SignedEntry) -> Result<Receipt, SubmitError> {
        self.submit_many(vec![signed]).await.pop().expect("one answer per entry")
    }

    /// Submits many entries; each gets its own answer. They are committed together when they arrive together.
    pub async fn submit_many(&self, entries: Vec<SignedEntry>) -> Vec<Result<Receipt, SubmitError>> {
        // Large batches are verified in two halves, one per core.
        let verified = if entries.len() >= 64 {
            let mut first = entries;
            let second = first.split_off(first.len() / 2);
            let (mut a, b) = tokio::join!(self.verify(first), self.verify(second));
            a.extend(b);
            a
        } else {
            self.verify(entries).await
        };
        let mut pending = Vec::with_capacity(verified.len());
        let mut answers = Vec::with_capacity(verified.len());
        for verified in verified {
            let (reply, answer) = oneshot::channel();
            pending.push(Pending { verified, reply });
            answers.push(Some(answer));
        }
        if self.commands.send(Command::Submit(pending)).await.is_err() {
            answers.iter_mut().for_each(|answer| *answer = None);
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(match answer {
                Some(answer) => {
                    answer.await.unwrap_or_else(|_| Err(SubmitError::Unavailable("the sequencer stopped".into())))
                }
                None => Err(SubmitError::Unavailable("the sequencer stopped".into())),
            });
        }
        results
    }

    /// Saves a snapshot of the state now (the sequencer also saves one every
    /// [`SNAPSHOT_EVERY_ENTRIES`] entries); a restart then replays only what follows it.
    pub async fn snapshot(self: &Arc<Self>) -> anyhow::Result<u64> {
        Ok(self.snapshot_sized().await?.tree_size)
    }

    /// Saves a snapshot of the state now. The state and the flags are copied under the view's read lock
    /// (the sequencer waits for the copy only, about a third of the time serialising them takes), then
    /// serialised on a blocking thread, into a buffer sized from the previous snapshot, and saved without
    /// any lock.
    async fn snapshot_sized(self: &Arc<Self>) -> anyhow::Result<SnapshotSaved> {
        use std::sync::atomic::Ordering;
        let log = Arc::clone(self);
        let (size, bytes, locked) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let (state, flags) = {
                let view = log.view.blocking_read();
                (view.state.clone(), view.flags.clone())
            };
            let locked = started.elapsed();
            let size = state.size();
            let per_entry = log.snapshot_millibytes_per_entry.load(Ordering::Relaxed);
            // A little more than the last snapshot's bytes per entry, so that the buffer does not double.
            let estimate = size.saturating_mul(per_entry) / 1000 * 21 / 20;
            let bytes = postcard::to_io(&(&state, &flags), Vec::with_capacity(estimate as usize))?;
            Ok::<_, postcard::Error>((size, bytes, locked))
        })
        .await
        .context("the snapshot task")?
        .context("serialising the state snapshot")?;
        self.store.save_snapshot(size, SNAPSHOT_FORMAT, &bytes).await?;
        self.snapshot_millibytes_per_entry
            .store((bytes.len() as u64).saturating_mul(1000) / size.max(1), Ordering::Relaxed);
        let saved = SnapshotSaved { tree_size: size, bytes: bytes.len(), locked };
        drop(bytes);
        // The copy's many small blocks went back to the allocator's free lists: give their pages back.
        crate::memory::release_free_pages();
        Ok(saved)
    }

    /// Catches up with entries appended by another server sharing the database.
    pub async fn refresh(&self) {
        let Ok(Some(head)) = self.store.head().await else { return };
        if head.tree_size <= self.view.read().await.state.size() {
            return;
        }
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Refresh { reply }).await.is_ok() {
            let _ = done.await;
        }
    }
}

fn sign_checkpoint(
    signer: &NoteSigner,
    origin: &str,
    tree_size: u64,
    root: Hash,
) -> anyhow::Result<PublishedCheckpoint> {
    let note = Checkpoint::new(origin, tree_size, root).sign(signer).map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(PublishedCheckpoint { tree_size, root, note, signed_at_ms: now_ms() })
}

/// Counts flags from position `from` on in the Prometheus counter of flags by rule.
fn count_flags(flags: &Flags, from: usize) {
    for rule in flags.rules_since(from) {
        metrics::counter!("aidtrail_flags_total", "rule" => rule.as_str()).increment(1);
    }
}

/// Applies stored entries `[state.size(), end)` to the state and the flags (the tree already holds them).
async fn replay(
    store: &Store,
    state: &mut State,
    flags: &mut Flags,
    verifier: &mut EntryVerifier,
    end: u64,
    tree: &MemoryTree,
) -> anyhow::Result<()> {
    const CHUNK: u64 = 10_000;
    while state.size() < end {
        let start = state.size();
        let rows = store.entries_range(start, (start + CHUNK).min(end)).await?;
        apply_stored(state, flags, verifier, &rows, Some(tree))?;
    }
    Ok(())
}

/// Applies entries read back from the database; any failure means the database is damaged or was edited.
fn apply_stored(
    state: &mut State,
    flags: &mut Flags,
    verifier: &mut EntryVerifier,
    rows: &[EntryRow],
    tree: Option<&MemoryTree>,
) -> anyhow::Result<()> {
    for row in rows {
        anyhow::ensure!(
            row.entry_index == state.size(),
            "stored entries skip from {} to {}",
            state.size(),
            row.entry_index
        );
        let signed = SignedEntry::decode(&row.leaf)
            .with_context(|| format!("stored entry {} does not decode", row.entry_index))?;
        let verified =
            verifier.verify(signed).with_context(|| format!("stored entry {} does not verify", row.entry_index))?;
        anyhow::ensure!(
            verified.leaf_hash() == row.leaf_hash,
            "stored entry {} has the wrong leaf hash",
            row.entry_index
        );
        if let Some(tree) = tree {
            anyhow::ensure!(
                tree.node(NodeId { level: 0, index: row.entry_index }) == Some(row.leaf_hash),
                "stored entry {} is not the tree's leaf",
                row.entry_index
            );
        }
        let applied =
            state.apply(&verified).with_context(|| format!("stored entry {} breaks the rules", row.entry_index))?;
        anyhow::ensure!(!applied.duplicate, "stored entry {} repeats an earlier entry", row.entry_index);
        flags.observe(state, verified.entry());
    }
    Ok(())
}

struct Sequencer {
    log: std::sync::Weak<Log>,
    store: Store,
    signer: NoteSigner,
    verifier: EntryVerifier,
    last_snapshot: u64,
    /// The snapshot being written in the background, if any.
    snapshot: Option<tokio::task::JoinHandle<()>>,
}

struct Pending {
    verified: Result<VerifiedEntry, ledger::EntryError>,
    reply: oneshot::Sender<Result<Receipt, SubmitError>>,
}

enum Outcome {
    Accepted { index: u64, leaf_hash: Hash, duplicate: bool },
    Rejected(Rejection),
}

impl Sequencer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        let mut batch: Vec<Pending> = Vec::new();
        let mut refreshes: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(command) = receiver.recv().await {
            let mut next = Some(command);
            while let Some(command) = next.take() {
                match command {
                    Command::Submit(pending) => batch.extend(pending),
                    Command::Refresh { reply } => refreshes.push(reply),
                }
                if batch.len() < BATCH_ENTRIES_MAX {
                    next = receiver.try_recv().ok();
                }
            }
            let Some(log) = self.log.upgrade() else { break };
            let batch_size = batch.len();
            let result = self.commit(&log, std::mem::take(&mut batch)).await;
            if let Err(error) = result {
                tracing::error!(error = %format!("{error:#}"), "commit failed; reloading the log from the database");
                if let Err(error) = self.reload(&log).await {
                    tracing::error!(error = %format!("{error:#}"), "reloading the log failed");
                }
            }
            metrics::histogram!("aidtrail_sequencer_batch_entries").record(batch_size as f64);
            for reply in refreshes.drain(..) {
                let _ = reply.send(());
            }
            self.maybe_snapshot(&log).await;
        }
    }

    /// Applies and commits a batch of verified submissions.
    async fn commit(&mut self, log: &Log, mut batch: Vec<Pending>) -> anyhow::Result<()> {
        let verified: Vec<Result<VerifiedEntry, ledger::EntryError>> = batch
            .iter_mut()
            .map(|pending| std::mem::replace(&mut pending.verified, Err(ledger::EntryError::BadSignature)))
            .collect();
        let (mut tx, head) = self.store.begin_write().await?;
        let mut view = log.view.write().await;
        if head.tree_size != view.state.size() {
            self.catch_up(&mut tx, &mut view, head.tree_size).await?;
        }
        anyhow::ensure!(view.tree.root() == head.root, "the in-memory tree differs from the stored head");
        let now = now_ms();
        let start_size = view.state.size();
        let start_flags = view.flags.len();
        let mut rows = Vec::new();
        let mut nodes = Vec::new();
        let mut touched: BTreeSet<OrgId> = BTreeSet::new();
        let mut pledges_touched: BTreeSet<EntryId> = BTreeSet::new();
        let mut outcomes = Vec::with_capacity(verified.len());
        for result in verified {
            let outcome = match result {
                Err(error) => {
                    let rejection = Rejection::from(error);
                    metrics::counter!("aidtrail_rejections_total", "rule" => rejection.code()).increment(1);
                    Outcome::Rejected(rejection)
                }
                Ok(verified) => match self.apply_one(&mut view, &verified, now) {
                    Ok((index, leaf_hash, duplicate)) => {
                        if !duplicate {
                            rows.push(EntryRow::new(index, verified.signed(), leaf_hash));
                            view.tree.push_leaf_hash(leaf_hash);
                            for id in new_node_ids(index) {
                                nodes.push((id, view.tree.node(id).expect("the node was just completed")));
                            }
                            note_touched(verified.entry(), &mut touched, &mut pledges_touched);
                        }
                        Outcome::Accepted { index, leaf_hash, duplicate }
                    }
                    Err(rejection) => {
                        metrics::counter!("aidtrail_rejections_total", "rule" => rejection.code()).increment(1);
                        Outcome::Rejected(rejection)
                    }
                },
            };
            outcomes.push(outcome);
        }
        let new_size = view.state.size();
        if new_size > start_size {
            let root = view.tree.root();
            let checkpoint = sign_checkpoint(&self.signer, &log.origin, new_size, root)?;
            let derived = derived_rows(&view.state, &touched, &pledges_touched);
            let written = async {
                tx.insert_entries(&rows).await?;
                tx.insert_nodes(&nodes).await?;
                tx.advance_head(head.tree_size, new_size, &root).await?;
                tx.insert_checkpoint(&StoredCheckpoint {
                    tree_size: checkpoint.tree_size,
                    root: checkpoint.root,
                    note: checkpoint.note.clone(),
                    signed_at_ms: checkpoint.signed_at_ms,
                })
                .await?;
                tx.write_derived(&derived, new_size).await?;
                tx.commit().await
            }
            .await;
            if let Err(error) = written {
                for pending in batch {
                    let _ = pending.reply.send(Err(SubmitError::Unavailable("the entry could not be stored".into())));
                }
                drop(view);
                return Err(error);
            }
            view.checkpoint = checkpoint;
            metrics::counter!("aidtrail_entries_appended_total").increment(new_size - start_size);
            count_flags(&view.flags, start_flags);
        } else {
            drop(tx);
        }
        let view = view.downgrade();
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            let answer = match outcome {
                Outcome::Rejected(rejection) => Err(SubmitError::Rejected(rejection)),
                Outcome::Accepted { index, leaf_hash, duplicate } => {
                    let checkpoint = view.checkpoint.clone();
                    let inclusion_proof = view
                        .tree
                        .inclusion_proof(index, checkpoint.tree_size)
                        .expect("an appended leaf is inside the new checkpoint");
                    Ok(Receipt { index, leaf_hash, duplicate, checkpoint, inclusion_proof })
                }
            };
            let _ = pending.reply.send(answer);
        }
        Ok(())
    }

    fn apply_one(&self, view: &mut View, verified: &VerifiedEntry, now: u64) -> Result<(u64, Hash, bool), Rejection> {
        // An identical resubmission is answered even if its timestamp is now stale.
        if view.state.index_of(&verified.entry().entry_id).is_none() {
            check_clock(verified.entry().timestamp_ms, now)?;
        }
        let applied = view.state.apply(verified)?;
        if !applied.duplicate {
            view.flags.observe(&view.state, verified.entry());
        }
        Ok((applied.index, applied.leaf_hash, applied.duplicate))
    }

    /// Applies entries another server committed since this one last looked.
    async fn catch_up(&mut self, tx: &mut WriteTx, view: &mut View, end: u64) -> anyhow::Result<()> {
        let start = view.state.size();
        anyhow::ensure!(end > start, "the stored log (size {end}) is shorter than the one in memory ({start})");
        let rows = tx.entries_range(start, end).await?;
        let start_flags = view.flags.len();
        apply_stored(&mut view.state, &mut view.flags, &mut self.verifier, &rows, None)?;
        count_flags(&view.flags, start_flags);
        for row in &rows {
            view.tree.push_leaf_hash(row.leaf_hash);
        }
        if let Some(stored) = self.store.checkpoint(end).await? {
            view.checkpoint = stored.into();
        }
        tracing::debug!(from = start, to = end, "caught up with entries appended by another server");
        Ok(())
    }

    /// Rebuilds the view from the database after a failed commit left memory ahead of it.
    async fn reload(&mut self, log: &Log) -> anyhow::Result<()> {
        let head = self.store.head().await?.context("the log head is missing")?;
        let leaf_hashes = self.store.leaf_hashes(0, head.tree_size).await?;
        let mut tree = MemoryTree::with_capacity(leaf_hashes.len());
        for leaf_hash in leaf_hashes {
            tree.push_leaf_hash(leaf_hash);
        }
        let mut state = State::new();
        let mut flags = Flags::new();
        let mut verifier = EntryVerifier::new(&log.origin).expect("valid origin");
        replay(&self.store, &mut state, &mut flags, &mut verifier, head.tree_size, &tree).await?;
        let checkpoint = self.store.latest_checkpoint().await?.context("no checkpoint")?.into();
        *log.view.write().await = View { state, flags, tree, checkpoint };
        Ok(())
    }

    /// Starts a snapshot in the background once [`SNAPSHOT_EVERY_ENTRIES`] entries were appended since the
    /// last one, unless one is still being written: the sequencer goes on committing meanwhile. A snapshot that
    /// fails is logged and the next is due [`SNAPSHOT_EVERY_ENTRIES`] later (a restart replays more, nothing else).
    async fn maybe_snapshot(&mut self, log: &Arc<Log>) {
        if self.snapshot.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let size = log.view.read().await.state.size();
        if size < self.last_snapshot + SNAPSHOT_EVERY_ENTRIES {
            return;
        }
        self.last_snapshot = size;
        let log = Arc::clone(log);
        self.snapshot = Some(tokio::spawn(async move {
            let started = Instant::now();
            match log.snapshot_sized().await {
                Ok(saved) => tracing::info!(
                    tree_size = saved.tree_size,
                    bytes = saved.bytes,
                    locked_ms = saved.locked.as_millis() as u64,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "state snapshot saved"
                ),
                Err(error) => tracing::error!(error = %format!("{error:#}"), "saving the state snapshot failed"),
            }
        }));
    }
}

/// Which organisations' balances and which pledges an entry changed.
fn note_touched(entry: &ledger::Entry, organisations: &mut BTreeSet<OrgId>, pledges: &mut BTreeSet<EntryId>) {
    organisations.insert(entry.author.clone());
    match &entry.body {
        Body::Transfer { to, .. } => {
            organisations.insert(to.clone());
        }
        Body::Pledge { to, .. } => {
            organisations.insert(to.clone());
            pledges.insert(entry.entry_id);
        }
        Body::Attestation { pledge, .. } | Body::PledgeRelease { pledge } | Body::PledgeVoid { pledge } => {
            pledges.insert(*pledge);
        }
        _ => {}
    }
}

fn derived_rows(state: &State, organisations: &BTreeSet<OrgId>, pledges: &BTreeSet<EntryId>) -> DerivedRows {
    let mut rows = DerivedRows::default();
    for pledge in pledges.iter().filter_map(|id| state.pledge(id)) {
        // Releasing a pledge moves money to its receiver, and voiding it back to its pledger.
        rows.pledges.push(PledgeRow {
            entry_index: pledge.entry_index,
            pledger: pledge.pledger.to_string(),
            receiver: pledge.receiver.to_string(),
            verifier: pledge.verifier.to_string(),
            asset: pledge.asset.to_string(),
            amount: pledge.amount.to_string(),
            expires_at_ms: pledge.expires_at_ms,
            status: pledge.status.clone(),
        });
    }
    let mut all = organisations.clone();
    for pledge in &rows.pledges {
        all.insert(OrgId::new(pledge.pledger.clone()).expect("a stored id"));
        all.insert(OrgId::new(pledge.receiver.clone()).expect("a stored id"));
    }
    for organisation in &all {
        for balance in state.balances_of(organisation) {
            rows.balances.push(BalanceRow {
                organisation: organisation.to_string(),
                asset: balance.asset.to_string(),
                available: balance.available.to_string(),
                pledged: balance.pledged.to_string(),
                earmarked: balance.earmarked.to_string(),
            });
        }
    }
    rows
}
