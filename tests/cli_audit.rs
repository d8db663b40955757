//! The auditor's command line against real servers: `aidtrail verify` (a whole log, then the same log
//! grown; an entry edited in the database; a forked history), `aidtrail export log` + `verify
//! --from-file` + `aidtrail import log` (SQLite, and PostgreSQL when `AIDTRAIL_TEST_DATABASE_URL` is set),
//! and `aidtrail trace` (forward, backward, donor receipt; proofs checked with the pinned key).
//!
//! Servers are `aidtrail demo` children on free loopback ports; their stdout says where they listen
//! (`explorer: URL`), which key signs their checkpoints (`verifier key: ...`) and which entries to trace.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use ledger::{Amount, AssetCode, Body, Donor, Entry, EntryId, OrgId, SignedEntry};
use serde_json::Value;
use server::demo::{DEFAULT_SEED, demo_key};
use sqlx::{Connection, Executor, PgConnection};

use crate::harness::{Api, Demo, ORIGIN, Server, ServerOptions, TempDir, aidtrail_binary, unique_name};

/// What one run of the command line did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|error| panic!("--json printed no JSON ({error}):\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `aidtrail ARGS` with `XDG_STATE_HOME` inside the test's directory.
fn aidtrail(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(aidtrail_binary())
        .args(args)
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env_remove("AIDTRAIL_CHECKPOINT_KEY")
        .env_remove("AIDTRAIL_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("running aidtrail");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock after 1970").as_millis() as u64
}

/// New donations to the demo's NGO, signed with its deterministic demo key.
fn more_donations(count: usize) -> Vec<SignedEntry> {
    let key = demo_key(DEFAULT_SEED, "medecins-solidaires");
    let now = now_ms();
    (0..count)
        .map(|n| {
            let entry = Entry {
                entry_id: EntryId(rand::random()),
                author: OrgId::new("medecins-solidaires").expect("a valid id"),
                timestamp_ms: now + n as u64,
                body: Body::Donation {
                    donor: Donor::Organisation(OrgId::new("fondation-lumiere").expect("a valid id")),
                    asset: AssetCode::new("EUR").expect("a valid code"),
                    amount: Amount(100_000 * (n as u128 + 1)),
                    value_date: ledger::Date::from_timestamp_ms(now),
                    earmark: None,
                    external_reference: Some(format!("AUDIT-TEST-{n}")),
                },
            };
            SignedEntry::sign(entry, ORIGIN, &key).expect("signing a donation")
        })
        .collect()
}

fn serve(dir: &Path, name: &str, data_dir: &Path, key_file: &Path, database_url: Option<&str>) -> Server {
    Server::start(&ServerOptions {
        name: name.to_string(),
        data_dir: data_dir.to_path_buf(),
        key_file: key_file.to_path_buf(),
        database_url: database_url.map(str::to_string),
        log_dir: dir.to_path_buf(),
    })
}

#[test]
fn verify_succeeds_on_the_demo_and_again_after_the_log_grew() {
    let dir = TempDir::new("audit-verify");
    let demo = Demo::start(dir.path(), "demo", DEFAULT_SEED);
    let state = dir.path().join("state.json");

    let first = aidtrail(dir.path(), &["verify", &demo.url, "--key", &demo.key, "--state", path(&state)]);
    assert!(first.ok(), "verify of the demo failed:\n{first}");
    assert!(first.stdout.contains("✓ verified"), "{first}");
    assert!(state.is_file(), "verify saved no state file");

    let second = aidtrail(dir.path(), &["verify", &demo.url, "--key", &demo.key, "--state", path(&state), "--json"]);
    assert!(second.ok(), "{second}");
    let report = second.json();
    let size = report["tree_size"].as_u64().expect("a tree size");
    assert!(size > 1_000, "the demo should hold thousands of entries: {report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries_verified"].as_u64(), Some(size));
    assert_eq!(report["previous_checkpoint_size"].as_u64(), Some(size));
    assert_eq!(report["origin"], ORIGIN);
    assert!(report["first_error"].is_null());
    assert!(report["elapsed_ms"].is_u64());
    let api = Api::new(&demo.url);
    let latest: Value = api.get_json("/api/v1/checkpoints/latest");
    assert_eq!(report["root"], latest["root"]);

    // Without --state, the verified checkpoint goes under $XDG_STATE_HOME/aidtrail/.
    let default = aidtrail(dir.path(), &["verify", &demo.url, "--key", &demo.key]);
    assert!(default.ok(), "{default}");
    assert!(dir.path().join("xdg-state/aidtrail/demo.aidtrail.local_log.json").is_file(), "{default}");

    // The log grows; the next run checks that it still extends what was verified before.
    api.submit_all(&more_donations(5), 5);
    let grown = aidtrail(dir.path(), &["verify", &demo.url, "--key", &demo.key, "--state", path(&state), "--json"]);
    assert!(grown.ok(), "verify of the grown log failed:\n{grown}");
    let report = grown.json();
    assert_eq!(report["tree_size"].as_u64(), Some(size + 5));
    assert_eq!(report["previous_checkpoint_size"].as_u64(), Some(size));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["tree_size"].as_u64(), Some(size + 5), "the state file holds the newly verified checkpoint");

    // A wrong key is refused, and the state file is not touched.
    let other_key = server::keys::generate(ORIGIN).unwrap().verifier().to_string();
    let wrong = aidtrail(dir.path(), &["verify", &demo.url, "--key", &other_key, "--json"]);
    assert!(!wrong.ok(), "{wrong}");
    assert_eq!(wrong.json()["first_error"]["kind"], "checkpoint_signature");
}

#[test]
fn verify_names_an_entry_edited_in_the_database() {
    let dir = TempDir::new("audit-tamper");
    let mut demo = Demo::start(dir.path(), "demo", DEFAULT_SEED);
    let state = dir.path().join("state.json");
    let before = aidtrail(dir.path(), &["verify", &demo.url, "--key", &demo.key, "--state", path(&state), "--json"]);
    assert!(before.ok(), "{before}");
    let size = before.json()["tree_size"].as_u64().unwrap();
    demo.stop();

    // A dishonest operator: the server is stopped, a state snapshot is taken (so that the restarted server
    // does not replay, and hence does not check, the entries), and one byte of one stored entry is changed.
    let target = size / 2;
    let key_file = demo.data_dir.join("checkpoint.key");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let target_id = runtime.block_on(async {
        let store = server::store::Store::open_sqlite(&demo.data_dir).await.expect("opening the demo's database");
        let signer = server::keys::read_key_file(&key_file).expect("the demo's checkpoint key");
        let log = server::log::Log::open(store.clone(), ORIGIN, signer).await.expect("opening the log");
        log.snapshot().await.expect("a state snapshot");
        drop(log);
        let server::store::Store::Sqlite(pools) = &store else { unreachable!("the demo runs on SQLite") };
        let pool = &pools.write;
        let mut leaf: Vec<u8> = sqlx::query_scalar("SELECT leaf FROM entries WHERE entry_index = $1")
            .bind(target as i64)
            .fetch_one(pool)
            .await
            .unwrap();
        let id = SignedEntry::decode(&leaf).unwrap().entry().entry_id.to_hex();
        let last = leaf.len() - 1;
        leaf[last] ^= 0x01;
        let updated = sqlx::query("UPDATE entries SET leaf = $1 WHERE entry_index = $2")
            .bind(leaf)
            .bind(target as i64)
            .execute(pool)
            .await
            .unwrap();
        assert_eq!(updated.rows_affected(), 1);
        pools.close().await;
        id
    });
    let server = serve(dir.path(), "tampered", &demo.data_dir, &key_file, None);
    let url = server.api.base.clone();
    let saved_before = std::fs::read_to_string(&state).unwrap();

    let run = aidtrail(dir.path(), &["verify", &url, "--key", &demo.key, "--state", path(&state), "--json"]);
    assert!(!run.ok(), "verify accepted an edited entry:\n{run}");
    let report = run.json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_error"]["index"].as_u64(), Some(target), "{run}");
    assert_eq!(report["first_error"]["entry_id"], target_id.as_str(), "{run}");
    assert_eq!(report["first_error"]["kind"], "bad_signature", "{run}");
    assert_eq!(report["entries_verified"].as_u64(), Some(target));
    // The level-0 tile (from the stored tree) no longer matches the served entry either.
    assert!(report["first_error"]["reason"].as_str().unwrap().contains("tile/0/"), "{run}");

    let text = aidtrail(dir.path(), &["verify", &url, "--key", &demo.key, "--state", path(&state)]);
    assert!(!text.ok());
    assert!(text.stderr.contains(&format!("entry {target} (id {target_id})")), "{text}");
    assert!(text.stderr.contains("bad signature"), "{text}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), saved_before, "a failed run must not update the state file");
}

#[test]
fn verify_detects_a_forked_log() {
    let dir = TempDir::new("audit-fork");
    let honest = Demo::start(dir.path(), "honest", DEFAULT_SEED);
    let state = dir.path().join("state.json");
    let first = aidtrail(dir.path(), &["verify", &honest.url, "--key", &honest.key, "--state", path(&state)]);
    assert!(first.ok(), "{first}");
    let saved_before = std::fs::read_to_string(&state).unwrap();

    // Another history of the same log: same origin, same checkpoint key, other entries.
    let forked_data = dir.path().join("forked-data");
    std::fs::create_dir_all(&forked_data).unwrap();
    let signer = server::keys::read_key_file(&honest.data_dir.join("checkpoint.key")).unwrap();
    server::keys::write_key_file(&forked_data.join("checkpoint.key"), &signer).unwrap();
    let forked = Demo::start(dir.path(), "forked", DEFAULT_SEED + 1);
    assert_eq!(forked.data_dir, forked_data);
    assert_eq!(forked.key, honest.key, "both logs must be signed by the same key");

    let run = aidtrail(dir.path(), &["verify", &forked.url, "--key", &honest.key, "--state", path(&state)]);
    assert!(!run.ok(), "verify accepted a forked log:\n{run}");
    assert!(run.stderr.contains("fork") && run.stderr.contains("rewritten"), "{run}");
    let run = aidtrail(dir.path(), &["verify", &forked.url, "--key", &honest.key, "--state", path(&state), "--json"]);
    assert!(!run.ok());
    let report = run.json();
    assert_eq!(report["first_error"]["kind"], "fork", "{run}");
    if report["tree_size"].as_u64() >= report["previous_checkpoint_size"].as_u64() {
        // Not shrunk: the saved tile hashes show the rewrite in the first 256 entries (another genesis).
        assert_eq!(report["first_error"]["range"], serde_json::json!([0, 256]), "{run}");
    }
    assert_eq!(std::fs::read_to_string(&state).unwrap(), saved_before, "a failed run must not update the state file");

    // The forked log on its own verifies: only the comparison with the past exposes it.
    let fresh = aidtrail(
        dir.path(),
        &["verify", &forked.url, "--key", &honest.key, "--state", path(&dir.path().join("other.json"))],
    );
    assert!(fresh.ok(), "{fresh}");
}

/// The admin URL of the test PostgreSQL server, when this run has one.
fn postgres_admin_url() -> Option<String> {
    match std::env::var("AIDTRAIL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => Some("postgres://postgres@127.0.0.1:5432/test".into()),
        _ => None,
    }
}

/// Creates a fresh database on the admin URL's server; returns its name and URL.
fn create_database(runtime: &tokio::runtime::Runtime, admin_url: &str) -> (String, String) {
    let name = unique_name("aidtrail_import");
    runtime.block_on(async {
        let mut admin =
            PgConnection::connect(admin_url).await.unwrap_or_else(|error| panic!("connecting to {admin_url}: {error}"));
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("creating the test database");
        let _ = admin.close().await;
    });
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    let url = format!("{server}/{name}{query}");
    (name, url)
}

fn drop_database(runtime: &tokio::runtime::Runtime, admin_url: &str, name: &str) {
    let _ = runtime.block_on(async {
        let mut admin = PgConnection::connect(admin_url).await?;
        admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
        admin.close().await
    });
}

#[test]
fn export_verify_from_file_and_import() {
    let dir = TempDir::new("audit-export");
    let demo = Demo::start(dir.path(), "demo", DEFAULT_SEED);
    let file = dir.path().join("log.jsonl");
    let export = aidtrail(dir.path(), &["export", "log", &demo.url, path(&file), "--key", &demo.key]);
    assert!(export.ok(), "{export}");
    let text = std::fs::read_to_string(&file).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "aidtrail-log-export");
    let size = header["tree_size"].as_u64().unwrap();
    assert_eq!(text.lines().count() as u64, size + 1, "a header line and one line per entry");
    let original_note = Api::new(&demo.url).get_text("/checkpoint");
    assert_eq!(header["checkpoint"], original_note.as_str());

    let verified = aidtrail(dir.path(), &["verify", "--from-file", path(&file), "--key", &demo.key, "--json"]);
    assert!(verified.ok(), "{verified}");
    let report = verified.json();
    assert_eq!(report["tree_size"].as_u64(), Some(size));
    assert_eq!(report["root"], header["root"]);

    // A damaged copy: one entry's last byte changed.
    let target = size / 3;
    let damaged: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(number, line)| {
            if number as u64 != target + 1 {
                return line.to_string();
            }
            let mut parsed: Value = serde_json::from_str(line).unwrap();
            let mut leaf = hex::decode(parsed["leaf"].as_str().unwrap()).unwrap();
            let last = leaf.len() - 1;
            leaf[last] ^= 0x80;
            parsed["leaf"] = Value::String(hex::encode(leaf));
            parsed.to_string()
        })
        .collect();
    let damaged_file = dir.path().join("damaged.jsonl");
    std::fs::write(&damaged_file, damaged.join("\n") + "\n").unwrap();
    let caught = aidtrail(dir.path(), &["verify", "--from-file", path(&damaged_file), "--key", &demo.key, "--json"]);
    assert!(!caught.ok(), "{caught}");
    assert_eq!(caught.json()["first_error"]["index"].as_u64(), Some(target), "{caught}");

    // Restore into a fresh SQLite directory, refuse a second import, serve it: same checkpoint.
    let key_file = demo.data_dir.join("checkpoint.key");
    let restored = dir.path().join("restored-data");
    let import = aidtrail(
        dir.path(),
        &["import", "log", path(&file), "--data-dir", path(&restored), "--checkpoint-key-file", path(&key_file)],
    );
    assert!(import.ok(), "{import}");
    let again = aidtrail(
        dir.path(),
        &["import", "log", path(&file), "--data-dir", path(&restored), "--checkpoint-key-file", path(&key_file)],
    );
    assert!(!again.ok(), "a second import into the same database must be refused:\n{again}");
    assert!(again.stderr.contains("refusing"), "{again}");
    let damaged_import = aidtrail(
        dir.path(),
        &[
            "import",
            "log",
            path(&damaged_file),
            "--data-dir",
            path(&dir.path().join("damaged-data")),
            "--checkpoint-key-file",
            path(&key_file),
        ],
    );
    assert!(!damaged_import.ok(), "a damaged copy must not import:\n{damaged_import}");
    assert!(damaged_import.stderr.contains(&format!("entry {target}")), "{damaged_import}");
    {
        let server = serve(dir.path(), "restored", &restored, &key_file, None);
        assert_eq!(
            server.api.get_text("/checkpoint"),
            original_note,
            "the restored log serves the original checkpoint"
        );
        let check = aidtrail(
            dir.path(),
            &["verify", &server.api.base, "--key", &demo.key, "--state", path(&dir.path().join("restored.json"))],
        );
        assert!(check.ok(), "{check}");
    }

    // The same copy moves to PostgreSQL.
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("skipped: the PostgreSQL import (set AIDTRAIL_TEST_DATABASE_URL to run it)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (name, url) = create_database(&runtime, &admin_url);
    let result = std::panic::catch_unwind(|| {
        let import = aidtrail(
            dir.path(),
            &["import", "log", path(&file), "--database-url", &url, "--checkpoint-key-file", path(&key_file), "--json"],
        );
        assert!(import.ok(), "{import}");
        assert_eq!(import.json()["tree_size"].as_u64(), Some(size));
        let server = serve(dir.path(), "postgres", &dir.path().join("unused-data"), &key_file, Some(&url));
        assert_eq!(
            server.api.get_text("/checkpoint"),
            original_note,
            "the PostgreSQL log serves the original checkpoint"
        );
        let latest: Value = server.api.get_json("/api/v1/checkpoints/latest");
        assert_eq!(latest["root"], header["root"]);
    });
    drop_database(&runtime, &admin_url, &name);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn trace_prints_the_example_donation_with_proofs() {
    let dir = TempDir::new("audit-trace");
    let demo = Demo::start(dir.path(), "demo", DEFAULT_SEED);
    let api = Api::new(&demo.url);
    let trace: Value = api.get_json(&format!("/api/v1/trace/donations/{}", demo.example_donation));
    let decimals = trace["decimals"].as_u64().unwrap() as u8;
    let money = |value: &Value| {
        format!(
            "{} {}",
            Amount(value.as_str().unwrap().parse().unwrap()).format(decimals, ',', '.'),
            trace["asset"].as_str().unwrap()
        )
    };

    let run = aidtrail(dir.path(), &["trace", &demo.url, &demo.example_donation, "--key", &demo.key]);
    assert!(run.ok(), "{run}");
    assert!(run.stdout.contains(&format!("donation #{}", trace["donation_index"])), "{run}");
    assert!(run.stdout.contains(&money(&trace["amount"])), "the donation's amount, formatted: {run}");
    let hops = trace["hops"].as_array().unwrap();
    assert!(hops.len() > 1, "the example donation moves: {trace}");
    for hop in hops.iter().take(20) {
        assert!(run.stdout.contains(&money(&hop["amount"])), "hop amount {} missing:\n{run}", hop["amount"]);
    }
    assert!(run.stdout.contains("├─ ") || run.stdout.contains("└─ "), "{run}");
    assert!(run.stdout.contains('✓') && !run.stdout.contains('✗'), "{run}");
    assert!(run.stdout.contains("proofs: "), "{run}");

    let unchecked = aidtrail(dir.path(), &["trace", &demo.url, &demo.example_donation]);
    assert!(unchecked.ok(), "{unchecked}");
    assert!(unchecked.stdout.contains("proofs not checked: pass --key"), "{unchecked}");
    assert!(!unchecked.stdout.contains('✓'), "{unchecked}");

    let json = aidtrail(dir.path(), &["trace", &demo.url, &demo.example_donation, "--key", &demo.key, "--json"]);
    assert!(json.ok(), "{json}");
    let parsed = json.json();
    assert_eq!(parsed["ok"], true);
    assert_eq!(parsed["proofs_checked"], true);
    assert_eq!(parsed["trace"]["donation_id"], demo.example_donation.as_str());
    let proofs = parsed["proofs"].as_array().unwrap();
    assert!(!proofs.is_empty() && proofs.iter().all(|proof| proof["ok"] == true), "{json}");

    // Backward, in both spellings.
    let back = aidtrail(dir.path(), &["trace", "--back", &demo.url, &demo.example_spend, "--key", &demo.key]);
    assert!(back.ok(), "{back}");
    assert!(
        back.stdout.contains("spend #") && back.stdout.contains("paid by donation #") && back.stdout.contains('✓'),
        "{back}"
    );
    let back_json =
        aidtrail(dir.path(), &["trace", &demo.url, "--back", &demo.example_spend, "--key", &demo.key, "--json"]);
    assert!(back_json.ok(), "{back_json}");
    let parsed = back_json.json();
    assert_eq!(parsed["direction"], "backward");
    assert_eq!(parsed["trace"]["spend_id"], demo.example_spend.as_str());

    // An anonymous donor traces their gifts with their secret receipt.
    let ledger = server::demo::generate(DEFAULT_SEED, ORIGIN, server::demo::DemoScale::default());
    let receipt = ledger
        .donor_receipts
        .iter()
        .find(|secret| {
            let list: Value = api
                .get_json(&format!("/api/v1/donor-references/{}/donations", ledger::donor_reference(secret).to_hex()));
            !list["donations"].as_array().unwrap().is_empty()
        })
        .unwrap_or(&ledger.donor_receipts[0]);
    let mine = aidtrail(dir.path(), &["trace", &demo.url, "--receipt", &hex::encode(receipt), "--key", &demo.key]);
    assert!(mine.ok(), "{mine}");
    assert!(mine.stdout.contains("donor reference "), "{mine}");
    let mine_json = aidtrail(dir.path(), &["trace", &demo.url, "--receipt", &hex::encode(receipt), "--json"]);
    assert!(mine_json.ok(), "{mine_json}");
    assert!(mine_json.json()["traces"].is_array());

    // An unknown id is an error.
    let unknown = aidtrail(dir.path(), &["trace", &demo.url, &"00".repeat(16)]);
    assert!(!unknown.ok(), "{unknown}");
}

/// `aidtrail export iati URL [--org ID]` writes an IATI 2.03 activities file that the official schema
/// accepts, for every publisher or for one; an unknown organisation is an error with a non-zero exit.
#[test]
fn export_iati_writes_a_valid_activities_file() {
    let dir = TempDir::new("audit-iati");
    let demo = Demo::start(dir.path(), "demo", DEFAULT_SEED);
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/iati/iati-activities-schema.xsd");
    let validate = |xml: &str, name: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, xml).expect("writing the export");
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&file)
            .output()
            .expect("running xmllint (Debian's libxml2-utils; scripts/setup.sh --tests installs it)");
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let all = aidtrail(dir.path(), &["export", "iati", &demo.url]);
    assert!(all.ok(), "{all}");
    validate(&all.stdout, "all.xml");
    assert!(all.stdout.matches("<iati-activity ").count() > 5, "{}", &all.stdout[..all.stdout.len().min(500)]);

    let one = aidtrail(dir.path(), &["export", "iati", &demo.url, "--org", "sahel-care"]);
    assert!(one.ok(), "{one}");
    validate(&one.stdout, "one.xml");
    let activities = one.stdout.matches("<iati-activity ").count();
    assert!(activities >= 1 && activities < all.stdout.matches("<iati-activity ").count());
    assert_eq!(
        one.stdout.matches("<iati-identifier>").count(),
        one.stdout.matches("<iati-identifier>SN-RCCM-DKR-2015-B-0301-").count(),
        "only Sahel Care's activities"
    );

    let unknown = aidtrail(dir.path(), &["export", "iati", &demo.url, "--org", "nobody"]);
    assert!(!unknown.ok(), "{unknown}");
    assert!(unknown.stderr.contains("nobody is not a registered organisation"), "{unknown}");
}
