//! What the ledger's state says: organisations and their profiles, forward and backward traces, the
//! donations behind an anonymous donor reference, pledges, open transfers, aggregated flows, auditors'
//! sign-offs and health vouchers.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use ledger::trace::{
    BoundaryFlows, FlowEdge, OpenTransfer, PledgeView, ProgrammeVouchers, SignOffView, VoucherIssueView, VoucherView,
    boundary_flows,
};
use ledger::{
    BackwardTrace, Commitment, Date, EntryId, ForwardTrace, OrgId, OrganisationProfile, TraceError, VoucherId,
};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState, parse_hex};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/organisations", get(organisations))
        .route("/api/v1/organisations/{id}", get(organisation))
        .route("/api/v1/pledges", get(pledges))
        .route("/api/v1/transfers/unacknowledged", get(open_transfers))
        .route("/api/v1/trace/donations/{entry_id}", get(forward_trace))
        .route("/api/v1/trace/spends/{entry_id}", get(backward_trace))
        .route("/api/v1/donor-references/{reference}/donations", get(donations_by_reference))
        .route("/api/v1/flows", get(flows))
        .route("/api/v1/organisations/{id}/sign-offs", get(sign_offs))
        .route("/api/v1/vouchers/programmes", get(voucher_programmes))
        .route("/api/v1/vouchers/issues", get(voucher_issues))
        .route("/api/v1/vouchers/{voucher_id}", get(voucher))
}

fn trace_error(error: TraceError) -> ApiError {
    match error {
        TraceError::UnknownEntry(_) | TraceError::UnknownOrganisation(_) => ApiError::not_found(error.to_string()),
        TraceError::WrongKind { .. } => ApiError::bad_request("wrong_kind", error.to_string()),
    }
}

#[derive(Serialize, Deserialize, Debug)]
pub struct OrganisationSummary {
    pub id: String,
    pub role: String,
    pub name: String,
    pub country: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct OrganisationList {
    pub organisations: Vec<OrganisationSummary>,
}

async fn organisations(State(state): State<Arc<AppState>>) -> Result<Json<OrganisationList>, ApiError> {
    let view = state.log.view().await;
    let mut organisations = Vec::new();
    for id in view.state.organisation_ids() {
        let profile = view.state.organisation_profile(&id).map_err(trace_error)?;
        organisations.push(OrganisationSummary {
            id: profile.id.to_string(),
            role: profile.role.to_string(),
            name: profile.name,
            country: profile.country,
        });
    }
    Ok(Json(OrganisationList { organisations }))
}

async fn organisation(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<OrganisationProfile>, ApiError> {
    let id =
        OrgId::new(id.clone()).map_err(|_| ApiError::not_found(format!("{id} is not a registered organisation")))?;
    let view = state.log.view().await;
    Ok(Json(view.state.organisation_profile(&id).map_err(trace_error)?))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct PledgeList {
    pub pledges: Vec<PledgeView>,
}

async fn pledges(State(state): State<Arc<AppState>>) -> Json<PledgeList> {
    Json(PledgeList { pledges: state.log.view().await.state.pledges() })
}

#[derive(Serialize, Deserialize, Debug)]
pub struct OpenTransferList {
    pub transfers: Vec<OpenTransfer>,
}

async fn open_transfers(State(state): State<Arc<AppState>>) -> Json<OpenTransferList> {
    Json(OpenTransferList { transfers: state.log.view().await.state.open_transfers() })
}

async fn forward_trace(
    State(state): State<Arc<AppState>>,
    Path(entry_id): Path<String>,
) -> Result<Json<ForwardTrace>, ApiError> {
    let id = EntryId(parse_hex::<16>("the donation's entry id", &entry_id)?);
    let view = state.log.view().await;
    Ok(Json(view.state.forward_trace(&id).map_err(trace_error)?))
}

async fn backward_trace(
    State(state): State<Arc<AppState>>,
    Path(entry_id): Path<String>,
) -> Result<Json<BackwardTrace>, ApiError> {
    let id = EntryId(parse_hex::<16>("the spend's entry id", &entry_id)?);
    let view = state.log.view().await;
    Ok(Json(view.state.backward_trace(&id).map_err(trace_error)?))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct DonationList {
    pub donations: Vec<String>,
}

/// The donations made under an anonymous donor reference. The donor computes the reference from their
/// secret receipt; the secret itself never reaches the server.
async fn donations_by_reference(
    State(state): State<Arc<AppState>>,
    Path(reference): Path<String>,
) -> Result<Json<DonationList>, ApiError> {
    let reference = Commitment(parse_hex::<32>("the donor reference", &reference)?);
    let view = state.log.view().await;
    Ok(Json(DonationList {
        donations: view.state.donations_by_reference(&reference).iter().map(|id| id.to_hex()).collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowsQuery {
    /// First value date (YYYY-MM-DD), inclusive.
    from: Option<String>,
    /// Last value date (YYYY-MM-DD), inclusive.
    to: Option<String>,
    /// Comma-separated organisation ids: when given, flows are split at the boundary of this set.
    organisations: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct FlowsView {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Every flow in the period (when no set of organisations is given).
    pub edges: Option<Vec<FlowEdge>>,
    /// The flows at the boundary of the given set.
    pub boundary: Option<BoundaryFlows>,
}

/// A `YYYY-MM-DD` query value.
pub(super) fn query_date(what: &str, text: &Option<String>) -> Result<Option<Date>, ApiError> {
    text.as_ref()
        .map(|text| {
            text.parse::<Date>().map_err(|error| ApiError::bad_request("invalid_query", format!("{what}: {error}")))
        })
        .transpose()
}

async fn flows(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<FlowsQuery>,
) -> Result<Json<FlowsView>, ApiError> {
    let from = query_date("from", &query.from)?;
    let to = query_date("to", &query.to)?;
    let view = state.log.view().await;
    let edges = view.state.flow_edges(from, to);
    let members: Option<Vec<String>> = query
        .organisations
        .as_ref()
        .map(|list| list.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_string).collect());
    if let Some(members) = &members {
        for member in members {
            let known = OrgId::new(member.clone()).ok().and_then(|id| view.state.role_of(&id)).is_some();
            if !known {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("{member} is not a registered organisation"),
                ));
            }
        }
    }
    Ok(Json(match members {
        Some(members) => {
            FlowsView { from: query.from, to: query.to, edges: None, boundary: Some(boundary_flows(&edges, &members)) }
        }
        None => FlowsView { from: query.from, to: query.to, edges: Some(edges), boundary: None },
    }))
}

/// A registered organisation named in a path, or 404.
fn registered(state: &ledger::State, id: &str) -> Result<OrgId, ApiError> {
    OrgId::new(id)
        .ok()
        .filter(|id| state.role_of(id).is_some())
        .ok_or_else(|| ApiError::not_found(format!("{id} is not a registered organisation")))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct SignOffList {
    pub sign_offs: Vec<SignOffView>,
}

/// The auditors' sign-offs of an organisation's accounts (for an auditor: those it made), in log order.
async fn sign_offs(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<SignOffList>, ApiError> {
    let view = state.log.view().await;
    let id = registered(&view.state, &id)?;
    Ok(Json(SignOffList { sign_offs: view.state.sign_offs_of(&id) }))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct VoucherProgrammeList {
    pub programmes: Vec<ProgrammeVouchers>,
}

/// Every voucher programme's totals per asset: issued, redeemed, settled and expired, by count and face value.
async fn voucher_programmes(State(state): State<Arc<AppState>>) -> Json<VoucherProgrammeList> {
    Json(VoucherProgrammeList { programmes: state.log.view().await.state.voucher_programmes() })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VoucherIssuesQuery {
    /// Only the issues made by this organisation or redeemable at it.
    pub organisation: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct VoucherIssueList {
    pub issues: Vec<VoucherIssueView>,
}

/// The voucher issues an `organisation=` query names, checked: `None` for every issue.
pub(super) fn issues_filter(state: &ledger::State, query: &VoucherIssuesQuery) -> Result<Option<OrgId>, ApiError> {
    query
        .organisation
        .as_ref()
        .map(|id| {
            OrgId::new(id.clone()).ok().filter(|id| state.role_of(id).is_some()).ok_or_else(|| {
                ApiError::bad_request("invalid_query", format!("organisation: {id} is not a registered organisation"))
            })
        })
        .transpose()
}

/// Voucher issues with the counts of their vouchers by status, in log order.
async fn voucher_issues(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<VoucherIssuesQuery>,
) -> Result<Json<VoucherIssueList>, ApiError> {
    let view = state.log.view().await;
    let organisation = issues_filter(&view.state, &query)?;
    Ok(Json(VoucherIssueList { issues: view.state.voucher_issues(organisation.as_ref()) }))
}

/// One voucher and where it stands.
async fn voucher(
    State(state): State<Arc<AppState>>,
    Path(voucher_id): Path<String>,
) -> Result<Json<VoucherView>, ApiError> {
    let id = VoucherId(parse_hex::<16>("the voucher id", &voucher_id)?);
    let view = state.log.view().await;
    view.state
        .voucher(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no voucher {id} was issued in this log")))
}
