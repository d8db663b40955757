//! Last-mile spending in public: money paid to beneficiaries per clinic and month or week, with every cell of
//! fewer than k beneficiary spends withheld, and each organisation's commitments whose beneficiary data was
//! erased (`docs/PRIVACY.md`).

use leptos::prelude::*;
use leptos_router::components::A;
use serde::Deserialize;

use crate::api::{self, LogInfo};
use crate::app::{ctx, loaded, use_title};
use crate::i18n::{self, T};

/// `GET /api/v1/last-mile` as the explorer reads it.
#[derive(Clone, Debug, Deserialize)]
pub struct LastMileView {
    pub asset: String,
    pub decimals: u8,
    pub k: u64,
    pub cells: Vec<ledger::last_mile::LastMileCell>,
    pub organisations: Vec<ErasureSummary>,
}

/// An organisation's beneficiary commitments and those whose private data was erased.
#[derive(Clone, Debug, Deserialize)]
pub struct ErasureSummary {
    pub organisation: String,
    pub beneficiary_commitments: u64,
    pub erased: u64,
}

#[component]
pub fn LastMile() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::LastMileTitle).to_string());
    let asset = RwSignal::new(None::<String>);
    let weekly = RwSignal::new(false);
    view! {
        <h1>{move || c.t(T::LastMileTitle)}</h1>
        <p>{move || c.t(T::LastMileIntro)} " " <A href="/proofs">{move || c.t(T::NavProofs)}</A></p>
        {loaded(c.log, move |info: LogInfo| {
            let codes: Vec<String> = info.assets.iter().map(|asset| asset.code.clone()).collect();
            let first = codes.first().cloned().unwrap_or_default();
            let chosen = move || asset.get().unwrap_or_else(|| first.clone());
            let chosen_for_select = chosen.clone();
            let data = LocalResource::new(move || {
                let path = format!(
                    "/api/v1/last-mile?asset={}&period={}",
                    api::encode(&chosen()),
                    if weekly.get() { "week" } else { "month" }
                );
                async move { api::get_json::<LastMileView>(&path).await }
            });
            view! {
                <label for="last-mile-asset">{move || c.t(T::Asset)}</label>
                " "
                <select
                    id="last-mile-asset"
                    on:change=move |event| asset.set(Some(event_target_value(&event)))
                    prop:value=chosen_for_select
                >
                    {codes.into_iter().map(|code| view! { <option value=code.clone()>{code.clone()}</option> }).collect_view()}
                </select>
                " "
                <label for="last-mile-period">{move || c.t(T::LastMilePeriod)}</label>
                " "
                <select
                    id="last-mile-period"
                    on:change=move |event| weekly.set(event_target_value(&event) == "week")
                >
                    <option value="month">{move || c.t(T::LastMileMonth)}</option>
                    <option value="week">{move || c.t(T::LastMileWeek)}</option>
                </select>
                {loaded(data, move |view: LastMileView| render(view))}
            }
        })}
    }
}

fn render(data: LastMileView) -> impl IntoView {
    let c = ctx();
    let LastMileView { asset, decimals, k, cells, organisations } = data;
    let names = move || c.lookup();
    let rows = cells
        .into_iter()
        .map(|cell| {
            let organisation = cell.organisation.to_string();
            let href = format!("/organisations/{organisation}");
            let asset = asset.clone();
            view! {
                <tr class:suppressed=cell.suppressed>
                    <td><A href=href>{move || names().name(&organisation)}</A></td>
                    <td>{cell.period.clone()}</td>
                    <td class="number">
                        {move || match cell.beneficiary_spends {
                            Some(spends) => i18n::count(c.language.get(), spends),
                            None => String::new(),
                        }}
                    </td>
                    <td class="number">
                        {move || match cell.total {
                            Some(total) => c.language.get().money(total, decimals, &asset),
                            None => format!("{} (< {k})", c.t(T::LastMileSuppressed)),
                        }}
                    </td>
                </tr>
            }
        })
        .collect_view();
    let erased: Vec<ErasureSummary> = organisations.into_iter().filter(|row| row.erased > 0).collect();
    view! {
        <p class="note">{move || c.t(T::LastMileSuppressionNote).replace("{k}", &k.to_string())}</p>
        <div class="table-wrap">
            <table class="last-mile">
                <thead>
                    <tr>
                        <th scope="col">{move || c.t(T::LastMileOrganisation)}</th>
                        <th scope="col">{move || c.t(T::LastMilePeriod)}</th>
                        <th scope="col">{move || c.t(T::LastMileSpends)}</th>
                        <th scope="col">{move || c.t(T::LastMileTotal)}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <section class="erasures">
            <h2>{move || c.t(T::BeneficiaryDataErased)}</h2>
            <p>{move || c.t(T::ErasureExplained)}</p>
            {if erased.is_empty() {
                view! { <p>{move || c.t(T::NoErasures)}</p> }.into_any()
            } else {
                view! {
                    <ul>
                        {erased
                            .into_iter()
                            .map(|row| {
                                let organisation = row.organisation.clone();
                                view! {
                                    <li>
                                        <A href=format!("/organisations/{}", row.organisation)>
                                            {move || names().name(&organisation)}
                                        </A>
                                        ": "
                                        {move || {
                                            let language = c.language.get();
                                            format!(
                                                "{} / {} {}",
                                                i18n::count(language, row.erased),
                                                i18n::count(language, row.beneficiary_commitments),
                                                c.t(T::ErasedCommitments)
                                            )
                                        }}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            }}
        </section>
    }
}
