//! Entries: paged, filtered by organisation, kind, asset and value date; searched by entry id, leaf hash,
//! index or external reference. The filters live in the address, so every view is a link.

use leptos::prelude::*;
use leptos_router::components::{A, Form};
use leptos_router::hooks::use_query_map;

use super::EntryTable;
use crate::api::{self, EntryPage, EntryView, FetchError};
use crate::app::{ctx, loaded, use_title};
use crate::i18n::{self, T};

const KINDS: [&str; 16] = [
    "genesis",
    "operator_key_rotation",
    "register_organisation",
    "key_rotation",
    "key_revocation",
    "declare_asset",
    "declare_programme",
    "donation",
    "transfer",
    "acknowledgement",
    "spend",
    "pledge",
    "attestation",
    "pledge_release",
    "pledge_void",
    "reversal",
];

const FILTERS: [&str; 5] = ["organisation", "kind", "asset", "from", "to"];

/// What a search box's text names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Search {
    Index(u64),
    EntryId(String),
    LeafHash(String),
    ExternalReference(String),
}

pub fn parse_search(text: &str) -> Option<Search> {
    let text = text.trim();
    let hex = text.len().is_multiple_of(2) && !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_hexdigit());
    if text.is_empty() {
        None
    } else if let Ok(index) = text.parse::<u64>()
        && text.len() < 32
    {
        Some(Search::Index(index))
    } else if hex && text.len() == 32 {
        Some(Search::EntryId(text.to_ascii_lowercase()))
    } else if hex && text.len() == 64 {
        Some(Search::LeafHash(text.to_ascii_lowercase()))
    } else {
        Some(Search::ExternalReference(text.to_string()))
    }
}

async fn one(path: String) -> Result<EntryPage, FetchError> {
    match api::get_json::<EntryView>(&path).await {
        Ok(entry) => Ok(EntryPage { entries: vec![entry], next_after: None }),
        Err(error) if error.status == 404 => Ok(EntryPage { entries: Vec::new(), next_after: None }),
        Err(error) => Err(error),
    }
}

#[component]
pub fn Entries() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::EntriesTitle).to_string());
    let query = use_query_map();
    let page = LocalResource::new(move || {
        let query = query.get();
        async move {
            let mut path = String::from("/api/v1/entries?order=desc&limit=50");
            match query.get("q").as_deref().and_then(parse_search) {
                Some(Search::Index(index)) => return one(format!("/api/v1/entries/{index}")).await,
                Some(Search::EntryId(id)) => return one(format!("/api/v1/entries/by-id/{id}")).await,
                Some(Search::LeafHash(hash)) => return one(format!("/api/v1/entries/by-leaf-hash/{hash}")).await,
                Some(Search::ExternalReference(reference)) => {
                    path.push_str(&format!("&external_reference={}", api::encode(&reference)));
                }
                None => {}
            }
            for name in FILTERS.iter().chain(["after"].iter()) {
                if let Some(value) = query.get(name).filter(|value| !value.is_empty()) {
                    path.push_str(&format!("&{name}={}", api::encode(&value)));
                }
            }
            api::get_json::<EntryPage>(&path).await
        }
    });
    let value = move |name: &'static str| move || query.get().get(name).unwrap_or_default();
    view! {
        <h1>{move || c.t(T::EntriesTitle)}</h1>
        <Form method="GET" action="/entries">
            <div class="search">
                <label for="search">{move || c.t(T::SearchLabel)}</label>
                <input id="search" name="q" type="search" prop:value=value("q") autocomplete="off"/>
                <button type="submit">{move || c.t(T::Search)}</button>
            </div>
        </Form>
        <Form method="GET" action="/entries">
            <fieldset class="filters">
                <legend>{move || c.t(T::Filter)}</legend>
                <label>
                    {move || c.t(T::Organisation)}
                    <select name="organisation" prop:value=value("organisation")>
                        <option value="">{move || c.t(T::Any)}</option>
                        {move || {
                            c.organisations
                                .get()
                                .and_then(Result::ok)
                                .map(|list| {
                                    list.organisations
                                        .into_iter()
                                        .map(|organisation| {
                                            view! {
                                                <option value=organisation.id.clone()>
                                                    {organisation.name.clone()}
                                                </option>
                                            }
                                        })
                                        .collect_view()
                                })
                        }}
                    </select>
                </label>
                <label>
                    {move || c.t(T::Kind)}
                    <select name="kind" prop:value=value("kind")>
                        <option value="">{move || c.t(T::Any)}</option>
                        {KINDS
                            .into_iter()
                            .map(|kind| view! { <option value=kind>{move || i18n::kind(c.language.get(), kind)}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    {move || c.t(T::Asset)}
                    <select name="asset" prop:value=value("asset")>
                        <option value="">{move || c.t(T::Any)}</option>
                        {move || {
                            c.log
                                .get()
                                .and_then(Result::ok)
                                .map(|info| {
                                    info.assets
                                        .into_iter()
                                        .map(|asset| view! { <option value=asset.code.clone()>{asset.code.clone()}</option> })
                                        .collect_view()
                                })
                        }}
                    </select>
                </label>
                <label>{move || c.t(T::From)} <input type="date" name="from" prop:value=value("from")/></label>
                <label>{move || c.t(T::To)} <input type="date" name="to" prop:value=value("to")/></label>
                <button type="submit">{move || c.t(T::Filter)}</button>
            </fieldset>
        </Form>
        {loaded(page, move |page: EntryPage| {
            if page.entries.is_empty() {
                let searched = query.get_untracked().get("q").is_some_and(|q| !q.is_empty());
                let text = if searched { T::NothingFound } else { T::NoEntries };
                return view! { <p id="no-entries">{move || c.t(text)}</p> }.into_any();
            }
            let older = page.next_after.map(|after| {
                let query = query.get_untracked();
                let mut href = format!("/entries?after={after}");
                for name in FILTERS {
                    if let Some(value) = query.get(name).filter(|value| !value.is_empty()) {
                        href.push_str(&format!("&{name}={}", api::encode(&value)));
                    }
                }
                view! { <A href=href attr:rel="next">{move || c.t(T::Older)} " →"</A> }
            });
            let newer = query
                .get_untracked()
                .get("after")
                .is_some()
                .then(|| view! { <A href="/entries">"← " {move || c.t(T::Newer)}</A> });
            // The same listing for a spreadsheet: every matching entry, not only this page.
            let mut csv = String::from("/api/v1/entries.csv?order=desc");
            let current = query.get_untracked();
            for name in FILTERS {
                if let Some(value) = current.get(name).filter(|value| !value.is_empty()) {
                    csv.push_str(&format!("&{name}={}", api::encode(&value)));
                }
            }
            if let Some(Search::ExternalReference(reference)) = current.get("q").as_deref().and_then(parse_search) {
                csv.push_str(&format!("&external_reference={}", api::encode(&reference)));
            }
            view! {
                <EntryTable entries=page.entries/>
                <nav class="pager" aria-label="pages">{newer} " " {older}</nav>
                <p><a href=csv id="entries-csv" download="">{move || c.t(T::DownloadCsv)}</a></p>
            }
            .into_any()
        })}
    }
}
