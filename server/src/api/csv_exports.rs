//! Every listing as CSV, for spreadsheets: entries (with the listing's filters), organisations, pledges,
//! unacknowledged transfers, flows, anomaly flags (with the flag listing's filters), voucher programmes and voucher issues. Amounts are written in the asset's units with a `.` decimal point and
//! no grouping (`1250.00`), next to the asset's code, so that a spreadsheet in any locale reads them exactly;
//! `amount_minor_units` gives the integer too.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ledger::{Date, SignedEntry};
use serde::Deserialize;

use super::entries::{ListQuery, entry_filter};
use super::flags::{FlagQuery, flag_filter};
use super::ledger_views::{VoucherIssuesQuery, issues_filter, query_date};
use super::{ApiError, ApiQuery, AppState};
use crate::describe::describe;

/// Rows of one `entries.csv` answer at most; `X-Next-After` says where the next file starts.
pub const CSV_ROWS_MAX: u32 = 100_000;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/entries.csv", get(entries))
        .route("/api/v1/organisations.csv", get(organisations))
        .route("/api/v1/pledges.csv", get(pledges))
        .route("/api/v1/transfers/unacknowledged.csv", get(open_transfers))
        .route("/api/v1/flows.csv", get(flows))
        .route("/api/v1/flags.csv", get(flags))
        .route("/api/v1/vouchers/programmes.csv", get(voucher_programmes))
        .route("/api/v1/vouchers/issues.csv", get(voucher_issues))
}

/// An amount in units with a `.` decimal point and no grouping: `1250.00`.
pub fn plain_amount(amount: u128, decimals: u8) -> String {
    let digits = amount.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (whole, fraction) = padded.split_at(padded.len() - decimals);
    format!("{whole}.{fraction}")
}

struct Csv {
    writer: csv::Writer<Vec<u8>>,
}

impl Csv {
    fn new(header: &[&str]) -> Result<Csv, ApiError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(header).map_err(anyhow::Error::new)?;
        Ok(Csv { writer })
    }

    fn row<I: IntoIterator<Item = String>>(&mut self, fields: I) -> Result<(), ApiError> {
        self.writer.write_record(fields.into_iter().collect::<Vec<_>>()).map_err(anyhow::Error::new)?;
        Ok(())
    }

    fn into_response(self, name: &str, next_after: Option<u64>) -> Result<Response, ApiError> {
        let bytes = self.writer.into_inner().map_err(|error| anyhow::anyhow!("writing CSV: {error}"))?;
        let mut response = bytes.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=5"));
        let disposition = format!("attachment; filename=\"aidtrail-{name}.csv\"");
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(anyhow::Error::new)?);
        if let Some(after) = next_after {
            headers.insert(HeaderName::from_static("x-next-after"), HeaderValue::from(after));
        }
        Ok(response)
    }
}

fn decimals_of(assets: &[(ledger::AssetCode, u8, ledger::AssetKind)], code: &str) -> u8 {
    assets.iter().find(|(asset, _, _)| asset.as_str() == code).map_or(0, |(_, decimals, _)| *decimals)
}

fn date_text(date: Option<Date>) -> String {
    date.map(|date| date.to_string()).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from milliseconds since 1970.
pub fn timestamp_text(ms: u64) -> String {
    let days = (ms / 86_400_000) as u32;
    let rest = ms % 86_400_000;
    let date = Date::from_days(days).map(|date| date.to_string()).unwrap_or_default();
    format!("{date}T{:02}:{:02}:{:02}.{:03}Z", rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000)
}

/// Entries with the listing's filters and order, up to `limit` (default and at most 100,000) rows.
async fn entries(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let mut filter = entry_filter(&query, CSV_ROWS_MAX, CSV_ROWS_MAX)?;
    let wanted = filter.limit;
    let mut csv = Csv::new(&[
        "index",
        "entry_id",
        "kind",
        "author",
        "counterparty",
        "value_date",
        "signed_at",
        "asset",
        "amount",
        "amount_minor_units",
        "external_reference",
        "statement",
        "leaf_hash",
    ])?;
    let (assets, mut written, mut last) = (state.log.view().await.state.assets(), 0u32, None);
    while written < wanted {
        filter.limit = (wanted - written).min(crate::store::PAGE_SIZE_MAX);
        let rows = state.log.store().list_entries(&filter).await?;
        let page_full = rows.len() == filter.limit as usize;
        for row in rows {
            let signed = SignedEntry::decode(&row.leaf)
                .map_err(|error| ApiError::internal(anyhow::anyhow!("stored entry {}: {error}", row.entry_index)))?;
            let statement = describe(signed.entry(), &state.log.view().await.state);
            let minor: Option<u128> = row.amount.as_deref().and_then(|amount| amount.parse().ok());
            let asset = row.asset.clone().unwrap_or_default();
            csv.row([
                row.entry_index.to_string(),
                hex::encode(row.entry_id),
                row.kind.clone(),
                row.author.clone(),
                row.counterparty.clone().unwrap_or_default(),
                date_text(row.value_date.and_then(|days| Date::from_days(days).ok())),
                timestamp_text(row.timestamp_ms),
                asset.clone(),
                minor.map(|minor| plain_amount(minor, decimals_of(&assets, &asset))).unwrap_or_default(),
                minor.map(|minor| minor.to_string()).unwrap_or_default(),
                row.external_reference.clone().unwrap_or_default(),
                statement,
                hex::encode(row.leaf_hash),
            ])?;
            written += 1;
            last = Some(row.entry_index);
        }
        if !page_full {
            last = None;
            break;
        }
        filter.after_index = last;
    }
    csv.into_response("entries", last)
}

async fn organisations(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let view = state.log.view().await;
    let mut csv =
        Csv::new(&["id", "name", "role", "country", "iati_identifier", "attribution_policy", "key", "registered_at"])?;
    for id in view.state.organisation_ids() {
        let profile =
            view.state.organisation_profile(&id).map_err(|error| ApiError::internal(anyhow::anyhow!("{error}")))?;
        csv.row([
            profile.id.to_string(),
            profile.name,
            profile.role.to_string(),
            profile.country,
            profile.iati_identifier.unwrap_or_default(),
            profile.attribution_policy.to_string(),
            profile.key.map(|key| key.to_hex()).unwrap_or_default(),
            profile.registered_at.to_string(),
        ])?;
    }
    csv.into_response("organisations", None)
}

async fn pledges(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let view = state.log.view().await;
    let assets = view.state.assets();
    let mut csv = Csv::new(&[
        "index",
        "entry_id",
        "pledger",
        "receiver",
        "verifier",
        "asset",
        "amount",
        "amount_minor_units",
        "result",
        "expires_at",
        "status",
        "attested_at",
        "released_at",
        "voided_at",
    ])?;
    let position = |index: Option<u64>| index.map(|index| index.to_string()).unwrap_or_default();
    for pledge in view.state.pledges() {
        csv.row([
            pledge.entry_index.to_string(),
            pledge.entry_id.to_hex(),
            pledge.pledger.to_string(),
            pledge.receiver.to_string(),
            pledge.verifier.to_string(),
            pledge.asset.to_string(),
            plain_amount(pledge.amount, decimals_of(&assets, pledge.asset.as_str())),
            pledge.amount.to_string(),
            pledge.result.clone(),
            timestamp_text(pledge.expires_at_ms),
            pledge.status.clone(),
            position(pledge.attested_at),
            position(pledge.released_at),
            position(pledge.voided_at),
        ])?;
    }
    csv.into_response("pledges", None)
}

async fn open_transfers(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let view = state.log.view().await;
    let assets = view.state.assets();
    let mut csv =
        Csv::new(&["index", "entry_id", "from", "to", "asset", "amount", "amount_minor_units", "value_date"])?;
    for transfer in view.state.open_transfers() {
        csv.row([
            transfer.entry_index.to_string(),
            transfer.entry_id.to_hex(),
            transfer.from.to_string(),
            transfer.to.to_string(),
            transfer.asset.to_string(),
            plain_amount(transfer.amount, decimals_of(&assets, transfer.asset.as_str())),
            transfer.amount.to_string(),
            date_text(transfer.value_date),
        ])?;
    }
    csv.into_response("unacknowledged-transfers", None)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowsQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn flows(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<FlowsQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = (query_date("from", &query.from)?, query_date("to", &query.to)?);
    let view = state.log.view().await;
    let assets = view.state.assets();
    let mut csv = Csv::new(&["from", "to", "asset", "amount", "amount_minor_units", "entries"])?;
    for edge in view.state.flow_edges(from, to) {
        csv.row([
            edge.from.clone(),
            edge.to.clone(),
            edge.asset.to_string(),
            plain_amount(edge.amount, decimals_of(&assets, edge.asset.as_str())),
            edge.amount.to_string(),
            edge.entries.to_string(),
        ])?;
    }
    csv.into_response("flows", None)
}

/// Anomaly flags with the flag listing's filters, up to `limit` (default and at most 100,000) rows; the
/// triggering entries are listed by index and by id, separated by spaces.
async fn flags(State(state): State<Arc<AppState>>, ApiQuery(query): ApiQuery<FlagQuery>) -> Result<Response, ApiError> {
    let mut filter = flag_filter(&query, CSV_ROWS_MAX, CSV_ROWS_MAX)?;
    let view = state.log.view().await;
    if let Some(organisation) = &query.organisation {
        let known = ledger::OrgId::new(organisation.clone()).ok().filter(|id| view.state.role_of(id).is_some());
        filter.organisation = Some(known.ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("{organisation} is not a registered organisation"))
        })?);
    }
    let mut csv = Csv::new(&[
        "id",
        "rule",
        "organisation",
        "counterparty",
        "asset",
        "amount",
        "amount_minor_units",
        "reference_amount",
        "reference_amount_minor_units",
        "category",
        "month",
        "value_date",
        "funds_value_date",
        "elapsed_hours",
        "raised_by_index",
        "entry_indexes",
        "entry_ids",
        "description",
    ])?;
    let listed = view.flags.list(&view.state, &filter);
    let next_after = if listed.len() == filter.limit { listed.last().map(|flag| flag.id) } else { None };
    for flag in listed {
        let indexes: Vec<String> = flag.entries.iter().map(|entry| entry.index.to_string()).collect();
        let ids: Vec<String> = flag.entries.iter().map(|entry| entry.entry_id.to_hex()).collect();
        csv.row([
            flag.id.to_string(),
            flag.rule.to_string(),
            flag.organisation.to_string(),
            flag.counterparty.as_ref().map(|id| id.to_string()).unwrap_or_default(),
            flag.asset.to_string(),
            plain_amount(flag.amount, flag.decimals),
            flag.amount.to_string(),
            flag.reference_amount.map(|amount| plain_amount(amount, flag.decimals)).unwrap_or_default(),
            flag.reference_amount.map(|amount| amount.to_string()).unwrap_or_default(),
            flag.category.map(|category| category.to_string()).unwrap_or_default(),
            flag.month.clone().unwrap_or_default(),
            date_text(flag.value_date),
            date_text(flag.funds_value_date),
            flag.elapsed_ms.map(|ms| (ms / 3_600_000).to_string()).unwrap_or_default(),
            flag.raised_by.index.to_string(),
            indexes.join(" "),
            ids.join(" "),
            flag.description.clone(),
        ])?;
    }
    csv.into_response("flags", next_after)
}

/// Each voucher programme's totals per asset, by count and face value.
async fn voucher_programmes(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let view = state.log.view().await;
    let mut csv = Csv::new(&[
        "programme",
        "issuer",
        "asset",
        "issued",
        "redeemed",
        "settled",
        "expired",
        "issued_value",
        "redeemed_value",
        "settled_value",
        "expired_value",
        "issued_value_minor_units",
        "redeemed_value_minor_units",
        "settled_value_minor_units",
        "expired_value_minor_units",
    ])?;
    for totals in view.state.voucher_programmes() {
        let values = [totals.issued_value, totals.redeemed_value, totals.settled_value, totals.expired_value];
        let mut row = vec![
            totals.programme.to_string(),
            totals.issuer.to_string(),
            totals.asset.to_string(),
            totals.issued.to_string(),
            totals.redeemed.to_string(),
            totals.settled.to_string(),
            totals.expired.to_string(),
        ];
        row.extend(values.iter().map(|value| plain_amount(*value, totals.decimals)));
        row.extend(values.iter().map(u128::to_string));
        csv.row(row)?;
    }
    csv.into_response("voucher-programmes", None)
}

/// Voucher issues (`organisation=`: those made by it or redeemable at it), with their vouchers by status.
async fn voucher_issues(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<VoucherIssuesQuery>,
) -> Result<Response, ApiError> {
    let view = state.log.view().await;
    let organisation = issues_filter(&view.state, &query)?;
    let mut csv = Csv::new(&[
        "index",
        "entry_id",
        "issuer",
        "programme",
        "asset",
        "face_value",
        "face_value_minor_units",
        "category",
        "clinics",
        "expires_at",
        "issued",
        "redeemed",
        "settled",
        "expired",
        "reserved",
        "reserved_minor_units",
    ])?;
    for issue in view.state.voucher_issues(organisation.as_ref()) {
        csv.row([
            issue.entry_index.to_string(),
            issue.entry_id.to_hex(),
            issue.issuer.to_string(),
            issue.programme.to_string(),
            issue.asset.to_string(),
            plain_amount(issue.face_value, issue.decimals),
            issue.face_value.to_string(),
            issue.category.to_string(),
            issue.clinics.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            timestamp_text(issue.expires_at_ms),
            issue.issued.to_string(),
            issue.redeemed.to_string(),
            issue.settled.to_string(),
            issue.expired.to_string(),
            plain_amount(issue.reserved, issue.decimals),
            issue.reserved.to_string(),
        ])?;
    }
    csv.into_response("voucher-issues", None)
}

#[cfg(test)]
mod tests {
    use super::{plain_amount, timestamp_text};

    #[test]
    fn amounts_and_moments_read_the_same_in_every_locale() {
        assert_eq!(plain_amount(125_000, 2), "1250.00");
        assert_eq!(plain_amount(5, 2), "0.05");
        assert_eq!(plain_amount(0, 6), "0.000000");
        assert_eq!(plain_amount(42, 0), "42");
        assert_eq!(timestamp_text(1_790_000_000_123), "2026-09-21T14:13:20.123Z");
    }
}
