//! The IATI export: the ledger's activities as an IATI 2.03 `iati-activities` file (see [`crate::iati`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ledger::{OrgId, SignedEntry};
use serde::Deserialize;

use super::{ApiError, ApiQuery, AppState};

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/exports/iati.xml", get(iati))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IatiQuery {
    /// Only this organisation's activities.
    organisation: Option<String>,
}

/// Entries read per database round trip while exporting.
const CHUNK: u64 = 10_000;

async fn iati(State(state): State<Arc<AppState>>, ApiQuery(query): ApiQuery<IatiQuery>) -> Result<Response, ApiError> {
    let tree_size = state.log.view().await.checkpoint.tree_size;
    let organisation = match &query.organisation {
        Some(id) => {
            let view = state.log.view().await;
            let known = OrgId::new(id.clone()).ok().filter(|org| view.state.role_of(org).is_some());
            Some(known.ok_or_else(|| ApiError::not_found(format!("{id} is not a registered organisation")))?)
        }
        None => None,
    };
    let mut entries = Vec::with_capacity(tree_size as usize);
    let mut start = 0;
    while start < tree_size {
        let end = (start + CHUNK).min(tree_size);
        for leaf in state.log.store().leaves_range(start, end).await? {
            let signed = SignedEntry::decode(&leaf).map_err(|error| anyhow::anyhow!("a stored entry: {error}"))?;
            entries.push(signed.entry().clone());
        }
        start = end;
    }
    let generated = crate::api::csv_exports::timestamp_text(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    );
    // IATI's datetimes have whole seconds.
    let generated = format!("{}Z", &generated[..19]);
    let view = state.log.view().await;
    let xml = crate::iati::activities_xml(&view.state, &entries, organisation.as_ref(), &generated)?;
    drop(view);
    let mut response = xml.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=5"));
    let name = match &organisation {
        Some(org) => format!("attachment; filename=\"aidtrail-iati-{org}.xml\""),
        None => "attachment; filename=\"aidtrail-iati.xml\"".to_string(),
    };
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).map_err(anyhow::Error::new)?);
    Ok(response)
}
