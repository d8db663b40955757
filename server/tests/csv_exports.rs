//! CSV exports of the listings: the same rows as the JSON API, amounts exact in any spreadsheet locale,
//! continuation of long entry exports, and JSON errors for bad queries.

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{TestService, service_with_demo};

fn records(service_response: &crate::support::TestResponse) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(service_response.body.as_ref());
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|record| record.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

async fn csv(service: &TestService, path: &str) -> (Vec<String>, Vec<Vec<String>>, Option<String>) {
    let response = service.get(path).await;
    response.expect(StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("text/csv; charset=utf-8"), "{path}");
    assert!(response.header("content-disposition").unwrap().starts_with("attachment; filename=\"aidtrail-"));
    let next = response.header("x-next-after").map(str::to_string);
    let (header, rows) = records(&response);
    (header, rows, next)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|field| field == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_export_as_csv_with_the_rows_of_the_json_api() {
    let (service, _demo) = service_with_demo().await;

    // Entries, filtered like the JSON listing: the same indexes, amounts and statements.
    let query = "kind=spend&asset=EUR&organisation=clinique-goma";
    let mut json_entries: Vec<Value> = Vec::new();
    let mut after = None;
    loop {
        let path = match after {
            Some(after) => format!("/api/v1/entries?{query}&limit=500&after={after}"),
            None => format!("/api/v1/entries?{query}&limit=500"),
        };
        let page = service.get(&path).await.json();
        json_entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(json_entries.len() > 10);
    let (header, rows, next) = csv(&service, &format!("/api/v1/entries.csv?{query}")).await;
    assert_eq!(next, None);
    assert_eq!(rows.len(), json_entries.len());
    let (index, minor, amount, statement) = (
        column(&header, "index"),
        column(&header, "amount_minor_units"),
        column(&header, "amount"),
        column(&header, "statement"),
    );
    for (row, entry) in rows.iter().zip(&json_entries) {
        assert_eq!(row[index], entry["index"].as_u64().unwrap().to_string());
        assert_eq!(row[minor], entry["entry"]["body"]["amount"].as_str().unwrap());
        assert_eq!(row[statement], entry["summary"].as_str().unwrap());
        // Units with a dot and no grouping: the minor units with the point two places from the right.
        let units = &row[amount];
        assert_eq!(units.replace('.', "").trim_start_matches('0'), row[minor].trim_start_matches('0'), "{units}");
        assert_eq!(units.split('.').nth(1).map(str::len), Some(2), "{units}");
    }

    // A long export is cut at `limit` and says where to go on; the parts join without gaps.
    let (_, first, next) = csv(&service, &format!("/api/v1/entries.csv?{query}&limit=7")).await;
    assert_eq!(first.len(), 7);
    let next = next.expect("X-Next-After on a cut export");
    assert_eq!(next, first[6][index]);
    let (_, rest, _) = csv(&service, &format!("/api/v1/entries.csv?{query}&after={next}")).await;
    assert_eq!(first.len() + rest.len(), rows.len());
    assert_eq!(rest[0][index], rows[7][index]);

    // Organisations, pledges, unacknowledged transfers, flows: one row per JSON item.
    let organisations = service.get("/api/v1/organisations").await.json();
    let (header, rows, _) = csv(&service, "/api/v1/organisations.csv").await;
    let ids: Vec<&str> =
        organisations["organisations"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    let id = column(&header, "id");
    assert_eq!(rows.iter().map(|row| row[id].as_str()).collect::<Vec<_>>(), ids);

    let pledges = service.get("/api/v1/pledges").await.json();
    let (header, rows, _) = csv(&service, "/api/v1/pledges.csv").await;
    let pledges = pledges["pledges"].as_array().unwrap();
    assert!(!pledges.is_empty());
    assert_eq!(rows.len(), pledges.len());
    let status = column(&header, "status");
    for (row, pledge) in rows.iter().zip(pledges) {
        assert_eq!(row[status], pledge["status"].as_str().unwrap());
    }

    let transfers = service.get("/api/v1/transfers/unacknowledged").await.json();
    let (_, rows, _) = csv(&service, "/api/v1/transfers/unacknowledged.csv").await;
    assert_eq!(rows.len(), transfers["transfers"].as_array().unwrap().len());

    let flows = service.get("/api/v1/flows?from=2026-01-01&to=2026-02-15").await.json();
    let (header, rows, _) = csv(&service, "/api/v1/flows.csv?from=2026-01-01&to=2026-02-15").await;
    let edges = flows["edges"].as_array().unwrap();
    assert_eq!(rows.len(), edges.len());
    let minor = column(&header, "amount_minor_units");
    let csv_total: u128 = rows.iter().map(|row| row[minor].parse::<u128>().unwrap()).sum();
    let json_total: u128 = edges.iter().map(|edge| edge["amount"].as_str().unwrap().parse::<u128>().unwrap()).sum();
    assert_eq!(csv_total, json_total);

    // Bad queries are JSON errors, like the JSON listings'.
    service.get("/api/v1/entries.csv?kind=gift").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    service.get("/api/v1/entries.csv?limit=100001").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    service.get("/api/v1/entries.csv?colour=red").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    service.get("/api/v1/flows.csv?from=yesterday").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
}
