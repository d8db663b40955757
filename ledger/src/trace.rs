//! Fund tracing and read views of the state: a donation followed forward hop by hop, a spend traced back
//! to the donations that paid for it, and an organisation's balances, pledges and open transfers.
//! Each trace reads only the movements of the money asked about, so its cost grows with the answer.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::entry::Kind;
use crate::state::{
    Detail, DonorRef, EarmarkRef, Flow, FlowKind, OrgIndex, PledgeStatus, SignOffRecord, SpendRecipient, State,
    VoucherIssueRecord, VoucherStatus, amount_string,
};
use crate::types::{
    AssetCode, Category, Commitment, Date, Digest, EntryId, OrgId, ProgrammeId, PublicKey, Role, VoucherId,
};

/// A party in a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "id")]
pub enum Party {
    /// The donor of a donation, outside the ledger (a donor organisation or an anonymous reference).
    Donor(String),
    Organisation(OrgId),
    Beneficiary(Commitment),
    Supplier(OrgId),
    /// Money reserved by a pledge (the pledge's entry id).
    Pledge(EntryId),
    /// Money reserved behind health vouchers (the voucher issue's entry id).
    Vouchers(EntryId),
}

/// An earmark, written out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "id")]
pub enum EarmarkView {
    Programme(ProgrammeId),
    Country(String),
    Clinic(OrgId),
}

/// One movement of a donation's money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub entry_index: u64,
    pub entry_id: EntryId,
    pub kind: Kind,
    pub from: Party,
    pub to: Party,
    /// The asset this hop moves (a donation converted into another asset moves on in that asset).
    pub asset: AssetCode,
    /// This donation's part of the entry's amount, in minor units of `asset`.
    #[serde(with = "amount_string")]
    pub amount: u128,
    /// For conversions: what this donation's part became in the other asset.
    pub converted_into: Option<AssetAmount>,
    pub value_date: Option<Date>,
    /// For spends: what the money paid for.
    pub category: Option<Category>,
    /// Organisation hops from the donation's receiver (the receiver is at depth 0).
    pub depth: u32,
}

/// An amount of an asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetAmount {
    pub asset: AssetCode,
    #[serde(with = "amount_string")]
    pub amount: u128,
}

/// Where a donation's money is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub organisation: OrgId,
    pub asset: AssetCode,
    /// Free to move.
    #[serde(with = "amount_string")]
    pub held: u128,
    /// Reserved by pledges this organisation made.
    #[serde(with = "amount_string")]
    pub reserved: u128,
    /// Spent by this organisation.
    #[serde(with = "amount_string")]
    pub spent: u128,
}

/// What became of a donation's money in one asset. Conservation:
/// `received == held + reserved + spent + returned + converted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetPosition {
    pub asset: AssetCode,
    pub decimals: u8,
    /// The donation itself (in its own asset) or what conversions turned into this asset.
    #[serde(with = "amount_string")]
    pub received: u128,
    #[serde(with = "amount_string")]
    pub held: u128,
    #[serde(with = "amount_string")]
    pub reserved: u128,
    #[serde(with = "amount_string")]
    pub spent: u128,
    /// Given back to the donor (reversal or refund).
    #[serde(with = "amount_string")]
    pub returned: u128,
    /// Converted into another asset.
    #[serde(with = "amount_string")]
    pub converted: u128,
    /// The part of `spent` that paid for administration and bank fees.
    #[serde(with = "amount_string")]
    pub overheads: u128,
}

/// A donation followed forward. Conservation, in the donation's asset:
/// `spent + held + reserved + returned + converted == amount`; `positions` holds the same per asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardTrace {
    pub donation_index: u64,
    pub donation_id: EntryId,
    pub donor: String,
    pub receiver: OrgId,
    pub asset: AssetCode,
    pub decimals: u8,
    #[serde(with = "amount_string")]
    pub amount: u128,
    pub earmark: Option<EarmarkView>,
    pub hops: Vec<Hop>,
    pub holders: Vec<Holder>,
    #[serde(with = "amount_string")]
    pub spent: u128,
    #[serde(with = "amount_string")]
    pub held: u128,
    #[serde(with = "amount_string")]
    pub reserved: u128,
    /// Given back to the donor: the donation reversed, or refunded.
    #[serde(with = "amount_string")]
    pub returned: u128,
    /// Converted into other assets (followed on in `positions`).
    #[serde(with = "amount_string")]
    pub converted: u128,
    /// Per asset, the donation's asset first. `spent`, `held`, `reserved`, `returned` and `converted` above are
    /// the first position's: they add up to its `received`, which is `amount` plus whatever was converted back
    /// into the donation's asset.
    pub positions: Vec<AssetPosition>,
    /// Spending of this donation by category and asset.
    pub spent_by_category: Vec<CategoryAmount>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryAmount {
    pub category: Category,
    pub asset: AssetCode,
    #[serde(with = "amount_string")]
    pub amount: u128,
}

/// A donation's money in one asset, while a forward trace adds it up.
#[derive(Default)]
struct Position {
    received: u128,
    held: u128,
    reserved: u128,
    spent: u128,
    returned: u128,
    converted: u128,
    overheads: u128,
}

impl Position {
    /// Administration and bank fees are the overheads a donor asks about.
    fn count_overheads(&mut self, category: Category, amount: u128, add: bool) {
        if matches!(category, Category::Administration | Category::BankFees) {
            if add {
                self.overheads += amount;
            } else {
                self.overheads -= amount;
            }
        }
    }
}

/// One donation that paid for a spend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub donation_index: u64,
    pub donation_id: EntryId,
    pub donor: String,
    pub receiver: OrgId,
    pub earmark: Option<EarmarkView>,
    #[serde(with = "amount_string")]
    pub amount: u128,
}

/// A spend traced back to the donations that funded it; the sources sum to the spend's amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackwardTrace {
    pub spend_index: u64,
    pub spend_id: EntryId,
    pub spender: OrgId,
    pub asset: AssetCode,
    pub decimals: u8,
    #[serde(with = "amount_string")]
    pub amount: u128,
    pub category: Category,
    pub recipient: Party,
    pub reversed: bool,
    pub sources: Vec<Source>,
}

/// Why a trace or view could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("no entry has id {0}")]
    UnknownEntry(String),
    #[error("entry {entry_id} is a {kind}, not a {expected}")]
    WrongKind { entry_id: String, kind: Kind, expected: &'static str },
    #[error("{0} is not a registered organisation")]
    UnknownOrganisation(String),
}

/// An organisation's balance in one asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub asset: AssetCode,
    pub decimals: u8,
    /// Free to move or spend.
    #[serde(with = "amount_string")]
    pub available: u128,
    /// Reserved by this organisation's open or attested pledges.
    #[serde(with = "amount_string")]
    pub pledged: u128,
    /// The part of `available` that is earmarked.
    #[serde(with = "amount_string")]
    pub earmarked: u128,
}

/// A pledge as the state sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeView {
    pub entry_index: u64,
    pub entry_id: EntryId,
    pub pledger: OrgId,
    pub receiver: OrgId,
    pub verifier: OrgId,
    pub asset: AssetCode,
    #[serde(with = "amount_string")]
    pub amount: u128,
    pub result: String,
    pub expires_at_ms: u64,
    /// `open`, `attested`, `released` or `voided`.
    pub status: String,
    /// Log index of the attestation, release and void entries, when they exist.
    pub attested_at: Option<u64>,
    pub released_at: Option<u64>,
    pub voided_at: Option<u64>,
}

/// A transfer whose receiver has not acknowledged it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTransfer {
    pub entry_index: u64,
    pub entry_id: EntryId,
    pub from: OrgId,
    pub to: OrgId,
    pub asset: AssetCode,
    #[serde(with = "amount_string")]
    pub amount: u128,
    pub value_date: Option<Date>,
}

/// A registered organisation with its balances, pledges and open transfers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationProfile {
    pub id: OrgId,
    pub role: Role,
    pub name: String,
    pub country: String,
    pub iati_identifier: Option<String>,
    pub attribution_policy: crate::types::AttributionPolicy,
    pub key: Option<PublicKey>,
    pub registered_at: u64,
    pub balances: Vec<Balance>,
    /// Pledges made, received or to verify.
    pub pledges: Vec<PledgeView>,
    /// Transfers this organisation sent or received that are not acknowledged.
    pub unacknowledged_transfers: Vec<OpenTransfer>,
    /// Auditors' sign-offs of its accounts (for an auditor: those it made).
    pub sign_offs: Vec<SignOffView>,
    /// Voucher issues it made or where it may redeem vouchers.
    pub voucher_issues: Vec<VoucherIssueView>,
}

impl State {
    fn org_id(&self, org: OrgIndex) -> OrgId {
        self.organisations[org as usize].id.clone()
    }

    fn earmark_view(&self, earmark: Option<EarmarkRef>) -> Option<EarmarkView> {
        earmark.map(|earmark| match earmark {
            EarmarkRef::Programme(programme) => EarmarkView::Programme(self.programmes[programme as usize].id.clone()),
            EarmarkRef::Country(country) => EarmarkView::Country(String::from_utf8_lossy(&country).into_owned()),
            EarmarkRef::Clinic(clinic) => EarmarkView::Clinic(self.org_id(clinic)),
        })
    }

    /// The log index of an entry id.
    pub fn index_of(&self, entry_id: &EntryId) -> Option<u64> {
        self.entries.find(entry_id)
    }

    /// The entry id at a log index.
    pub fn entry_id_at(&self, index: u64) -> Option<EntryId> {
        self.entries.try_entry_id(index)
    }

    /// The donations made with an anonymous donor reference (found from the donor's secret receipt).
    pub fn donations_by_reference(&self, reference: &Commitment) -> Vec<EntryId> {
        self.donations_by_reference
            .get(reference)
            .map(|indexes| indexes.iter().map(|&index| self.entries.entry_id(index)).collect())
            .unwrap_or_default()
    }

    fn donor_label(&self, donor: DonorRef) -> String {
        match donor {
            DonorRef::Organisation(org) => self.org_id(org).to_string(),
            DonorRef::Anonymous(reference) => format!("anonymous:{}", reference.to_hex()),
        }
    }

    /// Follows a donation forward, hop by hop, to where its money is now.
    pub fn forward_trace(&self, donation: &EntryId) -> Result<ForwardTrace, TraceError> {
        let index = self.index_of(donation).ok_or_else(|| TraceError::UnknownEntry(donation.to_hex()))?;
        let record = self.entries.get(index);
        let Detail::Donation { holder, donor, asset, amount, earmark, .. } = record.detail else {
            return Err(TraceError::WrongKind { entry_id: donation.to_hex(), kind: record.kind, expected: "donation" });
        };
        let donor_label = self.donor_label(donor);
        let flows: Vec<Flow> = self.flows.get(&index).map(|list| list.iter().collect()).unwrap_or_default();
        let mut depth: HashMap<OrgIndex, u32> = HashMap::from([(holder, 0)]);
        // Per (organisation, asset): held, reserved, spent.
        let mut per_org: BTreeMap<(OrgIndex, u32), (u128, u128, u128)> = BTreeMap::new();
        let mut by_category: BTreeMap<(Category, u32), u128> = BTreeMap::new();
        let mut positions: BTreeMap<u32, Position> = BTreeMap::new();
        positions.insert(asset, Position { received: amount, ..Position::default() });
        let mut hops = Vec::with_capacity(flows.len());
        let donor_party = Party::Donor(donor_label.clone());
        for flow in &flows {
            let entry = self.entries.get(flow.entry_index);
            let org_depth = |org: OrgIndex, depth: &HashMap<OrgIndex, u32>| depth.get(&org).copied().unwrap_or(0);
            let flow_asset = self.flow_asset(flow, asset);
            let position = positions.entry(flow_asset).or_default();
            let mut category = None;
            let mut converted_into = None;
            let (from, to, hop_depth) = match flow.kind {
                FlowKind::Donated { to } => {
                    per_org.entry((to, flow_asset)).or_default().0 += flow.amount;
                    (donor_party.clone(), Party::Organisation(self.org_id(to)), 0)
                }
                FlowKind::Transferred { from, to } | FlowKind::ReturnedTransfer { from, to } => {
                    per_org.entry((from, flow_asset)).or_default().0 -= flow.amount;
                    per_org.entry((to, flow_asset)).or_default().0 += flow.amount;
                    let next = org_depth(from, &depth) + 1;
                    let slot = depth.entry(to).or_insert(next);
                    *slot = (*slot).min(next);
                    (Party::Organisation(self.org_id(from)), Party::Organisation(self.org_id(to)), next)
                }
                FlowKind::Spent { by } => {
                    let slot = per_org.entry((by, flow_asset)).or_default();
                    slot.0 -= flow.amount;
                    slot.2 += flow.amount;
                    position.spent += flow.amount;
                    let (recipient, spend_category) = match &entry.detail {
                        Detail::Spend { recipient, category, .. } => (*recipient, *category),
                        _ => unreachable!("a spend flow belongs to a spend"),
                    };
                    category = Some(spend_category);
                    position.count_overheads(spend_category, flow.amount, true);
                    *by_category.entry((spend_category, flow_asset)).or_default() += flow.amount;
                    let to = self.recipient_party(recipient);
                    (Party::Organisation(self.org_id(by)), to, org_depth(by, &depth) + 1)
                }
                FlowKind::ReturnedSpend { to } => {
                    let slot = per_org.entry((to, flow_asset)).or_default();
                    slot.0 += flow.amount;
                    slot.2 -= flow.amount;
                    position.spent -= flow.amount;
                    let (recipient, spend_category) = self.reversed_spend(flow.entry_index);
                    category = Some(spend_category);
                    position.count_overheads(spend_category, flow.amount, false);
                    *by_category.entry((spend_category, flow_asset)).or_default() -= flow.amount;
                    (recipient, Party::Organisation(self.org_id(to)), org_depth(to, &depth))
                }
                FlowKind::Reserved { by, pledge } => {
                    let slot = per_org.entry((by, flow_asset)).or_default();
                    slot.0 -= flow.amount;
                    slot.1 += flow.amount;
                    position.reserved += flow.amount;
                    let pledge_id = self.pledges[pledge as usize].entry_id;
                    (Party::Organisation(self.org_id(by)), Party::Pledge(pledge_id), org_depth(by, &depth))
                }
                FlowKind::Released { from, to, pledge } => {
                    per_org.entry((from, flow_asset)).or_default().1 -= flow.amount;
                    per_org.entry((to, flow_asset)).or_default().0 += flow.amount;
                    position.reserved -= flow.amount;
                    let next = org_depth(from, &depth) + 1;
                    let slot = depth.entry(to).or_insert(next);
                    *slot = (*slot).min(next);
                    let pledge_id = self.pledges[pledge as usize].entry_id;
                    (Party::Pledge(pledge_id), Party::Organisation(self.org_id(to)), next)
                }
                FlowKind::Unreserved { to, pledge } => {
                    let slot = per_org.entry((to, flow_asset)).or_default();
                    slot.1 -= flow.amount;
                    slot.0 += flow.amount;
                    position.reserved -= flow.amount;
                    let pledge_id = self.pledges[pledge as usize].entry_id;
                    (Party::Pledge(pledge_id), Party::Organisation(self.org_id(to)), org_depth(to, &depth))
                }
                FlowKind::DonationReversed { from } | FlowKind::Refunded { by: from } => {
                    per_org.entry((from, flow_asset)).or_default().0 -= flow.amount;
                    position.returned += flow.amount;
                    (Party::Organisation(self.org_id(from)), donor_party.clone(), org_depth(from, &depth))
                }
                FlowKind::Converted { by } => {
                    let Detail::Conversion { to_asset, pieces, shares, .. } = &entry.detail else {
                        unreachable!("a conversion flow belongs to a conversion")
                    };
                    let became: u128 = pieces
                        .iter()
                        .zip(shares)
                        .filter(|(piece, _)| piece.origin == index)
                        .map(|(_, share)| *share)
                        .sum();
                    position.converted += flow.amount;
                    per_org.entry((by, flow_asset)).or_default().0 -= flow.amount;
                    per_org.entry((by, *to_asset)).or_default().0 += became;
                    positions.entry(*to_asset).or_default().received += became;
                    converted_into =
                        Some(AssetAmount { asset: self.assets[*to_asset as usize].code.clone(), amount: became });
                    let party = Party::Organisation(self.org_id(by));
                    (party.clone(), party, org_depth(by, &depth))
                }
                FlowKind::VoucherReserved { by, issue } => {
                    let slot = per_org.entry((by, flow_asset)).or_default();
                    slot.0 -= flow.amount;
                    slot.1 += flow.amount;
                    position.reserved += flow.amount;
                    let vouchers = Party::Vouchers(self.voucher_issue_id(issue));
                    (Party::Organisation(self.org_id(by)), vouchers, org_depth(by, &depth))
                }
                FlowKind::VoucherSettled { clinic, issue } => {
                    let terms = &self.voucher_issues[issue as usize];
                    per_org.entry((terms.issuer, flow_asset)).or_default().1 -= flow.amount;
                    per_org.entry((clinic, flow_asset)).or_default().2 += flow.amount;
                    position.reserved -= flow.amount;
                    position.spent += flow.amount;
                    category = Some(terms.category);
                    position.count_overheads(terms.category, flow.amount, true);
                    *by_category.entry((terms.category, flow_asset)).or_default() += flow.amount;
                    let next = org_depth(terms.issuer, &depth) + 1;
                    let slot = depth.entry(clinic).or_insert(next);
                    *slot = (*slot).min(next);
                    (Party::Vouchers(self.voucher_issue_id(issue)), Party::Organisation(self.org_id(clinic)), next)
                }
                FlowKind::VoucherExpired { to, issue } => {
                    let slot = per_org.entry((to, flow_asset)).or_default();
                    slot.1 -= flow.amount;
                    slot.0 += flow.amount;
                    position.reserved -= flow.amount;
                    (
                        Party::Vouchers(self.voucher_issue_id(issue)),
                        Party::Organisation(self.org_id(to)),
                        org_depth(to, &depth),
                    )
                }
            };
            hops.push(Hop {
                entry_index: flow.entry_index,
                entry_id: entry.entry_id,
                kind: entry.kind,
                from,
                to,
                asset: self.assets[flow_asset as usize].code.clone(),
                amount: flow.amount,
                converted_into,
                value_date: entry.value_date,
                category,
                depth: hop_depth,
            });
        }
        let holders: Vec<Holder> = per_org
            .into_iter()
            .filter(|(_, (held, reserved, spent))| *held > 0 || *reserved > 0 || *spent > 0)
            .map(|((org, held_asset), (held, reserved, spent))| Holder {
                organisation: self.org_id(org),
                asset: self.assets[held_asset as usize].code.clone(),
                held,
                reserved,
                spent,
            })
            .collect();
        for holder in &holders {
            let held_asset = self.asset_codes[&holder.asset];
            positions.entry(held_asset).or_default().held += holder.held;
        }
        let mut positions: Vec<AssetPosition> = positions
            .into_iter()
            .map(|(position_asset, position)| {
                let record = &self.assets[position_asset as usize];
                AssetPosition {
                    asset: record.code.clone(),
                    decimals: record.decimals,
                    received: position.received,
                    held: position.held,
                    reserved: position.reserved,
                    spent: position.spent,
                    returned: position.returned,
                    converted: position.converted,
                    overheads: position.overheads,
                }
            })
            .collect();
        let asset_record = &self.assets[asset as usize];
        let own = positions.iter().position(|position| position.asset == asset_record.code).expect("inserted above");
        let own = positions.remove(own);
        let (spent, held, reserved, returned, converted) =
            (own.spent, own.held, own.reserved, own.returned, own.converted);
        positions.insert(0, own);
        Ok(ForwardTrace {
            donation_index: index,
            donation_id: *donation,
            donor: donor_label,
            receiver: self.org_id(holder),
            asset: asset_record.code.clone(),
            decimals: asset_record.decimals,
            amount,
            earmark: self.earmark_view(earmark),
            hops,
            holders,
            spent,
            held,
            reserved,
            returned,
            converted,
            positions,
            spent_by_category: by_category
                .into_iter()
                .filter(|(_, amount)| *amount > 0)
                .map(|((category, category_asset), amount)| CategoryAmount {
                    category,
                    asset: self.assets[category_asset as usize].code.clone(),
                    amount,
                })
                .collect(),
        })
    }

    /// The asset a flow of a donation's money moves (`donation_asset` for the donation itself).
    fn flow_asset(&self, flow: &Flow, donation_asset: u32) -> u32 {
        let detail = &self.entries.get(flow.entry_index).detail;
        match flow.kind {
            FlowKind::Donated { .. } | FlowKind::DonationReversed { .. } => donation_asset,
            FlowKind::Reserved { pledge, .. }
            | FlowKind::Released { pledge, .. }
            | FlowKind::Unreserved { pledge, .. } => self.pledges[pledge as usize].asset,
            FlowKind::VoucherReserved { issue, .. }
            | FlowKind::VoucherSettled { issue, .. }
            | FlowKind::VoucherExpired { issue, .. } => self.voucher_issues[issue as usize].asset,
            FlowKind::ReturnedTransfer { .. } | FlowKind::ReturnedSpend { .. } => {
                let Detail::Reversal { target } = detail else { unreachable!("a returned flow belongs to a reversal") };
                match &self.entries.get(*target).detail {
                    Detail::Transfer { asset, .. } | Detail::Spend { asset, .. } => *asset,
                    _ => unreachable!("only transfers and spends return money to a holder"),
                }
            }
            FlowKind::Transferred { .. }
            | FlowKind::Spent { .. }
            | FlowKind::Converted { .. }
            | FlowKind::Refunded { .. } => match detail {
                Detail::Transfer { asset, .. } | Detail::Spend { asset, .. } | Detail::Refund { asset, .. } => *asset,
                Detail::Conversion { from_asset, .. } => *from_asset,
                _ => unreachable!("the flow's entry moves money"),
            },
        }
    }

    fn voucher_issue_id(&self, issue: u32) -> EntryId {
        self.entries.entry_id(self.voucher_issues[issue as usize].entry_index)
    }

    /// The recipient and category of the spend that a reversal cancelled.
    fn reversed_spend(&self, reversal_index: u64) -> (Party, Category) {
        let Detail::Reversal { target } = self.entries.get(reversal_index).detail else {
            unreachable!("a returned spend flow belongs to a reversal")
        };
        let Detail::Spend { recipient, category, .. } = &self.entries.get(target).detail else {
            unreachable!("a returned spend flow reverses a spend")
        };
        (self.recipient_party(*recipient), *category)
    }

    fn recipient_party(&self, recipient: SpendRecipient) -> Party {
        match recipient {
            SpendRecipient::Beneficiary(commitment) => Party::Beneficiary(commitment),
            SpendRecipient::Supplier(supplier) => Party::Supplier(self.org_id(supplier)),
        }
    }

    /// Traces a spend back to the donations that paid for it.
    pub fn backward_trace(&self, spend: &EntryId) -> Result<BackwardTrace, TraceError> {
        let index = self.index_of(spend).ok_or_else(|| TraceError::UnknownEntry(spend.to_hex()))?;
        let record = self.entries.get(index);
        let Detail::Spend { from, asset, amount, category, recipient, pieces, reversed } = &record.detail else {
            return Err(TraceError::WrongKind { entry_id: spend.to_hex(), kind: record.kind, expected: "spend" });
        };
        let mut by_origin: BTreeMap<u64, (Option<EarmarkRef>, u128)> = BTreeMap::new();
        for piece in pieces {
            let slot = by_origin.entry(piece.origin).or_insert((piece.earmark, 0));
            slot.1 += piece.amount;
        }
        let sources = by_origin
            .into_iter()
            .map(|(origin, (earmark, amount))| {
                let donation = self.entries.get(origin);
                let Detail::Donation { holder, donor, .. } = donation.detail else {
                    unreachable!("a lot's origin is a donation")
                };
                Source {
                    donation_index: origin,
                    donation_id: donation.entry_id,
                    donor: self.donor_label(donor),
                    receiver: self.org_id(holder),
                    earmark: self.earmark_view(earmark),
                    amount,
                }
            })
            .collect();
        let asset_record = &self.assets[*asset as usize];
        Ok(BackwardTrace {
            spend_index: index,
            spend_id: *spend,
            spender: self.org_id(*from),
            asset: asset_record.code.clone(),
            decimals: asset_record.decimals,
            amount: *amount,
            category: *category,
            recipient: self.recipient_party(*recipient),
            reversed: *reversed,
            sources,
        })
    }

    /// An organisation's profile: balances, pledges and unacknowledged transfers.
    pub fn organisation_profile(&self, id: &OrgId) -> Result<OrganisationProfile, TraceError> {
        let org = *self.organisation_ids.get(id).ok_or_else(|| TraceError::UnknownOrganisation(id.to_string()))?;
        let organisation = &self.organisations[org as usize];
        let balances = self
            .assets
            .iter()
            .enumerate()
            .map(|(asset_index, asset)| self.balance(org, asset_index as u32, asset))
            .filter(|balance| balance.available > 0 || balance.pledged > 0)
            .collect();
        let pledges = self
            .pledges
            .iter()
            .filter(|pledge| pledge.pledger == org || pledge.receiver == org || pledge.verifier == org)
            .map(|pledge| self.pledge_view(pledge))
            .collect();
        let unacknowledged_transfers = self
            .open_transfers()
            .into_iter()
            .filter(|transfer| transfer.from == organisation.id || transfer.to == organisation.id)
            .collect();
        Ok(OrganisationProfile {
            id: organisation.id.clone(),
            role: organisation.role,
            name: organisation.name.clone(),
            country: organisation.country.to_string(),
            iati_identifier: organisation.iati_identifier.clone(),
            attribution_policy: organisation.attribution_policy,
            key: organisation.key,
            registered_at: organisation.registered_at,
            balances,
            pledges,
            unacknowledged_transfers,
            sign_offs: self.sign_offs_of(id),
            voucher_issues: self.voucher_issues(Some(id)),
        })
    }

    fn pledge_view(&self, pledge: &crate::state::PledgeRecord) -> PledgeView {
        PledgeView {
            entry_index: pledge.entry_index,
            entry_id: pledge.entry_id,
            pledger: self.org_id(pledge.pledger),
            receiver: self.org_id(pledge.receiver),
            verifier: self.org_id(pledge.verifier),
            asset: self.assets[pledge.asset as usize].code.clone(),
            amount: pledge.amount,
            result: pledge.result.clone(),
            expires_at_ms: pledge.expires_at_ms,
            status: pledge.status.as_str().to_string(),
            attested_at: match pledge.status {
                PledgeStatus::Attested { attested_at } | PledgeStatus::Released { attested_at, .. } => {
                    Some(attested_at)
                }
                _ => None,
            },
            released_at: match pledge.status {
                PledgeStatus::Released { released_at, .. } => Some(released_at),
                _ => None,
            },
            voided_at: match pledge.status {
                PledgeStatus::Voided { voided_at } => Some(voided_at),
                _ => None,
            },
        }
    }

    /// A pledge by its entry id.
    pub fn pledge(&self, pledge: &EntryId) -> Option<PledgeView> {
        let index = self.index_of(pledge)?;
        match self.entries.get(index).detail {
            Detail::Pledge(position) => Some(self.pledge_view(&self.pledges[position as usize])),
            _ => None,
        }
    }

    /// An organisation's balance in every declared asset, zeros included.
    pub fn balances_of(&self, id: &OrgId) -> Vec<Balance> {
        let Some(&org) = self.organisation_ids.get(id) else { return Vec::new() };
        self.assets
            .iter()
            .enumerate()
            .map(|(asset_index, asset)| self.balance(org, asset_index as u32, asset))
            .collect()
    }

    fn balance(&self, org: OrgIndex, asset_index: u32, asset: &crate::state::Asset) -> Balance {
        let holding = self.holdings.get(&(org, asset_index));
        let available = holding.map_or(0, |holding| holding.total);
        let earmarked = holding
            .map_or(0, |holding| holding.lots.values().filter(|lot| lot.earmark.is_some()).map(|lot| lot.amount).sum());
        let pledged = self
            .pledges
            .iter()
            .filter(|pledge| {
                pledge.pledger == org
                    && pledge.asset == asset_index
                    && matches!(pledge.status, PledgeStatus::Open | PledgeStatus::Attested { .. })
            })
            .map(|pledge| pledge.amount)
            .sum();
        Balance { asset: asset.code.clone(), decimals: asset.decimals, available, pledged, earmarked }
    }

    /// Every pledge, in log order.
    pub fn pledges(&self) -> Vec<PledgeView> {
        self.pledges.iter().map(|pledge| self.pledge_view(pledge)).collect()
    }

    /// Every transfer not yet acknowledged by its receiver, in log order.
    pub fn open_transfers(&self) -> Vec<OpenTransfer> {
        self.unacknowledged
            .keys()
            .map(|&index| {
                let record = self.entries.get(index);
                let Detail::Transfer { from, to, asset, amount, .. } = &record.detail else {
                    unreachable!("only transfers are unacknowledged")
                };
                OpenTransfer {
                    entry_index: index,
                    entry_id: record.entry_id,
                    from: self.org_id(*from),
                    to: self.org_id(*to),
                    asset: self.assets[*asset as usize].code.clone(),
                    amount: *amount,
                    value_date: record.value_date,
                }
            })
            .collect()
    }

    /// Ledger-wide totals of an asset.
    pub fn asset_totals(&self, asset: &AssetCode) -> Option<crate::state::AssetTotals> {
        self.asset_codes.get(asset).map(|&index| self.asset_totals[index as usize])
    }

    /// The declared assets: code, decimals, kind.
    pub fn assets(&self) -> Vec<(AssetCode, u8, crate::types::AssetKind)> {
        self.assets.iter().map(|asset| (asset.code.clone(), asset.decimals, asset.kind)).collect()
    }

    /// The registered organisations' ids, in registration order.
    pub fn organisation_ids(&self) -> Vec<OrgId> {
        self.organisations.iter().map(|organisation| organisation.id.clone()).collect()
    }

    /// The role of a registered organisation.
    pub fn role_of(&self, id: &OrgId) -> Option<Role> {
        self.organisation_ids.get(id).map(|&org| self.organisations[org as usize].role)
    }

    /// The current key of an organisation (or of the operator).
    pub fn current_key(&self, id: &OrgId) -> Option<PublicKey> {
        if Some(id) == self.operator.as_ref() {
            return self.operator_key;
        }
        self.organisation_ids.get(id).and_then(|&org| self.organisations[org as usize].key)
    }

    /// The sum of every lot held, per asset, computed from the lots themselves (for audits and tests).
    pub fn held_by_lots(&self) -> BTreeMap<AssetCode, u128> {
        let mut totals = BTreeMap::new();
        for ((_, asset), holding) in &self.holdings {
            let lots: u128 = holding.lots.values().map(|lot| lot.amount).sum();
            assert_eq!(lots, holding.total, "a holding's total equals its lots");
            *totals.entry(self.assets[*asset as usize].code.clone()).or_insert(0) += lots;
        }
        totals
    }

    /// Where each donation's money is held now, per asset, computed from the lots (for audits and tests).
    pub fn held_by_donation(&self) -> BTreeMap<(u64, AssetCode), u128> {
        let mut totals = BTreeMap::new();
        for ((_, asset), holding) in &self.holdings {
            for lot in holding.lots.values() {
                let code = self.assets[*asset as usize].code.clone();
                *totals.entry((lot.origin, code)).or_insert(0) += lot.amount;
            }
        }
        totals
    }

    /// The log indexes of every donation.
    pub fn donation_indexes(&self) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|record| matches!(record.detail, Detail::Donation { .. }))
            .map(|record| record.index)
            .collect()
    }

    /// The log indexes of every spend.
    pub fn spend_indexes(&self) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|record| matches!(record.detail, Detail::Spend { .. }))
            .map(|record| record.index)
            .collect()
    }
}

/// Money that moved from one party to another over a period, summed per asset. Parties are organisation
/// ids, `anonymous-donors`, or `spending:<category>` for final use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEdge {
    pub from: String,
    pub to: String,
    pub asset: AssetCode,
    #[serde(with = "amount_string")]
    pub amount: u128,
    /// How many entries the edge sums.
    pub entries: u64,
}

/// The flows that touch a chosen set of organisations, split so that nothing is counted twice: money
/// entering the set, moving inside it, and leaving it (to other organisations or to final use).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundaryFlows {
    pub members: Vec<String>,
    pub incoming: Vec<FlowEdge>,
    pub internal: Vec<FlowEdge>,
    pub outgoing: Vec<FlowEdge>,
}

/// The party name of anonymous donors in flow edges.
pub const ANONYMOUS_DONORS: &str = "anonymous-donors";
/// The party through which conversions pass in flow edges: an organisation's money goes out to
/// `exchange` in one asset and comes back from it in another.
pub const EXCHANGE: &str = "exchange";

impl State {
    /// Every movement of money in log order. Parties are as in [`FlowEdge`]. Reversed entries are left out;
    /// released pledges count as transfers.
    fn movements(&self) -> impl Iterator<Item = Movement> + '_ {
        self.entries.iter().flat_map(move |record| -> Vec<Movement> {
            match &record.detail {
                Detail::Donation { holder, donor, asset, amount, reversed: false, .. } => {
                    let donor = self.donor_party_name(*donor);
                    vec![Movement {
                        from: donor,
                        to: self.org_id(*holder).to_string(),
                        asset: *asset,
                        amount: *amount,
                        date: record.value_date,
                        donation: true,
                    }]
                }
                Detail::Transfer { from, to, asset, amount, reversed: false, .. } => vec![Movement {
                    from: self.org_id(*from).to_string(),
                    to: self.org_id(*to).to_string(),
                    asset: *asset,
                    amount: *amount,
                    date: record.value_date,
                    donation: false,
                }],
                Detail::Spend { from, asset, amount, category, reversed: false, .. } => vec![Movement {
                    from: self.org_id(*from).to_string(),
                    to: format!("{SPENDING_PREFIX}{category}"),
                    asset: *asset,
                    amount: *amount,
                    date: record.value_date,
                    donation: false,
                }],
                Detail::Refund { by, donation, asset, amount } => {
                    let Detail::Donation { donor, .. } = &self.entries.get(*donation).detail else {
                        unreachable!("a refund returns a donation")
                    };
                    vec![Movement {
                        from: self.org_id(*by).to_string(),
                        to: self.donor_party_name(*donor),
                        asset: *asset,
                        amount: *amount,
                        date: record.value_date,
                        donation: false,
                    }]
                }
                Detail::Conversion { by, from_asset, to_asset, pieces, shares } => {
                    let by = self.org_id(*by).to_string();
                    vec![
                        Movement {
                            from: by.clone(),
                            to: EXCHANGE.to_string(),
                            asset: *from_asset,
                            amount: pieces.iter().map(|piece| piece.amount).sum(),
                            date: record.value_date,
                            donation: false,
                        },
                        Movement {
                            from: EXCHANGE.to_string(),
                            to: by,
                            asset: *to_asset,
                            amount: shares.iter().sum(),
                            date: record.value_date,
                            donation: false,
                        },
                    ]
                }
                Detail::VoucherSettlement { issue, clinic, amount, .. } => {
                    // The issuer pays the clinic, and the clinic's service is the final use.
                    let terms = &self.voucher_issues[*issue as usize];
                    let clinic = self.org_id(*clinic).to_string();
                    vec![
                        Movement {
                            from: self.org_id(terms.issuer).to_string(),
                            to: clinic.clone(),
                            asset: terms.asset,
                            amount: *amount,
                            date: record.value_date,
                            donation: false,
                        },
                        Movement {
                            from: clinic,
                            to: format!("{SPENDING_PREFIX}{}", terms.category),
                            asset: terms.asset,
                            amount: *amount,
                            date: record.value_date,
                            donation: false,
                        },
                    ]
                }
                Detail::Pledge(position) => {
                    let pledge = &self.pledges[*position as usize];
                    matches!(pledge.status, PledgeStatus::Released { .. })
                        .then(|| Movement {
                            from: self.org_id(pledge.pledger).to_string(),
                            to: self.org_id(pledge.receiver).to_string(),
                            asset: pledge.asset,
                            amount: pledge.amount,
                            date: record.value_date,
                            donation: false,
                        })
                        .into_iter()
                        .collect()
                }
                _ => Vec::new(),
            }
        })
    }

    /// The party name of a donation's donor in flow edges.
    fn donor_party_name(&self, donor: DonorRef) -> String {
        match donor {
            DonorRef::Organisation(org) => self.org_id(org).to_string(),
            DonorRef::Anonymous(_) => ANONYMOUS_DONORS.to_string(),
        }
    }

    /// Every movement of money whose value date lies in `[from, to]` (either end open), summed by
    /// (from, to, asset). Reversed entries are left out; released pledges count as transfers.
    pub fn flow_edges(&self, from: Option<Date>, to: Option<Date>) -> Vec<FlowEdge> {
        let in_period = |date: Option<Date>| {
            date.is_some_and(|date| from.is_none_or(|from| date >= from) && to.is_none_or(|to| date <= to))
        };
        let mut sums: BTreeMap<(String, String, u32), (u128, u64)> = BTreeMap::new();
        for Movement { from, to, asset, amount, date, .. } in self.movements() {
            if in_period(date) {
                let slot = sums.entry((from, to, asset)).or_insert((0, 0));
                slot.0 = slot.0.saturating_add(amount);
                slot.1 += 1;
            }
        }
        sums.into_iter()
            .map(|((from, to, asset), (amount, entries))| FlowEdge {
                from,
                to,
                asset: self.assets[asset as usize].code.clone(),
                amount,
                entries,
            })
            .collect()
    }

    /// Money in and out per calendar month (of value dates) for one asset: for an organisation, what it
    /// received (donations, transfers, released pledges) and what left it (transfers, released pledges,
    /// spending); for the whole ledger, donations in and spending out. Months without movement between the
    /// first and the last are included with zeros. `None` if the asset is not declared.
    pub fn monthly_flows(&self, asset: &AssetCode, organisation: Option<&OrgId>) -> Option<Vec<MonthFlows>> {
        let asset_index = self.assets.iter().position(|declared| &declared.code == asset)? as u32;
        let member = organisation.map(|id| id.as_str());
        let mut months: BTreeMap<(i64, u32), (u128, u128)> = BTreeMap::new();
        for Movement { from, to, asset: moved_asset, amount, date, donation } in self.movements() {
            let Some(date) = date else { continue };
            if moved_asset != asset_index {
                continue;
            }
            let (money_in, money_out) = match member {
                Some(member) => (to == member, from == member),
                None => (donation, to.starts_with(SPENDING_PREFIX)),
            };
            if !money_in && !money_out {
                continue;
            }
            let (year, month, _) = date.ymd();
            let slot = months.entry((year, month)).or_insert((0, 0));
            if money_in {
                slot.0 = slot.0.saturating_add(amount);
            }
            if money_out {
                slot.1 = slot.1.saturating_add(amount);
            }
        }
        let (Some(&first), Some(&last)) = (months.keys().next(), months.keys().next_back()) else {
            return Some(Vec::new());
        };
        let mut all = Vec::new();
        let mut month = first;
        while month <= last {
            let (money_in, money_out) = months.get(&month).copied().unwrap_or((0, 0));
            all.push(MonthFlows { month: format!("{:04}-{:02}", month.0, month.1), money_in, money_out });
            month = if month.1 == 12 { (month.0 + 1, 1) } else { (month.0, month.1 + 1) };
        }
        Some(all)
    }
}

/// One movement of money, as flows see it.
struct Movement {
    from: String,
    to: String,
    asset: u32,
    amount: u128,
    date: Option<Date>,
    /// A donation entering the ledger.
    donation: bool,
}

/// The prefix of final-use parties in flow edges: `spending:<category>`.
pub const SPENDING_PREFIX: &str = "spending:";

/// Money in and out of one month, in minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthFlows {
    /// `YYYY-MM`.
    pub month: String,
    #[serde(with = "amount_string")]
    pub money_in: u128,
    #[serde(with = "amount_string")]
    pub money_out: u128,
}

/// Splits flow edges at the boundary of a set of organisations.
pub fn boundary_flows(edges: &[FlowEdge], members: &[String]) -> BoundaryFlows {
    let set: std::collections::BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let mut flows = BoundaryFlows {
        members: set.iter().map(|m| m.to_string()).collect(),
        incoming: vec![],
        internal: vec![],
        outgoing: vec![],
    };
    for edge in edges {
        match (set.contains(edge.from.as_str()), set.contains(edge.to.as_str())) {
            (false, true) => flows.incoming.push(edge.clone()),
            (true, true) => flows.internal.push(edge.clone()),
            (true, false) => flows.outgoing.push(edge.clone()),
            (false, false) => {}
        }
    }
    flows
}

/// An auditor's sign-off of an organisation's accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOffView {
    pub entry_index: u64,
    pub entry_id: EntryId,
    pub auditor: OrgId,
    pub organisation: OrgId,
    /// The log's size that the audited accounts were read from.
    pub tree_size: u64,
    pub period_start: Date,
    pub period_end: Date,
    /// SHA-256 of the audit report.
    pub report: Digest,
    /// The auditor's opinion, as signed.
    pub opinion: String,
}

/// A voucher issue with the counts of its vouchers by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherIssueView {
    pub entry_index: u64,
    pub entry_id: EntryId,
    pub issuer: OrgId,
    pub programme: ProgrammeId,
    pub asset: AssetCode,
    pub decimals: u8,
    #[serde(with = "amount_string")]
    pub face_value: u128,
    pub category: Category,
    pub clinics: Vec<OrgId>,
    pub expires_at_ms: u64,
    pub issued: u32,
    /// Redeemed, settled or not (settled vouchers were redeemed first).
    pub redeemed: u32,
    pub settled: u32,
    pub expired: u32,
    /// Still reserved behind vouchers not settled or expired.
    #[serde(with = "amount_string")]
    pub reserved: u128,
}

/// One voucher and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherView {
    pub voucher: VoucherId,
    pub issue: EntryId,
    /// The NGO that issued it, and the programme it belongs to.
    pub issuer: OrgId,
    pub programme: ProgrammeId,
    /// When it stops being redeemable (Unix milliseconds, log time).
    pub expires_at_ms: u64,
    /// `issued`, `redeemed`, `settled` or `expired`.
    pub status: String,
    pub clinic: Option<OrgId>,
    pub redeemed_at: Option<u64>,
    pub settled_at: Option<u64>,
    pub expired_at: Option<u64>,
}

/// A voucher programme's totals in one asset: counts and face values by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeVouchers {
    pub programme: ProgrammeId,
    pub issuer: OrgId,
    pub asset: AssetCode,
    pub decimals: u8,
    pub issued: u64,
    pub redeemed: u64,
    pub settled: u64,
    pub expired: u64,
    #[serde(with = "amount_string")]
    pub issued_value: u128,
    #[serde(with = "amount_string")]
    pub redeemed_value: u128,
    #[serde(with = "amount_string")]
    pub settled_value: u128,
    #[serde(with = "amount_string")]
    pub expired_value: u128,
}

impl State {
    fn sign_off_view(&self, record: &SignOffRecord) -> SignOffView {
        SignOffView {
            entry_index: record.entry_index,
            entry_id: self.entries.entry_id(record.entry_index),
            auditor: self.org_id(record.auditor),
            organisation: self.org_id(record.organisation),
            tree_size: record.tree_size,
            period_start: record.period_start,
            period_end: record.period_end,
            report: record.report,
            opinion: record.opinion.clone(),
        }
    }

    /// The sign-offs of an organisation's accounts (or, for an auditor, those it made), in log order.
    pub fn sign_offs_of(&self, id: &OrgId) -> Vec<SignOffView> {
        let Some(&org) = self.organisation_ids.get(id) else { return Vec::new() };
        self.sign_offs
            .iter()
            .filter(|record| record.organisation == org || record.auditor == org)
            .map(|record| self.sign_off_view(record))
            .collect()
    }

    fn voucher_issue_view(&self, record: &VoucherIssueRecord) -> VoucherIssueView {
        let asset = &self.assets[record.asset as usize];
        VoucherIssueView {
            entry_index: record.entry_index,
            entry_id: self.entries.entry_id(record.entry_index),
            issuer: self.org_id(record.issuer),
            programme: self.programmes[record.programme as usize].id.clone(),
            asset: asset.code.clone(),
            decimals: asset.decimals,
            face_value: record.face_value,
            category: record.category,
            clinics: record.clinics.iter().map(|&clinic| self.org_id(clinic)).collect(),
            expires_at_ms: record.expires_at_ms,
            issued: record.issued,
            redeemed: record.redeemed,
            settled: record.settled,
            expired: record.expired,
            reserved: record.reserve.iter().map(|piece| piece.amount).sum(),
        }
    }

    /// Voucher issues made by an organisation or redeemable at it (every issue when `organisation` is
    /// `None`), in log order.
    pub fn voucher_issues(&self, organisation: Option<&OrgId>) -> Vec<VoucherIssueView> {
        let org = match organisation {
            Some(id) => match self.organisation_ids.get(id) {
                Some(&org) => Some(org),
                None => return Vec::new(),
            },
            None => None,
        };
        self.voucher_issues
            .iter()
            .filter(|record| org.is_none_or(|org| record.issuer == org || record.clinics.contains(&org)))
            .map(|record| self.voucher_issue_view(record))
            .collect()
    }

    /// One voucher by its public id.
    pub fn voucher(&self, voucher: &VoucherId) -> Option<VoucherView> {
        let record = self.vouchers.get(voucher)?;
        let terms = &self.voucher_issues[record.issue as usize];
        let clinic = |clinic_index: u32| Some(self.org_id(terms.clinics[clinic_index as usize]));
        let (clinic, redeemed_at, settled_at, expired_at) = match record.status {
            VoucherStatus::Issued => (None, None, None, None),
            VoucherStatus::Redeemed { clinic_index, redeemed_at } => {
                (clinic(clinic_index), Some(redeemed_at), None, None)
            }
            VoucherStatus::Settled { clinic_index, redeemed_at, settled_at } => {
                (clinic(clinic_index), Some(redeemed_at), Some(settled_at), None)
            }
            VoucherStatus::Expired { expired_at } => (None, None, None, Some(expired_at)),
        };
        Some(VoucherView {
            voucher: *voucher,
            issue: self.entries.entry_id(terms.entry_index),
            issuer: self.org_id(terms.issuer),
            programme: self.programmes[terms.programme as usize].id.clone(),
            expires_at_ms: terms.expires_at_ms,
            status: record.status.as_str().to_string(),
            clinic,
            redeemed_at,
            settled_at,
            expired_at,
        })
    }

    /// Every voucher programme's totals: issued, redeemed, settled and expired, by count and face value,
    /// per programme and asset, in programme order.
    pub fn voucher_programmes(&self) -> Vec<ProgrammeVouchers> {
        let mut totals: BTreeMap<(u32, u32), ProgrammeVouchers> = BTreeMap::new();
        for record in &self.voucher_issues {
            let asset = &self.assets[record.asset as usize];
            let slot = totals.entry((record.programme, record.asset)).or_insert_with(|| ProgrammeVouchers {
                programme: self.programmes[record.programme as usize].id.clone(),
                issuer: self.org_id(record.issuer),
                asset: asset.code.clone(),
                decimals: asset.decimals,
                issued: 0,
                redeemed: 0,
                settled: 0,
                expired: 0,
                issued_value: 0,
                redeemed_value: 0,
                settled_value: 0,
                expired_value: 0,
            });
            let value = |count: u32| record.face_value.saturating_mul(u128::from(count));
            slot.issued += u64::from(record.issued);
            slot.redeemed += u64::from(record.redeemed);
            slot.settled += u64::from(record.settled);
            slot.expired += u64::from(record.expired);
            slot.issued_value = slot.issued_value.saturating_add(value(record.issued));
            slot.redeemed_value = slot.redeemed_value.saturating_add(value(record.redeemed));
            slot.settled_value = slot.settled_value.saturating_add(value(record.settled));
            slot.expired_value = slot.expired_value.saturating_add(value(record.expired));
        }
        totals.into_values().collect()
    }
}
