//! Public views that keep beneficiaries private: last-mile spending aggregated by spending organisation and
//! month or ISO week, with every cell of fewer than k beneficiary spends withheld (`docs/PRIVACY.md`), and
//! each organisation's count of beneficiary commitments whose private data it has erased.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ledger::AssetCode;
use ledger::last_mile::{LastMileCell, Period};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState};

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/last-mile", get(last_mile))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LastMileQuery {
    /// The asset (required).
    asset: String,
    /// `month` (default) or `week`.
    period: Option<String>,
}

/// An organisation's beneficiary commitments and how many of them lost their private data by erasure.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ErasureSummary {
    pub organisation: String,
    /// Beneficiary commitments its spends recorded.
    pub beneficiary_commitments: u64,
    /// Of those, how many now open to nobody: their salts and pseudonyms were erased.
    pub erased: u64,
    /// Its erasure entries (kind 24).
    pub erasures: u64,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct LastMileView {
    pub asset: String,
    pub decimals: u8,
    /// `month` or `week`.
    pub period: Period,
    /// Cells of fewer beneficiary spends than this are suppressed.
    pub k: u64,
    pub cells: Vec<LastMileCell>,
    /// Organisations that recorded beneficiary spends, with their erasures.
    pub organisations: Vec<ErasureSummary>,
}

async fn last_mile(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<LastMileQuery>,
) -> Result<Json<LastMileView>, ApiError> {
    let period = match query.period.as_deref() {
        None | Some("month") => Period::Month,
        Some("week") => Period::Week,
        Some(other) => {
            return Err(ApiError::bad_request("invalid_query", format!("period must be month or week, not {other:?}")));
        }
    };
    let view = state.log.view().await;
    let asset = AssetCode::new(query.asset.clone()).ok();
    let (code, decimals, _) = view
        .state
        .assets()
        .into_iter()
        .find(|(code, _, _)| Some(code) == asset.as_ref())
        .ok_or_else(|| ApiError::not_found(format!("{:?} is not an asset of this log", query.asset)))?;
    let cells = view.state.last_mile(&code, period, state.k_anonymity).expect("the asset is declared");
    let organisations = view
        .state
        .organisation_ids()
        .into_iter()
        .filter_map(|id| {
            let records = view.state.beneficiary_records(&id)?;
            (records.recorded > 0).then(|| ErasureSummary {
                organisation: id.to_string(),
                beneficiary_commitments: records.recorded,
                erased: records.erased,
                erasures: records.erasures,
            })
        })
        .collect();
    Ok(Json(LastMileView { asset: code.to_string(), decimals, period, k: state.k_anonymity, cells, organisations }))
}
