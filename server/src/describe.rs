//! Entries in plain English for the API and the command line: "clinic-goma spent 1,250.00 EUR on
//! medicine for beneficiary 7f3a…".

use ledger::{Amount, AssetCode, Body, Donor, Earmark, Entry, Recipient, State};

fn money(state: &State, asset: &AssetCode, amount: Amount) -> String {
    let decimals = state.assets().into_iter().find(|(code, _, _)| code == asset).map_or(0, |(_, decimals, _)| decimals);
    format!("{} {asset}", amount.format(decimals, ',', '.'))
}

fn short(hex: &str) -> String {
    format!("{}…", &hex[..8])
}

fn earmark_words(earmark: &Option<Earmark>) -> String {
    match earmark {
        None => String::new(),
        Some(Earmark::Programme(programme)) => format!(", earmarked for programme {programme}"),
        Some(Earmark::Country(country)) => format!(", earmarked for {country}"),
        Some(Earmark::Clinic(clinic)) => format!(", earmarked for {clinic}"),
    }
}

/// One sentence saying what an entry states.
pub fn describe(entry: &Entry, state: &State) -> String {
    let author = &entry.author;
    match &entry.body {
        Body::Genesis { origin, operator, .. } => format!("{operator} started the log {origin}"),
        Body::OperatorKeyRotation { new_key } => {
            format!("{author} rotated the operator key to {}", short(&new_key.to_hex()))
        }
        Body::RegisterOrganisation { organisation, role, name, country, .. } => {
            format!("{author} registered {name} ({organisation}), a {role} in {country}")
        }
        Body::KeyRotation { organisation, new_key } => {
            format!("{author} rotated the key of {organisation} to {}", short(&new_key.to_hex()))
        }
        Body::KeyRevocation { organisation, revoked_key, .. } => {
            format!("{author} revoked the key {} of {organisation}", short(&revoked_key.to_hex()))
        }
        Body::DeclareAsset { asset, decimals, asset_kind } => {
            format!("{author} declared the {asset_kind} asset {asset} with {decimals} decimals")
        }
        Body::DeclareProgramme { programme, name, countries, .. } => {
            let countries: Vec<String> = countries.iter().map(|c| c.to_string()).collect();
            format!("{author} declared the programme {name} ({programme}) in {}", countries.join(", "))
        }
        Body::Donation { donor, asset, amount, earmark, .. } => {
            let donor = match donor {
                Donor::Organisation(donor) => donor.to_string(),
                Donor::Anonymous(reference) => format!("anonymous donor {}", short(&reference.to_hex())),
            };
            format!("{author} received {} from {donor}{}", money(state, asset, *amount), earmark_words(earmark))
        }
        Body::Transfer { to, asset, amount, purpose, .. } => {
            let purpose = if purpose.is_empty() { String::new() } else { format!(" for {purpose}") };
            format!("{author} transferred {} to {to}{purpose}", money(state, asset, *amount))
        }
        Body::Acknowledgement { transfer } => {
            format!("{author} acknowledged receiving transfer {}", short(&transfer.to_hex()))
        }
        Body::Spend { asset, amount, category, recipient, .. } => {
            let recipient = match recipient {
                Recipient::Beneficiary(commitment) => format!("beneficiary {}", short(&commitment.to_hex())),
                Recipient::Supplier(supplier) => format!("supplier {supplier}"),
            };
            format!("{author} spent {} on {category} for {recipient}", money(state, asset, *amount))
        }
        Body::Pledge { to, asset, amount, verifier, result, .. } => format!(
            "{author} pledged {} to {to}, released when {verifier} attests: {result}",
            money(state, asset, *amount)
        ),
        Body::Attestation { pledge, .. } => {
            format!("{author} attested the result of pledge {}", short(&pledge.to_hex()))
        }
        Body::PledgeRelease { pledge } => format!("{author} released pledge {}", short(&pledge.to_hex())),
        Body::PledgeVoid { pledge } => format!("{author} voided the expired pledge {}", short(&pledge.to_hex())),
        Body::Reversal { target, reason } => format!("{author} reversed entry {} ({reason})", short(&target.to_hex())),
    }
}
