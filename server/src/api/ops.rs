//! Operations: `/healthz`, Prometheus `/metrics`, the OpenAPI description, and the fallback that keeps
//! unknown `/api/` paths JSON.

use std::sync::Arc;

use axum::extract::{OriginalUri, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::{ApiError, AppState};

/// The OpenAPI 3.1 description of the JSON API, kept beside the code and checked against the router.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.log.store().head().await {
        Ok(Some(head)) => {
            Json(json!({"status": "ok", "tree_size": head.tree_size, "backend": state.log.store().backend_name()}))
                .into_response()
        }
        Ok(None) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the log is not initialised").into_response()
        }
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "health check failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer")
                .into_response()
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let (tree_bytes, history_bytes) = {
        let view = state.log.view().await;
        (view.tree.heap_bytes(), view.state.history_heap_bytes())
    };
    let usage = crate::memory::usage();
    for (part, bytes) in [
        ("resident", usage.resident),
        ("heap_in_use", usage.heap_in_use),
        ("heap_free", usage.heap_free),
        ("sqlite", usage.sqlite),
        ("merkle_tree", tree_bytes as u64),
        ("entry_history", history_bytes as u64),
        ("tile_cache", state.bundles.weight()),
    ] {
        metrics::gauge!("aidtrail_memory_bytes", "part" => part).set(bytes as f64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

/// Unknown paths: JSON 404 under `/api/`; everything else belongs to the explorer when it is built (its
/// files, and its index for deep links); without it, the root describes the service.
pub async fn fallback(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let uri = request.uri().clone();
    let path = uri.path();
    if let Some(explorer) = &state.explorer
        && !path.starts_with("/api/")
        && path != "/api"
        && matches!(*request.method(), Method::GET | Method::HEAD)
    {
        return explorer.serve(request).await;
    }
    if path == "/" {
        let view = state.log.view().await;
        return Json(json!({
            "service": "aidtrail",
            "origin": state.log.origin(),
            "verifier_key": state.log.verifier_key(),
            "tree_size": view.checkpoint.tree_size,
            "api": "/api/v1/log",
            "openapi": "/api/v1/openapi.json",
            "checkpoint": "/checkpoint",
        }))
        .into_response();
    }
    ApiError::not_found(format!("no such resource: {path}")).into_response()
}

/// A known path asked with a method it does not answer: JSON too.
pub async fn method_not_allowed(OriginalUri(uri): OriginalUri, method: axum::http::Method) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
    .into_response()
}
