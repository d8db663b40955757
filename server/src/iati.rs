//! The ledger as IATI 2.03 activities (`iati-activities` XML), for the publishers among its organisations
//! (those registered with an IATI organisation identifier).
//!
//! Each publisher has one activity per programme it moved money under, `<org ref>-<programme>`, and one for
//! money outside any programme, `<org ref>-general`. Transactions come from the entries, with their IATI
//! types: a donation received is incoming funds (1); a transfer is a disbursement (3) at the sender and
//! incoming funds (1) at the receiver; a spend is an expenditure (4); a pledge is an outgoing pledge (12) at
//! the pledger and an incoming pledge (13) at the receiver, an outgoing commitment (2) while it is pending,
//! and on release a disbursement (3) and incoming funds (1). A voucher settlement is an expenditure (4) of
//! the issuer's programme activity, paid to the clinic; a refund is incoming funds (1) with a negative value
//! in the activity that reported the donation. Each side names the other's organisation and, when the other
//! is a publisher, its activity (`provider-activity-id`, `receiver-activity-id`) from the ledger's own edges,
//! so that IATI's traceability links hold in both directions. Reversed entries are left out. Token amounts
//! are reported at the fiat value their holder's latest conversion between the token and a fiat asset
//! recorded (or, without one, the log's latest such conversion); tokens never converted are left out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use ledger::{
    Amount, AssetCode, AssetKind, Body, Date, Donor, Earmark, Entry, EntryId, OrgId, Recipient, Role, State, VoucherId,
};
use quick_xml::escape::escape;

use crate::api::csv_exports::plain_amount;

/// The IATI version written.
pub const IATI_VERSION: &str = "2.03";
/// The programme key of money outside any programme.
const GENERAL: &str = "general";

/// IATI OrganisationType codes for the ledger's roles.
pub fn organisation_type(role: Role) -> &'static str {
    match role {
        Role::Donor => "60",    // Foundation
        Role::Ngo => "21",      // International NGO
        Role::Clinic => "22",   // National NGO
        Role::Supplier => "70", // Private Sector
        Role::Auditor => "70",
    }
}

struct Party {
    name: String,
    iati: Option<String>,
    role: Role,
    country: String,
}

struct Programme {
    name: String,
    countries: Vec<String>,
    sector: String,
}

/// One side of a transaction as IATI writes it.
#[derive(Clone)]
struct Side {
    reference: Option<String>,
    activity: Option<String>,
    name: String,
}

struct Transaction {
    code: &'static str,
    date: String,
    asset: String,
    amount: String,
    description: String,
    provider: Option<Side>,
    receiver: Option<Side>,
}

#[derive(Default)]
struct Activity {
    transactions: Vec<Transaction>,
    first_date: Option<String>,
}

/// One side of a movement: the organisation, its IATI reference and, for publishers, its activity.
fn side(org: &str, key: &str, parties: &HashMap<String, Party>) -> Side {
    let reference = parties.get(org).and_then(|party| party.iati.clone());
    Side {
        activity: reference.as_ref().map(|reference| format!("{reference}-{key}")),
        reference,
        name: parties.get(org).map_or_else(|| org.to_string(), |party| party.name.clone()),
    }
}

type Activities = BTreeMap<(String, String), Activity>;

/// Adds a transaction to an organisation's activity for a programme key, if the organisation publishes.
fn add(activities: &mut Activities, parties: &HashMap<String, Party>, org: &str, key: &str, transaction: Transaction) {
    if parties.get(org).and_then(|party| party.iati.as_ref()).is_none() {
        return;
    }
    let activity = activities.entry((org.to_string(), key.to_string())).or_default();
    if activity.first_date.as_ref().is_none_or(|first| transaction.date < *first) {
        activity.first_date = Some(transaction.date.clone());
    }
    activity.transactions.push(transaction);
}

/// Money moving from one organisation to another, under a programme key.
struct Movement<'a> {
    from: &'a str,
    to: &'a str,
    key: &'a str,
    date: String,
    asset: String,
    amount: String,
    description: String,
}

/// Records a movement in the activities of `sides` (organisation, transaction type), each naming both ends.
fn between(
    activities: &mut Activities,
    parties: &HashMap<String, Party>,
    movement: &Movement<'_>,
    sides: &[(&str, &'static str)],
) {
    for (org, code) in sides {
        let transaction = Transaction {
            code,
            date: movement.date.clone(),
            asset: movement.asset.clone(),
            amount: movement.amount.clone(),
            description: movement.description.clone(),
            provider: Some(side(movement.from, movement.key, parties)),
            receiver: Some(side(movement.to, movement.key, parties)),
        };
        add(activities, parties, org, movement.key, transaction);
    }
}

/// The fiat price of a token, as one conversion between them recorded it.
#[derive(Clone)]
struct Price {
    fiat: String,
    /// Minor units of the fiat asset for `token` minor units of the token.
    fiat_amount: u128,
    token_amount: u128,
    date: Date,
}

/// An amount as IATI reports it: in a fiat currency, with a note when it is a token's fiat value.
struct Valued {
    currency: String,
    amount: String,
    note: Option<String>,
}

/// Puts amounts into fiat currencies: fiat assets as they are, tokens at the fiat value of conversions.
struct Valuer {
    decimals: HashMap<String, u8>,
    fiat: HashSet<String>,
    /// The latest price per (holder, token), and per token.
    by_holder: HashMap<(String, String), Price>,
    latest: HashMap<String, Price>,
}

impl Valuer {
    /// Remembers the price a conversion between a token and a fiat asset recorded.
    fn record(&mut self, holder: &str, body: &Body) {
        let Body::Conversion { from_asset, from_amount, to_asset, to_amount, value_date, .. } = body else { return };
        let (from_fiat, to_fiat) = (self.fiat.contains(from_asset.as_str()), self.fiat.contains(to_asset.as_str()));
        let (fiat, fiat_amount, token, token_amount) = match (from_fiat, to_fiat) {
            (true, false) => (from_asset, from_amount, to_asset, to_amount),
            (false, true) => (to_asset, to_amount, from_asset, from_amount),
            _ => return,
        };
        let price = Price {
            fiat: fiat.to_string(),
            fiat_amount: fiat_amount.0,
            token_amount: token_amount.0,
            date: *value_date,
        };
        self.by_holder.insert((holder.to_string(), token.to_string()), price.clone());
        self.latest.insert(token.to_string(), price);
    }

    /// `amount` of `asset` held by `holder`, in a fiat currency; `None` for a token without a price (or a
    /// value too large to compute).
    fn value(&self, holder: &str, asset: &AssetCode, amount: Amount) -> Option<Valued> {
        let decimals = |code: &str| self.decimals.get(code).copied().unwrap_or(0);
        if self.fiat.contains(asset.as_str()) {
            return Some(Valued {
                currency: asset.to_string(),
                amount: plain_amount(amount.0, decimals(asset.as_str())),
                note: None,
            });
        }
        let price =
            self.by_holder.get(&(holder.to_string(), asset.to_string())).or_else(|| self.latest.get(asset.as_str()))?;
        // amount × fiat / token, to the nearest minor unit, halves up.
        let numerator = amount.0.checked_mul(price.fiat_amount)?;
        let (quotient, remainder) = (numerator / price.token_amount, numerator % price.token_amount);
        let fiat = if remainder.checked_mul(2)? >= price.token_amount { quotient.checked_add(1)? } else { quotient };
        Some(Valued {
            currency: price.fiat.clone(),
            amount: plain_amount(fiat, decimals(&price.fiat)),
            note: Some(format!(
                "{} {asset}, valued at the rate of the conversion of {}",
                plain_amount(amount.0, decimals(asset.as_str())),
                price.date
            )),
        })
    }
}

/// A description, with the valuation note of a token amount.
fn described(description: String, valued: &Valued) -> String {
    match &valued.note {
        Some(note) => format!("{description} ({note})"),
        None => description,
    }
}

/// Writes the activities of every publisher (or of `only`) as an `iati-activities` document.
pub fn activities_xml(
    state: &State,
    entries: &[Entry],
    only: Option<&OrgId>,
    generated: &str,
) -> anyhow::Result<String> {
    let mut parties: HashMap<String, Party> = HashMap::new();
    for id in state.organisation_ids() {
        let profile = state.organisation_profile(&id).map_err(|error| anyhow::anyhow!("{error}"))?;
        parties.insert(
            id.to_string(),
            Party { name: profile.name, iati: profile.iati_identifier, role: profile.role, country: profile.country },
        );
    }
    let fiat: HashSet<String> = state
        .assets()
        .into_iter()
        .filter(|(_, _, kind)| *kind == AssetKind::Fiat)
        .map(|(code, _, _)| code.to_string())
        .collect();
    let decimals: HashMap<String, u8> =
        state.assets().into_iter().map(|(code, decimals, _)| (code.to_string(), decimals)).collect();
    let mut valuer = Valuer { decimals, fiat, by_holder: HashMap::new(), latest: HashMap::new() };
    let mut programmes: HashMap<String, Programme> = HashMap::new();
    let reversed: HashSet<EntryId> = entries
        .iter()
        .filter_map(|entry| match &entry.body {
            Body::Reversal { target, .. } => Some(*target),
            _ => None,
        })
        .collect();
    let mut pledges: HashMap<EntryId, (OrgId, OrgId, Valued, String)> = HashMap::new();
    // Where each donation was reported: its receiver, programme key and provider.
    let mut donations: HashMap<EntryId, (String, Side)> = HashMap::new();
    // Each voucher's issue: the programme key, asset, face value and category.
    let mut vouchers: HashMap<VoucherId, (String, AssetCode, Amount, ledger::Category)> = HashMap::new();
    let mut activities: Activities = BTreeMap::new();

    for entry in entries {
        if reversed.contains(&entry.entry_id) {
            continue;
        }
        let author = entry.author.to_string();
        valuer.record(&author, &entry.body);
        match &entry.body {
            Body::DeclareProgramme { programme, name, countries, sector, .. } => {
                programmes.insert(
                    programme.to_string(),
                    Programme {
                        name: name.clone(),
                        countries: countries.iter().map(|c| c.to_string()).collect(),
                        sector: sector.clone(),
                    },
                );
            }
            Body::Donation { donor, asset, amount, value_date, earmark, external_reference } => {
                let key = match earmark {
                    Some(Earmark::Programme(programme)) => programme.to_string(),
                    _ => GENERAL.to_string(),
                };
                let provider = match donor {
                    Donor::Organisation(donor) => Side { activity: None, ..side(donor.as_str(), GENERAL, &parties) },
                    Donor::Anonymous(_) => {
                        Side { reference: None, activity: None, name: "Individual donors (anonymous)".into() }
                    }
                };
                donations.insert(entry.entry_id, (key.clone(), provider.clone()));
                let Some(valued) = valuer.value(&author, asset, *amount) else { continue };
                let description = match external_reference {
                    Some(reference) => format!("Donation received (reference {reference})"),
                    None => "Donation received".to_string(),
                };
                add(
                    &mut activities,
                    &parties,
                    &author,
                    &key,
                    Transaction {
                        code: "1",
                        date: value_date.to_string(),
                        description: described(description, &valued),
                        asset: valued.currency,
                        amount: valued.amount,
                        provider: Some(provider),
                        receiver: Some(side(&author, &key, &parties)),
                    },
                );
            }
            Body::Transfer { to, asset, amount, value_date, programme, purpose } => {
                let Some(valued) = valuer.value(&author, asset, *amount) else { continue };
                let key = programme.as_ref().map_or_else(|| GENERAL.to_string(), |p| p.to_string());
                let description =
                    if purpose.is_empty() { "Transfer".to_string() } else { format!("Transfer: {purpose}") };
                let to = to.to_string();
                let movement = Movement {
                    from: &author,
                    to: &to,
                    key: &key,
                    date: value_date.to_string(),
                    description: described(description, &valued),
                    asset: valued.currency,
                    amount: valued.amount,
                };
                between(&mut activities, &parties, &movement, &[(&author, "3"), (&to, "1")]);
            }
            Body::Spend { asset, amount, value_date, category, recipient, programme, .. } => {
                let Some(valued) = valuer.value(&author, asset, *amount) else { continue };
                let key = programme.as_ref().map_or_else(|| GENERAL.to_string(), |p| p.to_string());
                let receiver = match recipient {
                    Recipient::Supplier(supplier) => {
                        Side { activity: None, ..side(supplier.as_str(), GENERAL, &parties) }
                    }
                    Recipient::Beneficiary(_) => {
                        Side { reference: None, activity: None, name: "Beneficiary (pseudonymous)".into() }
                    }
                };
                add(
                    &mut activities,
                    &parties,
                    &author,
                    &key,
                    Transaction {
                        code: "4",
                        date: value_date.to_string(),
                        description: described(format!("Spending on {category}"), &valued),
                        asset: valued.currency,
                        amount: valued.amount,
                        provider: Some(side(&author, &key, &parties)),
                        receiver: Some(receiver),
                    },
                );
            }
            Body::Pledge { to, asset, amount, value_date, result, programme, .. } => {
                let Some(valued) = valuer.value(&author, asset, *amount) else { continue };
                let key = programme.as_ref().map_or_else(|| GENERAL.to_string(), |p| p.to_string());
                let to_text = to.to_string();
                let pending = state
                    .pledge(&entry.entry_id)
                    .is_some_and(|view| matches!(view.status.as_str(), "open" | "attested"));
                let description = format!("Pledge, released when this result is attested: {result}");
                let mut sides = vec![(author.as_str(), "12"), (to_text.as_str(), "13")];
                if pending {
                    sides.push((author.as_str(), "2"));
                }
                let movement = Movement {
                    from: &author,
                    to: &to_text,
                    key: &key,
                    date: value_date.to_string(),
                    description: described(description, &valued),
                    asset: valued.currency.clone(),
                    amount: valued.amount.clone(),
                };
                between(&mut activities, &parties, &movement, &sides);
                pledges.insert(entry.entry_id, (entry.author.clone(), to.clone(), valued, key));
            }
            Body::PledgeRelease { pledge } => {
                let Some((pledger, receiver, valued, key)) = pledges.get(pledge) else { continue };
                let date = Date::from_days((entry.timestamp_ms / 86_400_000) as u32)
                    .map(|date| date.to_string())
                    .unwrap_or_default();
                let (pledger, receiver) = (pledger.to_string(), receiver.to_string());
                let movement = Movement {
                    from: &pledger,
                    to: &receiver,
                    key,
                    date,
                    asset: valued.currency.clone(),
                    amount: valued.amount.clone(),
                    description: described("Pledge released on an attested result".into(), valued),
                };
                between(&mut activities, &parties, &movement, &[(&pledger, "3"), (&receiver, "1")]);
            }
            Body::Refund { donation, asset, amount, value_date, reason } => {
                // IATI has no refund type: money given back to its provider is incoming funds with a
                // negative value, in the activity that reported the incoming funds.
                let Some((key, provider)) = donations.get(donation) else { continue };
                let Some(valued) = valuer.value(&author, asset, *amount) else { continue };
                add(
                    &mut activities,
                    &parties,
                    &author,
                    key,
                    Transaction {
                        code: "1",
                        date: value_date.to_string(),
                        description: described(format!("Refund to the donor: {reason}"), &valued),
                        asset: valued.currency,
                        amount: format!("-{}", valued.amount),
                        provider: Some(provider.clone()),
                        receiver: Some(side(&author, key, &parties)),
                    },
                );
            }
            Body::VoucherIssue { programme, asset, face_value, category, vouchers: issued, .. } => {
                for voucher in issued {
                    vouchers.insert(*voucher, (programme.to_string(), asset.clone(), *face_value, *category));
                }
            }
            Body::VoucherSettlement { clinic, vouchers: settled, value_date } => {
                let Some((key, asset, face_value, category)) = settled.first().and_then(|first| vouchers.get(first))
                else {
                    continue;
                };
                let Some(total) = face_value.0.checked_mul(settled.len() as u128) else { continue };
                let Some(valued) = valuer.value(&author, asset, Amount(total)) else { continue };
                // The clinic is paid from the issue's reserve: an expenditure of the issuer's programme.
                let receiver = Side { activity: None, ..side(clinic.as_str(), key, &parties) };
                let description = format!("Settlement of {} health vouchers for {category}", settled.len());
                add(
                    &mut activities,
                    &parties,
                    &author,
                    key,
                    Transaction {
                        code: "4",
                        date: value_date.to_string(),
                        description: described(description, &valued),
                        asset: valued.currency,
                        amount: valued.amount,
                        provider: Some(side(&author, key, &parties)),
                        receiver: Some(receiver),
                    },
                );
            }
            _ => {}
        }
    }

    let mut xml = String::new();
    writeln!(xml, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(xml, r#"<iati-activities version="{IATI_VERSION}" generated-datetime="{generated}">"#)?;
    for ((org, key), activity) in &activities {
        if only.is_some_and(|only| only.as_str() != org) {
            continue;
        }
        let party = &parties[org];
        let reference = party.iati.as_deref().expect("publishers only");
        let programme = programmes.get(key);
        let title = match programme {
            Some(programme) => programme.name.clone(),
            None => format!("{}: funds outside any programme", party.name),
        };
        let description = match programme {
            Some(_) => {
                format!("Money moved by {} under the programme {key}, as recorded in the aidtrail ledger.", party.name)
            }
            None => format!(
                "Money moved by {} outside any declared programme, as recorded in the aidtrail ledger.",
                party.name
            ),
        };
        writeln!(xml, r#"  <iati-activity last-updated-datetime="{generated}" xml:lang="en">"#)?;
        writeln!(xml, "    <iati-identifier>{}</iati-identifier>", escape(format!("{reference}-{key}").as_str()))?;
        writeln!(
            xml,
            r#"    <reporting-org ref="{}" type="{}"><narrative>{}</narrative></reporting-org>"#,
            escape(reference),
            organisation_type(party.role),
            escape(party.name.as_str())
        )?;
        writeln!(xml, "    <title><narrative>{}</narrative></title>", escape(title.as_str()))?;
        writeln!(xml, "    <description><narrative>{}</narrative></description>", escape(description.as_str()))?;
        writeln!(
            xml,
            r#"    <participating-org ref="{}" role="4" type="{}"><narrative>{}</narrative></participating-org>"#,
            escape(reference),
            organisation_type(party.role),
            escape(party.name.as_str())
        )?;
        writeln!(xml, r#"    <activity-status code="2"/>"#)?;
        writeln!(
            xml,
            r#"    <activity-date type="2" iso-date="{}"/>"#,
            activity.first_date.as_deref().unwrap_or_default()
        )?;
        let countries: Vec<String> = match programme {
            Some(programme) => programme.countries.clone(),
            None if party.role == Role::Clinic => vec![party.country.clone()],
            None => Vec::new(),
        };
        for (country, percentage) in countries.iter().zip(percentages(countries.len())) {
            writeln!(xml, r#"    <recipient-country code="{}" percentage="{percentage}"/>"#, escape(country.as_str()))?;
        }
        if let Some(programme) = programme {
            writeln!(xml, r#"    <sector vocabulary="1" code="{}"/>"#, escape(programme.sector.as_str()))?;
        }
        for transaction in &activity.transactions {
            writeln!(xml, "    <transaction>")?;
            writeln!(xml, r#"      <transaction-type code="{}"/>"#, transaction.code)?;
            writeln!(xml, r#"      <transaction-date iso-date="{}"/>"#, transaction.date)?;
            writeln!(
                xml,
                r#"      <value currency="{}" value-date="{}">{}</value>"#,
                escape(transaction.asset.as_str()),
                transaction.date,
                transaction.amount
            )?;
            writeln!(
                xml,
                "      <description><narrative>{}</narrative></description>",
                escape(transaction.description.as_str())
            )?;
            for (element, side) in [("provider-org", &transaction.provider), ("receiver-org", &transaction.receiver)] {
                let Some(side) = side else { continue };
                let mut attributes = String::new();
                if let Some(reference) = &side.reference {
                    write!(attributes, r#" ref="{}""#, escape(reference.as_str()))?;
                }
                if let Some(activity) = &side.activity {
                    let name = if element == "provider-org" { "provider-activity-id" } else { "receiver-activity-id" };
                    write!(attributes, r#" {name}="{}""#, escape(activity.as_str()))?;
                }
                writeln!(
                    xml,
                    "      <{element}{attributes}><narrative>{}</narrative></{element}>",
                    escape(side.name.as_str())
                )?;
            }
            writeln!(xml, "    </transaction>")?;
        }
        writeln!(xml, "  </iati-activity>")?;
    }
    writeln!(xml, "</iati-activities>")?;
    Ok(xml)
}

/// Percentages for `n` recipient countries that sum to exactly 100 (two decimals, the remainder on the
/// first).
fn percentages(n: usize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let hundredths = 10_000 / n as u64;
    let first = 10_000 - hundredths * (n as u64 - 1);
    std::iter::once(first)
        .chain(std::iter::repeat_n(hundredths, n - 1))
        .map(|value| format!("{}.{:02}", value / 100, value % 100))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::percentages;

    #[test]
    fn country_percentages_sum_to_one_hundred() {
        assert_eq!(percentages(1), ["100.00"]);
        assert_eq!(percentages(2), ["50.00", "50.00"]);
        assert_eq!(percentages(3), ["33.34", "33.33", "33.33"]);
    }
}
