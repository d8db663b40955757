//! Fund tracing: a donation followed forward hop by hop, a spend traced back, anonymous donors finding
//! their own gift, and the two attribution policies.

use ledger::trace::Party;
use ledger::{Amount, Body, Category, Donor, Kind, donor_reference};

use crate::support::{World, date, eur, org};

#[test]
fn a_donation_is_followed_through_an_ngo_and_clinics_to_beneficiaries() {
    let mut world = World::standard();
    let donation = world.donate("ngo-a", 10_000, None);
    world.transfer("ngo-a", "ngo-b", 6_000);
    world.transfer("ngo-b", "clinic-goma", 4_000);
    world.spend("clinic-goma", 2_500);
    world.spend("ngo-a", 1_000);
    let trace = world.state.forward_trace(&world.entry_id_at(donation)).unwrap();
    assert_eq!(trace.amount, 10_000);
    assert_eq!((trace.spent, trace.held, trace.reserved, trace.returned), (3_500, 6_500, 0, 0));
    let kinds: Vec<(Kind, u32, u128)> = trace.hops.iter().map(|hop| (hop.kind, hop.depth, hop.amount)).collect();
    assert_eq!(
        kinds,
        vec![
            (Kind::Donation, 0, 10_000),
            (Kind::Transfer, 1, 6_000),
            (Kind::Transfer, 2, 4_000),
            (Kind::Spend, 3, 2_500),
            (Kind::Spend, 1, 1_000),
        ]
    );
    assert!(matches!(trace.hops[3].to, Party::Beneficiary(_)));
    assert_eq!(trace.hops[3].category, Some(Category::Medicine));
    let holders: Vec<(String, u128, u128)> =
        trace.holders.iter().map(|h| (h.organisation.to_string(), h.held, h.spent)).collect();
    assert_eq!(
        holders,
        vec![
            ("ngo-a".to_string(), 3_000, 1_000),
            ("ngo-b".to_string(), 2_000, 0),
            ("clinic-goma".to_string(), 1_500, 2_500),
        ]
    );
}

#[test]
fn a_spend_is_traced_back_to_the_donations_that_paid_for_it_in_fifo_order() {
    let mut world = World::standard();
    let first = world.donate("ngo-a", 1_000, None);
    let second = world.donate("ngo-a", 2_000, None);
    world.transfer("ngo-a", "clinic-goma", 2_500);
    let spend = world.spend("clinic-goma", 1_200);
    let trace = world.state.backward_trace(&world.entry_id_at(spend)).unwrap();
    let sources: Vec<(u64, u128)> = trace.sources.iter().map(|s| (s.donation_index, s.amount)).collect();
    assert_eq!(sources, vec![(first, 1_000), (second, 200)]);
    assert_eq!(trace.sources[0].donor, "fondation-x");
    assert_eq!(trace.spender.as_str(), "clinic-goma");
}

#[test]
fn pro_rata_attribution_splits_by_largest_remainder() {
    let mut world = World::standard();
    // ngo-b attributes pro rata: three equal lots, 10 units out → 4, 3, 3.
    let lots: Vec<u64> = (0..3).map(|_| world.donate("ngo-b", 100, None)).collect();
    let transfer = world.transfer("ngo-b", "clinic-goma", 10);
    let spend = {
        let body = world.spend_body(10, Category::Food, None);
        world.ok("clinic-goma", body)
    };
    let trace = world.state.backward_trace(&world.entry_id_at(spend)).unwrap();
    let sources: Vec<(u64, u128)> = trace.sources.iter().map(|s| (s.donation_index, s.amount)).collect();
    assert_eq!(sources, vec![(lots[0], 4), (lots[1], 3), (lots[2], 3)]);
    let _ = transfer;
}

#[test]
fn an_anonymous_donor_finds_and_follows_exactly_their_gift_with_their_secret_receipt() {
    let mut world = World::standard();
    let secret_receipt = [42u8; 32];
    let reference = donor_reference(&secret_receipt);
    world.donate("ngo-a", 5_000, None);
    world.ok(
        "ngo-a",
        Body::Donation {
            donor: Donor::Anonymous(reference),
            asset: eur(),
            amount: Amount(2_500),
            value_date: date("2026-03-01"),
            earmark: None,
            external_reference: None,
        },
    );
    world.transfer("ngo-a", "clinic-goma", 7_000);
    let found = world.state.donations_by_reference(&donor_reference(&secret_receipt));
    assert_eq!(found.len(), 1);
    let trace = world.state.forward_trace(&found[0]).unwrap();
    assert_eq!(trace.amount, 2_500);
    assert_eq!(trace.donor, format!("anonymous:{}", reference.to_hex()));
    let holders: Vec<(String, u128)> = trace.holders.iter().map(|h| (h.organisation.to_string(), h.held)).collect();
    assert_eq!(holders, vec![("ngo-a".to_string(), 500), ("clinic-goma".to_string(), 2_000)]);
    assert!(world.state.donations_by_reference(&donor_reference(&[43; 32])).is_empty());
}

#[test]
fn pledges_and_reversals_appear_in_the_trace_and_keep_it_conserved() {
    let mut world = World::standard();
    let donation = world.donate("ngo-a", 10_000, None);
    let expiry = world.clock_ms + 60_000;
    let pledge = world.ok(
        "ngo-a",
        Body::Pledge {
            to: org("clinic-goma"),
            asset: eur(),
            amount: Amount(3_000),
            value_date: date("2026-02-01"),
            verifier: org("audit-co"),
            result: "clinic open 6 days a week".into(),
            expires_at_ms: expiry,
            programme: None,
        },
    );
    let trace = world.state.forward_trace(&world.entry_id_at(donation)).unwrap();
    assert_eq!((trace.held, trace.reserved), (7_000, 3_000));
    let pledge_id = world.entry_id_at(pledge);
    world.ok("audit-co", Body::Attestation { pledge: pledge_id, statement: String::new(), evidence: None });
    world.ok("ngo-a", Body::PledgeRelease { pledge: pledge_id });
    let spend = world.spend("clinic-goma", 1_000);
    world.ok("clinic-goma", Body::Reversal { target: world.entry_id_at(spend), reason: "duplicate".into() });
    let trace = world.state.forward_trace(&world.entry_id_at(donation)).unwrap();
    assert_eq!((trace.held, trace.reserved, trace.spent), (10_000, 0, 0));
    let last = trace.hops.last().unwrap();
    assert_eq!(last.kind, Kind::Reversal);
    assert!(matches!(last.from, Party::Beneficiary(_)));
    let profile = world.state.organisation_profile(&org("clinic-goma")).unwrap();
    assert_eq!(profile.balances[0].available, 3_000);
    assert_eq!(profile.pledges.len(), 1);
}

#[test]
fn monthly_flows_sum_money_in_and_out_per_month_for_the_ledger_and_for_one_organisation() {
    use ledger::{AssetCode, Recipient};
    let mut world = World::standard();
    let donation = |world: &mut World, amount: u128, day: &str| {
        world.ok(
            "ngo-a",
            Body::Donation {
                donor: Donor::Organisation(org("fondation-x")),
                asset: eur(),
                amount: Amount(amount),
                value_date: date(day),
                earmark: None,
                external_reference: None,
            },
        )
    };
    donation(&mut world, 10_000, "2026-01-10");
    donation(&mut world, 5_000, "2026-03-02");
    world.ok(
        "ngo-a",
        Body::Transfer {
            to: org("clinic-goma"),
            asset: eur(),
            amount: Amount(4_000),
            value_date: date("2026-01-20"),
            programme: None,
            purpose: String::new(),
        },
    );
    let commitment = world.fresh_commitment();
    world.ok(
        "clinic-goma",
        Body::Spend {
            asset: eur(),
            amount: Amount(1_500),
            value_date: date("2026-03-15"),
            category: Category::Medicine,
            recipient: Recipient::Beneficiary(commitment),
            programme: None,
            evidence: None,
            description: String::new(),
        },
    );
    let whole = world.state.monthly_flows(&eur(), None).unwrap();
    let rows: Vec<(&str, u128, u128)> = whole.iter().map(|m| (m.month.as_str(), m.money_in, m.money_out)).collect();
    // February had no movement and is still a row; only spending leaves the whole ledger.
    assert_eq!(rows, vec![("2026-01", 10_000, 0), ("2026-02", 0, 0), ("2026-03", 5_000, 1_500)]);

    let ngo = world.state.monthly_flows(&eur(), Some(&org("ngo-a"))).unwrap();
    let rows: Vec<(&str, u128, u128)> = ngo.iter().map(|m| (m.month.as_str(), m.money_in, m.money_out)).collect();
    assert_eq!(rows, vec![("2026-01", 10_000, 4_000), ("2026-02", 0, 0), ("2026-03", 5_000, 0)]);

    let clinic = world.state.monthly_flows(&eur(), Some(&org("clinic-goma"))).unwrap();
    let rows: Vec<(&str, u128, u128)> = clinic.iter().map(|m| (m.month.as_str(), m.money_in, m.money_out)).collect();
    assert_eq!(rows, vec![("2026-01", 4_000, 0), ("2026-02", 0, 0), ("2026-03", 0, 1_500)]);

    // Totals agree with the flow edges.
    let edges = world.state.flow_edges(None, None);
    let spent: u128 = edges.iter().filter(|e| e.to.starts_with("spending:")).map(|e| e.amount).sum();
    assert_eq!(whole.iter().map(|m| m.money_out).sum::<u128>(), spent);
    assert_eq!(world.state.monthly_flows(&AssetCode::new("XOF").unwrap(), None), None);
}
