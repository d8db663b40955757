//! The verifiable core of aidtrail: what an entry means, whether it is allowed, and how anyone proves it.
//!
//! This crate does no I/O: no threads, no clock, no filesystem, no randomness except through arguments.
//! It builds for `wasm32-unknown-unknown`, so the browser explorer runs exactly this code.

pub mod codec;
pub mod entry;
pub mod flags;
pub mod last_mile;
pub mod merkle;
pub mod note;
mod records;
pub mod rejection;
pub mod signed;
pub mod state;
pub mod tiles;
pub mod trace;
pub mod types;
pub mod words;

pub use codec::DecodeError;
pub use entry::{Body, Donor, Earmark, Entry, ErasureReason, FORMAT_VERSION, Kind, Recipient};
pub use flags::{FlagView, Flags, Rule};
pub use rejection::{CLOCK_SKEW_FUTURE_MS_MAX, Rejection, check_clock};
pub use signed::{
    ENTRY_BYTES_MAX, EntryError, EntryVerifier, KeyError, SignedEntry, VerifiedEntry, beneficiary_commitment,
    check_public_key, donor_reference, erasure_digest, signed_message,
};
pub use state::{Applied, AssetTotals, BeneficiaryRecords, PledgeStatus, State, pro_rata_shares};
pub use trace::{BackwardTrace, ForwardTrace, OrganisationProfile, TraceError};
pub use types::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Category, Commitment, Country, Date, Digest, EntryId, OrgId,
    ProgrammeId, PublicKey, Rate, Role, VoucherId,
};
