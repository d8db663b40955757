//! Serving the built explorer: its files, its index for deep links (with a Content-Security-Policy that
//! allows exactly its inline start-up script), immutable caching of hashed assets, and `/api/` staying JSON.

use axum::http::StatusCode;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::support::{TempDir, service_with_explorer};

const BOOT: &str = "import init from '/explorer-0123456789abcdef.js'; await init();";

fn built_explorer() -> TempDir {
    let dir = TempDir::new("aidtrail-explorer-dist");
    let index = format!(
        "<!doctype html><html><head><script type=\"module\">{BOOT}</script>\
         <link rel=\"stylesheet\" href=\"/style-fedcba9876543210.css\"></head><body></body></html>"
    );
    std::fs::write(dir.0.join("index.html"), index).unwrap();
    std::fs::write(dir.0.join("explorer-0123456789abcdef.js"), "export default async function init() {}").unwrap();
    std::fs::write(dir.0.join("style-fedcba9876543210.css"), "body { margin: 0 }").unwrap();
    std::fs::write(dir.0.join("robots.txt"), "User-agent: *\n").unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_is_served_at_the_root_and_for_deep_links_while_the_api_stays_json() {
    let dist = built_explorer();
    let service = service_with_explorer(&dist.0).await;

    // The index, at the root and for any path the app routes itself.
    for path in ["/", "/entries/42", "/trace/donations/00112233445566778899aabbccddeeff", "/audit?x=1"] {
        let response = service.get(path).await;
        response.expect(StatusCode::OK);
        assert!(response.text().contains(BOOT), "{path} does not serve the explorer's index");
        assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
        assert_eq!(response.header("cache-control"), Some("no-cache"), "{path}");
        let csp = response.header("content-security-policy").expect("a CSP on the index");
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(BOOT.as_bytes()));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "the CSP {csp:?} does not allow the start-up script");
        assert!(!csp.contains("'unsafe-inline' ;") && !csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
    }

    // Hashed assets are immutable; others must be revalidated.
    let script = service.get("/explorer-0123456789abcdef.js").await;
    script.expect(StatusCode::OK);
    assert_eq!(script.text(), "export default async function init() {}");
    assert_eq!(script.header("cache-control"), Some("public, max-age=31536000, immutable"));
    let robots = service.get("/robots.txt").await;
    robots.expect(StatusCode::OK);
    assert_eq!(robots.header("cache-control"), Some("no-cache"));

    // No escape from the directory.
    let escape = service.get("/../Cargo.toml").await;
    assert!(!escape.text().contains("[package]"));

    // The API, the log and operations are untouched; unknown API paths are JSON 404s, never the app.
    service.get("/api/v1/log").await.expect(StatusCode::OK);
    service.get("/checkpoint").await.expect(StatusCode::OK);
    service.get("/healthz").await.expect(StatusCode::OK);
    for path in ["/api/v1/no-such-thing", "/api/", "/api"] {
        let response = service.get(path).await;
        response.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
}
