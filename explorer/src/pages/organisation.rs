//! Organisations: the list, and each one's balances, money over time, pledges, unacknowledged transfers,
//! anomaly flags and entries.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::EntryTable;
use super::charts::Chart;
use super::flags::FlagList;
use crate::api::{self, EntryPage, FlagPage, OrganisationList, OrganisationProfile};
use crate::app::{ctx, loaded, use_title};
use crate::i18n::{self, T};

#[component]
pub fn Organisations() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::OrganisationsTitle).to_string());
    view! {
        <h1>{move || c.t(T::OrganisationsTitle)}</h1>
        <p><a href="/api/v1/organisations.csv" download="">{move || c.t(T::DownloadOrganisationsCsv)}</a></p>
        {loaded(c.organisations, move |list: OrganisationList| view! {
            <div class="table-wrap">
                <table id="organisations">
                    <thead>
                        <tr>
                            <th scope="col">{move || c.t(T::Name)}</th>
                            <th scope="col">{move || c.t(T::Role)}</th>
                            <th scope="col">{move || c.t(T::Country)}</th>
                        </tr>
                    </thead>
                    <tbody>
                        {list.organisations.into_iter().map(|organisation| view! {
                            <tr>
                                <td><A href=format!("/organisations/{}", organisation.id)>{organisation.name.clone()}</A></td>
                                <td>{move || i18n::term(c.language.get(), &organisation.role)}</td>
                                <td>{organisation.country.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        })}
    }
}

#[component]
pub fn Organisation() -> impl IntoView {
    let c = ctx();
    let params = use_params_map();
    let id = move || params.get().get("id").unwrap_or_default();
    let profile = LocalResource::new(move || {
        let id = id();
        async move { api::get_json::<OrganisationProfile>(&format!("/api/v1/organisations/{}", api::encode(&id))).await }
    });
    let entries = LocalResource::new(move || {
        let id = id();
        async move {
            api::get_json::<EntryPage>(&format!(
                "/api/v1/entries?order=desc&limit=20&organisation={}",
                api::encode(&id)
            ))
            .await
        }
    });
    let flags = LocalResource::new(move || {
        let id = id();
        async move {
            api::get_json::<FlagPage>(&format!("/api/v1/organisations/{}/flags?order=desc&limit=100", api::encode(&id)))
                .await
        }
    });
    use_title(move || match profile.get() {
        Some(Ok(profile)) => profile.name,
        _ => c.t(T::Organisation).to_string(),
    });
    view! {
        {loaded(profile, move |profile: OrganisationProfile| {
            let names = move || c.lookup();
            let main_asset = profile
                .balances
                .first()
                .map(|balance| balance.asset.to_string())
                .or_else(|| c.log.get_untracked().and_then(Result::ok).and_then(|info| info.assets.first().map(|a| a.code.clone())))
                .unwrap_or_default();
            let id = profile.id.to_string();
            view! {
                <h1 id="organisation-name">{profile.name.clone()}</h1>
                <dl class="facts">
                    <dt>{move || c.t(T::Role)}</dt>
                    <dd>{move || i18n::term(c.language.get(), profile.role.as_str())}</dd>
                    <dt>{move || c.t(T::Country)}</dt>
                    <dd>{profile.country.clone()}</dd>
                    <dt>{move || c.t(T::Key)}</dt>
                    <dd><code>{profile.key.map(|key| key.to_hex()).unwrap_or_default()}</code></dd>
                </dl>
                {profile.iati_identifier.clone().map(|_| view! {
                    <p>
                        <a href=format!("/api/v1/exports/iati.xml?organisation={}", api::encode(&id)) download="" id="organisation-iati">
                            {move || c.t(T::IatiExport)}
                        </a>
                    </p>
                })}
                <h2>{move || c.t(T::Balances)}</h2>
                <div class="table-wrap">
                    <table id="balances">
                        <thead>
                            <tr>
                                <th scope="col">{move || c.t(T::Asset)}</th>
                                <th scope="col" class="num">{move || c.t(T::Available)}</th>
                                <th scope="col" class="num">{move || c.t(T::Earmarked)}</th>
                                <th scope="col" class="num">{move || c.t(T::Pledged)}</th>
                            </tr>
                        </thead>
                        <tbody>
                            {profile.balances.into_iter().map(|balance| {
                                let (decimals, code) = (balance.decimals, balance.asset.to_string());
                                let money = move |amount: u128| {
                                    let code = code.clone();
                                    move || c.language.get().money(amount, decimals, &code)
                                };
                                view! {
                                    <tr>
                                        <th scope="row">{balance.asset.to_string()}</th>
                                        <td class="num">{money(balance.available)}</td>
                                        <td class="num">{money(balance.earmarked)}</td>
                                        <td class="num">{money(balance.pledged)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <div class="charts-pair">
                    <section>
                        <h2>{move || c.t(T::MoneyOverTime)}</h2>
                        <Chart name="money-over-time" asset=main_asset.clone() organisation=Some(id.clone())/>
                    </section>
                    <section>
                        <h2>{move || c.t(T::SpendingByCategory)}</h2>
                        <Chart name="spending-by-category" asset=main_asset organisation=Some(id.clone())/>
                    </section>
                </div>
                <h2>{move || c.t(T::Pledges)}</h2>
                {if profile.pledges.is_empty() {
                    view! { <p>{move || c.t(T::NoPledges)}</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap">
                            <table id="pledges">
                                <thead>
                                    <tr>
                                        <th scope="col">{move || c.t(T::Index)}</th>
                                        <th scope="col">{move || c.t(T::From)}</th>
                                        <th scope="col">{move || c.t(T::To)}</th>
                                        <th scope="col" class="num">{move || c.t(T::Amount)}</th>
                                        <th scope="col">{move || c.t(T::Result)}</th>
                                        <th scope="col">{move || c.t(T::Status)}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {profile.pledges.into_iter().map(|pledge| {
                                        let (pledger, receiver, asset) = (pledge.pledger.to_string(), pledge.receiver.to_string(), pledge.asset.to_string());
                                        view! {
                                            <tr>
                                                <td><A href=format!("/entries/{}", pledge.entry_index)>{pledge.entry_index}</A></td>
                                                <td>{move || names().name(&pledger)}</td>
                                                <td>{move || names().name(&receiver)}</td>
                                                <td class="num">{move || names().money(c.language.get(), pledge.amount, &asset)}</td>
                                                <td>{pledge.result.clone()}</td>
                                                <td><span class=format!("status {}", pledge.status)>{let status = pledge.status.clone(); move || i18n::term(c.language.get(), &status)}</span></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                }}
                <h2>{move || c.t(T::SignOffs)}</h2>
                {if profile.sign_offs.is_empty() {
                    view! { <p>{move || c.t(T::NoSignOffs)}</p> }.into_any()
                } else {
                    view! {
                        <ul id="sign-offs">
                            {profile.sign_offs.into_iter().map(|sign_off| {
                                let (auditor, organisation) = (sign_off.auditor.to_string(), sign_off.organisation.to_string());
                                let (start, end) = (sign_off.period_start.to_string(), sign_off.period_end.to_string());
                                view! {
                                    <li>
                                        <A href=format!("/organisations/{organisation}")>{move || names().name(&organisation)}</A> ": "
                                        {move || i18n::date(c.language.get(), &start)} " – " {move || i18n::date(c.language.get(), &end)} ", "
                                        {move || c.t(T::SignedOffBy)} " "
                                        <A href=format!("/organisations/{auditor}")>{move || names().name(&auditor)}</A>
                                        " (" {move || c.t(T::LogSizeRead)} " " {sign_off.tree_size} ") "
                                        <A href=format!("/entries/{}", sign_off.entry_index)>"#"{sign_off.entry_index}</A>
                                        " " <q class="opinion">{sign_off.opinion.clone()}</q>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                {(!profile.voucher_issues.is_empty()).then(|| view! {
                    <h2>{move || c.t(T::VoucherProgrammes)}</h2>
                    <ul id="voucher-issues">
                        {profile.voucher_issues.clone().into_iter().map(|issue| {
                            let asset = issue.asset.to_string();
                            let reserved_asset = asset.clone();
                            let programme = issue.programme.to_string();
                            view! {
                                <li>
                                    <A href=format!("/entries/{}", issue.entry_index)>{programme}</A> ": "
                                    {issue.issued} " × " {move || names().money(c.language.get(), issue.face_value, &asset)} " "
                                    {move || c.t(T::VouchersIssued)} " · " {issue.redeemed} " " {move || c.t(T::VouchersRedeemed)}
                                    " · " {issue.settled} " " {move || c.t(T::VouchersSettled)}
                                    " · " {issue.expired} " " {move || c.t(T::VouchersExpired)}
                                    " · " {move || c.t(T::VouchersReserved)} " "
                                    {move || names().money(c.language.get(), issue.reserved, &reserved_asset)}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                })}
                <h2>{move || c.t(T::OpenTransfers)}</h2>
                {if profile.unacknowledged_transfers.is_empty() {
                    view! { <p>{move || c.t(T::NoOpenTransfers)}</p> }.into_any()
                } else {
                    view! {
                        <ul id="open-transfers">
                            {profile.unacknowledged_transfers.into_iter().map(|transfer| {
                                let (from, to, asset) = (transfer.from.to_string(), transfer.to.to_string(), transfer.asset.to_string());
                                let date = transfer.value_date.map(|date| date.to_string());
                                view! {
                                    <li>
                                        <A href=format!("/entries/{}", transfer.entry_index)>{transfer.entry_index}</A>
                                        ": " {move || names().name(&from)} " → " {move || names().name(&to)} ", "
                                        {move || names().money(c.language.get(), transfer.amount, &asset)}
                                        {date.clone().map(|date| view! { ", " {move || i18n::date(c.language.get(), &date)} })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            }
        })}
        <h2>{move || c.t(T::ItsFlags)}</h2>
        {loaded(flags, move |page: FlagPage| {
            if page.flags.is_empty() {
                view! { <p id="organisation-flags-none">{move || c.t(T::FlagsNone)}</p> }.into_any()
            } else {
                view! {
                    <p class="notice">{move || c.t(T::FlagsNotice)}</p>
                    <FlagList flags=page.flags id="organisation-flags"/>
                }
                .into_any()
            }
        })}
        <h2>{move || c.t(T::ItsEntries)}</h2>
        {loaded(entries, |page: EntryPage| view! { <EntryTable entries=page.entries/> })}
    }
}
