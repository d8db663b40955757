//! Anomaly flags: the flags the log's entries raised (`ledger::flags`), filtered by rule and organisation
//! and paged like the entries listing, and one organisation's flags. Each flag names the entries that
//! triggered it. A flag is information for a reader, not an accusation; every answer carries that notice.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use ledger::flags::{FlagFilter, notice};
use ledger::words::Language;
use ledger::{FlagView, OrgId, Rule};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState};

/// Flags per page by default.
pub const FLAGS_PAGE_DEFAULT: u32 = 50;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/flags", get(list)).route("/api/v1/organisations/{id}/flags", get(of_organisation))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FlagQuery {
    /// A rule code (`round_trip`, `pass_through`, ...).
    pub rule: Option<String>,
    /// Flags about this organisation, as the organisation or the counterparty.
    pub organisation: Option<String>,
    /// The cursor: the last flag id of the previous page.
    pub after: Option<u64>,
    /// `asc` (default, oldest first) or `desc`.
    pub order: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct FlagPage {
    /// A flag is information for a reader, not an accusation.
    pub notice: String,
    pub flags: Vec<FlagView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<u64>,
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// The rule named by a query, if any.
pub(super) fn parse_rule(rule: &Option<String>) -> Result<Option<Rule>, ApiError> {
    rule.as_ref()
        .map(|code| {
            Rule::parse(code).ok_or_else(|| {
                let codes: Vec<&str> = Rule::ALL.iter().map(|rule| rule.as_str()).collect();
                invalid(format!("rule {code:?} is not one of: {}", codes.join(", ")))
            })
        })
        .transpose()
}

/// The ledger's filter for a query; `limit` defaults to `default_limit` and may not pass `limit_max`.
pub(super) fn flag_filter(query: &FlagQuery, default_limit: u32, limit_max: u32) -> Result<FlagFilter, ApiError> {
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(invalid(format!("order must be asc or desc, got {other:?}"))),
    };
    let limit = query.limit.unwrap_or(default_limit);
    if limit == 0 || limit > limit_max {
        return Err(invalid(format!("limit must be 1 to {limit_max}")));
    }
    Ok(FlagFilter {
        rule: parse_rule(&query.rule)?,
        organisation: None,
        after: query.after,
        descending,
        limit: limit as usize,
    })
}

fn page(flags: Vec<FlagView>, limit: usize) -> FlagPage {
    let next_after = if flags.len() == limit { flags.last().map(|flag| flag.id) } else { None };
    FlagPage { notice: notice(Language::English).to_string(), flags, next_after }
}

async fn list(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<FlagQuery>,
) -> Result<Json<FlagPage>, ApiError> {
    let mut filter = flag_filter(&query, FLAGS_PAGE_DEFAULT, crate::store::PAGE_SIZE_MAX)?;
    let view = state.log.view().await;
    if let Some(organisation) = &query.organisation {
        let known = OrgId::new(organisation.clone()).ok().filter(|id| view.state.role_of(id).is_some());
        filter.organisation =
            Some(known.ok_or_else(|| invalid(format!("{organisation} is not a registered organisation")))?);
    }
    Ok(Json(page(view.flags.list(&view.state, &filter), filter.limit)))
}

async fn of_organisation(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<FlagQuery>,
) -> Result<Json<FlagPage>, ApiError> {
    if query.organisation.is_some() {
        return Err(invalid("the organisation is given by the path".into()));
    }
    let mut filter = flag_filter(&query, FLAGS_PAGE_DEFAULT, crate::store::PAGE_SIZE_MAX)?;
    let view = state.log.view().await;
    let organisation = OrgId::new(id.clone())
        .ok()
        .filter(|org| view.state.role_of(org).is_some())
        .ok_or_else(|| ApiError::not_found(format!("{id} is not a registered organisation")))?;
    filter.organisation = Some(organisation);
    Ok(Json(page(view.flags.list(&view.state, &filter), filter.limit)))
}
