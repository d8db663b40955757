//! The trust anchor: which verifier key this browser trusts, pinning another, forgetting it.

use leptos::prelude::*;

use crate::app::{ctx, use_title};
use crate::i18n::T;
use crate::trust::{self, AnchorSource};

#[component]
pub fn TrustPage() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::NavTrust).to_string());
    let input = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    view! {
        <h1>{move || c.t(T::NavTrust)}</h1>
        <p>{move || c.t(T::TrustIntro)}</p>
        {move || c.anchor.get().map(|anchor| {
            let source = match anchor.source {
                AnchorSource::PinnedByReader => c.t(T::TrustPinnedByYou),
                AnchorSource::Build => c.t(T::TrustFromBuild),
            };
            view! {
                <p>{c.t(T::TrustTrustedKey)} ": " <code class="key" id="trusted-key">{anchor.key}</code> " (" {source} ")"</p>
            }
        })}
        <form
            class="search"
            on:submit=move |event: leptos::ev::SubmitEvent| {
                event.prevent_default();
                match trust::pin(&input.get_untracked()) {
                    Ok(()) => {
                        problem.set(None);
                        c.anchor.set(trust::current_anchor());
                    }
                    Err(error) => problem.set(Some(format!("{}: {error}", c.t(T::TrustInvalidKey)))),
                }
            }
        >
            <label for="pin-key">{move || c.t(T::TrustKeyLabel)}</label>
            <input id="pin-key" type="text" spellcheck="false" autocomplete="off"
                on:input=move |event| input.set(event_target_value(&event)) prop:value=move || input.get()/>
            <button type="submit" id="pin-button">{move || c.t(T::TrustPinOther)}</button>
        </form>
        {move || problem.get().map(|problem| view! { <p class="error" role="alert">{problem}</p> })}
        <button
            id="unpin-button"
            on:click=move |_| {
                trust::unpin();
                c.anchor.set(trust::current_anchor());
            }
        >
            {move || c.t(T::TrustUnpin)}
        </button>
    }
}
