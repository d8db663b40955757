//! A restart replays the log to the same state: what the API says about the log, organisations, traces,
//! pledges, open transfers and flows is identical before a restart and after it, whether the server was
//! stopped with SIGTERM (a clean shutdown) or SIGKILL (no shutdown at all). Resubmitting the whole demo
//! afterwards finds every entry at its index.

use std::time::Instant;

use server::demo::{DemoScale, generate};

use crate::harness::{KeyFile, ORIGIN, Server, ServerOptions, TempDir};
use crate::verify::{self, check_consistency};

/// What the API says about the ledger, resource by resource.
fn views(server: &Server, paths: &[String]) -> Vec<(String, String)> {
    paths.iter().map(|path| (path.clone(), server.api.get_text(path))).collect()
}

fn assert_same(before: &[(String, String)], after: &[(String, String)], when: &str) {
    for ((path, old), (_, new)) in before.iter().zip(after) {
        if old != new {
            let old_json: Result<serde_json::Value, _> = serde_json::from_str(old);
            let new_json: Result<serde_json::Value, _> = serde_json::from_str(new);
            panic!(
                "GET {path} changed {when}\nbefore: {}\nafter:  {}",
                old_json.map(|v| v.to_string()).unwrap_or_else(|_| old.clone()).chars().take(2_000).collect::<String>(),
                new_json.map(|v| v.to_string()).unwrap_or_else(|_| new.clone()).chars().take(2_000).collect::<String>()
            );
        }
    }
}

pub fn run() {
    let started = Instant::now();
    let dir = TempDir::new("restart");
    let key = KeyFile::create(dir.path());
    let demo = generate(7, ORIGIN, DemoScale { weeks: 12, spends_per_clinic_week: 8, anonymous_donors: 100 });
    let options = ServerOptions::sqlite("restart", dir.path(), &key);
    let mut server = Server::start(&options);
    let receipts = server.api.submit_all(&demo.entries, 250);
    for (position, receipt) in receipts.iter().enumerate() {
        assert_eq!(receipt.index, position as u64, "demo entry {position} landed at index {}", receipt.index);
        assert!(!receipt.duplicate);
    }
    let loaded = verify::audit(&server.api, &key.verifier);
    assert_eq!(loaded.size(), demo.entries.len() as u64);

    let paths: Vec<String> = [
        "/api/v1/log".to_string(),
        "/checkpoint".into(),
        "/api/v1/organisations".into(),
        "/api/v1/organisations/medecins-solidaires".into(),
        "/api/v1/organisations/health-bridge".into(),
        "/api/v1/organisations/clinique-goma".into(),
        "/api/v1/organisations/juba-health-post".into(),
        format!("/api/v1/trace/donations/{}", demo.example_donation.to_hex()),
        format!("/api/v1/trace/spends/{}", demo.example_spend.to_hex()),
        "/api/v1/pledges".into(),
        "/api/v1/transfers/unacknowledged".into(),
        "/api/v1/flows".into(),
        "/api/v1/entries?order=desc&limit=100".into(),
        format!("/api/v1/proofs/inclusion?index=5&tree_size={}", demo.entries.len() / 2),
    ]
    .into_iter()
    .chain(
        demo.donor_receipts
            .iter()
            .map(|receipt| format!("/api/v1/donor-references/{}/donations", ledger::donor_reference(receipt).to_hex())),
    )
    .collect();
    let before = views(&server, &paths);
    let status = server.terminate();
    assert!(status.success(), "the server did not exit cleanly on SIGTERM: {status}\n{}", server.log_tail());

    let mut server = Server::start(&options);
    assert_same(&before, &views(&server, &paths), "across a SIGTERM restart");
    server.kill();

    let server = Server::start(&options);
    assert_same(&before, &views(&server, &paths), "across a SIGKILL restart");
    let replayed = verify::audit(&server.api, &key.verifier);
    assert_eq!(replayed.leaves, loaded.leaves, "the leaves changed across restarts");
    check_consistency(&server.api, &loaded.checkpoint, &replayed.checkpoint);
    let again = server.api.submit_all(&demo.entries, 250);
    for (position, receipt) in again.iter().enumerate() {
        assert!(
            receipt.duplicate && receipt.index == position as u64,
            "resubmitted demo entry {position}: {receipt:?}"
        );
    }
    assert_same(&before, &views(&server, &paths), "after resubmitting the whole demo");
    println!(
        "restart_replays_to_the_same_state: {} entries, two restarts, {:?}",
        demo.entries.len(),
        started.elapsed()
    );
}
