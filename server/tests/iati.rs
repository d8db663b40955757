//! The IATI 2.03 export: valid against the official schema (`testdata/iati`, checked with xmllint), every
//! code in IATI's codelists, one expenditure per spend, the traceability links between activities holding
//! in both directions, and refunds, voucher settlements and token amounts as IATI's rules want them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use ledger::{
    Amount, AssetCode, Body, Category, Commitment, Date, Donor, Entry, EntryId, OrgId, ProgrammeId, Rate, Recipient,
    VoucherId,
};

use crate::support::{TempDir, service_with_demo, sign};

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

/// The transactions of one activity: (type, value, currency, description, receiver's ref).
fn transactions_of(xml: &str, activity: &str) -> Vec<(String, String, String, String, Option<String>)> {
    let document = roxmltree::Document::parse(xml).unwrap();
    let Some(node) = document.descendants().find(|node| {
        node.has_tag_name("iati-activity")
            && node.children().any(|child| child.has_tag_name("iati-identifier") && child.text() == Some(activity))
    }) else {
        return Vec::new();
    };
    node.children()
        .filter(|child| child.has_tag_name("transaction"))
        .map(|transaction| {
            let part = |name: &str| transaction.children().find(|node| node.has_tag_name(name)).unwrap();
            let text = |name: &str| {
                part(name)
                    .descendants()
                    .filter(|node| node.is_text())
                    .filter_map(|node| node.text())
                    .collect::<String>()
                    .trim()
                    .to_string()
            };
            (
                part("transaction-type").attribute("code").unwrap().to_string(),
                text("value"),
                part("value").attribute("currency").unwrap().to_string(),
                text("description"),
                part("receiver-org").attribute("ref").map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_voucher_settlements_and_tokens_are_reported_with_iati_rules() {
    let (service, demo) = service_with_demo().await;
    let (ngo, clinic) = ("medecins-solidaires", "clinique-goma");
    let today = Date::from_timestamp_ms(server::log::now_ms());
    let submit = |author: &str, body: Body| {
        let entry = Entry {
            entry_id: EntryId(rand::random()),
            author: OrgId::new(author).unwrap(),
            timestamp_ms: server::log::now_ms(),
            body,
        };
        let signed = sign(&demo, entry);
        let service = &service;
        async move {
            service.submit(&signed).await.expect(StatusCode::CREATED);
            signed.entry().entry_id
        }
    };
    let eur = AssetCode::new("EUR").unwrap();
    let usdc = AssetCode::new("USDC").unwrap();
    // A gift of 1,000.00 EUR, 300.00 of it refunded.
    let donation = submit(
        ngo,
        Body::Donation {
            donor: Donor::Anonymous(Commitment(rand::random())),
            asset: eur.clone(),
            amount: Amount(100_000),
            value_date: today,
            earmark: None,
            external_reference: None,
        },
    )
    .await;
    let reason = "Programme scaled down".to_string();
    submit(ngo, Body::Refund { donation, asset: eur.clone(), amount: Amount(30_000), value_date: today, reason }).await;
    // Three vouchers of 25.00 EUR; two redeemed and settled.
    let mut vouchers: Vec<VoucherId> = (0..3).map(|_| VoucherId(rand::random())).collect();
    vouchers.sort();
    submit(
        ngo,
        Body::VoucherIssue {
            programme: ProgrammeId::new("kivu-primary-health").unwrap(),
            asset: eur.clone(),
            face_value: Amount(2_500),
            category: Category::Consultation,
            clinics: vec![OrgId::new(clinic).unwrap()],
            vouchers: vouchers.clone(),
            value_date: today,
            expires_at_ms: server::log::now_ms() + 3_600_000,
        },
    )
    .await;
    for voucher in &vouchers[..2] {
        submit(clinic, Body::VoucherRedemption { voucher: *voucher, evidence: None }).await;
    }
    let settled = vouchers[..2].to_vec();
    submit(ngo, Body::VoucherSettlement { clinic: OrgId::new(clinic).unwrap(), vouchers: settled, value_date: today })
        .await;
    // 100.00 EUR into USDC at 1.0835: 54.175 USDC is worth 50.00 EUR at that conversion.
    let rate: Rate = "1.0835".parse().unwrap();
    submit(
        ngo,
        Body::Conversion {
            from_asset: eur.clone(),
            from_amount: Amount(10_000),
            to_asset: usdc.clone(),
            to_amount: Amount(rate.convert(10_000, 2, 6).unwrap()),
            rate,
            rate_source: "ECB".into(),
            value_date: today,
        },
    )
    .await;
    // A gift of 54.175 USDC, free of earmarks, spent at once.
    submit(
        ngo,
        Body::Donation {
            donor: Donor::Anonymous(Commitment(rand::random())),
            asset: usdc.clone(),
            amount: Amount(54_175_000),
            value_date: today,
            earmark: None,
            external_reference: None,
        },
    )
    .await;
    submit(
        ngo,
        Body::Spend {
            asset: usdc,
            amount: Amount(54_175_000),
            value_date: today,
            category: Category::Medicine,
            recipient: Recipient::Beneficiary(Commitment(rand::random())),
            programme: None,
            evidence: None,
            description: String::new(),
        },
    )
    .await;

    let xml = service.get("/api/v1/exports/iati.xml?organisation=medecins-solidaires").await.text();
    xmllint_validates(&xml);
    let general = transactions_of(&xml, "FR-RNA-W751000201-general");
    let refund: Vec<_> = general.iter().filter(|t| t.3.starts_with("Refund to the donor")).collect();
    assert_eq!(refund.len(), 1, "{general:?}");
    assert_eq!((refund[0].0.as_str(), refund[0].1.as_str(), refund[0].2.as_str()), ("1", "-300.00", "EUR"));
    let token: Vec<_> = general.iter().filter(|t| t.3.contains("USDC")).collect();
    assert_eq!(token.len(), 2, "{general:?}");
    for (transaction, code) in token.iter().zip(["1", "4"]) {
        assert_eq!((transaction.0.as_str(), transaction.1.as_str(), transaction.2.as_str()), (code, "50.00", "EUR"));
        assert!(transaction.3.contains("54.175000 USDC, valued at the rate of the conversion of"), "{transaction:?}");
    }
    let programme = transactions_of(&xml, "FR-RNA-W751000201-kivu-primary-health");
    let settlement: Vec<_> = programme.iter().filter(|t| t.3.starts_with("Settlement of 2 health vouchers")).collect();
    assert_eq!(settlement.len(), 1, "{programme:?}");
    assert_eq!(
        settlement[0],
        &(
            "4".to_string(),
            "50.00".to_string(),
            "EUR".to_string(),
            settlement[0].3.clone(),
            Some("CD-RCCM-GOM-2018-B-0101".to_string())
        )
    );
}
