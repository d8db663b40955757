//! The ledger as IATI 2.03 activities (`iati-activities` XML), for the publishers among its organisations
//! (those registered with an IATI organisation identifier).
//!
//! Each publisher has one activity per programme it moved money under, `<org ref>-<programme>`, and one for
//! money outside any programme, `<org ref>-general`. Transactions come from the entries, with their IATI
//! types: a donation received is incoming funds (1); a transfer is a disbursement (3) at the sender and
//! incoming funds (1) at the receiver; a spend is an expenditure (4); a pledge is an outgoing pledge (12) at
//! the pledger and an incoming pledge (13) at the receiver, an outgoing commitment (2) while it is pending,
//! and on release a disbursement (3) and incoming funds (1). Each side names the other's organisation and,
//! when the other is a publisher, its activity (`provider-activity-id`, `receiver-activity-id`) from the
//! ledger's own edges, so that IATI's traceability links hold in both directions. Reversed entries are left
//! out. Only fiat assets are reported (token amounts need the fiat value of a conversion, which the ledger
//! does not record yet).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use ledger::{AssetKind, Body, Donor, Earmark, Entry, EntryId, OrgId, Recipient, Role, State};
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
    let mut programmes: HashMap<String, Programme> = HashMap::new();
    let reversed: HashSet<EntryId> = entries
        .iter()
        .filter_map(|entry| match &entry.body {
            Body::Reversal { target, .. } => Some(*target),
            _ => None,
        })
        .collect();
    let mut pledges: HashMap<EntryId, (OrgId, OrgId, String, u128, String)> = HashMap::new();
    let mut activities: Activities = BTreeMap::new();

    for entry in entries {
        if reversed.contains(&entry.entry_id) {
            continue;
        }
        let author = entry.author.to_string();
        let money = |asset: &ledger::AssetCode, amount: ledger::Amount| {
            (asset.to_string(), plain_amount(amount.0, decimals.get(asset.as_str()).copied().unwrap_or(0)))
        };
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
            Body::Donation { donor, asset, amount, value_date, earmark, external_reference }
                if fiat.contains(asset.as_str()) =>
            {
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
                let (asset, amount) = money(asset, *amount);
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
                        asset,
                        amount,
                        description,
                        provider: Some(provider),
                        receiver: Some(side(&author, &key, &parties)),
                    },
                );
            }
            Body::Transfer { to, asset, amount, value_date, programme, purpose } if fiat.contains(asset.as_str()) => {
                let key = programme.as_ref().map_or_else(|| GENERAL.to_string(), |p| p.to_string());
                let (asset, amount) = money(asset, *amount);
                let description =
                    if purpose.is_empty() { "Transfer".to_string() } else { format!("Transfer: {purpose}") };
                let to = to.to_string();
                let movement = Movement {
                    from: &author,
                    to: &to,
                    key: &key,
                    date: value_date.to_string(),
                    asset,
                    amount,
                    description,
                };
                between(&mut activities, &parties, &movement, &[(&author, "3"), (&to, "1")]);
            }
            Body::Spend { asset, amount, value_date, category, recipient, programme, .. }
                if fiat.contains(asset.as_str()) =>
            {
                let key = programme.as_ref().map_or_else(|| GENERAL.to_string(), |p| p.to_string());
                let (asset, amount) = money(asset, *amount);
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
                        asset,
                        amount,
                        description: format!("Spending on {category}"),
                        provider: Some(side(&author, &key, &parties)),
                        receiver: Some(receiver),
                    },
                );
            }
            Body::Pledge { to, asset, amount, value_date, result, programme, .. } if fiat.contains(asset.as_str()) => {
                let key = programme.as_ref().map_or_else(|| GENERAL.to_string(), |p| p.to_string());
                pledges.insert(
                    entry.entry_id,
                    (entry.author.clone(), to.clone(), asset.to_string(), amount.0, key.clone()),
                );
                let (asset, amount) = money(asset, *amount);
                let to = to.to_string();
                let pending = state
                    .pledge(&entry.entry_id)
                    .is_some_and(|view| matches!(view.status.as_str(), "open" | "attested"));
                let description = format!("Pledge, released when this result is attested: {result}");
                let mut sides = vec![(author.as_str(), "12"), (to.as_str(), "13")];
                if pending {
                    sides.push((author.as_str(), "2"));
                }
                let movement = Movement {
                    from: &author,
                    to: &to,
                    key: &key,
                    date: value_date.to_string(),
                    asset,
                    amount,
                    description,
                };
                between(&mut activities, &parties, &movement, &sides);
            }
            Body::PledgeRelease { pledge } => {
                let Some((pledger, receiver, asset, amount, key)) = pledges.get(pledge) else { continue };
                let date = ledger::Date::from_days((entry.timestamp_ms / 86_400_000) as u32)
                    .map(|date| date.to_string())
                    .unwrap_or_default();
                let amount = plain_amount(*amount, decimals.get(asset.as_str()).copied().unwrap_or(0));
                let (pledger, receiver) = (pledger.to_string(), receiver.to_string());
                let movement = Movement {
                    from: &pledger,
                    to: &receiver,
                    key,
                    date,
                    asset: asset.clone(),
                    amount,
                    description: "Pledge released on an attested result".into(),
                };
                between(&mut activities, &parties, &movement, &[(&pledger, "3"), (&receiver, "1")]);
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
