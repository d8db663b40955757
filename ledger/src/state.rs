//! The state machine: `State::apply` decides whether an entry is allowed and, if so, what it changes:
//! keys, organisations, balances held as lots of donated money, pledges, acknowledgements, reversals.
//! A rejected entry changes nothing: every rule is checked before the first change is made.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::entry::{Body, Donor, Earmark, Entry, Kind, Recipient};
use crate::merkle::Hash;
use crate::records::{FlowList, Records};
use crate::rejection::Rejection;
use crate::signed::{VerifiedEntry, check_public_key};
use crate::types::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Category, Commitment, Country, Date, Digest, EntryId, OrgId,
    ProgrammeId, PublicKey, Role, VoucherId,
};

/// Position of an organisation in [`State`]'s tables.
pub(crate) type OrgIndex = u32;
/// Position of an asset in [`State`]'s tables.
pub(crate) type AssetIndex = u32;
/// Position of a programme in [`State`]'s tables.
pub(crate) type ProgrammeIndex = u32;

/// Where a lot sits in its holder's queue: the log index of the entry that brought it there and the
/// piece number within that entry. Lots are consumed in this order under FIFO.
pub type LotKey = (u64, u32);

/// An earmark resolved to table positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum EarmarkRef {
    Programme(ProgrammeIndex),
    Country([u8; 2]),
    Clinic(OrgIndex),
}

/// Money of one donation held by one organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lot {
    /// The log index of the donation this money comes from.
    pub(crate) origin: u64,
    pub(crate) earmark: Option<EarmarkRef>,
    pub(crate) amount: u128,
}

/// Part of a lot taken by a transfer, spend or pledge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Piece {
    pub(crate) from: LotKey,
    pub(crate) origin: u64,
    pub(crate) earmark: Option<EarmarkRef>,
    pub(crate) amount: u128,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Holding {
    pub(crate) total: u128,
    pub(crate) lots: BTreeMap<LotKey, Lot>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Organisation {
    pub(crate) id: OrgId,
    pub(crate) role: Role,
    pub(crate) name: String,
    pub(crate) country: Country,
    pub(crate) iati_identifier: Option<String>,
    pub(crate) attribution_policy: AttributionPolicy,
    pub(crate) key: Option<PublicKey>,
    pub(crate) registered_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Asset {
    pub(crate) code: AssetCode,
    pub(crate) decimals: u8,
    pub(crate) kind: AssetKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Programme {
    pub(crate) id: ProgrammeId,
    pub(crate) owner: OrgIndex,
    pub(crate) name: String,
    pub(crate) countries: Vec<Country>,
    pub(crate) sector: String,
    pub(crate) iati_identifier: Option<String>,
}

/// Who signs for an author: the operator or a registered organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Party {
    Operator,
    Organisation(OrgIndex),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum KeyState {
    Active,
    Rotated,
    Revoked,
}

/// Who received a spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SpendRecipient {
    Beneficiary(Commitment),
    Supplier(OrgIndex),
}

/// What the state remembers of an entry to check later entries that refer to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Detail {
    Other,
    Donation {
        holder: OrgIndex,
        donor: DonorRef,
        asset: AssetIndex,
        amount: u128,
        earmark: Option<EarmarkRef>,
        reversed: bool,
    },
    Transfer {
        from: OrgIndex,
        to: OrgIndex,
        asset: AssetIndex,
        amount: u128,
        pieces: Box<[Piece]>,
        acknowledged_at: Option<u64>,
        reversed: bool,
    },
    Spend {
        from: OrgIndex,
        asset: AssetIndex,
        amount: u128,
        category: Category,
        recipient: SpendRecipient,
        pieces: Box<[Piece]>,
        reversed: bool,
    },
    Pledge(u32),
    Reversal {
        target: u64,
    },
    Conversion {
        by: OrgIndex,
        from_asset: AssetIndex,
        to_asset: AssetIndex,
        /// The lots taken in `from_asset`, and the amount of `to_asset` each one became (same order).
        pieces: Box<[Piece]>,
        shares: Vec<u128>,
    },
    Refund {
        by: OrgIndex,
        donation: u64,
        asset: AssetIndex,
        amount: u128,
    },
    SignOff(u32),
    VoucherIssue(u32),
    VoucherSettlement {
        issue: u32,
        clinic: OrgIndex,
        amount: u128,
        pieces: Box<[Piece]>,
    },
    VoucherExpiry {
        issue: u32,
        amount: u128,
        pieces: Box<[Piece]>,
    },
}

/// An auditor's sign-off of an organisation's accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SignOffRecord {
    pub(crate) entry_index: u64,
    pub(crate) auditor: OrgIndex,
    pub(crate) organisation: OrgIndex,
    pub(crate) tree_size: u64,
    pub(crate) period_start: Date,
    pub(crate) period_end: Date,
    pub(crate) report: Digest,
    /// The auditor's opinion, as signed (sign-offs are few: a handful per organisation and year).
    pub(crate) opinion: String,
}

/// One voucher issue: its terms, the reserve still behind its vouchers, and their counts by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VoucherIssueRecord {
    pub(crate) entry_index: u64,
    pub(crate) issuer: OrgIndex,
    pub(crate) programme: ProgrammeIndex,
    pub(crate) asset: AssetIndex,
    pub(crate) face_value: u128,
    pub(crate) category: Category,
    pub(crate) clinics: Vec<OrgIndex>,
    pub(crate) expires_at_ms: u64,
    /// The issue's voucher ids (sorted), so that an expiry visits only its own vouchers.
    pub(crate) vouchers: Vec<VoucherId>,
    /// The lots reserved behind the vouchers not yet settled or expired, consumed first in, first out.
    pub(crate) reserve: Vec<Piece>,
    pub(crate) issued: u32,
    pub(crate) redeemed: u32,
    pub(crate) settled: u32,
    pub(crate) expired: u32,
}

/// Where a voucher stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoucherStatus {
    Issued,
    Redeemed { clinic_index: u32, redeemed_at: u64 },
    Settled { clinic_index: u32, redeemed_at: u64, settled_at: u64 },
    Expired { expired_at: u64 },
}

impl VoucherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Issued => "issued",
            VoucherStatus::Redeemed { .. } => "redeemed",
            VoucherStatus::Settled { .. } => "settled",
            VoucherStatus::Expired { .. } => "expired",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VoucherRecord {
    pub(crate) issue: u32,
    pub(crate) status: VoucherStatus,
}

/// Who gave a donation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DonorRef {
    Organisation(OrgIndex),
    Anonymous(Commitment),
}

/// An entry as the state records it (kept encoded in [`Records`], decoded when read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryRecord {
    pub(crate) index: u64,
    pub(crate) entry_id: EntryId,
    pub(crate) kind: Kind,
    pub(crate) author: Party,
    pub(crate) value_date: Option<Date>,
    pub(crate) detail: Detail,
}

/// The life of a pledge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PledgeStatus {
    Open,
    Attested { attested_at: u64 },
    Released { attested_at: u64, released_at: u64 },
    Voided { voided_at: u64 },
}

impl PledgeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PledgeStatus::Open => "open",
            PledgeStatus::Attested { .. } => "attested",
            PledgeStatus::Released { .. } => "released",
            PledgeStatus::Voided { .. } => "voided",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PledgeRecord {
    pub(crate) entry_index: u64,
    pub(crate) entry_id: EntryId,
    pub(crate) pledger: OrgIndex,
    pub(crate) receiver: OrgIndex,
    pub(crate) verifier: OrgIndex,
    pub(crate) asset: AssetIndex,
    pub(crate) amount: u128,
    pub(crate) result: String,
    pub(crate) expires_at_ms: u64,
    pub(crate) pieces: Vec<Piece>,
    pub(crate) status: PledgeStatus,
}

/// One movement of one donation's money, recorded for tracing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flow {
    pub(crate) entry_index: u64,
    pub(crate) kind: FlowKind,
    pub(crate) amount: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FlowKind {
    /// The donation arrived at its receiver.
    Donated {
        to: OrgIndex,
    },
    Transferred {
        from: OrgIndex,
        to: OrgIndex,
    },
    Spent {
        by: OrgIndex,
    },
    Reserved {
        by: OrgIndex,
        pledge: u32,
    },
    Released {
        from: OrgIndex,
        to: OrgIndex,
        pledge: u32,
    },
    Unreserved {
        to: OrgIndex,
        pledge: u32,
    },
    /// A reversal returned money: a transfer back to its sender, a spend back to its spender.
    ReturnedTransfer {
        from: OrgIndex,
        to: OrgIndex,
    },
    ReturnedSpend {
        to: OrgIndex,
    },
    /// A reversed donation left the ledger.
    DonationReversed {
        from: OrgIndex,
    },
    /// Exchanged into another asset by the holder (the amount is in the asset given up; the conversion
    /// entry says how much of the other asset it became).
    Converted {
        by: OrgIndex,
    },
    /// Returned to the donor by a refund.
    Refunded {
        by: OrgIndex,
    },
    /// Reserved behind vouchers.
    VoucherReserved {
        by: OrgIndex,
        issue: u32,
    },
    /// Paid to a clinic for redeemed vouchers: final use, in the issue's category.
    VoucherSettled {
        clinic: OrgIndex,
        issue: u32,
    },
    /// The reserve of expired vouchers back with the issuer.
    VoucherExpired {
        to: OrgIndex,
        issue: u32,
    },
}

/// Totals of one asset over the whole ledger, kept as entries are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AssetTotals {
    #[serde(with = "amount_string")]
    pub donated: u128,
    /// Donations later reversed.
    #[serde(with = "amount_string")]
    pub returned: u128,
    #[serde(with = "amount_string")]
    pub spent: u128,
    /// Reserved by open or attested pledges and by vouchers not yet settled or expired.
    #[serde(with = "amount_string")]
    pub reserved: u128,
    /// Obtained by converting another asset into this one.
    #[serde(with = "amount_string")]
    pub converted_in: u128,
    /// Converted into another asset.
    #[serde(with = "amount_string")]
    pub converted_out: u128,
    /// Refunded to donors.
    #[serde(with = "amount_string")]
    pub refunded: u128,
    /// Held by organisations and free to move:
    /// donated + converted_in − returned − refunded − spent − reserved − converted_out.
    #[serde(with = "amount_string")]
    pub held: u128,
}

pub(crate) mod amount_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What applying an entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The entry's position in the log.
    pub index: u64,
    pub leaf_hash: Hash,
    /// True when the identical entry was already in the log: nothing changed and `index` is its original position.
    pub duplicate: bool,
}

/// The ledger's state after applying a log prefix. Equal logs give equal states.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct State {
    pub(crate) origin: Option<String>,
    pub(crate) operator: Option<OrgId>,
    pub(crate) operator_key: Option<PublicKey>,
    pub(crate) operator_last_timestamp_ms: u64,
    pub(crate) size: u64,
    /// Every entry's record (and the index of each entry id), compactly.
    pub(crate) entries: Records,
    pub(crate) organisations: Vec<Organisation>,
    pub(crate) organisation_ids: HashMap<OrgId, OrgIndex>,
    pub(crate) last_timestamp_ms: Vec<u64>,
    keys: HashMap<PublicKey, (Party, KeyState)>,
    pub(crate) assets: Vec<Asset>,
    pub(crate) asset_codes: HashMap<AssetCode, AssetIndex>,
    pub(crate) asset_totals: Vec<AssetTotals>,
    pub(crate) programmes: Vec<Programme>,
    pub(crate) programme_ids: HashMap<ProgrammeId, ProgrammeIndex>,
    pub(crate) holdings: HashMap<(OrgIndex, AssetIndex), Holding>,
    pub(crate) pledges: Vec<PledgeRecord>,
    pub(crate) unacknowledged: BTreeMap<u64, ()>,
    pub(crate) flows: HashMap<u64, FlowList>,
    pub(crate) donations_by_reference: HashMap<Commitment, Vec<u64>>,
    pub(crate) sign_offs: Vec<SignOffRecord>,
    pub(crate) voucher_issues: Vec<VoucherIssueRecord>,
    pub(crate) vouchers: HashMap<VoucherId, VoucherRecord>,
    /// Per organisation: how many beneficiary commitments its spends recorded, and of how many it has since
    /// erased the private data (erasure entries).
    pub(crate) beneficiary_records: HashMap<OrgIndex, BeneficiaryRecords>,
    /// The digests of every erasure entry, each accepted once.
    erasure_digests: HashSet<Digest>,
}

/// An organisation's beneficiary commitments: recorded by its spends, and erased by its erasure entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BeneficiaryRecords {
    /// Beneficiary commitments recorded by the organisation's accepted spends (reversed ones included: the
    /// commitment stays in the log).
    pub recorded: u64,
    /// Of those, how many had their private data erased.
    pub erased: u64,
    /// The erasure entries.
    pub erasures: u64,
}

/// Where money is going, for the earmark check.
struct UseContext {
    target: OrgIndex,
    target_country: Country,
    programme: Option<ProgrammeIndex>,
    /// A transfer to an NGO carries every earmark along to be honoured later.
    intermediary: bool,
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries applied (the log's tree size).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Heap bytes of the history the state keeps for later entries and for traces: every entry's record
    /// and each donation's flows. The rest of the state (balances, lots, pledges, vouchers) is far smaller.
    pub fn history_heap_bytes(&self) -> usize {
        let flow_lists: usize = self.flows.values().map(FlowList::heap_bytes).sum();
        let flow_table = self.flows.capacity() * (size_of::<u64>() + size_of::<FlowList>() + 1);
        self.entries.heap_bytes() + flow_table + flow_lists
    }

    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    pub fn operator(&self) -> Option<(&OrgId, PublicKey)> {
        Some((self.operator.as_ref()?, self.operator_key?))
    }

    /// An organisation's beneficiary commitments, recorded and erased; `None` if it is not registered.
    pub fn beneficiary_records(&self, id: &OrgId) -> Option<BeneficiaryRecords> {
        let org = self.organisation_ids.get(id)?;
        Some(self.beneficiary_records.get(org).copied().unwrap_or_default())
    }

    /// Applies a verified entry at the next index, or says which rule it breaks and changes nothing.
    pub fn apply(&mut self, verified: &VerifiedEntry) -> Result<Applied, Rejection> {
        let entry = verified.entry();
        let leaf_hash = verified.leaf_hash();
        if let Some(index) = self.entries.find(&entry.entry_id) {
            return if self.entries.same_leaf(index, &leaf_hash) {
                Ok(Applied { index, leaf_hash, duplicate: true })
            } else {
                Err(Rejection::IdConflict { entry_id: entry.entry_id.to_hex(), index })
            };
        }
        let index = self.size;
        if index == 0 {
            return self.apply_genesis(entry, verified.signer(), leaf_hash);
        }
        if matches!(entry.body, Body::Genesis { .. }) {
            return Err(Rejection::GenesisRepeated);
        }
        let author = self.check_author(entry, verified.signer())?;
        let previous_ms = match author {
            Party::Operator => self.operator_last_timestamp_ms,
            Party::Organisation(org) => self.last_timestamp_ms[org as usize],
        };
        if entry.timestamp_ms < previous_ms {
            return Err(Rejection::TimestampRegression {
                author: entry.author.to_string(),
                timestamp_ms: entry.timestamp_ms,
                previous_ms,
            });
        }
        let detail = self.apply_body(entry, author, index)?;
        match author {
            Party::Operator => self.operator_last_timestamp_ms = entry.timestamp_ms,
            Party::Organisation(org) => self.last_timestamp_ms[org as usize] = entry.timestamp_ms,
        }
        self.record(entry, author, leaf_hash, detail);
        Ok(Applied { index, leaf_hash, duplicate: false })
    }

    fn record(&mut self, entry: &Entry, author: Party, leaf_hash: Hash, detail: Detail) {
        let index = self.size;
        let record = EntryRecord {
            index,
            entry_id: entry.entry_id,
            kind: entry.body.kind(),
            author,
            value_date: entry.body.value_date(),
            detail,
        };
        self.entries.push(record, &leaf_hash);
        self.size += 1;
    }

    fn apply_genesis(&mut self, entry: &Entry, signer: PublicKey, leaf_hash: Hash) -> Result<Applied, Rejection> {
        let Body::Genesis { origin, operator, operator_key } = &entry.body else {
            return Err(Rejection::GenesisRequired);
        };
        if *operator_key != signer || *operator != entry.author {
            return Err(Rejection::GenesisKeyMismatch);
        }
        check_public_key(operator_key).map_err(|reason| Rejection::BadOperatorKey(operator_key.to_hex(), reason))?;
        self.origin = Some(origin.clone());
        self.operator = Some(operator.clone());
        self.operator_key = Some(*operator_key);
        self.operator_last_timestamp_ms = entry.timestamp_ms;
        self.keys.insert(*operator_key, (Party::Operator, KeyState::Active));
        self.record(entry, Party::Operator, leaf_hash, Detail::Other);
        Ok(Applied { index: 0, leaf_hash, duplicate: false })
    }

    /// Checks that the signer's key is the author's current key.
    fn check_author(&self, entry: &Entry, signer: PublicKey) -> Result<Party, Rejection> {
        let author_name = || entry.author.to_string();
        let (party, current_key) = if Some(&entry.author) == self.operator.as_ref() {
            (Party::Operator, self.operator_key)
        } else {
            let org = *self
                .organisation_ids
                .get(&entry.author)
                .ok_or_else(|| Rejection::UnknownAuthor { author: author_name() })?;
            (Party::Organisation(org), self.organisations[org as usize].key)
        };
        if current_key == Some(signer) {
            return Ok(party);
        }
        match self.keys.get(&signer) {
            Some((owner, KeyState::Revoked)) if *owner == party => Err(Rejection::RevokedKey { author: author_name() }),
            Some((owner, KeyState::Rotated)) if *owner == party => Err(Rejection::RotatedKey { author: author_name() }),
            _ if current_key.is_none() => Err(Rejection::NoActiveKey { author: author_name() }),
            _ => Err(Rejection::UnknownKey { author: author_name() }),
        }
    }

    fn not_entitled(entry: &Entry, reason: impl Into<String>) -> Rejection {
        Rejection::NotEntitled { author: entry.author.to_string(), kind: entry.body.kind(), reason: reason.into() }
    }

    fn require_operator(entry: &Entry, author: Party, what: &str) -> Result<(), Rejection> {
        if author == Party::Operator {
            Ok(())
        } else {
            Err(Self::not_entitled(entry, format!("only the log operator {what}")))
        }
    }

    fn organisation(&self, id: &OrgId) -> Result<OrgIndex, Rejection> {
        self.organisation_ids.get(id).copied().ok_or_else(|| Rejection::UnknownOrganisation(id.to_string()))
    }

    fn require_role(&self, org: OrgIndex, allowed: &[Role], needed: &str) -> Result<(), Rejection> {
        let organisation = &self.organisations[org as usize];
        if allowed.contains(&organisation.role) {
            Ok(())
        } else {
            Err(Rejection::WrongRole {
                organisation: organisation.id.to_string(),
                role: organisation.role.to_string(),
                needed: needed.to_string(),
            })
        }
    }

    fn asset(&self, code: &AssetCode) -> Result<AssetIndex, Rejection> {
        self.asset_codes.get(code).copied().ok_or_else(|| Rejection::UnknownAsset(code.to_string()))
    }

    fn programme(&self, id: &ProgrammeId) -> Result<ProgrammeIndex, Rejection> {
        self.programme_ids.get(id).copied().ok_or_else(|| Rejection::UnknownProgramme(id.to_string()))
    }

    fn entry_record(&self, id: &EntryId) -> Result<EntryRecord, Rejection> {
        let index = self.entries.find(id).ok_or_else(|| Rejection::UnknownEntry(id.to_hex()))?;
        Ok(self.entries.get(index))
    }

    fn check_new_key(&self, key: &PublicKey) -> Result<(), Rejection> {
        check_public_key(key).map_err(|reason| Rejection::BadKey { key: key.to_hex(), reason })?;
        if self.keys.contains_key(key) {
            return Err(Rejection::KeyInUse(key.to_hex()));
        }
        Ok(())
    }

    fn sender(&self, entry: &Entry, author: Party) -> Result<OrgIndex, Rejection> {
        match author {
            Party::Organisation(org) if self.organisations[org as usize].role.holds_funds() => Ok(org),
            _ => Err(Self::not_entitled(entry, "only an NGO or a clinic holds and moves money")),
        }
    }

    fn apply_body(&mut self, entry: &Entry, author: Party, index: u64) -> Result<Detail, Rejection> {
        match &entry.body {
            Body::Genesis { .. } => unreachable!("handled by apply"),
            Body::OperatorKeyRotation { new_key } => {
                Self::require_operator(entry, author, "rotates the operator key")?;
                self.check_new_key(new_key)?;
                let old = self.operator_key.replace(*new_key).expect("genesis set the operator key");
                self.keys.insert(old, (Party::Operator, KeyState::Rotated));
                self.keys.insert(*new_key, (Party::Operator, KeyState::Active));
                Ok(Detail::Other)
            }
            Body::RegisterOrganisation {
                organisation,
                role,
                name,
                country,
                iati_identifier,
                attribution_policy,
                public_key,
            } => {
                Self::require_operator(entry, author, "registers organisations")?;
                if self.organisation_ids.contains_key(organisation) || Some(organisation) == self.operator.as_ref() {
                    return Err(Rejection::OrganisationExists(organisation.to_string()));
                }
                self.check_new_key(public_key)?;
                let org = OrgIndex::try_from(self.organisations.len()).expect("fewer than 2^32 organisations");
                self.organisations.push(Organisation {
                    id: organisation.clone(),
                    role: *role,
                    name: name.clone(),
                    country: *country,
                    iati_identifier: iati_identifier.clone(),
                    attribution_policy: *attribution_policy,
                    key: Some(*public_key),
                    registered_at: index,
                });
                self.last_timestamp_ms.push(0);
                self.organisation_ids.insert(organisation.clone(), org);
                self.keys.insert(*public_key, (Party::Organisation(org), KeyState::Active));
                Ok(Detail::Other)
            }
            Body::KeyRotation { organisation, new_key } => {
                let org = self.organisation(organisation)?;
                if author != Party::Organisation(org) && author != Party::Operator {
                    return Err(Self::not_entitled(
                        entry,
                        "only the organisation itself or the operator rotates its key",
                    ));
                }
                self.check_new_key(new_key)?;
                if let Some(old) = self.organisations[org as usize].key.replace(*new_key) {
                    self.keys.insert(old, (Party::Organisation(org), KeyState::Rotated));
                }
                self.keys.insert(*new_key, (Party::Organisation(org), KeyState::Active));
                Ok(Detail::Other)
            }
            Body::KeyRevocation { organisation, revoked_key, replacement_key, .. } => {
                let org = self.organisation(organisation)?;
                if author != Party::Organisation(org) && author != Party::Operator {
                    return Err(Self::not_entitled(
                        entry,
                        "only the organisation itself or the operator revokes its keys",
                    ));
                }
                match self.keys.get(revoked_key) {
                    Some((owner, state)) if *owner == Party::Organisation(org) => {
                        if *state == KeyState::Revoked {
                            return Err(Rejection::KeyAlreadyRevoked(revoked_key.to_hex()));
                        }
                    }
                    _ => {
                        return Err(Rejection::KeyNotOwned {
                            key: revoked_key.to_hex(),
                            organisation: organisation.to_string(),
                        });
                    }
                }
                if let Some(replacement) = replacement_key {
                    self.check_new_key(replacement)?;
                }
                self.keys.insert(*revoked_key, (Party::Organisation(org), KeyState::Revoked));
                let current = self.organisations[org as usize].key;
                if current == Some(*revoked_key) {
                    self.organisations[org as usize].key = *replacement_key;
                } else if let Some(replacement) = replacement_key {
                    // Revoking an older key with a replacement also retires the current key.
                    if let Some(current) = current {
                        self.keys.insert(current, (Party::Organisation(org), KeyState::Rotated));
                    }
                    self.organisations[org as usize].key = Some(*replacement);
                }
                if let Some(replacement) = replacement_key {
                    self.keys.insert(*replacement, (Party::Organisation(org), KeyState::Active));
                }
                Ok(Detail::Other)
            }
            Body::DeclareAsset { asset, decimals, asset_kind } => {
                Self::require_operator(entry, author, "declares assets")?;
                if self.asset_codes.contains_key(asset) {
                    return Err(Rejection::AssetExists(asset.to_string()));
                }
                let position = AssetIndex::try_from(self.assets.len()).expect("fewer than 2^32 assets");
                self.assets.push(Asset { code: asset.clone(), decimals: *decimals, kind: *asset_kind });
                self.asset_totals.push(AssetTotals::default());
                self.asset_codes.insert(asset.clone(), position);
                Ok(Detail::Other)
            }
            Body::DeclareProgramme { programme, name, countries, sector, iati_identifier } => {
                let owner = match author {
                    Party::Organisation(org) => org,
                    Party::Operator => return Err(Self::not_entitled(entry, "only an NGO declares programmes")),
                };
                self.require_role(owner, &[Role::Ngo], "an NGO")?;
                if self.programme_ids.contains_key(programme) {
                    return Err(Rejection::ProgrammeExists(programme.to_string()));
                }
                let position = ProgrammeIndex::try_from(self.programmes.len()).expect("fewer than 2^32 programmes");
                self.programmes.push(Programme {
                    id: programme.clone(),
                    owner,
                    name: name.clone(),
                    countries: countries.clone(),
                    sector: sector.clone(),
                    iati_identifier: iati_identifier.clone(),
                });
                self.programme_ids.insert(programme.clone(), position);
                Ok(Detail::Other)
            }
            Body::Donation { donor, asset, amount, earmark, .. } => {
                let holder = self.sender(entry, author)?;
                let donor_ref = match donor {
                    Donor::Organisation(donor_id) => {
                        let donor_org = self.organisation(donor_id)?;
                        self.require_role(donor_org, &[Role::Donor], "a donor")?;
                        DonorRef::Organisation(donor_org)
                    }
                    Donor::Anonymous(reference) => DonorRef::Anonymous(*reference),
                };
                let asset = self.asset(asset)?;
                let amount = nonzero(*amount)?;
                let earmark = earmark.as_ref().map(|earmark| self.resolve_earmark(earmark)).transpose()?;
                let holding_total = self.holding_total(holder, asset);
                let new_holding_total = holding_total.checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                let totals = self.asset_totals[asset as usize];
                let donated = totals.donated.checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                let held = totals.held.checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                // Every check passed: change the state.
                let holding = self.holdings.entry((holder, asset)).or_default();
                holding.lots.insert((index, 0), Lot { origin: index, earmark, amount });
                holding.total = new_holding_total;
                let totals = &mut self.asset_totals[asset as usize];
                totals.donated = donated;
                totals.held = held;
                self.push_flow(index, index, FlowKind::Donated { to: holder }, amount);
                if let Donor::Anonymous(reference) = donor {
                    self.donations_by_reference.entry(*reference).or_default().push(index);
                }
                Ok(Detail::Donation { holder, donor: donor_ref, asset, amount, earmark, reversed: false })
            }
            Body::Transfer { to, asset, amount, programme, .. } => {
                let from = self.sender(entry, author)?;
                let to = self.organisation(to)?;
                if from == to {
                    return Err(Rejection::SelfTransfer);
                }
                self.require_role(to, &[Role::Ngo, Role::Clinic], "an NGO or a clinic (only they hold funds)")?;
                let asset = self.asset(asset)?;
                let amount = nonzero(*amount)?;
                let programme = programme.as_ref().map(|id| self.programme(id)).transpose()?;
                let receiver = &self.organisations[to as usize];
                let context = UseContext {
                    target: to,
                    target_country: receiver.country,
                    programme,
                    intermediary: receiver.role == Role::Ngo,
                };
                let pieces = self.select(from, asset, amount, &|earmark| self.eligible(earmark, &context))?;
                self.holding_total(to, asset).checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                // Every check passed: change the state.
                self.take_pieces(from, asset, &pieces);
                self.put_pieces(to, asset, index, &pieces);
                for piece in &pieces {
                    self.push_flow(piece.origin, index, FlowKind::Transferred { from, to }, piece.amount);
                }
                self.unacknowledged.insert(index, ());
                Ok(Detail::Transfer {
                    from,
                    to,
                    asset,
                    amount,
                    pieces: pieces.into(),
                    acknowledged_at: None,
                    reversed: false,
                })
            }
            Body::Acknowledgement { transfer } => {
                let record = self.entry_record(transfer)?;
                let target_index = record.index;
                let to_me = matches!(
                    (&record.detail, author),
                    (Detail::Transfer { to, .. }, Party::Organisation(me)) if *to == me
                );
                if !to_me {
                    return Err(Rejection::NotATransferToYou {
                        entry_id: transfer.to_hex(),
                        kind: record.kind,
                        author: entry.author.to_string(),
                    });
                }
                let Detail::Transfer { acknowledged_at, reversed, .. } = record.detail else {
                    unreachable!("checked above")
                };
                if acknowledged_at.is_some() {
                    return Err(Rejection::AlreadyAcknowledged(transfer.to_hex()));
                }
                if reversed {
                    return Err(Rejection::AlreadyReversed(transfer.to_hex()));
                }
                self.entries.update_detail(target_index, |detail| {
                    let Detail::Transfer { acknowledged_at, .. } = detail else { unreachable!("checked above") };
                    *acknowledged_at = Some(index);
                });
                self.unacknowledged.remove(&target_index);
                Ok(Detail::Other)
            }
            Body::Spend { asset, amount, category, recipient, programme, .. } => {
                let from = self.sender(entry, author)?;
                let asset = self.asset(asset)?;
                let amount = nonzero(*amount)?;
                let programme = programme.as_ref().map(|id| self.programme(id)).transpose()?;
                let recipient = match recipient {
                    Recipient::Beneficiary(commitment) => {
                        if self.entries.find_beneficiary(commitment).is_some() {
                            return Err(Rejection::CommitmentReused(commitment.to_hex()));
                        }
                        SpendRecipient::Beneficiary(*commitment)
                    }
                    Recipient::Supplier(supplier) => {
                        let supplier = self.organisation(supplier)?;
                        self.require_role(supplier, &[Role::Supplier], "a supplier")?;
                        SpendRecipient::Supplier(supplier)
                    }
                };
                let spender = &self.organisations[from as usize];
                let context =
                    UseContext { target: from, target_country: spender.country, programme, intermediary: false };
                let pieces = self.select(from, asset, amount, &|earmark| self.eligible(earmark, &context))?;
                // Every check passed: change the state.
                self.take_pieces(from, asset, &pieces);
                let totals = &mut self.asset_totals[asset as usize];
                totals.spent += amount;
                totals.held -= amount;
                for piece in &pieces {
                    self.push_flow(piece.origin, index, FlowKind::Spent { by: from }, piece.amount);
                }
                if let SpendRecipient::Beneficiary(_) = recipient {
                    self.beneficiary_records.entry(from).or_default().recorded += 1;
                }
                Ok(Detail::Spend {
                    from,
                    asset,
                    amount,
                    category: *category,
                    recipient,
                    pieces: pieces.into(),
                    reversed: false,
                })
            }
            Body::Pledge { to, asset, amount, verifier, result, expires_at_ms, programme, .. } => {
                let pledger = self.sender(entry, author)?;
                let to = self.organisation(to)?;
                if pledger == to {
                    return Err(Rejection::SelfTransfer);
                }
                self.require_role(to, &[Role::Ngo, Role::Clinic], "an NGO or a clinic (only they hold funds)")?;
                let verifier = self.organisation(verifier)?;
                if verifier == pledger || verifier == to {
                    return Err(Self::not_entitled(
                        entry,
                        "the verifier of a pledge must be independent of the pledger and the receiver",
                    ));
                }
                if *expires_at_ms <= entry.timestamp_ms {
                    return Err(Rejection::PledgeExpiryInPast);
                }
                let asset = self.asset(asset)?;
                let amount = nonzero(*amount)?;
                let programme = programme.as_ref().map(|id| self.programme(id)).transpose()?;
                let receiver = &self.organisations[to as usize];
                let context = UseContext {
                    target: to,
                    target_country: receiver.country,
                    programme,
                    intermediary: receiver.role == Role::Ngo,
                };
                let pieces = self.select(pledger, asset, amount, &|earmark| self.eligible(earmark, &context))?;
                // Every check passed: change the state.
                self.take_pieces(pledger, asset, &pieces);
                let pledge = u32::try_from(self.pledges.len()).expect("fewer than 2^32 pledges");
                let totals = &mut self.asset_totals[asset as usize];
                totals.reserved += amount;
                totals.held -= amount;
                for piece in &pieces {
                    self.push_flow(piece.origin, index, FlowKind::Reserved { by: pledger, pledge }, piece.amount);
                }
                self.pledges.push(PledgeRecord {
                    entry_index: index,
                    entry_id: entry.entry_id,
                    pledger,
                    receiver: to,
                    verifier,
                    asset,
                    amount,
                    result: result.clone(),
                    expires_at_ms: *expires_at_ms,
                    pieces,
                    status: PledgeStatus::Open,
                });
                Ok(Detail::Pledge(pledge))
            }
            Body::Attestation { pledge, .. } => {
                let position = self.pledge_position(pledge)?;
                let record = &self.pledges[position as usize];
                if author != Party::Organisation(record.verifier) {
                    return Err(Self::not_entitled(entry, "only the verifier named in the pledge attests it"));
                }
                match record.status {
                    PledgeStatus::Open => {}
                    PledgeStatus::Attested { .. } => return Err(Rejection::PledgeAlreadyAttested(pledge.to_hex())),
                    PledgeStatus::Released { .. } => return Err(Rejection::PledgeReleased(pledge.to_hex())),
                    PledgeStatus::Voided { .. } => return Err(Rejection::PledgeVoided(pledge.to_hex())),
                }
                if entry.timestamp_ms > record.expires_at_ms {
                    return Err(Rejection::PledgeExpired {
                        pledge: pledge.to_hex(),
                        expires_at_ms: record.expires_at_ms,
                        timestamp_ms: entry.timestamp_ms,
                    });
                }
                self.pledges[position as usize].status = PledgeStatus::Attested { attested_at: index };
                Ok(Detail::Other)
            }
            Body::PledgeRelease { pledge } => {
                let position = self.pledge_position(pledge)?;
                let record = &self.pledges[position as usize];
                if author != Party::Organisation(record.pledger) && author != Party::Organisation(record.receiver) {
                    return Err(Self::not_entitled(entry, "only the pledger or the receiver releases a pledge"));
                }
                let attested_at = match record.status {
                    PledgeStatus::Attested { attested_at } => attested_at,
                    PledgeStatus::Open => return Err(Rejection::PledgeNotAttested(pledge.to_hex())),
                    PledgeStatus::Released { .. } => return Err(Rejection::PledgeReleased(pledge.to_hex())),
                    PledgeStatus::Voided { .. } => return Err(Rejection::PledgeVoided(pledge.to_hex())),
                };
                let (from, to, asset, amount) = (record.pledger, record.receiver, record.asset, record.amount);
                self.holding_total(to, asset).checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                // Every check passed: change the state.
                let pieces = std::mem::take(&mut self.pledges[position as usize].pieces);
                self.put_pieces(to, asset, index, &pieces);
                let totals = &mut self.asset_totals[asset as usize];
                totals.reserved -= amount;
                totals.held += amount;
                for piece in &pieces {
                    self.push_flow(
                        piece.origin,
                        index,
                        FlowKind::Released { from, to, pledge: position },
                        piece.amount,
                    );
                }
                let record = &mut self.pledges[position as usize];
                record.pieces = pieces;
                record.status = PledgeStatus::Released { attested_at, released_at: index };
                Ok(Detail::Other)
            }
            Body::PledgeVoid { pledge } => {
                let position = self.pledge_position(pledge)?;
                let record = &self.pledges[position as usize];
                if author != Party::Organisation(record.pledger) {
                    return Err(Self::not_entitled(entry, "only the pledger voids a pledge"));
                }
                match record.status {
                    PledgeStatus::Open => {}
                    PledgeStatus::Attested { .. } => return Err(Rejection::PledgeAlreadyAttested(pledge.to_hex())),
                    PledgeStatus::Released { .. } => return Err(Rejection::PledgeReleased(pledge.to_hex())),
                    PledgeStatus::Voided { .. } => return Err(Rejection::PledgeVoided(pledge.to_hex())),
                }
                if entry.timestamp_ms <= record.expires_at_ms {
                    return Err(Rejection::PledgeNotExpired {
                        pledge: pledge.to_hex(),
                        expires_at_ms: record.expires_at_ms,
                        timestamp_ms: entry.timestamp_ms,
                    });
                }
                let (pledger, asset, amount) = (record.pledger, record.asset, record.amount);
                let pieces = record.pieces.clone();
                self.holding_total(pledger, asset).checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                // Every check passed: change the state.
                self.restore_pieces(pledger, asset, &pieces);
                let totals = &mut self.asset_totals[asset as usize];
                totals.reserved -= amount;
                totals.held += amount;
                for piece in &pieces {
                    self.push_flow(
                        piece.origin,
                        index,
                        FlowKind::Unreserved { to: pledger, pledge: position },
                        piece.amount,
                    );
                }
                self.pledges[position as usize].status = PledgeStatus::Voided { voided_at: index };
                Ok(Detail::Other)
            }
            Body::Reversal { target, .. } => self.apply_reversal(entry, author, target, index),
            Body::Conversion { from_asset, from_amount, to_asset, to_amount, rate, .. } => {
                let by = self.sender(entry, author)?;
                let from = self.asset(from_asset)?;
                let to = self.asset(to_asset)?;
                if from == to {
                    return Err(Rejection::ConversionSameAsset(from_asset.to_string()));
                }
                let from_amount = nonzero(*from_amount)?;
                let (from_decimals, to_decimals) =
                    (self.assets[from as usize].decimals, self.assets[to as usize].decimals);
                let expected =
                    rate.convert(from_amount, from_decimals, to_decimals).ok_or(Rejection::AmountOverflow)?;
                if expected != to_amount.0 {
                    return Err(Rejection::ConversionMismatch {
                        from_amount,
                        from_asset: from_asset.to_string(),
                        rate: rate.to_string(),
                        to_asset: to_asset.to_string(),
                        expected,
                        stated: to_amount.0,
                    });
                }
                let to_amount = nonzero(*to_amount)?;
                // Converting keeps every earmark: the money stays with its holder.
                let pieces = self.select(by, from, from_amount, &|_| true)?;
                let piece_amounts: Vec<u128> = pieces.iter().map(|piece| piece.amount).collect();
                let shares = split_by_largest_remainder(to_amount, &piece_amounts);
                self.holding_total(by, to).checked_add(to_amount).ok_or(Rejection::AmountOverflow)?;
                let to_totals = self.asset_totals[to as usize];
                let converted_in = to_totals.converted_in.checked_add(to_amount).ok_or(Rejection::AmountOverflow)?;
                let to_held = to_totals.held.checked_add(to_amount).ok_or(Rejection::AmountOverflow)?;
                // Every check passed: change the state.
                self.take_pieces(by, from, &pieces);
                let created: Vec<Piece> = pieces
                    .iter()
                    .zip(&shares)
                    .map(|(piece, &share)| Piece { amount: share, ..*piece })
                    .filter(|piece| piece.amount > 0)
                    .collect();
                self.put_pieces(by, to, index, &created);
                let from_totals = &mut self.asset_totals[from as usize];
                from_totals.converted_out += from_amount;
                from_totals.held -= from_amount;
                let to_totals = &mut self.asset_totals[to as usize];
                to_totals.converted_in = converted_in;
                to_totals.held = to_held;
                for (origin, amount) in sums_by_origin(&pieces) {
                    self.push_flow(origin, index, FlowKind::Converted { by }, amount);
                }
                Ok(Detail::Conversion { by, from_asset: from, to_asset: to, pieces: pieces.into(), shares })
            }
            Body::Refund { donation, asset, amount, .. } => {
                let by = self.sender(entry, author)?;
                let record = self.entry_record(donation)?;
                let origin = record.index;
                match record.detail {
                    Detail::Donation { reversed: false, .. } => {}
                    Detail::Donation { reversed: true, .. } => {
                        return Err(Rejection::AlreadyReversed(donation.to_hex()));
                    }
                    _ => return Err(Rejection::NotADonation { entry_id: donation.to_hex(), kind: record.kind }),
                }
                let asset = self.asset(asset)?;
                let amount = nonzero(*amount)?;
                let (pieces, remaining) = match self.holdings.get(&(by, asset)) {
                    Some(holding) => first_in(holding.lots.iter().filter(|(_, lot)| lot.origin == origin), amount),
                    None => (Vec::new(), amount),
                };
                if remaining > 0 {
                    return Err(Rejection::RefundExceedsHolding {
                        organisation: entry.author.to_string(),
                        donation: donation.to_hex(),
                        asset: self.assets[asset as usize].code.to_string(),
                        available: amount - remaining,
                        requested: amount,
                    });
                }
                // Every check passed: change the state.
                self.take_pieces(by, asset, &pieces);
                let totals = &mut self.asset_totals[asset as usize];
                totals.refunded += amount;
                totals.held -= amount;
                self.push_flow(origin, index, FlowKind::Refunded { by }, amount);
                Ok(Detail::Refund { by, donation: origin, asset, amount })
            }
            Body::AccountsSignOff { organisation, tree_size, period_start, period_end, report, opinion } => {
                let auditor = match author {
                    Party::Organisation(org) => org,
                    Party::Operator => return Err(Self::not_entitled(entry, "only an auditor signs off accounts")),
                };
                self.require_role(auditor, &[Role::Auditor], "an auditor")?;
                let organisation = self.organisation(organisation)?;
                if organisation == auditor {
                    return Err(Self::not_entitled(entry, "an auditor does not sign off its own accounts"));
                }
                if *tree_size == 0 || *tree_size > index {
                    return Err(Rejection::SignOffBeyondLog { tree_size: *tree_size, size: index });
                }
                let position = u32::try_from(self.sign_offs.len()).expect("fewer than 2^32 sign-offs");
                self.sign_offs.push(SignOffRecord {
                    entry_index: index,
                    auditor,
                    organisation,
                    tree_size: *tree_size,
                    period_start: *period_start,
                    period_end: *period_end,
                    report: *report,
                    opinion: opinion.clone(),
                });
                Ok(Detail::SignOff(position))
            }
            Body::VoucherIssue { programme, asset, face_value, category, clinics, vouchers, expires_at_ms, .. } => {
                let issuer = self.sender(entry, author)?;
                self.require_role(issuer, &[Role::Ngo], "an NGO")?;
                let programme = self.programme(programme)?;
                if self.programmes[programme as usize].owner != issuer {
                    return Err(Self::not_entitled(entry, "an NGO issues vouchers only for its own programmes"));
                }
                let clinics = clinics
                    .iter()
                    .map(|clinic| {
                        let clinic = self.organisation(clinic)?;
                        self.require_role(clinic, &[Role::Clinic], "a clinic")?;
                        Ok(clinic)
                    })
                    .collect::<Result<Vec<OrgIndex>, Rejection>>()?;
                if let Some(used) = vouchers.iter().find(|voucher| self.vouchers.contains_key(voucher)) {
                    return Err(Rejection::VoucherExists(used.to_hex()));
                }
                if *expires_at_ms <= entry.timestamp_ms {
                    return Err(Rejection::VoucherExpiryInPast);
                }
                let asset = self.asset(asset)?;
                let face_value = nonzero(*face_value)?;
                let count = u32::try_from(vouchers.len()).expect("validated: at most 1,000 vouchers");
                let total = face_value.checked_mul(u128::from(count)).ok_or(Rejection::AmountOverflow)?;
                // The reserve may pay any of the clinics: a lot qualifies if its earmark allows every one.
                let contexts: Vec<UseContext> = clinics
                    .iter()
                    .map(|&clinic| UseContext {
                        target: clinic,
                        target_country: self.organisations[clinic as usize].country,
                        programme: Some(programme),
                        intermediary: false,
                    })
                    .collect();
                let pieces = self.select(issuer, asset, total, &|earmark| {
                    contexts.iter().all(|context| self.eligible(earmark, context))
                })?;
                // Every check passed: change the state.
                self.take_pieces(issuer, asset, &pieces);
                let issue = u32::try_from(self.voucher_issues.len()).expect("fewer than 2^32 voucher issues");
                let totals = &mut self.asset_totals[asset as usize];
                totals.reserved += total;
                totals.held -= total;
                for piece in &pieces {
                    self.push_flow(piece.origin, index, FlowKind::VoucherReserved { by: issuer, issue }, piece.amount);
                }
                for voucher in vouchers {
                    self.vouchers.insert(*voucher, VoucherRecord { issue, status: VoucherStatus::Issued });
                }
                self.voucher_issues.push(VoucherIssueRecord {
                    entry_index: index,
                    issuer,
                    programme,
                    asset,
                    face_value,
                    category: *category,
                    clinics,
                    expires_at_ms: *expires_at_ms,
                    vouchers: vouchers.clone(),
                    reserve: pieces,
                    issued: count,
                    redeemed: 0,
                    settled: 0,
                    expired: 0,
                });
                Ok(Detail::VoucherIssue(issue))
            }
            Body::VoucherRedemption { voucher, .. } => {
                let record = *self.vouchers.get(voucher).ok_or_else(|| Rejection::UnknownVoucher(voucher.to_hex()))?;
                let issue = &self.voucher_issues[record.issue as usize];
                let clinic = match author {
                    Party::Organisation(org) => org,
                    Party::Operator => return Err(Self::not_entitled(entry, "only a clinic redeems vouchers")),
                };
                let Some(clinic_index) = issue.clinics.iter().position(|&eligible| eligible == clinic) else {
                    return Err(Rejection::VoucherClinicNotEligible {
                        voucher: voucher.to_hex(),
                        clinic: entry.author.to_string(),
                    });
                };
                if record.status != VoucherStatus::Issued {
                    return Err(Rejection::VoucherWrongStatus {
                        voucher: voucher.to_hex(),
                        status: record.status.as_str(),
                        action: "redeemed",
                    });
                }
                if entry.timestamp_ms > issue.expires_at_ms {
                    return Err(Rejection::VoucherExpired {
                        voucher: voucher.to_hex(),
                        expires_at_ms: issue.expires_at_ms,
                        timestamp_ms: entry.timestamp_ms,
                    });
                }
                // Every check passed: change the state.
                let clinic_index = u32::try_from(clinic_index).expect("at most 32 clinics");
                self.voucher_issues[record.issue as usize].redeemed += 1;
                self.vouchers.get_mut(voucher).expect("checked above").status =
                    VoucherStatus::Redeemed { clinic_index, redeemed_at: index };
                Ok(Detail::Other)
            }
            Body::VoucherSettlement { clinic, vouchers, .. } => {
                let issuer = self.sender(entry, author)?;
                let clinic = self.organisation(clinic)?;
                let mut issue = None;
                for voucher in vouchers {
                    let record =
                        *self.vouchers.get(voucher).ok_or_else(|| Rejection::UnknownVoucher(voucher.to_hex()))?;
                    if *issue.get_or_insert(record.issue) != record.issue {
                        return Err(Rejection::VouchersOfSeveralIssues(voucher.to_hex()));
                    }
                    let terms = &self.voucher_issues[record.issue as usize];
                    if terms.issuer != issuer {
                        return Err(Self::not_entitled(entry, "only the issuer of a voucher settles it"));
                    }
                    match record.status {
                        VoucherStatus::Redeemed { clinic_index, .. }
                            if terms.clinics[clinic_index as usize] == clinic => {}
                        VoucherStatus::Redeemed { .. } => {
                            return Err(Rejection::VoucherClinicNotEligible {
                                voucher: voucher.to_hex(),
                                clinic: self.organisations[clinic as usize].id.to_string(),
                            });
                        }
                        status => {
                            return Err(Rejection::VoucherWrongStatus {
                                voucher: voucher.to_hex(),
                                status: status.as_str(),
                                action: "settled",
                            });
                        }
                    }
                }
                let issue = issue.expect("validated: at least one voucher");
                let terms = &self.voucher_issues[issue as usize];
                let count = u32::try_from(vouchers.len()).expect("validated: at most 1,000 vouchers");
                let amount = terms.face_value * u128::from(count);
                let asset = terms.asset;
                // Every check passed: change the state.
                let pieces = take_from_reserve(&mut self.voucher_issues[issue as usize].reserve, amount);
                let terms = &mut self.voucher_issues[issue as usize];
                terms.settled += count;
                for voucher in vouchers {
                    let record = self.vouchers.get_mut(voucher).expect("checked above");
                    if let VoucherStatus::Redeemed { clinic_index, redeemed_at } = record.status {
                        record.status = VoucherStatus::Settled { clinic_index, redeemed_at, settled_at: index };
                    }
                }
                let totals = &mut self.asset_totals[asset as usize];
                totals.reserved -= amount;
                totals.spent += amount;
                for piece in &pieces {
                    self.push_flow(piece.origin, index, FlowKind::VoucherSettled { clinic, issue }, piece.amount);
                }
                Ok(Detail::VoucherSettlement { issue, clinic, amount, pieces: pieces.into() })
            }
            Body::VoucherExpiry { issue: issue_id } => {
                let record = self.entry_record(issue_id)?;
                let Detail::VoucherIssue(issue) = record.detail else {
                    return Err(Rejection::NotAVoucherIssue { entry_id: issue_id.to_hex(), kind: record.kind });
                };
                let terms = &self.voucher_issues[issue as usize];
                if author != Party::Organisation(terms.issuer) {
                    return Err(Self::not_entitled(entry, "only the issuer takes back expired vouchers"));
                }
                if entry.timestamp_ms <= terms.expires_at_ms {
                    return Err(Rejection::VouchersNotExpired {
                        issue: issue_id.to_hex(),
                        expires_at_ms: terms.expires_at_ms,
                        timestamp_ms: entry.timestamp_ms,
                    });
                }
                let unredeemed = terms.issued - terms.redeemed - terms.expired;
                if unredeemed == 0 {
                    return Err(Rejection::NothingToExpire(issue_id.to_hex()));
                }
                let (issuer, asset) = (terms.issuer, terms.asset);
                let amount = terms.face_value * u128::from(unredeemed);
                self.holding_total(issuer, asset).checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                // Every check passed: change the state.
                let pieces = take_from_reserve(&mut self.voucher_issues[issue as usize].reserve, amount);
                self.voucher_issues[issue as usize].expired += unredeemed;
                for voucher in &self.voucher_issues[issue as usize].vouchers {
                    let record = self.vouchers.get_mut(voucher).expect("an issue's vouchers are in the state");
                    if record.status == VoucherStatus::Issued {
                        record.status = VoucherStatus::Expired { expired_at: index };
                    }
                }
                self.put_pieces(issuer, asset, index, &pieces);
                let totals = &mut self.asset_totals[asset as usize];
                totals.reserved -= amount;
                totals.held += amount;
                for piece in &pieces {
                    self.push_flow(piece.origin, index, FlowKind::VoucherExpired { to: issuer, issue }, piece.amount);
                }
                Ok(Detail::VoucherExpiry { issue, amount, pieces: pieces.into() })
            }
            Body::Erasure { count, digest, .. } => {
                let org = match author {
                    Party::Organisation(org) if self.organisations[org as usize].role.holds_funds() => org,
                    _ => {
                        return Err(Self::not_entitled(
                            entry,
                            "only the NGO or clinic that recorded beneficiary spends erases their data",
                        ));
                    }
                };
                if self.erasure_digests.contains(digest) {
                    return Err(Rejection::ErasureRepeated(digest.to_hex()));
                }
                let records = self.beneficiary_records.get(&org).copied().unwrap_or_default();
                if records.erased + u64::from(*count) > records.recorded {
                    return Err(Rejection::ErasureExceedsRecorded {
                        organisation: entry.author.to_string(),
                        recorded: records.recorded,
                        erased: records.erased,
                        requested: *count,
                    });
                }
                // Every check passed: change the state.
                self.erasure_digests.insert(*digest);
                let records = self.beneficiary_records.entry(org).or_default();
                records.erased += u64::from(*count);
                records.erasures += 1;
                Ok(Detail::Other)
            }
        }
    }

    fn apply_reversal(
        &mut self,
        entry: &Entry,
        author: Party,
        target: &EntryId,
        index: u64,
    ) -> Result<Detail, Rejection> {
        let record = self.entry_record(target)?;
        let target_index = record.index;
        if record.author != author {
            return Err(Self::not_entitled(entry, "only the author of an entry reverses it"));
        }
        let target_hex = target.to_hex();
        match record.detail.clone() {
            Detail::Donation { holder, asset, amount, reversed, .. } => {
                if reversed {
                    return Err(Rejection::AlreadyReversed(target_hex));
                }
                let intact = self
                    .holdings
                    .get(&(holder, asset))
                    .and_then(|holding| holding.lots.get(&(target_index, 0)))
                    .is_some_and(|lot| lot.amount == amount);
                if !intact {
                    return Err(Rejection::MoneyMovedOn(target_hex));
                }
                let holding = self.holdings.get_mut(&(holder, asset)).expect("checked above");
                holding.lots.remove(&(target_index, 0));
                holding.total -= amount;
                let totals = &mut self.asset_totals[asset as usize];
                totals.returned += amount;
                totals.held -= amount;
                self.push_flow(target_index, index, FlowKind::DonationReversed { from: holder }, amount);
                self.set_reversed(target_index);
            }
            Detail::Transfer { from, to, asset, pieces, reversed, .. } => {
                if reversed {
                    return Err(Rejection::AlreadyReversed(target_hex));
                }
                let holding = self.holdings.get(&(to, asset));
                let intact = pieces.iter().enumerate().all(|(position, piece)| {
                    let key = (target_index, u32::try_from(position).expect("pieces per entry fit u32"));
                    holding.and_then(|holding| holding.lots.get(&key)).is_some_and(|lot| lot.amount == piece.amount)
                });
                if !intact {
                    return Err(Rejection::MoneyMovedOn(target_hex));
                }
                let amount: u128 = pieces.iter().map(|piece| piece.amount).sum();
                self.holding_total(from, asset).checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                let holding = self.holdings.get_mut(&(to, asset)).expect("checked above");
                for position in 0..pieces.len() {
                    holding.lots.remove(&(target_index, u32::try_from(position).expect("fits")));
                }
                holding.total -= amount;
                self.restore_pieces(from, asset, &pieces);
                for piece in &pieces {
                    self.push_flow(
                        piece.origin,
                        index,
                        FlowKind::ReturnedTransfer { from: to, to: from },
                        piece.amount,
                    );
                }
                self.unacknowledged.remove(&target_index);
                self.set_reversed(target_index);
            }
            Detail::Spend { from, asset, amount, pieces, reversed, .. } => {
                if reversed {
                    return Err(Rejection::AlreadyReversed(target_hex));
                }
                self.holding_total(from, asset).checked_add(amount).ok_or(Rejection::AmountOverflow)?;
                self.restore_pieces(from, asset, &pieces);
                let totals = &mut self.asset_totals[asset as usize];
                totals.spent -= amount;
                totals.held += amount;
                for piece in &pieces {
                    self.push_flow(piece.origin, index, FlowKind::ReturnedSpend { to: from }, piece.amount);
                }
                self.set_reversed(target_index);
            }
            Detail::Other
            | Detail::Pledge(_)
            | Detail::Reversal { .. }
            | Detail::Conversion { .. }
            | Detail::Refund { .. }
            | Detail::SignOff(_)
            | Detail::VoucherIssue(_)
            | Detail::VoucherSettlement { .. }
            | Detail::VoucherExpiry { .. } => {
                return Err(Rejection::NotReversible { entry_id: target_hex, kind: record.kind });
            }
        }
        Ok(Detail::Reversal { target: target_index })
    }

    fn set_reversed(&mut self, target_index: u64) {
        self.entries.update_detail(target_index, |detail| match detail {
            Detail::Donation { reversed, .. } | Detail::Transfer { reversed, .. } | Detail::Spend { reversed, .. } => {
                *reversed = true
            }
            _ => unreachable!("only donations, transfers and spends are reversed"),
        });
    }

    fn pledge_position(&self, pledge: &EntryId) -> Result<u32, Rejection> {
        let record = self.entry_record(pledge)?;
        match record.detail {
            Detail::Pledge(position) => Ok(position),
            _ => Err(Rejection::NotAPledge { entry_id: pledge.to_hex(), kind: record.kind }),
        }
    }

    fn resolve_earmark(&self, earmark: &Earmark) -> Result<EarmarkRef, Rejection> {
        Ok(match earmark {
            Earmark::Programme(programme) => EarmarkRef::Programme(self.programme(programme)?),
            Earmark::Country(country) => EarmarkRef::Country(country.bytes()),
            Earmark::Clinic(clinic) => {
                let clinic = self.organisation(clinic)?;
                self.require_role(clinic, &[Role::Clinic], "a clinic")?;
                EarmarkRef::Clinic(clinic)
            }
        })
    }

    fn holding_total(&self, org: OrgIndex, asset: AssetIndex) -> u128 {
        self.holdings.get(&(org, asset)).map_or(0, |holding| holding.total)
    }

    /// The earmark rule: may a lot with this earmark be used this way?
    fn eligible(&self, earmark: Option<EarmarkRef>, context: &UseContext) -> bool {
        let Some(earmark) = earmark else { return true };
        if context.intermediary {
            return true;
        }
        match earmark {
            EarmarkRef::Programme(programme) => context.programme == Some(programme),
            EarmarkRef::Country(country) => {
                context.target_country.bytes() == country
                    || context.programme.is_some_and(|programme| {
                        self.programmes[programme as usize].countries.iter().any(|c| c.bytes() == country)
                    })
            }
            EarmarkRef::Clinic(clinic) => context.target == clinic,
        }
    }

    /// Chooses the lot pieces that pay `amount` by the holder's attribution policy, among the lots whose
    /// earmark allows this use. Reads only; the caller applies the result.
    fn select(
        &self,
        holder: OrgIndex,
        asset: AssetIndex,
        amount: u128,
        allowed: &dyn Fn(Option<EarmarkRef>) -> bool,
    ) -> Result<Vec<Piece>, Rejection> {
        let organisation = &self.organisations[holder as usize];
        let overspend = |available: u128| Rejection::Overspend {
            organisation: organisation.id.to_string(),
            asset: self.assets[asset as usize].code.to_string(),
            available,
            requested: amount,
        };
        let Some(holding) = self.holdings.get(&(holder, asset)) else { return Err(overspend(0)) };
        if holding.total < amount {
            return Err(overspend(holding.total));
        }
        let mut pieces = Vec::new();
        match organisation.attribution_policy {
            AttributionPolicy::Fifo => {
                let remaining;
                (pieces, remaining) = first_in(holding.lots.iter().filter(|(_, lot)| allowed(lot.earmark)), amount);
                if remaining > 0 {
                    return Err(self.earmark_violation(organisation, asset, holding.total, amount - remaining, amount));
                }
            }
            AttributionPolicy::ProRata => {
                let eligible: Vec<(&LotKey, &Lot)> =
                    holding.lots.iter().filter(|(_, lot)| allowed(lot.earmark)).collect();
                let eligible_total: u128 = eligible.iter().map(|(_, lot)| lot.amount).sum();
                if eligible_total < amount {
                    return Err(self.earmark_violation(organisation, asset, holding.total, eligible_total, amount));
                }
                let lot_amounts: Vec<u128> = eligible.iter().map(|(_, lot)| lot.amount).collect();
                let shares = pro_rata_shares(amount, &lot_amounts);
                for ((key, lot), share) in eligible.into_iter().zip(shares) {
                    if share > 0 {
                        pieces.push(Piece { from: *key, origin: lot.origin, earmark: lot.earmark, amount: share });
                    }
                }
            }
        }
        Ok(pieces)
    }

    fn earmark_violation(
        &self,
        organisation: &Organisation,
        asset: AssetIndex,
        available: u128,
        eligible: u128,
        requested: u128,
    ) -> Rejection {
        Rejection::EarmarkViolation {
            organisation: organisation.id.to_string(),
            asset: self.assets[asset as usize].code.to_string(),
            available,
            eligible,
            requested,
        }
    }

    fn take_pieces(&mut self, holder: OrgIndex, asset: AssetIndex, pieces: &[Piece]) {
        let holding = self.holdings.get_mut(&(holder, asset)).expect("selection found a holding");
        for piece in pieces {
            let lot = holding.lots.get_mut(&piece.from).expect("selection found the lot");
            assert!(lot.amount >= piece.amount, "a piece never exceeds its lot");
            lot.amount -= piece.amount;
            if lot.amount == 0 {
                holding.lots.remove(&piece.from);
            }
            holding.total -= piece.amount;
        }
    }

    /// Opens one lot per piece at the receiver, keyed by this entry's index, remembering each origin.
    fn put_pieces(&mut self, holder: OrgIndex, asset: AssetIndex, index: u64, pieces: &[Piece]) {
        let holding = self.holdings.entry((holder, asset)).or_default();
        for (position, piece) in pieces.iter().enumerate() {
            let key = (index, u32::try_from(position).expect("pieces per entry fit u32"));
            holding.lots.insert(key, Lot { origin: piece.origin, earmark: piece.earmark, amount: piece.amount });
            holding.total += piece.amount;
        }
    }

    /// Puts pieces back exactly where they were taken from (a reversal or a voided pledge).
    fn restore_pieces(&mut self, holder: OrgIndex, asset: AssetIndex, pieces: &[Piece]) {
        let holding = self.holdings.entry((holder, asset)).or_default();
        for piece in pieces {
            let lot = holding.lots.entry(piece.from).or_insert(Lot {
                origin: piece.origin,
                earmark: piece.earmark,
                amount: 0,
            });
            assert_eq!(lot.origin, piece.origin, "a restored piece returns to its own lot");
            lot.amount += piece.amount;
            holding.total += piece.amount;
        }
    }

    fn push_flow(&mut self, origin: u64, entry_index: u64, kind: FlowKind, amount: u128) {
        self.flows.entry(origin).or_default().push(Flow { entry_index, kind, amount });
    }
}

/// Makes room for one more element, growing a full vector by a quarter rather than doubling it. The long
/// vectors of the state, the flags and the Merkle tree (entries, each donation's flows, tree levels) only
/// grow, and doubling would leave up to half of each allocation unused; a quarter keeps at least 80 % of it
/// in use, for a few more reallocations (large ones are remapped by the allocator, not copied).
pub(crate) fn grow_gently<T>(vector: &mut Vec<T>) {
    if vector.len() == vector.capacity() {
        vector.reserve_exact((vector.len() / 4).max(4));
    }
}

/// Takes `amount` from `lots` first in, first out; returns the pieces taken and what is still missing
/// (zero when the lots held enough).
fn first_in<'a>(lots: impl Iterator<Item = (&'a LotKey, &'a Lot)>, amount: u128) -> (Vec<Piece>, u128) {
    let mut pieces = Vec::new();
    let mut remaining = amount;
    for (key, lot) in lots {
        if remaining == 0 {
            break;
        }
        let take = remaining.min(lot.amount);
        pieces.push(Piece { from: *key, origin: lot.origin, earmark: lot.earmark, amount: take });
        remaining -= take;
    }
    (pieces, remaining)
}

/// Takes `amount` from the front of a voucher reserve (first in, first out), splitting a piece if needed.
fn take_from_reserve(reserve: &mut Vec<Piece>, amount: u128) -> Vec<Piece> {
    let mut taken = Vec::new();
    let mut remaining = amount;
    let mut consumed = 0;
    for piece in reserve.iter_mut() {
        if remaining == 0 {
            break;
        }
        let take = remaining.min(piece.amount);
        taken.push(Piece { amount: take, ..*piece });
        piece.amount -= take;
        remaining -= take;
        if piece.amount == 0 {
            consumed += 1;
        }
    }
    assert_eq!(remaining, 0, "a voucher reserve covers every voucher not yet settled or expired");
    reserve.drain(..consumed);
    taken
}

/// The pieces' amounts summed per origin donation, in order of first appearance.
fn sums_by_origin(pieces: &[Piece]) -> Vec<(u64, u128)> {
    let mut sums: Vec<(u64, u128)> = Vec::new();
    for piece in pieces {
        match sums.iter_mut().find(|(origin, _)| *origin == piece.origin) {
            Some(slot) => slot.1 += piece.amount,
            None => sums.push((piece.origin, piece.amount)),
        }
    }
    sums
}

fn nonzero(amount: Amount) -> Result<u128, Rejection> {
    if amount.0 == 0 { Err(Rejection::ZeroAmount) } else { Ok(amount.0) }
}

/// Splits `amount` over lots in proportion to their amounts, rounding down and giving the units left
/// over one each to the lots with the largest remainders; ties go to the earlier lot. The shares sum to
/// `amount` exactly and no share exceeds its lot (the caller ensures `amount <= sum(lots)`).
pub fn pro_rata_shares(amount: u128, lots: &[u128]) -> Vec<u128> {
    let total: u128 = lots.iter().sum();
    assert!(amount <= total, "pro-rata over less than the amount");
    split_by_largest_remainder(amount, lots)
}

/// Splits `amount` in proportion to `weights` (which need not sum to `amount`): each share rounded down,
/// then the units left over one each to the largest remainders, ties to the earlier weight. The shares sum
/// to `amount` exactly. A conversion splits the amount it receives this way over the lots it consumed.
pub fn split_by_largest_remainder(amount: u128, weights: &[u128]) -> Vec<u128> {
    let lots = weights;
    let total: u128 = lots.iter().sum();
    if total == 0 {
        return vec![0; lots.len()];
    }
    let mut shares = Vec::with_capacity(lots.len());
    let mut remainders = Vec::with_capacity(lots.len());
    for (position, &lot) in lots.iter().enumerate() {
        let (quotient, remainder) = mul_div_rem(amount, lot, total);
        shares.push(quotient);
        remainders.push((remainder, position));
    }
    let allotted: u128 = shares.iter().sum();
    let mut left_over = amount - allotted;
    // Largest remainder first; on equal remainders the earlier lot (smaller position) first.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, position) in remainders {
        if left_over == 0 {
            break;
        }
        shares[position] += 1;
        left_over -= 1;
    }
    shares
}

/// `(a * b) / c` and `(a * b) % c` without overflow, for `c > 0`.
fn mul_div_rem(a: u128, b: u128, c: u128) -> (u128, u128) {
    if let Some(product) = a.checked_mul(b) {
        return (product / c, product % c);
    }
    // 256-bit product as (high, low), then binary long division by c.
    let (a_high, a_low) = (a >> 64, a & u128::from(u64::MAX));
    let (b_high, b_low) = (b >> 64, b & u128::from(u64::MAX));
    let low_low = a_low * b_low;
    let high_low = a_high * b_low;
    let low_high = a_low * b_high;
    let high_high = a_high * b_high;
    let middle = (low_low >> 64) + (high_low & u128::from(u64::MAX)) + (low_high & u128::from(u64::MAX));
    let low = (low_low & u128::from(u64::MAX)) | (middle << 64);
    let high = high_high + (high_low >> 64) + (low_high >> 64) + (middle >> 64);
    let mut quotient: u128 = 0;
    let mut remainder: u128 = 0;
    for bit in (0..256).rev() {
        let carry = remainder >> 127;
        let next_bit = if bit >= 128 { (high >> (bit - 128)) & 1 } else { (low >> bit) & 1 };
        remainder = (remainder << 1) | next_bit;
        if carry == 1 || remainder >= c {
            remainder = remainder.wrapping_sub(c);
            if bit < 128 {
                quotient |= 1 << bit;
            }
        }
    }
    (quotient, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pro_rata_sums_exactly_and_breaks_ties_towards_earlier_lots() {
        assert_eq!(pro_rata_shares(10, &[10, 10, 10]), vec![4, 3, 3]);
        assert_eq!(pro_rata_shares(2, &[5, 5, 5]), vec![1, 1, 0]);
        assert_eq!(pro_rata_shares(7, &[7]), vec![7]);
        assert_eq!(pro_rata_shares(100, &[50, 30, 20]), vec![50, 30, 20]);
        let big = u128::MAX / 3;
        let shares = pro_rata_shares(big, &[big, big, big]);
        assert_eq!(shares.iter().sum::<u128>(), big);
    }

    #[test]
    fn wide_multiplication_divides_like_exact_arithmetic() {
        assert_eq!(mul_div_rem(u128::MAX, u128::MAX, u128::MAX), (u128::MAX, 0));
        assert_eq!(mul_div_rem(u128::MAX, 2, 4), (u128::MAX / 2, 2));
        assert_eq!(mul_div_rem(1 << 100, 1 << 100, 1 << 90), (1 << 110, 0));
        assert_eq!(mul_div_rem(6, 7, 4), (10, 2));
    }

    #[test]
    fn vectors_grown_gently_keep_most_of_their_room_in_use() {
        let mut vector: Vec<u64> = Vec::new();
        let mut reallocations = 0;
        for value in 0..100_000 {
            let capacity = vector.capacity();
            grow_gently(&mut vector);
            reallocations += usize::from(vector.capacity() != capacity);
            vector.push(value);
            assert!(vector.capacity() <= vector.len() * 5 / 4 + 4, "{} of {}", vector.len(), vector.capacity());
        }
        assert!(reallocations < 60, "{reallocations} reallocations");
    }
}
