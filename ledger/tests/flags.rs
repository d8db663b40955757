//! Anomaly flags: each rule with a case that flags and near misses that must not, the listing and its
//! filters, and replays (straight, or resumed from a snapshot) that raise the same flags.

use ledger::flags::{DAY_MS, FlagFilter, FlagView, Flags, Rule, notice};
use ledger::words::Language;
use ledger::{Amount, Body, Category, Donor, EntryVerifier, Recipient, State};

use crate::support::{ORIGIN, World, date, eur, org};

/// Replays the world's log into a fresh state, observing every entry right after it is applied.
fn flags_of(world: &World) -> (State, Flags) {
    let mut state = State::new();
    let mut flags = Flags::new();
    let mut verifier = EntryVerifier::new(ORIGIN).unwrap();
    for signed in &world.log {
        let verified = verifier.verify(signed.clone()).unwrap();
        state.apply(&verified).unwrap();
        flags.observe(&state, verified.entry());
    }
    assert_eq!(flags.size(), state.size());
    (state, flags)
}

fn all(world: &World) -> Vec<FlagView> {
    let (state, flags) = flags_of(world);
    flags.list(&state, &FlagFilter { limit: usize::MAX, ..FlagFilter::default() })
}

fn of_rule(world: &World, rule: Rule) -> Vec<FlagView> {
    all(world).into_iter().filter(|flag| flag.rule == rule).collect()
}

fn indexes(flag: &FlagView) -> Vec<u64> {
    flag.entries.iter().map(|entry| entry.index).collect()
}

fn later(world: &mut World, ms: u64) {
    world.clock_ms += ms;
}

/// 1 EUR in minor units.
const EUR: u128 = 100;

fn donation_on(world: &mut World, ngo: &str, amount: u128, value_date: &str) -> u64 {
    world.ok(
        ngo,
        Body::Donation {
            donor: Donor::Organisation(org("fondation-x")),
            asset: eur(),
            amount: Amount(amount),
            value_date: date(value_date),
            earmark: None,
            external_reference: None,
        },
    )
}

fn transfer_on(world: &mut World, from: &str, to: &str, amount: u128, value_date: &str) -> u64 {
    world.ok(
        from,
        Body::Transfer {
            to: org(to),
            asset: eur(),
            amount: Amount(amount),
            value_date: date(value_date),
            programme: None,
            purpose: String::new(),
        },
    )
}

fn spend_on(world: &mut World, by: &str, amount: u128, category: Category, value_date: &str) -> u64 {
    let recipient = Recipient::Beneficiary(world.fresh_commitment());
    world.ok(
        by,
        Body::Spend {
            asset: eur(),
            amount: Amount(amount),
            value_date: date(value_date),
            category,
            recipient,
            programme: None,
            evidence: None,
            description: String::new(),
        },
    )
}

fn acknowledge(world: &mut World, by: &str, transfer: u64) -> u64 {
    let transfer = world.entry_id_at(transfer);
    world.ok(by, Body::Acknowledgement { transfer })
}

fn reverse(world: &mut World, by: &str, target: u64) -> u64 {
    let target = world.entry_id_at(target);
    world.ok(by, Body::Reversal { target, reason: "entered by mistake".into() })
}

// Round trips

#[test]
fn money_sent_away_and_sent_back_is_a_round_trip() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let out = world.transfer("ngo-a", "ngo-b", 5_000 * EUR);
    let back = world.transfer("ngo-b", "ngo-a", 2_000 * EUR);
    let flags = of_rule(&world, Rule::RoundTrip);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    let flag = &flags[0];
    assert_eq!((flag.organisation.as_str(), flag.counterparty.as_ref().unwrap().as_str()), ("ngo-a", "ngo-b"));
    assert_eq!(flag.amount, 2_000 * EUR);
    assert_eq!(indexes(flag), vec![out, back]);
    assert_eq!(flag.raised_by.index, back);
    assert!(flag.description.contains("came back to it from ngo-b"), "{}", flag.description);
}

#[test]
fn a_round_trip_through_two_organisations_names_every_hop() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let first = world.transfer("ngo-a", "ngo-b", 5_000 * EUR);
    let second = world.transfer("ngo-b", "clinic-goma", 3_000 * EUR);
    later(&mut world, 2 * DAY_MS);
    let back = world.transfer("clinic-goma", "ngo-a", 1_000 * EUR);
    let flags = of_rule(&world, Rule::RoundTrip);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    assert_eq!(indexes(&flags[0]), vec![first, second, back]);
    assert_eq!(flags[0].counterparty.as_ref().unwrap().as_str(), "clinic-goma");
    assert!(flags[0].elapsed_ms.unwrap() >= 2 * DAY_MS);
}

#[test]
fn money_sent_back_that_did_not_come_from_the_receiver_is_no_round_trip() {
    let mut world = World::standard();
    // The clinic's own gift is its oldest lot: FIFO pays the transfer back from it, not from ngo-a's money.
    donation_on(&mut world, "clinic-goma", 3_000 * EUR, "2026-01-05");
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 1_000 * EUR);
    world.transfer("clinic-goma", "ngo-a", 2_500 * EUR);
    assert!(of_rule(&world, Rule::RoundTrip).is_empty());
    // Once the clinic's own money is used up, what goes back next is ngo-a's.
    world.transfer("clinic-goma", "ngo-a", 800 * EUR);
    let flags = of_rule(&world, Rule::RoundTrip);
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0].amount, 300 * EUR, "only the part that came from ngo-a");
}

#[test]
fn round_trip_near_misses_too_late_too_small_or_reversed() {
    // Back after 30 days and a minute: too late.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "ngo-b", 5_000 * EUR);
    later(&mut world, 30 * DAY_MS + 60_000);
    world.transfer("ngo-b", "ngo-a", 2_000 * EUR);
    assert!(of_rule(&world, Rule::RoundTrip).is_empty());

    // Back after 29 days: flagged.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "ngo-b", 5_000 * EUR);
    later(&mut world, 29 * DAY_MS);
    world.transfer("ngo-b", "ngo-a", 2_000 * EUR);
    assert_eq!(of_rule(&world, Rule::RoundTrip).len(), 1);

    // 99.99 EUR back is below the minimum; 100.00 is not.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 5_000 * EUR);
    world.transfer("clinic-goma", "ngo-a", 100 * EUR - 1);
    assert!(of_rule(&world, Rule::RoundTrip).is_empty());
    world.transfer("clinic-goma", "ngo-a", 100 * EUR);
    assert_eq!(of_rule(&world, Rule::RoundTrip).len(), 1);

    // A reversal returns the money by correcting the transfer: no round trip.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let transfer = world.transfer("ngo-a", "ngo-b", 5_000 * EUR);
    reverse(&mut world, "ngo-a", transfer);
    assert!(of_rule(&world, Rule::RoundTrip).is_empty());

    // Three transfers back is as far as the rule follows; four is further.
    let chain = |clinics: &[&str]| {
        let mut world = World::standard();
        world.donate("ngo-a", 10_000 * EUR, None);
        world.transfer("ngo-a", "ngo-b", 5_000 * EUR);
        let mut holder = "ngo-b";
        for clinic in clinics {
            world.transfer(holder, clinic, 3_000 * EUR);
            holder = clinic;
        }
        world.transfer(holder, "ngo-a", 2_000 * EUR);
        of_rule(&world, Rule::RoundTrip).len()
    };
    assert_eq!(chain(&["clinic-goma", "clinic-bukavu"]), 1);
    assert_eq!(chain(&["clinic-goma", "clinic-bukavu", "clinic-bamako"]), 0);
}

// Pass-through

#[test]
fn a_transfer_passed_on_within_three_days_without_use_is_flagged() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let received = world.transfer("ngo-a", "clinic-goma", 2_000 * EUR);
    later(&mut world, DAY_MS);
    let first = world.transfer("clinic-goma", "clinic-bukavu", 1_000 * EUR);
    assert!(of_rule(&world, Rule::PassThrough).is_empty(), "half passed on is not yet most of it");
    later(&mut world, DAY_MS);
    let second = world.transfer("clinic-goma", "clinic-bamako", 800 * EUR);
    let flags = of_rule(&world, Rule::PassThrough);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    let flag = &flags[0];
    assert_eq!(flag.organisation.as_str(), "clinic-goma");
    assert_eq!(flag.counterparty.as_ref().unwrap().as_str(), "ngo-a");
    assert_eq!((flag.amount, flag.reference_amount), (1_800 * EUR, Some(2_000 * EUR)));
    assert_eq!(indexes(flag), vec![received, first, second]);
    assert_eq!(flag.raised_by.index, second);
    // More money of the same transfer passed on raises nothing new.
    world.transfer("clinic-goma", "clinic-bamako", 200 * EUR);
    assert_eq!(of_rule(&world, Rule::PassThrough).len(), 1);
}

#[test]
fn pass_through_near_misses() {
    // 89% passed on.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 2_000 * EUR);
    world.transfer("clinic-goma", "clinic-bukavu", 1_780 * EUR);
    assert!(of_rule(&world, Rule::PassThrough).is_empty());
    // Exactly 90%: flagged.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 2_000 * EUR);
    world.transfer("clinic-goma", "clinic-bukavu", 1_800 * EUR);
    assert_eq!(of_rule(&world, Rule::PassThrough).len(), 1);

    // Passed on after three days and a minute.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 2_000 * EUR);
    later(&mut world, 3 * DAY_MS + 60_000);
    world.transfer("clinic-goma", "clinic-bukavu", 2_000 * EUR);
    assert!(of_rule(&world, Rule::PassThrough).is_empty());

    // Spent, not passed on.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 2_000 * EUR);
    world.spend("clinic-goma", 2_000 * EUR);
    assert!(of_rule(&world, Rule::PassThrough).is_empty());

    // A donation passed on at once: an NGO forwarding gifts does its job.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 10_000 * EUR);
    assert!(of_rule(&world, Rule::PassThrough).is_empty());

    // A received transfer under 1,000 EUR.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 1_000 * EUR - 1);
    world.transfer("clinic-goma", "clinic-bukavu", 1_000 * EUR - 1);
    assert!(of_rule(&world, Rule::PassThrough).is_empty());
}

// Structuring

#[test]
fn three_amounts_just_under_the_threshold_within_thirty_days_are_flagged() {
    let mut world = World::standard();
    world.donate("ngo-a", 100_000 * EUR, None);
    let mut transfers = Vec::new();
    for (clinic, amount) in [("clinic-goma", 9_500), ("clinic-bukavu", 9_900), ("clinic-bamako", 9_000)] {
        transfers.push(world.transfer("ngo-a", clinic, amount * EUR));
        later(&mut world, 10 * DAY_MS);
    }
    let flags = of_rule(&world, Rule::Structuring);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    let flag = &flags[0];
    assert_eq!(flag.organisation.as_str(), "ngo-a");
    assert_eq!(indexes(flag), transfers);
    assert_eq!((flag.amount, flag.reference_amount), (28_400 * EUR, Some(10_000 * EUR)));
    assert!(flag.description.contains("3 amounts between 9,000.00 EUR and the 10,000.00 EUR"), "{}", flag.description);

    // Donations and spends count too, per organisation; after a flag the count starts again.
    let mut world = World::standard();
    for _ in 0..5 {
        donation_on(&mut world, "ngo-b", 9_999 * EUR, "2026-01-10");
    }
    assert_eq!(of_rule(&world, Rule::Structuring).len(), 1);
    world.spend("ngo-b", 9_950 * EUR);
    assert_eq!(of_rule(&world, Rule::Structuring).len(), 2);
}

#[test]
fn structuring_near_misses() {
    let run = |amounts: &[u128], gap_ms: u64, authors: &[&str]| {
        let mut world = World::standard();
        for (position, amount) in amounts.iter().enumerate() {
            donation_on(&mut world, authors[position % authors.len()], *amount, "2026-01-10");
            later(&mut world, gap_ms);
        }
        of_rule(&world, Rule::Structuring).len()
    };
    assert_eq!(run(&[9_500 * EUR, 9_500 * EUR], DAY_MS, &["ngo-a"]), 0, "two are not many");
    assert_eq!(run(&[10_000 * EUR; 3], DAY_MS, &["ngo-a"]), 0, "at the threshold is not under it");
    assert_eq!(run(&[9_000 * EUR - 1; 3], DAY_MS, &["ngo-a"]), 0, "below the band");
    assert_eq!(run(&[9_000 * EUR; 3], DAY_MS, &["ngo-a"]), 1, "the band's lower edge is in it");
    // Each entry moves the clock one more second: these three span exactly 30 days, then 30 days and 2 s.
    assert_eq!(run(&[9_500 * EUR; 3], 15 * DAY_MS - 1_000, &["ngo-a"]), 1, "exactly 30 days");
    assert_eq!(run(&[9_500 * EUR; 3], 15 * DAY_MS, &["ngo-a"]), 0, "spread over more than 30 days");
    assert_eq!(run(&[9_500 * EUR; 3], DAY_MS, &["ngo-a", "ngo-b", "clinic-goma"]), 0, "three organisations");
}

// Unacknowledged transfers

#[test]
fn a_transfer_still_unacknowledged_after_fourteen_days_is_flagged_by_the_next_entry() {
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let transfer = world.transfer("ngo-a", "clinic-goma", 1_000 * EUR);
    later(&mut world, 14 * DAY_MS - 1_000);
    world.donate("ngo-b", 50 * EUR, None);
    assert!(of_rule(&world, Rule::UnacknowledgedTransfer).is_empty(), "exactly 14 days is not after 14 days");
    let next = world.donate("ngo-b", 50 * EUR, None);
    let flags = of_rule(&world, Rule::UnacknowledgedTransfer);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    let flag = &flags[0];
    assert_eq!(flag.organisation.as_str(), "clinic-goma");
    assert_eq!(flag.counterparty.as_ref().unwrap().as_str(), "ngo-a");
    assert_eq!(indexes(flag), vec![transfer]);
    assert_eq!(flag.raised_by.index, next);
    assert_eq!(flag.amount, 1_000 * EUR);
    // Acknowledged late: the flag stays, and no second one is raised.
    acknowledge(&mut world, "clinic-goma", transfer);
    later(&mut world, 30 * DAY_MS);
    world.donate("ngo-b", 50 * EUR, None);
    assert_eq!(of_rule(&world, Rule::UnacknowledgedTransfer).len(), 1);
}

#[test]
fn unacknowledged_near_misses() {
    // Acknowledged on day 13.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let transfer = world.transfer("ngo-a", "clinic-goma", 1_000 * EUR);
    later(&mut world, 13 * DAY_MS);
    acknowledge(&mut world, "clinic-goma", transfer);
    later(&mut world, 30 * DAY_MS);
    world.donate("ngo-b", 50 * EUR, None);
    assert!(of_rule(&world, Rule::UnacknowledgedTransfer).is_empty());

    // Reversed by its sender.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let transfer = world.transfer("ngo-a", "clinic-goma", 1_000 * EUR);
    later(&mut world, DAY_MS);
    reverse(&mut world, "ngo-a", transfer);
    later(&mut world, 30 * DAY_MS);
    world.donate("ngo-b", 50 * EUR, None);
    assert!(of_rule(&world, Rule::UnacknowledgedTransfer).is_empty());

    // Nothing was logged after the deadline yet: log time has not passed it.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 1_000 * EUR);
    assert!(of_rule(&world, Rule::UnacknowledgedTransfer).is_empty());

    // The acknowledgement is itself the first entry after the deadline: it came too late.
    let mut world = World::standard();
    world.donate("ngo-a", 10_000 * EUR, None);
    let transfer = world.transfer("ngo-a", "clinic-goma", 1_000 * EUR);
    later(&mut world, 15 * DAY_MS);
    acknowledge(&mut world, "clinic-goma", transfer);
    assert_eq!(of_rule(&world, Rule::UnacknowledgedTransfer).len(), 1);
}

// Spends before their funds

#[test]
fn a_spend_dated_before_the_money_it_used_arrived_is_flagged() {
    let mut world = World::standard();
    donation_on(&mut world, "ngo-a", 10_000 * EUR, "2026-01-10");
    let transfer = transfer_on(&mut world, "ngo-a", "clinic-goma", 2_000 * EUR, "2026-02-01");
    let spend = spend_on(&mut world, "clinic-goma", 500 * EUR, Category::Medicine, "2026-01-20");
    let flags = of_rule(&world, Rule::SpendBeforeFunds);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    let flag = &flags[0];
    assert_eq!(flag.organisation.as_str(), "clinic-goma");
    assert_eq!((flag.amount, flag.reference_amount), (500 * EUR, Some(500 * EUR)));
    assert_eq!((flag.value_date, flag.funds_value_date), (Some(date("2026-01-20")), Some(date("2026-02-01"))));
    assert_eq!(indexes(flag), vec![transfer, spend]);
    assert!(flag.describe(Language::French).contains("2026-01-20"));
}

#[test]
fn spend_before_funds_near_misses() {
    // Same day as the funds: not earlier.
    let mut world = World::standard();
    donation_on(&mut world, "ngo-a", 10_000 * EUR, "2026-01-10");
    transfer_on(&mut world, "ngo-a", "clinic-goma", 2_000 * EUR, "2026-02-01");
    spend_on(&mut world, "clinic-goma", 500 * EUR, Category::Medicine, "2026-02-01");
    assert!(of_rule(&world, Rule::SpendBeforeFunds).is_empty());

    // Later money exists but FIFO pays from the older lot, which predates the spend.
    let mut world = World::standard();
    donation_on(&mut world, "clinic-goma", 1_000 * EUR, "2026-01-05");
    donation_on(&mut world, "ngo-a", 10_000 * EUR, "2026-01-10");
    transfer_on(&mut world, "ngo-a", "clinic-goma", 2_000 * EUR, "2026-03-01");
    spend_on(&mut world, "clinic-goma", 1_000 * EUR, Category::Medicine, "2026-02-01");
    assert!(of_rule(&world, Rule::SpendBeforeFunds).is_empty());
    // The next spend reaches the later lot: only that part is counted.
    spend_on(&mut world, "clinic-goma", 300 * EUR, Category::Medicine, "2026-02-02");
    let flags = of_rule(&world, Rule::SpendBeforeFunds);
    assert_eq!(flags.len(), 1);
    assert_eq!((flags[0].amount, flags[0].reference_amount), (300 * EUR, Some(300 * EUR)));
}

// Spending spikes

/// Six months of medicine spending by clinic-goma at `usual` per month (January to June 2026), then
/// `july` in July; returns the July spends.
fn six_months_then(world: &mut World, usual: &[u128], july: &[u128]) -> Vec<u64> {
    world.donate("ngo-a", 1_000_000 * EUR, None);
    world.transfer("ngo-a", "clinic-goma", 500_000 * EUR);
    for (month, amount) in usual.iter().enumerate() {
        if *amount > 0 {
            spend_on(world, "clinic-goma", *amount, Category::Medicine, &format!("2026-{:02}-15", month + 1));
        }
    }
    july.iter().map(|amount| spend_on(world, "clinic-goma", *amount, Category::Medicine, "2026-07-20")).collect()
}

#[test]
fn a_month_far_above_the_usual_level_is_flagged_once_with_its_spends() {
    let mut world = World::standard();
    let july = six_months_then(
        &mut world,
        &[400 * EUR, 600 * EUR, 500 * EUR, 450 * EUR, 550 * EUR, 500 * EUR],
        &[700 * EUR, 900 * EUR],
    );
    // 1,600 > 3 × 500 and 1,100 above it.
    let flags = of_rule(&world, Rule::SpendingSpike);
    assert_eq!(flags.len(), 1, "{flags:#?}");
    let flag = &flags[0];
    assert_eq!(flag.organisation.as_str(), "clinic-goma");
    assert_eq!(flag.category, Some(Category::Medicine));
    assert_eq!(flag.month.as_deref(), Some("2026-07"));
    assert_eq!((flag.amount, flag.reference_amount), (1_600 * EUR, Some(500 * EUR)));
    assert_eq!(indexes(flag), july);
    assert!(flag.description.contains("on medicine in 2026-07"), "{}", flag.description);
    // More spending the same month raises nothing new.
    spend_on(&mut world, "clinic-goma", 1_000 * EUR, Category::Medicine, "2026-07-25");
    assert_eq!(of_rule(&world, Rule::SpendingSpike).len(), 1);
    // Other categories have their own usual level: a first month of surgery is not a spike.
    spend_on(&mut world, "clinic-goma", 5_000 * EUR, Category::Surgery, "2026-07-25");
    assert_eq!(of_rule(&world, Rule::SpendingSpike).len(), 1);
}

#[test]
fn spending_spike_near_misses() {
    let spikes = |usual: &[u128], july: &[u128]| {
        let mut world = World::standard();
        six_months_then(&mut world, usual, july);
        of_rule(&world, Rule::SpendingSpike).len()
    };
    let usual = [500 * EUR; 6];
    assert_eq!(spikes(&usual, &[1_500 * EUR]), 0, "exactly three times is not above it");
    assert_eq!(spikes(&usual, &[1_500 * EUR + 1]), 1, "just above three times, 1,000 EUR more");
    let small = [100 * EUR; 6];
    assert_eq!(spikes(&small, &[1_050 * EUR]), 0, "ten times, but only 950 EUR above the usual level");
    assert_eq!(spikes(&small, &[1_100 * EUR]), 1, "1,000 EUR above the usual level");
    let short = [0, 0, 0, 0, 500 * EUR, 500 * EUR];
    assert_eq!(spikes(&short, &[5_000 * EUR]), 0, "two months are no usual level yet");
    let old = [500 * EUR, 0, 0, 0, 500 * EUR, 500 * EUR];
    assert_eq!(spikes(&old, &[5_000 * EUR]), 1, "January is within the six months before July");
    // The median resists one earlier spike: 500, 500, 500, 3,000 → 500.
    let spiky = [500 * EUR, 0, 500 * EUR, 0, 3_000 * EUR, 500 * EUR];
    assert_eq!(spikes(&spiky, &[2_000 * EUR]), 1);
}

#[test]
fn a_reversed_spend_no_longer_counts_in_its_month() {
    let mut world = World::standard();
    six_months_then(&mut world, &[500 * EUR; 6], &[]);
    let mistake = spend_on(&mut world, "clinic-goma", 1_400 * EUR, Category::Medicine, "2026-07-10");
    reverse(&mut world, "clinic-goma", mistake);
    spend_on(&mut world, "clinic-goma", 400 * EUR, Category::Medicine, "2026-07-11");
    assert!(of_rule(&world, Rule::SpendingSpike).is_empty(), "400 in July once the 1,400 is reversed");
}

// Listing, words and replay

/// A world in which every rule raises a flag.
fn every_rule() -> World {
    let mut world = World::standard();
    six_months_then(&mut world, &[500 * EUR; 6], &[2_000 * EUR]);
    world.transfer("clinic-goma", "ngo-a", 1_000 * EUR);
    let received = world.transfer("ngo-a", "ngo-b", 5_000 * EUR);
    world.transfer("ngo-b", "clinic-bukavu", 4_800 * EUR);
    for _ in 0..3 {
        world.transfer("ngo-a", "clinic-bamako", 9_500 * EUR);
    }
    spend_on(&mut world, "clinic-bukavu", 100 * EUR, Category::Food, "2025-12-31");
    later(&mut world, 20 * DAY_MS);
    world.donate("ngo-b", 10 * EUR, None);
    let _ = received;
    world
}

#[test]
fn every_rule_fires_in_one_log_and_the_listing_filters_and_pages() {
    let world = every_rule();
    let (state, flags) = flags_of(&world);
    let listed = flags.list(&state, &FlagFilter { limit: 100, ..FlagFilter::default() });
    for rule in Rule::ALL {
        assert!(listed.iter().any(|flag| flag.rule == rule), "{rule} fired: {listed:#?}");
    }
    assert_eq!(listed.iter().map(|flag| flag.id).collect::<Vec<_>>(), (0..listed.len() as u64).collect::<Vec<_>>());
    let counts = flags.counts();
    assert_eq!(counts.iter().map(|(_, count)| count).sum::<u64>(), listed.len() as u64);
    // By rule.
    let filter = FlagFilter { rule: Some(Rule::Structuring), limit: 100, ..FlagFilter::default() };
    assert!(flags.list(&state, &filter).iter().all(|flag| flag.rule == Rule::Structuring));
    // By organisation: as the organisation or the counterparty.
    let filter = FlagFilter { organisation: Some(org("ngo-a")), limit: 100, ..FlagFilter::default() };
    let of_ngo_a = flags.list(&state, &filter);
    assert!(!of_ngo_a.is_empty());
    for flag in &of_ngo_a {
        assert!(flag.organisation.as_str() == "ngo-a" || flag.counterparty.as_ref().unwrap().as_str() == "ngo-a");
    }
    let expected: Vec<u64> = listed
        .iter()
        .filter(|flag| flag.organisation.as_str() == "ngo-a" || flag.counterparty == Some(org("ngo-a")))
        .map(|flag| flag.id)
        .collect();
    assert_eq!(of_ngo_a.iter().map(|flag| flag.id).collect::<Vec<_>>(), expected);
    let filter = FlagFilter { organisation: Some(org("no-such-org")), limit: 100, ..FlagFilter::default() };
    assert!(flags.list(&state, &filter).is_empty());
    // Pages: forward with `after`, backward with `descending`.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = flags.list(&state, &FlagFilter { after, limit: 2, ..FlagFilter::default() });
        paged.extend(page.iter().map(|flag| flag.id));
        if page.len() < 2 {
            break;
        }
        after = page.last().map(|flag| flag.id);
    }
    assert_eq!(paged, listed.iter().map(|flag| flag.id).collect::<Vec<_>>());
    let newest = flags.list(&state, &FlagFilter { descending: true, limit: 2, ..FlagFilter::default() });
    assert_eq!(newest[0].id, listed.len() as u64 - 1);
    let before = flags
        .list(&state, &FlagFilter { descending: true, after: Some(newest[1].id), limit: 1, ..FlagFilter::default() });
    assert_eq!(before[0].id, newest[1].id - 1);
    // Every flag names entries of the log, with their ids, and reads as information in both languages.
    for flag in &listed {
        assert!(!flag.entries.is_empty());
        for entry in &flag.entries {
            assert_eq!(state.entry_id_at(entry.index), Some(entry.entry_id));
        }
        assert_eq!(flags.get(&state, flag.id).as_ref(), Some(flag));
        for language in [Language::English, Language::French] {
            let words = flag.describe(language);
            assert!(words.contains(flag.organisation.as_str()), "{words}");
        }
        assert_eq!(flag.description, flag.describe(Language::English));
    }
    assert!(notice(Language::English).contains("not an accusation"));
    assert!(notice(Language::French).contains("pas une accusation"));
    // The JSON view reads back to the same flag.
    let json = serde_json::to_string(&listed).unwrap();
    let back: Vec<FlagView> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, listed);
}

#[test]
fn a_replay_resumed_from_a_snapshot_raises_the_same_flags() {
    let world = every_rule();
    let (state, flags) = flags_of(&world);
    let mut verifier = EntryVerifier::new(ORIGIN).unwrap();
    for cut in [1, world.log.len() / 3, world.log.len() / 2, world.log.len() - 1] {
        let mut resumed_state = State::new();
        let mut resumed_flags = Flags::new();
        for (position, signed) in world.log.iter().enumerate() {
            if position == cut {
                let bytes = postcard::to_stdvec(&(&resumed_state, &resumed_flags)).unwrap();
                (resumed_state, resumed_flags) = postcard::from_bytes(&bytes).unwrap();
            }
            let verified = verifier.verify(signed.clone()).unwrap();
            resumed_state.apply(&verified).unwrap();
            resumed_flags.observe(&resumed_state, verified.entry());
        }
        assert!(resumed_state == state);
        assert!(resumed_flags == flags, "resumed at {cut}");
    }
    let (_, again) = flags_of(&world);
    assert!(again == flags, "a second replay raises the same flags");
    assert!(flags.len() >= Rule::ALL.len());
}
