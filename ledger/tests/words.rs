//! Entries in plain words: the same sentence for the API, the command line and the explorer, in English and
//! French, with amounts written per language and names from the caller's lookup.

use ledger::words::{Language, Lookup, describe};
use ledger::{AssetCode, OrgId};

use crate::support::World;

struct Names;

impl Lookup for Names {
    fn decimals(&self, asset: &AssetCode) -> u8 {
        if asset.as_str() == "EUR" { 2 } else { 0 }
    }

    fn name(&self, organisation: &OrgId) -> String {
        match organisation.as_str() {
            "clinic-goma" => "Clinique de Goma".to_string(),
            other => other.to_string(),
        }
    }
}

#[test]
fn entries_read_as_sentences_in_english_and_french() {
    let mut world = World::standard();
    let donation = world.donate("ngo-a", 125_000_000, None);
    let transfer = world.transfer("ngo-a", "clinic-goma", 125_000);
    let spend = world.spend("clinic-goma", 125_000);
    let sentence = |index: u64, language| describe(world.log[index as usize].entry(), &Names, language);

    assert_eq!(sentence(donation, Language::English), "ngo-a received 1,250,000.00 EUR from fondation-x");
    assert_eq!(sentence(donation, Language::French), "ngo-a a reçu 1\u{202F}250\u{202F}000,00\u{A0}EUR de fondation-x");
    assert_eq!(
        sentence(transfer, Language::English),
        "ngo-a transferred 1,250.00 EUR to Clinique de Goma for operating funds"
    );
    assert_eq!(
        sentence(transfer, Language::French),
        "ngo-a a transféré 1\u{202F}250,00\u{A0}EUR à Clinique de Goma pour operating funds"
    );
    let english = sentence(spend, Language::English);
    assert!(english.starts_with("Clinique de Goma spent 1,250.00 EUR on medicine for beneficiary "), "{english}");
    assert!(english.ends_with('…'), "the commitment is shortened: {english}");
    let french = sentence(spend, Language::French);
    assert!(
        french.starts_with("Clinique de Goma a dépensé 1\u{202F}250,00\u{A0}EUR (médicaments) pour le bénéficiaire ")
    );
}

#[test]
fn amounts_keep_every_minor_unit() {
    assert_eq!(Language::English.money(5, 2, "EUR"), "0.05 EUR");
    assert_eq!(Language::English.money(u128::MAX, 0, "X"), "340,282,366,920,938,463,463,374,607,431,768,211,455 X");
    assert_eq!(Language::French.money(1_000_000, 6, "USDC"), "1,000000\u{A0}USDC");
}

#[test]
fn every_role_and_category_has_words_in_both_languages() {
    let codes = ledger::Role::ALL
        .iter()
        .map(|role| role.as_str())
        .chain(ledger::Category::ALL.iter().map(|category| category.as_str()))
        .chain(ledger::AssetKind::ALL.iter().map(|kind| kind.as_str()))
        .chain(["open", "attested", "released", "voided"]);
    for code in codes {
        assert!(ledger::words::term(Language::English, code).is_some(), "{code}");
        assert!(ledger::words::term(Language::French, code).is_some(), "{code}");
    }
    assert_eq!(ledger::words::term(Language::French, "water-sanitation"), Some("eau et assainissement"));
    assert_eq!(ledger::words::term(Language::English, "no-such-code"), None);
}
