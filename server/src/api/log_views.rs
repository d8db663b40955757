//! The log itself: its identity and verifier key, signed checkpoints, inclusion and consistency proofs,
//! and the C2SP tlog-tiles endpoints (`/checkpoint`, `/tile/...`) that any static mirror can serve.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ledger::merkle::Hash;
use ledger::merkle::NodeSource as _;
use ledger::tiles::TilePath;
use serde::{Deserialize, Serialize};

use super::entries::CheckpointView;
use super::{ApiError, ApiQuery, AppState, parse_hex};
use crate::tile_reader::{TileError, read_tile};

/// Full tiles and bundles never change: any cache may keep them forever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Partial tiles and the checkpoint change as the log grows.
const SHORT_LIVED: &str = "public, max-age=5";

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/log", get(log_info))
        .route("/api/v1/checkpoints", get(checkpoints))
        .route("/api/v1/checkpoints/latest", get(latest_checkpoint))
        .route("/api/v1/checkpoints/{tree_size}", get(checkpoint_at))
        .route("/api/v1/proofs/inclusion", get(inclusion_proof))
        .route("/api/v1/proofs/consistency", get(consistency_proof))
        .route("/checkpoint", get(checkpoint_note))
        .route("/tile/{*path}", get(tile))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct LogInfo {
    pub origin: String,
    /// The C2SP note verifier key that signs checkpoints: `name+hexid+base64`.
    pub verifier_key: String,
    pub tree_size: u64,
    pub root: String,
    pub checkpoint: CheckpointView,
    pub operator: Option<String>,
    pub assets: Vec<AssetInfo>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct AssetInfo {
    pub code: String,
    pub decimals: u8,
    pub kind: String,
    pub totals: ledger::AssetTotals,
}

async fn log_info(State(state): State<Arc<AppState>>) -> Json<LogInfo> {
    let view = state.log.view().await;
    let assets = view
        .state
        .assets()
        .into_iter()
        .map(|(code, decimals, kind)| AssetInfo {
            totals: view.state.asset_totals(&code).unwrap_or_default(),
            code: code.to_string(),
            decimals,
            kind: kind.to_string(),
        })
        .collect();
    Json(LogInfo {
        origin: state.log.origin().to_string(),
        verifier_key: state.log.verifier_key().to_string(),
        tree_size: view.checkpoint.tree_size,
        root: hex::encode(view.checkpoint.root),
        checkpoint: CheckpointView::from(&view.checkpoint),
        operator: view.state.operator().map(|(id, _)| id.to_string()),
        assets,
    })
}

async fn latest_checkpoint(State(state): State<Arc<AppState>>) -> Json<CheckpointView> {
    Json(CheckpointView::from(&state.log.view().await.checkpoint))
}

async fn checkpoint_at(
    State(state): State<Arc<AppState>>,
    Path(tree_size): Path<String>,
) -> Result<Json<CheckpointView>, ApiError> {
    let tree_size: u64 = tree_size.parse().map_err(|_| {
        ApiError::bad_request("invalid_parameter", format!("the tree size must be a whole number, got {tree_size:?}"))
    })?;
    let stored = state
        .log
        .store()
        .checkpoint(tree_size)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no checkpoint was signed at tree size {tree_size}")))?;
    Ok(Json(CheckpointView::from(&crate::log::PublishedCheckpoint::from(stored))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointsQuery {
    /// Checkpoints with a larger tree size than this (default 0).
    after: Option<u64>,
    limit: Option<u32>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct CheckpointPage {
    pub checkpoints: Vec<CheckpointView>,
}

async fn checkpoints(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<CheckpointsQuery>,
) -> Result<Json<CheckpointPage>, ApiError> {
    let stored = state.log.store().checkpoints_after(query.after.unwrap_or(0), query.limit.unwrap_or(100)).await?;
    Ok(Json(CheckpointPage {
        checkpoints: stored
            .into_iter()
            .map(|c| CheckpointView::from(&crate::log::PublishedCheckpoint::from(c)))
            .collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The leaf's index; or give `leaf_hash` instead.
    index: Option<u64>,
    leaf_hash: Option<String>,
    /// The tree size to prove against (default: the latest checkpoint).
    tree_size: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct InclusionProofView {
    pub index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub root: String,
    pub proof: Vec<String>,
    /// The signed checkpoint of that tree size, when one was signed.
    pub checkpoint: Option<CheckpointView>,
}

fn hex_list(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

fn proof_error(error: ledger::merkle::ProofError) -> ApiError {
    ApiError::bad_request("invalid_proof_request", error.to_string())
}

async fn inclusion_proof(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProofView>, ApiError> {
    let index = match (query.index, &query.leaf_hash) {
        (Some(index), None) => index,
        (None, Some(leaf_hash)) => {
            let hash = parse_hex::<32>("leaf_hash", leaf_hash)?;
            state
                .log
                .store()
                .entry_by_leaf_hash(&hash)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no entry has leaf hash {leaf_hash}")))?
                .entry_index
        }
        _ => return Err(ApiError::bad_request("invalid_query", "give exactly one of index and leaf_hash")),
    };
    let view = state.log.view().await;
    let tree_size = query.tree_size.unwrap_or(view.checkpoint.tree_size);
    if tree_size > view.checkpoint.tree_size {
        return Err(ApiError::bad_request(
            "invalid_proof_request",
            format!("tree size {tree_size} is beyond the latest checkpoint ({})", view.checkpoint.tree_size),
        ));
    }
    let proof = view.tree.inclusion_proof(index, tree_size).map_err(proof_error)?;
    let root = view.tree.root_at(tree_size).map_err(proof_error)?;
    let leaf_hash = view
        .tree
        .node(ledger::merkle::NodeId::leaf(index))
        .ok_or_else(|| ApiError::not_found(format!("no entry at index {index}")))?;
    let latest = view.checkpoint.clone();
    drop(view);
    let checkpoint = if latest.tree_size == tree_size {
        Some(CheckpointView::from(&latest))
    } else {
        state
            .log
            .store()
            .checkpoint(tree_size)
            .await?
            .map(|c| CheckpointView::from(&crate::log::PublishedCheckpoint::from(c)))
    };
    Ok(Json(InclusionProofView {
        index,
        tree_size,
        leaf_hash: hex::encode(leaf_hash),
        root: hex::encode(root),
        proof: hex_list(&proof),
        checkpoint,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old_size: u64,
    /// Default: the latest checkpoint.
    new_size: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ConsistencyProofView {
    pub old_size: u64,
    pub new_size: u64,
    pub old_root: String,
    pub new_root: String,
    pub proof: Vec<String>,
}

async fn consistency_proof(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProofView>, ApiError> {
    let view = state.log.view().await;
    let new_size = query.new_size.unwrap_or(view.checkpoint.tree_size);
    if new_size > view.checkpoint.tree_size {
        return Err(ApiError::bad_request(
            "invalid_proof_request",
            format!("tree size {new_size} is beyond the latest checkpoint ({})", view.checkpoint.tree_size),
        ));
    }
    let proof = view.tree.consistency_proof(query.old_size, new_size).map_err(proof_error)?;
    Ok(Json(ConsistencyProofView {
        old_size: query.old_size,
        new_size,
        old_root: hex::encode(view.tree.root_at(query.old_size).map_err(proof_error)?),
        new_root: hex::encode(view.tree.root_at(new_size).map_err(proof_error)?),
        proof: hex_list(&proof),
    }))
}

fn with_headers(body: impl Into<axum::body::Bytes>, content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn plain_not_found(message: String) -> Response {
    (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], message).into_response()
}

/// The latest checkpoint as a C2SP signed note.
async fn checkpoint_note(State(state): State<Arc<AppState>>) -> Response {
    let note = state.log.view().await.checkpoint.note.clone();
    let mut response = with_headers(note.into_bytes(), "text/plain; charset=utf-8", "no-cache");
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// `/tile/<L>/<N>[.p/<W>]` and `/tile/entries/<N>[.p/<W>]`. A partial tile is served at any width up to
/// what the latest checkpoint covers, so clients holding an older checkpoint are served too.
async fn tile(State(state): State<Arc<AppState>>, Path(path): Path<String>) -> Response {
    let tile = match TilePath::parse(&format!("tile/{path}")) {
        Ok(tile) => tile,
        Err(error) => return plain_not_found(format!("not a tile path: {error}\n")),
    };
    let cache = if tile.is_partial() { SHORT_LIVED } else { IMMUTABLE };
    let content_type = "application/octet-stream";
    match read_tile(&state.log, &tile, Some(&state.bundles)).await {
        Ok(bytes) => with_headers(bytes, content_type, cache),
        Err(TileError::Beyond(message)) => plain_not_found(format!("{message}\n")),
        Err(TileError::Internal(error)) => ApiError::internal(error).into_response(),
    }
}
