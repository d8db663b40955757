//! One entry: in plain words, its fields, its bytes, and its proof verified in the browser.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::{sentence, verify_index};
use crate::api::{self, EntryView};
use crate::app::{ctx, loaded, use_title};
use crate::i18n::{self, T};
use crate::verify::{EntryReport, Step};

fn step_title(step: Step) -> T {
    match step {
        Step::LeafHash => T::StepLeafHash,
        Step::AuthorSignature => T::StepAuthorSignature,
        Step::CheckpointSignature => T::StepCheckpointSignature,
        Step::InclusionPath => T::StepInclusionPath,
    }
}

const STEPS: [Step; 4] = [Step::LeafHash, Step::AuthorSignature, Step::CheckpointSignature, Step::InclusionPath];

/// The verification's outcome: loud and specific on failure, precise about what was checked on success.
#[component]
pub fn ReportView(report: EntryReport) -> impl IntoView {
    let c = ctx();
    let ok = report.ok();
    let steps = STEPS
        .into_iter()
        .map(|step| {
            let check = report.checks.iter().find(|check| check.step == step).cloned();
            let (class, mark, detail) = match check.map(|check| check.outcome) {
                Some(Ok(detail)) => ("ok", "✓", Some(detail)),
                Some(Err(detail)) => ("failed", "✗", Some(detail)),
                None => ("skipped", "–", None),
            };
            view! {
                <li class=class data-step=format!("{step:?}")>
                    <span class="mark" aria-hidden="true">{mark}</span>
                    " " <strong>{move || c.t(step_title(step))}</strong> ": "
                    {match detail {
                        Some(detail) => view! { <span class="detail">{detail}</span> }.into_any(),
                        None => view! { <span class="detail">{move || c.t(T::NotRun)}</span> }.into_any(),
                    }}
                </li>
            }
        })
        .collect_view();
    let (class, status, title, text) = if ok {
        ("verification ok", "verified", T::VerifiedTitle, T::VerifiedText)
    } else {
        ("verification failed alarm", "failed", T::VerifyFailedTitle, T::VerifyFailedText)
    };
    view! {
        <section class=class id="verification" data-status=status role=if ok { "status" } else { "alert" }>
            <h2>{if ok { "✓ " } else { "✗ " }} {move || c.t(title)}</h2>
            <p>{move || c.t(text)}</p>
            <ol class="checks">{steps}</ol>
        </section>
    }
}

#[component]
pub fn EntryPage() -> impl IntoView {
    let c = ctx();
    let params = use_params_map();
    let index = move || params.get().get("index").unwrap_or_default();
    use_title(move || format!("{} {}", c.t(T::EntryTitle), index()));
    let entry = LocalResource::new(move || {
        let index = index();
        async move { api::get_json::<EntryView>(&format!("/api/v1/entries/{}", api::encode(&index))).await }
    });
    let verification = RwSignal::new(None::<Result<EntryReport, super::Unverifiable>>);
    let running = RwSignal::new(false);
    view! {
        {loaded(entry, move |entry: EntryView| {
            let number = entry.index;
            let json = serde_json::to_string_pretty(&entry.entry).unwrap_or_default();
            let trace_link = match entry.kind.as_str() {
                "donation" => Some(view! {
                    <A href=format!("/trace/donations/{}", entry.entry_id) attr:id="trace-link">
                        {move || c.t(T::ForwardTrace)}
                    </A>
                }.into_any()),
                "spend" => Some(view! {
                    <A href=format!("/trace/spends/{}", entry.entry_id) attr:id="trace-link">
                        {move || c.t(T::BackTrace)}
                    </A>
                }.into_any()),
                _ => None,
            };
            let words = entry.clone();
            let kind = entry.kind.clone();
            let author = entry.author.clone();
            let timestamp = entry.timestamp_ms;
            let value_date = entry.value_date.clone();
            view! {
                <h1>{move || c.t(T::EntryTitle)} " " {number} " · " {move || i18n::kind(c.language.get(), &kind)}</h1>
                <p class="sentence" id="entry-sentence">{move || sentence(&words, &c.lookup(), c.language.get())}</p>
                {trace_link}
                <div class="verify-box">
                    <button
                        id="verify-button"
                        class="primary"
                        prop:disabled=move || running.get()
                        on:click=move |_| {
                            running.set(true);
                            verification.set(None);
                            leptos::task::spawn_local(async move {
                                let outcome = verify_index(c, number).await.map(|(_, report)| report);
                                verification.set(Some(outcome));
                                running.set(false);
                            });
                        }
                    >
                        {move || if running.get() { c.t(T::Verifying) } else { c.t(T::VerifyButton) }}
                    </button>
                    {move || match verification.get() {
                        None => ().into_any(),
                        Some(Ok(report)) => view! { <ReportView report=report/> }.into_any(),
                        Some(Err(super::Unverifiable::NoAnchor)) => view! {
                            <p class="warn" id="verification" data-status="no-anchor" role="status">
                                {move || c.t(T::NoTrustAnchor)} " " <A href="/trust">{move || c.t(T::NavTrust)}</A>
                            </p>
                        }.into_any(),
                        Some(Err(error)) => view! {
                            <section class="verification failed alarm" id="verification" data-status="failed" role="alert">
                                <h2>"✗ " {move || c.t(T::VerifyFailedTitle)}</h2>
                                <p>{error.to_string()}</p>
                            </section>
                        }.into_any(),
                    }}
                </div>
                <dl class="facts">
                    <dt>{move || c.t(T::EntryId)}</dt>
                    <dd><code>{entry.entry_id.clone()}</code></dd>
                    <dt>{move || c.t(T::LeafHash)}</dt>
                    <dd><code id="leaf-hash">{entry.leaf_hash.clone()}</code></dd>
                    <dt>{move || c.t(T::Author)}</dt>
                    <dd>
                        <A href=format!("/organisations/{author}")>{move || c.lookup().name(&author)}</A>
                    </dd>
                    <dt>{move || c.t(T::SignedAt)}</dt>
                    <dd>{move || i18n::timestamp(c.language.get(), timestamp)}</dd>
                    {value_date.map(|date| view! {
                        <dt>{move || c.t(T::ValueDate)}</dt>
                        <dd>{move || i18n::date(c.language.get(), &date)}</dd>
                    })}
                    <dt>{move || c.t(T::Signer)}</dt>
                    <dd><code>{entry.signer.clone()}</code></dd>
                    <dt>{move || c.t(T::Signature)}</dt>
                    <dd><code class="wrap">{entry.signature.clone()}</code></dd>
                </dl>
                <details>
                    <summary>{move || c.t(T::JsonView)}</summary>
                    <pre>{json}</pre>
                </details>
                <details>
                    <summary>{move || c.t(T::RawBytes)}</summary>
                    <pre class="wrap" id="raw-bytes">{entry.leaf.clone()}</pre>
                </details>
            }
        })}
    }
}
