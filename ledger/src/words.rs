//! Entries in plain words, in English and French, for the API, the command line and the browser explorer:
//! "clinic-goma spent 1,250.00 EUR on medicine for beneficiary 7f3a…". One sentence per entry, written from
//! the entry alone plus two lookups the caller provides (an asset's decimals and an organisation's display
//! name), so that the browser can describe the bytes it verified rather than the server's words.

use crate::{Amount, AssetCode, Body, Donor, Earmark, Entry, OrgId, Recipient};

/// The languages entries are described in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Language {
    #[default]
    English,
    French,
}

impl Language {
    /// Thousands separator and decimal point: `1,250.00` in English, `1 250,00` (narrow no-break space) in
    /// French.
    pub fn number_marks(self) -> (char, char) {
        match self {
            Language::English => (',', '.'),
            Language::French => ('\u{202F}', ','),
        }
    }

    /// An amount in minor units written with its asset's decimals and code: `1,250.00 EUR`.
    pub fn money(self, amount: u128, decimals: u8, asset: &str) -> String {
        let (thousands, point) = self.number_marks();
        let number = Amount(amount).format(decimals, thousands, point);
        match self {
            Language::English => format!("{number} {asset}"),
            Language::French => format!("{number}\u{A0}{asset}"),
        }
    }
}

/// A code of the format (a role, a spending category, an asset kind, a pledge status) in words; `None` for a
/// code it does not know (the caller then shows the code).
pub fn term(language: Language, code: &str) -> Option<&'static str> {
    const TERMS: &[(&str, &str, &str)] = &[
        ("donor", "donor", "donateur"),
        ("ngo", "NGO", "ONG"),
        ("clinic", "clinic", "clinique"),
        ("supplier", "supplier", "fournisseur"),
        ("auditor", "auditor", "auditeur"),
        ("consultation", "consultations", "consultations"),
        ("medicine", "medicine", "médicaments"),
        ("surgery", "surgery", "chirurgie"),
        ("maternal-care", "maternal care", "soins maternels"),
        ("vaccination", "vaccination", "vaccination"),
        ("laboratory", "laboratory tests", "analyses de laboratoire"),
        ("food", "food", "alimentation"),
        ("shelter", "shelter", "abri"),
        ("water-sanitation", "water and sanitation", "eau et assainissement"),
        ("transport", "transport", "transport"),
        ("cash-assistance", "cash assistance", "aide en espèces"),
        ("equipment", "equipment", "équipement"),
        ("staff", "staff", "personnel"),
        ("training", "training", "formation"),
        ("administration", "administration", "administration"),
        ("bank-fees", "bank fees", "frais bancaires"),
        ("other", "other", "autre"),
        ("fiat", "currency", "monnaie"),
        ("token", "token", "jeton"),
        ("open", "open", "ouverte"),
        ("attested", "attested", "attestée"),
        ("released", "released", "versée"),
        ("voided", "voided", "annulée"),
        ("data_subject_request", "at the person's request", "à la demande de la personne"),
        ("consent_withdrawn", "consent withdrawn", "consentement retiré"),
        ("retention_expired", "retention period ended", "durée de conservation écoulée"),
        ("legal_obligation", "legal obligation", "obligation légale"),
    ];
    TERMS.iter().find(|(known, _, _)| *known == code).map(|(_, english, french)| match language {
        Language::English => *english,
        Language::French => *french,
    })
}

fn term_or_code(language: Language, code: &str) -> String {
    term(language, code).map_or_else(|| code.to_string(), str::to_string)
}

/// What [`describe`] needs to know beyond the entry.
pub trait Lookup {
    /// The decimals of an asset (0 when unknown).
    fn decimals(&self, asset: &AssetCode) -> u8;
    /// How to name an organisation (its id when nothing better is known).
    fn name(&self, organisation: &OrgId) -> String {
        organisation.to_string()
    }
}

fn short(hex: &str) -> String {
    format!("{}…", &hex[..hex.len().min(8)])
}

/// One sentence saying what an entry states.
pub fn describe(entry: &Entry, lookup: &dyn Lookup, language: Language) -> String {
    let french = language == Language::French;
    let author = lookup.name(&entry.author);
    let name = |id: &OrgId| lookup.name(id);
    let money = |asset: &AssetCode, amount: Amount| language.money(amount.0, lookup.decimals(asset), asset.as_str());
    let earmark = |earmark: &Option<Earmark>| match (earmark, french) {
        (None, _) => String::new(),
        (Some(Earmark::Programme(programme)), false) => format!(", earmarked for programme {programme}"),
        (Some(Earmark::Programme(programme)), true) => format!(", affecté au programme {programme}"),
        (Some(Earmark::Country(country)), false) => format!(", earmarked for {country}"),
        (Some(Earmark::Country(country)), true) => format!(", affecté au pays {country}"),
        (Some(Earmark::Clinic(clinic)), false) => format!(", earmarked for {}", name(clinic)),
        (Some(Earmark::Clinic(clinic)), true) => format!(", affecté à {}", name(clinic)),
    };
    match (&entry.body, french) {
        (Body::Genesis { origin, operator, .. }, false) => format!("{} started the log {origin}", name(operator)),
        (Body::Genesis { origin, operator, .. }, true) => format!("{} a ouvert le journal {origin}", name(operator)),
        (Body::OperatorKeyRotation { new_key }, false) => {
            format!("{author} rotated the operator key to {}", short(&new_key.to_hex()))
        }
        (Body::OperatorKeyRotation { new_key }, true) => {
            format!("{author} a remplacé la clé de l'opérateur par {}", short(&new_key.to_hex()))
        }
        (Body::RegisterOrganisation { organisation, role, name: org_name, country, .. }, false) => {
            format!(
                "{author} registered {org_name} ({organisation}), a {} in {country}",
                term_or_code(language, role.as_str())
            )
        }
        (Body::RegisterOrganisation { organisation, role, name: org_name, country, .. }, true) => {
            let role = term_or_code(language, role.as_str());
            format!("{author} a enregistré {org_name} ({organisation}), rôle {role}, pays {country}")
        }
        (Body::KeyRotation { organisation, new_key }, false) => {
            format!("{author} rotated the key of {} to {}", name(organisation), short(&new_key.to_hex()))
        }
        (Body::KeyRotation { organisation, new_key }, true) => {
            format!("{author} a remplacé la clé de {} par {}", name(organisation), short(&new_key.to_hex()))
        }
        (Body::KeyRevocation { organisation, revoked_key, .. }, false) => {
            format!("{author} revoked the key {} of {}", short(&revoked_key.to_hex()), name(organisation))
        }
        (Body::KeyRevocation { organisation, revoked_key, .. }, true) => {
            format!("{author} a révoqué la clé {} de {}", short(&revoked_key.to_hex()), name(organisation))
        }
        (Body::DeclareAsset { asset, decimals, asset_kind }, false) => {
            format!("{author} declared the {asset_kind} asset {asset} with {decimals} decimals")
        }
        (Body::DeclareAsset { asset, decimals, asset_kind }, true) => {
            format!("{author} a déclaré l'actif {asset} ({asset_kind}) à {decimals} décimales")
        }
        (Body::DeclareProgramme { programme, name: programme_name, countries, .. }, _) => {
            let countries: Vec<String> = countries.iter().map(|c| c.to_string()).collect();
            if french {
                format!("{author} a déclaré le programme {programme_name} ({programme}) : {}", countries.join(", "))
            } else {
                format!("{author} declared the programme {programme_name} ({programme}) in {}", countries.join(", "))
            }
        }
        (Body::Donation { donor, asset, amount, earmark: target, .. }, _) => {
            let donor = match (donor, french) {
                (Donor::Organisation(donor), _) => name(donor),
                (Donor::Anonymous(reference), false) => format!("anonymous donor {}", short(&reference.to_hex())),
                (Donor::Anonymous(reference), true) => format!("donateur anonyme {}", short(&reference.to_hex())),
            };
            if french {
                format!("{author} a reçu {} de {donor}{}", money(asset, *amount), earmark(target))
            } else {
                format!("{author} received {} from {donor}{}", money(asset, *amount), earmark(target))
            }
        }
        (Body::Transfer { to, asset, amount, purpose, .. }, false) => {
            let purpose = if purpose.is_empty() { String::new() } else { format!(" for {purpose}") };
            format!("{author} transferred {} to {}{purpose}", money(asset, *amount), name(to))
        }
        (Body::Transfer { to, asset, amount, purpose, .. }, true) => {
            let purpose = if purpose.is_empty() { String::new() } else { format!(" pour {purpose}") };
            format!("{author} a transféré {} à {}{purpose}", money(asset, *amount), name(to))
        }
        (Body::Acknowledgement { transfer }, false) => {
            format!("{author} acknowledged receiving transfer {}", short(&transfer.to_hex()))
        }
        (Body::Acknowledgement { transfer }, true) => {
            format!("{author} a confirmé la réception du transfert {}", short(&transfer.to_hex()))
        }
        (Body::Spend { asset, amount, category, recipient, .. }, _) => {
            let recipient = match (recipient, french) {
                (Recipient::Beneficiary(commitment), false) => format!("beneficiary {}", short(&commitment.to_hex())),
                (Recipient::Beneficiary(commitment), true) => {
                    format!("le bénéficiaire {}", short(&commitment.to_hex()))
                }
                (Recipient::Supplier(supplier), false) => format!("supplier {}", name(supplier)),
                (Recipient::Supplier(supplier), true) => format!("le fournisseur {}", name(supplier)),
            };
            if french {
                let category = term_or_code(language, category.as_str());
                format!("{author} a dépensé {} ({category}) pour {recipient}", money(asset, *amount))
            } else {
                let category = term_or_code(language, category.as_str());
                format!("{author} spent {} on {category} for {recipient}", money(asset, *amount))
            }
        }
        (Body::Pledge { to, asset, amount, verifier, result, .. }, false) => format!(
            "{author} pledged {} to {}, released when {} attests: {result}",
            money(asset, *amount),
            name(to),
            name(verifier)
        ),
        (Body::Pledge { to, asset, amount, verifier, result, .. }, true) => format!(
            "{author} a promis {} à {}, versés quand {} atteste : {result}",
            money(asset, *amount),
            name(to),
            name(verifier)
        ),
        (Body::Attestation { pledge, .. }, false) => {
            format!("{author} attested the result of pledge {}", short(&pledge.to_hex()))
        }
        (Body::Attestation { pledge, .. }, true) => {
            format!("{author} a attesté le résultat de la promesse {}", short(&pledge.to_hex()))
        }
        (Body::PledgeRelease { pledge }, false) => format!("{author} released pledge {}", short(&pledge.to_hex())),
        (Body::PledgeRelease { pledge }, true) => format!("{author} a versé la promesse {}", short(&pledge.to_hex())),
        (Body::PledgeVoid { pledge }, false) => {
            format!("{author} voided the expired pledge {}", short(&pledge.to_hex()))
        }
        (Body::PledgeVoid { pledge }, true) => {
            format!("{author} a annulé la promesse expirée {}", short(&pledge.to_hex()))
        }
        (Body::Reversal { target, reason }, false) => {
            format!("{author} reversed entry {} ({reason})", short(&target.to_hex()))
        }
        (Body::Reversal { target, reason }, true) => {
            format!("{author} a contrepassé l'écriture {} ({reason})", short(&target.to_hex()))
        }
        (Body::Conversion { from_asset, from_amount, to_asset, to_amount, rate, rate_source, .. }, false) => format!(
            "{author} converted {} into {} at {rate} ({rate_source})",
            money(from_asset, *from_amount),
            money(to_asset, *to_amount)
        ),
        (Body::Conversion { from_asset, from_amount, to_asset, to_amount, rate, rate_source, .. }, true) => format!(
            "{author} a converti {} en {} au taux de {} ({rate_source})",
            money(from_asset, *from_amount),
            money(to_asset, *to_amount),
            rate.to_string().replace('.', ",")
        ),
        (Body::Refund { donation, asset, amount, reason, .. }, false) => format!(
            "{author} refunded {} of donation {} to its donor ({reason})",
            money(asset, *amount),
            short(&donation.to_hex())
        ),
        (Body::Refund { donation, asset, amount, reason, .. }, true) => format!(
            "{author} a remboursé {} du don {} à son donateur ({reason})",
            money(asset, *amount),
            short(&donation.to_hex())
        ),
        (Body::AccountsSignOff { organisation, period_start, period_end, tree_size, .. }, false) => format!(
            "{author} signed off the accounts of {} from {period_start} to {period_end} (log of {tree_size} entries)",
            name(organisation)
        ),
        (Body::AccountsSignOff { organisation, period_start, period_end, tree_size, .. }, true) => format!(
            "{author} a certifié les comptes de {} du {period_start} au {period_end} (journal de {tree_size} écritures)",
            name(organisation)
        ),
        (Body::VoucherIssue { programme, asset, face_value, category, vouchers, .. }, false) => format!(
            "{author} issued {} vouchers of {} for {} in programme {programme}",
            vouchers.len(),
            money(asset, *face_value),
            term_or_code(language, category.as_str())
        ),
        (Body::VoucherIssue { programme, asset, face_value, category, vouchers, .. }, true) => format!(
            "{author} a émis {} bons de {} ({}) pour le programme {programme}",
            vouchers.len(),
            money(asset, *face_value),
            term_or_code(language, category.as_str())
        ),
        (Body::VoucherRedemption { voucher, .. }, false) => {
            format!("{author} redeemed voucher {}", short(&voucher.to_hex()))
        }
        (Body::VoucherRedemption { voucher, .. }, true) => {
            format!("{author} a honoré le bon {}", short(&voucher.to_hex()))
        }
        (Body::VoucherSettlement { clinic, vouchers, .. }, false) => {
            format!("{author} paid {} for {} redeemed vouchers", name(clinic), vouchers.len())
        }
        (Body::VoucherSettlement { clinic, vouchers, .. }, true) => {
            format!("{author} a payé {} pour {} bons honorés", name(clinic), vouchers.len())
        }
        (Body::VoucherExpiry { issue }, false) => {
            format!("{author} took back the unredeemed vouchers of issue {}", short(&issue.to_hex()))
        }
        (Body::VoucherExpiry { issue }, true) => {
            format!("{author} a repris les bons non honorés de l'émission {}", short(&issue.to_hex()))
        }
        (Body::Erasure { count, reason, .. }, false) => {
            let spends = if *count == 1 { "spend".to_string() } else { format!("{count} spends") };
            let reason = term_or_code(language, reason.as_str());
            let one = if *count == 1 { "one " } else { "" };
            format!(
                "{author} erased the beneficiary data behind {one}{spends} ({reason}); the commitments now identify nobody"
            )
        }
        (Body::Erasure { count, reason, .. }, true) => {
            let spends = if *count == 1 { "une dépense".to_string() } else { format!("{count} dépenses") };
            let reason = term_or_code(language, reason.as_str());
            format!(
                "{author} a effacé les données de bénéficiaire de {spends} ({reason}) ; les engagements n'identifient plus personne"
            )
        }
    }
}
