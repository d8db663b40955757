//! Tracing: a donation followed hop by hop to the clinics and beneficiaries it paid for, and a spend traced
//! back to the donations that funded it, with each hop's proof verified in the browser.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use super::{ProofBadge, short_hex};
use crate::api::{self, BackwardTrace, DonationList, ForwardTrace};
use crate::app::{Names, ctx, loaded, use_title};
use crate::i18n::{self, Language, T};
use ledger::trace::Party;

/// Hops shown (each with its own proof check); longer traces say how many more there are.
const HOPS_SHOWN: usize = 200;

fn party(names: &Names, language: Language, party: &Party) -> AnyView {
    let french = language == Language::French;
    match party {
        Party::Donor(donor) => view! { <span class="party donor">{donor.clone()}</span> }.into_any(),
        Party::Organisation(id) => {
            let (href, name) = (format!("/organisations/{id}"), names.name(id.as_str()));
            view! { <A href=href>{name}</A> }.into_any()
        }
        Party::Supplier(id) => {
            let (href, name) = (format!("/organisations/{id}"), names.name(id.as_str()));
            let role = if french { " (fournisseur)" } else { " (supplier)" };
            view! { <A href=href>{name}</A> {role} }.into_any()
        }
        Party::Beneficiary(commitment) => {
            let label = if french { "bénéficiaire" } else { "beneficiary" };
            view! { <span class="party beneficiary">{label} " " {short_hex(&commitment.to_hex())}</span> }.into_any()
        }
        Party::Pledge(id) => {
            let label = if french { "promesse" } else { "pledge" };
            view! { <span class="party pledge">{label} " " {short_hex(&id.to_hex())}</span> }.into_any()
        }
        Party::Vouchers(id) => {
            let label = if french { "bons de l'émission" } else { "vouchers of issue" };
            view! { <span class="party vouchers">{label} " " {short_hex(&id.to_hex())}</span> }.into_any()
        }
    }
}

/// What a 64-digit code given to the trace form is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CodeKind {
    /// The secret code on a donor's receipt: hashed here into the donor reference; never sent.
    Receipt,
    /// The donor reference itself (what the ledger shows for anonymous gifts).
    Reference,
}

/// The donor reference of a receipt code, computed in the browser.
pub fn reference_of_receipt(code: &str) -> Option<String> {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(code, &mut secret).ok()?;
    Some(ledger::donor_reference(&secret).to_hex())
}

#[component]
pub fn TraceSearch() -> impl IntoView {
    let c = ctx();
    use_title(move || c.t(T::TraceTitle).to_string());
    let query = use_query_map();
    let navigate = use_navigate();
    let input = RwSignal::new(String::new());
    let code_kind = RwSignal::new(CodeKind::Receipt);
    let problem = RwSignal::new(None::<T>);
    let reference = move || query.get().get("reference").filter(|r| r.len() == 64);
    let donations = LocalResource::new(move || {
        let reference = reference();
        async move {
            match reference {
                Some(reference) => api::get_json::<DonationList>(&format!(
                    "/api/v1/donor-references/{}/donations",
                    api::encode(&reference)
                ))
                .await
                .map(Some),
                None => Ok(None),
            }
        }
    });
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let text = input.get_untracked().trim().to_ascii_lowercase();
        let hex = text.bytes().all(|byte| byte.is_ascii_hexdigit());
        let target = match (text.len(), code_kind.get_untracked()) {
            (32, _) if hex => Some(format!("/trace/donations/{text}")),
            (64, CodeKind::Receipt) if hex => reference_of_receipt(&text).map(|r| format!("/trace?reference={r}")),
            (64, CodeKind::Reference) if hex => Some(format!("/trace?reference={text}")),
            _ => None,
        };
        match target {
            Some(target) => {
                problem.set(None);
                navigate(&target, Default::default());
            }
            None => problem.set(Some(T::TraceBadInput)),
        }
    };
    let radio = move |kind: CodeKind, id: &'static str, text: T| {
        view! {
            <label for=id>
                <input
                    type="radio"
                    id=id
                    name="code-kind"
                    prop:checked=move || code_kind.get() == kind
                    on:change=move |_| code_kind.set(kind)
                />
                " " {move || c.t(text)}
            </label>
        }
    };
    view! {
        <h1>{move || c.t(T::TraceTitle)}</h1>
        <p>{move || c.t(T::TraceIntro)}</p>
        <form class="search" on:submit=submit>
            <label for="trace-input">{move || c.t(T::TraceInputLabel)}</label>
            <input
                id="trace-input"
                type="search"
                autocomplete="off"
                spellcheck="false"
                on:input=move |event| input.set(event_target_value(&event))
                prop:value=move || input.get()
            />
            <button type="submit" id="trace-button">{move || c.t(T::TraceButton)}</button>
            <fieldset class="code-kind">
                <legend>{move || c.t(T::CodeKindLegend)}</legend>
                {radio(CodeKind::Receipt, "code-receipt", T::CodeIsReceipt)}
                {radio(CodeKind::Reference, "code-reference", T::CodeIsReference)}
            </fieldset>
        </form>
        {move || problem.get().map(|text| view! { <p class="error" role="alert">{c.t(text)}</p> })}
        {loaded(donations, move |list: Option<DonationList>| {
            list.map(|list| {
                let empty = list.donations.is_empty();
                view! {
                    <h2>{move || c.t(T::DonationsOfReference)}</h2>
                    {empty.then(|| view! { <p>{move || c.t(T::NothingFound)}</p> })}
                    <ul id="reference-donations">
                        {list.donations.into_iter().map(|id| view! {
                            <li><A href=format!("/trace/donations/{id}")><code>{id.clone()}</code></A></li>
                        }).collect_view()}
                    </ul>
                }
            })
        })}
    }
}

#[component]
pub fn Forward() -> impl IntoView {
    let c = ctx();
    let params = use_params_map();
    let id = move || params.get().get("id").unwrap_or_default();
    use_title(move || format!("{} {}", c.t(T::ForwardTitle), short_hex(&id())));
    let trace = LocalResource::new(move || {
        let id = id();
        async move { api::get_json::<ForwardTrace>(&format!("/api/v1/trace/donations/{}", api::encode(&id))).await }
    });
    view! {
        <h1>{move || c.t(T::ForwardTitle)}</h1>
        {loaded(trace, move |trace: ForwardTrace| {
            let (decimals, asset) = (trace.decimals, trace.asset.to_string());
            let money = move |amount: u128| {
                let asset = asset.clone();
                move || c.language.get().money(amount, decimals, &asset)
            };
            // Money converted into another asset is shown in that asset, with its decimals.
            let decimals_of: std::collections::HashMap<String, u8> = trace
                .positions
                .iter()
                .map(|position| (position.asset.to_string(), position.decimals))
                .collect();
            let money_in = move |amount: u128, asset: String| {
                let decimals = decimals_of.get(&asset).copied().unwrap_or(decimals);
                move || c.language.get().money(amount, decimals, &asset)
            };
            let overheads: Vec<_> = trace
                .positions
                .iter()
                .filter(|position| position.overheads > 0)
                .map(|position| {
                    // Tenths of a percent, rounded down, in integers.
                    let per_mille = position.overheads.saturating_mul(1_000) / position.received.max(1);
                    (position.overheads, position.asset.to_string(), per_mille)
                })
                .collect();
            let others: Vec<_> = trace.positions.iter().skip(1).cloned().collect();
            let converted = trace.converted;
            let receiver = trace.receiver.to_string();
            let more = trace.hops.len().saturating_sub(HOPS_SHOWN);
            view! {
                <dl class="facts">
                    <dt>{move || c.t(T::Donor)}</dt>
                    <dd>{trace.donor.clone()}</dd>
                    <dt>{move || c.t(T::Receiver)}</dt>
                    <dd><A href=format!("/organisations/{receiver}")>{move || c.lookup().name(&receiver)}</A></dd>
                    <dt>{move || c.t(T::Amount)}</dt>
                    <dd id="trace-amount">{money(trace.amount)} " " <ProofBadge index=trace.donation_index/></dd>
                    <dt>{move || c.t(T::Spent)}</dt>
                    <dd>{money(trace.spent)}</dd>
                    <dt>{move || c.t(T::Held)}</dt>
                    <dd>{money(trace.held)}</dd>
                    <dt>{move || c.t(T::Reserved)}</dt>
                    <dd>{money(trace.reserved)}</dd>
                    <dt>{move || c.t(T::Returned)}</dt>
                    <dd>{money(trace.returned)}</dd>
                    {(converted > 0).then(|| view! {
                        <dt>{move || c.t(T::Converted)}</dt>
                        <dd>{money(converted)}</dd>
                    })}
                    {overheads.into_iter().map(|(amount, asset, per_mille)| {
                        let money_in = money_in.clone();
                        view! {
                            <dt>{move || c.t(T::Overheads)}</dt>
                            <dd class="overheads">
                                {money_in(amount, asset)} " (" {per_mille / 10}
                                {move || if c.language.get() == Language::French { "," } else { "." }}
                                {per_mille % 10} " % " {move || c.t(T::OfTheGift)} ")"
                            </dd>
                        }
                    }).collect_view()}
                </dl>
                {others.into_iter().map(|position| {
                    let money_in = money_in.clone();
                    let asset = position.asset.to_string();
                    view! {
                        <h2>{move || c.t(T::InOtherAsset)} " " {asset.clone()}</h2>
                        <dl class="facts">
                            <dt>{move || c.t(T::Amount)}</dt>
                            <dd>{money_in(position.received, position.asset.to_string())}</dd>
                            <dt>{move || c.t(T::Spent)}</dt>
                            <dd>{money_in(position.spent, position.asset.to_string())}</dd>
                            <dt>{move || c.t(T::Held)}</dt>
                            <dd>{money_in(position.held, position.asset.to_string())}</dd>
                        </dl>
                    }
                }).collect_view()}
                <h2>{move || c.t(T::Hops)}</h2>
                <ol class="hops" id="hops">
                    {trace.hops.into_iter().take(HOPS_SHOWN).map(|hop| {
                        let (from, to) = (hop.from.clone(), hop.to.clone());
                        let date = hop.value_date.map(|date| date.to_string());
                        let category = hop.category.map(|category| category.to_string());
                        let kind = hop.kind.as_str();
                        let amount = money_in.clone()(hop.amount, hop.asset.to_string());
                        let into = hop.converted_into.clone().map(|into| money_in.clone()(into.amount, into.asset.to_string()));
                        view! {
                            <li class="hop" style=format!("--depth: {}", hop.depth) data-kind=kind>
                                <span class="hop-kind">{move || i18n::kind(c.language.get(), kind)}</span> " "
                                {move || party(&c.lookup(), c.language.get(), &from)} " → "
                                {move || party(&c.lookup(), c.language.get(), &to)} ": "
                                <strong>{amount}</strong>
                                {into.map(|into| view! { " → " <strong>{into}</strong> })}
                                {category.map(|category| view! { " · " {move || i18n::term(c.language.get(), &category)} })}
                                {date.map(|date| view! { " · " {move || i18n::date(c.language.get(), &date)} })}
                                " " <ProofBadge index=hop.entry_index/>
                            </li>
                        }
                    }).collect_view()}
                </ol>
                {(more > 0).then(|| view! { <p>"… +" {more}</p> })}
                <h2>{move || c.t(T::Holders)}</h2>
                <ul id="holders">
                    {trace.holders.into_iter().map(|holder| {
                        let id = holder.organisation.to_string();
                        view! {
                            <li>
                                <A href=format!("/organisations/{id}")>{move || c.lookup().name(&id)}</A> ": "
                                {move || c.t(T::Held)} " " {money_in.clone()(holder.held, holder.asset.to_string())} " · "
                                {move || c.t(T::Reserved)} " " {money_in.clone()(holder.reserved, holder.asset.to_string())} " · "
                                {move || c.t(T::Spent)} " " {money_in.clone()(holder.spent, holder.asset.to_string())}
                            </li>
                        }
                    }).collect_view()}
                </ul>
                <h2>{move || c.t(T::ByCategory)}</h2>
                <ul id="by-category">
                    {trace.spent_by_category.into_iter().map(|line| view! {
                        <li>{move || i18n::term(c.language.get(), line.category.as_str())} ": " {money_in.clone()(line.amount, line.asset.to_string())}</li>
                    }).collect_view()}
                </ul>
            }
        })}
    }
}

#[component]
pub fn Backward() -> impl IntoView {
    let c = ctx();
    let params = use_params_map();
    let id = move || params.get().get("id").unwrap_or_default();
    use_title(move || format!("{} {}", c.t(T::BackwardTitle), short_hex(&id())));
    let trace = LocalResource::new(move || {
        let id = id();
        async move { api::get_json::<BackwardTrace>(&format!("/api/v1/trace/spends/{}", api::encode(&id))).await }
    });
    view! {
        <h1>{move || c.t(T::BackwardTitle)}</h1>
        {loaded(trace, move |trace: BackwardTrace| {
            let (decimals, asset) = (trace.decimals, trace.asset.to_string());
            let money = move |amount: u128| {
                let asset = asset.clone();
                move || c.language.get().money(amount, decimals, &asset)
            };
            let spender = trace.spender.to_string();
            let recipient = trace.recipient.clone();
            view! {
                <p class="sentence">
                    <A href=format!("/organisations/{spender}")>{move || c.lookup().name(&spender)}</A> " · "
                    <strong>{money(trace.amount)}</strong> " · " {move || i18n::term(c.language.get(), trace.category.as_str())} " · "
                    {move || party(&c.lookup(), c.language.get(), &recipient)}
                    {trace.reversed.then(|| view! { " · " <span class="status voided">{move || c.t(T::Reversed)}</span> })}
                    " " <ProofBadge index=trace.spend_index/>
                </p>
                <h2>{move || c.t(T::Sources)}</h2>
                <ol class="sources" id="sources">
                    {trace.sources.into_iter().map(|source| {
                        let receiver = source.receiver.to_string();
                        view! {
                            <li>
                                <A href=format!("/trace/donations/{}", source.donation_id.to_hex())>{source.donor.clone()}</A>
                                " → " {move || c.lookup().name(&receiver)} ": " <strong>{money(source.amount)}</strong>
                                " " <ProofBadge index=source.donation_index/>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            }
        })}
    }
}
