//! The IATI 2.03 export: valid against the official schema (`testdata/iati`, checked with xmllint), every
//! code in IATI's codelists, one expenditure per spend, and the traceability links between activities
//! holding in both directions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use ledger::{Body, Recipient};

use crate::support::{TempDir, service_with_demo};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/iati")
}

/// The codes of one IATI codelist file.
fn codelist(name: &str) -> BTreeSet<String> {
    let path = testdata().join("codelists").join(format!("{name}.xml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let document = roxmltree::Document::parse(&text).unwrap();
    document
        .descendants()
        .filter(|node| node.has_tag_name("codelist-item"))
        .filter_map(|item| item.children().find(|child| child.has_tag_name("code")).and_then(|code| code.text()))
        .map(|code| code.trim().to_string())
        .collect()
}

fn xmllint_validates(xml: &str) {
    let dir = TempDir::new("aidtrail-iati");
    let file = dir.0.join("activities.xml");
    std::fs::write(&file, xml).unwrap();
    let output = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(testdata().join("iati-activities-schema.xsd"))
        .arg(&file)
        .output()
        .unwrap_or_else(|error| {
            panic!("running xmllint ({error}): install Debian's libxml2-utils (scripts/setup.sh --tests does)")
        });
    assert!(
        output.status.success(),
        "the export does not validate against the IATI 2.03 schema:\n{}",
        String::from_utf8_lossy(&output.stderr).lines().take(20).collect::<Vec<_>>().join("\n")
    );
}

#[derive(Debug, Clone)]
struct Transaction {
    code: String,
    date: String,
    value: String,
    currency: String,
    provider_activity: Option<String>,
    receiver_activity: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iati_export_is_valid_uses_real_codes_and_links_its_activities() {
    let (service, demo) = service_with_demo().await;
    let response = service.get("/api/v1/exports/iati.xml").await;
    response.expect(StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/xml; charset=utf-8"));
    assert_eq!(response.header("content-disposition"), Some("attachment; filename=\"aidtrail-iati.xml\""));
    let xml = response.text();
    xmllint_validates(&xml);

    let document = roxmltree::Document::parse(&xml).unwrap();
    let root = document.root_element();
    assert_eq!(root.attribute("version"), Some("2.03"));
    let (transaction_types, currencies, organisation_types, roles, sectors, vocabularies, countries, statuses, dates) = (
        codelist("TransactionType"),
        codelist("Currency"),
        codelist("OrganisationType"),
        codelist("OrganisationRole"),
        codelist("Sector"),
        codelist("SectorVocabulary"),
        codelist("Country"),
        codelist("ActivityStatus"),
        codelist("ActivityDateType"),
    );
    let check = |list: &BTreeSet<String>, name: &str, code: Option<&str>| {
        let code = code.unwrap_or_else(|| panic!("a {name} without a code"));
        assert!(list.contains(code), "{name} {code:?} is not in IATI's codelist");
    };
    let mut activities: BTreeMap<String, Vec<Transaction>> = BTreeMap::new();
    let mut used_types = BTreeSet::new();
    for activity in root.children().filter(|node| node.has_tag_name("iati-activity")) {
        let child = |name: &'static str| activity.children().filter(move |node| node.has_tag_name(name));
        let identifier = child("iati-identifier").next().and_then(|node| node.text()).unwrap().to_string();
        let reporting = child("reporting-org").next().unwrap();
        assert!(identifier.starts_with(reporting.attribute("ref").unwrap()), "{identifier} is the reporting org's");
        check(&organisation_types, "organisation type", reporting.attribute("type"));
        for participant in child("participating-org") {
            check(&roles, "organisation role", participant.attribute("role"));
            check(&organisation_types, "organisation type", participant.attribute("type"));
        }
        check(&statuses, "activity status", child("activity-status").next().and_then(|n| n.attribute("code")));
        for date in child("activity-date") {
            check(&dates, "activity date type", date.attribute("type"));
        }
        let mut percentage = 0u64;
        for country in child("recipient-country") {
            check(&countries, "country", country.attribute("code"));
            percentage += country.attribute("percentage").unwrap().replace('.', "").parse::<u64>().unwrap();
        }
        assert!(percentage == 0 || percentage == 10_000, "{identifier}: country percentages sum to 100");
        for sector in child("sector") {
            check(&vocabularies, "sector vocabulary", sector.attribute("vocabulary"));
            check(&sectors, "sector", sector.attribute("code"));
        }
        let mut transactions = Vec::new();
        for transaction in child("transaction") {
            let part = |name: &str| transaction.children().find(|node| node.has_tag_name(name));
            let code = part("transaction-type").and_then(|n| n.attribute("code")).unwrap().to_string();
            check(&transaction_types, "transaction type", Some(&code));
            used_types.insert(code.clone());
            let value = part("value").unwrap();
            check(&currencies, "currency", value.attribute("currency"));
            transactions.push(Transaction {
                code,
                date: part("transaction-date").and_then(|n| n.attribute("iso-date")).unwrap().to_string(),
                value: value.text().unwrap().to_string(),
                currency: value.attribute("currency").unwrap().to_string(),
                provider_activity: part("provider-org")
                    .and_then(|n| n.attribute("provider-activity-id"))
                    .map(str::to_string),
                receiver_activity: part("receiver-org")
                    .and_then(|n| n.attribute("receiver-activity-id"))
                    .map(str::to_string),
            });
        }
        assert!(!transactions.is_empty(), "{identifier} has transactions");
        assert!(activities.insert(identifier.clone(), transactions).is_none(), "{identifier} appears once");
    }
    for code in ["1", "3", "4", "12", "13"] {
        assert!(used_types.contains(code), "transaction type {code} is used: {used_types:?}");
    }

    // Traceability: every link names an activity in the file whose matching transaction links back.
    let mut links = 0;
    for (identifier, transactions) in &activities {
        for transaction in transactions {
            let (other, back_codes): (&Option<String>, &[&str]) = match transaction.code.as_str() {
                "3" | "12" => (&transaction.receiver_activity, &["1", "13"]),
                "1" | "13" => (&transaction.provider_activity, &["3", "12"]),
                _ => continue,
            };
            let Some(other) = other else { continue };
            if other == identifier {
                continue;
            }
            let counterpart = activities.get(other).unwrap_or_else(|| panic!("{identifier} links to {other}, absent"));
            let found = counterpart.iter().any(|candidate| {
                back_codes.contains(&candidate.code.as_str())
                    && candidate.value == transaction.value
                    && candidate.currency == transaction.currency
                    && candidate.date == transaction.date
                    && (candidate.provider_activity.as_ref() == Some(identifier)
                        || candidate.receiver_activity.as_ref() == Some(identifier))
            });
            assert!(found, "{identifier} → {other}: no matching transaction links back ({transaction:?})");
            links += 1;
        }
    }
    assert!(links > 20, "the demo's transfers link NGO and clinic activities ({links} links)");

    // One expenditure per spend of a publisher, in the publisher's activities.
    let publishers: BTreeSet<String> = demo
        .entries
        .iter()
        .filter_map(|signed| match &signed.entry().body {
            Body::RegisterOrganisation { organisation, iati_identifier: Some(_), .. } => Some(organisation.to_string()),
            _ => None,
        })
        .collect();
    let reversed: BTreeSet<_> = demo
        .entries
        .iter()
        .filter_map(|signed| match &signed.entry().body {
            Body::Reversal { target, .. } => Some(*target),
            _ => None,
        })
        .collect();
    let spends = demo
        .entries
        .iter()
        .filter(|signed| {
            let entry = signed.entry();
            matches!(&entry.body, Body::Spend { asset, recipient, .. }
                if asset.as_str() == "EUR" && matches!(recipient, Recipient::Beneficiary(_) | Recipient::Supplier(_)))
                && publishers.contains(entry.author.as_str())
                && !reversed.contains(&entry.entry_id)
        })
        .count();
    let expenditures = activities.values().flatten().filter(|transaction| transaction.code == "4").count();
    assert_eq!(expenditures, spends);

    // One organisation's activities only; unknown organisations and fields are JSON errors.
    let response = service.get("/api/v1/exports/iati.xml?organisation=medecins-solidaires").await;
    response.expect(StatusCode::OK);
    let own = response.text();
    xmllint_validates(&own);
    let own = roxmltree::Document::parse(&own).unwrap();
    let identifiers: Vec<&str> =
        own.descendants().filter(|node| node.has_tag_name("iati-identifier")).filter_map(|node| node.text()).collect();
    assert!(!identifiers.is_empty());
    assert!(identifiers.iter().all(|id| id.starts_with("FR-RNA-W751000201-")), "{identifiers:?}");
    service.get("/api/v1/exports/iati.xml?organisation=nobody").await.expect_error(StatusCode::NOT_FOUND, "not_found");
    service.get("/api/v1/exports/iati.xml?org=x").await.expect_error(StatusCode::BAD_REQUEST, "invalid_query");
}
