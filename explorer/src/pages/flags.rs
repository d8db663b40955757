//! Anomaly flags: every flag the log's entries raised, newest first, filtered by rule, each with the entries
//! that triggered it. A flag is information for a reader, not an accusation, and the page says so first.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::{self, FlagPage, FlagView};
use crate::app::{ctx, loaded, use_title};
use crate::i18n::{self, T};

/// The most flags the page lists (the CSV export has them all).
const FLAGS_SHOWN_MAX: u32 = 500;

#[component]
pub fn FlagsPage() -> impl IntoView {
    let c = ctx();
    let query = use_query_map();
    let rule = move || query.get().get("rule").and_then(|code| ledger::Rule::parse(&code));
    let flags = LocalResource::new(move || {
        let rule = rule();
        async move {
            let filter = rule.map(|rule| format!("&rule={rule}")).unwrap_or_default();
            api::get_json::<FlagPage>(&format!("/api/v1/flags?order=desc&limit={FLAGS_SHOWN_MAX}{filter}")).await
        }
    });
    use_title(move || c.t(T::NavFlags).to_string());
    let csv = move || match rule() {
        Some(rule) => format!("/api/v1/flags.csv?rule={rule}"),
        None => "/api/v1/flags.csv".to_string(),
    };
    view! {
        <h1>{move || c.t(T::FlagsTitle)}</h1>
        <p class="notice" id="flags-notice">{move || c.t(T::FlagsNotice)}</p>
        <nav class="rule-filter" aria-label=move || c.t(T::Filter)>
            <ul>
                <li><a href="/flags" aria-current=move || rule().is_none().then_some("page")>{move || c.t(T::FlagsAllRules)}</a></li>
                {ledger::Rule::ALL.into_iter().map(|code| view! {
                    <li>
                        <a href=format!("/flags?rule={code}") aria-current=move || (rule() == Some(code)).then_some("page")>
                            {move || c.t(i18n::rule_title(code))}
                        </a>
                    </li>
                }).collect_view()}
            </ul>
        </nav>
        <p><a href=csv download="">{move || c.t(T::FlagsCsv)}</a></p>
        {loaded(flags, |page: FlagPage| {
            if page.flags.is_empty() {
                view! { <p id="flags-none">{move || ctx().t(T::FlagsNone)}</p> }.into_any()
            } else {
                view! { <FlagList flags=page.flags id="flags"/> }.into_any()
            }
        })}
    }
}

/// Flags as a list: the rule, what was found in the reader's language, and links to the entries.
#[component]
pub fn FlagList(flags: Vec<FlagView>, id: &'static str) -> impl IntoView {
    let c = ctx();
    view! {
        <ul class="flags" id=id>
            {flags.into_iter().map(|flag| {
                let described = flag.clone();
                let raised_by = flag.raised_by.index;
                view! {
                    <li class="flag" data-rule=flag.rule.as_str()>
                        <p class="flag-rule"><strong>{move || c.t(i18n::rule_title(flag.rule))}</strong></p>
                        <p class="flag-description">{move || described.describe(c.language.get())}</p>
                        <p class="flag-entries">
                            {move || c.t(T::FlagsTriggeredBy)} ": "
                            {flag.entries.iter().enumerate().map(|(position, entry)| {
                                let index = entry.index;
                                view! {
                                    {(position > 0).then_some(", ")}
                                    <A href=format!("/entries/{index}") attr:class="flag-entry" attr:title=entry.entry_id.to_hex()>
                                        {index}
                                    </A>
                                }
                            }).collect_view()}
                            " (" {move || c.t(T::FlagsRaisedBy)} " "
                            <A href=format!("/entries/{raised_by}")>{raised_by}</A> ")"
                        </p>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
