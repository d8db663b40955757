//! Two `aidtrail serve` processes on one PostgreSQL database, with the same checkpoint key, writing
//! interleaved and then truly concurrently: the log never forks.
//!
//! The demo goes in chunk by chunk, alternating servers (each chunk after the previous one was
//! acknowledged, so each server must first catch up with what the other appended). Then four threads
//! send commuting entries (spends by test clinics, donations to test NGOs) to both servers at once. Checks:
//! every entry is accepted exactly once; the `entries` table has no hole and no repeated leaf; every
//! stored checkpoint and every checkpoint in a receipt is a checkpoint of the final tree; the stored
//! nodes are the final tree's; both servers converge on the same signed checkpoint, the same leaves and
//! the same ledger state.

use std::collections::{HashMap, HashSet};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ledger::SignedEntry;
use ledger::merkle::{Hash, NodeId, NodeSource, leaf_hash};
use server::demo::{DemoScale, generate};
use sqlx::{Connection, Executor, PgConnection};

use crate::harness::{Api, BatchResult, KeyFile, ORIGIN, Receipt, Server, ServerOptions, TempDir, unique_name};
use crate::verify::{self, check_consistency, check_receipt, hash_from_hex, open_checkpoint};
use crate::workload::{Workload, validate};

const CHUNK: usize = 50;
const CONVERGENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin URL of the test PostgreSQL server, if this run has one.
pub fn admin_url() -> Option<String> {
    match std::env::var("AIDTRAIL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => Some("postgres://postgres@127.0.0.1:5432/test".into()),
        _ => None,
    }
}

/// A fresh database, dropped on drop (after the servers using it were killed: declare it first).
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl TestDatabase {
    fn create(admin_url: &str) -> TestDatabase {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime");
        let name = unique_name("aidtrail_e2e");
        runtime.block_on(async {
            let mut admin = PgConnection::connect(admin_url)
                .await
                .unwrap_or_else(|error| panic!("connecting to {admin_url}: {error}"));
            admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("creating the test database");
            let _ = admin.close().await;
        });
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin_url, String::new()),
        };
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        TestDatabase { admin_url: admin_url.to_string(), url: format!("{server}/{name}{query}"), name, runtime }
    }

    fn connect(&self) -> PgConnection {
        self.runtime.block_on(PgConnection::connect(&self.url)).expect("connecting to the test database")
    }

    fn close(&self, connection: PgConnection) {
        let _ = self.runtime.block_on(connection.close());
    }

    fn query<T>(&self, connection: &mut PgConnection, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        self.runtime
            .block_on(sqlx::query_as::<_, T>(sql).fetch_all(connection))
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = self.runtime.block_on(async {
            let mut admin = PgConnection::connect(&self.admin_url).await?;
            admin.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await?;
            admin.close().await
        });
        if let Err(error) = dropped {
            eprintln!("postgres_two_servers: could not drop the test database {}: {error}", self.name);
        }
    }
}

/// Sends entries that commute to one server, in batches, after the barrier opens.
fn send_independent(api: &Api, entries: &[SignedEntry], barrier: &Barrier) -> Vec<Receipt> {
    barrier.wait();
    let mut receipts = Vec::new();
    for chunk in entries.chunks(20) {
        let results = api.submit_batch(chunk).unwrap_or_else(|error| panic!("{}: {error}", api.base));
        for (signed, result) in chunk.iter().zip(results) {
            match result {
                BatchResult::Accepted(receipt) => {
                    assert!(!receipt.duplicate, "a new entry was answered as a duplicate: {receipt:?}");
                    assert_eq!(hash_from_hex(&receipt.leaf_hash), signed.leaf_hash(), "a receipt names another leaf");
                    receipts.push(receipt);
                }
                BatchResult::Rejected { error } => panic!(
                    "{}: {} entry rejected while both servers wrote: {}: {}",
                    api.base,
                    signed.entry().body.kind().as_str(),
                    error.code,
                    error.message
                ),
            }
        }
    }
    receipts
}

pub fn run() {
    let Some(admin_url) = admin_url() else {
        println!("skipped: PostgreSQL not available (set AIDTRAIL_TEST_DATABASE_URL)");
        return;
    };
    let started = Instant::now();
    let database = TestDatabase::create(&admin_url);
    let dir = TempDir::new("postgres");
    let key = KeyFile::create(dir.path());
    let demo = generate(23, ORIGIN, DemoScale { weeks: 8, spends_per_clinic_week: 8, anonymous_donors: 60 });
    let mut workload = Workload::new(&demo, 23, 4);
    let registrations = workload.registrations();
    let funding = workload.funding(workload.start_ms + 1_000);
    let burst = workload.independent(workload.start_ms + 2_000, 60, 15);
    let sequential: Vec<SignedEntry> = demo.entries.iter().chain(&registrations).chain(&funding).cloned().collect();
    validate(sequential.iter().chain(&burst));

    // Both servers start at once on the empty database: one creates the tables and the log, the other
    // finds them.
    let mut servers = [
        Server::spawn(&ServerOptions::postgres("pg-a", dir.path(), &key, &database.url)),
        Server::spawn(&ServerOptions::postgres("pg-b", dir.path(), &key, &database.url)),
    ];
    for server in &mut servers {
        server.wait_ready();
    }
    let apis = [servers[0].api.clone(), servers[1].api.clone()];

    // Interleaved: chunk k goes to server k % 2 once chunk k - 1 was acknowledged.
    let mut receipts: Vec<Receipt> = Vec::new();
    for (number, chunk) in sequential.chunks(CHUNK).enumerate() {
        receipts.extend(apis[number % 2].submit_all(chunk, CHUNK));
    }
    for (position, receipt) in receipts.iter().enumerate() {
        assert_eq!(
            receipt.index, position as u64,
            "entry {position} landed at index {} (interleaved writes)",
            receipt.index
        );
        assert!(!receipt.duplicate);
    }
    let interleaved_size = sequential.len() as u64;
    println!(
        "postgres_two_servers: {interleaved_size} entries written alternately through both servers, {:?}",
        started.elapsed()
    );

    // Concurrent: four threads, two per server, all starting at once.
    let barrier = Barrier::new(4);
    let quarter = burst.len().div_ceil(4);
    let burst_receipts: Vec<Receipt> = std::thread::scope(|scope| {
        let handles: Vec<_> = burst
            .chunks(quarter)
            .enumerate()
            .map(|(part, entries)| {
                let (api, barrier) = (&apis[part % 2], &barrier);
                scope.spawn(move || send_independent(api, entries, barrier))
            })
            .collect();
        handles.into_iter().flat_map(|handle| handle.join().expect("a submitting thread panicked")).collect()
    });
    receipts.extend(burst_receipts);
    let total = (sequential.len() + burst.len()) as u64;
    println!(
        "postgres_two_servers: {} entries written concurrently to both servers, {:?}",
        burst.len(),
        started.elapsed()
    );

    // Both servers catch up with each other (every 500 ms, or at their next write).
    let deadline = Instant::now() + CONVERGENCE_TIMEOUT;
    let notes = loop {
        let notes: Vec<String> = apis.iter().map(|api| api.get_text("/checkpoint")).collect();
        let sizes: Vec<u64> = notes.iter().map(|note| open_checkpoint(note, &key.verifier).tree_size).collect();
        if sizes.iter().all(|&size| size == total) {
            break notes;
        }
        assert!(
            sizes.iter().all(|&size| size <= total),
            "a server reports more entries ({sizes:?}) than were written ({total})"
        );
        assert!(Instant::now() < deadline, "the servers did not converge on {total} entries: {sizes:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(notes[0], notes[1], "the two servers serve different checkpoints for the same size");

    // Each server, audited from the outside, serves the same log.
    let audits: Vec<verify::Audit> = apis.iter().map(|api| verify::audit(api, &key.verifier)).collect();
    assert_eq!(audits[0].leaves, audits[1].leaves, "the two servers serve different leaves");
    let audit = &audits[0];
    let positions = audit.positions();
    let expected: HashSet<Hash> = sequential.iter().chain(&burst).map(SignedEntry::leaf_hash).collect();
    assert_eq!(expected.len() as u64, total);
    assert_eq!(
        positions.keys().copied().collect::<HashSet<_>>(),
        expected,
        "the log does not hold exactly the entries written"
    );
    let mut opened = HashMap::new();
    for receipt in &receipts {
        assert_eq!(
            positions.get(&hash_from_hex(&receipt.leaf_hash)),
            Some(&receipt.index),
            "an entry is not at its acknowledged index"
        );
        check_receipt(receipt, &key.verifier, &mut opened);
    }
    for checkpoint in opened.values() {
        audit.check_earlier_checkpoint(checkpoint, "a checkpoint in a receipt");
    }
    let middle = open_checkpoint(&receipts[interleaved_size as usize - 1].checkpoint.note, &key.verifier);
    for api in &apis {
        check_consistency(api, &middle, &audit.checkpoint);
    }
    // The ledger state both servers derived is the same.
    for path in [
        "/api/v1/log",
        "/api/v1/organisations/e2e-clinic-0",
        "/api/v1/organisations/e2e-ngo-3",
        "/api/v1/organisations/clinique-goma",
        "/api/v1/flows?organisations=e2e-ngo-1,e2e-clinic-1",
    ] {
        assert_eq!(apis[0].get_text(path), apis[1].get_text(path), "GET {path} differs between the two servers");
    }

    // The database itself.
    let mut connection = database.connect();
    let (count, max_index, leaf_hashes, entry_ids): (i64, Option<i64>, i64, i64) = database
        .query(
            &mut connection,
            "SELECT count(*), max(entry_index), count(DISTINCT leaf_hash), count(DISTINCT entry_id) FROM entries",
        )
        .remove(0);
    assert_eq!(count as u64, total, "the entries table holds {count} rows for {total} entries");
    assert_eq!(max_index, Some(count - 1), "the entries table has a hole: {count} rows up to index {max_index:?}");
    assert_eq!((leaf_hashes, entry_ids), (count, count), "the entries table repeats a leaf or an entry id");
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> =
        database.query(&mut connection, "SELECT entry_index, leaf_hash, leaf FROM entries ORDER BY entry_index");
    for (index, hash, leaf) in &rows {
        let index = *index as usize;
        assert_eq!(leaf, &audit.leaves[index], "the stored leaf {index} differs from the one served");
        assert_eq!(
            hash.as_slice(),
            leaf_hash(leaf).as_slice(),
            "the stored leaf hash {index} is not the hash of the leaf"
        );
    }
    let (head_size, head_root): (i64, Vec<u8>) =
        database.query(&mut connection, "SELECT tree_size, root FROM log_head WHERE id = 1").remove(0);
    assert_eq!(
        (head_size as u64, head_root.as_slice()),
        (total, audit.checkpoint.root.as_slice()),
        "the stored head is not the final tree"
    );
    let checkpoints: Vec<(i64, Vec<u8>, String)> =
        database.query(&mut connection, "SELECT tree_size, root, note FROM checkpoints ORDER BY tree_size");
    for (size, root, note) in &checkpoints {
        let checkpoint = open_checkpoint(note, &key.verifier);
        assert_eq!(
            (checkpoint.tree_size, checkpoint.root.as_slice()),
            (*size as u64, root.as_slice()),
            "a stored checkpoint's note says otherwise"
        );
        audit.check_earlier_checkpoint(&checkpoint, "a stored checkpoint");
    }
    let nodes: Vec<(i64, i64, Vec<u8>)> = database.query(&mut connection, "SELECT level, node_index, hash FROM nodes");
    for (level, index, hash) in &nodes {
        let id = NodeId { level: *level as u8, index: *index as u64 };
        assert_eq!(
            audit.tree.node(id).as_ref().map(|h| h.as_slice()),
            Some(hash.as_slice()),
            "the stored node {id:?} is not the final tree's"
        );
    }
    let expected_nodes: u64 = (0..64).map(|level| total >> level).sum();
    assert_eq!(nodes.len() as u64, expected_nodes, "the nodes table does not hold exactly the tree's perfect subtrees");
    database.close(connection);
    drop(servers);
    println!(
        "postgres_two_servers: {total} entries, {} checkpoints, {} nodes checked; {:?}",
        checkpoints.len(),
        nodes.len(),
        started.elapsed()
    );
}
