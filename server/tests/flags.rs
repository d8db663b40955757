//! Anomaly flags through the API: the listing equals what a replay of the log raises, its filters and
//! pages, one organisation's flags, the CSV export, the metrics, JSON errors for bad filters, and flags
//! raised as entries arrive.

use axum::http::StatusCode;
use ledger::flags::FlagFilter;
use ledger::{Amount, AssetCode, Body, Commitment, Date, Donor, Entry, EntryId, EntryVerifier, Flags, OrgId, State};
use serde_json::{Value, json};
use server::log::now_ms;

use crate::api::documented;
use crate::support::*;

/// The flags of the demo, computed by replaying its entries outside the service.
fn replayed(demo: &server::demo::DemoLedger) -> Value {
    let mut state = State::new();
    let mut flags = Flags::new();
    let mut verifier = EntryVerifier::new(ORIGIN).unwrap();
    for signed in &demo.entries {
        let verified = verifier.verify(signed.clone()).unwrap();
        state.apply(&verified).unwrap();
        flags.observe(&state, verified.entry());
    }
    serde_json::to_value(flags.list(&state, &FlagFilter { limit: usize::MAX, ..FlagFilter::default() })).unwrap()
}

/// Every flag of a listing, page after page.
async fn all_pages(service: &TestService, path: &str, query: &str) -> Vec<Value> {
    let mut flags = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let cursor = after.map(|after| format!("&after={after}")).unwrap_or_default();
        let page = service.get(&format!("{path}?limit=2{query}{cursor}")).await;
        page.expect(StatusCode::OK);
        documented(
            "get",
            if path.ends_with("/flags") && path != "/api/v1/flags" {
                "/api/v1/organisations/{id}/flags"
            } else {
                "/api/v1/flags"
            },
            &page,
        );
        let page = page.json();
        flags.extend(page["flags"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    flags
}

fn names(flag: &Value, organisation: &str) -> bool {
    flag["organisation"] == json!(organisation) || flag["counterparty"] == json!(organisation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flags_listing_is_what_a_replay_raises_filtered_and_paged() {
    let (service, demo) = service_with_demo().await;
    let expected = replayed(&demo);
    let expected = expected.as_array().unwrap();
    let rules: std::collections::BTreeSet<&str> = expected.iter().map(|flag| flag["rule"].as_str().unwrap()).collect();
    assert!(rules.len() >= 4, "the small demo's planted anomalies raise flags of several rules: {rules:?}");

    // The whole listing, in one page and in pages of two.
    let answer = service.get("/api/v1/flags?limit=500").await;
    answer.expect(StatusCode::OK);
    documented("get", "/api/v1/flags", &answer);
    let page = answer.json();
    assert!(page["notice"].as_str().unwrap().contains("not an accusation"));
    assert_eq!(page["flags"].as_array().unwrap(), expected);
    assert_eq!(page["next_after"], Value::Null);
    assert_eq!(all_pages(&service, "/api/v1/flags", "").await, *expected);

    // Newest first.
    let newest = service.get("/api/v1/flags?order=desc&limit=1").await.json();
    assert_eq!(newest["flags"][0], *expected.last().unwrap());

    // Each flag names entries of the log, by index and id.
    for flag in expected {
        for entry in flag["entries"].as_array().unwrap() {
            let stored = service.get(&format!("/api/v1/entries/{}", entry["index"])).await.json();
            assert_eq!(stored["entry_id"], entry["entry_id"]);
        }
    }

    // By rule.
    for rule in &rules {
        let listed = all_pages(&service, "/api/v1/flags", &format!("&rule={rule}")).await;
        let wanted: Vec<Value> = expected.iter().filter(|flag| flag["rule"] == json!(rule)).cloned().collect();
        assert_eq!(listed, wanted, "rule {rule}");
    }

    // By organisation, in the listing and on the organisation's own path.
    for organisation in ["sahel-care", "poste-sante-beni", "cscom-mopti", "audit-verite"] {
        let wanted: Vec<Value> = expected.iter().filter(|flag| names(flag, organisation)).cloned().collect();
        let listed = all_pages(&service, "/api/v1/flags", &format!("&organisation={organisation}")).await;
        assert_eq!(listed, wanted, "{organisation}");
        let own = all_pages(&service, &format!("/api/v1/organisations/{organisation}/flags"), "").await;
        assert_eq!(own, wanted, "{organisation}");
    }
    assert!(expected.iter().any(|flag| names(flag, "sahel-care")));
    let both = service.get("/api/v1/flags?organisation=sahel-care&rule=round_trip").await.json();
    assert!(!both["flags"].as_array().unwrap().is_empty());
    for flag in both["flags"].as_array().unwrap() {
        assert_eq!(flag["rule"], json!("round_trip"));
        assert!(names(flag, "sahel-care"));
    }

    // As CSV: the same flags, with their entries.
    let answer = service.get("/api/v1/flags.csv").await;
    answer.expect(StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(answer.header("content-disposition"), Some("attachment; filename=\"aidtrail-flags.csv\""));
    let mut reader = csv::Reader::from_reader(answer.body.as_ref());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let column = |name: &str| header.iter().position(|field| field == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), expected.len());
    for (row, flag) in rows.iter().zip(expected) {
        assert_eq!(row[column("rule")], *flag["rule"].as_str().unwrap());
        assert_eq!(row[column("amount_minor_units")], *flag["amount"].as_str().unwrap());
        let indexes: Vec<String> =
            flag["entries"].as_array().unwrap().iter().map(|entry| entry["index"].to_string()).collect();
        assert_eq!(row[column("entry_indexes")], indexes.join(" "));
        assert_eq!(row[column("description")], *flag["description"].as_str().unwrap());
    }
    let structuring = service.get("/api/v1/flags.csv?rule=structuring").await;
    let count = csv::Reader::from_reader(structuring.body.as_ref()).records().count();
    assert_eq!(count, expected.iter().filter(|flag| flag["rule"] == json!("structuring")).count());

    // The Prometheus counter of flags by rule.
    let metrics = service.get("/metrics").await.text();
    for rule in &rules {
        assert!(metrics.contains(&format!("aidtrail_flags_total{{rule=\"{rule}\"}}")), "{rule} in {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flag_filters_are_json_errors() {
    let (service, _demo) = service_with_demo().await;
    for query in [
        "rule=gossip",
        "rule=",
        "organisation=nobody-at-all",
        "organisation=Not%20An%20Id",
        "limit=0",
        "limit=501",
        "limit=many",
        "order=sideways",
        "after=-1",
        "colour=red",
    ] {
        let answer = service.get(&format!("/api/v1/flags?{query}")).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
        documented("get", "/api/v1/flags", &answer);
        if query != "limit=501" {
            let csv = service.get(&format!("/api/v1/flags.csv?{query}")).await;
            csv.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
        }
    }
    service.get("/api/v1/flags.csv?limit=100001").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    let answer = service.get("/api/v1/flags?rule=gossip").await;
    assert!(answer.json()["error"]["message"].as_str().unwrap().contains("round_trip"), "the rules are listed");
    for query in ["rule=gossip", "organisation=sahel-care", "limit=0"] {
        let answer = service.get(&format!("/api/v1/organisations/sahel-care/flags?{query}")).await;
        answer.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
        documented("get", "/api/v1/organisations/{id}/flags", &answer);
    }
    let answer = service.get("/api/v1/organisations/nobody/flags").await;
    answer.expect_error(StatusCode::NOT_FOUND, "not_found");
    documented("get", "/api/v1/organisations/{id}/flags", &answer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_is_raised_by_the_entry_that_completes_the_pattern() {
    let (service, demo) = service_with_demo().await;
    let before = service.get("/api/v1/flags?organisation=health-bridge&rule=structuring").await.json();
    assert_eq!(before["flags"], json!([]));
    let gift = |amount: u128| {
        sign(
            &demo,
            Entry {
                entry_id: EntryId(rand::random()),
                author: OrgId::new("health-bridge").unwrap(),
                timestamp_ms: now_ms(),
                body: Body::Donation {
                    donor: Donor::Anonymous(Commitment(rand::random())),
                    asset: AssetCode::new("EUR").unwrap(),
                    amount: Amount(amount),
                    value_date: Date::from_timestamp_ms(now_ms()),
                    earmark: None,
                    external_reference: None,
                },
            },
        )
    };
    // Two gifts just under 10,000 EUR and one at it: nothing yet.
    for amount in [980_000, 990_000, 1_000_000] {
        service.submit(&gift(amount)).await.expect(StatusCode::CREATED);
    }
    let page = service.get("/api/v1/organisations/health-bridge/flags?rule=structuring").await.json();
    assert_eq!(page["flags"], json!([]));
    // The third just under it completes the pattern.
    let receipt = service.submit(&gift(999_999)).await;
    receipt.expect(StatusCode::CREATED);
    let index = receipt.json()["index"].as_u64().unwrap();
    let page = service.get("/api/v1/organisations/health-bridge/flags?rule=structuring").await.json();
    let flags = page["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{page}");
    assert_eq!(flags[0]["raised_by"]["index"], json!(index));
    assert_eq!(flags[0]["amount"], json!("2969999"));
    assert_eq!(flags[0]["entries"].as_array().unwrap().len(), 3);
    assert_eq!(flags[0]["entries"][2]["index"], json!(index));
}
