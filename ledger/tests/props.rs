//! Property tests over random histories of valid and invalid entries: balances stay consistent, money is
//! conserved ledger-wide and per donation, traces add up, and replaying a log gives the same state.

use ledger::{Amount, Body, Category, Country, Earmark, EntryId, EntryVerifier, ProgrammeId, State};
use proptest::prelude::*;

use crate::support::{World, eur, org};

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
}

fn action() -> impl Strategy<Value = Action> {
    let amount = prop_oneof![1u128..5_000, 5_000u128..50_000, Just(0u128)];
    prop_oneof![
        3 => (0..NGOS.len(), amount.clone(), 0u8..5).prop_map(|(ngo, amount, earmark)| Action::Donate { ngo, amount, earmark }),
        4 => (0..HOLDERS.len(), 0..HOLDERS.len(), amount.clone(), any::<bool>())
            .prop_map(|(from, to, amount, programme)| Action::Transfer { from, to, amount, programme }),
        4 => (0..HOLDERS.len(), amount.clone(), any::<bool>()).prop_map(|(by, amount, programme)| Action::Spend { by, amount, programme }),
        1 => (any::<usize>(), 0..HOLDERS.len()).prop_map(|(pick, by)| Action::Acknowledge { pick, by }),
        2 => (0..HOLDERS.len(), 0..HOLDERS.len(), amount, prop_oneof![Just(3_000u64), Just(60_000u64)])
            .prop_map(|(from, to, amount, lifetime_ms)| Action::Pledge { from, to, amount, lifetime_ms }),
        2 => any::<usize>().prop_map(|pick| Action::Attest { pick }),
        2 => any::<usize>().prop_map(|pick| Action::Release { pick }),
        1 => any::<usize>().prop_map(|pick| Action::Void { pick }),
        2 => any::<usize>().prop_map(|pick| Action::Reverse { pick }),
        1 => any::<usize>().prop_map(|pick| Action::Replay { pick }),
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
    let totals = state.asset_totals(&eur()).unwrap();
    // Ledger-wide conservation.
    assert_eq!(totals.donated - totals.returned, totals.held + totals.spent + totals.reserved);
    // The running totals agree with the lots actually held (and each holding's total with its lots).
    let held_by_lots = state.held_by_lots();
    assert_eq!(held_by_lots.get(&eur()).copied().unwrap_or(0), totals.held);
    // Per donation: the trace conserves, and its holders match the lots that remember that origin.
    let held_by_donation = state.held_by_donation();
    let mut spent_by_traces = 0;
    for index in state.donation_indexes() {
        let id = state.entry_id_at(index).unwrap();
        let trace = state.forward_trace(&id).unwrap();
        assert_eq!(
            trace.spent + trace.held + trace.reserved + trace.returned,
            trace.amount,
            "donation {index} conserves"
        );
        assert_eq!(trace.held, held_by_donation.get(&index).copied().unwrap_or(0), "donation {index} holders");
        spent_by_traces += trace.spent;
    }
    assert_eq!(spent_by_traces, totals.spent);
    // Per spend: the sources add up to the amount.
    for index in state.spend_indexes() {
        let trace = state.backward_trace(&state.entry_id_at(index).unwrap()).unwrap();
        assert_eq!(trace.sources.iter().map(|source| source.amount).sum::<u128>(), trace.amount);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_every_invariant(actions in prop::collection::vec(action(), 1..80)) {
        let mut world = World::standard();
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
    for _ in 0..20 {
        let actions = prop::collection::vec(action(), 80).new_tree(&mut runner).unwrap().current();
        let mut world = World::standard();
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
    ] {
        assert!(accepted.get(&kind).copied().unwrap_or(0) > 0, "no {kind} accepted: {accepted:?}");
    }
}
