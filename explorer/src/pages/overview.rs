//! The overview: the log's identity, size and latest checkpoint, totals by asset, the main flow chart and
//! the most recent entries.

use leptos::prelude::*;

use super::EntryTable;
use crate::api::{self, EntryPage, LogInfo};
use crate::app::{ctx, loaded, use_title};
use crate::i18n::{self, T};
use crate::storage;

#[component]
pub fn Overview() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::NavOverview).to_string());
    let recent = LocalResource::new(|| api::get_json::<EntryPage>("/api/v1/entries?order=desc&limit=10"));
    // The first meaningful render: the log's facts and the recent entries are on screen. Recorded once per
    // page load on the root element (`data-first-render-ms`, from navigation start) for the benchmark.
    Effect::new(move |_| {
        if matches!(c.log.get(), Some(Ok(_))) && matches!(recent.get(), Some(Ok(_))) {
            let window = web_sys::window();
            let now = window.as_ref().and_then(|window| window.performance()).map(|performance| performance.now());
            let root = window.and_then(|window| window.document()).and_then(|document| document.document_element());
            if let (Some(now), Some(root)) = (now, root)
                && !root.has_attribute("data-first-render-ms")
            {
                let _ = root.set_attribute("data-first-render-ms", &format!("{now:.0}"));
            }
        }
    });
    view! {
        <h1>{move || c.t(T::OverviewTitle)}</h1>
        {loaded(c.log, move |info: LogInfo| {
            let first_asset = info.assets.first().map(|asset| asset.code.clone()).unwrap_or_default();
            let checkpoint = info.checkpoint.clone();
            let assets = info.assets.clone();
            view! {
                <dl class="facts">
                    <dt>{move || c.t(T::Origin)}</dt>
                    <dd id="log-origin"><code>{info.origin.clone()}</code></dd>
                    <dt>{move || c.t(T::VerifierKey)}</dt>
                    <dd><code class="key" id="log-verifier-key">{info.verifier_key.clone()}</code></dd>
                    <dt>{move || c.t(T::TreeSize)}</dt>
                    <dd id="tree-size">{move || i18n::count(c.language.get(), info.tree_size)}</dd>
                    <dt>{move || c.t(T::LatestCheckpoint)}</dt>
                    <dd>
                        {move || {
                            let language = c.language.get();
                            format!(
                                "{} · {} {}",
                                i18n::timestamp(language, checkpoint.signed_at_ms),
                                c.t(T::SignedAgo),
                                i18n::age(language, storage::now_ms().saturating_sub(checkpoint.signed_at_ms)),
                            )
                        }}
                    </dd>
                </dl>
                <h2>{move || c.t(T::TotalsByAsset)}</h2>
                <div class="table-wrap">
                    <table id="totals">
                        <thead>
                            <tr>
                                <th scope="col">{move || c.t(T::Asset)}</th>
                                <th scope="col" class="num">{move || c.t(T::Donated)}</th>
                                <th scope="col" class="num">{move || c.t(T::Spent)}</th>
                                <th scope="col" class="num">{move || c.t(T::Reserved)}</th>
                                <th scope="col" class="num">{move || c.t(T::Returned)}</th>
                                <th scope="col" class="num">{move || c.t(T::Held)}</th>
                            </tr>
                        </thead>
                        <tbody>
                            {assets
                                .into_iter()
                                .map(|asset| {
                                    let totals = asset.totals;
                                    let (decimals, code) = (asset.decimals, asset.code.clone());
                                    let cell = move |amount: u128| {
                                        let code = code.clone();
                                        view! {
                                            <td class="num">{move || c.language.get().money(amount, decimals, &code)}</td>
                                        }
                                    };
                                    view! {
                                        <tr>
                                            <th scope="row">{asset.code.clone()} " (" {let kind = asset.kind.clone(); move || i18n::term(c.language.get(), &kind)} ")"</th>
                                            {cell(totals.donated)}
                                            {cell(totals.spent)}
                                            {cell(totals.reserved)}
                                            {cell(totals.returned)}
                                            {cell(totals.held)}
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
                <h2>{move || c.t(T::MainFlow)}</h2>
                <super::charts::Chart name="flows" asset=first_asset organisation=None/>
            }
        })}
        <h2>{move || c.t(T::OpenData)}</h2>
        <p>{move || c.t(T::OpenDataText)}</p>
        <ul class="downloads" id="open-data">
            <li><a href="/api/v1/exports/iati.xml" download="">{move || c.t(T::IatiExport)}</a></li>
            <li><a href="/api/v1/entries.csv" download="">{move || c.t(T::AllEntriesCsv)}</a></li>
            <li><a href="/api/v1/organisations.csv" download="">{move || c.t(T::NavOrganisations)} " (CSV)"</a></li>
            <li><a href="/api/v1/pledges.csv" download="">{move || c.t(T::PledgesCsv)}</a></li>
            <li><a href="/api/v1/flows.csv" download="">{move || c.t(T::FlowsCsv)}</a></li>
        </ul>
        <h2>{move || c.t(T::RecentEntries)}</h2>
        {loaded(recent, |page: EntryPage| view! { <EntryTable entries=page.entries/> })}
    }
}
