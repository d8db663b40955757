//! The money and authority rules: every rejection, tested through the path the log service takes
//! (sign, verify, apply), with the check that a rejected entry changes nothing.

use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Country, Donor, Earmark, Entry, EntryId,
    ProgrammeId, PublicKey, Recipient, Rejection, Role, SignedEntry, State, check_clock,
};

use crate::support::{OPERATOR, ORIGIN, World, commitment, date, eur, key_for, org, public};

#[test]
fn the_first_entry_must_be_a_genesis_signed_by_its_operator_key() {
    let mut world = World::new();
    world.state = State::new();
    world.reject(
        OPERATOR,
        Body::DeclareAsset { asset: eur(), decimals: 2, asset_kind: AssetKind::Fiat },
        "genesis_required",
    );
    world.reject_as(
        OPERATOR,
        "someone-else",
        Body::Genesis { origin: ORIGIN.into(), operator: org(OPERATOR), operator_key: public(OPERATOR) },
        "genesis_key_mismatch",
    );
    // A small-order point (the identity) can never be the operator's key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let entry = Entry {
        entry_id: EntryId([9; 16]),
        author: org(OPERATOR),
        timestamp_ms: 1,
        body: Body::Genesis { origin: ORIGIN.into(), operator: org(OPERATOR), operator_key: PublicKey(identity) },
    };
    let signed = SignedEntry::from_parts(entry, PublicKey(identity), [0; 64]).unwrap();
    let rejection = world.submit(signed).unwrap_err();
    assert_eq!(rejection.code(), "bad_signer_key");
}

#[test]
fn a_second_genesis_is_refused() {
    let mut world = World::standard();
    world.reject(
        OPERATOR,
        Body::Genesis { origin: ORIGIN.into(), operator: org(OPERATOR), operator_key: public(OPERATOR) },
        "genesis_repeated",
    );
}

#[test]
fn resubmitting_the_same_entry_is_idempotent_and_a_different_one_with_its_id_conflicts() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    let signed = world.sign_as("ngo-a", "ngo-a", World::transfer_body("clinic-goma", 1_000, None));
    let first = world.submit(signed.clone()).unwrap();
    assert!(!first.duplicate);
    let before = world.state.clone();
    let again = world.submit(signed.clone()).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.index, first.index);
    assert_eq!(again.leaf_hash, first.leaf_hash);
    assert!(world.state == before);
    // Same id, different amount.
    let mut entry = signed.entry().clone();
    entry.body = World::transfer_body("clinic-goma", 2_000, None);
    let conflicting = SignedEntry::sign(entry, ORIGIN, &key_for("ngo-a")).unwrap();
    let rejection = world.submit(conflicting).unwrap_err();
    assert_eq!(rejection.code(), "id_conflict");
    assert!(world.state == before);
}

#[test]
fn only_registered_authors_with_their_current_key_are_heard() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    world.reject("nobody", World::transfer_body("clinic-goma", 100, None), "unknown_author");
    // ngo-b signs a transfer that claims to come from ngo-a: the key is not ngo-a's.
    world.reject_as("ngo-a", "ngo-b", World::transfer_body("clinic-goma", 100, None), "unknown_key");
    // Rotation: the old key is refused afterwards with a specific message.
    world.ok("ngo-a", Body::KeyRotation { organisation: org("ngo-a"), new_key: public("ngo-a-2") });
    world.reject_as("ngo-a", "ngo-a", World::transfer_body("clinic-goma", 100, None), "rotated_key");
    world.ok_as_signer("ngo-a", "ngo-a-2", World::transfer_body("clinic-goma", 100, None));
    // Revocation without replacement leaves no active key.
    world.ok_as_signer(
        "ngo-a",
        "ngo-a-2",
        Body::KeyRevocation {
            organisation: org("ngo-a"),
            revoked_key: public("ngo-a-2"),
            replacement_key: None,
            reason: "laptop stolen".into(),
        },
    );
    world.reject_as("ngo-a", "ngo-a-2", World::transfer_body("clinic-goma", 100, None), "revoked_key");
    world.reject_as("ngo-a", "ngo-b", World::transfer_body("clinic-goma", 100, None), "no_active_key");
    // The operator recovers the organisation with a new key.
    world.ok(OPERATOR, Body::KeyRotation { organisation: org("ngo-a"), new_key: public("ngo-a-3") });
    world.ok_as_signer("ngo-a", "ngo-a-3", World::transfer_body("clinic-goma", 100, None));
}

#[test]
fn key_rules_refuse_weak_reused_foreign_and_twice_revoked_keys() {
    let mut world = World::standard();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    world.reject("ngo-a", Body::KeyRotation { organisation: org("ngo-a"), new_key: PublicKey(identity) }, "bad_key");
    world.reject("ngo-a", Body::KeyRotation { organisation: org("ngo-a"), new_key: public("ngo-b") }, "key_in_use");
    world.reject("ngo-a", Body::KeyRotation { organisation: org("ngo-b"), new_key: public("fresh") }, "not_entitled");
    world.reject(
        "ngo-a",
        Body::KeyRevocation {
            organisation: org("ngo-a"),
            revoked_key: public("ngo-b"),
            replacement_key: None,
            reason: String::new(),
        },
        "key_not_owned",
    );
    world.ok("ngo-a", Body::KeyRotation { organisation: org("ngo-a"), new_key: public("ngo-a-2") });
    world.ok(
        OPERATOR,
        Body::KeyRevocation {
            organisation: org("ngo-a"),
            revoked_key: public("ngo-a"),
            replacement_key: None,
            reason: "old key leaked".into(),
        },
    );
    world.reject(
        OPERATOR,
        Body::KeyRevocation {
            organisation: org("ngo-a"),
            revoked_key: public("ngo-a"),
            replacement_key: None,
            reason: String::new(),
        },
        "key_already_revoked",
    );
    // Registering an organisation with a weak key is refused too.
    world.reject(
        OPERATOR,
        Body::RegisterOrganisation {
            organisation: org("weak"),
            role: Role::Clinic,
            name: "Weak".into(),
            country: "CD".parse().unwrap(),
            iati_identifier: None,
            attribution_policy: AttributionPolicy::Fifo,
            public_key: PublicKey(identity),
        },
        "bad_key",
    );
}

#[test]
fn the_operator_key_rotates_with_an_entry_signed_by_the_current_one() {
    let mut world = World::standard();
    world.ok(OPERATOR, Body::OperatorKeyRotation { new_key: public("operator-2") });
    world.reject(
        OPERATOR,
        Body::DeclareAsset { asset: AssetCode::new("USD").unwrap(), decimals: 2, asset_kind: AssetKind::Fiat },
        "rotated_key",
    );
    world.ok_as_signer(
        OPERATOR,
        "operator-2",
        Body::DeclareAsset { asset: AssetCode::new("USD").unwrap(), decimals: 2, asset_kind: AssetKind::Fiat },
    );
    world.reject("ngo-a", Body::OperatorKeyRotation { new_key: public("evil") }, "not_entitled");
}

#[test]
fn only_the_operator_registers_organisations_and_declares_assets() {
    let mut world = World::standard();
    world.reject(
        "ngo-a",
        Body::RegisterOrganisation {
            organisation: org("friend"),
            role: Role::Clinic,
            name: "Friend".into(),
            country: "CD".parse().unwrap(),
            iati_identifier: None,
            attribution_policy: AttributionPolicy::Fifo,
            public_key: public("friend"),
        },
        "not_entitled",
    );
    world.reject(
        "ngo-a",
        Body::DeclareAsset { asset: AssetCode::new("USD").unwrap(), decimals: 2, asset_kind: AssetKind::Fiat },
        "not_entitled",
    );
    world.reject(
        OPERATOR,
        Body::DeclareAsset { asset: eur(), decimals: 2, asset_kind: AssetKind::Fiat },
        "asset_exists",
    );
    world.reject(
        OPERATOR,
        Body::RegisterOrganisation {
            organisation: org("ngo-a"),
            role: Role::Ngo,
            name: "Again".into(),
            country: "FR".parse().unwrap(),
            iati_identifier: None,
            attribution_policy: AttributionPolicy::Fifo,
            public_key: public("ngo-a-again"),
        },
        "organisation_exists",
    );
}

#[test]
fn programmes_are_declared_once_by_ngos() {
    let mut world = World::standard();
    let body = |id: &str| Body::DeclareProgramme {
        programme: ProgrammeId::new(id).unwrap(),
        name: "Programme".into(),
        countries: vec!["CD".parse().unwrap()],
        sector: "12220".into(),
        iati_identifier: None,
    };
    world.reject("ngo-a", body("kivu-health"), "programme_exists");
    world.reject("clinic-goma", body("clinic-programme"), "wrong_role");
    world.reject(OPERATOR, body("operator-programme"), "not_entitled");
}

#[test]
fn donations_need_a_receiving_ngo_a_known_donor_a_declared_asset_and_a_real_amount() {
    let mut world = World::standard();
    let donation = |donor: &str, asset: &str, amount: u128, earmark: Option<Earmark>| Body::Donation {
        donor: Donor::Organisation(org(donor)),
        asset: AssetCode::new(asset).unwrap(),
        amount: Amount(amount),
        value_date: date("2026-01-01"),
        earmark,
        external_reference: None,
    };
    world.reject("fondation-x", donation("fondation-x", "EUR", 100, None), "not_entitled");
    world.reject("ngo-a", donation("ngo-b", "EUR", 100, None), "wrong_role");
    world.reject("ngo-a", donation("ghost", "EUR", 100, None), "unknown_organisation");
    world.reject("ngo-a", donation("fondation-x", "XOF", 100, None), "unknown_asset");
    world.reject("ngo-a", donation("fondation-x", "EUR", 0, None), "zero_amount");
    world.reject(
        "ngo-a",
        donation("fondation-x", "EUR", 100, Some(Earmark::Programme(ProgrammeId::new("nowhere").unwrap()))),
        "unknown_programme",
    );
    world.reject("ngo-a", donation("fondation-x", "EUR", 100, Some(Earmark::Clinic(org("ngo-b")))), "wrong_role");
    world.ok("ngo-a", donation("fondation-x", "EUR", u128::MAX, None));
    world.reject("ngo-a", donation("fondation-x", "EUR", 1, None), "amount_overflow");
}

#[test]
fn no_balance_goes_negative() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    world.reject("ngo-a", World::transfer_body("clinic-goma", 10_001, None), "overspend");
    world.reject("ngo-b", World::transfer_body("clinic-goma", 1, None), "overspend");
    world.transfer("ngo-a", "clinic-goma", 10_000);
    let body = world.spend_body(1, Category::Medicine, None);
    world.reject("ngo-a", body, "overspend");
    let body = world.spend_body(10_001, Category::Medicine, None);
    world.reject("clinic-goma", body, "overspend");
    world.spend("clinic-goma", 10_000);
    assert_eq!(world.balance("clinic-goma"), 0);
}

#[test]
fn transfers_go_only_to_other_fund_holding_organisations() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    world.reject("ngo-a", World::transfer_body("ngo-a", 100, None), "self_transfer");
    world.reject("ngo-a", World::transfer_body("pharma-supply", 100, None), "wrong_role");
    world.reject("ngo-a", World::transfer_body("ghost", 100, None), "unknown_organisation");
    world.reject("ngo-a", World::transfer_body("clinic-goma", 0, None), "zero_amount");
    world.reject("ngo-a", World::transfer_body("clinic-goma", 100, Some("nowhere")), "unknown_programme");
    world.reject("audit-co", World::transfer_body("clinic-goma", 100, None), "not_entitled");
}

#[test]
fn earmarked_money_is_used_only_for_its_earmark() {
    let mut world = World::standard();
    world.donate("ngo-a", 5_000, Some(Earmark::Clinic(org("clinic-goma"))));
    world.donate("ngo-a", 3_000, Some(Earmark::Country("ML".parse::<Country>().unwrap())));
    world.donate("ngo-a", 2_000, Some(Earmark::Programme(ProgrammeId::new("kivu-health").unwrap())));
    // Only the Goma earmark fits a transfer to Bukavu? None: Bukavu is in CD but not the programme nor Goma.
    world.reject("ngo-a", World::transfer_body("clinic-bukavu", 1, None), "earmark_violation");
    // With the programme named, the programme lot is eligible.
    world.ok("ngo-a", World::transfer_body("clinic-bukavu", 2_000, Some("kivu-health")));
    world.reject("ngo-a", World::transfer_body("clinic-bukavu", 1, Some("kivu-health")), "earmark_violation");
    // Goma gets only the Goma lot; Bamako (ML) only the Mali lot.
    world.reject("ngo-a", World::transfer_body("clinic-goma", 5_001, None), "earmark_violation");
    world.ok("ngo-a", World::transfer_body("clinic-goma", 5_000, None));
    world.ok("ngo-a", World::transfer_body("clinic-bamako", 3_000, None));
    // An NGO spending money earmarked for a clinic is refused even though it holds it.
    world.donate("ngo-a", 700, Some(Earmark::Clinic(org("clinic-goma"))));
    let body = world.spend_body(1, Category::Administration, None);
    world.reject("ngo-a", body, "earmark_violation");
    // Money passes through an intermediary NGO with its earmark and is still honoured there.
    world.ok("ngo-a", World::transfer_body("ngo-b", 700, None));
    world.reject("ngo-b", World::transfer_body("clinic-bukavu", 1, None), "earmark_violation");
    world.ok("ngo-b", World::transfer_body("clinic-goma", 700, None));
    // At the clinic, Goma spends its earmarked money; the programme money at Bukavu needs the programme named.
    world.spend("clinic-goma", 5_700);
    let body = world.spend_body(1, Category::Medicine, None);
    world.reject("clinic-bukavu", body, "earmark_violation");
    let body = world.spend_body(2_000, Category::Medicine, Some("kivu-health"));
    world.ok("clinic-bukavu", body);
}

#[test]
fn a_beneficiary_commitment_is_used_once() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    world.transfer("ngo-a", "clinic-goma", 10_000);
    let spend = |commitment| Body::Spend {
        asset: eur(),
        amount: Amount(100),
        value_date: date("2026-01-12"),
        category: Category::Consultation,
        recipient: Recipient::Beneficiary(commitment),
        programme: None,
        evidence: None,
        description: String::new(),
    };
    world.ok("clinic-goma", spend(commitment(777)));
    world.reject("clinic-goma", spend(commitment(777)), "commitment_reused");
    // Paying a supplier needs a registered supplier.
    let to_supplier = |supplier: &str| Body::Spend {
        asset: eur(),
        amount: Amount(100),
        value_date: date("2026-01-12"),
        category: Category::Medicine,
        recipient: Recipient::Supplier(org(supplier)),
        programme: None,
        evidence: None,
        description: "malaria kits".into(),
    };
    world.ok("clinic-goma", to_supplier("pharma-supply"));
    world.reject("clinic-goma", to_supplier("ngo-a"), "wrong_role");
}

#[test]
fn acknowledgements_are_by_the_receiver_once() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    let donation = world.entry_id_at(world.state.size() - 1);
    let transfer = world.transfer("ngo-a", "clinic-goma", 1_000);
    let transfer_id = world.entry_id_at(transfer);
    assert_eq!(world.state.open_transfers().len(), 1);
    world.reject("clinic-bukavu", Body::Acknowledgement { transfer: transfer_id }, "not_a_transfer_to_you");
    world.reject("clinic-goma", Body::Acknowledgement { transfer: donation }, "not_a_transfer_to_you");
    world.reject("clinic-goma", Body::Acknowledgement { transfer: EntryId([0xee; 16]) }, "unknown_entry");
    world.ok("clinic-goma", Body::Acknowledgement { transfer: transfer_id });
    assert!(world.state.open_transfers().is_empty());
    world.reject("clinic-goma", Body::Acknowledgement { transfer: transfer_id }, "already_acknowledged");
    // The receiver could use the money before acknowledging it.
    let second = world.transfer("ngo-a", "clinic-goma", 500);
    world.spend("clinic-goma", 1_500);
    assert_eq!(world.state.open_transfers()[0].entry_index, second);
}

fn pledge_body(expires_at_ms: u64) -> Body {
    Body::Pledge {
        to: org("clinic-goma"),
        asset: eur(),
        amount: Amount(4_000),
        value_date: date("2026-02-01"),
        verifier: org("audit-co"),
        result: "500 children vaccinated against measles".into(),
        expires_at_ms,
        programme: None,
    }
}

#[test]
fn a_pledge_is_released_only_after_its_verifier_attests() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    let expiry = world.clock_ms + 100_000;
    let pledge = world.ok("ngo-a", pledge_body(expiry));
    let pledge_id = world.entry_id_at(pledge);
    assert_eq!(world.balance("ngo-a"), 6_000);
    // Reserved money cannot be spent twice.
    world.reject("ngo-a", World::transfer_body("clinic-goma", 6_001, None), "overspend");
    world.reject("ngo-a", Body::PledgeRelease { pledge: pledge_id }, "pledge_not_attested");
    world.reject(
        "clinic-goma",
        Body::Attestation { pledge: pledge_id, statement: String::new(), evidence: None },
        "not_entitled",
    );
    world.reject("ngo-a", Body::PledgeVoid { pledge: pledge_id }, "pledge_not_expired");
    world
        .ok("audit-co", Body::Attestation { pledge: pledge_id, statement: "checked registers".into(), evidence: None });
    world.reject(
        "audit-co",
        Body::Attestation { pledge: pledge_id, statement: String::new(), evidence: None },
        "pledge_already_attested",
    );
    world.reject("audit-co", Body::PledgeRelease { pledge: pledge_id }, "not_entitled");
    world.ok("clinic-goma", Body::PledgeRelease { pledge: pledge_id });
    assert_eq!(world.balance("clinic-goma"), 4_000);
    world.reject("ngo-a", Body::PledgeRelease { pledge: pledge_id }, "pledge_released");
    world.reject("ngo-a", Body::PledgeVoid { pledge: pledge_id }, "pledge_released");
    let transfer = world.entry_id_at(world.state.size() - 1);
    world.reject("ngo-a", Body::PledgeRelease { pledge: transfer }, "not_a_pledge");
}

#[test]
fn an_expired_pledge_is_voided_by_its_pledger_and_cannot_be_attested_or_released() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    world.reject("ngo-a", pledge_body(world.clock_ms), "pledge_expiry_in_past");
    let mut bad_verifier = pledge_body(world.clock_ms + 10_000_000);
    if let Body::Pledge { verifier, .. } = &mut bad_verifier {
        *verifier = org("clinic-goma");
    }
    world.reject("ngo-a", bad_verifier, "not_entitled");
    let expiry = world.clock_ms + 5_000;
    let pledge = world.ok("ngo-a", pledge_body(expiry));
    let pledge_id = world.entry_id_at(pledge);
    world.clock_ms = expiry + 1;
    world.reject(
        "audit-co",
        Body::Attestation { pledge: pledge_id, statement: String::new(), evidence: None },
        "pledge_expired",
    );
    world.reject("clinic-goma", Body::PledgeVoid { pledge: pledge_id }, "not_entitled");
    world.ok("ngo-a", Body::PledgeVoid { pledge: pledge_id });
    assert_eq!(world.balance("ngo-a"), 10_000);
    world.reject("ngo-a", Body::PledgeRelease { pledge: pledge_id }, "pledge_voided");
    world.reject("ngo-a", Body::PledgeVoid { pledge: pledge_id }, "pledge_voided");
    world.reject(
        "audit-co",
        Body::Attestation { pledge: pledge_id, statement: String::new(), evidence: None },
        "pledge_voided",
    );
}

#[test]
fn an_attested_pledge_cannot_be_voided() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000, None);
    let expiry = world.clock_ms + 5_000;
    let pledge_id = {
        let index = world.ok("ngo-a", pledge_body(expiry));
        world.entry_id_at(index)
    };
    world.ok("audit-co", Body::Attestation { pledge: pledge_id, statement: String::new(), evidence: None });
    world.clock_ms = expiry + 1;
    world.reject("ngo-a", Body::PledgeVoid { pledge: pledge_id }, "pledge_already_attested");
}

#[test]
fn reversals_return_exactly_the_lots_and_only_when_the_money_has_not_moved_on() {
    let mut world = World::standard();
    let donation = world.donate("ngo-a", 10_000, None);
    let donation_id = world.entry_id_at(donation);
    let transfer = world.transfer("ngo-a", "clinic-goma", 4_000);
    let transfer_id = world.entry_id_at(transfer);
    let spend = world.spend("clinic-goma", 1_000);
    let spend_id = world.entry_id_at(spend);
    let reverse = |target: EntryId| Body::Reversal { target, reason: "recorded twice by mistake".into() };
    world.reject("ngo-a", reverse(EntryId([0xab; 16])), "unknown_entry");
    world.reject("ngo-a", reverse(spend_id), "not_entitled");
    world.reject("ngo-a", reverse(world.entry_id_at(1)), "not_entitled");
    // The transfer's money was partly spent: reverse the spend first.
    world.reject("ngo-a", reverse(transfer_id), "money_moved_on");
    world.reject("ngo-a", reverse(donation_id), "money_moved_on");
    world.ok("clinic-goma", reverse(spend_id));
    assert_eq!(world.balance("clinic-goma"), 4_000);
    world.reject("clinic-goma", reverse(spend_id), "already_reversed");
    world.ok("ngo-a", reverse(transfer_id));
    assert_eq!(world.balance("ngo-a"), 10_000);
    assert_eq!(world.balance("clinic-goma"), 0);
    assert!(world.state.open_transfers().is_empty());
    world.reject("clinic-goma", Body::Acknowledgement { transfer: transfer_id }, "already_reversed");
    world.ok("ngo-a", reverse(donation_id));
    assert_eq!(world.balance("ngo-a"), 0);
    let reversal_id = world.entry_id_at(world.state.size() - 1);
    world.reject("ngo-a", reverse(reversal_id), "not_reversible");
    let totals = world.state.asset_totals(&eur()).unwrap();
    assert_eq!((totals.donated, totals.returned, totals.spent, totals.held), (10_000, 10_000, 0, 0));
}

#[test]
fn a_reversed_transfer_restores_the_senders_fifo_order() {
    let mut world = World::standard();
    let first = world.donate("ngo-a", 1_000, None);
    let second = world.donate("ngo-a", 1_000, None);
    let transfer = world.transfer("ngo-a", "clinic-goma", 1_500);
    world.ok("ngo-a", Body::Reversal { target: world.entry_id_at(transfer), reason: "wrong clinic".into() });
    // FIFO again takes the first donation first, as if the transfer never happened.
    let again = world.transfer("ngo-a", "clinic-bukavu", 1_200);
    let trace = world.state.forward_trace(&world.entry_id_at(first)).unwrap();
    let to_bukavu: u128 = trace.hops.iter().filter(|hop| hop.entry_index == again).map(|hop| hop.amount).sum();
    assert_eq!(to_bukavu, 1_000);
    let trace = world.state.forward_trace(&world.entry_id_at(second)).unwrap();
    assert_eq!(trace.hops.iter().filter(|hop| hop.entry_index == again).map(|hop| hop.amount).sum::<u128>(), 200);
}

#[test]
fn timestamps_never_go_back_for_one_author_and_the_clock_check_bounds_the_future() {
    let mut world = World::standard();
    world.donate("ngo-a", 1_000, None);
    world.clock_ms -= 10_000;
    world.reject("ngo-a", World::transfer_body("clinic-goma", 10, None), "timestamp_regression");
    // Another author is not held to ngo-a's clock.
    world.donate("ngo-b", 1_000, None);
}

#[test]
fn the_clock_check_allows_five_minutes_of_skew() {
    let now = 1_800_000_000_000;
    assert!(check_clock(now + 5 * 60 * 1000, now).is_ok());
    let rejection = check_clock(now + 5 * 60 * 1000 + 1, now).unwrap_err();
    assert_eq!(rejection.code(), "timestamp_in_future");
    assert!(check_clock(u64::MAX, u64::MAX).is_ok());
}

#[test]
fn an_entry_too_large_for_a_tile_bundle_is_refused_when_signed_and_when_decoded() {
    let mut world = World::standard();
    let description = "x".repeat(1_000);
    let entry = Entry {
        entry_id: EntryId([1; 16]),
        author: org("ngo-a"),
        timestamp_ms: 1,
        body: Body::Transfer {
            to: org("clinic-goma"),
            asset: eur(),
            amount: Amount(1),
            value_date: date("2026-01-01"),
            programme: None,
            purpose: description,
        },
    };
    assert!(SignedEntry::sign(entry, ORIGIN, &key_for("ngo-a")).is_ok());
    let too_large = vec![0u8; 65_536];
    let error = SignedEntry::decode(&too_large).unwrap_err();
    assert_eq!(Rejection::from(error).code(), "entry_too_large");
    let _ = &mut world;
}

#[test]
fn a_genesis_must_name_the_log_it_is_signed_for() {
    let mut world = World::new();
    world.state = State::new();
    let signed = world.sign_as(
        OPERATOR,
        OPERATOR,
        Body::Genesis {
            origin: "other.example.org/log".into(),
            operator: org(OPERATOR),
            operator_key: public(OPERATOR),
        },
    );
    assert_eq!(world.submit(signed).unwrap_err().code(), "origin_mismatch");
    assert_eq!(world.state.size(), 0);
}
