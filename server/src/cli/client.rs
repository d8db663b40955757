//! The command line's HTTP client: retries with exponential backoff on connection failures, timeouts,
//! 429 and 5xx (safe because submissions are idempotent), and the check of a submission's receipt: the
//! checkpoint's signature against the log's verifier key and the inclusion proof against its root.

use std::time::Duration;

use anyhow::{Context, bail};
use ledger::SignedEntry;
use ledger::merkle::{Hash, verify_inclusion};
use ledger::note::{NoteVerifier, verify_checkpoint};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::entries::ReceiptView;

/// How many times a request is tried before giving up.
pub const ATTEMPTS_MAX: u32 = 8;
/// The first pause between attempts; it doubles up to `BACKOFF_MAX_MS`.
pub const BACKOFF_START_MS: u64 = 250;
pub const BACKOFF_MAX_MS: u64 = 8_000;
/// How long one request may take.
pub const REQUEST_TIMEOUT_MS: u64 = 60_000;

/// An error the server answered with (`{"error": {"code", "message"}}`), never retried.
#[derive(Debug, thiserror::Error)]
#[error("the server refused the request ({status}, {code}): {message}")]
pub struct ServerError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// A client of one aidtrail server.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    pub attempts_max: u32,
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

impl Client {
    pub fn new(base_url: &str) -> anyhow::Result<Client> {
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("{base_url:?} is not an http:// or https:// URL");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Client { base, http, attempts_max: ATTEMPTS_MAX })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send(&self, build: impl Fn() -> reqwest::RequestBuilder, what: &str) -> anyhow::Result<reqwest::Response> {
        let mut pause = BACKOFF_START_MS;
        let mut attempt = 1;
        loop {
            let outcome = build().send().await;
            let retry_reason = match outcome {
                Ok(response) if !retryable(response.status()) => return Ok(response),
                Ok(response) => format!("HTTP {}", response.status()),
                Err(error) => error.to_string(),
            };
            if attempt >= self.attempts_max {
                bail!("{what}: gave up after {attempt} attempts ({retry_reason})");
            }
            tracing::warn!(attempt, pause_ms = pause, reason = %retry_reason, "{what}: retrying");
            tokio::time::sleep(Duration::from_millis(pause)).await;
            pause = (pause * 2).min(BACKOFF_MAX_MS);
            attempt += 1;
        }
    }

    async fn read<T: DeserializeOwned>(response: reqwest::Response, what: &str) -> anyhow::Result<T> {
        let body = Self::body(response, what).await?;
        serde_json::from_slice(&body).with_context(|| format!("{what}: the answer is not the expected JSON"))
    }

    /// The body of a successful answer; a refusal becomes a [`ServerError`] with the server's code and words.
    async fn body(response: reqwest::Response, what: &str) -> anyhow::Result<Vec<u8>> {
        let status = response.status();
        let body = response.bytes().await.with_context(|| format!("{what}: reading the answer"))?;
        if !status.is_success() {
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            return Err(ServerError {
                status: status.as_u16(),
                code: value["error"]["code"].as_str().unwrap_or("unknown").to_string(),
                message: value["error"]["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
            }
            .into());
        }
        Ok(body.to_vec())
    }

    /// GET a text resource (an export).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let response = self.send(|| self.http.get(&url), &format!("GET {url}")).await?;
        let body = Self::body(response, &format!("GET {url}")).await?;
        String::from_utf8(body).with_context(|| format!("GET {url}: the answer is not UTF-8 text"))
    }

    /// GET a JSON resource.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let response = self.send(|| self.http.get(&url), &format!("GET {url}")).await?;
        Self::read(response, &format!("GET {url}")).await
    }

    /// GET raw bytes (tiles, the checkpoint); `None` on 404.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let url = format!("{}{path}", self.base);
        let response = self.send(|| self.http.get(&url), &format!("GET {url}")).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            bail!("GET {url}: HTTP {}", response.status());
        }
        Ok(Some(response.bytes().await.with_context(|| format!("GET {url}"))?.to_vec()))
    }

    /// POST JSON and read JSON back.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let response = self.send(|| self.http.post(&url).json(body), &format!("POST {url}")).await?;
        Self::read(response, &format!("POST {url}")).await
    }

    /// Submits one signed entry and returns the server's receipt (not yet checked: see [`check_receipt`]).
    pub async fn submit(&self, signed: &SignedEntry) -> anyhow::Result<ReceiptView> {
        self.post_json("/api/v1/entries", &serde_json::json!({"signed_entry": hex::encode(signed.bytes())})).await
    }
}

fn parse_hash(what: &str, text: &str) -> anyhow::Result<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).with_context(|| format!("{what} is not 32 bytes of hex"))?;
    Ok(hash)
}

/// Checks that a receipt proves the entry is in the log: the checkpoint is signed by the log's key and
/// names the log, the leaf hash is the entry's, and the inclusion proof leads to the checkpoint's root.
pub fn check_receipt(
    receipt: &ReceiptView,
    signed: &SignedEntry,
    log_key: &NoteVerifier,
    origin: &str,
) -> anyhow::Result<()> {
    let checkpoint = verify_checkpoint(&receipt.checkpoint.note, log_key, Some(origin))
        .map_err(|error| anyhow::anyhow!("the receipt's checkpoint does not verify with the log's key: {error}"))?;
    let leaf_hash = parse_hash("the receipt's leaf hash", &receipt.leaf_hash)?;
    if leaf_hash != signed.leaf_hash() {
        bail!("the receipt's leaf hash is not the hash of the entry that was sent");
    }
    let proof = receipt
        .inclusion_proof
        .iter()
        .map(|hash| parse_hash("a proof hash", hash))
        .collect::<anyhow::Result<Vec<_>>>()?;
    verify_inclusion(&leaf_hash, receipt.index, checkpoint.tree_size, &proof, &checkpoint.root)
        .map_err(|error| anyhow::anyhow!("the inclusion proof does not verify: {error}"))?;
    Ok(())
}
