//! The HTTP API in process: a fresh SQLite log in a temporary directory behind the real router, called
//! with `tower::ServiceExt::oneshot` (no socket), and a small demo ledger to load into it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use ed25519_dalek::SigningKey;
use ledger::note::{NoteSigner, NoteVerifier};
use ledger::{Entry, SignedEntry};
use serde_json::Value;
use server::api::{AppState, WriteLimits, app};
use server::demo::{DEMO_ORIGIN, DemoLedger, DemoScale};
use server::log::Log;
use server::store::Store;
use tower::ServiceExt;

/// The origin of every test log (the demo's, so demo entries verify).
pub const ORIGIN: &str = DEMO_ORIGIN;
/// The demo seed the API tests use: its 6 weeks hold a pledge, unacknowledged transfers and anonymous
/// gifts by the first donor receipts.
pub const DEMO_SEED: u64 = 2026;

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A service on a fresh database: the router, the log behind it, and the checkpoint verifier.
pub struct TestService {
    pub router: Router,
    pub log: Arc<Log>,
    pub verifier: NoteVerifier,
    // Last, so the database closes before its directory goes.
    _dir: TempDir,
}

/// A fresh service with the default write limits.
pub async fn service() -> TestService {
    service_with_limits(WriteLimits::default()).await
}

/// A fresh service with the given write limits.
pub async fn service_with_limits(limits: WriteLimits) -> TestService {
    service_with(limits, None).await
}

/// A fresh service that also serves a built explorer from `explorer_dir`.
pub async fn service_with_explorer(explorer_dir: &std::path::Path) -> TestService {
    let explorer = server::explorer::Explorer::load(explorer_dir).unwrap();
    service_with(WriteLimits::default(), Some(explorer)).await
}

async fn service_with(limits: WriteLimits, explorer: Option<server::explorer::Explorer>) -> TestService {
    let dir = TempDir::new("aidtrail-api-test");
    let store = Store::open_sqlite(&dir.0.join("data")).await.unwrap();
    let signer = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).unwrap();
    let verifier = signer.verifier();
    let log = Log::open(store, ORIGIN, signer).await.unwrap();
    let router = app(AppState::with_explorer(log.clone(), limits, explorer));
    TestService { router, log, verifier, _dir: dir }
}

/// The small demo: six weeks, a few spends per clinic and week, thirty anonymous donors.
pub fn small_demo() -> DemoLedger {
    server::demo::generate(DEMO_SEED, ORIGIN, DemoScale { weeks: 6, spends_per_clinic_week: 4, anonymous_donors: 30 })
}

/// Loads a demo into the log (through the log, not the HTTP API, so write limits do not apply).
pub async fn load_demo(log: &Log, demo: &DemoLedger) {
    let appended = server::demo::load(log, demo).await.unwrap();
    assert_eq!(appended, demo.entries.len(), "every demo entry is new to a fresh log");
}

/// A fresh service holding the small demo.
pub async fn service_with_demo() -> (TestService, DemoLedger) {
    let service = service().await;
    let demo = small_demo();
    load_demo(&service.log, &demo).await;
    (service, demo)
}

/// Signs an entry with a demo key (the author's own, by organisation id).
pub fn sign(demo: &DemoLedger, entry: Entry) -> SignedEntry {
    let key =
        demo.keys.get(entry.author.as_str()).unwrap_or_else(|| panic!("the demo has no key for {}", entry.author));
    SignedEntry::sign(entry, ORIGIN, key).unwrap()
}

/// An HTTP answer, body read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!("the body is not JSON ({error}); status {}: {:?}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("a UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().expect("an ASCII header"))
    }

    /// The `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        let body = self.json();
        body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}")).to_string()
    }

    /// Asserts the status, with the body in the message when it differs.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.body));
        self
    }

    /// Asserts a JSON error of this status and code.
    #[track_caller]
    pub fn expect_error(&self, status: StatusCode, code: &str) -> &Self {
        self.expect(status);
        assert!(
            self.header("content-type").is_some_and(|value| value.starts_with("application/json")),
            "an error is JSON: {:?}",
            self.headers
        );
        assert_eq!(self.error_code(), code, "body: {}", String::from_utf8_lossy(&self.body));
        assert!(self.json()["error"]["message"].as_str().is_some_and(|message| !message.is_empty()));
        self
    }
}

impl TestService {
    /// Sends a request through the router.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        TestResponse { status, headers, body }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    /// Posts raw bytes with a content type.
    pub async fn post_raw(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> TestResponse {
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    pub async fn post_json(&self, uri: &str, body: &Value) -> TestResponse {
        self.post_raw(uri, "application/json", serde_json::to_vec(body).unwrap()).await
    }

    /// Submits one signed entry to `POST /api/v1/entries`.
    pub async fn submit(&self, signed: &SignedEntry) -> TestResponse {
        self.post_json("/api/v1/entries", &serde_json::json!({ "signed_entry": hex::encode(signed.bytes()) })).await
    }

    /// The latest tree size, from `GET /api/v1/log`.
    pub async fn tree_size(&self) -> u64 {
        self.get("/api/v1/log").await.expect(StatusCode::OK).json()["tree_size"].as_u64().unwrap()
    }
}
