//! All SQL of the service, for both backends: embedded SQLite (the default) and PostgreSQL. The SQL text
//! is shared (sqlx accepts `$N` placeholders on both); each method is compiled once per backend by the
//! `on_pool!` and `on_tx!` macros, so handlers and the sequencer never see SQL or a backend.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use ledger::merkle::{Hash, NodeId};
use ledger::{Body, Donor, Recipient, SignedEntry};
use sha2::Digest;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

/// The file name of the embedded database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "aidtrail.db";
/// Rows per multi-row INSERT, below both backends' limits on bound parameters.
const INSERT_ROWS_MAX: usize = 400;
/// Bytes per stored part of a state snapshot: each part is one short write transaction.
pub const SNAPSHOT_PART_BYTES: usize = 4 << 20;
/// Parts of a snapshot save that no snapshot names after this long are removed by the next save.
const SNAPSHOT_ABANDONED_AFTER_MS: i64 = 3_600_000;
/// The most entries a listing returns in one page.
pub const PAGE_SIZE_MAX: u32 = 500;

/// A connection pool to one of the two backends.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// SQLite has one writer at a time: the writes go through one connection with a large page cache (the
/// indexes that every commit updates), the reads through a few with small ones.
#[derive(Clone, Debug)]
pub struct SqlitePools {
    pub read: SqlitePool,
    pub write: SqlitePool,
}

impl SqlitePools {
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite(pools) => {
                let $pool = &pools.read;
                $body
            }
            Store::Postgres($pool) => $body,
        }
    };
}

/// `on_pool!` for statements that write outside the sequencer's transaction: on SQLite they queue for the
/// one writing connection instead of retrying on a busy database.
macro_rules! on_write_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite(pools) => {
                let $pool = &pools.write;
                $body
            }
            Store::Postgres($pool) => $body,
        }
    };
}

macro_rules! on_tx {
    ($tx:expr, |$connection:ident| $body:expr) => {
        match $tx {
            WriteTx::Sqlite(tx) => {
                let $connection = &mut **tx;
                $body
            }
            WriteTx::Postgres(tx) => {
                let $connection = &mut **tx;
                $body
            }
        }
    };
}

/// The log's identity and head, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub origin: String,
    pub verifier_key: String,
    pub tree_size: u64,
    pub root: Hash,
}

/// A signed checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root: Hash,
    pub note: String,
    pub signed_at_ms: u64,
}

/// One leaf with the columns that listings filter on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRow {
    pub entry_index: u64,
    pub entry_id: [u8; 16],
    pub leaf_hash: Hash,
    pub leaf: Vec<u8>,
    pub kind: String,
    pub author: String,
    pub counterparty: Option<String>,
    pub asset: Option<String>,
    pub amount: Option<String>,
    pub value_date: Option<u32>,
    pub timestamp_ms: u64,
    pub external_reference: Option<String>,
}

impl EntryRow {
    pub fn new(entry_index: u64, signed: &SignedEntry, leaf_hash: Hash) -> Self {
        let entry = signed.entry();
        let counterparty = match &entry.body {
            Body::Donation { donor: Donor::Organisation(donor), .. } => Some(donor.to_string()),
            Body::Transfer { to, .. } | Body::Pledge { to, .. } => Some(to.to_string()),
            Body::Spend { recipient: Recipient::Supplier(supplier), .. } => Some(supplier.to_string()),
            Body::RegisterOrganisation { organisation, .. }
            | Body::KeyRotation { organisation, .. }
            | Body::KeyRevocation { organisation, .. } => Some(organisation.to_string()),
            _ => None,
        };
        let external_reference = match &entry.body {
            Body::Donation { external_reference, .. } => external_reference.clone(),
            _ => None,
        };
        let (asset, amount) = match entry.body.money() {
            Some((asset, amount)) => (Some(asset.to_string()), Some(amount.to_string())),
            None => (None, None),
        };
        EntryRow {
            entry_index,
            entry_id: entry.entry_id.0,
            leaf_hash,
            leaf: signed.bytes().to_vec(),
            kind: entry.body.kind().as_str().to_string(),
            author: entry.author.to_string(),
            counterparty,
            asset,
            amount,
            value_date: entry.body.value_date().map(|date| date.days()),
            timestamp_ms: entry.timestamp_ms,
            external_reference,
        }
    }
}

/// Filters of the entry listing. Every field narrows; `after_index` pages forward.
#[derive(Clone, Debug, Default)]
pub struct EntryFilter {
    /// Entries authored by this organisation or naming it as counterparty.
    pub organisation: Option<String>,
    /// Entries authored by this organisation only.
    pub author: Option<String>,
    pub kind: Option<String>,
    pub asset: Option<String>,
    /// Value date at or after this day number.
    pub from_date: Option<u32>,
    /// Value date at or before this day number.
    pub to_date: Option<u32>,
    pub external_reference: Option<String>,
    /// Only entries with a larger index (the previous page's last index).
    pub after_index: Option<u64>,
    /// Newest first when true.
    pub descending: bool,
    pub limit: u32,
}

/// Balances and pledges written in the same transaction as the entries that changed them.
#[derive(Clone, Debug, Default)]
pub struct DerivedRows {
    pub balances: Vec<BalanceRow>,
    pub pledges: Vec<PledgeRow>,
}

#[derive(Clone, Debug)]
pub struct BalanceRow {
    pub organisation: String,
    pub asset: String,
    pub available: String,
    pub pledged: String,
    pub earmarked: String,
}

#[derive(Clone, Debug)]
pub struct PledgeRow {
    pub entry_index: u64,
    pub pledger: String,
    pub receiver: String,
    pub verifier: String,
    pub asset: String,
    pub amount: String,
    pub expires_at_ms: u64,
    pub status: String,
}

/// A write transaction holding the log's head lock.
pub enum WriteTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).expect("indexes and sizes stay below 2^63")
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).expect("stored indexes and sizes are never negative")
}

fn to_hash(bytes: Vec<u8>) -> anyhow::Result<Hash> {
    bytes.try_into().map_err(|bytes: Vec<u8>| anyhow::anyhow!("a stored hash has {} bytes, not 32", bytes.len()))
}

fn entry_row<R: Row>(row: &R) -> anyhow::Result<EntryRow>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let entry_id: Vec<u8> = row.try_get("entry_id")?;
    Ok(EntryRow {
        entry_index: to_u64(row.try_get("entry_index")?),
        entry_id: entry_id.try_into().map_err(|_| anyhow::anyhow!("a stored entry id is not 16 bytes"))?,
        leaf_hash: to_hash(row.try_get("leaf_hash")?)?,
        leaf: row.try_get("leaf")?,
        kind: row.try_get("kind")?,
        author: row.try_get("author")?,
        counterparty: row.try_get("counterparty")?,
        asset: row.try_get("asset")?,
        amount: row.try_get("amount")?,
        value_date: row.try_get::<Option<i64>, _>("value_date")?.map(|days| days as u32),
        timestamp_ms: to_u64(row.try_get("timestamp_ms")?),
        external_reference: row.try_get("external_reference")?,
    })
}

const ENTRY_COLUMNS: &str = "entry_index, entry_id, leaf_hash, leaf, kind, author, counterparty, asset, amount, \
                             value_date, timestamp_ms, external_reference";

/// SQLite's page cache of the writing connection, in KiB: every commit updates the entries' indexes, whose
/// pages it keeps.
pub const SQLITE_WRITE_CACHE_KIB: u32 = 16 * 1024;
/// SQLite's page cache of each reading connection, in KiB (the tree and full tiles are served from memory).
pub const SQLITE_READ_CACHE_KIB: u32 = 4 * 1024;
/// Pages of write-ahead log after which a commit copies them into the database file (SQLite's default is
/// 1,000, about 4 MiB, which a commit of a thousand entries passes by itself). With 256 MiB, a page that
/// many commits change (the tails of the indexes, the leaf hash index) is copied once per checkpoint rather
/// than once per commit: ingest at 1M entries went from ~14,300 to ~18,300 entries/s. The log file keeps
/// that size on disk once reached.
pub const SQLITE_WAL_CHECKPOINT_PAGES: u32 = 65_536;
/// Reading connections to SQLite.
pub const SQLITE_READERS: u32 = 3;

impl Store {
    /// Opens the embedded SQLite database in `data_dir`, creating the directory and the file if needed.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(SQLITE_FILE_NAME))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before the service acknowledges it, even through a power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{SQLITE_WRITE_CACHE_KIB}"))
                    .pragma("wal_autocheckpoint", SQLITE_WAL_CHECKPOINT_PAGES.to_string()),
            )
            .await
            .context("opening the SQLite database")?;
        sqlx::migrate!("../migrations/sqlite").run(&write).await.context("migrating the SQLite database")?;
        let read = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .connect_with(options.pragma("cache_size", format!("-{SQLITE_READ_CACHE_KIB}")))
            .await
            .context("opening the SQLite database")?;
        Ok(Store::Sqlite(SqlitePools { read, write }))
    }

    /// Connects to PostgreSQL (`postgres://...`) and applies the migrations.
    pub async fn open_postgres(url: &str) -> anyhow::Result<Store> {
        let options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        // Two servers starting at once must not both create the tables. An advisory lock belongs to one
        // session: take it, migrate and release it on one connection, or a pooled connection keeps it
        // (the unlock running on another) and every other server's start waits for it forever.
        let mut connection = pool.acquire().await.context("connecting to PostgreSQL")?;
        sqlx::query("SELECT pg_advisory_lock(7716534)").execute(&mut *connection).await?;
        let migrated = sqlx::migrate!("../migrations/postgres").run(&mut *connection).await;
        sqlx::query("SELECT pg_advisory_unlock(7716534)").execute(&mut *connection).await?;
        drop(connection);
        migrated.context("migrating the PostgreSQL database")?;
        Ok(Store::Postgres(pool))
    }

    /// Opens the backend a database URL names: `postgres://` or `postgresql://`, else SQLite in `data_dir`.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Store> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres(url).await
            }
            Some(url) => {
                bail!("unsupported database URL {url:?}: use postgres://... (SQLite needs no URL, only --data-dir)")
            }
            None => Self::open_sqlite(data_dir).await,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The log's head, or `None` before the first start.
    pub async fn head(&self) -> anyhow::Result<Option<Head>> {
        let row = on_pool!(self, |pool| {
            sqlx::query("SELECT origin, verifier_key, tree_size, root FROM log_head WHERE id = 1")
                .fetch_optional(pool)
                .await?
                .map(|row| -> anyhow::Result<Head> {
                    Ok(Head {
                        origin: row.try_get("origin")?,
                        verifier_key: row.try_get("verifier_key")?,
                        tree_size: to_u64(row.try_get("tree_size")?),
                        root: to_hash(row.try_get("root")?)?,
                    })
                })
        });
        row.transpose()
    }

    /// Creates the head of an empty log, unless another process just did; returns the head in force.
    pub async fn init_head(&self, origin: &str, verifier_key: &str, empty_root: &Hash) -> anyhow::Result<Head> {
        on_write_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO log_head (id, origin, verifier_key, tree_size, root) VALUES (1, $1, $2, 0, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(origin)
            .bind(verifier_key)
            .bind(empty_root.to_vec())
            .execute(pool)
            .await?;
        });
        self.head().await?.context("the log head was just created")
    }

    /// Every leaf hash in index order (to rebuild the in-memory tree).
    pub async fn leaf_hashes(&self, start: u64, end: u64) -> anyhow::Result<Vec<Hash>> {
        let rows: Vec<Vec<u8>> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT hash FROM nodes WHERE level = 0 AND node_index >= $1 AND node_index < $2 ORDER BY node_index",
            )
            .bind(to_i64(start))
            .bind(to_i64(end))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(to_hash).collect()
    }

    /// The stored hashes of the given nodes; missing ones are absent from the result.
    pub async fn nodes(&self, ids: &[NodeId]) -> anyhow::Result<Vec<(NodeId, Hash)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(INSERT_ROWS_MAX) {
            let rows = on_pool!(self, |pool| {
                let mut query =
                    QueryBuilder::new("SELECT level, node_index, hash FROM nodes WHERE (level, node_index) IN ");
                query.push_tuples(chunk, |mut tuple, id| {
                    tuple.push_bind(i64::from(id.level)).push_bind(to_i64(id.index));
                });
                let rows = query.build().fetch_all(pool).await?;
                rows.iter()
                    .map(|row| -> anyhow::Result<(NodeId, Hash)> {
                        let level: i64 = row.try_get("level")?;
                        Ok((
                            NodeId { level: level as u8, index: to_u64(row.try_get("node_index")?) },
                            to_hash(row.try_get("hash")?)?,
                        ))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
            });
            found.extend(rows);
        }
        Ok(found)
    }

    /// Leaves `[start, end)` in index order.
    pub async fn entries_range(&self, start: u64, end: u64) -> anyhow::Result<Vec<EntryRow>> {
        on_pool!(self, |pool| {
            sqlx::query(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE entry_index >= $1 AND entry_index < $2 ORDER BY entry_index"
            ))
            .bind(to_i64(start))
            .bind(to_i64(end))
            .fetch_all(pool)
            .await?
            .iter()
            .map(entry_row)
            .collect()
        })
    }

    /// The leaf bytes of entries `start..end`, in order: what an entry bundle holds.
    pub async fn leaves_range(&self, start: u64, end: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        on_pool!(self, |pool| {
            let rows = sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT leaf FROM entries WHERE entry_index >= $1 AND entry_index < $2 ORDER BY entry_index",
            )
            .bind(to_i64(start))
            .bind(to_i64(end))
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }

    pub async fn entry_by_index(&self, index: u64) -> anyhow::Result<Option<EntryRow>> {
        self.entry_where("entry_index = $1", Key::Index(index)).await
    }

    pub async fn entry_by_leaf_hash(&self, leaf_hash: &Hash) -> anyhow::Result<Option<EntryRow>> {
        self.entry_where("leaf_hash = $1", Key::Bytes(leaf_hash.to_vec())).await
    }

    async fn entry_where(&self, condition: &str, key: Key) -> anyhow::Result<Option<EntryRow>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE {condition}");
        on_pool!(self, |pool| {
            let query = sqlx::query(&sql);
            let query = match key {
                Key::Index(index) => query.bind(to_i64(index)),
                Key::Bytes(bytes) => query.bind(bytes),
            };
            query.fetch_optional(pool).await?.as_ref().map(entry_row).transpose()
        })
    }

    /// A page of entries matching the filter, in index order.
    pub async fn list_entries(&self, filter: &EntryFilter) -> anyhow::Result<Vec<EntryRow>> {
        let limit = filter.limit.clamp(1, PAGE_SIZE_MAX);
        on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE 1 = 1"));
            if let Some(organisation) = &filter.organisation {
                query.push(" AND (author = ").push_bind(organisation.clone());
                query.push(" OR counterparty = ").push_bind(organisation.clone()).push(")");
            }
            if let Some(author) = &filter.author {
                query.push(" AND author = ").push_bind(author.clone());
            }
            if let Some(kind) = &filter.kind {
                query.push(" AND kind = ").push_bind(kind.clone());
            }
            if let Some(asset) = &filter.asset {
                query.push(" AND asset = ").push_bind(asset.clone());
            }
            if let Some(from) = filter.from_date {
                query.push(" AND value_date >= ").push_bind(i64::from(from));
            }
            if let Some(to) = filter.to_date {
                query.push(" AND value_date <= ").push_bind(i64::from(to));
            }
            if let Some(reference) = &filter.external_reference {
                query.push(" AND external_reference = ").push_bind(reference.clone());
            }
            if let Some(after) = filter.after_index {
                if filter.descending {
                    query.push(" AND entry_index < ").push_bind(to_i64(after));
                } else {
                    query.push(" AND entry_index > ").push_bind(to_i64(after));
                }
            }
            query.push(if filter.descending { " ORDER BY entry_index DESC" } else { " ORDER BY entry_index" });
            query.push(" LIMIT ").push_bind(i64::from(limit));
            query.build().fetch_all(pool).await?.iter().map(entry_row).collect()
        })
    }

    pub async fn checkpoint(&self, tree_size: u64) -> anyhow::Result<Option<StoredCheckpoint>> {
        let rows = self.checkpoints_where("tree_size = $1 ORDER BY tree_size", to_i64(tree_size), 1).await?;
        Ok(rows.into_iter().next())
    }

    pub async fn latest_checkpoint(&self) -> anyhow::Result<Option<StoredCheckpoint>> {
        let rows = self.checkpoints_where("tree_size >= $1 ORDER BY tree_size DESC", 0, 1).await?;
        Ok(rows.into_iter().next())
    }

    /// Checkpoints with a tree size above `after`, oldest first.
    pub async fn checkpoints_after(&self, after: u64, limit: u32) -> anyhow::Result<Vec<StoredCheckpoint>> {
        self.checkpoints_where("tree_size > $1 ORDER BY tree_size", to_i64(after), limit.clamp(1, PAGE_SIZE_MAX)).await
    }

    /// The latest checkpoint at or below a tree size.
    pub async fn checkpoint_at_or_below(&self, tree_size: u64) -> anyhow::Result<Option<StoredCheckpoint>> {
        let rows = self.checkpoints_where("tree_size <= $1 ORDER BY tree_size DESC", to_i64(tree_size), 1).await?;
        Ok(rows.into_iter().next())
    }

    async fn checkpoints_where(
        &self,
        condition: &str,
        bound: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<StoredCheckpoint>> {
        let sql = format!("SELECT tree_size, root, note, signed_at_ms FROM checkpoints WHERE {condition} LIMIT $2");
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(bound)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| -> anyhow::Result<StoredCheckpoint> {
                    Ok(StoredCheckpoint {
                        tree_size: to_u64(row.try_get("tree_size")?),
                        root: to_hash(row.try_get("root")?)?,
                        note: row.try_get("note")?,
                        signed_at_ms: to_u64(row.try_get("signed_at_ms")?),
                    })
                })
                .collect()
        })
    }

    /// Stores a checkpoint unless one of that size exists; returns the one stored.
    pub async fn insert_checkpoint_if_absent(&self, checkpoint: &StoredCheckpoint) -> anyhow::Result<StoredCheckpoint> {
        on_write_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO checkpoints (tree_size, root, note, signed_at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tree_size) DO NOTHING",
            )
            .bind(to_i64(checkpoint.tree_size))
            .bind(checkpoint.root.to_vec())
            .bind(checkpoint.note.clone())
            .bind(to_i64(checkpoint.signed_at_ms))
            .execute(pool)
            .await?;
        });
        self.checkpoint(checkpoint.tree_size).await?.context("the checkpoint was just stored")
    }

    /// Replaces the note of the stored checkpoint of `tree_size` and `root` by another signed note of the
    /// same tree: an import keeps the original note (which may carry more signatures than the log's own).
    pub async fn keep_checkpoint_note(&self, tree_size: u64, root: &Hash, note: &str) -> anyhow::Result<()> {
        on_write_pool!(self, |pool| {
            sqlx::query("UPDATE checkpoints SET note = $1 WHERE tree_size = $2 AND root = $3")
                .bind(note.to_string())
                .bind(to_i64(tree_size))
                .bind(root.to_vec())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The latest complete state snapshot: its tree size, serialisation format and bytes. Its parts are
    /// read one at a time into one buffer; a missing part, a wrong length or a wrong SHA-256 is an error.
    pub async fn latest_snapshot(&self) -> anyhow::Result<Option<(u64, i64, Vec<u8>)>> {
        on_pool!(self, |pool| {
            let Some(row) = sqlx::query(
                "SELECT tree_size, snapshot_id, format, parts, bytes, sha256 FROM state_snapshots \
                 ORDER BY tree_size DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
            else {
                return Ok(None);
            };
            let tree_size = to_u64(row.try_get("tree_size")?);
            let snapshot_id: i64 = row.try_get("snapshot_id")?;
            let parts: i64 = row.try_get("parts")?;
            let length = usize::try_from(row.try_get::<i64, _>("bytes")?)?;
            let sha256: Vec<u8> = row.try_get("sha256")?;
            let mut bytes = Vec::with_capacity(length);
            for part in 0..parts {
                let part_row =
                    sqlx::query("SELECT bytes FROM state_snapshot_parts WHERE snapshot_id = $1 AND part = $2")
                        .bind(snapshot_id)
                        .bind(part)
                        .fetch_optional(pool)
                        .await?
                        .with_context(|| format!("the state snapshot at {tree_size} misses part {part} of {parts}"))?;
                bytes.extend_from_slice(&part_row.try_get::<Vec<u8>, _>("bytes")?);
            }
            anyhow::ensure!(
                bytes.len() == length && sha2::Sha256::digest(&bytes).as_slice() == sha256.as_slice(),
                "the state snapshot at {tree_size} is damaged (its parts do not give its length and SHA-256)"
            );
            Ok(Some((tree_size, row.try_get("format")?, bytes)))
        })
    }

    /// Stores a snapshot in parts of [`SNAPSHOT_PART_BYTES`], each in its own transaction, then the row
    /// that completes it, dropping the older snapshots in the same transaction; then deletes their parts
    /// (and those of saves that never finished), one at a time. The write lock is never held for long: the
    /// sequencer commits between the parts. A snapshot already saved at this size is kept as it is.
    pub async fn save_snapshot(&self, tree_size: u64, format: i64, state: &[u8]) -> anyhow::Result<()> {
        // Random and positive: the parts of two saves (two servers, or a save cut short) never mix.
        let snapshot_id = (rand::random::<u64>() >> 1) as i64;
        let parts = state.chunks(SNAPSHOT_PART_BYTES).len();
        let sha256 = sha2::Sha256::digest(state);
        let now = to_i64(crate::log::now_ms());
        on_write_pool!(self, |pool| {
            let saved = sqlx::query("SELECT 1 FROM state_snapshots WHERE tree_size = $1")
                .bind(to_i64(tree_size))
                .fetch_optional(pool)
                .await?;
            if saved.is_some() {
                return Ok(());
            }
            for (part, bytes) in state.chunks(SNAPSHOT_PART_BYTES).enumerate() {
                sqlx::query(
                    "INSERT INTO state_snapshot_parts (snapshot_id, part, written_at_ms, bytes) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(snapshot_id)
                .bind(part as i64)
                .bind(now)
                .bind(bytes)
                .execute(pool)
                .await?;
            }
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO state_snapshots (tree_size, snapshot_id, format, parts, bytes, sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tree_size) DO NOTHING",
            )
            .bind(to_i64(tree_size))
            .bind(snapshot_id)
            .bind(format)
            .bind(parts as i64)
            .bind(state.len() as i64)
            .bind(sha256.as_slice())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let mut unused: Vec<i64> = sqlx::query("SELECT snapshot_id FROM state_snapshots WHERE tree_size < $1")
                .bind(to_i64(tree_size))
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| row.try_get("snapshot_id"))
                .collect::<Result<_, _>>()?;
            sqlx::query("DELETE FROM state_snapshots WHERE tree_size < $1")
                .bind(to_i64(tree_size))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if inserted == 0 {
                // Another save completed this size first: this one's parts are not needed.
                unused.push(snapshot_id);
            }
            // Parts no snapshot names, of saves cut short at least an hour ago (one still running is younger).
            let abandoned = sqlx::query(
                "SELECT DISTINCT snapshot_id FROM state_snapshot_parts WHERE written_at_ms < $1 \
                 AND snapshot_id NOT IN (SELECT snapshot_id FROM state_snapshots)",
            )
            .bind(now - SNAPSHOT_ABANDONED_AFTER_MS)
            .fetch_all(pool)
            .await?;
            for row in &abandoned {
                unused.push(row.try_get("snapshot_id")?);
            }
            unused.sort_unstable();
            unused.dedup();
            for id in unused {
                let parts = sqlx::query("SELECT part FROM state_snapshot_parts WHERE snapshot_id = $1")
                    .bind(id)
                    .fetch_all(pool)
                    .await?;
                for row in parts {
                    sqlx::query("DELETE FROM state_snapshot_parts WHERE snapshot_id = $1 AND part = $2")
                        .bind(id)
                        .bind(row.try_get::<i64, _>("part")?)
                        .execute(pool)
                        .await?;
                }
            }
        });
        Ok(())
    }

    /// Derived balances as stored (for SQL readers and the replay test).
    pub async fn balances(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT organisation, asset, available FROM balances ORDER BY organisation, asset")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| -> anyhow::Result<(String, String, String)> {
                    Ok((row.try_get("organisation")?, row.try_get("asset")?, row.try_get("available")?))
                })
                .collect()
        })
    }

    /// Starts a write: takes the head lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ... FOR UPDATE`)
    /// and returns the head as it is under the lock.
    pub async fn begin_write(&self) -> anyhow::Result<(WriteTx, Head)> {
        let mut tx = match self {
            Store::Sqlite(pools) => WriteTx::Sqlite(pools.write.begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres(pool) => WriteTx::Postgres(pool.begin().await?),
        };
        // SQLite has no row locks: BEGIN IMMEDIATE already holds the database's write lock.
        let sql = match self {
            Store::Sqlite(_) => "SELECT origin, verifier_key, tree_size, root FROM log_head WHERE id = 1",
            Store::Postgres(_) => "SELECT origin, verifier_key, tree_size, root FROM log_head WHERE id = 1 FOR UPDATE",
        };
        let head = on_tx!(&mut tx, |connection| {
            let row = sqlx::query(sql).fetch_one(connection).await.context("the log head is missing")?;
            Head {
                origin: row.try_get("origin")?,
                verifier_key: row.try_get("verifier_key")?,
                tree_size: to_u64(row.try_get("tree_size")?),
                root: to_hash(row.try_get("root")?)?,
            }
        });
        Ok((tx, head))
    }
}

enum Key {
    Index(u64),
    Bytes(Vec<u8>),
}

impl WriteTx {
    /// Leaves `[start, end)` read inside the transaction (catching up with another writer).
    pub async fn entries_range(&mut self, start: u64, end: u64) -> anyhow::Result<Vec<EntryRow>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM entries WHERE entry_index >= $1 AND entry_index < $2 ORDER BY entry_index"
        );
        on_tx!(self, |connection| {
            sqlx::query(&sql)
                .bind(to_i64(start))
                .bind(to_i64(end))
                .fetch_all(connection)
                .await?
                .iter()
                .map(entry_row)
                .collect()
        })
    }

    pub async fn insert_entries(&mut self, rows: &[EntryRow]) -> anyhow::Result<()> {
        for chunk in rows.chunks(INSERT_ROWS_MAX / 4) {
            on_tx!(self, |connection| {
                let mut query = QueryBuilder::new(format!("INSERT INTO entries ({ENTRY_COLUMNS}) "));
                query.push_values(chunk, |mut values, row| {
                    values
                        .push_bind(to_i64(row.entry_index))
                        .push_bind(row.entry_id.to_vec())
                        .push_bind(row.leaf_hash.to_vec())
                        .push_bind(row.leaf.clone())
                        .push_bind(row.kind.clone())
                        .push_bind(row.author.clone())
                        .push_bind(row.counterparty.clone())
                        .push_bind(row.asset.clone())
                        .push_bind(row.amount.clone())
                        .push_bind(row.value_date.map(i64::from))
                        .push_bind(to_i64(row.timestamp_ms))
                        .push_bind(row.external_reference.clone());
                });
                query.build().execute(connection).await?;
            });
        }
        Ok(())
    }

    pub async fn insert_nodes(&mut self, nodes: &[(NodeId, Hash)]) -> anyhow::Result<()> {
        for chunk in nodes.chunks(INSERT_ROWS_MAX) {
            on_tx!(self, |connection| {
                let mut query = QueryBuilder::new("INSERT INTO nodes (level, node_index, hash) ");
                query.push_values(chunk, |mut values, (id, hash)| {
                    values.push_bind(i64::from(id.level)).push_bind(to_i64(id.index)).push_bind(hash.to_vec());
                });
                query.build().execute(connection).await?;
            });
        }
        Ok(())
    }

    /// Moves the head from `old_size` to `new_size`; fails if another writer moved it meanwhile.
    pub async fn advance_head(&mut self, old_size: u64, new_size: u64, root: &Hash) -> anyhow::Result<()> {
        let updated = on_tx!(self, |connection| {
            sqlx::query("UPDATE log_head SET tree_size = $1, root = $2 WHERE id = 1 AND tree_size = $3")
                .bind(to_i64(new_size))
                .bind(root.to_vec())
                .bind(to_i64(old_size))
                .execute(connection)
                .await?
                .rows_affected()
        });
        if updated != 1 {
            bail!("the log head moved from size {old_size} under the lock; refusing to fork the log");
        }
        Ok(())
    }

    /// Stores a signed checkpoint; a different checkpoint of the same size already stored is an error.
    pub async fn insert_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> anyhow::Result<()> {
        on_tx!(self, |connection| {
            sqlx::query("INSERT INTO checkpoints (tree_size, root, note, signed_at_ms) VALUES ($1, $2, $3, $4)")
                .bind(to_i64(checkpoint.tree_size))
                .bind(checkpoint.root.to_vec())
                .bind(checkpoint.note.clone())
                .bind(to_i64(checkpoint.signed_at_ms))
                .execute(connection)
                .await
                .context("storing the checkpoint")?;
        });
        Ok(())
    }

    pub async fn write_derived(&mut self, derived: &DerivedRows, tree_size: u64) -> anyhow::Result<()> {
        for chunk in derived.balances.chunks(INSERT_ROWS_MAX / 6) {
            on_tx!(self, |connection| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO balances (organisation, asset, available, pledged, earmarked, tree_size) ",
                );
                query.push_values(chunk, |mut values, row| {
                    values
                        .push_bind(row.organisation.clone())
                        .push_bind(row.asset.clone())
                        .push_bind(row.available.clone())
                        .push_bind(row.pledged.clone())
                        .push_bind(row.earmarked.clone())
                        .push_bind(to_i64(tree_size));
                });
                query.push(
                    " ON CONFLICT (organisation, asset) DO UPDATE SET available = excluded.available, \
                     pledged = excluded.pledged, earmarked = excluded.earmarked, tree_size = excluded.tree_size",
                );
                query.build().execute(connection).await?;
            });
        }
        for chunk in derived.pledges.chunks(INSERT_ROWS_MAX / 8) {
            on_tx!(self, |connection| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO pledges (entry_index, pledger, receiver, verifier, asset, amount, expires_at_ms, status) ",
                );
                query.push_values(chunk, |mut values, row| {
                    values
                        .push_bind(to_i64(row.entry_index))
                        .push_bind(row.pledger.clone())
                        .push_bind(row.receiver.clone())
                        .push_bind(row.verifier.clone())
                        .push_bind(row.asset.clone())
                        .push_bind(row.amount.clone())
                        .push_bind(to_i64(row.expires_at_ms))
                        .push_bind(row.status.clone());
                });
                query.push(" ON CONFLICT (entry_index) DO UPDATE SET status = excluded.status");
                query.build().execute(connection).await?;
            });
        }
        Ok(())
    }

    pub async fn commit(self) -> anyhow::Result<()> {
        match self {
            WriteTx::Sqlite(tx) => tx.commit().await?,
            WriteTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
