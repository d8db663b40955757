//! Why the ledger refuses an entry: one variant per money or authority rule, each with a stable
//! machine-readable code (used by the HTTP API and metrics) and a message a user understands.

use thiserror::Error;

use crate::entry::Kind;
use crate::signed::{EntryError, KeyError};

/// A rule the entry breaks. Applying a rejected entry changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("malformed or unsigned entry: {0}")]
    Malformed(#[from] EntryError),
    #[error("the log is empty: its first entry must be a genesis entry")]
    GenesisRequired,
    #[error("the log already has a genesis entry")]
    GenesisRepeated,
    #[error("the genesis entry must be signed by the operator key it names")]
    GenesisKeyMismatch,
    #[error("the operator's key {0} is not usable: {1}")]
    BadOperatorKey(String, KeyError),
    #[error("entry id {entry_id} is already used by a different entry (at index {index}); choose a new id")]
    IdConflict { entry_id: String, index: u64 },
    #[error("{author} is not a registered organisation")]
    UnknownAuthor { author: String },
    #[error("the entry is signed with a key that is not registered to {author}")]
    UnknownKey { author: String },
    #[error("the entry is signed with a key of {author} that was revoked")]
    RevokedKey { author: String },
    #[error("the entry is signed with a key of {author} that was rotated out; sign with the current key")]
    RotatedKey { author: String },
    #[error("{author} has no active key (its last key was revoked without a replacement)")]
    NoActiveKey { author: String },
    #[error("the entry's timestamp {timestamp_ms} is earlier than {author}'s previous entry ({previous_ms})")]
    TimestampRegression { author: String, timestamp_ms: u64, previous_ms: u64 },
    #[error("the entry's timestamp {timestamp_ms} is more than 5 minutes ahead of the log's clock ({now_ms})")]
    TimestampInFuture { timestamp_ms: u64, now_ms: u64 },
    #[error("{author} may not record a {kind} entry: {reason}")]
    NotEntitled { author: String, kind: Kind, reason: String },
    #[error("organisation {0} is already registered")]
    OrganisationExists(String),
    #[error("{0} is not a registered organisation")]
    UnknownOrganisation(String),
    #[error("{organisation} is a {role}, but this needs {needed}")]
    WrongRole { organisation: String, role: String, needed: String },
    #[error("key {key} cannot be registered: {reason}")]
    BadKey { key: String, reason: KeyError },
    #[error("key {0} is already registered (keys are never shared or reused)")]
    KeyInUse(String),
    #[error("key {key} is not a current or past key of {organisation}")]
    KeyNotOwned { key: String, organisation: String },
    #[error("key {0} is already revoked")]
    KeyAlreadyRevoked(String),
    #[error("asset {0} is already declared")]
    AssetExists(String),
    #[error("asset {0} is not declared in this log")]
    UnknownAsset(String),
    #[error("programme {0} is already declared")]
    ProgrammeExists(String),
    #[error("programme {0} is not declared in this log")]
    UnknownProgramme(String),
    #[error("the amount must be more than zero")]
    ZeroAmount,
    #[error("the amount would overflow a balance (amounts are at most 2^128 - 1 minor units)")]
    AmountOverflow,
    #[error("{organisation} holds {available} {asset} (minor units) and cannot move {requested}")]
    Overspend { organisation: String, asset: String, available: u128, requested: u128 },
    #[error(
        "{organisation} holds {available} {asset} (minor units) but only {eligible} may be used this way (the rest is earmarked for other uses); {requested} requested"
    )]
    EarmarkViolation { organisation: String, asset: String, available: u128, eligible: u128, requested: u128 },
    #[error("an organisation cannot transfer to itself")]
    SelfTransfer,
    #[error("beneficiary commitment {0} was already used; every spend needs a fresh commitment")]
    CommitmentReused(String),
    #[error(
        "{organisation} recorded {recorded} beneficiary commitments and already erased the data of {erased}: it cannot erase {requested} more"
    )]
    ErasureExceedsRecorded { organisation: String, recorded: u64, erased: u64, requested: u32 },
    #[error("erasure digest {0} was already recorded; every erasure draws a fresh random value")]
    ErasureRepeated(String),
    #[error("no entry has id {0}")]
    UnknownEntry(String),
    #[error("entry {entry_id} is a {kind}, not a transfer to {author}")]
    NotATransferToYou { entry_id: String, kind: Kind, author: String },
    #[error("transfer {0} was already acknowledged")]
    AlreadyAcknowledged(String),
    #[error("entry {entry_id} is a {kind}, not a pledge")]
    NotAPledge { entry_id: String, kind: Kind },
    #[error("pledge {0} has not been attested by its verifier, so it cannot be released")]
    PledgeNotAttested(String),
    #[error("pledge {0} was voided")]
    PledgeVoided(String),
    #[error("pledge {0} was already released")]
    PledgeReleased(String),
    #[error("pledge {0} was already attested")]
    PledgeAlreadyAttested(String),
    #[error("pledge {pledge} expires at {expires_at_ms}; it cannot be voided before (entry timestamp {timestamp_ms})")]
    PledgeNotExpired { pledge: String, expires_at_ms: u64, timestamp_ms: u64 },
    #[error("pledge {pledge} expired at {expires_at_ms}; the attestation (timestamp {timestamp_ms}) came too late")]
    PledgeExpired { pledge: String, expires_at_ms: u64, timestamp_ms: u64 },
    #[error("a pledge must expire after the moment it is made")]
    PledgeExpiryInPast,
    #[error("entry {entry_id} is a {kind}; only donations, transfers and spends can be reversed")]
    NotReversible { entry_id: String, kind: Kind },
    #[error("entry {0} was already reversed")]
    AlreadyReversed(String),
    #[error("the money moved by entry {0} has already moved on; reverse the later entries first")]
    MoneyMovedOn(String),
    #[error("a conversion turns one asset into another; {0} into {0} is not a conversion")]
    ConversionSameAsset(String),
    #[error(
        "{from_amount} {from_asset} at rate {rate} is {expected} {to_asset} (minor units, rounded half up), not {stated}"
    )]
    ConversionMismatch {
        from_amount: u128,
        from_asset: String,
        rate: String,
        to_asset: String,
        expected: u128,
        stated: u128,
    },
    #[error("entry {entry_id} is a {kind}, not a donation")]
    NotADonation { entry_id: String, kind: Kind },
    #[error(
        "{organisation} holds {available} {asset} (minor units) of donation {donation} and cannot refund {requested}"
    )]
    RefundExceedsHolding { organisation: String, donation: String, asset: String, available: u128, requested: u128 },
    #[error("a sign-off covers the log up to {tree_size} entries, but the log has only {size} before it")]
    SignOffBeyondLog { tree_size: u64, size: u64 },
    #[error("voucher {0} was already issued; every voucher needs a fresh random id")]
    VoucherExists(String),
    #[error("no voucher has id {0}")]
    UnknownVoucher(String),
    #[error("voucher {voucher} is {status}, so it cannot be {action}")]
    VoucherWrongStatus { voucher: String, status: &'static str, action: &'static str },
    #[error("voucher {voucher} is not redeemable at {clinic}")]
    VoucherClinicNotEligible { voucher: String, clinic: String },
    #[error("voucher {voucher} expired at {expires_at_ms}; the redemption (timestamp {timestamp_ms}) came too late")]
    VoucherExpired { voucher: String, expires_at_ms: u64, timestamp_ms: u64 },
    #[error("the vouchers of issue {issue} expire at {expires_at_ms}; not before (entry timestamp {timestamp_ms})")]
    VouchersNotExpired { issue: String, expires_at_ms: u64, timestamp_ms: u64 },
    #[error("a voucher must expire after the moment it is issued")]
    VoucherExpiryInPast,
    #[error("entry {entry_id} is a {kind}, not a voucher issue")]
    NotAVoucherIssue { entry_id: String, kind: Kind },
    #[error("issue {0} has no unredeemed voucher left to expire")]
    NothingToExpire(String),
    #[error("a settlement pays vouchers of one issue; {0} belongs to another issue")]
    VouchersOfSeveralIssues(String),
}

impl Rejection {
    /// A stable, machine-readable name of the rule.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed(EntryError::BadSignature) => "bad_signature",
            Rejection::Malformed(EntryError::BadKey(_)) => "bad_signer_key",
            Rejection::Malformed(EntryError::TooLarge { .. }) => "entry_too_large",
            Rejection::Malformed(EntryError::Decode(_)) => "malformed_entry",
            Rejection::Malformed(EntryError::OriginMismatch { .. }) => "origin_mismatch",
            Rejection::GenesisRequired => "genesis_required",
            Rejection::GenesisRepeated => "genesis_repeated",
            Rejection::GenesisKeyMismatch => "genesis_key_mismatch",
            Rejection::BadOperatorKey(..) => "bad_operator_key",
            Rejection::IdConflict { .. } => "id_conflict",
            Rejection::UnknownAuthor { .. } => "unknown_author",
            Rejection::UnknownKey { .. } => "unknown_key",
            Rejection::RevokedKey { .. } => "revoked_key",
            Rejection::RotatedKey { .. } => "rotated_key",
            Rejection::NoActiveKey { .. } => "no_active_key",
            Rejection::TimestampRegression { .. } => "timestamp_regression",
            Rejection::TimestampInFuture { .. } => "timestamp_in_future",
            Rejection::NotEntitled { .. } => "not_entitled",
            Rejection::OrganisationExists(_) => "organisation_exists",
            Rejection::UnknownOrganisation(_) => "unknown_organisation",
            Rejection::WrongRole { .. } => "wrong_role",
            Rejection::BadKey { .. } => "bad_key",
            Rejection::KeyInUse(_) => "key_in_use",
            Rejection::KeyNotOwned { .. } => "key_not_owned",
            Rejection::KeyAlreadyRevoked(_) => "key_already_revoked",
            Rejection::AssetExists(_) => "asset_exists",
            Rejection::UnknownAsset(_) => "unknown_asset",
            Rejection::ProgrammeExists(_) => "programme_exists",
            Rejection::UnknownProgramme(_) => "unknown_programme",
            Rejection::ZeroAmount => "zero_amount",
            Rejection::AmountOverflow => "amount_overflow",
            Rejection::Overspend { .. } => "overspend",
            Rejection::EarmarkViolation { .. } => "earmark_violation",
            Rejection::SelfTransfer => "self_transfer",
            Rejection::CommitmentReused(_) => "commitment_reused",
            Rejection::ErasureExceedsRecorded { .. } => "erasure_exceeds_recorded",
            Rejection::ErasureRepeated(_) => "erasure_repeated",
            Rejection::UnknownEntry(_) => "unknown_entry",
            Rejection::NotATransferToYou { .. } => "not_a_transfer_to_you",
            Rejection::AlreadyAcknowledged(_) => "already_acknowledged",
            Rejection::NotAPledge { .. } => "not_a_pledge",
            Rejection::PledgeNotAttested(_) => "pledge_not_attested",
            Rejection::PledgeVoided(_) => "pledge_voided",
            Rejection::PledgeReleased(_) => "pledge_released",
            Rejection::PledgeAlreadyAttested(_) => "pledge_already_attested",
            Rejection::PledgeNotExpired { .. } => "pledge_not_expired",
            Rejection::PledgeExpired { .. } => "pledge_expired",
            Rejection::PledgeExpiryInPast => "pledge_expiry_in_past",
            Rejection::NotReversible { .. } => "not_reversible",
            Rejection::AlreadyReversed(_) => "already_reversed",
            Rejection::MoneyMovedOn(_) => "money_moved_on",
            Rejection::ConversionSameAsset(_) => "conversion_same_asset",
            Rejection::ConversionMismatch { .. } => "conversion_mismatch",
            Rejection::NotADonation { .. } => "not_a_donation",
            Rejection::RefundExceedsHolding { .. } => "refund_exceeds_holding",
            Rejection::SignOffBeyondLog { .. } => "sign_off_beyond_log",
            Rejection::VoucherExists(_) => "voucher_exists",
            Rejection::UnknownVoucher(_) => "unknown_voucher",
            Rejection::VoucherWrongStatus { .. } => "voucher_wrong_status",
            Rejection::VoucherClinicNotEligible { .. } => "voucher_clinic_not_eligible",
            Rejection::VoucherExpired { .. } => "voucher_expired",
            Rejection::VouchersNotExpired { .. } => "vouchers_not_expired",
            Rejection::VoucherExpiryInPast => "voucher_expiry_in_past",
            Rejection::NotAVoucherIssue { .. } => "not_a_voucher_issue",
            Rejection::NothingToExpire(_) => "nothing_to_expire",
            Rejection::VouchersOfSeveralIssues(_) => "vouchers_of_several_issues",
        }
    }
}

/// How far ahead of the log service's clock an entry's timestamp may be, in milliseconds.
pub const CLOCK_SKEW_FUTURE_MS_MAX: u64 = 5 * 60 * 1000;

/// The log service's clock check, kept apart from [`crate::State::apply`] because a replay of the log
/// must not depend on the clock of the machine replaying it.
pub fn check_clock(timestamp_ms: u64, now_ms: u64) -> Result<(), Rejection> {
    if timestamp_ms > now_ms.saturating_add(CLOCK_SKEW_FUTURE_MS_MAX) {
        Err(Rejection::TimestampInFuture { timestamp_ms, now_ms })
    } else {
        Ok(())
    }
}
