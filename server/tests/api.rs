//! The HTTP API through the router: submissions and their receipts, batches, bad input, reads, traces,
//! flows, proofs, the C2SP endpoints, operations, the OpenAPI description and the write limits. Every
//! JSON answer is also checked against the response the OpenAPI description documents for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::body::Body as HttpBody;
use axum::http::{Method, Request, StatusCode, header};
use ledger::merkle::{Hash, leaf_hash, node_hash, verify_consistency, verify_inclusion};
use ledger::note::{Checkpoint, NoteVerifier, verify_checkpoint};
use ledger::tiles::{encode_tile_index, parse_entry_bundle, parse_tile_bytes};
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Commitment, Country, Date, Digest, Donor, Earmark,
    Entry, EntryId, OrgId, ProgrammeId, PublicKey, Recipient, Role, SignedEntry, VoucherId, beneficiary_commitment,
    donor_reference,
};
use serde_json::{Value, json};
use server::api::WriteLimits;
use server::demo::DemoLedger;
use server::log::now_ms;
use server::store::EntryRow;

use crate::support::*;

// ---------------------------------------------------------------------------------------------------
// Building entries with the demo's keys.

fn new_entry(author: &str, body: Body) -> Entry {
    Entry { entry_id: EntryId(rand::random()), author: OrgId::new(author).unwrap(), timestamp_ms: now_ms(), body }
}

fn today() -> Date {
    Date::from_timestamp_ms(now_ms())
}

/// A gift from an anonymous donor, recorded by the NGO that received it.
fn anonymous_donation(demo: &DemoLedger, ngo: &str, amount: u128, reference: Commitment) -> SignedEntry {
    sign(
        demo,
        new_entry(
            ngo,
            Body::Donation {
                donor: Donor::Anonymous(reference),
                asset: AssetCode::new("EUR").unwrap(),
                amount: Amount(amount),
                value_date: today(),
                earmark: None,
                external_reference: None,
            },
        ),
    )
}

fn donation(demo: &DemoLedger, ngo: &str, amount: u128) -> SignedEntry {
    anonymous_donation(demo, ngo, amount, Commitment(rand::random()))
}

/// A spend to a fresh beneficiary.
fn spend(demo: &DemoLedger, author: &str, amount: u128) -> SignedEntry {
    sign(
        demo,
        new_entry(
            author,
            Body::Spend {
                asset: AssetCode::new("EUR").unwrap(),
                amount: Amount(amount),
                value_date: today(),
                category: Category::Medicine,
                recipient: Recipient::Beneficiary(beneficiary_commitment(&rand::random(), b"test patient")),
                programme: None,
                evidence: None,
                description: String::new(),
            },
        ),
    )
}

/// Far more than any clinic of the small demo holds.
const TOO_MUCH: u128 = 1_000_000_000_000_000;

fn with_flipped_signature_bit(signed: &SignedEntry) -> Vec<u8> {
    let mut bytes = signed.bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    bytes
}

fn hash_from_hex(text: &str) -> Hash {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).unwrap_or_else(|_| panic!("{text:?} is not a hash"));
    hash
}

fn hashes_from_hex(value: &Value) -> Vec<Hash> {
    value.as_array().expect("a list of hashes").iter().map(|hash| hash_from_hex(hash.as_str().unwrap())).collect()
}

fn amount_of(value: &Value) -> u128 {
    value.as_str().unwrap_or_else(|| panic!("an amount is a decimal string: {value}")).parse().unwrap()
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

/// Opens a checkpoint note with the log's key and checks it says what its JSON view says.
fn verified_checkpoint(service: &TestService, view: &Value) -> Checkpoint {
    let checkpoint =
        verify_checkpoint(str_of(&view["note"]), &service.verifier, Some(ORIGIN)).expect("the note verifies");
    assert_eq!(checkpoint.tree_size, view["tree_size"].as_u64().unwrap());
    assert_eq!(hex::encode(checkpoint.root), str_of(&view["root"]));
    checkpoint
}

/// Checks a receipt: the leaf, and an inclusion proof that verifies against its signed checkpoint.
fn check_receipt(service: &TestService, receipt: &Value, signed: &SignedEntry) -> u64 {
    let index = receipt["index"].as_u64().unwrap();
    assert_eq!(str_of(&receipt["leaf_hash"]), hex::encode(signed.leaf_hash()));
    let checkpoint = verified_checkpoint(service, &receipt["checkpoint"]);
    assert!(index < checkpoint.tree_size);
    verify_inclusion(
        &signed.leaf_hash(),
        index,
        checkpoint.tree_size,
        &hashes_from_hex(&receipt["inclusion_proof"]),
        &checkpoint.root,
    )
    .expect("the receipt's inclusion proof verifies against its checkpoint");
    index
}

async fn entry_count_listed(service: &TestService) -> (u64, Option<u64>) {
    let page = service.get("/api/v1/entries?order=desc&limit=1").await;
    page.expect(StatusCode::OK);
    let last = page.json()["entries"].as_array().unwrap().first().map(|entry| entry["index"].as_u64().unwrap());
    (service.tree_size().await, last)
}

// ---------------------------------------------------------------------------------------------------
// Submissions.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_entry_gets_a_verifiable_receipt_once_and_conflicts_change_nothing() {
    let (service, demo) = service_with_demo().await;
    let size = service.tree_size().await;
    assert_eq!(size, demo.entries.len() as u64);

    let gift = donation(&demo, "sahel-care", 12_345);
    let created = service.submit(&gift).await;
    created.expect(StatusCode::CREATED);
    documented("post", "/api/v1/entries", &created);
    let receipt = created.json();
    assert_eq!(receipt["duplicate"], json!(false));
    assert_eq!(check_receipt(&service, &receipt, &gift), size, "a new entry goes at the end");
    assert_eq!(receipt["checkpoint"]["tree_size"].as_u64().unwrap(), size + 1);
    // The checkpoint is the log's latest, and the log's verifier key is the one that signed it.
    let log = service.get("/api/v1/log").await;
    documented("get", "/api/v1/log", &log);
    let log = log.json();
    assert_eq!(log["checkpoint"], receipt["checkpoint"]);
    assert_eq!(NoteVerifier::parse(str_of(&log["verifier_key"])).unwrap(), service.verifier);

    // The identical entry again: 200, the same index, a proof that still verifies.
    let again = service.submit(&gift).await;
    again.expect(StatusCode::OK);
    documented("post", "/api/v1/entries", &again);
    let again = again.json();
    assert_eq!(again["duplicate"], json!(true));
    assert_eq!(check_receipt(&service, &again, &gift), size);
    assert_eq!(service.tree_size().await, size + 1);

    // The same id with other content: 409, nothing written.
    let mut other = gift.entry().clone();
    other.body = match other.body {
        Body::Donation { donor, asset, value_date, earmark, external_reference, .. } => {
            Body::Donation { donor, asset, amount: Amount(54_321), value_date, earmark, external_reference }
        }
        _ => unreachable!(),
    };
    let conflict = service.submit(&sign(&demo, other)).await;
    conflict.expect_error(StatusCode::CONFLICT, "id_conflict");
    documented("post", "/api/v1/entries", &conflict);

    // An overspend: 422, and neither the tree nor the listing moves.
    let before = entry_count_listed(&service).await;
    assert_eq!(before, (size + 1, Some(size)));
    let overspend = spend(&demo, "clinique-goma", TOO_MUCH);
    let refused = service.submit(&overspend).await;
    refused.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "overspend");
    documented("post", "/api/v1/entries", &refused);
    assert_eq!(entry_count_listed(&service).await, before);
    service
        .get(&format!("/api/v1/entries/by-id/{}", overspend.entry().entry_id))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    service
        .get(&format!("/api/v1/entries/by-leaf-hash/{}", hex::encode(overspend.leaf_hash())))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // The entry the log did take is there.
    let stored = service.get(&format!("/api/v1/entries/{size}")).await;
    stored.expect(StatusCode::OK);
    assert_eq!(str_of(&stored.json()["leaf"]), hex::encode(gift.bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_judged_entry_by_entry_and_its_accepted_entries_are_committed() {
    let (service, demo) = service_with_demo().await;
    let size = service.tree_size().await;
    let first = donation(&demo, "medecins-solidaires", 1_000);
    let overspend = spend(&demo, "poste-sante-beni", TOO_MUCH);
    let second = donation(&demo, "medecins-solidaires", 2_000);
    let forged = donation(&demo, "health-bridge", 3_000);
    // An entry may rely on an earlier one of the same batch: a transfer, then its acknowledgement.
    let transfer = sign(
        &demo,
        new_entry(
            "medecins-solidaires",
            Body::Transfer {
                to: OrgId::new("clinique-goma").unwrap(),
                asset: AssetCode::new("EUR").unwrap(),
                amount: Amount(100),
                value_date: today(),
                programme: None,
                purpose: "petty cash".into(),
            },
        ),
    );
    let acknowledgement =
        sign(&demo, new_entry("clinique-goma", Body::Acknowledgement { transfer: transfer.entry().entry_id }));
    let batch = json!({ "signed_entries": [
        hex::encode(first.bytes()),
        "zz",
        hex::encode(overspend.bytes()),
        hex::encode(second.bytes()),
        hex::encode(first.bytes()),
        hex::encode(with_flipped_signature_bit(&forged)),
        hex::encode(transfer.bytes()),
        hex::encode(acknowledgement.bytes()),
        "00",
    ]});
    let answer = service.post_json("/api/v1/entries/batch", &batch).await;
    answer.expect(StatusCode::OK);
    documented("post", "/api/v1/entries/batch", &answer);
    let answer = answer.json();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 9, "one result per entry");
    assert_eq!((answer["accepted"].as_u64(), answer["rejected"].as_u64()), (Some(5), Some(4)));

    assert_eq!(check_receipt(&service, &results[0], &first), size);
    assert_eq!(results[0]["duplicate"], json!(false));
    assert_eq!(str_of(&results[1]["error"]["code"]), "malformed_entry");
    assert!(str_of(&results[1]["error"]["message"]).starts_with("signed_entries[1]"), "{}", results[1]);
    assert_eq!(str_of(&results[2]["error"]["code"]), "overspend");
    assert_eq!(check_receipt(&service, &results[3], &second), size + 1);
    assert_eq!(check_receipt(&service, &results[4], &first), size, "a repeat inside the batch is a duplicate");
    assert_eq!(results[4]["duplicate"], json!(true));
    assert_eq!(str_of(&results[5]["error"]["code"]), "bad_signature");
    assert_eq!(check_receipt(&service, &results[6], &transfer), size + 2);
    assert_eq!(check_receipt(&service, &results[7], &acknowledgement), size + 3);
    assert_eq!(str_of(&results[8]["error"]["code"]), "malformed_entry");
    assert!(str_of(&results[8]["error"]["message"]).starts_with("signed_entries[8]"), "{}", results[8]);

    // The accepted entries were committed together: one transaction, one checkpoint.
    let checkpoint_sizes: std::collections::BTreeSet<u64> = [0, 3, 4, 6, 7]
        .iter()
        .map(|&position| results[position]["checkpoint"]["tree_size"].as_u64().unwrap())
        .collect();
    assert_eq!(checkpoint_sizes.into_iter().collect::<Vec<_>>(), vec![size + 4], "one checkpoint for the whole batch");

    // Exactly the accepted entries were committed, in order.
    assert_eq!(service.tree_size().await, size + 4);
    for (index, signed) in [(size, &first), (size + 1, &second), (size + 2, &transfer), (size + 3, &acknowledgement)] {
        let stored = service.get(&format!("/api/v1/entries/by-id/{}", signed.entry().entry_id)).await;
        stored.expect(StatusCode::OK);
        assert_eq!(stored.json()["index"].as_u64(), Some(index));
    }
    for refused in [&overspend, &forged] {
        service
            .get(&format!("/api/v1/entries/by-id/{}", refused.entry().entry_id))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    let open = service.get("/api/v1/transfers/unacknowledged").await.json();
    assert!(!open.to_string().contains(&transfer.entry().entry_id.to_hex()), "the transfer was acknowledged");

    // A malformed batch is refused whole.
    let empty = service.post_json("/api/v1/entries/batch", &json!({ "signed_entries": [] })).await;
    empty.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    documented("post", "/api/v1/entries/batch", &empty);
    let too_many = vec![hex::encode(second.bytes()); 1_001];
    let refused = service.post_json("/api/v1/entries/batch", &json!({ "signed_entries": too_many })).await;
    refused.expect_error(StatusCode::BAD_REQUEST, "invalid_request");
    service
        .post_json("/api/v1/entries/batch", &json!({ "signed_entries": [hex::encode(second.bytes())], "atomic": true }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert_eq!(service.tree_size().await, size + 4);

    // A batch of exactly 1,000 is taken.
    let third = donation(&demo, "sahel-care", 3_000);
    let full = vec![hex::encode(third.bytes()); 1_000];
    let answer = service.post_json("/api/v1/entries/batch", &json!({ "signed_entries": full })).await;
    answer.expect(StatusCode::OK);
    let answer = answer.json();
    assert_eq!(answer["accepted"].as_u64(), Some(1_000));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.iter().filter(|result| result["duplicate"] == json!(false)).count(), 1);
    assert!(results.iter().all(|result| result["index"].as_u64() == Some(size + 4)));
    assert_eq!(service.tree_size().await, size + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_json_errors() {
    let service = service().await;
    let demo = small_demo();
    let genesis = &demo.entries[0];
    let submit = "/api/v1/entries";

    let answer = service.post_raw(submit, "application/json", r#"{"signed_entry": "#).await;
    answer.expect_error(StatusCode::BAD_REQUEST, "malformed_json");
    documented("post", submit, &answer);
    let answer =
        service.post_json(submit, &json!({ "signed_entry": hex::encode(genesis.bytes()), "priority": 1 })).await;
    answer.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(answer.json()["error"]["message"].as_str().unwrap().contains("priority"), "{}", answer.json());
    documented("post", submit, &answer);
    service.post_json(submit, &json!({})).await.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    service
        .post_json(submit, &json!({ "signed_entry": 7 }))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");

    // The content type must be JSON.
    let body = serde_json::to_vec(&json!({ "signed_entry": hex::encode(genesis.bytes()) })).unwrap();
    let answer = service.post_raw(submit, "text/plain", body.clone()).await;
    answer.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    documented("post", submit, &answer);
    let no_type = Request::builder().method(Method::POST).uri(submit).body(HttpBody::from(body)).unwrap();
    service.send(no_type).await.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    // Bodies over 4 MiB: refused with our error shape, whether or not the client says their length.
    let huge = format!(r#"{{"signed_entry": "{}"}}"#, "ab".repeat(2 * 1024 * 1024 + 16));
    assert!(huge.len() > server::api::REQUEST_BODY_BYTES_MAX);
    let answer = service.post_raw(submit, "application/json", huge.clone()).await;
    answer.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    documented("post", submit, &answer);
    let declared = Request::builder()
        .method(Method::POST)
        .uri(submit)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, huge.len())
        .body(HttpBody::from(huge))
        .unwrap();
    service.send(declared).await.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    // 3 MiB is within the documented limit: the body is read, and the entry in it is too large.
    let large = format!(r#"{{"signed_entry": "{}"}}"#, "ab".repeat(3 * 1024 * 1024 / 2));
    let answer = service.post_raw(submit, "application/json", large).await;
    answer.expect_error(StatusCode::BAD_REQUEST, "entry_too_large");
    documented("post", submit, &answer);

    // Bytes that are not a signed entry.
    for bad in ["zz", "abc", "", "00", &hex::encode(&genesis.bytes()[..genesis.bytes().len() - 1])] {
        let answer = service.post_json(submit, &json!({ "signed_entry": bad })).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "malformed_entry");
        documented("post", submit, &answer);
    }
    // One flipped bit of the signature.
    let forged =
        service.post_json(submit, &json!({ "signed_entry": hex::encode(with_flipped_signature_bit(genesis)) })).await;
    forged.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "bad_signature");
    documented("post", submit, &forged);
    assert_eq!(service.tree_size().await, 0, "nothing was written");
    // The genuine genesis entry is then taken.
    service.submit(genesis).await.expect(StatusCode::CREATED);

    // Unknown API paths answer JSON.
    for path in ["/api/v1/whatever", "/api/v2/entries", "/api/v1/entries/1/extra"] {
        let answer = service.get(path).await;
        answer.expect_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(answer.header("content-type"), Some("application/json"));
    }

    // Bad query and path values.
    for (path, query) in [
        ("/api/v1/entries", "limit=0"),
        ("/api/v1/entries", "limit=501"),
        ("/api/v1/entries", "limit=many"),
        ("/api/v1/entries", "kind=gift"),
        ("/api/v1/entries", "from=2026-13-01"),
        ("/api/v1/entries", "to=2026-02-30"),
        ("/api/v1/entries", "from=yesterday"),
        ("/api/v1/entries", "order=sideways"),
        ("/api/v1/entries", "after=-1"),
        ("/api/v1/entries", "colour=red"),
        ("/api/v1/flows", "from=2026-13-01"),
        ("/api/v1/flows", "organisations=nobody-at-all"),
        ("/api/v1/checkpoints", "after=x"),
        ("/api/v1/proofs/inclusion", ""),
        ("/api/v1/proofs/inclusion", "index=0&leaf_hash=00"),
        ("/api/v1/proofs/inclusion", "leaf_hash=zz"),
        ("/api/v1/proofs/inclusion", "index=5"),
        ("/api/v1/proofs/inclusion", "index=0&tree_size=2"),
        ("/api/v1/proofs/consistency", ""),
        ("/api/v1/proofs/consistency", "old_size=2"),
        ("/api/v1/entries/abc", ""),
        ("/api/v1/entries/by-id/1234", ""),
        ("/api/v1/entries/by-leaf-hash/xyz", ""),
        ("/api/v1/checkpoints/minus-one", ""),
        ("/api/v1/trace/donations/nothex", ""),
        ("/api/v1/trace/spends/0011", ""),
        ("/api/v1/donor-references/abcd/donations", ""),
    ] {
        let uri = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let answer = service.get(&uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}: {}", answer.text());
        let code = answer.error_code();
        assert!(
            ["invalid_query", "invalid_parameter", "invalid_proof_request"].contains(&code.as_str()),
            "{uri}: {code}"
        );
        documented("get", &template_of(path), &answer);
    }
    for uri in [
        "/api/v1/entries/99999",
        "/api/v1/checkpoints/99999",
        "/api/v1/organisations/nobody",
        "/api/v1/organisations/Not%20An%20Id",
        "/api/v1/trace/donations/00000000000000000000000000000000",
        "/api/v1/trace/spends/00000000000000000000000000000000",
    ] {
        let answer = service.get(uri).await;
        answer.expect_error(StatusCode::NOT_FOUND, "not_found");
        documented("get", &template_of(uri), &answer);
    }
}

// ---------------------------------------------------------------------------------------------------
// Reads.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_reads_the_same_by_index_id_and_leaf_hash() {
    let (service, demo) = service_with_demo().await;
    let last = demo.entries.len() - 1;
    for index in [0, 1, 3, 100, 200, last] {
        let signed = &demo.entries[index];
        let by_index = service.get(&format!("/api/v1/entries/{index}")).await;
        by_index.expect(StatusCode::OK);
        documented("get", "/api/v1/entries/{index}", &by_index);
        let by_id = service.get(&format!("/api/v1/entries/by-id/{}", signed.entry().entry_id)).await;
        documented("get", "/api/v1/entries/by-id/{entry_id}", &by_id);
        let by_leaf_hash =
            service.get(&format!("/api/v1/entries/by-leaf-hash/{}", hex::encode(signed.leaf_hash()))).await;
        documented("get", "/api/v1/entries/by-leaf-hash/{leaf_hash}", &by_leaf_hash);
        let view = by_index.json();
        assert_eq!(by_id.json(), view);
        assert_eq!(by_leaf_hash.json(), view);

        assert_eq!(view["index"].as_u64(), Some(index as u64));
        assert_eq!(str_of(&view["leaf"]), hex::encode(signed.bytes()));
        assert_eq!(str_of(&view["leaf_hash"]), hex::encode(leaf_hash(signed.bytes())));
        assert_eq!(str_of(&view["entry_id"]), signed.entry().entry_id.to_hex());
        assert_eq!(str_of(&view["kind"]), signed.entry().body.kind().as_str());
        assert_eq!(str_of(&view["author"]), signed.entry().author.as_str());
        assert_eq!(view["timestamp_ms"].as_u64(), Some(signed.entry().timestamp_ms));
        assert_eq!(str_of(&view["signer"]), signed.signer().to_hex());
        assert_eq!(str_of(&view["signature"]), hex::encode(signed.signature()));
        assert_eq!(view["value_date"], json!(signed.entry().body.value_date().map(|date| date.to_string())));
        let entry: Entry = serde_json::from_value(view["entry"].clone()).expect("the JSON view is lossless");
        assert_eq!(&entry, signed.entry());
        assert!(!str_of(&view["summary"]).is_empty());
    }
}

/// What the store's filters mean, applied to the demo entries: the expected listing.
fn expected_indexes(demo: &DemoLedger, keep: impl Fn(&EntryRow) -> bool) -> Vec<u64> {
    demo.entries
        .iter()
        .enumerate()
        .map(|(index, signed)| EntryRow::new(index as u64, signed, signed.leaf_hash()))
        .filter(|row| keep(row))
        .map(|row| row.entry_index)
        .collect()
}

/// Every page of a listing, following `next_after`.
async fn all_pages(service: &TestService, query: &str, limit: u32, descending: bool) -> (Vec<Value>, usize) {
    let mut entries = Vec::new();
    let mut after: Option<u64> = None;
    let mut pages = 0;
    loop {
        let order = if descending { "desc" } else { "asc" };
        let mut uri = format!("/api/v1/entries?limit={limit}&order={order}");
        if !query.is_empty() {
            uri.push_str(&format!("&{query}"));
        }
        if let Some(after) = after {
            uri.push_str(&format!("&after={after}"));
        }
        let page = service.get(&uri).await;
        page.expect(StatusCode::OK);
        documented("get", "/api/v1/entries", &page);
        let page = page.json();
        let listed = page["entries"].as_array().unwrap();
        assert!(listed.len() <= limit as usize);
        pages += 1;
        entries.extend(listed.iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => {
                assert_eq!(listed.len(), limit as usize, "only a full page has a next page");
                assert_eq!(Some(next), listed.last().and_then(|entry| entry["index"].as_u64()));
                after = Some(next);
            }
            None => break,
        }
        assert!(pages < 1_000, "paging ends");
    }
    (entries, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_filter_and_page_without_gaps_or_repeats() {
    let (service, demo) = service_with_demo().await;
    let reference = demo
        .entries
        .iter()
        .find_map(|signed| match &signed.entry().body {
            Body::Donation { external_reference: Some(reference), .. } => Some(reference.clone()),
            _ => None,
        })
        .expect("the demo's institutional gifts carry bank references");
    let from = Date::from_ymd(2026, 1, 19).unwrap();
    let to = Date::from_ymd(2026, 2, 1).unwrap();
    let in_period = |row: &EntryRow| row.value_date.is_some_and(|days| days >= from.days() && days <= to.days());
    let cases: Vec<(String, Vec<u64>)> = vec![
        (
            "organisation=clinique-goma".into(),
            expected_indexes(&demo, |row| {
                row.author == "clinique-goma" || row.counterparty.as_deref() == Some("clinique-goma")
            }),
        ),
        (
            format!("kind=spend&asset=EUR&from={from}&to={to}"),
            expected_indexes(&demo, |row| row.kind == "spend" && row.asset.as_deref() == Some("EUR") && in_period(row)),
        ),
        (
            "kind=donation&organisation=medecins-solidaires".into(),
            expected_indexes(&demo, |row| {
                row.kind == "donation"
                    && (row.author == "medecins-solidaires"
                        || row.counterparty.as_deref() == Some("medecins-solidaires"))
            }),
        ),
        (format!("from={from}"), expected_indexes(&demo, |row| row.value_date.is_some_and(|days| days >= from.days()))),
        (
            format!("external_reference={reference}"),
            expected_indexes(&demo, |row| row.external_reference.as_deref() == Some(reference.as_str())),
        ),
        (
            "author=clinique-goma&kind=spend".into(),
            expected_indexes(&demo, |row| row.author == "clinique-goma" && row.kind == "spend"),
        ),
        ("author=medecins-solidaires".into(), expected_indexes(&demo, |row| row.author == "medecins-solidaires")),
        ("kind=register_organisation".into(), (3..23).collect()),
        ("asset=USDC".into(), vec![]),
        ("kind=reversal".into(), vec![]),
    ];
    for (query, expected) in cases {
        if !query.starts_with("asset=USDC") && !query.starts_with("kind=reversal") {
            assert!(!expected.is_empty(), "{query} selects something in the demo");
        }
        for (limit, descending) in [(7, false), (11, true), (500, false)] {
            let (entries, pages) = all_pages(&service, &query, limit, descending).await;
            let listed: Vec<u64> = entries.iter().map(|entry| entry["index"].as_u64().unwrap()).collect();
            let mut wanted = expected.clone();
            if descending {
                wanted.reverse();
            }
            assert_eq!(listed, wanted, "{query} (limit {limit}, descending {descending})");
            assert!(pages >= expected.len() / limit as usize);
            // Each entry shown satisfies the filters by its own fields.
            for entry in &entries {
                let body = &entry["entry"]["body"];
                for filter in query.split('&') {
                    let (name, value) = filter.split_once('=').unwrap();
                    match name {
                        "kind" => assert_eq!(str_of(&entry["kind"]), value),
                        "asset" => assert_eq!(str_of(&body["asset"]), value),
                        "from" => assert!(str_of(&entry["value_date"]) >= value),
                        "to" => assert!(str_of(&entry["value_date"]) <= value),
                        "organisation" => {
                            assert!(entry["entry"].to_string().contains(&format!("\"{value}\"")), "{entry}")
                        }
                        "external_reference" => assert_eq!(str_of(&body["external_reference"]), value),
                        "author" => assert_eq!(str_of(&entry["author"]), value),
                        _ => unreachable!(),
                    }
                }
            }
        }
    }
    // The whole log, paged: every index once, in order.
    let (entries, _) = all_pages(&service, "", 64, false).await;
    let listed: Vec<u64> = entries.iter().map(|entry| entry["index"].as_u64().unwrap()).collect();
    assert_eq!(listed, (0..demo.entries.len() as u64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisation_profiles_hold_the_balances_the_entries_add_up_to() {
    let (service, demo) = service_with_demo().await;
    // Balances from the entries themselves: (organisation, asset) -> (available, pledged).
    let mut balances: BTreeMap<(String, String), (i128, i128)> = BTreeMap::new();
    let mut pledges: HashMap<EntryId, (String, String, String, i128)> = HashMap::new();
    for signed in &demo.entries {
        let entry = signed.entry();
        let author = entry.author.to_string();
        let mut add = |organisation: &str, asset: &AssetCode, available: i128, pledged: i128| {
            let slot = balances.entry((organisation.to_string(), asset.to_string())).or_default();
            slot.0 += available;
            slot.1 += pledged;
        };
        match &entry.body {
            Body::Donation { asset, amount, .. } => add(&author, asset, amount.0 as i128, 0),
            Body::Transfer { to, asset, amount, .. } => {
                add(&author, asset, -(amount.0 as i128), 0);
                add(to.as_str(), asset, amount.0 as i128, 0);
            }
            Body::Spend { asset, amount, .. } => add(&author, asset, -(amount.0 as i128), 0),
            Body::Pledge { to, asset, amount, .. } => {
                add(&author, asset, -(amount.0 as i128), amount.0 as i128);
                pledges.insert(entry.entry_id, (author.clone(), to.to_string(), asset.to_string(), amount.0 as i128));
            }
            Body::PledgeRelease { pledge } => {
                let (pledger, receiver, asset, amount) = pledges[pledge].clone();
                let asset = AssetCode::new(asset).unwrap();
                add(&pledger, &asset, 0, -amount);
                add(&receiver, &asset, amount, 0);
            }
            Body::PledgeVoid { pledge } => {
                let (pledger, _, asset, amount) = pledges[pledge].clone();
                add(&pledger, &AssetCode::new(asset).unwrap(), amount, -amount);
            }
            Body::Reversal { .. } => panic!("the small demo has no reversal"),
            _ => {}
        }
    }
    let list = service.get("/api/v1/organisations").await;
    documented("get", "/api/v1/organisations", &list);
    let list = list.json();
    let organisations = list["organisations"].as_array().unwrap();
    assert_eq!(organisations.len(), 20);
    let mut checked = 0;
    let mut holding = 0;
    for summary in organisations {
        let id = str_of(&summary["id"]);
        let profile = service.get(&format!("/api/v1/organisations/{id}")).await;
        profile.expect(StatusCode::OK);
        documented("get", "/api/v1/organisations/{id}", &profile);
        let profile = profile.json();
        assert_eq!(profile["role"], summary["role"]);
        assert_eq!(profile["name"], summary["name"]);
        let shown: BTreeMap<String, (i128, i128)> = profile["balances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|balance| {
                let available = amount_of(&balance["available"]) as i128;
                assert!(amount_of(&balance["earmarked"]) as i128 <= available);
                (str_of(&balance["asset"]).to_string(), (available, amount_of(&balance["pledged"]) as i128))
            })
            .collect();
        let expected: BTreeMap<String, (i128, i128)> = balances
            .iter()
            .filter(|((organisation, _), (available, pledged))| {
                organisation == id && (*available != 0 || *pledged != 0)
            })
            .map(|((_, asset), amounts)| (asset.clone(), *amounts))
            .collect();
        assert_eq!(shown, expected, "{id}");
        if matches!(str_of(&summary["role"]), "ngo" | "clinic") {
            holding += usize::from(!shown.is_empty());
            checked += 1;
        }
    }
    assert_eq!(checked, 13, "three NGOs and ten clinics");
    assert!(holding >= 10, "most of them hold money: {holding}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_conserve_every_donation_and_explain_every_spend() {
    let (service, demo) = service_with_demo().await;
    let example = service.get(&format!("/api/v1/trace/donations/{}", demo.example_donation)).await;
    example.expect(StatusCode::OK);
    documented("get", "/api/v1/trace/donations/{entry_id}", &example);
    assert!(!example.json()["hops"].as_array().unwrap().is_empty());

    let mut spends = 0;
    let mut donations = 0;
    for (index, signed) in demo.entries.iter().enumerate() {
        let entry = signed.entry();
        match &entry.body {
            Body::Donation { amount, asset, .. } => {
                donations += 1;
                let trace = service.get(&format!("/api/v1/trace/donations/{}", entry.entry_id)).await;
                trace.expect(StatusCode::OK);
                documented("get", "/api/v1/trace/donations/{entry_id}", &trace);
                let trace = trace.json();
                assert_eq!(trace["donation_index"].as_u64(), Some(index as u64));
                assert_eq!(str_of(&trace["asset"]), asset.as_str());
                assert_eq!(str_of(&trace["receiver"]), entry.author.as_str());
                let total = amount_of(&trace["amount"]);
                assert_eq!(total, amount.0);
                let (spent, held, reserved, returned) = (
                    amount_of(&trace["spent"]),
                    amount_of(&trace["held"]),
                    amount_of(&trace["reserved"]),
                    amount_of(&trace["returned"]),
                );
                assert_eq!(spent + held + reserved + returned, total, "conservation of {}", entry.entry_id);
                let holders = trace["holders"].as_array().unwrap();
                assert_eq!(holders.iter().map(|holder| amount_of(&holder["held"])).sum::<u128>(), held);
                assert_eq!(holders.iter().map(|holder| amount_of(&holder["spent"])).sum::<u128>(), spent);
                assert_eq!(holders.iter().map(|holder| amount_of(&holder["reserved"])).sum::<u128>(), reserved);
                let by_category: u128 =
                    trace["spent_by_category"].as_array().unwrap().iter().map(|c| amount_of(&c["amount"])).sum();
                assert_eq!(by_category, spent);
                assert_eq!(trace["hops"][0]["entry_index"].as_u64(), Some(index as u64), "the first hop is the gift");
            }
            Body::Spend { amount, category, .. } => {
                spends += 1;
                let trace = service.get(&format!("/api/v1/trace/spends/{}", entry.entry_id)).await;
                trace.expect(StatusCode::OK);
                documented("get", "/api/v1/trace/spends/{entry_id}", &trace);
                let trace = trace.json();
                assert_eq!(trace["spend_index"].as_u64(), Some(index as u64));
                assert_eq!(str_of(&trace["spender"]), entry.author.as_str());
                assert_eq!(str_of(&trace["category"]), category.as_str());
                assert_eq!(amount_of(&trace["amount"]), amount.0);
                let sources = trace["sources"].as_array().unwrap();
                assert!(!sources.is_empty());
                let funded: u128 = sources.iter().map(|source| amount_of(&source["amount"])).sum();
                assert_eq!(funded, amount.0, "the sources of {} sum to its amount", entry.entry_id);
                for source in sources {
                    let origin = &demo.entries[source["donation_index"].as_u64().unwrap() as usize];
                    assert!(matches!(origin.entry().body, Body::Donation { .. }));
                    assert_eq!(str_of(&source["donation_id"]), origin.entry().entry_id.to_hex());
                }
            }
            _ => {}
        }
    }
    assert!(donations >= 30 && spends >= 100, "{donations} donations, {spends} spends");
    let example = service.get(&format!("/api/v1/trace/spends/{}", demo.example_spend)).await;
    example.expect(StatusCode::OK);
    // Tracing an entry of the other kind says so.
    let wrong = service.get(&format!("/api/v1/trace/donations/{}", demo.example_spend)).await;
    wrong.expect_error(StatusCode::BAD_REQUEST, "wrong_kind");
    documented("get", "/api/v1/trace/donations/{entry_id}", &wrong);
    let wrong = service.get(&format!("/api/v1/trace/spends/{}", demo.example_donation)).await;
    wrong.expect_error(StatusCode::BAD_REQUEST, "wrong_kind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_donor_reference_finds_the_gifts_of_its_secret_receipt() {
    let (service, demo) = service_with_demo().await;
    let donations_of = |reference: &Commitment| -> Vec<String> {
        demo.entries
            .iter()
            .filter(|signed| matches!(&signed.entry().body, Body::Donation { donor: Donor::Anonymous(r), .. } if r == reference))
            .map(|signed| signed.entry().entry_id.to_hex())
            .collect()
    };
    let mut found = 0;
    for receipt in &demo.donor_receipts {
        let reference = donor_reference(receipt);
        let answer = service.get(&format!("/api/v1/donor-references/{reference}/donations")).await;
        answer.expect(StatusCode::OK);
        documented("get", "/api/v1/donor-references/{reference}/donations", &answer);
        let listed: Vec<String> =
            answer.json()["donations"].as_array().unwrap().iter().map(|id| str_of(id).to_string()).collect();
        assert_eq!(listed, donations_of(&reference));
        assert!(!listed.is_empty(), "the demo's receipts are those of donors who gave");
        found += listed.len();
    }
    assert!(found >= demo.donor_receipts.len());

    // A new gift under the first receipt is found at the end of its list.
    let reference = donor_reference(&demo.donor_receipts[0]);
    let gift = anonymous_donation(&demo, "health-bridge", 2_500, reference);
    service.submit(&gift).await.expect(StatusCode::CREATED);
    let answer = service.get(&format!("/api/v1/donor-references/{reference}/donations")).await;
    let listed = answer.json()["donations"].as_array().unwrap().clone();
    assert_eq!(listed.last(), Some(&json!(gift.entry().entry_id.to_hex())));
    assert_eq!(listed.len(), donations_of(&reference).len() + 1);
    // A reference nobody used has no gifts.
    let nobody = service.get(&format!("/api/v1/donor-references/{}/donations", "0".repeat(64))).await;
    assert_eq!(nobody.json(), json!({ "donations": [] }));
}

type EdgeKey = (String, String, String);

/// The flows the demo entries describe, summed per (from, to, asset): (amount, entries).
fn expected_flows(demo: &DemoLedger, from: Option<Date>, to: Option<Date>) -> BTreeMap<EdgeKey, (u128, u64)> {
    let mut edges: BTreeMap<EdgeKey, (u128, u64)> = BTreeMap::new();
    let mut pledges: HashMap<EntryId, (String, String, AssetCode, u128, Date)> = HashMap::new();
    let in_period = |date: Date| from.is_none_or(|from| date >= from) && to.is_none_or(|to| date <= to);
    let mut add = |from: String, to: String, asset: &AssetCode, amount: u128, date: Date| {
        if in_period(date) {
            let slot = edges.entry((from, to, asset.to_string())).or_default();
            slot.0 += amount;
            slot.1 += 1;
        }
    };
    for signed in &demo.entries {
        let entry = signed.entry();
        let author = entry.author.to_string();
        match &entry.body {
            Body::Donation { donor, asset, amount, value_date, .. } => {
                let donor = match donor {
                    Donor::Organisation(organisation) => organisation.to_string(),
                    Donor::Anonymous(_) => "anonymous-donors".to_string(),
                };
                add(donor, author, asset, amount.0, *value_date);
            }
            Body::Transfer { to, asset, amount, value_date, .. } => {
                add(author, to.to_string(), asset, amount.0, *value_date)
            }
            Body::Spend { asset, amount, value_date, category, .. } => {
                add(author, format!("spending:{category}"), asset, amount.0, *value_date)
            }
            Body::Pledge { to, asset, amount, value_date, .. } => {
                pledges.insert(entry.entry_id, (author, to.to_string(), asset.clone(), amount.0, *value_date));
            }
            Body::PledgeRelease { pledge } => {
                let (pledger, receiver, asset, amount, date) = pledges[pledge].clone();
                add(pledger, receiver, &asset, amount, date);
            }
            Body::Reversal { .. } => panic!("the small demo has no reversal"),
            _ => {}
        }
    }
    edges
}

fn edge_map(edges: &Value) -> BTreeMap<EdgeKey, (u128, u64)> {
    edges
        .as_array()
        .expect("a list of edges")
        .iter()
        .map(|edge| {
            (
                (
                    str_of(&edge["from"]).to_string(),
                    str_of(&edge["to"]).to_string(),
                    str_of(&edge["asset"]).to_string(),
                ),
                (amount_of(&edge["amount"]), edge["entries"].as_u64().unwrap()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_sum_the_movements_and_split_at_the_boundary_of_a_set() {
    let (service, demo) = service_with_demo().await;
    let all = service.get("/api/v1/flows").await;
    all.expect(StatusCode::OK);
    documented("get", "/api/v1/flows", &all);
    let all = all.json();
    assert_eq!(all["boundary"], Value::Null);
    assert_eq!(edge_map(&all["edges"]), expected_flows(&demo, None, None));

    let (from, to) = (Date::from_ymd(2026, 1, 12).unwrap(), Date::from_ymd(2026, 1, 31).unwrap());
    let period = service.get(&format!("/api/v1/flows?from={from}&to={to}")).await;
    documented("get", "/api/v1/flows", &period);
    let period = period.json();
    assert_eq!((str_of(&period["from"]), str_of(&period["to"])), ("2026-01-12", "2026-01-31"));
    let expected = expected_flows(&demo, Some(from), Some(to));
    assert!(!expected.is_empty() && expected.len() < edge_map(&all["edges"]).len());
    assert_eq!(edge_map(&period["edges"]), expected);

    let members = ["medecins-solidaires", "clinique-goma", "centre-sante-bukavu"];
    let split = service.get(&format!("/api/v1/flows?organisations={}", members.join(","))).await;
    split.expect(StatusCode::OK);
    documented("get", "/api/v1/flows", &split);
    let split = split.json();
    assert_eq!(split["edges"], Value::Null);
    let boundary = &split["boundary"];
    let listed_members: BTreeSet<&str> = boundary["members"].as_array().unwrap().iter().map(str_of).collect();
    assert_eq!(listed_members, members.into_iter().collect());
    let inside = |party: &str| members.contains(&party);
    let everything = expected_flows(&demo, None, None);
    let part = |keep: &dyn Fn(&EdgeKey) -> bool| -> BTreeMap<EdgeKey, (u128, u64)> {
        everything.iter().filter(|(key, _)| keep(key)).map(|(key, value)| (key.clone(), *value)).collect()
    };
    let incoming = part(&|(from, to, _)| !inside(from) && inside(to));
    let internal = part(&|(from, to, _)| inside(from) && inside(to));
    let outgoing = part(&|(from, to, _)| inside(from) && !inside(to));
    assert!(!incoming.is_empty() && !internal.is_empty() && !outgoing.is_empty());
    assert_eq!(edge_map(&boundary["incoming"]), incoming);
    assert_eq!(edge_map(&boundary["internal"]), internal);
    assert_eq!(edge_map(&boundary["outgoing"]), outgoing);
    // Money entering the set from donors goes to its NGO (a clinic outside may also send some in).
    assert!(incoming.keys().any(|(_, to, _)| to == "medecins-solidaires"));
    let donors =
        ["anonymous-donors", "fondation-lumiere", "nordic-health-fund", "global-relief-trust", "ville-de-geneve"];
    let from_donors = |from: &str| donors.contains(&from);
    assert!(incoming.keys().filter(|(from, _, _)| from_donors(from)).all(|(_, to, _)| to == "medecins-solidaires"));
    assert!(outgoing.keys().any(|(_, to, _)| to.starts_with("spending:")));

    service
        .get("/api/v1/flows?organisations=clinique-goma,not-registered")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pledges_and_unacknowledged_transfers_are_listed() {
    let (service, demo) = service_with_demo().await;
    let pledges = service.get("/api/v1/pledges").await;
    pledges.expect(StatusCode::OK);
    documented("get", "/api/v1/pledges", &pledges);
    let pledges = pledges.json()["pledges"].as_array().unwrap().clone();
    let pledge_entries: Vec<(usize, &SignedEntry)> = demo
        .entries
        .iter()
        .enumerate()
        .filter(|(_, signed)| matches!(signed.entry().body, Body::Pledge { .. }))
        .collect();
    assert!(!pledges.is_empty());
    assert_eq!(pledges.len(), pledge_entries.len());
    for (pledge, (index, signed)) in pledges.iter().zip(&pledge_entries) {
        assert_eq!(pledge["entry_index"].as_u64(), Some(*index as u64));
        assert_eq!(str_of(&pledge["entry_id"]), signed.entry().entry_id.to_hex());
        assert_eq!(str_of(&pledge["pledger"]), signed.entry().author.as_str());
        let released = demo.entries.iter().position(
            |other| matches!(other.entry().body, Body::PledgeRelease { pledge } if pledge == signed.entry().entry_id),
        );
        match released {
            Some(at) => {
                assert_eq!(str_of(&pledge["status"]), "released");
                assert_eq!(pledge["released_at"].as_u64(), Some(at as u64));
                assert!(pledge["attested_at"].as_u64().unwrap() < at as u64);
            }
            None => assert_ne!(str_of(&pledge["status"]), "released"),
        }
    }

    let open = service.get("/api/v1/transfers/unacknowledged").await;
    open.expect(StatusCode::OK);
    documented("get", "/api/v1/transfers/unacknowledged", &open);
    let open: Vec<String> = open.json()["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|transfer| str_of(&transfer["entry_id"]).to_string())
        .collect();
    let acknowledged: BTreeSet<EntryId> = demo
        .entries
        .iter()
        .filter_map(|signed| match signed.entry().body {
            Body::Acknowledgement { transfer } => Some(transfer),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = demo
        .entries
        .iter()
        .filter(|signed| {
            matches!(signed.entry().body, Body::Transfer { .. }) && !acknowledged.contains(&signed.entry().entry_id)
        })
        .map(|signed| signed.entry().entry_id.to_hex())
        .collect();
    assert!(!open.is_empty());
    assert_eq!(open, expected);
    // The receiver's profile lists them too.
    let first = &demo.entries.iter().find(|signed| signed.entry().entry_id.to_hex() == open[0]).unwrap().entry().body;
    let Body::Transfer { to, .. } = first else { unreachable!() };
    let profile = service.get(&format!("/api/v1/organisations/{to}")).await.json();
    assert!(
        profile["unacknowledged_transfers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|transfer| transfer["entry_id"] == json!(open[0]))
    );
}

// ---------------------------------------------------------------------------------------------------
// Proofs and the C2SP endpoints.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inclusion_and_consistency_proofs_verify_against_signed_checkpoints() {
    let (service, demo) = service_with_demo().await;
    // A few more commits, one checkpoint each.
    for amount in [100, 200, 300] {
        service.submit(&donation(&demo, "sahel-care", amount)).await.expect(StatusCode::CREATED);
    }
    let listed = service.get("/api/v1/checkpoints").await;
    documented("get", "/api/v1/checkpoints", &listed);
    let listed = listed.json()["checkpoints"].as_array().unwrap().clone();
    let mut checkpoints: Vec<Checkpoint> = listed.iter().map(|view| verified_checkpoint(&service, view)).collect();
    let sizes: Vec<u64> = checkpoints.iter().map(|checkpoint| checkpoint.tree_size).collect();
    assert!(sizes.windows(2).all(|pair| pair[0] < pair[1]), "oldest first: {sizes:?}");
    assert_eq!(*sizes.last().unwrap(), service.tree_size().await);
    assert!(sizes.len() >= 4, "{sizes:?}");
    let paged = service.get(&format!("/api/v1/checkpoints?after={}&limit=2", sizes[0])).await.json();
    let paged: Vec<u64> =
        paged["checkpoints"].as_array().unwrap().iter().map(|c| c["tree_size"].as_u64().unwrap()).collect();
    assert_eq!(paged, sizes[1..3]);
    let empty = service.get("/api/v1/checkpoints/0").await;
    empty.expect(StatusCode::OK);
    documented("get", "/api/v1/checkpoints/{tree_size}", &empty);
    checkpoints.insert(0, verified_checkpoint(&service, &empty.json()));
    let latest = service.get("/api/v1/checkpoints/latest").await;
    documented("get", "/api/v1/checkpoints/latest", &latest);
    assert_eq!(verified_checkpoint(&service, &latest.json()), *checkpoints.last().unwrap());
    // The first checkpoints and the latest ones keep the pairs below few, however the demo was committed.
    if checkpoints.len() > 8 {
        checkpoints = checkpoints[..4].iter().chain(&checkpoints[checkpoints.len() - 4..]).cloned().collect();
    }

    for checkpoint in checkpoints.iter().filter(|checkpoint| checkpoint.tree_size > 0) {
        let size = checkpoint.tree_size;
        let stored = service.get(&format!("/api/v1/checkpoints/{size}")).await;
        documented("get", "/api/v1/checkpoints/{tree_size}", &stored);
        assert_eq!(verified_checkpoint(&service, &stored.json()), *checkpoint);
        for index in BTreeSet::from([0, 1, size / 2, size.saturating_sub(2), size - 1]) {
            if index >= size {
                continue;
            }
            let leaf = demo.entries.get(index as usize).map(|signed| signed.leaf_hash());
            let proof = service.get(&format!("/api/v1/proofs/inclusion?index={index}&tree_size={size}")).await;
            proof.expect(StatusCode::OK);
            documented("get", "/api/v1/proofs/inclusion", &proof);
            let proof = proof.json();
            let leaf_hash = hash_from_hex(str_of(&proof["leaf_hash"]));
            if let Some(leaf) = leaf {
                assert_eq!(leaf_hash, leaf);
            }
            assert_eq!(hash_from_hex(str_of(&proof["root"])), checkpoint.root);
            assert_eq!(
                verify_checkpoint(str_of(&proof["checkpoint"]["note"]), &service.verifier, Some(ORIGIN)).unwrap(),
                *checkpoint
            );
            verify_inclusion(&leaf_hash, index, size, &hashes_from_hex(&proof["proof"]), &checkpoint.root)
                .unwrap_or_else(|error| panic!("leaf {index} in tree {size}: {error}"));
            // The same proof by leaf hash.
            let by_hash = service
                .get(&format!("/api/v1/proofs/inclusion?leaf_hash={}&tree_size={size}", hex::encode(leaf_hash)))
                .await
                .json();
            assert_eq!(by_hash, proof);
        }
    }
    // Without a tree size, proofs are against the latest checkpoint.
    let latest_size = checkpoints.last().unwrap().tree_size;
    let proof = service.get("/api/v1/proofs/inclusion?index=7").await.json();
    assert_eq!(proof["tree_size"].as_u64(), Some(latest_size));

    for (position, old) in checkpoints.iter().enumerate() {
        for new in &checkpoints[position..] {
            let answer = service
                .get(&format!("/api/v1/proofs/consistency?old_size={}&new_size={}", old.tree_size, new.tree_size))
                .await;
            answer.expect(StatusCode::OK);
            documented("get", "/api/v1/proofs/consistency", &answer);
            let answer = answer.json();
            assert_eq!(hash_from_hex(str_of(&answer["old_root"])), old.root);
            assert_eq!(hash_from_hex(str_of(&answer["new_root"])), new.root);
            verify_consistency(old.tree_size, new.tree_size, &old.root, &new.root, &hashes_from_hex(&answer["proof"]))
                .unwrap_or_else(|error| panic!("{} -> {}: {error}", old.tree_size, new.tree_size));
        }
    }
    let answer = service.get(&format!("/api/v1/proofs/consistency?old_size={}", checkpoints[1].tree_size)).await.json();
    assert_eq!(answer["new_size"].as_u64(), Some(latest_size));

    // Out of range.
    for uri in [
        format!("/api/v1/proofs/inclusion?index=0&tree_size={}", latest_size + 1),
        format!("/api/v1/proofs/inclusion?index={latest_size}"),
        format!("/api/v1/proofs/consistency?old_size={}&new_size={}", latest_size, latest_size - 1),
        format!("/api/v1/proofs/consistency?old_size=1&new_size={}", latest_size + 1),
    ] {
        let answer = service.get(&uri).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "invalid_proof_request");
        documented("get", uri.split('?').next().unwrap(), &answer);
    }
    let unknown = service.get(&format!("/api/v1/proofs/inclusion?leaf_hash={}", "ab".repeat(32))).await;
    unknown.expect_error(StatusCode::NOT_FOUND, "not_found");
    documented("get", "/api/v1/proofs/inclusion", &unknown);
}

/// The root of leaves `[start, end)`, from level-0 hashes and, for aligned blocks of 256, the level-1 tile.
fn subtree_root(start: u64, end: u64, leaves: &[Hash], level_8: &[Hash]) -> Hash {
    let size = end - start;
    if size == 1 {
        return leaves[start as usize];
    }
    if size == 256 && start.is_multiple_of(256) {
        return level_8[(start / 256) as usize];
    }
    let split = 1u64 << (63 - (size - 1).leading_zeros());
    node_hash(&subtree_root(start, start + split, leaves, level_8), &subtree_root(start + split, end, leaves, level_8))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c2sp_checkpoint_and_tiles_hold_what_the_api_shows() {
    let (service, demo) = service_with_demo().await;
    let size = service.tree_size().await;
    assert!(size > 256 && size < 512 && size % 256 != 0, "one full tile and a partial one: {size}");
    let log = service.get("/api/v1/log").await.json();

    let note = service.get("/checkpoint").await;
    note.expect(StatusCode::OK);
    documented("get", "/checkpoint", &note);
    assert_eq!(note.header("cache-control"), Some("no-cache"));
    let verifier = NoteVerifier::parse(str_of(&log["verifier_key"])).unwrap();
    let checkpoint =
        verify_checkpoint(&note.text(), &verifier, Some(str_of(&log["origin"]))).expect("the note verifies");
    assert_eq!(checkpoint.tree_size, size);
    assert_eq!(hex::encode(checkpoint.root), str_of(&log["root"]));

    // The leaves as the API shows them.
    let mut api_leaves: Vec<Vec<u8>> = Vec::new();
    let mut api_hashes: Vec<Hash> = Vec::new();
    let (entries, _) = all_pages(&service, "", 500, false).await;
    for entry in &entries {
        api_leaves.push(hex::decode(str_of(&entry["leaf"])).unwrap());
        api_hashes.push(hash_from_hex(str_of(&entry["leaf_hash"])));
    }
    assert_eq!(api_leaves.len() as u64, size);

    let full = service.get("/tile/0/000").await;
    full.expect(StatusCode::OK);
    documented("get", "/tile/{path}", &full);
    assert_eq!(full.body.len(), 8_192);
    assert!(full.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(full.header("content-type"), Some("application/octet-stream"));
    let level_0_full = parse_tile_bytes(&full.body).unwrap();
    assert_eq!(level_0_full, api_hashes[..256]);

    let width = size % 256;
    let partial = service.get(&format!("/tile/0/{}.p/{width}", encode_tile_index(1))).await;
    partial.expect(StatusCode::OK);
    assert!(!partial.header("cache-control").unwrap().contains("immutable"));
    let level_0_partial = parse_tile_bytes(&partial.body).unwrap();
    assert_eq!(level_0_partial, api_hashes[256..]);
    // A narrower partial tile (for a client holding an older checkpoint) is served too.
    let narrow = service.get("/tile/0/001.p/5").await;
    narrow.expect(StatusCode::OK);
    assert_eq!(parse_tile_bytes(&narrow.body).unwrap(), api_hashes[256..261]);

    let bundle = service.get("/tile/entries/000").await;
    bundle.expect(StatusCode::OK);
    documented("get", "/tile/{path}", &bundle);
    assert!(bundle.header("cache-control").unwrap().contains("immutable"));
    let bundle = parse_entry_bundle(&bundle.body).unwrap();
    assert_eq!(bundle, api_leaves[..256]);
    assert!(bundle.iter().zip(&demo.entries).all(|(leaf, signed)| leaf.as_slice() == signed.bytes()));
    let partial_bundle = service.get(&format!("/tile/entries/001.p/{width}")).await;
    partial_bundle.expect(StatusCode::OK);
    assert_eq!(parse_entry_bundle(&partial_bundle.body).unwrap(), api_leaves[256..]);

    // The level-1 tile holds the roots of full level-0 tiles; with the leaves it rebuilds the checkpoint root.
    let level_1 = service.get("/tile/1/000.p/1").await;
    level_1.expect(StatusCode::OK);
    let level_8 = parse_tile_bytes(&level_1.body).unwrap();
    let mut folded = level_0_full.clone();
    while folded.len() > 1 {
        folded = folded.chunks(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
    }
    assert_eq!(level_8, folded);
    let leaves: Vec<Hash> = level_0_full.iter().chain(&level_0_partial).copied().collect();
    assert_eq!(subtree_root(0, size, &leaves, &level_8), checkpoint.root);

    // Nothing beyond the checkpoint, and nothing that is not a tile path.
    for path in [
        "/tile/0/001".to_string(),
        format!("/tile/0/001.p/{}", width + 1),
        "/tile/0/002.p/1".to_string(),
        "/tile/entries/001".to_string(),
        "/tile/entries/002".to_string(),
        "/tile/1/000".to_string(),
        "/tile/1/000.p/2".to_string(),
        "/tile/2/000.p/1".to_string(),
        "/tile/0/1".to_string(),
        "/tile/0/000.p/0".to_string(),
        "/tile/zero/000".to_string(),
    ] {
        let answer = service.get(&path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        documented("get", "/tile/{path}", &answer);
    }
}

// ---------------------------------------------------------------------------------------------------
// Operations, headers, CORS.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_security_headers_and_cors() {
    let (service, demo) = service_with_demo().await;
    let health = service.get("/healthz").await;
    health.expect(StatusCode::OK);
    documented("get", "/healthz", &health);
    assert_eq!(health.json(), json!({ "status": "ok", "tree_size": demo.entries.len(), "backend": "sqlite" }));

    service.submit(&donation(&demo, "sahel-care", 500)).await.expect(StatusCode::CREATED);
    let metrics = service.get("/metrics").await;
    metrics.expect(StatusCode::OK);
    documented("get", "/metrics", &metrics);
    let text = metrics.text();
    for name in ["aidtrail_entries_appended_total", "aidtrail_http_request_seconds"] {
        assert!(text.contains(name), "{name} in:\n{text}");
    }
    assert!(text.contains("route=\"/api/v1/entries\""), "request metrics are labelled by route");
    // The process's memory by part, read at each scrape.
    let memory = |part: &str| -> f64 {
        let prefix = format!("aidtrail_memory_bytes{{part=\"{part}\"}} ");
        let line =
            text.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix} in:\n{text}"));
        line[prefix.len()..].parse().unwrap()
    };
    let tree_size = demo.entries.len() as f64 + 1.0;
    assert!(memory("merkle_tree") >= tree_size * 32.0, "the tree holds every leaf hash");
    assert!(memory("entry_history") >= tree_size * 48.0, "every entry's record holds its id and leaf hash");
    assert!(memory("resident") > memory("merkle_tree") + memory("entry_history"));
    assert!(memory("heap_in_use") > memory("sqlite") && memory("sqlite") > 0.0, "SQLite's memory is on the heap");
    assert!(memory("heap_in_use") < memory("resident") * 2.0);
    memory("heap_free");
    memory("tile_cache");

    let openapi = service.get("/api/v1/openapi.json").await;
    openapi.expect(StatusCode::OK);
    documented("get", "/api/v1/openapi.json", &openapi);
    assert_eq!(openapi.json(), spec().0);

    // Security headers on every kind of answer.
    for uri in [
        "/api/v1/log",
        "/api/v1/whatever",
        "/checkpoint",
        "/tile/0/000",
        "/tile/9/000",
        "/healthz",
        "/",
        "/explorer/page",
    ] {
        let answer = service.get(uri).await;
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{uri}: {:?}", answer.headers);
        assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{uri}");
        assert!(
            answer.header("content-security-policy").is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{uri}"
        );
    }
    let answer = service.post_raw("/api/v1/entries", "application/json", "{").await;
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));

    // CORS: reads from any origin.
    for uri in ["/api/v1/log", "/checkpoint", "/tile/entries/000", "/api/v1/whatever"] {
        let request = Request::get(uri).header(header::ORIGIN, "https://example.org").body(HttpBody::empty()).unwrap();
        let answer = service.send(request).await;
        let allowed: Vec<_> = answer.headers.get_all(header::ACCESS_CONTROL_ALLOW_ORIGIN).iter().collect();
        assert_eq!(allowed, ["*"], "{uri}");
    }
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/v1/entries")
        .header(header::ORIGIN, "https://example.org")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .body(HttpBody::empty())
        .unwrap();
    let answer = service.send(preflight).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.header("access-control-allow-methods").is_some_and(|methods| methods.contains("GET")));
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_limit_per_key_answers_429() {
    let service = service_with_limits(WriteLimits { per_key_per_second: 1, per_address_per_second: 0 }).await;
    let demo = small_demo();
    load_demo(&service.log, &demo).await;
    let size = service.tree_size().await;
    // One entry per second with a burst of two: the first two pass, the third within the second is refused.
    // (The first two go together, so the test does not depend on how fast the disk commits.)
    // Both carry the same timestamp, so either may be sequenced first.
    let first = donation(&demo, "health-bridge", 100);
    let mut entry = first.entry().clone();
    entry.entry_id = EntryId(rand::random());
    let Body::Donation { amount, .. } = &mut entry.body else { unreachable!("a donation") };
    *amount = Amount(200);
    let second = sign(&demo, entry);
    let (first, second) = tokio::join!(service.submit(&first), service.submit(&second));
    first.expect(StatusCode::CREATED);
    second.expect(StatusCode::CREATED);
    let third = service.submit(&donation(&demo, "health-bridge", 300)).await;
    third.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    documented("post", "/api/v1/entries", &third);
    let key = hex::encode(demo.keys["health-bridge"].verifying_key().as_bytes());
    assert!(str_of(&third.json()["error"]["message"]).contains(&key), "the message names the key");
    assert_eq!(service.tree_size().await, size + 2, "the limited entry was not written");
    // The limit is per key: another organisation still writes, and a batch is charged per entry.
    service.submit(&donation(&demo, "sahel-care", 100)).await.expect(StatusCode::CREATED);
    let batch = json!({ "signed_entries": [
        hex::encode(donation(&demo, "medecins-solidaires", 1).bytes()),
        hex::encode(donation(&demo, "medecins-solidaires", 2).bytes()),
        hex::encode(donation(&demo, "medecins-solidaires", 3).bytes()),
    ]});
    let answer = service.post_json("/api/v1/entries/batch", &batch).await;
    answer.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    documented("post", "/api/v1/entries/batch", &answer);
    assert_eq!(service.tree_size().await, size + 3);
}

// ---------------------------------------------------------------------------------------------------
// The OpenAPI description.

/// The routes registered in `server/src/api/*.rs`: path -> methods, by a plain text scan of the source.
fn registered_routes() -> BTreeMap<String, BTreeSet<String>> {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut routes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in std::fs::read_dir(&directory).unwrap() {
        let path = file.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for (position, _) in source.match_indices(".route(\"") {
            let rest = &source[position + ".route(\"".len()..];
            let end = rest.find('"').unwrap();
            let route = rest[..end].replace("{*", "{");
            let line = rest[end..].lines().next().unwrap();
            let mut methods = BTreeSet::new();
            for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
                let call = format!("{method}(");
                for (at, _) in line.match_indices(&call) {
                    let before = line[..at].chars().last();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        methods.insert(method.to_string());
                    }
                }
            }
            assert!(!methods.is_empty(), "no method found for {route} in {}", path.display());
            routes.entry(route).or_default().extend(methods);
        }
    }
    routes
}

#[test]
fn the_openapi_description_documents_every_route_and_only_them() {
    let routes = registered_routes();
    assert!(routes.len() >= 20, "the scan finds the routes: {routes:?}");
    assert!(routes.contains_key("/tile/{path}"));
    let spec = spec();
    assert_eq!(spec.0["openapi"], json!("3.1.0"));
    let paths = spec.0["paths"].as_object().unwrap();
    for (route, methods) in &routes {
        let documented = paths.get(route).unwrap_or_else(|| panic!("{route} is not in server/openapi.json"));
        let documented_methods: BTreeSet<String> = documented.as_object().unwrap().keys().cloned().collect();
        assert_eq!(&documented_methods, methods, "methods of {route}");
    }
    for path in paths.keys() {
        assert!(routes.contains_key(path), "{path} is documented but no route serves it");
    }
    // Every operation: an id, 2xx answers, parameters for every path template, resolvable references.
    let mut operation_ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation_ids.insert(str_of(&operation["operationId"]).to_string()),
                "{method} {path}: duplicate operationId"
            );
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.keys().any(|status| status.starts_with('2')), "{method} {path}");
            let parameters: Vec<&Value> = operation["parameters"]
                .as_array()
                .map(|list| list.iter().map(|p| spec.resolve(p)).collect())
                .unwrap_or_default();
            let mut template = path.as_str();
            while let Some(open) = template.find('{') {
                let close = template[open..].find('}').unwrap() + open;
                let name = &template[open + 1..close];
                assert!(
                    parameters
                        .iter()
                        .any(|p| p["in"] == json!("path") && p["name"] == json!(name) && p["required"] == json!(true)),
                    "{method} {path}: the path parameter {name} is documented"
                );
                template = &template[close + 1..];
            }
            for (status, response) in responses {
                let response = spec.resolve(response);
                assert!(response["description"].is_string(), "{method} {path} {status}");
                if status.starts_with('4') || status.starts_with('5') {
                    if let Some(json) = response["content"].get("application/json") {
                        assert_eq!(
                            json["schema"]["$ref"],
                            json!("#/components/schemas/Error"),
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
    let text = serde_json::to_string(&spec.0).unwrap();
    for (position, _) in text.match_indices("\"$ref\":\"") {
        let rest = &text[position + 8..];
        let reference = &rest[..rest.find('"').unwrap()];
        assert!(spec.0.pointer(reference.strip_prefix('#').unwrap()).is_some(), "{reference} resolves");
    }
    for name in [
        "EntryView",
        "ReceiptView",
        "CheckpointView",
        "EntryPage",
        "LogInfo",
        "OrganisationProfile",
        "ForwardTrace",
        "BackwardTrace",
        "FlowsView",
        "InclusionProofView",
        "ConsistencyProofView",
        "Error",
    ] {
        assert!(spec.0["components"]["schemas"].get(name).is_some(), "components/schemas/{name}");
    }
}

#[test]
fn the_documented_entry_schema_matches_every_kind_of_entry() {
    let spec = spec();
    let schema = json!({ "$ref": "#/components/schemas/Entry" });
    let org = |id: &str| OrgId::new(id).unwrap();
    let (key, id, eur) = (PublicKey([3; 32]), EntryId([4; 16]), AssetCode::new("EUR").unwrap());
    let date = Date::from_ymd(2026, 1, 5).unwrap();
    let programme = ProgrammeId::new("kivu-primary-health").unwrap();
    let country = |code: &str| code.parse::<Country>().unwrap();
    let bodies = vec![
        Body::Genesis { origin: ORIGIN.into(), operator: org("operator"), operator_key: key },
        Body::OperatorKeyRotation { new_key: key },
        Body::RegisterOrganisation {
            organisation: org("clinique-goma"),
            role: Role::Clinic,
            name: "Clinique de Goma".into(),
            country: country("CD"),
            iati_identifier: Some("XM-DAC-1".into()),
            attribution_policy: AttributionPolicy::ProRata,
            public_key: key,
        },
        Body::RegisterOrganisation {
            organisation: org("audit-verite"),
            role: Role::Auditor,
            name: "Audit".into(),
            country: country("BE"),
            iati_identifier: None,
            attribution_policy: AttributionPolicy::Fifo,
            public_key: key,
        },
        Body::KeyRotation { organisation: org("clinique-goma"), new_key: key },
        Body::KeyRevocation {
            organisation: org("clinique-goma"),
            revoked_key: key,
            replacement_key: Some(key),
            reason: "lost".into(),
        },
        Body::KeyRevocation {
            organisation: org("clinique-goma"),
            revoked_key: key,
            replacement_key: None,
            reason: String::new(),
        },
        Body::DeclareAsset { asset: AssetCode::new("USDC").unwrap(), decimals: 6, asset_kind: AssetKind::Token },
        Body::DeclareProgramme {
            programme: programme.clone(),
            name: "Kivu".into(),
            countries: vec![country("CD"), country("ML")],
            sector: "12220".into(),
            iati_identifier: Some("XM-DAC-1-1".into()),
        },
        Body::Donation {
            donor: Donor::Organisation(org("fondation-lumiere")),
            asset: eur.clone(),
            amount: Amount(u128::MAX),
            value_date: date,
            earmark: Some(Earmark::Programme(programme.clone())),
            external_reference: Some("SEPA-1".into()),
        },
        Body::Donation {
            donor: Donor::Anonymous(Commitment([5; 32])),
            asset: eur.clone(),
            amount: Amount(1),
            value_date: date,
            earmark: Some(Earmark::Country(country("HT"))),
            external_reference: None,
        },
        Body::Donation {
            donor: Donor::Anonymous(Commitment([5; 32])),
            asset: eur.clone(),
            amount: Amount(1),
            value_date: date,
            earmark: Some(Earmark::Clinic(org("clinique-goma"))),
            external_reference: None,
        },
        Body::Transfer {
            to: org("clinique-goma"),
            asset: eur.clone(),
            amount: Amount(10),
            value_date: date,
            programme: Some(programme.clone()),
            purpose: String::new(),
        },
        Body::Acknowledgement { transfer: id },
        Body::Spend {
            asset: eur.clone(),
            amount: Amount(10),
            value_date: date,
            category: Category::WaterSanitation,
            recipient: Recipient::Supplier(org("medipharm-kenya")),
            programme: Some(programme.clone()),
            evidence: Some(Digest([6; 32])),
            description: "pumps".into(),
        },
        Body::Spend {
            asset: eur.clone(),
            amount: Amount(10),
            value_date: date,
            category: Category::Other,
            recipient: Recipient::Beneficiary(Commitment([7; 32])),
            programme: None,
            evidence: None,
            description: String::new(),
        },
        Body::Pledge {
            to: org("clinique-goma"),
            asset: eur.clone(),
            amount: Amount(10),
            value_date: date,
            verifier: org("audit-verite"),
            result: "vaccinated".into(),
            expires_at_ms: 1,
            programme: None,
        },
        Body::Attestation { pledge: id, statement: "seen".into(), evidence: Some(Digest([8; 32])) },
        Body::Attestation { pledge: id, statement: String::new(), evidence: None },
        Body::PledgeRelease { pledge: id },
        Body::PledgeVoid { pledge: id },
        Body::Reversal { target: id, reason: "twice".into() },
        Body::Conversion {
            from_asset: eur.clone(),
            from_amount: Amount(10_000),
            to_asset: ledger::AssetCode::new("USDC").unwrap(),
            to_amount: Amount(108_350_000),
            rate: "1.0835".parse().unwrap(),
            rate_source: "ECB".into(),
            value_date: date,
        },
        Body::Refund { donation: id, asset: eur.clone(), amount: Amount(10), value_date: date, reason: "asked".into() },
        Body::AccountsSignOff {
            organisation: org("clinique-goma"),
            tree_size: 7,
            period_start: date,
            period_end: date,
            report: Digest([9; 32]),
            opinion: "clean".into(),
        },
        Body::VoucherIssue {
            programme: programme.clone(),
            asset: eur.clone(),
            face_value: Amount(2_500),
            category: Category::Consultation,
            clinics: vec![org("clinique-goma")],
            vouchers: vec![ledger::VoucherId([1; 16]), ledger::VoucherId([2; 16])],
            value_date: date,
            expires_at_ms: 2,
        },
        Body::VoucherRedemption { voucher: ledger::VoucherId([1; 16]), evidence: None },
        Body::VoucherRedemption { voucher: ledger::VoucherId([1; 16]), evidence: Some(Digest([3; 32])) },
        Body::VoucherSettlement {
            clinic: org("clinique-goma"),
            vouchers: vec![ledger::VoucherId([1; 16])],
            value_date: date,
        },
        Body::VoucherExpiry { issue: id },
        Body::Erasure { count: u32::MAX, digest: Digest([9; 32]), reason: ledger::ErasureReason::ConsentWithdrawn },
    ];
    let kinds: BTreeSet<&str> = bodies.iter().map(|body| body.kind().as_str()).collect();
    assert_eq!(kinds.len(), ledger::Kind::ALL.len(), "every kind is checked");
    for body in bodies {
        let entry = Entry { entry_id: id, author: org("clinique-goma"), timestamp_ms: 1_767_600_000_000, body };
        let value = serde_json::to_value(&entry).unwrap();
        spec.validate(&schema, &value, "$").unwrap_or_else(|error| panic!("{value}: {error}"));
        // The checker is not vacuous: a changed field type or an unknown field is caught.
        let mut extra = value.clone();
        extra["body"]["colour"] = json!("red");
        assert!(spec.validate(&schema, &extra, "$").is_err(), "{extra}");
        let mut wrong_id = value.clone();
        wrong_id["entry_id"] = json!("ABC");
        assert!(spec.validate(&schema, &wrong_id, "$").is_err());
        if value["body"].get("amount").is_some() {
            let mut number = value.clone();
            number["body"]["amount"] = json!(10);
            assert!(spec.validate(&schema, &number, "$").is_err(), "amounts are strings");
        }
    }
}

/// The path template a concrete path matches (for the few the tests use with values).
fn template_of(path: &str) -> String {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let spec = spec();
    for template in spec.0["paths"].as_object().unwrap().keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(part, segment)| part.starts_with('{') || part == segment)
        {
            // Prefer a literal match (`/checkpoints/latest` over `/checkpoints/{tree_size}`).
            if parts.iter().zip(&segments).all(|(part, segment)| part == segment) {
                return template.clone();
            }
        }
    }
    for template in spec.0["paths"].as_object().unwrap().keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(part, segment)| part.starts_with('{') || part == segment)
        {
            return template.clone();
        }
    }
    panic!("no documented path matches {path}");
}

// ---------------------------------------------------------------------------------------------------
// A small checker of answers against the OpenAPI description: the status must be documented for the
// operation and a JSON body must match the documented schema (types, required and unknown properties,
// patterns, enums, oneOf/anyOf, bounds).

struct Spec(Value);

fn spec() -> Spec {
    Spec(serde_json::from_str(include_str!("../openapi.json")).expect("server/openapi.json is JSON"))
}

impl Spec {
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(
                self.0
                    .pointer(reference.strip_prefix('#').unwrap())
                    .unwrap_or_else(|| panic!("{reference} does not resolve")),
            ),
            None => value,
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        if schema.get("$ref").is_some() {
            return self.validate(self.resolve(schema), value, at);
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            return Err(format!("{at}: {value} is not {constant}"));
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array)
            && !choices.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {choices:?}"));
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().map(|t| t.as_str().unwrap()).collect(),
                other => panic!("bad type {other}"),
            };
            let matches = |name: &str| match name {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "integer" => value.is_u64() || value.is_i64(),
                "number" => value.is_number(),
                "string" => value.is_string(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                other => panic!("unknown type {other}"),
            };
            if !types.iter().any(|name| matches(name)) {
                return Err(format!("{at}: {value} is not of type {types:?}"));
            }
        }
        match value {
            Value::String(text) => {
                if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                    && !matches_pattern(pattern, text)
                {
                    return Err(format!("{at}: {text:?} does not match {pattern}"));
                }
                if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                    && text.chars().count() as u64 > max
                {
                    return Err(format!("{at}: longer than {max}"));
                }
            }
            Value::Number(number) => {
                let number = number.as_f64().unwrap();
                if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
                    && number < minimum
                {
                    return Err(format!("{at}: {number} < {minimum}"));
                }
                if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64)
                    && number > maximum
                {
                    return Err(format!("{at}: {number} > {maximum}"));
                }
            }
            Value::Array(items) => {
                if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < min
                {
                    return Err(format!("{at}: fewer than {min} items"));
                }
                if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                    && items.len() as u64 > max
                {
                    return Err(format!("{at}: more than {max} items"));
                }
                if let Some(item_schema) = schema.get("items") {
                    for (position, item) in items.iter().enumerate() {
                        self.validate(item_schema, item, &format!("{at}[{position}]"))?;
                    }
                }
            }
            Value::Object(map) => {
                if let Some(required) = schema.get("required").and_then(Value::as_array) {
                    for name in required {
                        if !map.contains_key(name.as_str().unwrap()) {
                            return Err(format!("{at}: the required property {name} is missing"));
                        }
                    }
                }
                let properties = schema.get("properties").and_then(Value::as_object);
                for (name, property) in map {
                    match properties.and_then(|properties| properties.get(name)) {
                        Some(property_schema) => self.validate(property_schema, property, &format!("{at}.{name}"))?,
                        None if schema.get("additionalProperties") == Some(&json!(false)) => {
                            return Err(format!("{at}: the property {name:?} is not documented"));
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
        if let Some(one_of) = schema.get("oneOf").and_then(Value::as_array) {
            let errors: Vec<String> =
                one_of.iter().filter_map(|option| self.validate(option, value, at).err()).collect();
            if errors.len() + 1 != one_of.len() {
                return Err(format!("{at}: {} of oneOf match: {errors:?}", one_of.len() - errors.len()));
            }
        }
        if let Some(any_of) = schema.get("anyOf").and_then(Value::as_array) {
            let errors: Vec<String> =
                any_of.iter().filter_map(|option| self.validate(option, value, at).err()).collect();
            if errors.len() == any_of.len() {
                return Err(format!("{at}: none of anyOf match: {errors:?}"));
            }
        }
        Ok(())
    }
}

fn matches_pattern(pattern: &str, text: &str) -> bool {
    let lower_hex = |text: &str| text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match pattern {
        "^[0-9a-f]{32}$" => text.len() == 32 && lower_hex(text),
        "^[0-9a-f]{64}$" => text.len() == 64 && lower_hex(text),
        "^[0-9a-f]{128}$" => text.len() == 128 && lower_hex(text),
        "^([0-9a-f]{2})*$" => text.len().is_multiple_of(2) && lower_hex(text),
        "^[a-z0-9][a-z0-9._-]{0,62}$" => {
            let bytes = text.as_bytes();
            (1..=63).contains(&bytes.len())
                && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
                && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        }
        "^[A-Z0-9]{2,12}$" => {
            (2..=12).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        "^[A-Z]{2}$" => text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase()),
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" => {
            let parts: Vec<&str> = text.split('-').collect();
            text.len() == 10
                && parts.len() == 3
                && [4, 2, 2].iter().zip(&parts).all(|(len, part)| part.len() == *len && digits(part))
        }
        "^(0|[1-9][0-9]*)$" => digits(text) && (text == "0" || !text.starts_with('0')),
        "^[0-9]{5}$" => text.len() == 5 && digits(text),
        "^(0|[1-9][0-9]*)(\\.[0-9]*[1-9])?$" => text.parse::<ledger::Rate>().is_ok(),
        other => panic!("the schema check does not know the pattern {other}"),
    }
}

/// Asserts that an answer is documented: its status for this operation, its content type, and for JSON
/// its body against the schema.
#[track_caller]
pub(crate) fn documented(method: &str, template: &str, response: &TestResponse) {
    let spec = spec();
    let operation = spec.0["paths"]
        .get(template)
        .and_then(|item| item.get(method))
        .unwrap_or_else(|| panic!("{method} {template} is not documented"));
    let status = response.status.as_u16().to_string();
    let documented = operation["responses"].get(&status).map(|response| spec.resolve(response)).unwrap_or_else(|| {
        panic!(
            "{method} {template} answers {status}, which is not documented: {}",
            String::from_utf8_lossy(&response.body)
        )
    });
    let content_type = response.header("content-type").unwrap_or_default();
    let Some(content) = documented.get("content").and_then(Value::as_object) else {
        assert!(response.body.is_empty(), "{method} {template} {status}: an undocumented body");
        return;
    };
    let (media_type, media) = content
        .iter()
        .find(|(media_type, _)| content_type.starts_with(media_type.as_str()))
        .unwrap_or_else(|| panic!("{method} {template} {status}: content type {content_type:?} is not documented"));
    if media_type == "application/json" {
        spec.validate(&media["schema"], &response.json(), "$")
            .unwrap_or_else(|error| panic!("{method} {template} {status} does not match its schema: {error}"));
    }
}

// ---------------------------------------------------------------------------------------------------
// Vouchers and sign-offs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouchers_and_sign_offs_are_listed_and_unknown_ones_refused() {
    let (service, demo) = service_with_demo().await;
    let submit = |signed: SignedEntry| {
        let service = &service;
        async move {
            let answer = service.submit(&signed).await;
            answer.expect(StatusCode::CREATED);
            check_receipt(service, &answer.json(), &signed)
        }
    };
    let (ngo, clinic, auditor) = ("medecins-solidaires", "clinique-goma", "audit-verite");
    // Money the vouchers can be issued from, then three vouchers of 25.00 EUR redeemable at one clinic.
    submit(donation(&demo, ngo, 10_000)).await;
    let mut vouchers: Vec<VoucherId> = (0..3).map(|_| VoucherId(rand::random())).collect();
    vouchers.sort();
    let now = now_ms();
    let expires_at_ms = now + 60_000;
    let issue_body = Body::VoucherIssue {
        programme: ProgrammeId::new("kivu-primary-health").unwrap(),
        asset: AssetCode::new("EUR").unwrap(),
        face_value: Amount(2_500),
        category: Category::Consultation,
        clinics: vec![OrgId::new(clinic).unwrap()],
        vouchers: vouchers.clone(),
        value_date: today(),
        expires_at_ms,
    };
    let issue = new_entry(ngo, issue_body.clone());
    let issue_id = issue.entry_id;
    let issue_index = submit(sign(&demo, issue)).await;
    for voucher in &vouchers[..2] {
        submit(sign(&demo, new_entry(clinic, Body::VoucherRedemption { voucher: *voucher, evidence: None }))).await;
    }
    // Conflicts with what the log holds answer 409: a voucher redeemed twice, a voucher id issued twice.
    let again = new_entry(clinic, Body::VoucherRedemption { voucher: vouchers[0], evidence: None });
    service.submit(&sign(&demo, again)).await.expect_error(StatusCode::CONFLICT, "voucher_wrong_status");
    let mut reissue = new_entry(ngo, issue_body.clone());
    if let Body::VoucherIssue { vouchers: ids, .. } = &mut reissue.body {
        *ids = vec![vouchers[2]];
    }
    service.submit(&sign(&demo, reissue)).await.expect_error(StatusCode::CONFLICT, "voucher_exists");
    let settled_at = submit(sign(
        &demo,
        new_entry(
            ngo,
            Body::VoucherSettlement {
                clinic: OrgId::new(clinic).unwrap(),
                vouchers: vec![vouchers[0]],
                value_date: today(),
            },
        ),
    ))
    .await;
    // The expiry is signed just after the vouchers expire (the log accepts times up to 5 minutes ahead).
    let mut expiry = new_entry(ngo, Body::VoucherExpiry { issue: issue_id });
    expiry.timestamp_ms = expires_at_ms + 1;
    let expired_at = submit(sign(&demo, expiry)).await;
    let size = service.tree_size().await;
    let sign_off = new_entry(
        auditor,
        Body::AccountsSignOff {
            organisation: OrgId::new(ngo).unwrap(),
            tree_size: size,
            period_start: Date::from_ymd(2026, 1, 1).unwrap(),
            period_end: Date::from_ymd(2026, 3, 31).unwrap(),
            report: Digest([7; 32]),
            opinion: "unqualified".into(),
        },
    );
    let sign_off_index = submit(sign(&demo, sign_off)).await;

    // The issue, alone and filtered by a clinic it names or by its issuer.
    for query in ["", "?organisation=clinique-goma", "?organisation=medecins-solidaires"] {
        let issues = service.get(&format!("/api/v1/vouchers/issues{query}")).await;
        issues.expect(StatusCode::OK);
        documented("get", "/api/v1/vouchers/issues", &issues);
        let issues = issues.json()["issues"].as_array().unwrap().clone();
        assert_eq!(issues.len(), 1, "{query}");
        let issue = &issues[0];
        assert_eq!(issue["entry_index"].as_u64(), Some(issue_index));
        assert_eq!(str_of(&issue["entry_id"]), issue_id.to_hex());
        assert_eq!(
            (
                issue["issued"].as_u64(),
                issue["redeemed"].as_u64(),
                issue["settled"].as_u64(),
                issue["expired"].as_u64()
            ),
            (Some(3), Some(2), Some(1), Some(1))
        );
        assert_eq!(amount_of(&issue["reserved"]), 2_500, "the redeemed voucher not yet settled");
    }
    let none = service.get("/api/v1/vouchers/issues?organisation=sahel-care").await;
    assert_eq!(none.json()["issues"], json!([]));
    let unknown = service.get("/api/v1/vouchers/issues?organisation=nobody").await;
    unknown.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    documented("get", "/api/v1/vouchers/issues", &unknown);
    service.get("/api/v1/vouchers/issues?organisations=x").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");

    // The programme's totals.
    let programmes = service.get("/api/v1/vouchers/programmes").await;
    programmes.expect(StatusCode::OK);
    documented("get", "/api/v1/vouchers/programmes", &programmes);
    let programmes = programmes.json()["programmes"].as_array().unwrap().clone();
    assert_eq!(programmes.len(), 1);
    let totals = &programmes[0];
    assert_eq!(str_of(&totals["programme"]), "kivu-primary-health");
    assert_eq!(str_of(&totals["issuer"]), ngo);
    assert_eq!(
        [&totals["issued_value"], &totals["redeemed_value"], &totals["settled_value"], &totals["expired_value"]]
            .map(amount_of),
        [7_500, 5_000, 2_500, 2_500]
    );

    // Each voucher where it stands; unknown and malformed ids.
    let statuses = [("settled", Some(settled_at), None), ("redeemed", None, None), ("expired", None, Some(expired_at))];
    for (voucher, (status, settled, expired)) in vouchers.iter().zip(statuses) {
        let answer = service.get(&format!("/api/v1/vouchers/{voucher}")).await;
        answer.expect(StatusCode::OK);
        documented("get", "/api/v1/vouchers/{voucher_id}", &answer);
        let view = answer.json();
        assert_eq!(str_of(&view["status"]), status);
        assert_eq!(str_of(&view["issue"]), issue_id.to_hex());
        assert_eq!(str_of(&view["issuer"]), ngo);
        assert_eq!(str_of(&view["programme"]), "kivu-primary-health");
        assert!(view["expires_at_ms"].as_u64().is_some_and(|at| at > 0), "{view}");
        assert_eq!(view["settled_at"].as_u64(), settled);
        assert_eq!(view["expired_at"].as_u64(), expired);
        assert_eq!(view["clinic"], if status == "expired" { json!(null) } else { json!(clinic) });
    }
    let unknown = service.get(&format!("/api/v1/vouchers/{}", VoucherId(rand::random()))).await;
    unknown.expect_error(StatusCode::NOT_FOUND, "not_found");
    documented("get", "/api/v1/vouchers/{voucher_id}", &unknown);
    for bad in ["not-a-voucher", "0123456789abcdef", &"a".repeat(34)] {
        let answer = service.get(&format!("/api/v1/vouchers/{bad}")).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "invalid_parameter");
        documented("get", "/api/v1/vouchers/{voucher_id}", &answer);
    }

    // The sign-off, with the audited organisation and with the auditor.
    for id in [ngo, auditor] {
        let answer = service.get(&format!("/api/v1/organisations/{id}/sign-offs")).await;
        answer.expect(StatusCode::OK);
        documented("get", "/api/v1/organisations/{id}/sign-offs", &answer);
        let sign_offs = answer.json()["sign_offs"].as_array().unwrap().clone();
        assert_eq!(sign_offs.len(), 1, "{id}");
        assert_eq!(sign_offs[0]["entry_index"].as_u64(), Some(sign_off_index));
        assert_eq!(sign_offs[0]["tree_size"].as_u64(), Some(size));
        assert_eq!(str_of(&sign_offs[0]["report"]), Digest([7; 32]).to_hex());
        assert_eq!(str_of(&sign_offs[0]["opinion"]), "unqualified");
    }
    let other = service.get(&format!("/api/v1/organisations/{clinic}/sign-offs")).await;
    assert_eq!(other.json()["sign_offs"], json!([]));
    let unknown = service.get("/api/v1/organisations/nobody/sign-offs").await;
    unknown.expect_error(StatusCode::NOT_FOUND, "not_found");
    documented("get", "/api/v1/organisations/{id}/sign-offs", &unknown);

    // The same listings as CSV.
    let csv = service.get("/api/v1/vouchers/issues.csv?organisation=clinique-goma").await;
    csv.expect(StatusCode::OK);
    assert_eq!(csv.header("content-disposition"), Some("attachment; filename=\"aidtrail-voucher-issues.csv\""));
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0]
            .starts_with("index,entry_id,issuer,programme,asset,face_value,face_value_minor_units,category,clinics")
    );
    assert!(
        lines[1].starts_with(&format!(
            "{issue_index},{issue_id},medecins-solidaires,kivu-primary-health,EUR,25.00,2500,consultation,clinique-goma,"
        )),
        "{text}"
    );
    assert!(lines[1].ends_with(",3,2,1,1,25.00,2500"), "{text}");
    service
        .get("/api/v1/vouchers/issues.csv?organisation=nobody")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    let csv = service.get("/api/v1/vouchers/programmes.csv").await;
    csv.expect(StatusCode::OK);
    let text = csv.text();
    assert_eq!(
        text.lines().nth(1),
        Some("kivu-primary-health,medecins-solidaires,EUR,3,2,1,1,75.00,50.00,25.00,25.00,7500,5000,2500,2500"),
        "{text}"
    );
}
