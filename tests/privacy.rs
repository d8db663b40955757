//! Private data and erasure through the real binary: a clinic records spends for people of its private store,
//! erases one of them, and then (a) the whole log still verifies and holds the tombstone, and (b) nothing
//! that identified the person (identifier, name, salts, pseudonym) survives in the private store's file,
//! the log's database and its WAL, or the API's answers. And the public last-mile aggregates suppress cells
//! of fewer than k beneficiary spends, with k set by `aidtrail serve --k-anonymity`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::cli_record::{
    Demo, Fault, FlakyProxy, demo_key_file, generate_key, now_ms, path, recorded, register, rfc3339, run_failing,
    run_ok, suffix,
};
use crate::harness::{Api, TempDir, aidtrail_binary};

/// Gives `ngo` 1,000.00 EUR and transfers `amount` to the clinic, acknowledged.
fn fund_clinic(demo: &Demo, ngo_key: &Path, clinic: &str, clinic_key: &Path, amount: &str) {
    let url = demo.url.as_str();
    recorded(&run_ok(&[
        "record",
        "donation",
        "--server",
        url,
        "--key",
        path(ngo_key),
        "--donor",
        "fondation-lumiere",
        "--asset",
        "EUR",
        "--amount",
        "1000.00",
        "--value-date",
        "2026-03-01",
    ]));
    let (_, transfer) = recorded(&run_ok(&[
        "record",
        "transfer",
        "--server",
        url,
        "--key",
        path(ngo_key),
        "--to",
        clinic,
        "--asset",
        "EUR",
        "--amount",
        amount,
        "--value-date",
        "2026-03-02",
    ]));
    recorded(&run_ok(&[
        "record",
        "acknowledgement",
        "--server",
        url,
        "--key",
        path(clinic_key),
        "--transfer",
        &transfer,
    ]));
}

/// `aidtrail record spend` to a person of the private store; returns the log index.
fn spend_to(demo: &Demo, clinic_key: &Path, store: &Path, person: &str, programme: Option<&str>, day: &str) -> u64 {
    let mut args = vec![
        "record",
        "spend",
        "--server",
        &demo.url,
        "--key",
        path(clinic_key),
        "--asset",
        "EUR",
        "--amount",
        "12.50",
        "--category",
        "consultation",
        "--value-date",
        day,
        "--beneficiary",
        person,
        "--private-store",
        path(store),
    ];
    if let Some(programme) = programme {
        args.extend(["--programme", programme]);
    }
    let output = run_ok(&args);
    assert!(output.contains(&format!("linked to {person} in the private store")), "{output}");
    assert!(!output.contains("salt"), "the salt stays in the private store: {output}");
    recorded(&output).0
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// Every byte string that would link a commitment to the person: the identifier, the name, and each salt
/// and pseudonym, raw and in hex.
fn secrets(person: &str, name: &str, links: &Value) -> Vec<(String, Vec<u8>)> {
    let mut secrets = vec![
        (format!("identifier {person}"), person.as_bytes().to_vec()),
        (format!("name {name}"), name.as_bytes().to_vec()),
    ];
    for link in links["spends"].as_array().expect("spends") {
        for field in ["salt", "pseudonym"] {
            let text = link[field].as_str().expect("hex");
            secrets.push((format!("{field} {text} (hex)"), text.as_bytes().to_vec()));
            secrets.push((format!("{field} {text} (bytes)"), hex::decode(text).expect("hex")));
        }
    }
    secrets
}

fn assert_absent(what: &str, bytes: &[u8], secrets: &[(String, Vec<u8>)]) {
    for (name, secret) in secrets {
        assert!(!contains(bytes, secret), "{what} still holds the {name}");
    }
}

#[test]
fn erasing_a_beneficiary_keeps_the_log_verifiable_and_leaves_nothing_that_links_them() {
    let dir = TempDir::new("privacy-erasure");
    let demo = Demo::start(dir.path());
    let url = demo.url.clone();
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "CD");
    let clinic_key = register(&demo, dir.path(), &operator, &clinic, "clinic", "CD");
    fund_clinic(&demo, &ngo_key, &clinic, &clinic_key, "500.00");

    let store = dir.path().join("clinic-private.db");
    run_ok(&["private", "init", "--store", path(&store)]);
    let (_, error) = run_failing(&["private", "init", "--store", path(&store)]);
    assert!(error.contains("already exists"), "{error}");
    let (person, name) = ("CG-PRIV-7781", "Amani Zawadi");
    let (other, other_name) = ("CG-PRIV-7782", "Baraka Imani");
    run_ok(&["private", "person", "add", "--store", path(&store), person, "--name", name]);
    run_ok(&["private", "person", "add", "--store", path(&store), other, "--name", other_name]);
    let (_, error) = run_failing(&["private", "person", "add", "--store", path(&store), person]);
    assert!(error.contains("already in the private store"), "{error}");

    // Three spends for the person (two in one programme, one without) and one for someone else.
    let programme = "kivu-primary-health";
    let spends = [
        spend_to(&demo, &clinic_key, &store, person, Some(programme), "2026-03-03"),
        spend_to(&demo, &clinic_key, &store, person, Some(programme), "2026-03-10"),
        spend_to(&demo, &clinic_key, &store, person, None, "2026-03-11"),
    ];
    let kept = spend_to(&demo, &clinic_key, &store, other, Some(programme), "2026-03-12");
    // A person the store does not know: refused before anything is signed.
    let size = demo.tree_size();
    let (_, error) = run_failing(&[
        "record",
        "spend",
        "--server",
        &url,
        "--key",
        path(&clinic_key),
        "--asset",
        "EUR",
        "--amount",
        "1",
        "--category",
        "medicine",
        "--beneficiary",
        "CG-NOBODY",
        "--private-store",
        path(&store),
    ]);
    assert!(error.contains("not in the private store"), "{error}");
    assert_eq!(demo.tree_size(), size, "nothing was recorded");

    // The clinic sees the person's spends; one pseudonym per programme; every commitment is the spend's.
    let links: Value =
        serde_json::from_str(&run_ok(&["private", "links", "--store", path(&store), person, "--json"])).expect("JSON");
    let listed = links["spends"].as_array().expect("spends");
    assert_eq!(listed.iter().map(|link| link["log_index"].as_u64().unwrap()).collect::<Vec<_>>(), spends.to_vec());
    assert_eq!(listed[0]["pseudonym"], listed[1]["pseudonym"]);
    assert_ne!(listed[0]["pseudonym"], listed[2]["pseudonym"]);
    let mut commitments = Vec::new();
    for (link, index) in listed.iter().zip(spends) {
        let entry: Value = demo.api.get_json(&format!("/api/v1/entries/{index}"));
        assert_eq!(entry["entry"]["body"]["recipient"]["beneficiary"], link["commitment"]);
        commitments.push(link["commitment"].as_str().unwrap().to_string());
    }
    let person_secrets = secrets(person, name, &links);
    let other_links: Value =
        serde_json::from_str(&run_ok(&["private", "links", "--store", path(&store), other, "--json"])).expect("JSON");
    let other_secrets = secrets(other, other_name, &other_links);
    // Before the erasure the store holds them: the search below can find what it looks for.
    let before = std::fs::read(&store).expect("the private store");
    for (name, secret) in &person_secrets {
        assert!(contains(&before, secret) || name.contains("(hex)"), "the store should hold the {name}");
    }

    // Bad erasures: an unknown person; another organisation's key; no change to the log.
    let (_, error) = run_failing(&[
        "private",
        "erase",
        "--store",
        path(&store),
        "CG-NOBODY",
        "--server",
        &url,
        "--key",
        path(&clinic_key),
    ]);
    assert!(error.contains("not in the private store"), "{error}");
    let (_, error) =
        run_failing(&["private", "erase", "--store", path(&store), person, "--server", &url, "--key", path(&ngo_key)]);
    assert!(error.contains("each organisation erases with its own key"), "{error}");
    let (_, error) = run_failing(&[
        "private",
        "erase",
        "--store",
        path(&store),
        person,
        "--server",
        &url,
        "--key",
        path(&clinic_key),
        "--reason",
        "because",
    ]);
    assert!(error.contains("erasure reason"), "{error}");
    assert_eq!(demo.tree_size(), size);

    // A tombstone the log refuses (signed with a key rotated out) erases nothing and leaves nothing pending.
    let new_dir = dir.path().join("new-key");
    std::fs::create_dir_all(&new_dir).unwrap();
    let (new_key, _) = generate_key(&new_dir, &clinic);
    recorded(&run_ok(&[
        "record",
        "key-rotation",
        "--server",
        &url,
        "--key",
        path(&clinic_key),
        "--new-key-file",
        path(&new_key),
    ]));
    let size = demo.tree_size();
    let (_, error) = run_failing(&[
        "private",
        "erase",
        "--store",
        path(&store),
        person,
        "--server",
        &url,
        "--key",
        path(&clinic_key),
    ]);
    assert!(error.contains("rotated_key") && error.contains("nothing of"), "{error}");
    assert_eq!(demo.tree_size(), size);
    let still: Value =
        serde_json::from_str(&run_ok(&["private", "links", "--store", path(&store), person, "--json"])).unwrap();
    assert_eq!(still, links, "the refused erasure changed nothing in the store");

    // The erasure: a tombstone in the log, then the data gone.
    let output = run_ok(&[
        "private",
        "erase",
        "--store",
        path(&store),
        person,
        "--server",
        &url,
        "--key",
        path(&new_key),
        "--json",
    ]);
    let report: Value = serde_json::from_str(output.trim()).expect("JSON");
    assert_eq!(report["status"], "erased");
    assert_eq!(report["count"], 3);
    assert_eq!(report["links_deleted"], 3);
    let tombstone_index = report["index"].as_u64().expect("an index");
    assert_eq!(demo.tree_size(), size + 1);

    // (a) The whole log verifies, and the tombstone is in it, naming no commitment.
    let verified = run_ok(&[
        "verify",
        &url,
        "--key",
        &demo.verifier_key,
        "--state",
        path(&dir.path().join("verify.state")),
        "--json",
    ]);
    let verified: Value = serde_json::from_str(verified.trim()).expect("JSON");
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["entries_verified"].as_u64(), Some(size + 1), "{verified}");
    let tombstone: Value = demo.api.get_json(&format!("/api/v1/entries/{tombstone_index}"));
    assert_eq!(tombstone["kind"], "erasure");
    assert_eq!(tombstone["author"], clinic.as_str());
    assert_eq!(tombstone["entry"]["body"]["count"], 3);
    assert_eq!(tombstone["entry"]["body"]["reason"], "data_subject_request");
    assert!(
        tombstone["summary"].as_str().unwrap().contains("erased the beneficiary data behind 3 spends"),
        "{tombstone}"
    );
    assert!(tombstone["leaf"].as_str().unwrap().starts_with("00"), "a leaf");
    let tombstone_text = tombstone.to_string();
    for commitment in &commitments {
        assert!(!tombstone_text.contains(commitment.as_str()), "the tombstone names a commitment");
    }
    let last_mile: Value = demo.api.get_json("/api/v1/last-mile?asset=EUR");
    let summary = last_mile["organisations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["organisation"] == clinic.as_str())
        .cloned();
    assert_eq!(
        summary,
        Some(serde_json::json!({"organisation": clinic, "beneficiary_commitments": 4, "erased": 3, "erasures": 1}))
    );
    // The person is gone from the store; the other person is not.
    let (_, error) = run_failing(&["private", "links", "--store", path(&store), person]);
    assert!(error.contains("not in the private store"), "{error}");
    let listed: Value =
        serde_json::from_str(&run_ok(&["private", "links", "--store", path(&store), other, "--json"])).unwrap();
    assert_eq!(listed["spends"][0]["log_index"].as_u64(), Some(kept));

    // (b) Nothing links the commitments to the person any more: not the private store's file, not the
    // log's database or its WAL, not the API.
    let after = std::fs::read(&store).expect("the private store");
    assert_absent("the private store", &after, &person_secrets);
    for (name, secret) in &other_secrets {
        assert!(contains(&after, secret) || name.contains("(hex)"), "the other person's {name} was lost");
    }
    let leftovers: Vec<String> = std::fs::read_dir(store.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("clinic-private.db") && name != "clinic-private.db")
        .collect();
    assert!(leftovers.is_empty(), "the private store left {leftovers:?} behind");
    let data = dir.path().join("demo-data");
    for file in ["aidtrail.db", "aidtrail.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(file)) {
            assert_absent(file, &bytes, &person_secrets);
            assert_absent(file, &bytes, &other_secrets);
        }
    }
    let mut answers = Vec::new();
    for index in spends.iter().chain([&kept, &tombstone_index]) {
        answers.push(demo.api.get_ok(&format!("/api/v1/entries/{index}")));
    }
    for query in [
        format!("/api/v1/entries?author={clinic}&limit=500"),
        format!("/api/v1/organisations/{clinic}"),
        "/api/v1/last-mile?asset=EUR".to_string(),
        "/api/v1/last-mile?asset=EUR&period=week".to_string(),
        format!("/api/v1/entries.csv?author={clinic}"),
    ] {
        answers.push(demo.api.get_ok(&query));
    }
    for (position, answer) in answers.iter().enumerate() {
        assert_absent(&format!("API answer {position}"), answer, &person_secrets);
    }

    // A second erasure of the same person is refused: the store no longer knows them.
    let (_, error) =
        run_failing(&["private", "erase", "--store", path(&store), person, "--server", &url, "--key", path(&new_key)]);
    assert!(error.contains("not in the private store"), "{error}");
}

#[test]
fn voucher_holders_live_in_the_private_store_and_erasure_removes_them() {
    let dir = TempDir::new("privacy-vouchers");
    let demo = Demo::start(dir.path());
    let url = demo.url.clone();
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "CD");
    let clinic_key = register(&demo, dir.path(), &operator, &clinic, "clinic", "CD");
    fund_clinic(&demo, &ngo_key, &clinic, &clinic_key, "100.00");
    let programme = format!("vouchers-{id}");
    recorded(&run_ok(&[
        "record",
        "declare-programme",
        "--server",
        &url,
        "--key",
        path(&ngo_key),
        "--programme",
        &programme,
        "--name",
        "Consultations for displaced families",
        "--country",
        "CD",
        "--sector",
        "12220",
    ]));
    let vouchers_file = dir.path().join("vouchers.txt");
    let expires = rfc3339(now_ms() + 7 * 86_400_000);
    let (_, issue) = recorded(&run_ok(&[
        "record",
        "voucher-issue",
        "--server",
        &url,
        "--key",
        path(&ngo_key),
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
    ]));
    let vouchers: Vec<String> = std::fs::read_to_string(&vouchers_file).unwrap().lines().map(str::to_string).collect();
    assert_eq!(vouchers.len(), 4);
    // One voucher is redeemed before it is handed out (a distribution that went wrong).
    recorded(&run_ok(&[
        "record",
        "voucher-redeem",
        "--server",
        &url,
        "--key",
        path(&clinic_key),
        "--voucher",
        &vouchers[3],
    ]));

    // The NGO's private store: two people; the NGO hands out three vouchers and pays one of them directly.
    let store = dir.path().join("ngo-private.db");
    run_ok(&["private", "init", "--store", path(&store)]);
    let (person, name) = ("KV-2026-0101", "Neema Furaha");
    let other = "KV-2026-0102";
    run_ok(&["private", "person", "add", "--store", path(&store), person, "--name", name]);
    run_ok(&["private", "person", "add", "--store", path(&store), other]);
    let output =
        run_ok(&["private", "voucher", "give", "--store", path(&store), "--server", &url, &vouchers[0], person]);
    assert!(output.contains("recorded 1 voucher holder"), "{output}");
    let distribution = dir.path().join("distribution.csv");
    std::fs::write(&distribution, format!("voucher,person\n{},{person}\n{} , {other}\n", vouchers[1], vouchers[2]))
        .unwrap();
    let output = run_ok(&[
        "private",
        "voucher",
        "give",
        "--store",
        path(&store),
        "--server",
        &url,
        "--csv",
        path(&distribution),
    ]);
    assert!(output.contains("recorded 2 voucher holder"), "{output}");
    let paid = spend_to(&demo, &ngo_key, &store, person, Some(&programme), "2026-03-04");

    // Refusals, each recording nothing: a voucher already given, one the log never issued, one already
    // redeemed, a person the store does not know, a malformed line (all of a file or none).
    let size = demo.tree_size();
    let before = std::fs::read(&store).unwrap();
    let give = |args: &[&str]| {
        let mut full = vec!["private", "voucher", "give", "--store", path(&store), "--server", &url];
        full.extend_from_slice(args);
        run_failing(&full).1
    };
    let error = give(&[&vouchers[0], other]);
    assert!(error.contains("already given"), "{error}");
    let error = give(&["0123456789abcdef0123456789abcdef", other]);
    assert!(error.contains("was not issued in the log"), "{error}");
    let error = give(&[&vouchers[3], other]);
    assert!(error.contains("already redeemed"), "{error}");
    let error = give(&[&vouchers[0], "KV-NOBODY"]);
    assert!(error.contains("not in the private store"), "{error}");
    let error = give(&["not-a-voucher", other]);
    assert!(error.contains("not a voucher id"), "{error}");
    let mixed = dir.path().join("mixed.csv");
    std::fs::write(&mixed, format!("{},{other}\n{},{other}\n", vouchers[3], "f".repeat(31))).unwrap();
    let error = give(&["--csv", path(&mixed)]);
    assert!(error.contains("line 2") && error.contains("not a voucher id"), "{error}");
    assert_eq!(std::fs::read(&store).unwrap(), before, "the refusals changed nothing in the store");
    assert_eq!(demo.tree_size(), size, "giving vouchers never writes to the log");

    // The NGO sees who holds what; the log's view of a voucher names no person.
    let links: Value =
        serde_json::from_str(&run_ok(&["private", "links", "--store", path(&store), person, "--json"])).unwrap();
    let held: Vec<&str> =
        links["vouchers"].as_array().unwrap().iter().map(|v| v["voucher"].as_str().unwrap()).collect();
    assert_eq!(held, vec![vouchers[0].as_str(), vouchers[1].as_str()]);
    assert_eq!(links["vouchers"][0]["organisation"], ngo.as_str());
    assert_eq!(links["vouchers"][0]["programme"], programme.as_str());
    assert_eq!(links["vouchers"][0]["issue"], issue.as_str());
    assert_eq!(links["spends"][0]["log_index"].as_u64(), Some(paid));
    let public: Value = demo.api.get_json(&format!("/api/v1/vouchers/{}", vouchers[0]));
    assert_eq!(public["issuer"], ngo.as_str());
    assert_eq!(public["status"], "issued");
    let mut secrets = secrets(person, name, &links);
    for voucher in &held {
        secrets.push((format!("voucher {voucher}"), hex::decode(voucher).unwrap()));
    }
    assert!(before.windows(16).any(|window| window == hex::decode(&vouchers[0]).unwrap()), "the store holds ids");

    // Erasing the person: a tombstone for the one spend; the voucher holdings go with the person.
    let report: Value = serde_json::from_str(
        run_ok(&[
            "private",
            "erase",
            "--store",
            path(&store),
            person,
            "--server",
            &url,
            "--key",
            path(&ngo_key),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(report["status"], "erased");
    assert_eq!(report["count"], 1);
    assert_eq!(report["links_deleted"], 1);
    assert_eq!(report["vouchers_deleted"], 2);
    assert_eq!(demo.tree_size(), size + 1, "one tombstone");
    let after = std::fs::read(&store).unwrap();
    assert_absent("the private store", &after, &secrets);
    assert!(after.windows(16).any(|window| window == hex::decode(&vouchers[2]).unwrap()), "the other holder stays");
    // The vouchers themselves stay valid in the log: a bearer token outlives the record of who got it.
    let public: Value = demo.api.get_json(&format!("/api/v1/vouchers/{}", vouchers[0]));
    assert_eq!(public["status"], "issued");

    // A person with vouchers and no spend: nothing public commits to them, so no tombstone is needed.
    let report: Value = serde_json::from_str(
        run_ok(&[
            "private",
            "erase",
            "--store",
            path(&store),
            other,
            "--server",
            &url,
            "--key",
            path(&ngo_key),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(report["status"], "erased");
    assert_eq!(report["index"], Value::Null);
    assert_eq!(report["vouchers_deleted"], 1);
    assert_eq!(demo.tree_size(), size + 1, "no second tombstone");
    let after = std::fs::read(&store).unwrap();
    assert!(!after.windows(16).any(|window| window == hex::decode(&vouchers[2]).unwrap()));
    assert!(!contains(&after, other.as_bytes()));
}

#[test]
fn an_erasure_whose_answer_was_lost_is_finished_by_running_it_again() {
    let dir = TempDir::new("privacy-resume");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let (ngo, clinic) = (format!("ngo-{id}"), format!("clinic-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "CD");
    let clinic_key = register(&demo, dir.path(), &operator, &clinic, "clinic", "CD");
    fund_clinic(&demo, &ngo_key, &clinic, &clinic_key, "100.00");
    let store = dir.path().join("clinic-private.db");
    run_ok(&["private", "init", "--store", path(&store)]);
    let person = "CG-RESUME-0042";
    run_ok(&["private", "person", "add", "--store", path(&store), person]);
    spend_to(&demo, &clinic_key, &store, person, None, "2026-03-03");
    spend_to(&demo, &clinic_key, &store, person, None, "2026-03-04");
    let links = run_ok(&["private", "links", "--store", path(&store), person, "--json"]);

    // The log records the tombstone, but its answer never comes back: the command is interrupted waiting.
    let upstream: std::net::SocketAddr =
        demo.url.trim_start_matches("http://").trim_end_matches('/').parse().expect("the demo's address");
    let proxy = FlakyProxy::start(upstream, Fault::LoseSubmissionAnswers);
    let size = demo.tree_size();
    let mut first = Command::new(aidtrail_binary())
        .args(["private", "erase", "--store", path(&store), person, "--key", path(&clinic_key), "--server"])
        .arg(format!("http://{}/", proxy.addr))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting aidtrail private erase");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while proxy.answers_lost.load(std::sync::atomic::Ordering::Relaxed) == 0 || demo.tree_size() == size {
        assert!(std::time::Instant::now() < deadline, "the tombstone never reached the log");
        assert!(first.try_wait().expect("polling").is_none(), "aidtrail private erase ended before its answer");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    first.kill().expect("interrupting aidtrail private erase");
    first.wait().expect("reaping aidtrail private erase");
    assert_eq!(demo.tree_size(), size + 1, "the log holds the tombstone");
    // Without a receipt nothing was erased, and no new spend can be linked to the person meanwhile.
    assert_eq!(run_ok(&["private", "links", "--store", path(&store), person, "--json"]), links);
    let (_, error) = run_failing(&[
        "record",
        "spend",
        "--server",
        &demo.url,
        "--key",
        path(&clinic_key),
        "--asset",
        "EUR",
        "--amount",
        "1",
        "--category",
        "medicine",
        "--beneficiary",
        person,
        "--private-store",
        path(&store),
    ]);
    assert!(error.contains("being erased"), "{error}");
    assert_eq!(demo.tree_size(), size + 1);

    // Running the same command again resends the same signed tombstone: the log answers with the entry it
    // already holds (no second tombstone), and the data is deleted.
    let report: Value = serde_json::from_str(
        run_ok(&[
            "private",
            "erase",
            "--store",
            path(&store),
            person,
            "--server",
            &demo.url,
            "--key",
            path(&clinic_key),
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(report["status"], "erased");
    assert_eq!(report["resumed"], true);
    assert_eq!(report["index"].as_u64(), Some(size), "the index the lost answer would have given");
    assert_eq!(report["links_deleted"], 2);
    assert_eq!(demo.tree_size(), size + 1, "one tombstone in all");
    let (_, error) = run_failing(&["private", "links", "--store", path(&store), person]);
    assert!(error.contains("not in the private store"), "{error}");
}

/// A running `aidtrail serve` on an existing data directory, killed on drop.
struct Serve {
    child: Child,
    api: Api,
}

impl Serve {
    fn start(data_dir: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(aidtrail_binary())
            .args(["serve", "--addr", "127.0.0.1:0", "--origin", server::demo::DEMO_ORIGIN, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting aidtrail serve");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("explorer: ") {
                        break url.trim().trim_end_matches('/').to_string();
                    }
                }
                _ => panic!("aidtrail serve exited before it was ready"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Serve { child, api: Api::new(&url) }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cell<'a>(view: &'a Value, clinic: &str, period: &str) -> &'a Value {
    view["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|cell| cell["organisation"] == clinic && cell["period"] == period)
        .unwrap_or_else(|| panic!("no cell for {clinic} in {period}: {view}"))
}

#[test]
fn last_mile_cells_of_fewer_than_k_beneficiaries_are_suppressed() {
    let dir = TempDir::new("privacy-k");
    let demo = Demo::start(dir.path());
    let operator = demo_key_file(dir.path(), server::demo::OPERATOR);
    let id = suffix();
    let ngo = format!("ngo-{id}");
    let (ten, nine) = (format!("clinic-ten-{id}"), format!("clinic-nine-{id}"));
    let ngo_key = register(&demo, dir.path(), &operator, &ngo, "ngo", "CD");
    let ten_key = register(&demo, dir.path(), &operator, &ten, "clinic", "CD");
    let nine_key = register(&demo, dir.path(), &operator, &nine, "clinic", "CD");
    fund_clinic(&demo, &ngo_key, &ten, &ten_key, "300.00");
    fund_clinic(&demo, &ngo_key, &nine, &nine_key, "300.00");
    for (clinic_key, spends) in [(&ten_key, 10), (&nine_key, 9)] {
        for day in 0..spends {
            let date = format!("2026-04-{:02}", 6 + day % 5);
            recorded(&run_ok(&[
                "record",
                "spend",
                "--server",
                &demo.url,
                "--key",
                path(clinic_key),
                "--asset",
                "EUR",
                "--amount",
                "10.00",
                "--category",
                "medicine",
                "--value-date",
                &date,
                "--new-beneficiary",
            ]));
        }
    }
    // The default k is 10: ten beneficiary spends show, nine are withheld.
    let view: Value = demo.api.get_json("/api/v1/last-mile?asset=EUR&period=month");
    assert_eq!(view["k"], 10);
    assert_eq!(view["period"], "month");
    assert_eq!(
        cell(&view, &ten, "2026-04"),
        &serde_json::json!({
            "organisation": ten, "period": "2026-04", "suppressed": false, "beneficiary_spends": 10, "total": "10000"
        })
    );
    assert_eq!(
        cell(&view, &nine, "2026-04"),
        &serde_json::json!({
            "organisation": nine, "period": "2026-04", "suppressed": true, "beneficiary_spends": null, "total": null
        })
    );
    // Weeks: 2026-04-06 to 2026-04-10 is ISO week 15.
    let weekly: Value = demo.api.get_json("/api/v1/last-mile?asset=EUR&period=week");
    assert_eq!(cell(&weekly, &ten, "2026-W15")["total"], "10000");
    assert_eq!(cell(&weekly, &nine, "2026-W15")["suppressed"], true);
    // Bad queries answer 4xx with the error shape.
    for (query, status, code) in [
        ("/api/v1/last-mile?asset=EUR&period=year", 400, "invalid_query"),
        ("/api/v1/last-mile", 400, "invalid_query"),
        ("/api/v1/last-mile?asset=XYZ", 404, "not_found"),
        ("/api/v1/last-mile?asset=EUR&colour=red", 400, "invalid_query"),
    ] {
        let (answer, body) = demo.api.get(query).expect("an answer");
        assert_eq!(answer, status, "{query}");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["error"]["code"], code, "{query}");
        assert!(body["error"]["message"].is_string());
    }

    // k is configurable: the same log served with --k-anonymity 9 shows the nine.
    drop(demo);
    let data = dir.path().join("demo-data");
    let served = Serve::start(&data, &["--k-anonymity", "9"]);
    let view: Value = served.api.get_json("/api/v1/last-mile?asset=EUR");
    assert_eq!(view["k"], 9);
    assert_eq!(cell(&view, &nine, "2026-04")["beneficiary_spends"], 9);
    assert_eq!(cell(&view, &nine, "2026-04")["total"], "9000");
    drop(served);
    let (_, error) = run_failing(&["serve", "--data-dir", path(&data), "--k-anonymity", "0"]);
    assert!(error.contains("k-anonymity"), "{error}");
}
