//! Serving the built explorer (`trunk build` output, `explorer/dist`) at `/`: its files, and its
//! `index.html` for every other path outside `/api/`, so that deep links such as `/entries/42` open the app.
//!
//! `index.html` holds the small inline module script that Trunk writes to start the WebAssembly; rather
//! than allowing inline scripts, its Content-Security-Policy lists the SHA-256 of each inline script.

use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

/// The built explorer.
#[derive(Clone, Debug)]
pub struct Explorer {
    dir: PathBuf,
    index: String,
    csp: HeaderValue,
}

/// Where the explorer is looked for when no directory is given: `explorer/dist` under the working
/// directory, then beside the workspace the binary was built in (`target/<profile>/aidtrail`).
pub fn default_dir() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("explorer/dist")];
    if let Ok(exe) = std::env::current_exe()
        && let Some(workspace) = exe.parent().and_then(Path::parent).and_then(Path::parent)
    {
        candidates.push(workspace.join("explorer/dist"));
    }
    candidates.into_iter().find(|dir| dir.join("index.html").is_file())
}

/// The SHA-256 CSP sources of the inline `<script>` elements of a page.
fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(tag_end) = after.find('>') else { break };
        let tag = &after[..tag_end];
        let body_and_rest = &after[tag_end + 1..];
        let Some(close) = body_and_rest.find("</script>") else { break };
        if !tag.contains(" src=") {
            let digest = Sha256::digest(&body_and_rest.as_bytes()[..close]);
            hashes.push(format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
        }
        rest = &body_and_rest[close..];
    }
    hashes
}

impl Explorer {
    /// Loads a built explorer directory (it must hold `index.html`).
    pub fn load(dir: &Path) -> anyhow::Result<Explorer> {
        let index = std::fs::read_to_string(dir.join("index.html"))
            .with_context(|| format!("reading the explorer's {}", dir.join("index.html").display()))?;
        let scripts = inline_script_hashes(&index).join(" ");
        let csp = format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' {scripts}; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        );
        Ok(Explorer { dir: dir.to_path_buf(), index, csp: HeaderValue::from_str(&csp)? })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn index_response(&self) -> Response {
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (header::CONTENT_SECURITY_POLICY, self.csp.clone()),
            ],
            self.index.clone(),
        )
            .into_response()
    }

    /// Serves a file of the explorer, or its index for any path that is not one.
    pub async fn serve(&self, request: Request<Body>) -> Response {
        let path = request.uri().path().to_string();
        if path == "/" || path == "/index.html" {
            return self.index_response();
        }
        let response = match ServeDir::new(&self.dir).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if response.status() == StatusCode::NOT_FOUND {
            return self.index_response();
        }
        let mut response = response.map(Body::new);
        // Trunk names its outputs with a content hash (`explorer-<16 hex>_bg.wasm`): those never change.
        let hashed = path.rsplit('/').next().is_some_and(|name| {
            name.split(['-', '_', '.']).any(|part| part.len() == 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        let cache = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::inline_script_hashes;

    #[test]
    fn hashes_inline_scripts_only() {
        let html = r#"<script src="/a.js"></script><script type="module">init()</script>"#;
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 1);
        // sha256("init()"), base64.
        assert_eq!(hashes[0], "'sha256-w4ujnOpjBoH2vcasx+reJRUwYivG8Q3afx/XevGJod8='");
    }
}
