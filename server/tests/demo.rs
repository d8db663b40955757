//! The demo ledger: reproducible from its seed, realistic in shape, and valid entry by entry.

use std::collections::BTreeMap;

use ledger::flags::FlagFilter;
use ledger::{Body, EntryVerifier, Flags, Kind, Rule, State};
use server::demo::{DEFAULT_SEED, DemoScale, generate};

#[test]
fn the_demo_is_reproducible_valid_and_has_every_feature_it_promises() {
    let demo = generate(DEFAULT_SEED, "demo.aidtrail.local/log", DemoScale::default());
    let again = generate(DEFAULT_SEED, "demo.aidtrail.local/log", DemoScale::default());
    assert_eq!(demo.entries, again.entries, "the same seed gives the same ledger");
    let other = generate(DEFAULT_SEED + 1, "demo.aidtrail.local/log", DemoScale::default());
    assert_ne!(demo.entries, other.entries);

    let mut state = State::new();
    let mut flags = Flags::new();
    let mut verifier = EntryVerifier::new("demo.aidtrail.local/log").unwrap();
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    for signed in &demo.entries {
        let verified = verifier.verify(signed.clone()).unwrap();
        state.apply(&verified).unwrap();
        flags.observe(&state, verified.entry());
        *kinds.entry(signed.entry().body.kind()).or_default() += 1;
    }
    println!("demo entries by kind: {kinds:?}, total {}", demo.entries.len());
    let count = |kind| kinds.get(&kind).copied().unwrap_or(0);
    assert!(count(Kind::Spend) >= 2_000, "thousands of spends: {kinds:?}");
    assert!(count(Kind::Donation) >= 300, "{kinds:?}");
    assert_eq!(count(Kind::Reversal), 1, "{kinds:?}");
    assert!(count(Kind::PledgeRelease) >= 2, "{kinds:?}");
    assert_eq!(count(Kind::PledgeVoid), 1, "{kinds:?}");
    assert!(state.open_transfers().len() >= 2, "a few transfers never acknowledged");
    let anonymous = demo
        .entries
        .iter()
        .filter(|s| matches!(s.entry().body, Body::Donation { donor: ledger::Donor::Anonymous(_), .. }))
        .count();
    assert!(anonymous >= 200, "hundreds of anonymous gifts: {anonymous}");
    let earmarked =
        demo.entries.iter().filter(|s| matches!(s.entry().body, Body::Donation { earmark: Some(_), .. })).count();
    assert!(earmarked >= 10, "earmarked gifts: {earmarked}");
    let token_spends = demo
        .entries
        .iter()
        .filter(|s| matches!(&s.entry().body, Body::Spend { asset, .. } if asset.as_str() == "USDC"))
        .count();
    assert!(token_spends > 0);
    let roles: Vec<_> = state.organisation_ids().iter().map(|id| state.role_of(id).unwrap()).collect();
    assert_eq!(roles.iter().filter(|r| **r == ledger::Role::Ngo).count(), 3);
    assert_eq!(roles.iter().filter(|r| **r == ledger::Role::Clinic).count(), 10);
    // Field operations: a voucher programme run to its end, conversions both ways, a refund, sign-offs.
    assert_eq!(count(Kind::VoucherIssue), 1, "{kinds:?}");
    assert!(count(Kind::VoucherRedemption) >= 100, "{kinds:?}");
    assert_eq!(count(Kind::VoucherSettlement), 3, "{kinds:?}");
    assert_eq!(count(Kind::VoucherExpiry), 1, "{kinds:?}");
    assert_eq!(count(Kind::Conversion), 2, "{kinds:?}");
    assert_eq!(count(Kind::Refund), 1, "{kinds:?}");
    assert_eq!(count(Kind::AccountsSignOff), 3, "{kinds:?}");
    let programmes = state.voucher_programmes();
    assert_eq!(programmes.len(), 1);
    let vouchers = &programmes[0];
    assert_eq!(vouchers.issued, 240);
    assert_eq!(vouchers.redeemed, vouchers.settled);
    assert_eq!(vouchers.redeemed + vouchers.expired, vouchers.issued);
    assert!(vouchers.expired > 0);
    // The planted anomalies: every rule raises at least one flag, and the flags page stays readable.
    let listed = flags.list(&state, &FlagFilter { limit: usize::MAX, ..FlagFilter::default() });
    let counts = flags.counts();
    println!("demo flags by rule: {counts:?}");
    for flag in &listed {
        println!("  {} {}", flag.rule, flag.description);
    }
    for (rule, count) in &counts {
        assert!(*count >= 1, "the demo raises a {rule} flag: {counts:?}");
    }
    assert!(listed.len() <= 60, "a few dozen flags at most, not noise: {counts:?}");
    let planted = |rule: Rule, organisation: &str| {
        listed.iter().any(|flag| flag.rule == rule && flag.organisation.as_str() == organisation)
    };
    assert!(planted(Rule::RoundTrip, "sahel-care"));
    assert!(planted(Rule::PassThrough, "poste-sante-beni"));
    assert!(planted(Rule::Structuring, "sahel-care"));
    assert!(planted(Rule::UnacknowledgedTransfer, "malakal-clinic"));
    assert!(planted(Rule::SpendBeforeFunds, "centre-sante-bukavu"));
    assert!(planted(Rule::SpendingSpike, "clinique-goma"));
    // The example ids point at what they claim.
    assert!(state.forward_trace(&demo.example_donation).is_ok());
    assert!(state.backward_trace(&demo.example_spend).is_ok());

    // The clinic with a private store erased one patient: one tombstone, signed by that clinic, covering
    // exactly that patient's spends, none of which the store still links.
    assert_eq!(count(Kind::Erasure), 1, "{kinds:?}");
    let private = &demo.private;
    let erased = private.erased_person.as_deref().expect("a patient was erased");
    let index = private.erasure_index.expect("the tombstone's index") as usize;
    let tombstone = demo.entries[index].entry();
    assert_eq!(tombstone.author.as_str(), server::demo::PRIVATE_STORE_CLINIC);
    let Body::Erasure { count: erased_count, .. } = tombstone.body else { panic!("not a tombstone") };
    assert!(erased_count >= 2);
    assert!(!private.persons.iter().any(|person| person == erased));
    assert!(private.links.iter().all(|link| link.person_id != erased));
    let records = state.beneficiary_records(&ledger::OrgId::new(server::demo::PRIVATE_STORE_CLINIC).unwrap()).unwrap();
    assert_eq!(records.erased, u64::from(erased_count));
    assert_eq!(records.recorded, private.links.len() as u64 + u64::from(erased_count), "every spend is linked");
    for link in &private.links {
        let Body::Spend { recipient: ledger::Recipient::Beneficiary(commitment), .. } =
            &demo.entries[link.index as usize].entry().body
        else {
            panic!("a link points at a beneficiary spend")
        };
        assert_eq!(*commitment, link.commitment);
        assert_eq!(ledger::beneficiary_commitment(&link.salt, &link.pseudonym), link.commitment);
    }
    // One pseudonym per patient and programme: some patient has two spends with one pseudonym.
    assert!(private.links.iter().enumerate().any(|(i, a)| {
        private.links[i + 1..]
            .iter()
            .any(|b| a.person_id == b.person_id && a.programme == b.programme && a.pseudonym == b.pseudonym)
    }));
}
