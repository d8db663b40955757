//! Field operations: conversions, refunds, auditor sign-offs and health vouchers — each rule, each rejection,
//! and what traces show of them.

use ledger::{
    Amount, AssetCode, AssetKind, Body, Category, Digest, Donor, Earmark, Entry, EntryId, ProgrammeId, Rate, VoucherId,
};

use crate::support::{OPERATOR, World, date, eur, org};

fn usd() -> AssetCode {
    AssetCode::new("USD").unwrap()
}

fn world() -> World {
    let mut world = World::standard();
    world.ok(OPERATOR, Body::DeclareAsset { asset: usd(), decimals: 2, asset_kind: AssetKind::Fiat });
    world
}

fn conversion(from: AssetCode, from_amount: u128, to: AssetCode, to_amount: u128, rate: &str) -> Body {
    Body::Conversion {
        from_asset: from,
        from_amount: Amount(from_amount),
        to_asset: to,
        to_amount: Amount(to_amount),
        rate: rate.parse().unwrap(),
        rate_source: "ECB euro reference rate".into(),
        value_date: date("2026-01-15"),
    }
}

fn refund(donation: EntryId, amount: u128) -> Body {
    Body::Refund {
        donation,
        asset: eur(),
        amount: Amount(amount),
        value_date: date("2026-01-20"),
        reason: "programme closed early".into(),
    }
}

fn balance_in(world: &World, id: &str, asset: &AssetCode) -> u128 {
    let profile = world.state.organisation_profile(&org(id)).unwrap();
    profile.balances.iter().find(|balance| &balance.asset == asset).map_or(0, |balance| balance.available)
}

#[test]
fn rates_round_to_the_nearest_minor_unit_halves_up() {
    let rate = |text: &str| text.parse::<Rate>().unwrap();
    assert_eq!(rate("1.0835").convert(10_000, 2, 2), Some(10_835));
    assert_eq!(rate("1.0835").convert(5, 2, 2), Some(5)); // 5.4175 cents
    assert_eq!(rate("0.5").convert(1, 2, 2), Some(1)); // exactly half a cent rounds up
    assert_eq!(rate("0.5").convert(3, 2, 2), Some(2)); // 1.5 rounds up
    assert_eq!(rate("0.49").convert(1, 2, 2), Some(0));
    assert_eq!(rate("655.957").convert(100, 2, 0), Some(656)); // 1.00 EUR to a 0-decimal currency
    assert_eq!(rate("1").convert(1, 2, 6), Some(10_000)); // cents to micro-units
    assert_eq!(rate("2").convert(u128::MAX, 2, 2), None);
    // One way to write each rate.
    for bad in ["1.50", "01.5", ".5", "1.", "0", "0.0", "-1", "1e3", "1.0000000000000000001", "10000000000000000000"] {
        assert!(bad.parse::<Rate>().is_err(), "{bad} should not parse");
    }
    assert_eq!(rate("0.000001").to_string(), "0.000001");
    assert_eq!(rate("655.957").to_string(), "655.957");
    assert_eq!(Rate::new(15, 1).unwrap().to_string(), "1.5");
    assert!(Rate::new(150, 2).is_err());
}

#[test]
fn a_conversion_states_both_legs_exactly_and_keeps_origins_and_earmarks() {
    let mut world = world();
    let first = world.donate("ngo-b", 3_000, Some(Earmark::Clinic(org("clinic-goma"))));
    let second = world.donate("ngo-b", 7_001, None);
    world.reject("ngo-b", conversion(eur(), 10_001, eur(), 10_001, "1"), "conversion_same_asset");
    world.reject("ngo-b", conversion(eur(), 10_001, usd(), 10_837, "1.0835"), "conversion_mismatch");
    world.reject("ngo-b", conversion(eur(), 0, usd(), 0, "1.0835"), "zero_amount");
    world.reject("ngo-b", conversion(eur(), 1, usd(), 0, "0.1"), "zero_amount");
    world.reject("ngo-b", conversion(eur(), 10_002, usd(), 10_837, "1.0835"), "overspend");
    world.reject("ngo-b", conversion(eur(), 10, AssetCode::new("XOF").unwrap(), 10, "1"), "unknown_asset");
    world.reject("audit-co", conversion(eur(), 100, usd(), 108, "1.0835"), "not_entitled");
    // 100.01 EUR at 1.0835 is 108.360835 USD: 10,836 cents.
    world.ok("ngo-b", conversion(eur(), 10_001, usd(), 10_836, "1.0835"));
    assert_eq!(balance_in(&world, "ngo-b", &eur()), 0);
    assert_eq!(balance_in(&world, "ngo-b", &usd()), 10_836);
    // ngo-b is pro rata: 3,000 and 7,001 of 10,001 become 3,250.4... and 7,585.5...: largest remainder.
    let first_trace = world.state.forward_trace(&world.entry_id_at(first)).unwrap();
    let second_trace = world.state.forward_trace(&world.entry_id_at(second)).unwrap();
    assert_eq!(first_trace.positions[1].received + second_trace.positions[1].received, 10_836);
    assert_eq!(first_trace.converted, 3_000);
    assert_eq!(first_trace.positions[1].received, 3_250);
    assert_eq!(second_trace.positions[1].received, 7_586);
    let hop = first_trace.hops.last().unwrap();
    assert_eq!(hop.kind, ledger::Kind::Conversion);
    assert_eq!(hop.converted_into.as_ref().unwrap().amount, 3_250);
    // The Goma earmark travelled into USD: only a transfer to Goma may use that part.
    let usd_transfer = |to: &str, amount: u128| Body::Transfer {
        to: org(to),
        asset: usd(),
        amount: Amount(amount),
        value_date: date("2026-01-16"),
        programme: None,
        purpose: String::new(),
    };
    world.reject("ngo-b", usd_transfer("clinic-bukavu", 7_587), "earmark_violation");
    world.ok("ngo-b", usd_transfer("clinic-bukavu", 7_586));
    world.ok("ngo-b", usd_transfer("clinic-goma", 3_250));
    let totals = world.state.asset_totals(&usd()).unwrap();
    assert_eq!((totals.converted_in, totals.held), (10_836, 10_836));
    assert_eq!(world.state.asset_totals(&eur()).unwrap().converted_out, 10_001);
    // Conversions are corrected by converting back, not by reversal.
    let conversion_index = world.ok("clinic-goma", conversion(usd(), 3_250, eur(), 3_000, "0.9231"));
    let id = world.entry_id_at(conversion_index);
    world.reject("clinic-goma", Body::Reversal { target: id, reason: "oops".into() }, "not_reversible");
}

#[test]
fn a_refund_takes_back_only_its_own_donations_lots() {
    let mut world = world();
    let gift = world.donate("ngo-a", 5_000, Some(Earmark::Programme(ProgrammeId::new("kivu-health").unwrap())));
    let other = world.donate("ngo-a", 4_000, None);
    let gift_id = world.entry_id_at(gift);
    world.reject("ngo-a", refund(gift_id, 5_001), "refund_exceeds_holding");
    world.reject("ngo-b", refund(gift_id, 1), "refund_exceeds_holding");
    world.reject("ngo-a", refund(gift_id, 0), "zero_amount");
    world.reject("audit-co", refund(gift_id, 1), "not_entitled");
    let transfer = world.transfer("ngo-a", "ngo-b", 6_000); // FIFO: all 5,000 of the gift, 1,000 of the other
    world.reject("ngo-a", refund(world.entry_id_at(transfer), 1), "not_a_donation");
    world.reject("ngo-a", refund(gift_id, 1), "refund_exceeds_holding");
    // The receiving NGO refunds the unspent earmarked money; the other donation's lots stay.
    world.ok("ngo-b", refund(gift_id, 2_000));
    let trace = world.state.forward_trace(&gift_id).unwrap();
    assert_eq!((trace.returned, trace.held), (2_000, 3_000));
    let last = trace.hops.last().unwrap();
    assert_eq!(last.kind, ledger::Kind::Refund);
    assert_eq!(last.to, ledger::trace::Party::Donor("fondation-x".into()));
    let other_trace = world.state.forward_trace(&world.entry_id_at(other)).unwrap();
    assert_eq!(other_trace.held, 4_000);
    assert_eq!(world.state.asset_totals(&eur()).unwrap().refunded, 2_000);
    // A reversed donation cannot be refunded.
    let small = world.donate("ngo-a", 100, None);
    let small_id = world.entry_id_at(small);
    world.ok("ngo-a", Body::Reversal { target: small_id, reason: "duplicate".into() });
    world.reject("ngo-a", refund(small_id, 100), "already_reversed");
}

#[test]
fn a_donors_trace_shows_the_share_of_administration_and_bank_fees() {
    let mut world = world();
    let gift = world.donate("ngo-a", 10_000, None);
    for (amount, category) in [(700, Category::Administration), (50, Category::BankFees), (9_250, Category::Medicine)] {
        let body = world.spend_body(amount, category, None);
        world.ok("ngo-a", body);
    }
    let trace = world.state.forward_trace(&world.entry_id_at(gift)).unwrap();
    assert_eq!(trace.positions[0].overheads, 750);
    assert_eq!(trace.positions[0].spent, 10_000);
}

fn sign_off(organisation: &str, tree_size: u64) -> Body {
    Body::AccountsSignOff {
        organisation: org(organisation),
        tree_size,
        period_start: date("2026-01-01"),
        period_end: date("2026-03-31"),
        report: Digest([0x5a; 32]),
        opinion: "unqualified".into(),
    }
}

#[test]
fn only_an_auditor_signs_off_accounts_up_to_a_size_the_log_had() {
    let mut world = world();
    let size = world.state.size();
    world.reject("audit-co", sign_off("ngo-a", size + 1), "sign_off_beyond_log");
    world.reject("audit-co", sign_off("ngo-a", 0), "sign_off_beyond_log");
    world.reject("audit-co", sign_off("audit-co", size), "not_entitled");
    world.reject("audit-co", sign_off("ghost", size), "unknown_organisation");
    world.reject("ngo-b", sign_off("ngo-a", size), "wrong_role");
    world.reject(OPERATOR, sign_off("ngo-a", size), "not_entitled");
    let index = world.ok("audit-co", sign_off("ngo-a", size));
    let sign_offs = world.state.organisation_profile(&org("ngo-a")).unwrap().sign_offs;
    assert_eq!(sign_offs.len(), 1);
    assert_eq!((sign_offs[0].entry_index, sign_offs[0].tree_size), (index, size));
    assert_eq!(sign_offs[0].auditor, org("audit-co"));
    assert_eq!(world.state.sign_offs_of(&org("audit-co")).len(), 1);
    assert!(world.state.sign_offs_of(&org("ngo-b")).is_empty());
    // The period must not end before it starts (a decoding rule).
    let backwards = Body::AccountsSignOff {
        organisation: org("ngo-a"),
        tree_size: 1,
        period_start: date("2026-04-01"),
        period_end: date("2026-03-31"),
        report: Digest([0; 32]),
        opinion: "x".into(),
    };
    let entry = Entry { entry_id: EntryId([1; 16]), author: org("audit-co"), timestamp_ms: 1, body: backwards };
    assert!(entry.encode().is_err());
}

fn voucher(n: u8) -> VoucherId {
    VoucherId([n; 16])
}

fn issue(vouchers: &[u8], clinics: &[&str], face_value: u128, expires_at_ms: u64) -> Body {
    Body::VoucherIssue {
        programme: ProgrammeId::new("kivu-health").unwrap(),
        asset: eur(),
        face_value: Amount(face_value),
        category: Category::Consultation,
        clinics: clinics.iter().map(|id| org(id)).collect(),
        vouchers: vouchers.iter().map(|&n| voucher(n)).collect(),
        value_date: date("2026-02-01"),
        expires_at_ms,
    }
}

fn redeem(n: u8) -> Body {
    Body::VoucherRedemption { voucher: voucher(n), evidence: None }
}

fn settle(clinic: &str, vouchers: &[u8]) -> Body {
    Body::VoucherSettlement {
        clinic: org(clinic),
        vouchers: vouchers.iter().map(|&n| voucher(n)).collect(),
        value_date: date("2026-02-10"),
    }
}

#[test]
fn vouchers_are_backed_redeemed_once_at_eligible_clinics_settled_and_expire_back() {
    let mut world = world();
    let gift = world.donate("ngo-a", 10_000, Some(Earmark::Programme(ProgrammeId::new("kivu-health").unwrap())));
    let goma_only = world.donate("ngo-a", 1_000, Some(Earmark::Clinic(org("clinic-goma"))));
    let expiry = world.clock_ms + 60_000;
    let both = ["clinic-bukavu", "clinic-goma"];
    // Issuing: an NGO, for its own programme, with enough eligible money, fresh ids, a future expiry.
    world.reject("clinic-goma", issue(&[1], &both, 1_000, expiry), "wrong_role");
    world.reject("ngo-b", issue(&[1], &both, 1_000, expiry), "not_entitled");
    world.reject("ngo-a", issue(&[1], &["pharma-supply"], 1_000, expiry), "wrong_role");
    world.reject("ngo-a", issue(&[1], &["nowhere"], 1_000, expiry), "unknown_organisation");
    world.reject("ngo-a", issue(&[1], &both, 1_000, world.clock_ms), "voucher_expiry_in_past");
    world.reject("ngo-a", issue(&[1, 2], &both, 5_501, expiry), "overspend");
    // The Goma-only lot cannot back vouchers also redeemable at Bukavu.
    world.reject("ngo-a", issue(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], &both, 1_000, expiry), "earmark_violation");
    world.reject("ngo-a", issue(&[1], &both, 0, expiry), "zero_amount");
    let issue_index = world.ok("ngo-a", issue(&[1, 2, 3, 4], &both, 2_500, expiry));
    world.reject("ngo-a", issue(&[4, 5], &both, 1, expiry), "voucher_exists");
    let goma_issue = world.ok("ngo-a", issue(&[9], &["clinic-goma"], 1_000, expiry));
    assert_eq!(balance_in(&world, "ngo-a", &eur()), 0);
    assert_eq!(world.state.asset_totals(&eur()).unwrap().reserved, 11_000);
    // Redeeming: once, by a listed clinic, before expiry.
    world.reject("clinic-bamako", redeem(1), "voucher_clinic_not_eligible");
    world.reject("clinic-goma", redeem(42), "unknown_voucher");
    world.ok("clinic-goma", redeem(1));
    world.reject("clinic-goma", redeem(1), "voucher_wrong_status");
    world.reject("clinic-bukavu", redeem(1), "voucher_wrong_status");
    world.ok("clinic-bukavu", redeem(2));
    world.ok("clinic-goma", redeem(3));
    world.ok("clinic-goma", redeem(9));
    // Settling: by the issuer, redeemed vouchers of one issue, at the clinic that redeemed them.
    world.reject("ngo-b", settle("clinic-goma", &[1]), "not_entitled");
    world.reject("ngo-a", settle("clinic-goma", &[4]), "voucher_wrong_status");
    world.reject("ngo-a", settle("clinic-bukavu", &[1]), "voucher_clinic_not_eligible");
    world.reject("ngo-a", settle("clinic-goma", &[1, 9]), "vouchers_of_several_issues");
    let settlement = world.ok("ngo-a", settle("clinic-goma", &[1, 3]));
    world.reject("ngo-a", settle("clinic-goma", &[1]), "voucher_wrong_status");
    // Expiring: only after the expiry, by the issuer, while some voucher is still unredeemed.
    let issue_id = world.entry_id_at(issue_index);
    world.reject("ngo-a", Body::VoucherExpiry { issue: issue_id }, "vouchers_not_expired");
    world.clock_ms = expiry + 1;
    world.reject("clinic-goma", redeem(4), "voucher_expired");
    world.reject("ngo-b", Body::VoucherExpiry { issue: issue_id }, "not_entitled");
    world.reject("ngo-a", Body::VoucherExpiry { issue: world.entry_id_at(settlement) }, "not_a_voucher_issue");
    world.ok("ngo-a", Body::VoucherExpiry { issue: issue_id });
    world.reject("ngo-a", Body::VoucherExpiry { issue: issue_id }, "nothing_to_expire");
    world.reject("ngo-a", Body::VoucherExpiry { issue: world.entry_id_at(goma_issue) }, "nothing_to_expire");
    // A redeemed voucher is still settled after the expiry.
    world.ok("ngo-a", settle("clinic-bukavu", &[2]));
    world.reject("ngo-a", Body::Reversal { target: issue_id, reason: "x".into() }, "not_reversible");
    // Totals: 4 issued, 3 redeemed and settled, 1 expired back to the issuer.
    let views = world.state.voucher_issues(Some(&org("clinic-bukavu")));
    assert_eq!(views.len(), 1);
    let view = &views[0];
    assert_eq!((view.issued, view.redeemed, view.settled, view.expired, view.reserved), (4, 3, 3, 1, 0));
    assert_eq!(balance_in(&world, "ngo-a", &eur()), 2_500);
    assert_eq!(world.state.voucher(&voucher(2)).unwrap().clinic, Some(org("clinic-bukavu")));
    assert_eq!(world.state.voucher(&voucher(4)).unwrap().status, "expired");
    let programmes = world.state.voucher_programmes();
    assert_eq!(programmes.len(), 1);
    assert_eq!((programmes[0].issued, programmes[0].settled_value), (5, 7_500));
    // The donation's trace goes through the vouchers to the clinics and the service.
    let trace = world.state.forward_trace(&world.entry_id_at(gift)).unwrap();
    assert_eq!((trace.spent, trace.held, trace.reserved), (7_500, 2_500, 0));
    let settled: Vec<_> = trace.hops.iter().filter(|hop| hop.kind == ledger::Kind::VoucherSettlement).collect();
    assert_eq!(settled.len(), 2);
    assert_eq!(settled[0].to, ledger::trace::Party::Organisation(org("clinic-goma")));
    assert_eq!(settled[0].category, Some(Category::Consultation));
    assert!(matches!(settled[0].from, ledger::trace::Party::Vouchers(id) if id == issue_id));
    let goma_trace = world.state.forward_trace(&world.entry_id_at(goma_only)).unwrap();
    assert_eq!(goma_trace.reserved, 1_000, "the Goma voucher is redeemed, not yet settled");
}

#[test]
fn field_entries_decode_only_in_their_canonical_form() {
    let entry = |body: Body| Entry { entry_id: EntryId([2; 16]), author: org("ngo-a"), timestamp_ms: 7, body };
    let conversion = entry(conversion(eur(), 100, usd(), 108, "1.0835"));
    let mut bytes = conversion.encode().unwrap();
    assert_eq!(bytes[0], 2, "a kind of version 2 carries version byte 2");
    bytes[0] = 1;
    assert!(Entry::decode(&bytes).is_err(), "a version-2 kind with version byte 1");
    let donation = entry(Body::Donation {
        donor: Donor::Organisation(org("fondation-x")),
        asset: eur(),
        amount: Amount(1),
        value_date: date("2026-01-01"),
        earmark: None,
        external_reference: None,
    });
    let mut bytes = donation.encode().unwrap();
    assert_eq!(bytes[0], 1, "a kind of version 1 keeps version byte 1");
    bytes[0] = 2;
    assert!(Entry::decode(&bytes).is_err(), "a version-1 kind with version byte 2");
    bytes[0] = 3;
    assert!(Entry::decode(&bytes).is_err(), "an unknown version");
    // A rate with a trailing zero (mantissa 10835 0, scale 5) is not canonical.
    let mut bytes = conversion.encode().unwrap();
    let scale_at = bytes.len() - 4 - "ECB euro reference rate".len() - 1 - 1;
    assert_eq!(bytes[scale_at], 4);
    let mantissa_at = scale_at - 8;
    bytes[mantissa_at..scale_at].copy_from_slice(&108_350u64.to_be_bytes());
    bytes[scale_at] = 5;
    assert!(Entry::decode(&bytes).is_err());
    // Sets are sorted and have no repeats; at least one item.
    for vouchers in [vec![2u8, 1], vec![1, 1], vec![]] {
        let body = Body::VoucherSettlement {
            clinic: org("clinic-goma"),
            vouchers: vouchers.into_iter().map(voucher).collect(),
            value_date: date("2026-01-01"),
        };
        assert!(entry(body).encode().is_err());
    }
    let unsorted_clinics = issue(&[1], &["clinic-goma", "clinic-bukavu"], 1, 10);
    assert!(entry(unsorted_clinics).encode().is_err());
    let too_many = Body::VoucherSettlement {
        clinic: org("clinic-goma"),
        vouchers: (0..1_001u16)
            .map(|n| VoucherId([(n >> 8) as u8, n as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
            .collect(),
        value_date: date("2026-01-01"),
    };
    assert!(entry(too_many).encode().is_err());
}
