//! The server's JSON API as the explorer reads it. The types mirror the server's replies; the ledger's own
//! view types (traces, profiles, pledges) are used as they are.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

pub use ledger::FlagView;
pub use ledger::trace::{BackwardTrace, ForwardTrace, OpenTransfer, OrganisationProfile, PledgeView};

/// Why a request failed, in words a reader can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchError {
    /// The HTTP status, or 0 when the server could not be reached.
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 { write!(f, "{}", self.message) } else { write!(f, "{} ({})", self.message, self.status) }
    }
}

fn js_error(what: &str, error: wasm_bindgen::JsValue) -> FetchError {
    FetchError { status: 0, message: format!("{what}: {}", error.as_string().unwrap_or_else(|| format!("{error:?}"))) }
}

/// The server's error body: `{"error": {"code", "message"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(Deserialize)]
struct ErrorFields {
    message: String,
}

/// GETs a path of this origin and returns the body as text.
pub async fn get_text(path: &str) -> Result<String, FetchError> {
    let window = web_sys::window().ok_or_else(|| FetchError { status: 0, message: "no window".into() })?;
    let response = JsFuture::from(window.fetch_with_str(path)).await.map_err(|error| js_error(path, error))?;
    let response: web_sys::Response = response.dyn_into().map_err(|error| js_error(path, error))?;
    let text = JsFuture::from(response.text().map_err(|error| js_error(path, error))?)
        .await
        .map_err(|error| js_error(path, error))?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        Ok(text)
    } else {
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|body| body.error.message)
            .unwrap_or_else(|_| response.status_text());
        Err(FetchError { status: response.status(), message })
    }
}

/// GETs a path of this origin and decodes its JSON.
pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, FetchError> {
    let text = get_text(path).await?;
    serde_json::from_str(&text).map_err(|error| FetchError { status: 0, message: format!("{path}: {error}") })
}

/// Percent-encodes a query or path value.
pub fn encode(value: &str) -> String {
    js_sys::encode_uri_component(value).as_string().unwrap_or_default()
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckpointView {
    pub tree_size: u64,
    pub root: String,
    pub note: String,
    pub signed_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AssetInfo {
    pub code: String,
    pub decimals: u8,
    pub kind: String,
    pub totals: ledger::AssetTotals,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LogInfo {
    pub origin: String,
    pub verifier_key: String,
    pub tree_size: u64,
    pub root: String,
    pub checkpoint: CheckpointView,
    pub operator: Option<String>,
    pub assets: Vec<AssetInfo>,
}

impl LogInfo {
    pub fn decimals(&self, asset: &str) -> u8 {
        self.assets.iter().find(|info| info.code == asset).map_or(0, |info| info.decimals)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EntryView {
    pub index: u64,
    pub entry_id: String,
    pub leaf_hash: String,
    pub kind: String,
    pub author: String,
    pub timestamp_ms: u64,
    pub value_date: Option<String>,
    pub summary: String,
    pub entry: serde_json::Value,
    pub signer: String,
    pub signature: String,
    pub leaf: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    pub next_after: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct InclusionProofView {
    pub index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub root: String,
    pub proof: Vec<String>,
    pub checkpoint: Option<CheckpointView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ConsistencyProofView {
    pub old_size: u64,
    pub new_size: u64,
    pub proof: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct OrganisationSummary {
    pub id: String,
    pub role: String,
    pub name: String,
    pub country: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct OrganisationList {
    pub organisations: Vec<OrganisationSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DonationList {
    pub donations: Vec<String>,
}

/// A page of anomaly flags.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct FlagPage {
    pub notice: String,
    pub flags: Vec<FlagView>,
    pub next_after: Option<u64>,
}
