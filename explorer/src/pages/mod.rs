//! The explorer's pages, and the pieces several of them share.

pub mod audit;
pub mod charts;
pub mod entries;
pub mod entry;
pub mod flags;
pub mod last_mile;
pub mod organisation;
pub mod overview;
pub mod proofs;
pub mod trace;
pub mod trust;

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{self, EntryView, InclusionProofView};
use crate::app::{Ctx, Names, ctx, use_title};
use crate::i18n::{self, Language, T};
use crate::verify::{self, EntryEvidence, EntryReport};

#[component]
pub fn NotFound() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::NotFoundTitle).to_string());
    view! {
        <h1>{move || c.t(T::NotFoundTitle)}</h1>
        <p>{move || c.t(T::NotFoundText)}</p>
    }
}

/// A hexadecimal value shortened for reading, whole in its tooltip.
pub fn short_hex(hex: &str) -> String {
    format!("{}…", &hex[..hex.len().min(12)])
}

/// The plain-words sentence of an entry, written from its verified-decodable bytes when they decode.
pub fn sentence(entry: &EntryView, names: &Names, language: Language) -> String {
    hex::decode(&entry.leaf)
        .ok()
        .and_then(|bytes| ledger::SignedEntry::decode(&bytes).ok())
        .map(|signed| ledger::words::describe(signed.entry(), names, language))
        .unwrap_or_else(|| entry.summary.clone())
}

/// A table of entries with links to each.
#[component]
pub fn EntryTable(entries: Vec<EntryView>) -> impl IntoView {
    let c = ctx();
    view! {
        <div class="table-wrap">
            <table class="entries">
                <thead>
                    <tr>
                        <th scope="col">{move || c.t(T::Index)}</th>
                        <th scope="col">{move || c.t(T::Date)}</th>
                        <th scope="col">{move || c.t(T::Kind)}</th>
                        <th scope="col">{move || c.t(T::Statement)}</th>
                    </tr>
                </thead>
                <tbody>
                    {entries
                        .into_iter()
                        .map(|entry| {
                            let href = format!("/entries/{}", entry.index);
                            let index = entry.index;
                            let kind = entry.kind.clone();
                            let date = entry.value_date.clone();
                            let timestamp = entry.timestamp_ms;
                            view! {
                                <tr>
                                    <td><A href=href>{index}</A></td>
                                    <td>
                                        {move || {
                                            let language = c.language.get();
                                            match &date {
                                                Some(date) => i18n::date(language, date),
                                                None => i18n::timestamp(language, timestamp),
                                            }
                                        }}
                                    </td>
                                    <td>{move || i18n::kind(c.language.get(), &kind)}</td>
                                    <td>{move || sentence(&entry, &c.lookup(), c.language.get())}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Why an entry could not be put to the test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unverifiable {
    /// No verifier key is trusted yet.
    NoAnchor,
    /// The entry or its proof could not be fetched.
    Fetch(String),
}

impl std::fmt::Display for Unverifiable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Shown by the pages in the reader's language; this is the English for logs.
            Unverifiable::NoAnchor => write!(f, "{}", T::NoTrustAnchor.get(Language::English)),
            Unverifiable::Fetch(error) => write!(f, "{error}"),
        }
    }
}

/// Fetches an entry and its inclusion proof and verifies both in the browser.
pub async fn verify_index(c: Ctx, index: u64) -> Result<(EntryView, EntryReport), Unverifiable> {
    let info = match c.log.get_untracked() {
        Some(Ok(info)) => info,
        _ => api::get_json::<api::LogInfo>("/api/v1/log").await.map_err(|e| Unverifiable::Fetch(e.to_string()))?,
    };
    let anchor = c.anchor.get_untracked().ok_or(Unverifiable::NoAnchor)?;
    let entry = api::get_json::<EntryView>(&format!("/api/v1/entries/{index}"))
        .await
        .map_err(|error| Unverifiable::Fetch(error.to_string()))?;
    let proof = api::get_json::<InclusionProofView>(&format!("/api/v1/proofs/inclusion?index={index}"))
        .await
        .map_err(|error| Unverifiable::Fetch(error.to_string()))?;
    let evidence = EntryEvidence {
        index,
        leaf_hex: &entry.leaf,
        claimed_leaf_hash: &proof.leaf_hash,
        tree_size: proof.tree_size,
        proof: &proof.proof,
        checkpoint_note: proof.checkpoint.as_ref().map(|checkpoint| checkpoint.note.as_str()),
    };
    let report = verify::verify_entry(&evidence, &anchor.key, &info.origin);
    Ok((entry, report))
}

/// A small badge that verifies one entry's proof in the browser.
#[component]
pub fn ProofBadge(index: u64) -> impl IntoView {
    let c = ctx();
    let outcome = LocalResource::new(move || {
        // Checked again when the reader pins a key.
        let _ = c.anchor.get();
        async move { verify_index(c, index).await.map(|(_, report)| report) }
    });
    move || {
        match outcome.get() {
        None => view! { <span class="badge pending">{c.t(T::ProofPending)}</span> }.into_any(),
        Some(Ok(report)) if report.ok() => view! {
            <A href=format!("/entries/{index}") attr:class="badge ok" attr:data-proof="ok">
                "✓ " {c.t(T::ProofOk)}
            </A>
        }
        .into_any(),
        Some(Ok(report)) => {
            let why = report.failure().and_then(|check| check.outcome.clone().err()).unwrap_or_default();
            view! {
                <A href=format!("/entries/{index}") attr:class="badge failed" attr:data-proof="failed" attr:title=why>
                    "✗ " {c.t(T::ProofFailed)}
                </A>
            }
            .into_any()
        }
        Some(Err(Unverifiable::NoAnchor)) => view! {
            <span class="badge pending" data-proof="no-anchor" title=c.t(T::NoTrustAnchor)>{c.t(T::ProofUnchecked)}</span>
        }
        .into_any(),
        Some(Err(error)) => view! {
            <span class="badge failed" data-proof="failed" title=error.to_string()>"✗ " {c.t(T::ProofFailed)}</span>
        }
        .into_any(),
    }
    }
}
