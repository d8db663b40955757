//! `aidtrail bench` end to end on a small ledger: it starts its own server, runs every scenario, and explains
//! each figure, the server's memory by part included (read from the server's `/metrics`).

use std::process::Command;

use crate::harness::aidtrail_binary;

pub fn run() {
    let output = Command::new(aidtrail_binary())
        .args(["bench", "--entries", "3000", "--single-entries", "300", "--clients", "8", "--duration-secs", "1"])
        .output()
        .expect("running aidtrail bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "aidtrail bench failed:\n{stdout}\n{stderr}");
    for figure in [
        "ingest, batches of 1000",
        "single-entry writes, 8 clients",
        "inclusion proofs at 3,300 entries",
        "hash tiles /tile/0/N",
        "server RSS at 3,300 entries",
        "what bounds each figure:",
    ] {
        assert!(stdout.contains(figure), "{figure:?} in:\n{stdout}");
    }
    let memory = stdout.lines().find(|line| line.starts_with("- memory:")).unwrap_or_else(|| panic!("{stdout}"));
    for part in
        ["in use on the heap, of which SQLite", "the Merkle tree", "the entries' history", "cached entry bundles"]
    {
        assert!(memory.contains(part), "{part:?} in {memory}");
    }
    let resident_mb: f64 = memory
        .split("Of the server's ")
        .nth(1)
        .and_then(|rest| rest.split(" MB").next())
        .and_then(|mb| mb.parse().ok())
        .unwrap_or_else(|| panic!("no resident size in {memory}"));
    assert!(resident_mb >= 5.0, "a running server holds a few megabytes at least: {memory}");
}
