//! Chart endpoints: SVG drawn by the server (see [`crate::charts`]) for the explorer and for download.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ledger::trace::SPENDING_PREFIX;
use ledger::{AssetCode, OrgId, Role};
use serde::Deserialize;

use super::ledger_views::query_date;
use super::{ApiError, ApiQuery, AppState};
use crate::charts::{self, Money};

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/charts/{chart}", get(chart))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChartQuery {
    /// The asset charted (required).
    asset: String,
    /// One organisation (money over time and spending by category).
    organisation: Option<String>,
    /// First value date (YYYY-MM-DD), inclusive (the flow chart).
    from: Option<String>,
    /// Last value date (YYYY-MM-DD), inclusive (the flow chart).
    to: Option<String>,
    /// `true`: offered as a file to save.
    download: Option<bool>,
}

const CHARTS: [&str; 4] = ["flows", "money-over-time", "spending-by-category", "spending-by-clinic"];

async fn chart(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    ApiQuery(query): ApiQuery<ChartQuery>,
) -> Result<Response, ApiError> {
    let name = file
        .strip_suffix(".svg")
        .filter(|name| CHARTS.contains(name))
        .ok_or_else(|| ApiError::not_found(format!("no chart {file:?}; charts: {}.svg", CHARTS.join(".svg, "))))?;
    let (from, to) = (query_date("from", &query.from)?, query_date("to", &query.to)?);
    let view = state.log.view().await;
    let ledger = &view.state;
    let asset = AssetCode::new(query.asset.clone()).ok();
    let (code, decimals, _) = ledger
        .assets()
        .into_iter()
        .find(|(code, _, _)| Some(code) == asset.as_ref())
        .ok_or_else(|| ApiError::not_found(format!("{:?} is not an asset of this log", query.asset)))?;
    let organisation = match &query.organisation {
        Some(id) => {
            let known = OrgId::new(id.clone()).ok().filter(|org| ledger.role_of(org).is_some());
            Some(known.ok_or_else(|| ApiError::not_found(format!("{id} is not a registered organisation")))?)
        }
        None => None,
    };
    let money = Money { asset: code.to_string(), decimals };
    let name_of = |id: &str| {
        OrgId::new(id.to_string())
            .ok()
            .and_then(|org| ledger.organisation_profile(&org).ok())
            .map_or_else(|| id.to_string(), |profile| profile.name)
    };
    let edges: Vec<_> = ledger.flow_edges(from, to).into_iter().filter(|edge| edge.asset == code).collect();
    let whose = organisation.as_ref().map(|org| format!(" · {}", name_of(org.as_str()))).unwrap_or_default();
    let svg = match name {
        "flows" => charts::flows(
            &format!("Where the {code} went: donors → NGOs → clinics → spending"),
            &edges,
            &money,
            |party| {
                let role = OrgId::new(party.to_string()).ok().and_then(|org| ledger.role_of(&org));
                let column = charts::column_of(party, role)?;
                let label = if party == ledger::trace::ANONYMOUS_DONORS {
                    "individual donors".to_string()
                } else if party.starts_with(SPENDING_PREFIX) {
                    charts::category_label(party)
                } else {
                    name_of(party)
                };
                Some((label, column))
            },
            10,
        ),
        "money-over-time" => {
            let rows = ledger.monthly_flows(&code, organisation.as_ref()).unwrap_or_default();
            charts::months(&format!("Money in and out per month ({code}){whose}"), &rows, &money)
        }
        "spending-by-category" => {
            let items: Vec<(String, u128)> = edges
                .iter()
                .filter(|edge| edge.to.starts_with(SPENDING_PREFIX))
                .filter(|edge| organisation.as_ref().is_none_or(|org| edge.from == org.as_str()))
                .fold(std::collections::BTreeMap::<String, u128>::new(), |mut sums, edge| {
                    *sums.entry(charts::category_label(&edge.to)).or_default() += edge.amount;
                    sums
                })
                .into_iter()
                .collect();
            charts::bars(&format!("Spending by category ({code}){whose}"), &items, &money, 16)
        }
        _ => {
            let items: Vec<(String, u128)> = edges
                .iter()
                .filter(|edge| edge.to.starts_with(SPENDING_PREFIX))
                .filter(|edge| {
                    OrgId::new(edge.from.clone()).ok().and_then(|org| ledger.role_of(&org)) == Some(Role::Clinic)
                })
                .fold(std::collections::BTreeMap::<String, u128>::new(), |mut sums, edge| {
                    *sums.entry(name_of(&edge.from)).or_default() += edge.amount;
                    sums
                })
                .into_iter()
                .collect();
            charts::bars(&format!("Spending by clinic ({code})"), &items, &money, 16)
        }
    }
    .map_err(ApiError::internal)?;
    drop(view);
    let mut response = svg.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=5"));
    if query.download == Some(true) {
        let disposition = format!("attachment; filename=\"aidtrail-{name}-{code}.svg\"");
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(anyhow::Error::new)?);
    }
    Ok(response)
}
