//! `aidtrail record` and `aidtrail bulk` against a real `aidtrail demo` server: every command is the real
//! binary, and every check reads the server's API.
//!
//! Each test starts its own demo log and registers its own organisations (with keys made by `aidtrail key
//! generate`, registered by `aidtrail record register-organisation` signed with the demo operator's key),
//! so balances start at zero and every expected number is exact.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ledger::note::NoteSigner;
use serde_json::Value;

use crate::harness::{Api, TempDir, aidtrail_binary};

// ------------------------------------------------------------------------------------------------------
// Helpers.
// ------------------------------------------------------------------------------------------------------

/// A running `aidtrail demo`, killed on drop.
pub(crate) struct Demo {
    child: Child,
    /// `http://127.0.0.1:PORT/`
    pub(crate) url: String,
    pub(crate) verifier_key: String,
    pub(crate) api: Api,
}

impl Demo {
    pub(crate) fn start(dir: &Path) -> Demo {
        let log = File::create(dir.join("demo.log")).expect("creating the demo's log file");
        let mut child = Command::new(aidtrail_binary())
            .args(["demo", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("demo-data"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting aidtrail demo");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut url = None;
        let mut verifier_key = None;
        while url.is_none() || verifier_key.is_none() {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("aidtrail demo exited before it was ready; see {}", dir.join("demo.log").display()),
            };
            if let Some(rest) = line.strip_prefix("explorer: ") {
                url = Some(rest.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("verifier key: ") {
                verifier_key = Some(rest.trim().to_string());
            }
        }
        // Keep reading so the demo never writes into a full or closed pipe.
        std::thread::spawn(move || for _ in lines {});
        let url = url.expect("read above");
        let api = Api::new(url.trim_end_matches('/'));
        Demo { child, url, verifier_key: verifier_key.expect("read above"), api }
    }

    pub(crate) fn tree_size(&self) -> u64 {
        self.api.get_json::<Value>("/api/v1/log")["tree_size"].as_u64().expect("a tree size")
    }

    /// An organisation's available balance in minor units.
    pub(crate) fn balance(&self, organisation: &str, asset: &str) -> u128 {
        let profile: Value = self.api.get_json(&format!("/api/v1/organisations/{organisation}"));
        profile["balances"]
            .as_array()
            .expect("balances")
            .iter()
            .find(|balance| balance["asset"] == asset)
            .map_or(0, |balance| balance["available"].as_str().expect("a decimal string").parse().expect("a number"))
    }

    /// How many entries an organisation authored.
    fn authored(&self, organisation: &str) -> usize {
        let page: Value = self.api.get_json(&format!("/api/v1/entries?organisation={organisation}&limit=500"));
        page["entries"].as_array().expect("entries").iter().filter(|entry| entry["author"] == organisation).count()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo's deterministic keys (the demo generator derives them from its seed and each name).
fn demo_keys() -> &'static std::collections::BTreeMap<String, SigningKey> {
    static KEYS: OnceLock<std::collections::BTreeMap<String, SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let scale = server::demo::DemoScale { weeks: 2, spends_per_clinic_week: 2, anonymous_donors: 2 };
        server::demo::generate(server::demo::DEFAULT_SEED, server::demo::DEMO_ORIGIN, scale).keys
    })
}

/// Writes a demo organisation's key (or the operator's) to a key file.
pub(crate) fn demo_key_file(dir: &Path, name: &str) -> PathBuf {
    let key = demo_keys().get(name).unwrap_or_else(|| panic!("the demo has no key for {name}")).clone();
    let path = dir.join(format!("{name}.key"));
    server::keys::write_key_file(&path, &NoteSigner::new(name, key).expect("a valid key name"))
        .expect("writing a key file");
    path
}

pub(crate) fn aidtrail(args: &[&str]) -> Output {
    Command::new(aidtrail_binary()).args(args).output().expect("running aidtrail")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary; it must succeed. Returns stdout.
pub(crate) fn run_ok(args: &[&str]) -> String {
    let output = aidtrail(args);
    assert!(
        output.status.success(),
        "aidtrail {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Runs the binary; it must fail. Returns stdout and stderr.
pub(crate) fn run_failing(args: &[&str]) -> (String, String) {
    let output = aidtrail(args);
    assert!(
        !output.status.success(),
        "aidtrail {} should have failed:\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        text(&output.stdout),
        text(&output.stderr)
    );
    (text(&output.stdout), text(&output.stderr))
}

pub(crate) fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The value after `prefix` on the first line that starts with it.
pub(crate) fn field_after(output: &str, prefix: &str) -> String {
    output
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"))
        .trim()
        .to_string()
}

/// Checks the "recorded at index N (leaf hash ...; proof checked against checkpoint of size M)" line and
/// returns N and the entry id.
pub(crate) fn recorded(output: &str) -> (u64, String) {
    let line = output
        .lines()
        .find(|line| line.starts_with("recorded at index "))
        .unwrap_or_else(|| panic!("not recorded:\n{output}"));
    assert!(line.contains("proof checked against checkpoint of size"), "{line}");
    let index =
        line["recorded at index ".len()..].split_whitespace().next().expect("an index").parse().expect("a number");
    (index, field_after(output, "entry id: "))
}

/// `aidtrail key generate` for a new organisation; returns the key file and the public key (hex).
pub(crate) fn generate_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let file = dir.join(format!("{name}.key"));
    let output = run_ok(&["key", "generate", "--out", path(&file), "--name", name]);
    (file, field_after(&output, "public key: "))
}

/// A fresh organisation: a key from `aidtrail key generate`, registered by the operator.
pub(crate) fn register(demo: &Demo, dir: &Path, operator_key: &Path, id: &str, role: &str, country: &str) -> PathBuf {
    let (key, public_key) = generate_key(dir, id);
    let output = run_ok(&[
        "record",
        "register-organisation",
        "--server",
        &demo.url,
        "--key",
        path(operator_key),
        "--organisation",
        id,
        "--role",
        role,
        "--name",
        id,
        "--country",
        country,
        "--public-key",
        &public_key,
    ]);
    recorded(&output);
    key
}

/// A unique suffix so that organisations of different tests never share an id.
pub(crate) fn suffix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The summary line of a bulk report.
fn summary(output: &str) -> String {
    output
        .lines()
        .find(|line| line.starts_with("submitted: "))
        .unwrap_or_else(|| panic!("no summary in:\n{output}"))
        .to_string()
}

// ------------------------------------------------------------------------------------------------------
// record
// ------------------------------------------------------------------------------------------------------

#[test]
fn record_each_kind_and_check_the_proof() {
    let dir = TempDir::new("cli-record");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "CD");
    let clinic_key = register(&demo, dir.path(), &operator, &clinic, "clinic", "CD");
    let auditor_key = demo_key_file(dir.path(), "audit-verite");
    let url = demo.url.as_str();
    let (ngo_key, clinic_key) = (path(&ngo_key).to_string(), path(&clinic_key).to_string());

    // A donation, pinned to the right log key.
    let output = run_ok(&[
        "record",
        "donation",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--log-key",
        &demo.verifier_key,
        "--donor",
        "fondation-lumiere",
        "--asset",
        "EUR",
        "--amount",
        "10,000.00",
        "--value-date",
        "2026-03-01",
        "--external-reference",
        "SEPA-0001",
    ]);
    let (donation_index, _) = recorded(&output);
    assert_eq!(demo.balance(&ngo, "EUR"), 1_000_000);

    // An anonymous gift from a secret receipt: only its reference is recorded.
    let output = run_ok(&[
        "record",
        "donation",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--anonymous-donor-receipt",
        &"ab".repeat(32),
        "--asset",
        "EUR",
        "--amount-minor",
        "5000",
    ]);
    recorded(&output);
    assert!(output.contains("anonymous donor reference: "), "{output}");

    // A transfer, acknowledged by the clinic.
    let output = run_ok(&[
        "record",
        "transfer",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--as",
        &ngo,
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount",
        "2500",
        "--purpose",
        "operating funds",
    ]);
    let (transfer_index, transfer_id) = recorded(&output);
    assert!(transfer_index > donation_index);
    let output =
        run_ok(&["record", "acknowledgement", "--server", url, "--key", &clinic_key, "--transfer", &transfer_id]);
    recorded(&output);
    assert_eq!(
        demo.api.get_json::<Value>(&format!("/api/v1/organisations/{clinic}"))["unacknowledged_transfers"],
        serde_json::json!([])
    );

    // Spends: to a new beneficiary (the salt is printed, never sent) and to a supplier with evidence.
    let output = run_ok(&[
        "record",
        "spend",
        "--server",
        url,
        "--key",
        &clinic_key,
        "--asset",
        "EUR",
        "--amount",
        "120.50",
        "--category",
        "medicine",
        "--new-beneficiary",
        "--pseudonym",
        "dossier-0042",
    ]);
    let (spend_index, _) = recorded(&output);
    let salt = field_after(&output, "beneficiary salt: ");
    let commitment = field_after(&output, "beneficiary commitment: ");
    assert_eq!(salt.len(), 64);
    let mut salt_bytes = [0u8; 32];
    hex::decode_to_slice(&salt, &mut salt_bytes).expect("hex");
    assert_eq!(ledger::beneficiary_commitment(&salt_bytes, b"dossier-0042").to_hex(), commitment);
    let stored: Value = demo.api.get_json(&format!("/api/v1/entries/{spend_index}"));
    assert!(!stored.to_string().contains(&salt), "the salt never reaches the server");

    let invoice = dir.path().join("invoice.pdf");
    std::fs::write(&invoice, b"%PDF-1.4 invoice 2026-117").expect("writing the invoice");
    let output = run_ok(&[
        "record",
        "spend",
        "--server",
        url,
        "--key",
        &clinic_key,
        "--asset",
        "EUR",
        "--amount",
        "300",
        "--category",
        "medicine",
        "--supplier",
        "medipharm-kenya",
        "--evidence-file",
        path(&invoice),
        "--json",
    ]);
    let answer: Value = serde_json::from_str(output.trim()).expect("JSON output");
    assert_eq!(answer["status"], "recorded");
    assert_eq!(answer["proof_checked"], true);
    let supplier_spend = answer["entry_id"].as_str().expect("an entry id").to_string();
    let stored: Value = demo.api.get_json(&format!("/api/v1/entries/by-id/{supplier_spend}"));
    let digest = server::cli::record::file_digest(&invoice).expect("hashing the invoice").to_hex();
    assert_eq!(stored["entry"]["body"]["evidence"], digest.as_str());

    // The supplier spend is reversed.
    let output = run_ok(&[
        "record",
        "reversal",
        "--server",
        url,
        "--key",
        &clinic_key,
        "--target",
        &supplier_spend,
        "--reason",
        "invoice cancelled",
    ]);
    recorded(&output);
    assert_eq!(demo.balance(&clinic, "EUR"), 250_000 - 12_050);

    // A pledge, attested by the auditor and released.
    let output = run_ok(&[
        "record",
        "pledge",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount",
        "100",
        "--verifier",
        "audit-verite",
        "--result",
        "cold chain operational for 30 days",
        "--expires-at-ms",
        &(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
            + 30 * 86_400_000)
            .to_string(),
    ]);
    let (_, pledge) = recorded(&output);
    recorded(&run_ok(&[
        "record",
        "attestation",
        "--server",
        url,
        "--key",
        path(&auditor_key),
        "--pledge",
        &pledge,
        "--statement",
        "checked on site",
    ]));
    recorded(&run_ok(&["record", "pledge-release", "--server", url, "--key", &ngo_key, "--pledge", &pledge]));
    assert_eq!(demo.balance(&ngo, "EUR"), 1_000_000 + 5_000 - 250_000 - 10_000);
    assert_eq!(demo.balance(&clinic, "EUR"), 250_000 - 12_050 + 10_000);

    // A given entry id: resubmitting the identical entry is harmless; the same id with other content is refused.
    let fixed = "00112233445566778899aabbccddeeff";
    let timestamp =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64).to_string();
    let args = [
        "record",
        "transfer",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount",
        "1",
        "--entry-id",
        fixed,
        "--timestamp-ms",
        &timestamp,
        "--value-date",
        "2026-11-01",
    ];
    let (index, _) = recorded(&run_ok(&args));
    let again = run_ok(&args);
    assert!(again.contains(&format!("already recorded at index {index}")), "{again}");

    // Refusals: an overspend, a key rotation to a key in use, and a server that is not the pinned log.
    let size = demo.tree_size();
    let (_, stderr) = run_failing(&[
        "record",
        "transfer",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount",
        "1,000,000.00",
    ]);
    assert!(stderr.contains("rejected by the server (overspend)"), "{stderr}");
    assert!(stderr.contains(&format!("{ngo} holds")), "{stderr}");
    let other_log_key = server::keys::generate(server::demo::DEMO_ORIGIN).unwrap().verifier().to_string();
    let (_, stderr) = run_failing(&[
        "record",
        "transfer",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--log-key",
        &other_log_key,
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount",
        "1",
    ]);
    assert!(stderr.contains("not with the pinned --log-key"), "{stderr}");
    let (_, stderr) = run_failing(&[
        "record", "transfer", "--server", url, "--key", &ngo_key, "--to", &clinic, "--asset", "EUR", "--amount",
        "1.001",
    ]);
    assert!(stderr.contains("3 decimals"), "{stderr}");
    assert_eq!(demo.tree_size(), size, "nothing refused was recorded");

    // A pledge nobody attests is voided once it has expired.
    let soon = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 + 1_500;
    let (_, expiring) = recorded(&run_ok(&[
        "record",
        "pledge",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount-minor",
        "700",
        "--verifier",
        "audit-verite",
        "--result",
        "never attested",
        "--expires-at-ms",
        &soon.to_string(),
    ]));
    while (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64) <= soon + 10
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    recorded(&run_ok(&["record", "pledge-void", "--server", url, "--key", &ngo_key, "--pledge", &expiring]));

    // The operator declares an asset without decimals; amounts in it are read with the log's decimals.
    let asset = format!("X{}", id.replace('-', "").chars().rev().take(10).collect::<String>()).to_uppercase();
    recorded(&run_ok(&[
        "record",
        "declare-asset",
        "--server",
        url,
        "--key",
        path(&operator),
        "--asset",
        &asset,
        "--decimals",
        "0",
        "--asset-kind",
        "fiat",
    ]));
    recorded(&run_ok(&[
        "record",
        "donation",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--donor",
        "nordic-health-fund",
        "--asset",
        &asset,
        "--amount",
        "5,000",
    ]));
    assert_eq!(demo.balance(&ngo, &asset), 5_000);
    let (_, stderr) = run_failing(&[
        "record",
        "donation",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--donor",
        "nordic-health-fund",
        "--asset",
        &asset,
        "--amount",
        "1.5",
    ]);
    assert!(stderr.contains("1 decimals but the asset has 0"), "{stderr}");
    // The NGO declares a programme, and a gift is earmarked for it.
    let programme = format!("kivu-{id}");
    recorded(&run_ok(&[
        "record",
        "declare-programme",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--programme",
        &programme,
        "--name",
        "Santé au Kivu",
        "--country",
        "CD,RW",
        "--sector",
        "12220",
    ]));
    recorded(&run_ok(&[
        "record",
        "donation",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--donor",
        "fondation-lumiere",
        "--asset",
        "EUR",
        "--amount",
        "10",
        "--earmark",
        &format!("programme:{programme}"),
    ]));

    // Key rotation: the new key signs from now on; the old one is refused, then revoked.
    let old_public_key: Value = serde_json::from_str(&run_ok(&["key", "show", &ngo_key, "--json"])).expect("JSON");
    let old_public_key = old_public_key["public_key"].as_str().expect("a public key").to_string();
    let (new_key, _) = generate_key(dir.path(), &format!("{ngo}-2"));
    recorded(&run_ok(&[
        "record",
        "key-rotation",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--as",
        &ngo,
        "--new-key-file",
        path(&new_key),
    ]));
    let (_, stderr) = run_failing(&[
        "record", "transfer", "--server", url, "--key", &ngo_key, "--to", &clinic, "--asset", "EUR", "--amount", "1",
    ]);
    assert!(stderr.contains("rejected by the server (rotated_key)"), "{stderr}");
    recorded(&run_ok(&[
        "record",
        "transfer",
        "--server",
        url,
        "--key",
        path(&new_key),
        "--as",
        &ngo,
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount",
        "1",
    ]));
    recorded(&run_ok(&[
        "record",
        "key-revocation",
        "--server",
        url,
        "--key",
        path(&new_key),
        "--as",
        &ngo,
        "--revoked-key",
        &old_public_key,
        "--reason",
        "laptop stolen",
    ]));
    let (_, stderr) = run_failing(&[
        "record", "transfer", "--server", url, "--key", &ngo_key, "--to", &clinic, "--asset", "EUR", "--amount", "1",
    ]);
    assert!(stderr.contains("rejected by the server (revoked_key)"), "{stderr}");

    // The operator rotates its own key.
    let (new_operator, _) = generate_key(dir.path(), "new-operator");
    recorded(&run_ok(&[
        "record",
        "operator-key-rotation",
        "--server",
        url,
        "--key",
        path(&operator),
        "--new-key-file",
        path(&new_operator),
    ]));
    let (_, stderr) = run_failing(&[
        "record",
        "declare-asset",
        "--server",
        url,
        "--key",
        path(&operator),
        "--asset",
        "ZZZ",
        "--decimals",
        "2",
        "--asset-kind",
        "fiat",
    ]);
    assert!(stderr.contains("rotated_key"), "{stderr}");
    recorded(&run_ok(&[
        "record",
        "declare-asset",
        "--server",
        url,
        "--key",
        path(&new_operator),
        "--as",
        server::demo::OPERATOR,
        "--asset",
        "ZZZ",
        "--decimals",
        "2",
        "--asset-kind",
        "token",
    ]));
}

// ------------------------------------------------------------------------------------------------------
// bulk
// ------------------------------------------------------------------------------------------------------

/// Minor units of the amounts the test files use.
struct Ledger {
    ngo: i128,
    clinic: i128,
}

/// A French CSV (`;`, `1 250,00`, dates day first) of 20 rows by the NGO: a donation, 11 transfers to the
/// clinic and 8 spends.
fn french_csv(ngo: &str, clinic: &str) -> (String, Ledger, Vec<(String, String)>) {
    let mut csv = String::from("Date;Type;De;À;Montant;Devise;Objet;Référence;Catégorie;Bénéficiaire;Notes\n");
    csv.push_str(&format!(
        "01/03/2026;Don;fondation-lumiere;{ngo};50 000,00;EUR;subvention annuelle;SEPA-2026-001;;;reçu\n"
    ));
    let mut totals = Ledger { ngo: 5_000_000, clinic: 0 };
    let amounts = [
        "1 250,00",
        "1.250,50",
        "1\u{202f}000,00",
        "750",
        "0,5",
        "2\u{a0}000,25",
        "99,99",
        "1 000",
        "12,3",
        "3.000",
        "10",
    ];
    let minor = [125_000, 125_050, 100_000, 75_000, 50, 200_025, 9_999, 100_000, 1_230, 300_000, 1_000];
    let mut transfers = Vec::new();
    for (n, (amount, cents)) in amounts.iter().zip(minor).enumerate() {
        let day = n + 2;
        let reference = format!("VIR-2026-{:03}", n + 2);
        csv.push_str(&format!(
            "{day:02}/03/2026;virement;{ngo};{clinic};{amount};EUR;fonds de fonctionnement;{reference};;;\n"
        ));
        totals.ngo -= cents;
        totals.clinic += cents;
        transfers.push((format!("{day:02}/03/2026"), reference));
    }
    for n in 0..8 {
        let reference = format!("DEP-2026-{:03}", n + 1);
        if n % 2 == 0 {
            csv.push_str(&format!(
                "15/03/2026;Dépense;{ngo};medipharm-kenya;1 000,00;EUR;médicaments;{reference};Médicaments;;\n"
            ));
        } else {
            csv.push_str(&format!("16/03/2026;dépense;;;250,00;€;frais;{reference};frais bancaires;dossier-{n};\n"));
        }
        totals.ngo -= if n % 2 == 0 { 100_000 } else { 25_000 };
    }
    (csv, totals, transfers)
}

/// An English CSV (`,`, `"1,250.00"`, dates month first) of 20 rows by the clinic: two acknowledgements of
/// the NGO's transfers (by the NGO's reference and date) and 18 spends.
fn english_csv(ngo: &str, transfers: &[(String, String)]) -> (String, i128) {
    let mut csv = String::from("date,type,from,to,amount,currency,purpose,reference,category,beneficiary\n");
    for (french_date, reference) in &transfers[..2] {
        let (day, month_year) = french_date.split_once('/').expect("dd/mm/yyyy");
        let (month, year) = month_year.split_once('/').expect("mm/yyyy");
        csv.push_str(&format!("{month}/{day}/{year},acknowledgement,{ngo},,,,,{reference},,\n"));
    }
    let mut spent = 0;
    for n in 0..18 {
        let (amount, cents) = match n % 3 {
            0 => ("\"1,250.00\"", 125_000),
            1 => ("12.5", 1_250),
            _ => ("\"0.99\"", 99),
        };
        let category = ["consultation", "medicine", "maternal-care"][n % 3];
        csv.push_str(&format!(
            "03/{:02}/2026,spend,,,{amount},EUR,\"care, week {n}\",CARE-{n:04},{category},patient-{n}\n",
            n + 10
        ));
        spent += cents;
    }
    (csv, spent)
}

#[test]
fn bulk_imports_french_and_english_spreadsheets() {
    let dir = TempDir::new("cli-bulk");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "ML");
    let clinic_key = register(&demo, dir.path(), &operator, &clinic, "clinic", "ML");
    let url = demo.url.as_str();

    let (french, expected, transfers) = french_csv(&ngo, &clinic);
    let french_file = dir.path().join("virements-mars.csv");
    std::fs::write(&french_file, &french).expect("writing the French CSV");
    let output = run_ok(&["bulk", path(&french_file), "--server", url, "--key", path(&ngo_key)]);
    assert!(output.contains("20 rows"), "{output}");
    assert!(output.contains("French conventions"), "{output}");
    assert!(output.contains("ignored columns: Notes"), "{output}");
    assert_eq!(summary(&output), "submitted: 20, already recorded: 0, rejected: 0, skipped (invalid): 0");
    assert_eq!(demo.balance(&ngo, "EUR") as i128, expected.ngo);
    assert_eq!(demo.balance(&clinic, "EUR") as i128, expected.clinic);
    assert_eq!(demo.authored(&ngo), 20);

    let (english, spent) = english_csv(&ngo, &transfers);
    let english_file = dir.path().join("clinic-spending.csv");
    std::fs::write(&english_file, &english).expect("writing the English CSV");
    let output =
        run_ok(&["bulk", path(&english_file), "--server", url, "--key", path(&clinic_key), "--as", &clinic, "--json"]);
    let report: Value = serde_json::from_str(&output).expect("a JSON report");
    assert_eq!(report["submitted"], 20, "{output}");
    assert_eq!(report["rejected"], 0);
    assert_eq!(demo.balance(&clinic, "EUR") as i128, expected.clinic - spent);
    let open: Value = demo.api.get_json(&format!("/api/v1/organisations/{clinic}"));
    assert_eq!(
        open["unacknowledged_transfers"].as_array().map(Vec::len),
        Some(transfers.len() - 2),
        "two acknowledged"
    );

    // Running the same files again submits nothing: with the journal, and without it (the ids are
    // deterministic, and the log already holds entries saying the same thing).
    let size = demo.tree_size();
    let output = run_ok(&["bulk", path(&french_file), "--server", url, "--key", path(&ngo_key)]);
    assert_eq!(summary(&output), "submitted: 0, already recorded: 20, rejected: 0, skipped (invalid): 0");
    std::fs::remove_file(dir.path().join("clinic-spending.csv.aidtrail-journal")).expect("the journal exists");
    let output = run_ok(&["bulk", path(&english_file), "--server", url, "--key", path(&clinic_key)]);
    assert_eq!(summary(&output), "submitted: 0, already recorded: 20, rejected: 0, skipped (invalid): 0");
    assert_eq!(demo.tree_size(), size, "nothing was recorded twice");

    // The file grows: a re-run submits only the new rows; a genuine second payment with another reference
    // on the same day is a new entry.
    let mut grown = french.clone();
    grown.push_str(&format!(
        "02/03/2026;virement;{ngo};{clinic};1 250,00;EUR;fonds de fonctionnement;VIR-2026-BIS;;;\n"
    ));
    std::fs::write(&french_file, &grown).expect("writing the grown CSV");
    let output = run_ok(&["bulk", path(&french_file), "--server", url, "--key", path(&ngo_key)]);
    assert_eq!(summary(&output), "submitted: 1, already recorded: 20, rejected: 0, skipped (invalid): 0");
    assert_eq!(demo.balance(&ngo, "EUR") as i128, expected.ngo - 125_000);

    // A row edited after it was recorded is reported, not recorded again.
    let edited = grown.replace(
        "1 250,00;EUR;fonds de fonctionnement;VIR-2026-BIS",
        "1 350,00;EUR;fonds de fonctionnement;VIR-2026-BIS",
    );
    std::fs::write(&french_file, &edited).expect("writing the edited CSV");
    let (stdout, _) = run_failing(&["bulk", path(&french_file), "--server", url, "--key", path(&ngo_key)]);
    assert!(stdout.contains("line 22: invalid: entry id"), "{stdout}");
    assert!(stdout.contains("different content"), "{stdout}");
}

#[test]
fn bulk_validates_every_row_before_submitting_any() {
    let dir = TempDir::new("cli-bulk-invalid");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "HT");
    register(&demo, dir.path(), &operator, &clinic, "clinic", "HT");
    let url = demo.url.as_str();
    let csv = format!(
        "date,type,from,to,amount,currency,purpose,reference,category\n\
         2026-04-01,donation,fondation-lumiere,{ngo},\"1,000.00\",EUR,grant,G-1,\n\
         2026-04-02,transfer,{ngo},{clinic},300,EUR,funds,T-1,\n\
         2026-04-02,transfer,{ngo},no-such-org,10,EUR,funds,T-2,\n\
         2026-04-03,transfer,{ngo},{clinic},400.00,EUR,funds,T-3,\n\
         2026-04-04,transfer,{ngo},{clinic},400.00,EUR,funds,T-4,\n\
         2026-04-05,spend,{ngo},medipharm-kenya,100,EUR,drugs,S-1,medicine\n\
         2026-04-05,spend,{ngo},,1.005,EUR,drugs,S-2,medicine\n"
    );
    let file = dir.path().join("april.csv");
    std::fs::write(&file, csv).expect("writing the CSV");
    let size = demo.tree_size();

    let (stdout, stderr) = run_failing(&["bulk", path(&file), "--server", url, "--key", path(&ngo_key)]);
    assert!(stdout.contains("line 4: invalid: to: no-such-org is not a registered organisation"), "{stdout}");
    assert!(stdout.contains("line 6: invalid: overspend"), "{stdout}");
    assert!(stdout.contains("line 8: invalid: \"1.005\" has 3 decimals"), "{stdout}");
    assert!(!stdout.contains("line 5: invalid"), "{stdout}");
    assert!(stderr.contains("3 of 7 rows are invalid; nothing was submitted"), "{stderr}");
    assert_eq!(demo.tree_size(), size, "nothing was submitted");

    let output =
        run_ok(&["bulk", path(&file), "--server", url, "--key", path(&ngo_key), "--skip-invalid", "--dry-run"]);
    assert!(output.contains("dry run: 4 rows would be submitted"), "{output}");
    assert_eq!(demo.tree_size(), size, "a dry run sends nothing");

    let output = run_ok(&["bulk", path(&file), "--server", url, "--key", path(&ngo_key), "--skip-invalid"]);
    assert_eq!(summary(&output), "submitted: 4, already recorded: 0, rejected: 0, skipped (invalid): 3");
    assert_eq!(demo.balance(&ngo, "EUR"), 100_000 - 30_000 - 40_000 - 10_000);
    assert_eq!(demo.balance(&clinic, "EUR"), 70_000);
}

#[test]
fn offline_entries_are_submitted_later_by_bulk() {
    let dir = TempDir::new("cli-offline");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "SS");
    let clinic_key = register(&demo, dir.path(), &operator, &clinic, "clinic", "SS");
    let url = demo.url.as_str();
    let size = demo.tree_size();

    let offline = dir.path().join("field-entries.jsonl");
    let origin = server::demo::DEMO_ORIGIN;
    let output = run_ok(&[
        "record",
        "donation",
        "--offline",
        path(&offline),
        "--origin",
        origin,
        "--key",
        path(&ngo_key),
        "--donor",
        "nordic-health-fund",
        "--asset",
        "EUR",
        "--amount",
        "500.00",
        "--decimals",
        "2",
    ]);
    assert!(output.contains("(not sent)"), "{output}");
    run_ok(&[
        "record",
        "transfer",
        "--offline",
        path(&offline),
        "--origin",
        origin,
        "--key",
        path(&ngo_key),
        "--to",
        &clinic,
        "--asset",
        "EUR",
        "--amount",
        "200",
        "--decimals",
        "2",
    ]);
    let output = run_ok(&[
        "record",
        "spend",
        "--offline",
        path(&offline),
        "--origin",
        origin,
        "--key",
        path(&clinic_key),
        "--asset",
        "EUR",
        "--amount-minor",
        "1500",
        "--category",
        "consultation",
        "--new-beneficiary",
    ]);
    assert!(output.contains("beneficiary salt: "), "{output}");
    assert_eq!(std::fs::read_to_string(&offline).unwrap().lines().count(), 3);
    assert_eq!(demo.tree_size(), size, "offline recording sends nothing");

    let output = run_ok(&["bulk", path(&offline), "--server", url]);
    assert_eq!(summary(&output), "submitted: 3, already recorded: 0, rejected: 0, skipped (invalid): 0");
    assert_eq!(demo.balance(&ngo, "EUR"), 30_000);
    assert_eq!(demo.balance(&clinic, "EUR"), 20_000 - 1_500);
    let output = run_ok(&["bulk", path(&offline), "--server", url]);
    assert_eq!(summary(&output), "submitted: 0, already recorded: 3, rejected: 0, skipped (invalid): 0");
    assert_eq!(demo.tree_size(), size + 3);

    // Entries signed for another log are refused before anything is sent.
    let elsewhere = dir.path().join("elsewhere.jsonl");
    run_ok(&[
        "record",
        "donation",
        "--offline",
        path(&elsewhere),
        "--origin",
        "other.example/log",
        "--key",
        path(&ngo_key),
        "--donor",
        "nordic-health-fund",
        "--asset",
        "EUR",
        "--amount-minor",
        "100",
    ]);
    let (stdout, _) = run_failing(&["bulk", path(&elsewhere), "--server", url]);
    assert!(stdout.contains("line 1: invalid: the signed entry is not valid for the log"), "{stdout}");
}

// ------------------------------------------------------------------------------------------------------
// A flaky server.
// ------------------------------------------------------------------------------------------------------

/// What the proxy does wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Drops every third connection, delays the others, and loses the answer to the first batch
    /// submission after the server has processed it.
    Flaky,
    /// Never forwards a batch submission: the connection hangs (a server that stopped answering).
    HoldBatches,
    /// Forwards every single-entry submission and loses each answer once the server has processed it.
    LoseSubmissionAnswers,
}

/// A TCP proxy in front of the server.
pub(crate) struct FlakyProxy {
    pub(crate) addr: SocketAddr,
    dropped: Arc<AtomicUsize>,
    /// Batch answers lost (`Flaky`), batch requests held (`HoldBatches`) or submission answers lost
    /// (`LoseSubmissionAnswers`).
    pub(crate) answers_lost: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl FlakyProxy {
    pub(crate) fn start(upstream: SocketAddr, fault: Fault) -> FlakyProxy {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("binding the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let dropped = Arc::new(AtomicUsize::new(0));
        let answers_lost = Arc::new(AtomicUsize::new(0));
        let lost_once = Arc::new(AtomicBool::new(false));
        let (dropped_counter, lost_counter) = (dropped.clone(), answers_lost.clone());
        runtime.spawn(async move {
            let mut connections = 0usize;
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                connections += 1;
                if fault == Fault::Flaky && connections.is_multiple_of(3) {
                    dropped_counter.fetch_add(1, Ordering::Relaxed);
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, upstream, fault, lost_once.clone(), lost_counter.clone()));
            }
        });
        FlakyProxy { addr, dropped, answers_lost, _runtime: runtime }
    }
}

async fn forward(
    client: tokio::net::TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    lost_once: Arc<AtomicBool>,
    lost: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if fault == Fault::Flaky {
        tokio::time::sleep(Duration::from_millis(150)).await; // a slow server
    }
    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else { return };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let swallow = Arc::new(AtomicBool::new(false));
    let swallow_up = swallow.clone();
    let up = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let batch = buffer[..read].windows(26).any(|window| window == b"POST /api/v1/entries/batch");
            if batch && fault == Fault::HoldBatches {
                lost.fetch_add(1, Ordering::Relaxed);
                std::future::pending::<()>().await;
            }
            let single = buffer[..read].windows(26).any(|window| window == b"POST /api/v1/entries HTTP/");
            if single && fault == Fault::LoseSubmissionAnswers {
                swallow_up.store(true, Ordering::SeqCst);
                lost.fetch_add(1, Ordering::Relaxed);
            }
            if batch && fault == Fault::Flaky && !lost_once.swap(true, Ordering::SeqCst) {
                swallow_up.store(true, Ordering::SeqCst);
                lost.fetch_add(1, Ordering::Relaxed);
            }
            if server_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
    };
    let down = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            if swallow.load(Ordering::SeqCst) {
                break; // the server did the work; its answer is lost with the connection
            }
            if client_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

#[test]
fn bulk_completes_through_a_flaky_server() {
    let dir = TempDir::new("cli-flaky");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "NE");
    register(&demo, dir.path(), &operator, &clinic, "clinic", "NE");
    let upstream: SocketAddr =
        demo.url.trim_start_matches("http://").trim_end_matches('/').parse().expect("the demo's address");
    let proxy = FlakyProxy::start(upstream, Fault::Flaky);
    let proxy_url = format!("http://{}/", proxy.addr);

    let (french, expected, _) = french_csv(&ngo, &clinic);
    let file = dir.path().join("flaky.csv");
    std::fs::write(&file, french).expect("writing the CSV");
    let size = demo.tree_size();
    let output = run_ok(&["bulk", path(&file), "--server", &proxy_url, "--key", path(&ngo_key)]);
    assert_eq!(summary(&output), "submitted: 20, already recorded: 0, rejected: 0, skipped (invalid): 0");
    assert!(proxy.dropped.load(Ordering::Relaxed) >= 1, "the proxy dropped connections");
    assert_eq!(proxy.answers_lost.load(Ordering::Relaxed), 1, "the first batch's answer was lost and the batch resent");
    assert_eq!(demo.tree_size(), size + 20, "every row recorded exactly once");
    assert_eq!(demo.balance(&ngo, "EUR") as i128, expected.ngo);
    assert_eq!(demo.authored(&ngo), 20);

    let output = run_ok(&["bulk", path(&file), "--server", &proxy_url, "--key", path(&ngo_key)]);
    assert_eq!(summary(&output), "submitted: 0, already recorded: 20, rejected: 0, skipped (invalid): 0");
}

#[test]
fn bulk_resumes_from_its_journal_after_an_interruption() {
    let dir = TempDir::new("cli-resume");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "CD");
    register(&demo, dir.path(), &operator, &clinic, "clinic", "CD");
    let upstream: SocketAddr =
        demo.url.trim_start_matches("http://").trim_end_matches('/').parse().expect("the demo's address");
    let proxy = FlakyProxy::start(upstream, Fault::HoldBatches);
    let (french, expected, _) = french_csv(&ngo, &clinic);
    let file = dir.path().join("interrupted.csv");
    std::fs::write(&file, french).expect("writing the CSV");
    let journal = dir.path().join("interrupted.csv.aidtrail-journal");
    let size = demo.tree_size();

    // The first run signs every row, writes the journal, sends the batch... and the server never answers:
    // the run is interrupted (killed) while it waits.
    let mut first = Command::new(aidtrail_binary())
        .args(["bulk", path(&file), "--server", &format!("http://{}/", proxy.addr), "--key", path(&ngo_key)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting aidtrail bulk");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while proxy.answers_lost.load(Ordering::Relaxed) == 0 {
        assert!(std::time::Instant::now() < deadline, "the batch never reached the proxy");
        assert!(first.try_wait().expect("polling").is_none(), "aidtrail bulk ended before sending its batch");
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().expect("interrupting aidtrail bulk");
    first.wait().expect("reaping aidtrail bulk");
    assert_eq!(demo.tree_size(), size, "the held batch never reached the server");
    let signed_in_journal: Vec<String> = std::fs::read_to_string(&journal)
        .expect("the journal was written before sending")
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a journal line"))
        .filter_map(|record| record["signed_entry"].as_str().map(str::to_string))
        .collect();
    assert_eq!(signed_in_journal.len(), 20);

    // The re-run (the server answers now) sends exactly the bytes the journal holds.
    let output = run_ok(&["bulk", path(&file), "--server", &demo.url, "--key", path(&ngo_key)]);
    assert_eq!(summary(&output), "submitted: 20, already recorded: 0, rejected: 0, skipped (invalid): 0");
    for signed in &signed_in_journal {
        let leaf = ledger::SignedEntry::decode(&hex::decode(signed).unwrap()).unwrap();
        let stored: Value = demo.api.get_json(&format!("/api/v1/entries/by-id/{}", leaf.entry().entry_id));
        assert_eq!(stored["leaf"], signed.as_str(), "the journal's signed entry was resent byte for byte");
    }
    assert_eq!(demo.balance(&ngo, "EUR") as i128, expected.ngo);
    let output = run_ok(&["bulk", path(&file), "--server", &demo.url, "--key", path(&ngo_key)]);
    assert_eq!(summary(&output), "submitted: 0, already recorded: 20, rejected: 0, skipped (invalid): 0");
}

// ------------------------------------------------------------------------------------------------------
// record: conversions, refunds, vouchers and sign-offs
// ------------------------------------------------------------------------------------------------------

/// An RFC 3339 time (`2026-03-02T10:15:30Z`) from milliseconds since 1970.
pub(crate) fn rfc3339(ms: u64) -> String {
    let date = ledger::Date::from_timestamp_ms(ms);
    let seconds = ms / 1000 % 86_400;
    format!("{date}T{:02}:{:02}:{:02}Z", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as u64
}

#[test]
fn record_a_conversion_a_refund_a_voucher_cycle_and_a_sign_off() {
    let dir = TempDir::new("cli-field");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic, supplier) = (format!("ngo-{id}"), format!("clinic-{id}"), format!("bank-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "CD");
    let clinic_key = register(&demo, dir.path(), &operator, &clinic, "clinic", "CD");
    register(&demo, dir.path(), &operator, &supplier, "supplier", "CD");
    let auditor_key = demo_key_file(dir.path(), "audit-verite");
    let url = demo.url.as_str();
    let (ngo_key, clinic_key, auditor_key) =
        (path(&ngo_key).to_string(), path(&clinic_key).to_string(), path(&auditor_key).to_string());
    let programme = format!("vouchers-{id}");
    recorded(&run_ok(&[
        "record",
        "declare-programme",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--programme",
        &programme,
        "--name",
        "Consultations for displaced families",
        "--country",
        "CD",
        "--sector",
        "12220",
    ]));
    let output = run_ok(&[
        "record",
        "donation",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--donor",
        "fondation-lumiere",
        "--asset",
        "EUR",
        "--amount",
        "10,000.00",
    ]);
    let (_, donation) = recorded(&output);

    // A conversion whose --to-amount disagrees with the rate is refused before anything is sent.
    let conversion = |to_amount: &str| {
        vec![
            "record".to_string(),
            "conversion".into(),
            "--server".into(),
            url.into(),
            "--key".into(),
            ngo_key.clone(),
            "--from-asset".into(),
            "EUR".into(),
            "--amount".into(),
            "1,000.00".into(),
            "--to-asset".into(),
            "USDC".into(),
            "--rate".into(),
            "1.0835".into(),
            "--rate-source".into(),
            "ECB euro reference rate".into(),
            "--to-amount".into(),
            to_amount.into(),
        ]
    };
    let size = demo.tree_size();
    let refused = conversion("1083.40");
    let (_, stderr) = run_failing(&refused.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(stderr.contains("does not agree with the rate") && stderr.contains("1,083.500000 USDC"), "{stderr}");
    assert_eq!(demo.tree_size(), size, "nothing was sent");
    // The CLI computes the amount obtained with the ledger's rounding rule; a --to-amount that agrees passes.
    let output = run_ok(&conversion("1083.50").iter().map(String::as_str).collect::<Vec<_>>());
    recorded(&output);
    assert_eq!(field_after(&output, "converted: "), "1,000.00 EUR into 1,083.500000 USDC");
    assert_eq!(demo.balance(&ngo, "EUR"), 900_000);
    assert_eq!(demo.balance(&ngo, "USDC"), 1_083_500_000);

    // A refund of part of the gift, and bank fees paid from it.
    let refund = [
        "record",
        "refund",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--donation",
        &donation,
        "--asset",
        "EUR",
        "--amount",
        "500.00",
        "--reason",
        "Programme scaled down",
    ];
    recorded(&run_ok(&refund));
    assert_eq!(demo.balance(&ngo, "EUR"), 850_000);
    let (_, stderr) = run_failing(&[
        "record",
        "refund",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--donation",
        &donation,
        "--asset",
        "EUR",
        "--amount",
        "1.005",
        "--reason",
        "x",
    ]);
    assert!(stderr.contains("--amount"), "{stderr}");
    recorded(&run_ok(&[
        "record",
        "spend",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--asset",
        "EUR",
        "--amount",
        "100.00",
        "--category",
        "bank-fees",
        "--supplier",
        &supplier,
    ]));

    // Four vouchers of 25.00 EUR at the clinic, expiring in a few seconds.
    let vouchers_file = dir.path().join("vouchers.txt");
    let expires_at_ms = now_ms() + 12_000;
    let expires = rfc3339(expires_at_ms);
    let issue_args = [
        "record",
        "voucher-issue",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--programme",
        &programme,
        "--asset",
        "EUR",
        "--face-value",
        "25.00",
        "--category",
        "consultation",
        "--clinic",
        &clinic,
        "--count",
        "4",
        "--vouchers-out",
        path(&vouchers_file),
        "--expires",
        &expires,
    ];
    let output = run_ok(&issue_args);
    let (_, issue) = recorded(&output);
    let printed: Vec<String> =
        output.lines().skip_while(|line| !line.starts_with("vouchers (4):")).skip(1).map(str::to_string).collect();
    let written: Vec<String> = std::fs::read_to_string(&vouchers_file).unwrap().lines().map(str::to_string).collect();
    assert_eq!(printed, written, "{output}");
    assert_eq!(written.len(), 4);
    assert!(written.windows(2).all(|pair| pair[0] < pair[1]) && written.iter().all(|id| id.len() == 32));
    assert_eq!(demo.balance(&ngo, "EUR"), 830_000, "the face value is reserved");
    let (_, stderr) = run_failing(&issue_args);
    assert!(stderr.contains("--vouchers-out") && stderr.contains("not overwritten"), "{stderr}");

    // The clinic redeems two; settling the whole file is refused (two are not redeemed), the two are settled.
    let evidence = dir.path().join("consultation.pdf");
    std::fs::write(&evidence, b"consultation record").unwrap();
    recorded(&run_ok(&[
        "record",
        "voucher-redeem",
        "--server",
        url,
        "--key",
        &clinic_key,
        "--voucher",
        &written[0],
        "--evidence-file",
        path(&evidence),
    ]));
    recorded(&run_ok(&["record", "voucher-redeem", "--server", url, "--key", &clinic_key, "--voucher", &written[1]]));
    let (_, stderr) = run_failing(&[
        "record",
        "voucher-settle",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--clinic",
        &clinic,
        "--vouchers-file",
        path(&vouchers_file),
    ]);
    assert!(stderr.contains("rejected by the server (voucher_wrong_status)"), "{stderr}");
    recorded(&run_ok(&[
        "record",
        "voucher-settle",
        "--server",
        url,
        "--key",
        &ngo_key,
        "--clinic",
        &clinic,
        "--voucher",
        &written[1],
        "--voucher",
        &written[0],
    ]));
    let (_, stderr) = run_failing(&["record", "voucher-expire", "--server", url, "--key", &ngo_key, "--issue", &issue]);
    assert!(stderr.contains("rejected by the server (vouchers_not_expired)"), "{stderr}");
    while now_ms() <= expires_at_ms + 100 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, stderr) =
        run_failing(&["record", "voucher-redeem", "--server", url, "--key", &clinic_key, "--voucher", &written[2]]);
    assert!(stderr.contains("rejected by the server (voucher_expired)"), "{stderr}");
    recorded(&run_ok(&["record", "voucher-expire", "--server", url, "--key", &ngo_key, "--issue", &issue]));
    assert_eq!(demo.balance(&ngo, "EUR"), 835_000, "the unused vouchers' reserve came back");

    // The auditor signs off the NGO's accounts as the log holds them now; a period ending before it starts
    // is refused locally.
    let report = dir.path().join("audit-report.pdf");
    std::fs::write(&report, b"audit report").unwrap();
    let (_, stderr) = run_failing(&[
        "record",
        "sign-off",
        "--server",
        url,
        "--key",
        &auditor_key,
        "--organisation",
        &ngo,
        "--from",
        "2026-04-01",
        "--to",
        "2026-03-31",
        "--report",
        path(&report),
        "--opinion",
        "unqualified",
    ]);
    assert!(stderr.contains("before it starts"), "{stderr}");
    let size = demo.tree_size();
    let (sign_off_index, _) = recorded(&run_ok(&[
        "record",
        "sign-off",
        "--server",
        url,
        "--key",
        &auditor_key,
        "--organisation",
        &ngo,
        "--from",
        "2026-01-01",
        "--to",
        "2026-03-31",
        "--report",
        path(&report),
        "--opinion",
        "unqualified",
    ]));

    // What the API says.
    let sign_offs: Value = demo.api.get_json(&format!("/api/v1/organisations/{ngo}/sign-offs"));
    let sign_offs = sign_offs["sign_offs"].as_array().expect("sign-offs").clone();
    assert_eq!(sign_offs.len(), 1);
    assert_eq!(sign_offs[0]["entry_index"].as_u64(), Some(sign_off_index));
    assert_eq!(sign_offs[0]["tree_size"].as_u64(), Some(size));
    use sha2::Digest as _;
    assert_eq!(sign_offs[0]["report"], hex::encode(sha2::Sha256::digest(b"audit report")));
    let issues: Value = demo.api.get_json(&format!("/api/v1/vouchers/issues?organisation={clinic}"));
    let issues = issues["issues"].as_array().expect("issues").clone();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["entry_id"], issue.as_str());
    assert_eq!(
        ["issued", "redeemed", "settled", "expired"].map(|status| issues[0][status].as_u64().unwrap()),
        [4, 2, 2, 2]
    );
    assert_eq!(issues[0]["reserved"], "0");
    let programmes: Value = demo.api.get_json("/api/v1/vouchers/programmes");
    let totals = programmes["programmes"]
        .as_array()
        .expect("programmes")
        .iter()
        .find(|totals| totals["programme"] == programme.as_str())
        .expect("the programme's totals")
        .clone();
    assert_eq!(
        ["issued_value", "redeemed_value", "settled_value", "expired_value"].map(|value| totals[value].clone()),
        ["10000", "5000", "5000", "5000"].map(Value::from)
    );
    for (voucher, status) in written.iter().zip(["settled", "settled", "expired", "expired"]) {
        let view: Value = demo.api.get_json(&format!("/api/v1/vouchers/{voucher}"));
        assert_eq!(view["status"], status, "{voucher}");
    }
    let (status, _) = demo.api.get(&format!("/api/v1/vouchers/{}", "0".repeat(32))).unwrap();
    assert_eq!(status, 404);

    // The donation's trace shows the conversion, the vouchers and the share of bank fees.
    let output = run_ok(&["trace", url, &donation, "--key", &demo.verifier_key]);
    assert!(output.contains("conversion #") && output.contains("1,000.00 EUR into 1,083.500000 USDC"), "{output}");
    assert!(output.contains("voucher_issue #") && output.contains("vouchers of issue"), "{output}");
    assert!(output.contains("voucher_settlement #") && output.contains("voucher_expiry #"), "{output}");
    assert!(output.contains("refund #"), "{output}");
    assert!(output.contains("administration and bank fees: 100.00 EUR (1.0% of the gift)"), "{output}");
    assert!(!output.contains('✗'), "every entry is proven: {output}");

    // The same kinds through `aidtrail bulk`: JSON lines of entry bodies, amounts in minor units.
    // 83.500000 USDC at 0.9229 is 77.06215 EUR, which rounds to 77.06.
    let lines = [
        r#"{"reference": "FX-2", "body": {"kind": "conversion", "from_asset": "USDC", "from_amount": "83500000", "to_asset": "EUR", "to_amount": "7706", "rate": "0.9229", "rate_source": "Bitstamp fill", "value_date": "2026-03-02"}}"#.to_string(),
        format!(
            r#"{{"reference": "RF-2", "body": {{"kind": "refund", "donation": "{donation}", "asset": "EUR", "amount": "10000", "value_date": "2026-03-02", "reason": "Second instalment returned"}}}}"#
        ),
    ];
    let jsonl = dir.path().join("field.jsonl");
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();
    let output = run_ok(&["bulk", path(&jsonl), "--server", url, "--key", &ngo_key]);
    assert_eq!(summary(&output), "submitted: 2, already recorded: 0, rejected: 0, skipped (invalid): 0");
    assert_eq!(demo.balance(&ngo, "EUR"), 835_000 + 7_706 - 10_000);
    assert_eq!(demo.balance(&ngo, "USDC"), 1_000_000_000);
    let output = run_ok(&["bulk", path(&jsonl), "--server", url, "--key", &ngo_key]);
    assert_eq!(summary(&output), "submitted: 0, already recorded: 2, rejected: 0, skipped (invalid): 0");
    // A refund beyond what the NGO holds is found before anything is sent.
    let too_much = dir.path().join("too-much.jsonl");
    std::fs::write(&too_much, lines[1].replace("RF-2", "RF-3").replace(r#""10000""#, r#""90000000""#)).unwrap();
    let size = demo.tree_size();
    let (stdout, _) = run_failing(&["bulk", path(&too_much), "--server", url, "--key", &ngo_key]);
    assert!(stdout.contains("overspend"), "{stdout}");
    assert_eq!(demo.tree_size(), size);
}
