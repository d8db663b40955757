//! Charts: each endpoint draws well-formed SVG whose labels and amounts are the ones the JSON API gives
//! (recomputed here from `/api/v1/flows`, `/api/v1/organisations` and the log's assets), offers itself for
//! download, and refuses bad input with JSON errors.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use ledger::words::{Language, term};
use serde_json::Value;

use crate::support::{TestService, service_with_demo};

/// Every text of an SVG document, checking on the way that it is well-formed XML.
fn svg_texts(body: &str) -> Vec<String> {
    let document = roxmltree::Document::parse(body).unwrap_or_else(|error| panic!("not well-formed SVG: {error}"));
    assert_eq!(document.root_element().tag_name().name(), "svg");
    document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .map(|node| node.children().filter_map(|n| n.text()).collect::<String>().trim().to_string())
        .collect()
}

async fn chart(service: &TestService, query: &str) -> Vec<String> {
    let response = service.get(&format!("/api/v1/charts/{query}")).await;
    response.expect(StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("image/svg+xml"), "{query}");
    assert_eq!(response.header("content-disposition"), None, "{query}");
    svg_texts(&response.text())
}

fn amount(value: &Value) -> u128 {
    value.as_str().expect("amounts are strings").parse().expect("amounts are decimal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_draw_what_the_api_says() {
    let (service, _demo) = service_with_demo().await;
    let log = service.get("/api/v1/log").await.json();
    let eur = log["assets"].as_array().unwrap().iter().find(|a| a["code"] == "EUR").expect("EUR in the demo");
    let decimals = eur["decimals"].as_u64().unwrap() as u8;
    let money = |amount: u128| Language::English.money(amount, decimals, "EUR");
    let organisations = service.get("/api/v1/organisations").await.json();
    let (mut names, mut roles) = (BTreeMap::new(), BTreeMap::new());
    for organisation in organisations["organisations"].as_array().unwrap() {
        let id = organisation["id"].as_str().unwrap().to_string();
        names.insert(id.clone(), organisation["name"].as_str().unwrap().to_string());
        roles.insert(id, organisation["role"].as_str().unwrap().to_string());
    }
    let flows = service.get("/api/v1/flows").await.json();
    let edges: Vec<&Value> = flows["edges"].as_array().unwrap().iter().filter(|edge| edge["asset"] == "EUR").collect();

    // Spending by clinic: each clinic's spending, summed from the flow edges.
    let mut by_clinic: BTreeMap<String, u128> = BTreeMap::new();
    let mut by_category: BTreeMap<String, u128> = BTreeMap::new();
    for edge in &edges {
        let (from, to) = (edge["from"].as_str().unwrap(), edge["to"].as_str().unwrap());
        if let Some(category) = to.strip_prefix("spending:") {
            if roles.get(from).map(String::as_str) == Some("clinic") {
                *by_clinic.entry(names[from].clone()).or_default() += amount(&edge["amount"]);
            }
            let label = term(Language::English, category).unwrap_or(category).to_string();
            *by_category.entry(label).or_default() += amount(&edge["amount"]);
        }
    }
    assert!(by_clinic.len() >= 3, "the small demo's clinics spend");
    let texts = chart(&service, "spending-by-clinic.svg?asset=EUR").await;
    for (clinic, spent) in &by_clinic {
        let at = texts.iter().position(|text| text == clinic).unwrap_or_else(|| panic!("{clinic} in {texts:?}"));
        assert_eq!(texts[at + 1], money(*spent), "{clinic}'s spending");
    }
    let texts = chart(&service, "spending-by-category.svg?asset=EUR").await;
    for (category, spent) in &by_category {
        let at = texts.iter().position(|text| text == category).unwrap_or_else(|| panic!("{category} in {texts:?}"));
        assert_eq!(texts[at + 1], money(*spent), "spending on {category}");
    }

    // One clinic's spending by category.
    let (clinic_id, _) = roles.iter().find(|(_, role)| *role == "clinic").unwrap();
    let texts = chart(&service, &format!("spending-by-category.svg?asset=EUR&organisation={clinic_id}")).await;
    let own: u128 = edges
        .iter()
        .filter(|edge| edge["from"] == clinic_id.as_str() && edge["to"].as_str().unwrap().starts_with("spending:"))
        .map(|edge| amount(&edge["amount"]))
        .sum();
    let drawn: u128 = texts
        .iter()
        .filter_map(|text| text.strip_suffix(" EUR"))
        .map(|number| number.replace([',', '.'], "").parse::<u128>().unwrap())
        .sum();
    assert_eq!(drawn, own, "the bars of {clinic_id} sum to its spending");
    assert!(texts[0].ends_with(&names[clinic_id]), "the title names the clinic: {}", texts[0]);

    // The flow chart: every NGO with what passed through it (the larger of in and out).
    let texts = chart(&service, "flows.svg?asset=EUR").await;
    for (id, role) in &roles {
        if role != "ngo" {
            continue;
        }
        // Only flows that move right (donors, NGOs, clinics, final use) are drawn: a clinic sending money
        // back to its NGO is a real flow, but not one this chart shows.
        let column = |party: &str| {
            let role = roles.iter().find(|(id, _)| id.as_str() == party).and_then(|(_, role)| role.parse().ok());
            server::charts::column_of(party, role)
        };
        let drawn_edges = edges.iter().filter(|edge| {
            matches!((column(edge["from"].as_str().unwrap_or_default()), column(edge["to"].as_str().unwrap_or_default())), (Some(from), Some(to)) if to > from)
        });
        let (inflow, outflow) = drawn_edges.fold((0u128, 0u128), |(i, o), edge| {
            let amount = amount(&edge["amount"]);
            (
                i + if edge["to"] == id.as_str() { amount } else { 0 },
                o + if edge["from"] == id.as_str() { amount } else { 0 },
            )
        });
        let at = texts.iter().position(|text| text == &names[id]).unwrap_or_else(|| panic!("{id} in {texts:?}"));
        assert_eq!(texts[at + 1], money(inflow.max(outflow)), "{id}");
    }
    assert!(texts.iter().any(|text| text == "individual donors"), "anonymous donors are one node");

    // Money over time: one label per month between the first and the last value date.
    let texts = chart(&service, "money-over-time.svg?asset=EUR").await;
    assert!(texts.iter().any(|text| text == "money in") && texts.iter().any(|text| text == "money out"));
    assert!(texts.iter().any(|text| text.len() == 7 && text.starts_with("2026-")), "month labels: {texts:?}");
    let texts = chart(&service, &format!("money-over-time.svg?asset=EUR&organisation={clinic_id}")).await;
    assert!(texts[0].contains(&names[clinic_id]));
    // A period without movement draws an empty chart, not an error.
    let texts = chart(&service, "flows.svg?asset=EUR&from=2001-01-01&to=2001-12-31").await;
    assert!(texts.iter().any(|text| text.contains("No movement")), "{texts:?}");

    // Download.
    let response = service.get("/api/v1/charts/spending-by-clinic.svg?asset=EUR&download=true").await;
    response.expect(StatusCode::OK);
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"aidtrail-spending-by-clinic-EUR.svg\"")
    );

    // Bad input: JSON errors.
    service.get("/api/v1/charts/flows.svg?asset=XOF").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    service.get("/api/v1/charts/pie.svg?asset=EUR").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    service.get("/api/v1/charts/flows.svg").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    service
        .get("/api/v1/charts/flows.svg?asset=EUR&colour=red")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    service
        .get("/api/v1/charts/flows.svg?asset=EUR&from=2026-13-01")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    service
        .get("/api/v1/charts/money-over-time.svg?asset=EUR&organisation=nobody")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}
