//! Anomaly flags: deterministic rules, computed entry by entry as the log grows, that point a reader at
//! patterns worth a look: money that comes back to where it came from, money that passes through an
//! organisation without being used, many amounts just under a reporting threshold, transfers left
//! unacknowledged, spends dated before the money they used, and spending far above an organisation's own
//! usual level. A flag is information for a reader, not an accusation: each one names the entries that
//! raised it, so that anyone can look at them and judge. The rules and their thresholds are documented in
//! `docs/FLAGS.md`.
//!
//! [`Flags::observe`] is called right after [`State::apply`] accepted a new entry. Time is log time: the
//! entries' own timestamps and value dates, never a clock, so every replay of a log raises the same flags
//! at the same entries. Each rule keeps a small index (per organisation, per inbound transfer, per month),
//! so observing an entry costs about as much as the entry's own pieces.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::entry::Entry;
use crate::state::{AssetIndex, Detail, EntryRecord, LotKey, OrgIndex, State, amount_string};
use crate::types::{AssetCode, Category, Date, EntryId, OrgId};
use crate::words::{Language, term};

/// One day of log time, in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// Round trip: money that left an organisation by transfer comes back to it by transfer within this time.
pub const ROUND_TRIP_WINDOW_MS: u64 = 30 * DAY_MS;
/// Round trip: how many transfers back the returning money is followed (A → B → A is 1, A → B → C → A is 2).
pub const ROUND_TRIP_HOPS_MAX: usize = 3;
/// Round trip: the least money coming back that is flagged, in whole units of the asset.
pub const ROUND_TRIP_UNITS_MIN: u128 = 100;

/// Pass-through: money received by transfer and transferred on within this time.
pub const PASS_THROUGH_WINDOW_MS: u64 = 3 * DAY_MS;
/// Pass-through: the share of a received transfer, in percent, passed on within the window that is flagged.
pub const PASS_THROUGH_SHARE_PERCENT: u128 = 90;
/// Pass-through: the least received transfer that is flagged, in whole units of the asset.
pub const PASS_THROUGH_UNITS_MIN: u128 = 1_000;

/// Structuring: the reporting threshold, in whole units of the asset.
pub const STRUCTURING_THRESHOLD_UNITS: u128 = 10_000;
/// Structuring: "just under" is within this many percent below the threshold (from 9,000 to 9,999.99 units).
pub const STRUCTURING_BAND_PERCENT: u128 = 10;
/// Structuring: how many such amounts by one organisation in one asset raise a flag...
pub const STRUCTURING_COUNT: usize = 3;
/// ...within this time (timestamps of the entries).
pub const STRUCTURING_WINDOW_MS: u64 = 30 * DAY_MS;

/// Unacknowledged transfer: a transfer not acknowledged by its receiver within this time.
pub const UNACKNOWLEDGED_AFTER_MS: u64 = 14 * DAY_MS;

/// Spending spike: a month's spending in one category above this many times the usual level...
pub const SPIKE_FACTOR: u128 = 3;
/// ...where the usual level is the median of the months with spending in the category among the previous
/// `SPIKE_HISTORY_MONTHS` calendar months...
pub const SPIKE_HISTORY_MONTHS: u32 = 6;
/// ...of which at least this many must have spending (otherwise there is no usual level yet)...
pub const SPIKE_MONTHS_MIN: usize = 3;
/// ...and the month's spending exceeds the usual level by at least this much, in whole units of the asset.
pub const SPIKE_EXCESS_UNITS_MIN: u128 = 1_000;

/// The rules, by their stable codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    RoundTrip,
    PassThrough,
    Structuring,
    UnacknowledgedTransfer,
    SpendBeforeFunds,
    SpendingSpike,
}

impl Rule {
    pub const ALL: [Rule; 6] = [
        Rule::RoundTrip,
        Rule::PassThrough,
        Rule::Structuring,
        Rule::UnacknowledgedTransfer,
        Rule::SpendBeforeFunds,
        Rule::SpendingSpike,
    ];

    /// The code used by the API, the CSV export and the metrics (`round_trip`, `spending_spike`).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::RoundTrip => "round_trip",
            Rule::PassThrough => "pass_through",
            Rule::Structuring => "structuring",
            Rule::UnacknowledgedTransfer => "unacknowledged_transfer",
            Rule::SpendBeforeFunds => "spend_before_funds",
            Rule::SpendingSpike => "spending_spike",
        }
    }

    pub fn parse(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.as_str() == code)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sentence that goes with every list of flags.
pub fn notice(language: Language) -> &'static str {
    match language {
        Language::English => {
            "A flag is information for a reader, not an accusation: it points at entries that match a documented \
             pattern, which often has an ordinary explanation."
        }
        Language::French => {
            "Un signalement est une information pour le lecteur, pas une accusation : il désigne des écritures qui \
             correspondent à un schéma documenté, qui a souvent une explication ordinaire."
        }
    }
}

/// A raised flag as it is kept: positions in the state's tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Raised {
    rule: Rule,
    /// The entry whose arrival raised the flag.
    raised_by: u64,
    organisation: OrgIndex,
    counterparty: Option<OrgIndex>,
    asset: AssetIndex,
    amount: u128,
    reference_amount: Option<u128>,
    elapsed_ms: Option<u64>,
    category: Option<Category>,
    /// Months since year 0 (`year * 12 + month - 1`).
    month: Option<u32>,
    /// A spend's value date and the latest value date of the funds it used.
    dates: Option<(Date, Date)>,
    /// The triggering entries, in log order.
    entries: Vec<u64>,
}

/// Money an organisation received by one transfer and passed on within the window.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
struct PassedOn {
    amount: u128,
    transfers: Vec<u64>,
    flagged: bool,
}

/// What the rules read of every entry, kept small and in log order so that following money back through
/// lots touches little memory: 20 bytes (packed to 4-byte alignment, rather than padded to 24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C, packed(4))]
struct Mark {
    time_ms: u64,
    /// The value date in days, or [`NO_DATE`].
    value_days: u32,
    /// For a transfer, its sender and receiver; [`NOT_A_TRANSFER`] otherwise.
    from: OrgIndex,
    to: OrgIndex,
}

const _: () = assert!(size_of::<Mark>() == 20);

const NO_DATE: u32 = u32::MAX;
const NOT_A_TRANSFER: OrgIndex = OrgIndex::MAX;

/// A fast hasher for the rules' small integer keys (positions in the state's tables, which the log's operator
/// and authors cannot choose freely); deterministic, like every part of the flags.
#[derive(Clone, Copy, Debug, Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_isize(&mut self, value: isize) {
        self.write_u64(value as u64);
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type IndexMap<K, V> = HashMap<K, V, BuildHasherDefault<IndexHasher>>;

/// An amount just under the reporting threshold: (timestamp, index, amount).
type NearThreshold = (u64, u64, u128);

/// One organisation's spending in one asset, category and month.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
struct MonthSpending {
    total: u128,
    spends: Vec<u64>,
    flagged: bool,
}

/// The flags of a log prefix and the small indexes the rules keep. Equal logs give equal flags.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Flags {
    /// Entries observed (equal to the state's size when in step).
    size: u64,
    /// What the rules read of each entry, by index.
    marks: Vec<Mark>,
    /// The latest timestamp observed: log time.
    log_time_ms: u64,
    raised: Vec<Raised>,
    /// Flags naming each organisation (as the organisation or the counterparty), in raise order.
    by_organisation: IndexMap<OrgIndex, Vec<u64>>,
    /// Transfers awaiting acknowledgement, by (timestamp, index).
    awaiting: BTreeSet<(u64, u64)>,
    /// The earliest deadline among `awaiting` (`u64::MAX` when none; 0 before the first look).
    next_deadline_ms: u64,
    /// Received transfers whose money was passed on within the window, by the received transfer's index.
    passed_on: IndexMap<u64, PassedOn>,
    /// Recent amounts just under the threshold, per (organisation, asset): (timestamp, index, amount).
    near_threshold: IndexMap<(OrgIndex, AssetIndex), VecDeque<NearThreshold>>,
    /// Spending per (organisation, asset, category), by month.
    spending: IndexMap<(OrgIndex, AssetIndex, Category), BTreeMap<u32, MonthSpending>>,
    /// The latest transfers, decoded (not saved with the flags).
    #[serde(skip)]
    recent_transfers: RecentTransfers,
}

/// The latest transfers observed, decoded: money is mostly passed on soon after it arrives, so the rules
/// that follow it back through transfers find them here rather than decode the state's records again. Only
/// what never changes is read from here (a transfer's parties, asset, amount and lot pieces; not whether it
/// was acknowledged or reversed). A cache, not part of the flags' value: it never changes what a rule decides.
#[derive(Clone, Debug, Default)]
struct RecentTransfers {
    order: VecDeque<u64>,
    by_index: HashMap<u64, EntryRecord, BuildHasherDefault<IndexHasher>>,
}

impl RecentTransfers {
    /// Transfers kept (about 3 MB; 4,096 left the flags at 10–12 % of ingest time in the benchmark).
    const CAPACITY: usize = 16_384;

    fn remember(&mut self, record: &EntryRecord) {
        if self.order.len() == Self::CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_index.remove(&oldest);
        }
        self.order.push_back(record.index);
        self.by_index.insert(record.index, record.clone());
    }

    /// The record at `index`, from here or decoded from the state.
    fn record<'a>(&'a self, state: &State, index: u64) -> std::borrow::Cow<'a, EntryRecord> {
        match self.by_index.get(&index) {
            Some(record) => std::borrow::Cow::Borrowed(record),
            None => std::borrow::Cow::Owned(state.entries.get(index)),
        }
    }
}

impl PartialEq for RecentTransfers {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RecentTransfers {}

/// An entry named by a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagEntry {
    pub index: u64,
    pub entry_id: EntryId,
}

/// A flag as the API and the explorer show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagView {
    /// Position in the order flags were raised, from 0.
    pub id: u64,
    pub rule: Rule,
    /// The entry whose arrival raised the flag.
    pub raised_by: FlagEntry,
    /// The organisation the pattern is about.
    pub organisation: OrgId,
    /// The other organisation involved, when there is one.
    pub counterparty: Option<OrgId>,
    pub asset: AssetCode,
    pub decimals: u8,
    /// The money concerned, in minor units (see `docs/FLAGS.md` per rule).
    #[serde(with = "amount_string")]
    pub amount: u128,
    /// The amount it is compared with: the transfer received, the threshold, the whole spend, the usual level.
    #[serde(with = "option_amount_string")]
    pub reference_amount: Option<u128>,
    /// Log time the pattern took, in milliseconds.
    pub elapsed_ms: Option<u64>,
    pub category: Option<Category>,
    /// `YYYY-MM`.
    pub month: Option<String>,
    /// A spend's value date.
    pub value_date: Option<Date>,
    /// The latest value date of the funds a spend used.
    pub funds_value_date: Option<Date>,
    /// The entries that triggered the flag, in log order.
    pub entries: Vec<FlagEntry>,
    /// What was found, in plain English (see [`FlagView::describe`] for other languages).
    pub description: String,
}

mod option_amount_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<u128>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(&value.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u128>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Which flags to list.
#[derive(Clone, Debug, Default)]
pub struct FlagFilter {
    pub rule: Option<Rule>,
    /// Flags naming this organisation, as the organisation or the counterparty.
    pub organisation: Option<OrgId>,
    /// Only flags after this id (before it when `descending`).
    pub after: Option<u64>,
    pub descending: bool,
    pub limit: usize,
}

/// `amount` whole units of an asset with `decimals`, in minor units.
fn units(decimals: u8, amount: u128) -> u128 {
    10u128.checked_pow(u32::from(decimals)).and_then(|scale| scale.checked_mul(amount)).unwrap_or(u128::MAX)
}

/// The least amount that is at least `percent` % of `amount`: ⌈amount · percent / 100⌉, without overflow.
fn percent_ceil(amount: u128, percent: u128) -> u128 {
    let (quotient, remainder) = (amount / 100, amount % 100);
    quotient * percent + (remainder * percent).div_ceil(100)
}

fn month_of(date: Date) -> u32 {
    let (year, month, _) = date.ymd();
    u32::try_from(year).expect("dates are years 1970 to 9999") * 12 + month - 1
}

fn month_text(month: u32) -> String {
    format!("{:04}-{:02}", month / 12, month % 12 + 1)
}

impl Flags {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries observed; equal to the state's size when flags and state are in step.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many flags have been raised.
    pub fn len(&self) -> usize {
        self.raised.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raised.is_empty()
    }

    /// The rule of each flag raised from position `from` on (for counting new flags).
    pub fn rules_since(&self, from: usize) -> impl Iterator<Item = Rule> + '_ {
        self.raised.iter().skip(from).map(|raised| raised.rule)
    }

    /// How many flags each rule raised, every rule listed.
    pub fn counts(&self) -> Vec<(Rule, u64)> {
        Rule::ALL
            .into_iter()
            .map(|rule| (rule, self.raised.iter().filter(|raised| raised.rule == rule).count() as u64))
            .collect()
    }

    /// Updates the flags with the entry `state` has just accepted: call it right after every
    /// [`State::apply`] that appended an entry (not for duplicates), in log order, genesis included.
    pub fn observe(&mut self, state: &State, entry: &Entry) {
        let index = self.size;
        assert_eq!(state.size(), index + 1, "flags observe each appended entry right after it is applied");
        let now = entry.timestamp_ms;
        let record = state.entries.newest();
        let (from, to) = match &record.detail {
            Detail::Transfer { from, to, .. } => (*from, *to),
            _ => (NOT_A_TRANSFER, NOT_A_TRANSFER),
        };
        let value_days = record.value_date.map_or(NO_DATE, Date::days);
        crate::state::grow_gently(&mut self.marks);
        self.marks.push(Mark { time_ms: now, value_days, from, to });
        self.size += 1;
        self.log_time_ms = self.log_time_ms.max(now);
        match &record.detail {
            Detail::Donation { holder, asset, amount, .. } => {
                self.structuring(state, *holder, *asset, *amount, index);
            }
            Detail::Transfer { from, asset, amount, .. } => {
                self.transfer_sent(state, &record);
                self.recent_transfers.remember(&record);
                self.structuring(state, *from, *asset, *amount, index);
                self.awaiting.insert((now, index));
                self.next_deadline_ms = self.next_deadline_ms.min(now.saturating_add(UNACKNOWLEDGED_AFTER_MS));
            }
            Detail::Spend { from, asset, amount, .. } => {
                self.spend_before_funds(&record);
                self.spending_spike(state, &record);
                self.structuring(state, *from, *asset, *amount, index);
            }
            Detail::Pledge(position) => {
                let pledge = &state.pledges[*position as usize];
                self.structuring(state, pledge.pledger, pledge.asset, pledge.amount, index);
            }
            Detail::Reversal { target } => self.reversed(state, *target),
            _ => {}
        }
        self.unacknowledged(state, index);
    }

    fn raise(&mut self, raised: Raised) {
        let id = self.raised.len() as u64;
        self.by_organisation.entry(raised.organisation).or_default().push(id);
        if let Some(counterparty) = raised.counterparty
            && counterparty != raised.organisation
        {
            self.by_organisation.entry(counterparty).or_default().push(id);
        }
        self.raised.push(raised);
    }

    /// A transfer from B to A, read once for two rules. Round trip: its money had left A by transfer within
    /// the window, a few transfers back. Pass-through: its money had reached B by transfer within the window.
    fn transfer_sent(&mut self, state: &State, record: &EntryRecord) {
        let index = record.index;
        let Detail::Transfer { from: holder, to: receiver, asset, pieces, .. } = &record.detail else {
            return;
        };
        let now = self.marks[index as usize].time_ms;
        let mut returned: u128 = 0;
        let mut chain: BTreeSet<u64> = BTreeSet::new();
        let mut earliest = now;
        let mut touched: Vec<u64> = Vec::new();
        for piece in pieces {
            let received = piece.from.0;
            let mark = self.marks[received as usize];
            if mark.from == NOT_A_TRANSFER {
                continue;
            }
            let age = now.saturating_sub(mark.time_ms);
            if age <= PASS_THROUGH_WINDOW_MS {
                let passed = self.passed_on.entry(received).or_default();
                if !passed.flagged {
                    passed.amount = passed.amount.saturating_add(piece.amount);
                    if passed.transfers.last() != Some(&index) {
                        passed.transfers.push(index);
                    }
                    if !touched.contains(&received) {
                        touched.push(received);
                    }
                }
            }
            // Follow the piece back, lot by lot, while it came by transfer within the window.
            let mut key: LotKey = piece.from;
            let mut path = [0u64; ROUND_TRIP_HOPS_MAX];
            for hop in 0..ROUND_TRIP_HOPS_MAX {
                let mark = self.marks[key.0 as usize];
                if mark.from == NOT_A_TRANSFER || now.saturating_sub(mark.time_ms) > ROUND_TRIP_WINDOW_MS {
                    break;
                }
                path[hop] = key.0;
                if mark.from == *receiver {
                    returned = returned.saturating_add(piece.amount);
                    chain.extend(&path[..=hop]);
                    earliest = earliest.min(mark.time_ms);
                    break;
                }
                let earlier = self.recent_transfers.record(state, key.0);
                let Detail::Transfer { pieces: earlier, .. } = &earlier.detail else { break };
                match earlier.get(key.1 as usize) {
                    Some(earlier_piece) => key = earlier_piece.from,
                    None => break,
                }
            }
        }
        if returned > 0 && returned >= units(state.assets[*asset as usize].decimals, ROUND_TRIP_UNITS_MIN) {
            chain.insert(index);
            self.raise(Raised {
                rule: Rule::RoundTrip,
                raised_by: index,
                organisation: *receiver,
                counterparty: Some(*holder),
                asset: *asset,
                amount: returned,
                reference_amount: None,
                elapsed_ms: Some(now - earliest),
                category: None,
                month: None,
                dates: None,
                entries: chain.into_iter().collect(),
            });
        }
        for received in touched {
            let received_record = self.recent_transfers.record(state, received);
            let Detail::Transfer { from: sender, asset, amount: received_amount, .. } = &received_record.detail else {
                unreachable!("only received transfers are indexed")
            };
            let passed = self.passed_on.get_mut(&received).expect("indexed above");
            let minimum = units(state.assets[*asset as usize].decimals, PASS_THROUGH_UNITS_MIN);
            if *received_amount < minimum || passed.amount < percent_ceil(*received_amount, PASS_THROUGH_SHARE_PERCENT)
            {
                continue;
            }
            passed.flagged = true;
            let mut entries = vec![received];
            entries.extend(&passed.transfers);
            let amount = passed.amount;
            self.raise(Raised {
                rule: Rule::PassThrough,
                raised_by: index,
                organisation: *holder,
                counterparty: Some(*sender),
                asset: *asset,
                amount,
                reference_amount: Some(*received_amount),
                elapsed_ms: Some(now - self.marks[received as usize].time_ms),
                category: None,
                month: None,
                dates: None,
                entries,
            });
        }
    }

    /// Structuring: several amounts just under the reporting threshold by one organisation within the window.
    fn structuring(&mut self, state: &State, organisation: OrgIndex, asset: AssetIndex, amount: u128, index: u64) {
        let threshold = units(state.assets[asset as usize].decimals, STRUCTURING_THRESHOLD_UNITS);
        let lower = percent_ceil(threshold, 100 - STRUCTURING_BAND_PERCENT);
        if amount < lower || amount >= threshold {
            return;
        }
        let now = self.marks[index as usize].time_ms;
        let recent = self.near_threshold.entry((organisation, asset)).or_default();
        while recent.front().is_some_and(|&(at, _, _)| now.saturating_sub(at) > STRUCTURING_WINDOW_MS) {
            recent.pop_front();
        }
        recent.push_back((now, index, amount));
        if recent.len() < STRUCTURING_COUNT {
            return;
        }
        let found: Vec<NearThreshold> = recent.drain(..).collect();
        let total = found.iter().fold(0u128, |sum, &(_, _, amount)| sum.saturating_add(amount));
        self.raise(Raised {
            rule: Rule::Structuring,
            raised_by: index,
            organisation,
            counterparty: None,
            asset,
            amount: total,
            reference_amount: Some(threshold),
            elapsed_ms: Some(now - found[0].0),
            category: None,
            month: None,
            dates: None,
            entries: found.into_iter().map(|(_, entry, _)| entry).collect(),
        });
    }

    /// Unacknowledged transfers: every transfer sent more than the allowed time before log time that its
    /// receiver did not acknowledge within that time (and that was not reversed) is flagged by this entry.
    fn unacknowledged(&mut self, state: &State, index: u64) {
        if self.log_time_ms <= self.next_deadline_ms {
            return;
        }
        while let Some(&(sent_at, transfer)) = self.awaiting.first() {
            let deadline = sent_at.saturating_add(UNACKNOWLEDGED_AFTER_MS);
            if self.log_time_ms <= deadline {
                break;
            }
            self.awaiting.pop_first();
            let Detail::Transfer { from, to, asset, amount, acknowledged_at, reversed, .. } =
                &state.entries.get(transfer).detail
            else {
                unreachable!("only transfers await acknowledgement")
            };
            let acknowledged_in_time = acknowledged_at.is_some_and(|ack| self.marks[ack as usize].time_ms <= deadline);
            if *reversed || acknowledged_in_time {
                continue;
            }
            self.raise(Raised {
                rule: Rule::UnacknowledgedTransfer,
                raised_by: index,
                organisation: *to,
                counterparty: Some(*from),
                asset: *asset,
                amount: *amount,
                reference_amount: None,
                elapsed_ms: Some(self.log_time_ms - sent_at),
                category: None,
                month: None,
                dates: None,
                entries: vec![transfer],
            });
        }
        self.next_deadline_ms =
            self.awaiting.first().map_or(u64::MAX, |&(sent_at, _)| sent_at.saturating_add(UNACKNOWLEDGED_AFTER_MS));
    }

    /// Spend before funds: a spend dated before the value date of money it used.
    fn spend_before_funds(&mut self, record: &EntryRecord) {
        let index = record.index;
        let Detail::Spend { from, asset, amount, pieces, .. } = &record.detail else { return };
        let Some(spend_date) = record.value_date else { return };
        let mut early: u128 = 0;
        let mut latest = spend_date;
        let mut funds: BTreeSet<u64> = BTreeSet::new();
        for piece in pieces {
            let funds_days = self.marks[piece.from.0 as usize].value_days;
            if funds_days == NO_DATE {
                continue;
            }
            let funds_date = Date::from_days(funds_days).expect("a value date of the log");
            if funds_date > spend_date {
                early = early.saturating_add(piece.amount);
                latest = latest.max(funds_date);
                funds.insert(piece.from.0);
            }
        }
        if early == 0 {
            return;
        }
        funds.insert(index);
        self.raise(Raised {
            rule: Rule::SpendBeforeFunds,
            raised_by: index,
            organisation: *from,
            counterparty: None,
            asset: *asset,
            amount: early,
            reference_amount: Some(*amount),
            elapsed_ms: None,
            category: None,
            month: None,
            dates: Some((spend_date, latest)),
            entries: funds.into_iter().collect(),
        });
    }

    /// Spending spike: a month's spending in a category far above the organisation's usual monthly level.
    fn spending_spike(&mut self, state: &State, record: &EntryRecord) {
        let index = record.index;
        let Detail::Spend { from, asset, amount, category, .. } = &record.detail else { return };
        let Some(date) = record.value_date else { return };
        let month = month_of(date);
        let months = self.spending.entry((*from, *asset, *category)).or_default();
        let slot = months.entry(month).or_default();
        slot.total = slot.total.saturating_add(*amount);
        slot.spends.push(index);
        if slot.flagged {
            return;
        }
        let total = slot.total;
        let minimum_excess = units(state.assets[*asset as usize].decimals, SPIKE_EXCESS_UNITS_MIN);
        if total < minimum_excess {
            return;
        }
        let mut earlier = [0u128; SPIKE_HISTORY_MONTHS as usize];
        let mut count = 0;
        for (_, spending) in months.range(month.saturating_sub(SPIKE_HISTORY_MONTHS)..month) {
            if spending.total > 0 {
                earlier[count] = spending.total;
                count += 1;
            }
        }
        if count < SPIKE_MONTHS_MIN {
            return;
        }
        let history = &mut earlier[..count];
        history.sort_unstable();
        let middle = history.len() / 2;
        let usual = if history.len() % 2 == 1 {
            history[middle]
        } else {
            let (low, high) = (history[middle - 1], history[middle]);
            low / 2 + high / 2 + (low % 2 + high % 2) / 2
        };
        let far_above = usual.checked_mul(SPIKE_FACTOR).is_some_and(|limit| total > limit);
        if !far_above || total - usual < minimum_excess {
            return;
        }
        let slot = months.get_mut(&month).expect("inserted above");
        slot.flagged = true;
        let entries = slot.spends.clone();
        self.raise(Raised {
            rule: Rule::SpendingSpike,
            raised_by: index,
            organisation: *from,
            counterparty: None,
            asset: *asset,
            amount: total,
            reference_amount: Some(usual),
            elapsed_ms: None,
            category: Some(*category),
            month: Some(month),
            dates: None,
            entries,
        });
    }

    /// A reversed spend no longer counts in its month's spending. Flags already raised stay: they say what
    /// the log showed when they were raised.
    fn reversed(&mut self, state: &State, target: u64) {
        let record = state.entries.get(target);
        let Detail::Spend { from, asset, amount, category, .. } = &record.detail else { return };
        let Some(date) = record.value_date else { return };
        if let Some(slot) =
            self.spending.get_mut(&(*from, *asset, *category)).and_then(|months| months.get_mut(&month_of(date)))
        {
            slot.total = slot.total.saturating_sub(*amount);
            slot.spends.retain(|&spend| spend != target);
        }
    }

    /// Flags matching a filter, in raise order (or the reverse), at most `filter.limit`. An organisation that is
    /// not registered has no flags.
    pub fn list(&self, state: &State, filter: &FlagFilter) -> Vec<FlagView> {
        let candidates: Box<dyn Iterator<Item = u64> + '_> = match &filter.organisation {
            Some(id) => {
                let Some(org) = state.organisation_ids.get(id) else { return Vec::new() };
                let ids = self.by_organisation.get(org).map(Vec::as_slice).unwrap_or(&[]);
                if filter.descending { Box::new(ids.iter().rev().copied()) } else { Box::new(ids.iter().copied()) }
            }
            None => {
                let count = self.raised.len() as u64;
                if filter.descending { Box::new((0..count).rev()) } else { Box::new(0..count) }
            }
        };
        candidates
            .filter(|&id| match filter.after {
                Some(after) if filter.descending => id < after,
                Some(after) => id > after,
                None => true,
            })
            .filter(|&id| filter.rule.is_none_or(|rule| self.raised[id as usize].rule == rule))
            .take(filter.limit)
            .map(|id| self.view(state, id))
            .collect()
    }

    /// One flag by its id.
    pub fn get(&self, state: &State, id: u64) -> Option<FlagView> {
        (id < self.raised.len() as u64).then(|| self.view(state, id))
    }

    fn view(&self, state: &State, id: u64) -> FlagView {
        let raised = &self.raised[id as usize];
        let org_id = |org: OrgIndex| state.organisations[org as usize].id.clone();
        let entry = |index: u64| FlagEntry { index, entry_id: state.entries.entry_id(index) };
        let asset = &state.assets[raised.asset as usize];
        let mut view = FlagView {
            id,
            rule: raised.rule,
            raised_by: entry(raised.raised_by),
            organisation: org_id(raised.organisation),
            counterparty: raised.counterparty.map(org_id),
            asset: asset.code.clone(),
            decimals: asset.decimals,
            amount: raised.amount,
            reference_amount: raised.reference_amount,
            elapsed_ms: raised.elapsed_ms,
            category: raised.category,
            month: raised.month.map(month_text),
            value_date: raised.dates.map(|(spend, _)| spend),
            funds_value_date: raised.dates.map(|(_, funds)| funds),
            entries: raised.entries.iter().map(|&index| entry(index)).collect(),
            description: String::new(),
        };
        view.description = view.describe(Language::English);
        view
    }
}

/// A span of log time in words: hours under two days, whole days from then on.
fn duration_words(language: Language, ms: u64) -> String {
    let hours = ms.div_ceil(3_600_000).max(1);
    match (hours < 48, language) {
        (true, Language::English) => format!("{hours} hour{}", if hours == 1 { "" } else { "s" }),
        (true, Language::French) => format!("{hours} heure{}", if hours == 1 { "" } else { "s" }),
        (false, Language::English) => format!("{} days", ms / DAY_MS),
        (false, Language::French) => format!("{} jours", ms / DAY_MS),
    }
}

impl FlagView {
    /// What was found, in one or two factual sentences.
    pub fn describe(&self, language: Language) -> String {
        let french = language == Language::French;
        let money = |amount: u128| language.money(amount, self.decimals, self.asset.as_str());
        let org = &self.organisation;
        let other = self.counterparty.as_ref().map(|id| id.to_string()).unwrap_or_default();
        let reference = money(self.reference_amount.unwrap_or(0));
        let elapsed = duration_words(language, self.elapsed_ms.unwrap_or(0));
        match (self.rule, french) {
            (Rule::RoundTrip, false) => format!(
                "{} that {org} had transferred away came back to it from {other} within {elapsed}.",
                money(self.amount)
            ),
            (Rule::RoundTrip, true) => format!(
                "{} que {org} avait transférés sont revenus chez elle depuis {other} en {elapsed}.",
                money(self.amount)
            ),
            (Rule::PassThrough, false) => format!(
                "{org} transferred on {} of the {reference} it received from {other} within {elapsed}, without \
                 spending it.",
                money(self.amount)
            ),
            (Rule::PassThrough, true) => format!(
                "{org} a transféré {} des {reference} reçus de {other} en {elapsed}, sans les dépenser.",
                money(self.amount)
            ),
            (Rule::Structuring, _) => {
                let threshold = self.reference_amount.unwrap_or(0);
                let lower = money(percent_ceil(threshold, 100 - STRUCTURING_BAND_PERCENT));
                let count = self.entries.len();
                if french {
                    format!(
                        "{org} a enregistré {count} montants entre {lower} et {reference} (seuil de déclaration) en \
                         {elapsed}, soit {} au total.",
                        money(self.amount)
                    )
                } else {
                    format!(
                        "{org} recorded {count} amounts between {lower} and the {reference} reporting threshold \
                         within {elapsed}, {} in all.",
                        money(self.amount)
                    )
                }
            }
            (Rule::UnacknowledgedTransfer, false) => format!(
                "{org} had not acknowledged the transfer of {} from {other} {elapsed} after it was sent.",
                money(self.amount)
            ),
            (Rule::UnacknowledgedTransfer, true) => format!(
                "{org} n'avait pas confirmé la réception du transfert de {} de {other} {elapsed} après son envoi.",
                money(self.amount)
            ),
            (Rule::SpendBeforeFunds, _) => {
                let date = |date: Option<Date>| date.map(|date| date.to_string()).unwrap_or_default();
                let (spent_on, funds_on) = (date(self.value_date), date(self.funds_value_date));
                if french {
                    format!(
                        "La dépense de {reference} de {org} est datée du {spent_on}, avant la date de valeur ({funds_on}) \
                         de {} des fonds qui l'ont payée.",
                        money(self.amount)
                    )
                } else {
                    format!(
                        "{org}'s spend of {reference} is dated {spent_on}, before the value date ({funds_on}) of {} of \
                         the funds that paid for it.",
                        money(self.amount)
                    )
                }
            }
            (Rule::SpendingSpike, _) => {
                let category = self.category.map(|category| category.as_str()).unwrap_or("other");
                let category = term(language, category).unwrap_or(category);
                let month = self.month.clone().unwrap_or_default();
                if french {
                    format!(
                        "{org} a dépensé {} en {category} en {month}, plus de {SPIKE_FACTOR} fois son niveau mensuel \
                         habituel ({reference}, médiane des mois précédents).",
                        money(self.amount)
                    )
                } else {
                    format!(
                        "{org} spent {} on {category} in {month}, more than {SPIKE_FACTOR} times its usual monthly \
                         level ({reference}, the median of the previous months).",
                        money(self.amount)
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up_without_overflow() {
        assert_eq!(percent_ceil(1_000, 90), 900);
        assert_eq!(percent_ceil(1_001, 90), 901);
        assert_eq!(percent_ceil(7, 90), 7);
        assert_eq!(percent_ceil(u128::MAX, 100), u128::MAX);
        assert_eq!(percent_ceil(1_000_000, 90), 900_000);
    }

    #[test]
    fn months_and_units() {
        let date: Date = "2026-03-31".parse().unwrap();
        assert_eq!(month_text(month_of(date)), "2026-03");
        assert_eq!(month_of("2026-01-01".parse().unwrap()) - month_of("2025-12-31".parse().unwrap()), 1);
        assert_eq!(units(2, 10_000), 1_000_000);
        assert_eq!(units(0, 7), 7);
        assert_eq!(units(18, u128::MAX), u128::MAX);
    }

    #[test]
    fn rule_codes_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
        assert_eq!(Rule::parse("roundtrip"), None);
    }
}
