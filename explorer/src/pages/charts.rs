//! Charts rendered by the server as SVG (plotters), shown as images and offered for download.

use leptos::prelude::*;

use crate::api::{self, LogInfo};
use crate::app::{ctx, loaded, use_title};
use crate::i18n::T;

fn title(name: &str) -> T {
    match name {
        "flows" => T::MainFlow,
        "money-over-time" => T::MoneyOverTime,
        "spending-by-category" => T::SpendingByCategory,
        _ => T::SpendingByClinic,
    }
}

/// One chart of one asset, optionally for one organisation.
#[component]
pub fn Chart(name: &'static str, asset: String, organisation: Option<String>) -> impl IntoView {
    let c = ctx();
    let mut query = format!("asset={}", api::encode(&asset));
    if let Some(organisation) = &organisation {
        query.push_str(&format!("&organisation={}", api::encode(organisation)));
    }
    let source = format!("/api/v1/charts/{name}.svg?{query}");
    let download = format!("{source}&download=true");
    view! {
        <figure class="chart" data-chart=name>
            <img
                src=source
                alt=move || {
                    if name == "flows" { c.t(T::MainFlowAlt).to_string() } else { format!("{} ({asset})", c.t(title(name))) }
                }
                loading="lazy"
            />
            <figcaption>
                <a href=download download="">{move || c.t(T::DownloadSvg)}</a>
            </figcaption>
        </figure>
    }
}

#[component]
pub fn Charts() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::ChartsTitle).to_string());
    let asset = RwSignal::new(None::<String>);
    view! {
        <h1>{move || c.t(T::ChartsTitle)}</h1>
        <p>
            <leptos_router::components::A href="/last-mile">{move || c.t(T::LastMileTitle)}</leptos_router::components::A>
            ": "
            {move || c.t(T::LastMileLink)}
        </p>
        {loaded(c.log, move |info: LogInfo| {
            let codes: Vec<String> = info.assets.iter().map(|asset| asset.code.clone()).collect();
            let first = codes.first().cloned().unwrap_or_default();
            let chosen = move || asset.get().unwrap_or_else(|| first.clone());
            let chosen_for_select = chosen.clone();
            view! {
                <label for="chart-asset">{move || c.t(T::Asset)}</label>
                " "
                <select
                    id="chart-asset"
                    on:change=move |event| asset.set(Some(event_target_value(&event)))
                    prop:value=chosen_for_select
                >
                    {codes.into_iter().map(|code| view! { <option value=code.clone()>{code.clone()}</option> }).collect_view()}
                </select>
                {move || {
                    let asset = chosen();
                    ["flows", "money-over-time", "spending-by-category", "spending-by-clinic"]
                        .into_iter()
                        .map(|name| {
                            view! {
                                <section>
                                    <h2>{move || c.t(title(name))}</h2>
                                    <Chart name=name asset=asset.clone() organisation=None/>
                                </section>
                            }
                        })
                        .collect_view()
                }}
            }
        })}
    }
}
