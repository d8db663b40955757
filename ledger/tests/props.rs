//! Property tests over random histories of valid and invalid entries: balances stay consistent, money is
//! conserved ledger-wide and per donation, traces add up, and replaying a log gives the same state.

use ledger::{
    Amount, AssetCode, AssetKind, Body, Category, Country, Earmark, EntryId, EntryVerifier, ProgrammeId, Rate, State,
    VoucherId,
};
use proptest::prelude::*;

use crate::support::{OPERATOR, World, eur, org};

const NGOS: [&str; 2] = ["ngo-a", "ngo-b"];
const HOLDERS: [&str; 5] = ["ngo-a", "ngo-b", "clinic-goma", "clinic-bukavu", "clinic-bamako"];

#[derive(Clone, Debug)]
enum Action {
    Donate { ngo: usize, amount: u128, earmark: u8 },
    Transfer { from: usize, to: usize, amount: u128, programme: bool },
    Spend { by: usize, amount: u128, programme: bool },
    Acknowledge { pick: usize, by: usize },
    Pledge { from: usize, to: usize, amount: u128, lifetime_ms: u64 },
    Attest { pick: usize },
    Release { pick: usize },
    Void { pick: usize },
    Reverse { pick: usize },
    Replay { pick: usize },
    Convert { by: usize, amount: u128, rate: usize, back: bool },
    Refund { pick: usize, by: usize, amount: u128 },
    IssueVouchers { ngo: usize, count: u8, face_value: u128, lifetime_ms: u64, clinics: u8 },
    Redeem { pick: usize, clinic: usize },
    Settle { pick: usize, count: usize },
    ExpireVouchers { pick: usize },
}

const RATES: [&str; 4] = ["1.0835", "0.9229", "655.957", "0.000001"];

fn usd() -> AssetCode {
    AssetCode::new("USD").unwrap()
}

const CLINICS: [&str; 3] = ["clinic-goma", "clinic-bukavu", "clinic-bamako"];

/// A world with a second asset, USD, to convert into.
fn world() -> World {
    let mut world = World::standard();
    world.ok(OPERATOR, Body::DeclareAsset { asset: usd(), decimals: 2, asset_kind: AssetKind::Fiat });
    world
}

/// Every voucher issued so far, with its issue's author.
fn issued_vouchers(world: &World) -> Vec<(String, VoucherId)> {
    world
        .log
        .iter()
        .filter_map(|signed| match &signed.entry().body {
            Body::VoucherIssue { vouchers, .. } => Some((signed.entry().author.to_string(), vouchers.clone())),
            _ => None,
        })
        .flat_map(|(author, vouchers)| vouchers.into_iter().map(move |voucher| (author.clone(), voucher)))
        .collect()
}

fn action() -> impl Strategy<Value = Action> {
    let amount = prop_oneof![1u128..5_000, 5_000u128..50_000, Just(0u128)];
    prop_oneof![
        3 => (0..NGOS.len(), amount.clone(), 0u8..5).prop_map(|(ngo, amount, earmark)| Action::Donate { ngo, amount, earmark }),
        4 => (0..HOLDERS.len(), 0..HOLDERS.len(), amount.clone(), any::<bool>())
            .prop_map(|(from, to, amount, programme)| Action::Transfer { from, to, amount, programme }),
        4 => (0..HOLDERS.len(), amount.clone(), any::<bool>()).prop_map(|(by, amount, programme)| Action::Spend { by, amount, programme }),
        1 => (any::<usize>(), 0..HOLDERS.len()).prop_map(|(pick, by)| Action::Acknowledge { pick, by }),
        2 => (0..HOLDERS.len(), 0..HOLDERS.len(), amount.clone(), prop_oneof![Just(3_000u64), Just(60_000u64)])
            .prop_map(|(from, to, amount, lifetime_ms)| Action::Pledge { from, to, amount, lifetime_ms }),
        2 => any::<usize>().prop_map(|pick| Action::Attest { pick }),
        2 => any::<usize>().prop_map(|pick| Action::Release { pick }),
        1 => any::<usize>().prop_map(|pick| Action::Void { pick }),
        2 => any::<usize>().prop_map(|pick| Action::Reverse { pick }),
        1 => any::<usize>().prop_map(|pick| Action::Replay { pick }),
        2 => (0..HOLDERS.len(), amount.clone(), 0..RATES.len(), any::<bool>())
            .prop_map(|(by, amount, rate, back)| Action::Convert { by, amount, rate, back }),
        1 => (any::<usize>(), 0..HOLDERS.len(), amount).prop_map(|(pick, by, amount)| Action::Refund { pick, by, amount }),
        1 => (0..NGOS.len(), 1u8..6, 1u128..500, prop_oneof![Just(3_000u64), Just(60_000u64)], 1u8..8)
            .prop_map(|(ngo, count, face_value, lifetime_ms, clinics)| Action::IssueVouchers { ngo, count, face_value, lifetime_ms, clinics }),
        2 => (any::<usize>(), 0..CLINICS.len()).prop_map(|(pick, clinic)| Action::Redeem { pick, clinic }),
        2 => (any::<usize>(), 1usize..4).prop_map(|(pick, count)| Action::Settle { pick, count }),
        1 => any::<usize>().prop_map(|pick| Action::ExpireVouchers { pick }),
    ]
}

fn earmark(choice: u8) -> Option<Earmark> {
    match choice {
        1 => Some(Earmark::Clinic(org("clinic-goma"))),
        2 => Some(Earmark::Country("ML".parse::<Country>().unwrap())),
        3 => Some(Earmark::Programme(ProgrammeId::new("kivu-health").unwrap())),
        _ => None,
    }
}

/// The author and id of a logged entry, chosen among those of the given kinds when there are any (so
/// that most references make sense), else among all entries (so that some do not).
fn pick_entry(world: &World, pick: usize, kinds: &[ledger::Kind]) -> (String, EntryId) {
    let matching: Vec<_> = world.log.iter().filter(|signed| kinds.contains(&signed.entry().body.kind())).collect();
    let signed = if matching.is_empty() || pick % 10 == 0 {
        &world.log[pick % world.log.len()]
    } else {
        matching[pick % matching.len()]
    };
    (signed.entry().author.to_string(), signed.entry().entry_id)
}

/// Applies one action; returns the kind of entry accepted, if any.
fn run(world: &mut World, action: &Action) -> Option<ledger::Kind> {
    let programme = |yes: bool| yes.then(|| ProgrammeId::new("kivu-health").unwrap());
    let result = match action.clone() {
        Action::Donate { ngo, amount, earmark: choice } => world.apply(
            NGOS[ngo],
            Body::Donation {
                donor: ledger::Donor::Organisation(org("fondation-x")),
                asset: eur(),
                amount: Amount(amount),
                value_date: "2026-01-01".parse().unwrap(),
                earmark: earmark(choice),
                external_reference: None,
            },
        ),
        Action::Transfer { from, to, amount, programme: with } => world.apply(
            HOLDERS[from],
            Body::Transfer {
                to: org(HOLDERS[to]),
                asset: eur(),
                amount: Amount(amount),
                value_date: "2026-01-02".parse().unwrap(),
                programme: programme(with),
                purpose: String::new(),
            },
        ),
        Action::Spend { by, amount, programme: with } => {
            let body = world.spend_body(amount, Category::Consultation, with.then_some("kivu-health"));
            world.apply(HOLDERS[by], body)
        }
        Action::Acknowledge { pick, by } => {
            let (_, transfer) = pick_entry(world, pick, &[ledger::Kind::Transfer]);
            world.apply(HOLDERS[by], Body::Acknowledgement { transfer })
        }
        Action::Pledge { from, to, amount, lifetime_ms } => {
            let expires_at_ms = world.clock_ms + lifetime_ms;
            world.apply(
                HOLDERS[from],
                Body::Pledge {
                    to: org(HOLDERS[to]),
                    asset: eur(),
                    amount: Amount(amount),
                    value_date: "2026-01-03".parse().unwrap(),
                    verifier: org("audit-co"),
                    result: "result".into(),
                    expires_at_ms,
                    programme: None,
                },
            )
        }
        Action::Attest { pick } => {
            let (_, pledge) = pick_entry(world, pick, &[ledger::Kind::Pledge]);
            world.apply("audit-co", Body::Attestation { pledge, statement: String::new(), evidence: None })
        }
        Action::Release { pick } => {
            let (author, pledge) = pick_entry(world, pick, &[ledger::Kind::Pledge]);
            world.apply(&author, Body::PledgeRelease { pledge })
        }
        Action::Void { pick } => {
            let (author, pledge) = pick_entry(world, pick, &[ledger::Kind::Pledge]);
            world.apply(&author, Body::PledgeVoid { pledge })
        }
        Action::Reverse { pick } => {
            let (author, target) =
                pick_entry(world, pick, &[ledger::Kind::Donation, ledger::Kind::Transfer, ledger::Kind::Spend]);
            world.apply(&author, Body::Reversal { target, reason: "correction".into() })
        }
        Action::Convert { by, amount, rate, back } => {
            let rate: Rate = RATES[rate].parse().unwrap();
            let (from_asset, to_asset) = if back { (usd(), eur()) } else { (eur(), usd()) };
            let to_amount = Amount(rate.convert(amount, 2, 2).unwrap());
            world.apply(
                HOLDERS[by],
                Body::Conversion {
                    from_asset,
                    from_amount: Amount(amount),
                    to_asset,
                    to_amount,
                    rate,
                    rate_source: "test rate".into(),
                    value_date: "2026-01-04".parse().unwrap(),
                },
            )
        }
        Action::Refund { pick, by, amount } => {
            let (_, donation) = pick_entry(world, pick, &[ledger::Kind::Donation]);
            world.apply(
                HOLDERS[by],
                Body::Refund {
                    donation,
                    asset: eur(),
                    amount: Amount(amount),
                    value_date: "2026-01-05".parse().unwrap(),
                    reason: "donor asked".into(),
                },
            )
        }
        Action::IssueVouchers { ngo, count, face_value, lifetime_ms, clinics } => {
            let expires_at_ms = world.clock_ms + lifetime_ms;
            let mut vouchers: Vec<VoucherId> = (0..count).map(|_| VoucherId(world.fresh_id().0)).collect();
            vouchers.sort();
            let mut chosen: Vec<_> = CLINICS
                .iter()
                .enumerate()
                .filter(|(bit, _)| clinics & (1 << bit) != 0)
                .map(|(_, id)| org(id))
                .collect();
            chosen.sort();
            world.apply(
                NGOS[ngo],
                Body::VoucherIssue {
                    programme: ProgrammeId::new("kivu-health").unwrap(),
                    asset: eur(),
                    face_value: Amount(face_value),
                    category: Category::Consultation,
                    clinics: chosen,
                    vouchers,
                    value_date: "2026-01-06".parse().unwrap(),
                    expires_at_ms,
                },
            )
        }
        Action::Redeem { pick, clinic } => {
            let vouchers = issued_vouchers(world);
            if vouchers.is_empty() {
                return None;
            }
            let (_, voucher) = vouchers[pick % vouchers.len()];
            world.apply(CLINICS[clinic], Body::VoucherRedemption { voucher, evidence: None })
        }
        Action::Settle { pick, count } => {
            let vouchers = issued_vouchers(world);
            if vouchers.is_empty() {
                return None;
            }
            let start = pick % vouchers.len();
            let (issuer, first) = vouchers[start].clone();
            let Some(view) = world.state.voucher(&first) else { return None };
            let clinic = view.clinic.unwrap_or_else(|| org("clinic-goma"));
            let mut chosen: Vec<VoucherId> =
                vouchers.iter().skip(start).take(count).map(|(_, voucher)| *voucher).collect();
            chosen.sort();
            world.apply(
                &issuer,
                Body::VoucherSettlement { clinic, vouchers: chosen, value_date: "2026-01-07".parse().unwrap() },
            )
        }
        Action::ExpireVouchers { pick } => {
            let (author, issue) = pick_entry(world, pick, &[ledger::Kind::VoucherIssue]);
            world.apply(&author, Body::VoucherExpiry { issue })
        }
        Action::Replay { pick } => {
            let signed = world.log[pick % world.log.len()].clone();
            let before = world.state.clone();
            let applied = world.submit(signed).expect("resubmitting a logged entry is idempotent");
            assert!(applied.duplicate);
            assert!(world.state == before);
            return None;
        }
    };
    match result {
        Ok(applied) => Some(world.log[applied.index as usize].entry().body.kind()),
        Err(rejection) => {
            assert!(!rejection.code().is_empty());
            None
        }
    }
}

fn check_invariants(world: &World) {
    let state = &world.state;
    let held_by_lots = state.held_by_lots();
    for asset in [eur(), usd()] {
        let totals = state.asset_totals(&asset).unwrap();
        // Ledger-wide conservation, per asset.
        assert_eq!(
            totals.donated + totals.converted_in - totals.returned - totals.refunded,
            totals.held + totals.spent + totals.reserved + totals.converted_out,
            "{asset} is conserved"
        );
        // The running totals agree with the lots actually held (and each holding's total with its lots).
        assert_eq!(held_by_lots.get(&asset).copied().unwrap_or(0), totals.held, "{asset} held");
    }
    // Per donation: the trace conserves in every asset, and its holders match the lots of that origin.
    let held_by_donation = state.held_by_donation();
    let mut spent_by_traces = std::collections::BTreeMap::new();
    for index in state.donation_indexes() {
        let id = state.entry_id_at(index).unwrap();
        let trace = state.forward_trace(&id).unwrap();
        // Money converted back into the donation's asset comes in again: the donation's own position received
        // the donation and every such conversion, and accounts for all of it.
        let converted_back: u128 = trace
            .hops
            .iter()
            .filter_map(|hop| hop.converted_into.as_ref())
            .filter(|into| into.asset == trace.asset)
            .map(|into| into.amount)
            .sum();
        assert_eq!(trace.positions[0].asset, trace.asset);
        assert_eq!(trace.positions[0].received, trace.amount + converted_back, "donation {index} received");
        assert_eq!(
            trace.spent + trace.held + trace.reserved + trace.returned + trace.converted,
            trace.amount + converted_back,
            "donation {index} conserves"
        );
        for position in &trace.positions {
            assert_eq!(
                position.held + position.reserved + position.spent + position.returned + position.converted,
                position.received,
                "donation {index} conserves in {}",
                position.asset
            );
            let lots = held_by_donation.get(&(index, position.asset.clone())).copied().unwrap_or(0);
            assert_eq!(position.held, lots, "donation {index} holders in {}", position.asset);
            *spent_by_traces.entry(position.asset.clone()).or_insert(0) += position.spent;
        }
    }
    for asset in [eur(), usd()] {
        let spent = spent_by_traces.get(&asset).copied().unwrap_or(0);
        assert_eq!(spent, state.asset_totals(&asset).unwrap().spent, "{asset} spent by traces");
    }
    // Per spend: the sources add up to the amount.
    for index in state.spend_indexes() {
        let trace = state.backward_trace(&state.entry_id_at(index).unwrap()).unwrap();
        assert_eq!(trace.sources.iter().map(|source| source.amount).sum::<u128>(), trace.amount);
    }
    // Vouchers: every reserve holds exactly the face value of the vouchers neither settled nor expired.
    for issue in state.voucher_issues(None) {
        let open = u128::from(issue.issued - issue.settled - issue.expired);
        assert_eq!(issue.reserved, issue.face_value * open, "issue {} reserve", issue.entry_index);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_every_invariant(actions in prop::collection::vec(action(), 1..80)) {
        let mut world = world();
        for action in &actions {
            run(&mut world, action);
            check_invariants(&world);
        }
        // Applying the same log again, from scratch, gives the same state.
        let mut replayed = State::new();
        let mut verifier = EntryVerifier::new(crate::support::ORIGIN).unwrap();
        for signed in &world.log {
            let verified = verifier.verify(signed.clone()).unwrap();
            replayed.apply(&verified).unwrap();
        }
        prop_assert!(replayed == world.state);
    }
}

/// The generator must produce histories in which every kind of money entry is accepted, or the
/// properties above would hold vacuously.
#[test]
fn random_histories_exercise_every_money_entry_kind() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner =
        TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(Config::default().rng_algorithm));
    let mut accepted = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let actions = prop::collection::vec(action(), 80).new_tree(&mut runner).unwrap().current();
        let mut world = world();
        for action in &actions {
            if let Some(kind) = run(&mut world, action) {
                *accepted.entry(kind).or_insert(0) += 1;
            }
        }
    }
    for kind in [
        ledger::Kind::Donation,
        ledger::Kind::Transfer,
        ledger::Kind::Spend,
        ledger::Kind::Acknowledgement,
        ledger::Kind::Pledge,
        ledger::Kind::Attestation,
        ledger::Kind::PledgeRelease,
        ledger::Kind::PledgeVoid,
        ledger::Kind::Reversal,
        ledger::Kind::Conversion,
        ledger::Kind::Refund,
        ledger::Kind::VoucherIssue,
        ledger::Kind::VoucherRedemption,
        ledger::Kind::VoucherSettlement,
        ledger::Kind::VoucherExpiry,
    ] {
        assert!(accepted.get(&kind).copied().unwrap_or(0) > 0, "no {kind} accepted: {accepted:?}");
    }
}
