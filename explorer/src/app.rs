//! The app's shell: shared state (language, log identity, trust anchor, audit), the layout and the routes.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use crate::api::{self, FetchError, LogInfo, OrganisationList};
use crate::i18n::{Language, T};
use crate::pages;
use crate::storage;
use crate::trust::{self, Anchor, AnchorSource, Audit, TrustStatus};

const LANGUAGE_KEY: &str = "aidtrail.language";

/// What every page shares.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub language: RwSignal<Language>,
    pub log: LocalResource<Result<LogInfo, FetchError>>,
    pub organisations: LocalResource<Result<OrganisationList, FetchError>>,
    pub anchor: RwSignal<Option<Anchor>>,
    pub audit: RwSignal<Audit>,
}

impl Ctx {
    /// A text in the current language (reactive).
    pub fn t(&self, text: T) -> &'static str {
        text.get(self.language.get())
    }

    /// Names and decimals for describing entries, once the log and the organisations are loaded.
    pub fn lookup(&self) -> Names {
        let mut names = Names::default();
        if let Some(Ok(log)) = self.log.get() {
            names.decimals = log.assets.iter().map(|asset| (asset.code.clone(), asset.decimals)).collect();
        }
        if let Some(Ok(list)) = self.organisations.get() {
            names.organisations =
                list.organisations.into_iter().map(|organisation| (organisation.id, organisation.name)).collect();
        }
        names
    }
}

pub fn ctx() -> Ctx {
    expect_context::<Ctx>()
}

/// Organisation names and asset decimals, for [`ledger::words::describe`] and amounts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    pub organisations: HashMap<String, String>,
    pub decimals: HashMap<String, u8>,
}

impl Names {
    pub fn name(&self, id: &str) -> String {
        self.organisations.get(id).cloned().unwrap_or_else(|| id.to_string())
    }

    pub fn money(&self, language: Language, amount: u128, asset: &str) -> String {
        language.money(amount, self.decimals.get(asset).copied().unwrap_or(0), asset)
    }
}

impl ledger::words::Lookup for Names {
    fn decimals(&self, asset: &ledger::AssetCode) -> u8 {
        self.decimals.get(asset.as_str()).copied().unwrap_or(0)
    }

    fn name(&self, organisation: &ledger::OrgId) -> String {
        self.name(organisation.as_str())
    }
}

/// Sets the document's title: "<page> · aidtrail".
pub fn use_title(title: impl Fn() -> String + 'static) {
    Effect::new(move |_| {
        if let Some(document) = web_sys::window().and_then(|window| window.document()) {
            document.set_title(&format!("{} · aidtrail", title()));
        }
    });
}

fn initial_language() -> Language {
    let stored = storage::load(LANGUAGE_KEY);
    let browser = web_sys::window().and_then(|window| window.navigator().language()).unwrap_or_default();
    match stored.as_deref().unwrap_or(&browser) {
        code if code.starts_with("fr") => Language::French,
        _ => Language::English,
    }
}

fn language_code(language: Language) -> &'static str {
    match language {
        Language::English => "en",
        Language::French => "fr",
    }
}

#[component]
pub fn App() -> impl IntoView {
    let language = RwSignal::new(initial_language());
    let log = LocalResource::new(|| api::get_json::<LogInfo>("/api/v1/log"));
    let organisations = LocalResource::new(|| api::get_json::<OrganisationList>("/api/v1/organisations"));
    let anchor = RwSignal::new(trust::current_anchor());
    let audit = RwSignal::new(Audit::Pending);
    provide_context(Ctx { language, log, organisations, anchor, audit });

    Effect::new(move |_| {
        let language = language.get();
        storage::save(LANGUAGE_KEY, language_code(language));
        if let Some(element) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
            let _ = element.set_attribute("lang", language_code(language));
        }
    });

    // The audit of this visit: once the log's newest checkpoint is known, and again if the anchor changes.
    Effect::new(move |_| {
        let Some(Ok(info)) = log.get() else { return };
        let anchor = anchor.get();
        audit.set(Audit::Pending);
        leptos::task::spawn_local(async move {
            let outcome = trust::audit(&info.origin, anchor.as_ref(), &info.checkpoint.note).await;
            audit.set(outcome);
        });
    });

    view! {
        <Router>
            <a class="skip" href="#main">{move || ctx().t(T::SkipToContent)}</a>
            <Header/>
            <TrustBanner/>
            <AuditBanner/>
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("/") view=pages::overview::Overview/>
                    <Route path=path!("/entries") view=pages::entries::Entries/>
                    <Route path=path!("/entries/:index") view=pages::entry::EntryPage/>
                    <Route path=path!("/organisations") view=pages::organisation::Organisations/>
                    <Route path=path!("/organisations/:id") view=pages::organisation::Organisation/>
                    <Route path=path!("/trace") view=pages::trace::TraceSearch/>
                    <Route path=path!("/trace/donations/:id") view=pages::trace::Forward/>
                    <Route path=path!("/trace/spends/:id") view=pages::trace::Backward/>
                    <Route path=path!("/charts") view=pages::charts::Charts/>
                    <Route path=path!("/flags") view=pages::flags::FlagsPage/>
                    <Route path=path!("/last-mile") view=pages::last_mile::LastMile/>
                    <Route path=path!("/audit") view=pages::audit::AuditPage/>
                    <Route path=path!("/proofs") view=pages::proofs::Proofs/>
                    <Route path=path!("/trust") view=pages::trust::TrustPage/>
                </Routes>
            </main>
            <footer>
                <p>
                    {move || ctx().t(T::AppName)} " · "
                    <a href="/api/v1/openapi.json">"API"</a> " · "
                    <a href="/checkpoint">"checkpoint"</a>
                </p>
            </footer>
        </Router>
    }
}

#[component]
fn Header() -> impl IntoView {
    let c = ctx();
    let links = [
        ("/", T::NavOverview),
        ("/entries", T::NavEntries),
        ("/organisations", T::NavOrganisations),
        ("/trace", T::NavTrace),
        ("/charts", T::NavCharts),
        ("/flags", T::NavFlags),
        ("/audit", T::NavAudit),
        ("/proofs", T::NavProofs),
        ("/trust", T::NavTrust),
    ];
    view! {
        <header class="site">
            <A href="/" attr:class="brand">"aidtrail"</A>
            <nav aria-label="main">
                <ul>
                    {links
                        .into_iter()
                        .map(|(href, text)| view! { <li><A href=href>{move || c.t(text)}</A></li> })
                        .collect_view()}
                </ul>
            </nav>
            <button
                class="language"
                id="language-switch"
                aria-label=move || c.t(T::SwitchLanguageLabel)
                on:click=move |_| {
                    c.language.update(|language| {
                        *language = match language {
                            Language::English => Language::French,
                            Language::French => Language::English,
                        }
                    })
                }
            >
                {move || c.t(T::SwitchLanguage)}
            </button>
        </header>
    }
}

/// On every page: which key is trusted, and an alarm if the server presents another.
#[component]
fn TrustBanner() -> impl IntoView {
    let c = ctx();
    move || {
        let Some(Ok(info)) = c.log.get() else { return ().into_any() };
        match trust::status(c.anchor.get(), &info.verifier_key) {
            TrustStatus::Matches(anchor) => {
                let source = match anchor.source {
                    AnchorSource::PinnedByReader => c.t(T::TrustPinnedByYou),
                    AnchorSource::Build => c.t(T::TrustFromBuild),
                };
                view! {
                    <p class="trust ok" id="trust-status" data-status="matches">
                        {c.t(T::TrustMatches)} " " <code class="key">{anchor.key}</code> " (" {source} ")"
                    </p>
                }
                .into_any()
            }
            TrustStatus::Mismatch { anchor, served } => view! {
                <div class="trust alarm" id="trust-status" data-status="mismatch" role="alert">
                    <p><strong>{c.t(T::TrustMismatch)}</strong></p>
                    <p>{c.t(T::TrustTrustedKey)} ": " <code class="key">{anchor.key}</code></p>
                    <p>{c.t(T::TrustServerKey)} ": " <code class="key">{served}</code></p>
                </div>
            }
            .into_any(),
            TrustStatus::Unpinned { served } => view! {
                <div class="trust warn" id="trust-status" data-status="unpinned">
                    <p>{c.t(T::TrustUnpinned)}</p>
                    <p><code class="key">{served.clone()}</code></p>
                    <button
                        id="pin-server-key"
                        on:click=move |_| {
                            if trust::pin(&served).is_ok() {
                                c.anchor.set(trust::current_anchor());
                            }
                        }
                    >
                        {c.t(T::TrustPinThis)}
                    </button>
                    " " <A href="/trust">{c.t(T::TrustPinOther)}</A>
                </div>
            }
            .into_any(),
        }
    }
}

/// The audit's alarm, on every page when the log was rewritten.
#[component]
fn AuditBanner() -> impl IntoView {
    let c = ctx();
    move || {
        let audit = c.audit.get();
        audit.is_alarm().then(|| {
            let text = match audit {
                Audit::BadSignature { .. } => c.t(T::AuditBadSignature),
                _ => c.t(T::AuditAlarm),
            };
            view! {
                <div class="audit-alarm alarm" role="alert">
                    <strong>{text}</strong> " " <A href="/audit">{c.t(T::NavAudit)}</A>
                </div>
            }
        })
    }
}

/// A request's state: loading, failed (with the reason) or the loaded view.
pub fn loaded<D: Clone + 'static, V: IntoView + 'static>(
    resource: LocalResource<Result<D, FetchError>>,
    render: impl Fn(D) -> V + Clone + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        let c = ctx();
        match resource.get() {
            None => view! { <p class="loading">{c.t(T::Loading)}</p> }.into_any(),
            Some(Err(error)) => view! {
                <p class="error" role="alert">{c.t(T::LoadFailed)} ": " {error.to_string()}</p>
            }
            .into_any(),
            Some(Ok(value)) => render.clone()(value).into_any(),
        }
    }
}
