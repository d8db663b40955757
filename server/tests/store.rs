//! One storage suite for both backends: every test runs on a fresh SQLite file and, when a PostgreSQL
//! server is given (`AIDTRAIL_TEST_DATABASE_URL`, always under CI), on a fresh PostgreSQL database.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use ledger::merkle::{MemoryTree, NodeId, NodeSource, empty_root, verify_consistency};
use ledger::note::{NoteSigner, verify_checkpoint};
use ledger::{EntryVerifier, State};
use server::demo::{DEMO_ORIGIN, DemoLedger, DemoScale, generate};
use server::log::Log;
use server::store::{SNAPSHOT_PART_BYTES, Store, StoredCheckpoint};
use sqlx::{Connection, Executor, PgConnection};

/// A fresh database of one backend, removed by `finish`.
pub struct TestDatabase {
    sqlite_dir: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{nanos}_{}", rand::random::<u32>())
}

/// The admin URL of the test PostgreSQL server, if the run has one.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("AIDTRAIL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => Some("postgres://postgres@127.0.0.1:5432/test".into()),
        _ => None,
    }
}

impl TestDatabase {
    pub async fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(unique_name("aidtrail-store-test"));
        TestDatabase { sqlite_dir: Some(dir), postgres: None }
    }

    pub async fn postgres(admin_url: &str) -> TestDatabase {
        let name = unique_name("aidtrail_test");
        let mut admin = PgConnection::connect(admin_url).await.expect("connecting to the test PostgreSQL server");
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("creating a test database");
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
        TestDatabase { sqlite_dir: None, postgres: Some((admin_url.to_string(), format!("{base}/{name}"))) }
    }

    /// A new pool on this database (two pools stand for two server processes).
    pub async fn open(&self) -> Store {
        match (&self.sqlite_dir, &self.postgres) {
            (Some(dir), _) => Store::open_sqlite(dir).await.unwrap(),
            (_, Some((_, url))) => Store::open_postgres(url).await.unwrap(),
            _ => unreachable!(),
        }
    }

    pub async fn finish(self, stores: Vec<Store>) {
        for store in stores {
            match store {
                Store::Sqlite(pools) => pools.close().await,
                Store::Postgres(pool) => pool.close().await,
            }
        }
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin_url, url)) = &self.postgres {
            let name = url.rsplit('/').next().unwrap();
            let mut admin = PgConnection::connect(admin_url).await.unwrap();
            admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.unwrap();
        }
    }
}

/// Runs a storage test on SQLite and, when available, on PostgreSQL.
macro_rules! storage_test {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(TestDatabase::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = postgres_admin_url() else {
                    println!("skipped: PostgreSQL not available (set AIDTRAIL_TEST_DATABASE_URL)");
                    return;
                };
                $body(TestDatabase::postgres(&url).await).await;
            }
        }
    };
}

fn small_demo(seed: u64) -> DemoLedger {
    generate(seed, DEMO_ORIGIN, DemoScale { weeks: 6, spends_per_clinic_week: 4, anonymous_donors: 30 })
}

fn signer() -> NoteSigner {
    NoteSigner::new(DEMO_ORIGIN, SigningKey::from_bytes(&[7; 32])).unwrap()
}

async fn load(log: &Log, demo: &DemoLedger) {
    server::demo::load(log, demo).await.unwrap();
}

storage_test!(a_new_log_starts_with_a_signed_empty_checkpoint_and_reopens_the_same, new_log_reopens);
async fn new_log_reopens(database: TestDatabase) {
    let store = database.open().await;
    let log = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    let first = log.view().await.checkpoint.clone();
    assert_eq!((first.tree_size, first.root), (0, empty_root()));
    let verifier = signer().verifier();
    verify_checkpoint(&first.note, &verifier, Some(DEMO_ORIGIN)).unwrap();
    drop(log);
    let again = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    assert_eq!(again.view().await.checkpoint, first, "the empty checkpoint is stored, not re-signed");
    // Another key or origin cannot take over the log.
    let other = NoteSigner::new(DEMO_ORIGIN, SigningKey::from_bytes(&[8; 32])).unwrap();
    assert!(Log::open(store.clone(), DEMO_ORIGIN, other).await.is_err());
    assert!(Log::open(store.clone(), "other.example.org/log", signer()).await.is_err());
    database.finish(vec![store]).await;
}

storage_test!(entries_nodes_checkpoints_and_balances_are_stored_as_the_log_says, stored_as_the_log_says);
async fn stored_as_the_log_says(database: TestDatabase) {
    let store = database.open().await;
    let log = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    let demo = small_demo(1);
    load(&log, &demo).await;
    let size = demo.entries.len() as u64;
    let head = store.head().await.unwrap().unwrap();
    assert_eq!(head.tree_size, size);
    // Entries: the exact leaves, in order.
    let rows = store.entries_range(0, size).await.unwrap();
    assert_eq!(rows.len() as u64, size);
    for (row, signed) in rows.iter().zip(&demo.entries) {
        assert_eq!(row.leaf, signed.bytes());
        assert_eq!(row.leaf_hash, signed.leaf_hash());
    }
    // Nodes: every perfect subtree hash, equal to an independently built tree.
    let mut tree = MemoryTree::new();
    for signed in &demo.entries {
        tree.push_entry(signed.bytes());
    }
    assert_eq!(tree.root(), head.root);
    let ids: Vec<NodeId> =
        (0..=12u8).flat_map(|level| (0..(size >> level)).map(move |index| NodeId { level, index })).collect();
    let stored = store.nodes(&ids).await.unwrap();
    assert_eq!(stored.len(), ids.len(), "every perfect node is stored");
    for (id, hash) in stored {
        assert_eq!(Some(hash), tree.node(id), "{id:?}");
    }
    // Checkpoints: several commits, each verifying and consistent with the final tree.
    let checkpoints = store.checkpoints_after(0, 500).await.unwrap();
    assert!(!checkpoints.is_empty());
    for checkpoint in &checkpoints {
        let parsed = verify_checkpoint(&checkpoint.note, &signer().verifier(), Some(DEMO_ORIGIN)).unwrap();
        assert_eq!((parsed.tree_size, parsed.root), (checkpoint.tree_size, checkpoint.root));
        assert_eq!(tree.root_at(checkpoint.tree_size).unwrap(), checkpoint.root);
        let proof = tree.consistency_proof(checkpoint.tree_size, size).unwrap();
        verify_consistency(checkpoint.tree_size, size, &checkpoint.root, &head.root, &proof).unwrap();
    }
    // Derived balances: equal to the ledger state's.
    let view = log.view().await;
    for (organisation, asset, available) in store.balances().await.unwrap() {
        let balance = view
            .state
            .balances_of(&organisation.parse().unwrap())
            .into_iter()
            .find(|b| b.asset.as_str() == asset)
            .unwrap();
        assert_eq!(available, balance.available.to_string(), "{organisation} {asset}");
    }
    drop(view);
    database.finish(vec![store]).await;
}

storage_test!(replaying_the_stored_log_gives_the_same_state_and_root, replay_gives_same_state);
async fn replay_gives_same_state(database: TestDatabase) {
    let store = database.open().await;
    let log = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    let demo = small_demo(2);
    load(&log, &demo).await;
    let live_state = log.view().await.state.clone();
    let live_flags = log.view().await.flags.clone();
    assert!(!live_flags.is_empty(), "the demo raises flags");
    let live_root = log.view().await.tree.root();
    // From scratch, straight from the stored leaves.
    let rows = store.entries_range(0, live_state.size()).await.unwrap();
    let mut state = State::new();
    let mut flags = ledger::Flags::new();
    let mut verifier = EntryVerifier::new(DEMO_ORIGIN).unwrap();
    let mut tree = MemoryTree::new();
    for row in &rows {
        let verified = verifier.verify(ledger::SignedEntry::decode(&row.leaf).unwrap()).unwrap();
        state.apply(&verified).unwrap();
        flags.observe(&state, verified.entry());
        tree.push_entry(&row.leaf);
    }
    assert!(state == live_state, "replay from scratch gives the same state");
    assert!(flags == live_flags, "and the same flags");
    assert_eq!(tree.root(), live_root);
    // A restart replays the log (no snapshot yet), then with a snapshot only the tail.
    drop(log);
    let reopened = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    assert!(reopened.view().await.state == live_state);
    assert!(reopened.view().await.flags == live_flags);
    let snapshot_size = reopened.snapshot().await.unwrap();
    assert_eq!(snapshot_size, live_state.size());
    let more = small_demo(2);
    assert_eq!(server::demo::load(&reopened, &more).await.unwrap(), 0, "the same entries are duplicates");
    drop(reopened);
    let from_snapshot = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    assert!(from_snapshot.view().await.state == live_state);
    assert!(from_snapshot.view().await.flags == live_flags, "the snapshot keeps the flags");
    assert_eq!(store.latest_snapshot().await.unwrap().unwrap().0, snapshot_size);
    database.finish(vec![store]).await;
}

storage_test!(two_writers_on_one_database_never_fork_the_log, two_writers_never_fork);
async fn two_writers_never_fork(database: TestDatabase) {
    // Two pools and two logs stand for two server processes sharing the database.
    let store_a = database.open().await;
    let store_b = database.open().await;
    let log_a = Log::open(store_a.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    let log_b = Log::open(store_b.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    let demo = small_demo(3);
    // Entries depend on earlier ones: send consecutive chunks alternately to each writer.
    for (position, chunk) in demo.entries.chunks(97).enumerate() {
        let log = if position % 2 == 0 { &log_a } else { &log_b };
        for result in log.submit_many(chunk.to_vec()).await {
            result.unwrap();
        }
    }
    // And a burst of independent resubmissions to both at once: all duplicates, nothing forks.
    let (a, b) = tokio::join!(log_a.submit_many(demo.entries.clone()), log_b.submit_many(demo.entries.clone()));
    assert!(a.iter().chain(&b).all(|result| result.as_ref().is_ok_and(|receipt| receipt.duplicate)));
    log_a.refresh().await;
    log_b.refresh().await;
    let size = demo.entries.len() as u64;
    let (view_a, view_b) = (log_a.view().await, log_b.view().await);
    assert_eq!(view_a.state.size(), size);
    assert!(view_a.state == view_b.state);
    assert_eq!(view_a.checkpoint.root, view_b.checkpoint.root);
    drop((view_a, view_b));
    let rows = store_a.entries_range(0, size + 10).await.unwrap();
    assert_eq!(rows.len() as u64, size);
    for (index, (row, signed)) in rows.iter().zip(&demo.entries).enumerate() {
        assert_eq!((row.entry_index, &row.leaf), (index as u64, &signed.bytes().to_vec()));
    }
    let mut tree = MemoryTree::new();
    for row in &rows {
        tree.push_entry(&row.leaf);
    }
    for checkpoint in store_a.checkpoints_after(0, 500).await.unwrap() {
        assert_eq!(tree.root_at(checkpoint.tree_size).unwrap(), checkpoint.root, "checkpoint {}", checkpoint.tree_size);
    }
    drop((log_a, log_b));
    database.finish(vec![store_a, store_b]).await;
}

storage_test!(the_head_only_moves_from_the_size_it_was_read_at, head_compare_and_swap);
async fn head_compare_and_swap(database: TestDatabase) {
    let store = database.open().await;
    let log = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    drop(log);
    let (mut tx, head) = store.begin_write().await.unwrap();
    assert_eq!(head.tree_size, 0);
    assert!(tx.advance_head(5, 6, &[1; 32]).await.is_err(), "a stale size is refused");
    drop(tx);
    let (mut tx, _) = store.begin_write().await.unwrap();
    let duplicate = StoredCheckpoint { tree_size: 0, root: [9; 32], note: "forged".into(), signed_at_ms: 0 };
    assert!(tx.insert_checkpoint(&duplicate).await.is_err(), "two checkpoints of one size are refused");
    drop(tx);
    let stored = store.checkpoint(0).await.unwrap().unwrap();
    assert_eq!(stored.root, empty_root());
    database.finish(vec![store]).await;
}

/// Runs one statement on the database (the test's own view, beside the service).
async fn execute(store: &Store, sql: &str) -> u64 {
    match store {
        Store::Sqlite(pools) => sqlx::query(sql).execute(&pools.write).await.unwrap().rows_affected(),
        Store::Postgres(pool) => sqlx::query(sql).execute(pool).await.unwrap().rows_affected(),
    }
}

async fn count(store: &Store, sql: &str) -> i64 {
    use sqlx::Row;
    match store {
        Store::Sqlite(pools) => sqlx::query(sql).fetch_one(&pools.read).await.unwrap().get(0),
        Store::Postgres(pool) => sqlx::query(sql).fetch_one(pool).await.unwrap().get(0),
    }
}

storage_test!(snapshots_are_stored_in_parts_and_checked_when_loaded, snapshots_in_parts);
async fn snapshots_in_parts(database: TestDatabase) {
    let store = database.open().await;
    // Two and a half parts of bytes that no two parts share.
    let bytes: Vec<u8> = (0..SNAPSHOT_PART_BYTES * 5 / 2).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect();
    store.save_snapshot(100, 3, &bytes).await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM state_snapshot_parts").await, 3);
    assert_eq!(store.latest_snapshot().await.unwrap(), Some((100, 3, bytes.clone())));

    // A second save at the same size keeps the first.
    store.save_snapshot(100, 3, &bytes[..10]).await.unwrap();
    assert_eq!(store.latest_snapshot().await.unwrap().unwrap().2, bytes);

    // Parts of a save cut short: an hour old ones go with the next save, a recent one (a save still
    // running elsewhere) stays.
    let byte = if matches!(store, Store::Postgres(_)) { "'\\x00'" } else { "X'00'" };
    let part = |id: u64, written_at_ms: u64| {
        format!(
            "INSERT INTO state_snapshot_parts (snapshot_id, part, written_at_ms, bytes) \
             VALUES ({id}, 0, {written_at_ms}, {byte})"
        )
    };
    execute(&store, &part(1, 0)).await;
    execute(&store, &part(2, server::log::now_ms())).await;

    // A newer snapshot replaces the older one, whose parts are deleted.
    let newer: Vec<u8> = bytes.iter().rev().copied().take(SNAPSHOT_PART_BYTES + 1).collect();
    store.save_snapshot(200, 3, &newer).await.unwrap();
    assert_eq!(store.latest_snapshot().await.unwrap(), Some((200, 3, newer.clone())));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM state_snapshots").await, 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM state_snapshot_parts WHERE snapshot_id NOT IN (2)").await, 2);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM state_snapshot_parts WHERE snapshot_id = 2").await, 1);

    // A damaged part is found when the snapshot is loaded.
    execute(&store, "UPDATE state_snapshot_parts SET part = 7 WHERE part = 1 AND snapshot_id <> 2").await;
    let error = store.latest_snapshot().await.unwrap_err().to_string();
    assert!(error.contains("misses part 1 of 2"), "{error}");
    execute(&store, "UPDATE state_snapshot_parts SET part = 1 WHERE part = 7").await;
    // Same length, other bytes.
    let zeroes = match store {
        Store::Sqlite(_) => "zeroblob(length(bytes))",
        Store::Postgres(_) => "decode(repeat('00', length(bytes)), 'hex')",
    };
    let damage = format!("UPDATE state_snapshot_parts SET bytes = {zeroes} WHERE part = 0 AND snapshot_id <> 2");
    assert_eq!(execute(&store, &damage).await, 1);
    let error = store.latest_snapshot().await.unwrap_err().to_string();
    assert!(error.contains("damaged"), "{error}");
    // The service passes over a snapshot it cannot use and replays the log instead.
    let log = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    assert_eq!(log.view().await.state.size(), 0);
    drop(log);
    database.finish(vec![store]).await;
}

/// Counts the unique indexes of the SQLite `entries` table and sums what its rows hold.
async fn entries_shape(connection: &mut sqlx::SqliteConnection) -> (i64, i64, i64, i64) {
    let unique: i64 = sqlx::query_scalar("SELECT count(*) FROM pragma_index_list('entries') WHERE \"unique\" = 1")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let (rows, leaf_bytes, ids): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(length(leaf)), count(DISTINCT entry_id) + count(DISTINCT leaf_hash) FROM entries",
    )
    .fetch_one(&mut *connection)
    .await
    .unwrap();
    (unique, rows, leaf_bytes, ids)
}

/// A SQLite database made before entry ids left SQL (migration 0003) keeps every entry, loses only the
/// id's index, and reopens as the same log, finding entries by id through the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_sqlite_database_keeps_its_entries_when_entry_ids_leave_its_indexes() {
    let database = TestDatabase::sqlite().await;
    let dir = database.sqlite_dir.clone().unwrap();
    let store = database.open().await;
    let demo = small_demo(11);
    let log = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    load(&log, &demo).await;
    let checkpoint = log.view().await.checkpoint.clone();
    drop(log);
    let Store::Sqlite(pools) = store else { unreachable!() };
    pools.close().await;

    // Put the table back as migrations 0001 and 0002 left it, and forget that 0003 ran.
    let file = dir.join(server::store::SQLITE_FILE_NAME);
    let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
    let new_shape = entries_shape(&mut connection).await;
    assert_eq!(new_shape.0, 1, "only the leaf hash is indexed as unique");
    let schema = include_str!("../../migrations/sqlite/0001_log.sql");
    let block = &schema[schema.find("CREATE TABLE entries (").unwrap()..schema.find("CREATE TABLE nodes").unwrap()];
    let (table, indexes) = block.split_once(");").unwrap();
    let table = format!("{});", table.replace("CREATE TABLE entries (", "CREATE TABLE entries_old ("));
    for statement in [
        table.as_str(),
        "INSERT INTO entries_old SELECT * FROM entries",
        "DROP TABLE entries",
        "ALTER TABLE entries_old RENAME TO entries",
        indexes,
        "DELETE FROM _sqlx_migrations WHERE version = 3",
    ] {
        connection.execute(statement).await.unwrap();
    }
    let old_shape = entries_shape(&mut connection).await;
    assert_eq!(old_shape.0, 2, "entry ids and leaf hashes were both unique indexes");
    assert_eq!((old_shape.1, old_shape.2, old_shape.3), (new_shape.1, new_shape.2, new_shape.3), "the same rows");
    connection.close().await.unwrap();

    let store = database.open().await;
    let log = Log::open(store.clone(), DEMO_ORIGIN, signer()).await.unwrap();
    assert_eq!(log.view().await.checkpoint, checkpoint, "the same log, not replayed differently");
    let Store::Sqlite(pools) = &store else { unreachable!() };
    let mut connection = pools.read.acquire().await.unwrap();
    assert_eq!(entries_shape(&mut connection).await, new_shape);
    drop(connection);
    let last = checkpoint.tree_size - 1;
    let row = store.entry_by_index(last).await.unwrap().unwrap();
    assert_eq!(log.view().await.state.index_of(&ledger::EntryId(row.entry_id)), Some(last));
    assert_eq!(store.entry_by_leaf_hash(&row.leaf_hash).await.unwrap().unwrap().entry_index, last);
    drop(log);
    database.finish(vec![store]).await;
}
