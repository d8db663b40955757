//! The HTTP shell: one router assembled from one `router()` per module, one error type whose status is
//! decided in one `match`, JSON and query extractors that answer bad input with our error shape, and the
//! cross-cutting layers (body limit, rate limits, CORS, security headers, metrics, request logs).

pub mod charts;
pub mod csv_exports;
pub mod entries;
pub mod exports;
pub mod flags;
pub mod ledger_views;
pub mod log_views;
mod ops;
pub mod privacy_views;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ledger::Rejection;
use serde::Serialize;
use tower_http::cors::{Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::log::{Log, SubmitError};

/// The largest request body, in bytes (a batch of 1,000 entries in hex is well below).
pub const REQUEST_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The most entries one batch request may carry.
pub const BATCH_REQUEST_ENTRIES_MAX: usize = 1_000;

/// Limits on writes: entries per second, per signer key and per client address (0 turns a limit off).
#[derive(Clone, Copy, Debug)]
pub struct WriteLimits {
    pub per_key_per_second: u32,
    pub per_address_per_second: u32,
}

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits { per_key_per_second: 5_000, per_address_per_second: 20_000 }
    }
}

/// What every handler can reach.
pub struct AppState {
    pub log: Arc<Log>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    per_key: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Full entry bundles recently served.
    pub bundles: crate::tile_reader::BundleCache,
    /// The built explorer served at `/`, when there is one.
    pub explorer: Option<crate::explorer::Explorer>,
    /// Public aggregates of last-mile spending withhold cells of fewer beneficiary spends than this.
    pub k_anonymity: u64,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_second: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    // A burst of two seconds' worth lets a batch through in one go.
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    Some(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

impl AppState {
    pub fn new(log: Arc<Log>, limits: WriteLimits) -> Arc<AppState> {
        Arc::new(AppState {
            log,
            metrics: crate::metrics::handle(),
            per_key: limiter(limits.per_key_per_second),
            per_address: limiter(limits.per_address_per_second),
            bundles: crate::tile_reader::BundleCache::new(crate::tile_reader::BUNDLE_CACHE_BYTES_DEFAULT),
            explorer: None,
            k_anonymity: ledger::last_mile::K_ANONYMITY_DEFAULT,
        })
    }

    /// The same state with another suppression threshold for last-mile aggregates (at least 1).
    pub fn with_k_anonymity(state: Arc<AppState>, k_anonymity: u64) -> Arc<AppState> {
        let mut state = Arc::into_inner(state).expect("a new state has one owner");
        state.k_anonymity = k_anonymity.max(1);
        Arc::new(state)
    }

    /// The same, also serving a built explorer at `/`.
    pub fn with_explorer(
        log: Arc<Log>,
        limits: WriteLimits,
        explorer: Option<crate::explorer::Explorer>,
    ) -> Arc<AppState> {
        let mut state = Arc::into_inner(AppState::new(log, limits)).expect("a new state has one owner");
        state.explorer = explorer;
        Arc::new(state)
    }

    /// Charges `count` entries to a client address and to each signer key.
    pub fn check_write_limits(&self, address: IpAddr, keys: &[[u8; 32]]) -> Result<(), ApiError> {
        let count = NonZeroU32::new(keys.len().max(1) as u32).expect("at least one");
        if let Some(limiter) = &self.per_address
            && !matches!(limiter.check_key_n(&address, count), Ok(Ok(())))
        {
            return Err(ApiError::too_many_requests(format!("too many entries from {address}; slow down and retry")));
        }
        if let Some(limiter) = &self.per_key {
            for key in keys {
                if !matches!(limiter.check_key(key), Ok(())) {
                    return Err(ApiError::too_many_requests(format!(
                        "too many entries signed by key {}; slow down and retry",
                        hex::encode(key)
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The service's error: an HTTP status and a JSON body `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorFields<'a>,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { status, code: code.into(), message: message.into(), details: None }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }

    pub fn internal(error: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{error:#}"), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    /// The status of a rule broken by an entry: 409 for conflicts with what the log holds, 422 for the rest.
    pub fn rejection(rejection: &Rejection) -> Self {
        let status = match rejection.code() {
            "id_conflict"
            | "already_acknowledged"
            | "already_reversed"
            | "pledge_released"
            | "pledge_voided"
            | "pledge_already_attested"
            | "organisation_exists"
            | "asset_exists"
            | "programme_exists"
            | "key_in_use"
            | "genesis_repeated"
            | "erasure_repeated"
            | "voucher_exists"
            | "voucher_wrong_status" => StatusCode::CONFLICT,
            "malformed_entry" | "entry_too_large" => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, rejection.code(), rejection.to_string())
    }

    pub fn submit(error: SubmitError) -> Self {
        match error {
            SubmitError::Rejected(rejection) => Self::rejection(&rejection),
            SubmitError::Unavailable(message) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(ErrorBody {
            error: ErrorFields { code: &self.code, message: &self.message, details: self.details.as_ref() },
        })
        .expect("an error body serialises")
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        ApiError::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// A JSON body extractor whose failures (malformed JSON, unknown fields, wrong types) use our error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let status = rejection.status();
                let code = match &rejection {
                    JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
                    JsonRejection::JsonSyntaxError(_) => "malformed_json",
                    JsonRejection::JsonDataError(_) => "invalid_request",
                    _ if status == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
                    _ => "invalid_request",
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
    }
}

/// A query-string extractor with our error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::bad_request("invalid_query", rejection.body_text())),
        }
    }
}

/// The client's address, or loopback when the router runs without a socket (tests).
pub struct ClientAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ))
    }
}

async fn record_request_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("aidtrail_http_request_seconds", "route" => route, "method" => method, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The whole service: JSON API under `/api/`, the C2SP log at `/checkpoint` and `/tile/`, `/healthz`,
/// `/metrics`; every other path belongs to the explorer.
pub fn app(state: Arc<AppState>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600));
    let security_headers = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        ),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ];
    let mut router = Router::new()
        .merge(entries::router())
        .merge(charts::router())
        .merge(csv_exports::router())
        .merge(exports::router())
        .merge(flags::router())
        .merge(log_views::router())
        .merge(ledger_views::router())
        .merge(privacy_views::router())
        .merge(ops::router())
        // Before the header layers, which apply only to what the router already holds.
        .fallback(ops::fallback)
        .method_not_allowed_fallback(ops::method_not_allowed);
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)));
    }
    router
        .layer(middleware::from_fn(record_request_metrics))
        .layer(cors)
        // The body extractors enforce the limit (axum's own default is 2 MiB), so that a body too large,
        // with or without a Content-Length, is answered with our JSON error.
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A hexadecimal path or query value of exactly `N` bytes.
pub fn parse_hex<const N: usize>(what: &str, text: &str) -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| {
        ApiError::bad_request("invalid_parameter", format!("{what} must be {} hexadecimal digits, got {text:?}", N * 2))
    })?;
    Ok(bytes)
}
