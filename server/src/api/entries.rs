//! Writing entries (one, or a batch with per-entry results) and reading them back: by index, by entry id,
//! by leaf hash, and as a filtered, paged listing.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use ledger::{Date, Kind, SignedEntry};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, ApiQuery, AppState, BATCH_REQUEST_ENTRIES_MAX, ClientAddress, parse_hex};
use crate::describe::describe;
use crate::log::Receipt;
use crate::store::{EntryFilter, EntryRow};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/entries", post(submit).get(list))
        .route("/api/v1/entries/batch", post(submit_batch))
        .route("/api/v1/entries/{index}", get(by_index))
        .route("/api/v1/entries/by-id/{entry_id}", get(by_id))
        .route("/api/v1/entries/by-leaf-hash/{leaf_hash}", get(by_leaf_hash))
}

/// A signed entry as submitted: the leaf bytes in hexadecimal.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    pub signed_entry: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub signed_entries: Vec<String>,
}

/// The answer to an accepted submission: where the entry is and the proof that it is there.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReceiptView {
    pub index: u64,
    pub leaf_hash: String,
    pub duplicate: bool,
    pub checkpoint: CheckpointView,
    /// Hashes (hex) from the leaf to the checkpoint's root, RFC 9162 order.
    pub inclusion_proof: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct CheckpointView {
    pub tree_size: u64,
    pub root: String,
    /// The C2SP signed note.
    pub note: String,
    pub signed_at_ms: u64,
}

impl From<&crate::log::PublishedCheckpoint> for CheckpointView {
    fn from(checkpoint: &crate::log::PublishedCheckpoint) -> Self {
        CheckpointView {
            tree_size: checkpoint.tree_size,
            root: hex::encode(checkpoint.root),
            note: checkpoint.note.clone(),
            signed_at_ms: checkpoint.signed_at_ms,
        }
    }
}

impl From<Receipt> for ReceiptView {
    fn from(receipt: Receipt) -> Self {
        ReceiptView {
            index: receipt.index,
            leaf_hash: hex::encode(receipt.leaf_hash),
            duplicate: receipt.duplicate,
            checkpoint: CheckpointView::from(&receipt.checkpoint),
            inclusion_proof: receipt.inclusion_proof.iter().map(hex::encode).collect(),
        }
    }
}

fn decode_signed(position: Option<usize>, text: &str) -> Result<SignedEntry, ApiError> {
    let prefix = position.map(|p| format!("signed_entries[{p}]: ")).unwrap_or_default();
    let bytes = hex::decode(text)
        .map_err(|_| ApiError::bad_request("malformed_entry", format!("{prefix}signed_entry is not hexadecimal")))?;
    SignedEntry::decode(&bytes).map_err(|error| {
        let rejection = ledger::Rejection::from(error);
        let mut api_error = ApiError::rejection(&rejection);
        api_error.message = format!("{prefix}{}", api_error.message);
        api_error
    })
}

async fn submit(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<SubmitRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let signed = decode_signed(None, &request.signed_entry)?;
    state.check_write_limits(address, &[signed.signer().0])?;
    let receipt = state.log.submit(signed).await.map_err(ApiError::submit)?;
    let status = if receipt.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(ReceiptView::from(receipt))))
}

/// One result per submitted entry, in order.
#[derive(Serialize, Deserialize, Debug)]
pub struct BatchResponse {
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<BatchResult>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(untagged)]
pub enum BatchResult {
    Accepted(ReceiptView),
    Rejected { error: BatchError },
}

#[derive(Serialize, Deserialize, Debug)]
pub struct BatchError {
    pub code: String,
    pub message: String,
}

/// A batch is judged entry by entry: each entry is accepted or rejected on its own, in order, and the
/// accepted ones are committed together. A malformed request (not JSON, too many entries) is refused whole.
async fn submit_batch(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    if request.signed_entries.is_empty() || request.signed_entries.len() > BATCH_REQUEST_ENTRIES_MAX {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("a batch holds 1 to {BATCH_REQUEST_ENTRIES_MAX} entries, got {}", request.signed_entries.len()),
        ));
    }
    let mut decoded = Vec::with_capacity(request.signed_entries.len());
    for (position, text) in request.signed_entries.iter().enumerate() {
        decoded.push(decode_signed(Some(position), text));
    }
    let keys: Vec<[u8; 32]> = decoded.iter().filter_map(|d| d.as_ref().ok()).map(|s| s.signer().0).collect();
    state.check_write_limits(address, &keys)?;
    let mut results: Vec<Option<BatchResult>> = Vec::with_capacity(decoded.len());
    let mut to_submit = Vec::new();
    let mut positions = Vec::new();
    for (position, item) in decoded.into_iter().enumerate() {
        match item {
            Ok(signed) => {
                to_submit.push(signed);
                positions.push(position);
                results.push(None);
            }
            Err(error) => results
                .push(Some(BatchResult::Rejected { error: BatchError { code: error.code, message: error.message } })),
        }
    }
    let answers = state.log.submit_many(to_submit).await;
    for (position, answer) in positions.into_iter().zip(answers) {
        results[position] = Some(match answer {
            Ok(receipt) => BatchResult::Accepted(receipt.into()),
            Err(error) => {
                let error = ApiError::submit(error);
                BatchResult::Rejected { error: BatchError { code: error.code, message: error.message } }
            }
        });
    }
    let results: Vec<BatchResult> = results.into_iter().map(|r| r.expect("every position answered")).collect();
    let accepted = results.iter().filter(|r| matches!(r, BatchResult::Accepted(_))).count();
    Ok(Json(BatchResponse { accepted, rejected: results.len() - accepted, results }))
}

/// An entry as the API shows it: where it is, what it says in plain words, its lossless JSON view and
/// its exact bytes.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EntryView {
    pub index: u64,
    pub entry_id: String,
    pub leaf_hash: String,
    pub kind: String,
    pub author: String,
    pub timestamp_ms: u64,
    pub value_date: Option<String>,
    pub summary: String,
    pub entry: ledger::Entry,
    pub signer: String,
    pub signature: String,
    /// The leaf bytes (the signed entry), hexadecimal.
    pub leaf: String,
}

pub(crate) async fn entry_view(state: &AppState, row: EntryRow) -> Result<EntryView, ApiError> {
    let signed = SignedEntry::decode(&row.leaf)
        .map_err(|error| ApiError::internal(anyhow::anyhow!("stored entry {}: {error}", row.entry_index)))?;
    let view = state.log.view().await;
    let summary = describe(signed.entry(), &view.state);
    drop(view);
    Ok(EntryView {
        index: row.entry_index,
        entry_id: hex::encode(row.entry_id),
        leaf_hash: hex::encode(row.leaf_hash),
        kind: row.kind,
        author: row.author,
        timestamp_ms: row.timestamp_ms,
        value_date: row.value_date.and_then(|days| Date::from_days(days).ok()).map(|date| date.to_string()),
        summary,
        entry: signed.entry().clone(),
        signer: hex::encode(signed.signer().0),
        signature: hex::encode(signed.signature()),
        leaf: hex::encode(&row.leaf),
    })
}

async fn by_index(State(state): State<Arc<AppState>>, Path(index): Path<String>) -> Result<Json<EntryView>, ApiError> {
    let index: u64 = index.parse().map_err(|_| {
        ApiError::bad_request("invalid_parameter", format!("the entry index must be a whole number, got {index:?}"))
    })?;
    let row = state
        .log
        .store()
        .entry_by_index(index)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no entry at index {index}")))?;
    Ok(Json(entry_view(&state, row).await?))
}

async fn by_id(State(state): State<Arc<AppState>>, Path(entry_id): Path<String>) -> Result<Json<EntryView>, ApiError> {
    let id = parse_hex::<16>("the entry id", &entry_id)?;
    let not_found = || ApiError::not_found(format!("no entry has id {entry_id}"));
    // The ledger state finds entries by id (SQLite keeps no index of them).
    let index = state.log.view().await.state.index_of(&ledger::EntryId(id)).ok_or_else(not_found)?;
    let row = state.log.store().entry_by_index(index).await?.ok_or_else(not_found)?;
    Ok(Json(entry_view(&state, row).await?))
}

async fn by_leaf_hash(
    State(state): State<Arc<AppState>>,
    Path(leaf_hash): Path<String>,
) -> Result<Json<EntryView>, ApiError> {
    let hash = parse_hex::<32>("the leaf hash", &leaf_hash)?;
    let row = state
        .log
        .store()
        .entry_by_leaf_hash(&hash)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no entry has leaf hash {leaf_hash}")))?;
    Ok(Json(entry_view(&state, row).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub organisation: Option<String>,
    /// Entries signed as this organisation.
    pub author: Option<String>,
    pub kind: Option<String>,
    pub asset: Option<String>,
    /// Value dates from this day (YYYY-MM-DD), inclusive.
    pub from: Option<String>,
    /// Value dates up to this day (YYYY-MM-DD), inclusive.
    pub to: Option<String>,
    pub external_reference: Option<String>,
    /// The cursor: the last index of the previous page.
    pub after: Option<u64>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<u64>,
}

fn parse_date(what: &str, text: &Option<String>) -> Result<Option<u32>, ApiError> {
    text.as_ref()
        .map(|text| {
            text.parse::<Date>()
                .map(|date| date.days())
                .map_err(|error| ApiError::bad_request("invalid_query", format!("{what}: {error}")))
        })
        .transpose()
}

/// The store's filter for a listing query; `limit` defaults to `default_limit` and may not pass `limit_max`.
pub(super) fn entry_filter(query: &ListQuery, default_limit: u32, limit_max: u32) -> Result<EntryFilter, ApiError> {
    if let Some(kind) = &query.kind
        && Kind::parse(kind).is_none()
    {
        let names: Vec<&str> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("kind {kind:?} is not one of: {}", names.join(", ")),
        ));
    }
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::bad_request("invalid_query", format!("order must be asc or desc, got {other:?}")));
        }
    };
    let limit = query.limit.unwrap_or(default_limit);
    if limit == 0 || limit > limit_max {
        return Err(ApiError::bad_request("invalid_query", format!("limit must be 1 to {limit_max}")));
    }
    Ok(EntryFilter {
        organisation: query.organisation.clone(),
        author: query.author.clone(),
        kind: query.kind.clone(),
        asset: query.asset.clone(),
        from_date: parse_date("from", &query.from)?,
        to_date: parse_date("to", &query.to)?,
        external_reference: query.external_reference.clone(),
        after_index: query.after,
        descending,
        limit,
    })
}

async fn list(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<EntryPage>, ApiError> {
    let filter = entry_filter(&query, 50, crate::store::PAGE_SIZE_MAX)?;
    let limit = filter.limit;
    let rows = state.log.store().list_entries(&filter).await?;
    let full_page = rows.len() == limit as usize;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push(entry_view(&state, row).await?);
    }
    let next_after = if full_page { entries.last().map(|entry| entry.index) } else { None };
    Ok(Json(EntryPage { entries, next_after }))
}
