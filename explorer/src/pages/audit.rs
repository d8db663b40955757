//! The audit: the checkpoints this browser verified, and whether the newest extends the last one seen.

use leptos::prelude::*;

use crate::app::{ctx, use_title};
use crate::i18n::{self, T};
use crate::trust::{self, Audit};
use crate::verify::SeenCheckpoint;

fn note_block(title: T, note: String) -> impl IntoView {
    let c = ctx();
    view! {
        <figure class="note">
            <figcaption>{move || c.t(title)}</figcaption>
            <pre>{note}</pre>
        </figure>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::NavAudit).to_string());
    let history = RwSignal::new(Vec::<SeenCheckpoint>::new());
    Effect::new(move |_| {
        // Reread the history whenever the audit settles.
        let _ = c.audit.get();
        if let Some(Ok(info)) = c.log.get() {
            history.set(trust::history(&info.origin));
        }
    });
    view! {
        <h1>{move || c.t(T::AuditTitle)}</h1>
        <p>{move || c.t(T::AuditIntro)}</p>
        {move || match c.audit.get() {
            Audit::Pending => view! { <p class="loading" id="audit-status" data-status="pending">{c.t(T::AuditPending)}</p> }.into_any(),
            Audit::NoAnchor => view! { <p class="warn" id="audit-status" data-status="no-anchor">{c.t(T::AuditNoAnchor)}</p> }.into_any(),
            Audit::First(seen) => view! {
                <p class="ok" id="audit-status" data-status="first">"✓ " {c.t(T::AuditFirst)} " (" {seen.tree_size} ")"</p>
            }.into_any(),
            Audit::Consistent { from, to } => view! {
                <p class="ok" id="audit-status" data-status="consistent">
                    "✓ " {c.t(T::AuditOk)} " " {from.tree_size} " → " {to.tree_size}
                </p>
            }.into_any(),
            Audit::Unavailable(error) => view! {
                <p class="warn" id="audit-status" data-status="unavailable">{c.t(T::LoadFailed)} ": " {error}</p>
            }.into_any(),
            Audit::BadSignature { note, error } => view! {
                <div class="alarm" id="audit-status" data-status="bad-signature" role="alert">
                    <p><strong>{c.t(T::AuditBadSignature)}</strong></p>
                    <p>{error}</p>
                    {note_block(T::CurrentCheckpoint, note)}
                </div>
            }.into_any(),
            Audit::Rewritten { previous, current_note, error } => view! {
                <div class="alarm" id="audit-status" data-status="rewritten" role="alert">
                    <p><strong>{c.t(T::AuditAlarm)}</strong></p>
                    <p>{error}</p>
                    <div class="notes">
                        {note_block(T::PreviousCheckpoint, previous.note)}
                        {note_block(T::CurrentCheckpoint, current_note)}
                    </div>
                </div>
            }.into_any(),
        }}
        <h2>{move || c.t(T::SeenCheckpoints)}</h2>
        <div class="table-wrap">
            <table id="seen-checkpoints">
                <thead>
                    <tr>
                        <th scope="col" class="num">{move || c.t(T::TreeSize)}</th>
                        <th scope="col">{move || c.t(T::Root)}</th>
                        <th scope="col">{move || c.t(T::SeenAt)}</th>
                    </tr>
                </thead>
                <tbody>
                    {move || history.get().into_iter().rev().map(|seen| view! {
                        <tr>
                            <td class="num">{seen.tree_size}</td>
                            <td><code>{seen.root.clone()}</code></td>
                            <td>{move || i18n::timestamp(c.language.get(), seen.seen_at_ms)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <button
            id="forget-history"
            on:click=move |_| {
                if let Some(Ok(info)) = c.log.get_untracked() {
                    trust::forget_history(&info.origin);
                    history.set(Vec::new());
                }
            }
        >
            {move || c.t(T::ForgetHistory)}
        </button>
    }
}
