//! `aidtrail record <kind>`: sign one entry locally with a key file and record it in a log.
//!
//! The entry is signed on this machine (the key never leaves it), sent to the server, and the answer is
//! believed only after the receipt is checked: the checkpoint's signature against the log's verifier key
//! and the inclusion proof of the entry's leaf against the checkpoint's root. The log's origin and verifier
//! key come from `GET /api/v1/log`, or are pinned with `--log-key` (the server must then have that key:
//! without pinning, the receipt shows that the server is consistent with itself, not that it is the log
//! you meant).
//!
//! Offline (`--offline FILE --origin ORIGIN`), the signed entry is appended to FILE as a JSON line
//! `{"signed_entry": "<hex>"}` and nothing is sent; `aidtrail bulk FILE --server URL` submits it later.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ledger::note::NoteVerifier;
use ledger::{
    Amount, AssetCode, AssetKind, AttributionPolicy, Body, Category, Commitment, Country, Date, Digest, Donor, Earmark,
    Entry, EntryId, OrgId, ProgrammeId, PublicKey, Rate, Recipient, Role, SignedEntry, VoucherId,
    beneficiary_commitment, donor_reference,
};
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};

use super::bulk::{Locale, parse_amount};
use super::client::{Client, ServerError, check_receipt};
use crate::api::entries::{EntryPage, ReceiptView};
use crate::api::log_views::LogInfo;
use crate::private_store::PreparedLink;

// ------------------------------------------------------------------------------------------------------
// What `record` and `bulk` share: the log's identity, time, the author's latest timestamp.
// ------------------------------------------------------------------------------------------------------

/// Shows the client's retry warnings on stderr (`AIDTRAIL_LOG` overrides the level).
pub fn init_cli_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIDTRAIL_LOG").unwrap_or_else(|_| "warn".into());
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// A server, and what it says about its log.
pub struct LogContext {
    pub client: Client,
    pub info: LogInfo,
    /// The checkpoint verifier key: the pinned one, or the server's.
    pub verifier: NoteVerifier,
}

impl LogContext {
    /// The declared assets and their decimals.
    pub fn asset_decimals(&self) -> BTreeMap<AssetCode, u8> {
        self.info
            .assets
            .iter()
            .filter_map(|asset| AssetCode::new(asset.code.clone()).ok().map(|code| (code, asset.decimals)))
            .collect()
    }
}

/// Fetches `GET /api/v1/log`; refuses a server whose verifier key differs from the pinned one, or whose
/// origin differs from the expected one.
pub async fn connect(
    server: &str,
    pinned_log_key: Option<&str>,
    expected_origin: Option<&str>,
) -> anyhow::Result<LogContext> {
    let client = Client::new(server)?;
    let info: LogInfo = client.get_json("/api/v1/log").await.context("asking the server about its log")?;
    let served = NoteVerifier::parse(&info.verifier_key)
        .map_err(|error| anyhow::anyhow!("the server's verifier key {:?} is not valid: {error}", info.verifier_key))?;
    let verifier = match pinned_log_key {
        Some(pinned) => {
            let pinned = NoteVerifier::parse(pinned.trim()).map_err(|error| anyhow::anyhow!("--log-key: {error}"))?;
            if pinned != served {
                bail!(
                    "the server at {server} signs its checkpoints with {served}, not with the pinned --log-key {pinned}: \
                     refusing to record in a log that is not the one you meant"
                );
            }
            pinned
        }
        None => served,
    };
    if let Some(origin) = expected_origin
        && origin != info.origin
    {
        bail!("the server's log is {:?}, not {origin:?} (--origin)", info.origin);
    }
    Ok(LogContext { client, info, verifier })
}

/// Milliseconds since 1970 on this machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// The timestamp of the author's latest entry in the log (0 when it has none): an entry may not be older
/// than its author's previous one.
pub async fn latest_timestamp_ms(client: &Client, author: &OrgId) -> anyhow::Result<u64> {
    let page: EntryPage = client.get_json(&format!("/api/v1/entries?author={author}&order=desc&limit=1")).await?;
    Ok(page.entries.first().map_or(0, |entry| entry.timestamp_ms))
}

/// Turns a server's refusal into "rejected by the server (code): message".
pub fn explain_rejection(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<ServerError>() {
        Some(refusal) => anyhow::anyhow!("rejected by the server ({}): {}", refusal.code, refusal.message),
        None => error,
    }
}

// ------------------------------------------------------------------------------------------------------
// Arguments.
// ------------------------------------------------------------------------------------------------------

#[derive(Args, Debug)]
pub struct RecordArgs {
    #[command(subcommand)]
    pub kind: RecordKind,
}

/// What every kind takes: where to record, who signs, and how to answer.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The server's URL, e.g. http://127.0.0.1:8080/.
    #[arg(long, required_unless_present = "offline", conflicts_with = "offline")]
    pub server: Option<String>,
    /// The key file that signs the entry (from `aidtrail key generate`).
    #[arg(long)]
    pub key: PathBuf,
    /// The author: the organisation (or the operator) recording the entry. Default: the key's name.
    #[arg(long = "as", value_name = "ORG_ID", value_parser = parse_org)]
    pub author: Option<OrgId>,
    /// The entry's id, 32 hex digits (default: random). Resubmitting the same signed entry is harmless.
    #[arg(long, value_parser = parse_entry_id)]
    pub entry_id: Option<EntryId>,
    /// The entry's timestamp in milliseconds since 1970 (default: now, and never before the author's latest entry).
    #[arg(long)]
    pub timestamp_ms: Option<u64>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Pin the log's checkpoint verifier key (`name+hexid+base64`): refuse a server whose key differs.
    /// Without it, receipts are checked against the key the server itself announces.
    #[arg(long, value_name = "VERIFIER_KEY", env = "AIDTRAIL_LOG_KEY")]
    pub log_key: Option<String>,
    /// Do not send: append the signed entry to FILE as a JSON line, for `aidtrail bulk FILE` later.
    #[arg(long, value_name = "FILE", requires = "origin")]
    pub offline: Option<PathBuf>,
    /// The log's origin (required with --offline; checked against the server's otherwise).
    #[arg(long)]
    pub origin: Option<String>,
}

/// An amount of an asset on a value date.
#[derive(Args, Debug, Clone)]
pub struct Money {
    /// The asset's code (EUR, USDC).
    #[arg(long, value_parser = parse_asset)]
    pub asset: AssetCode,
    /// The amount in major units, `.` before the decimals (1250.00 or 1,250.00); exact, with no more
    /// decimals than the asset has.
    #[arg(long, required_unless_present = "amount_minor", conflicts_with = "amount_minor", allow_hyphen_values = true)]
    pub amount: Option<String>,
    /// The amount in minor units (cents for EUR): 125000.
    #[arg(long)]
    pub amount_minor: Option<u128>,
    /// The asset's decimals, needed with --amount when --offline (online they come from the log).
    #[arg(long)]
    pub decimals: Option<u8>,
    /// The value date, YYYY-MM-DD (default: today, UTC).
    #[arg(long, value_parser = parse_iso_date)]
    pub value_date: Option<Date>,
}

/// Who gave a donation.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct DonorChoice {
    /// A registered donor organisation.
    #[arg(long, value_parser = parse_org)]
    pub donor: Option<OrgId>,
    /// An anonymous donor's reference (64 hex), which the donor computed from their secret receipt.
    #[arg(long, value_parser = parse_commitment)]
    pub anonymous_donor_reference: Option<Commitment>,
    /// An anonymous donor's secret receipt (64 hex): only its reference is recorded.
    #[arg(long, value_parser = parse_secret)]
    pub anonymous_donor_receipt: Option<Secret>,
}

/// Who a spend paid.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct RecipientChoice {
    /// A beneficiary commitment (64 hex) made beforehand.
    #[arg(long, value_parser = parse_commitment)]
    pub beneficiary_commitment: Option<Commitment>,
    /// A new beneficiary: a fresh random salt and a pseudonym make the commitment; the salt is printed for
    /// the NGO to keep privately (with it, the NGO can show which person the spend was for).
    #[arg(long)]
    pub new_beneficiary: bool,
    /// A registered supplier.
    #[arg(long, value_parser = parse_org)]
    pub supplier: Option<OrgId>,
    /// A person of the private store (`--private-store`), by the organisation's identifier: a fresh salted
    /// commitment from their pseudonym in the spend's programme; the link is kept in the private store once
    /// the log has acknowledged the spend, and nothing about the person is printed or sent.
    #[arg(long, value_name = "PERSON", requires = "private_store")]
    pub beneficiary: Option<String>,
}

/// A document kept off the ledger.
#[derive(Args, Debug, Clone)]
#[group(required = false, multiple = false)]
pub struct EvidenceChoice {
    /// A file (an invoice, a report): its SHA-256 is recorded.
    #[arg(long)]
    pub evidence_file: Option<PathBuf>,
    /// The SHA-256 of the document, 64 hex.
    #[arg(long, value_parser = parse_digest)]
    pub evidence: Option<Digest>,
}

/// A new public key, given as hex or as a verifier key, or read from a key file.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct NewKey {
    /// The new public key: 64 hex, or a verifier key `name+hexid+base64` (as `aidtrail key show` prints).
    #[arg(long, value_parser = parse_public_key)]
    pub new_key: Option<PublicKey>,
    /// The key file holding the new key (only its public key is used).
    #[arg(long)]
    pub new_key_file: Option<PathBuf>,
}

/// When a pledge expires.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct Expiry {
    /// The last day the result may be attested, YYYY-MM-DD (the pledge expires at the end of that day, UTC).
    #[arg(long, value_parser = parse_iso_date)]
    pub expires_on: Option<Date>,
    /// The expiry in milliseconds since 1970.
    #[arg(long)]
    pub expires_at_ms: Option<u64>,
}

/// A 32-byte secret given in hex.
#[derive(Clone)]
pub struct Secret(pub [u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Subcommand, Debug)]
pub enum RecordKind {
    /// The operator registers an organisation and its first key.
    RegisterOrganisation {
        #[command(flatten)]
        common: Common,
        /// The new organisation's id (a-z, 0-9, '.', '_', '-').
        #[arg(long, value_parser = parse_org)]
        organisation: OrgId,
        /// donor, ngo, clinic, supplier or auditor.
        #[arg(long)]
        role: Role,
        /// Its display name.
        #[arg(long)]
        name: String,
        /// Its country, ISO 3166-1 alpha-2 (CD, FR).
        #[arg(long)]
        country: Country,
        /// Its IATI organisation identifier.
        #[arg(long)]
        iati_identifier: Option<String>,
        /// How its outgoing money is attributed to the donations it holds: fifo or pro-rata.
        #[arg(long, default_value = "fifo")]
        attribution_policy: AttributionPolicy,
        /// Its public key: 64 hex, or a verifier key (as `aidtrail key generate` prints).
        #[arg(long, value_parser = parse_public_key)]
        public_key: PublicKey,
    },
    /// The operator declares an asset.
    DeclareAsset {
        #[command(flatten)]
        common: Common,
        /// The asset's code: 2 to 12 upper-case letters or digits (EUR, USDC).
        #[arg(long, value_parser = parse_asset)]
        asset: AssetCode,
        /// Digits after the decimal point (2 for EUR, 6 for USDC).
        #[arg(long)]
        decimals: u8,
        /// fiat or token.
        #[arg(long)]
        asset_kind: AssetKind,
    },
    /// An NGO declares a programme that earmarks can name.
    DeclareProgramme {
        #[command(flatten)]
        common: Common,
        /// The programme's id (a-z, 0-9, '.', '_', '-').
        #[arg(long, value_parser = parse_programme)]
        programme: ProgrammeId,
        /// Its display name.
        #[arg(long)]
        name: String,
        /// Countries, ISO 3166-1 alpha-2 (repeat, or separate with commas).
        #[arg(long = "country", required = true, value_delimiter = ',')]
        countries: Vec<Country>,
        /// OECD DAC 5-digit purpose code, e.g. 12220 (basic health care).
        #[arg(long)]
        sector: String,
        /// Its IATI activity identifier.
        #[arg(long)]
        iati_identifier: Option<String>,
    },
    /// The receiving NGO or clinic records a donation.
    Donation {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        donor: DonorChoice,
        #[command(flatten)]
        money: Money,
        /// Where the gift may be used: programme:ID, country:CD or clinic:ID.
        #[arg(long, value_parser = parse_earmark)]
        earmark: Option<Earmark>,
        /// The bank transfer's reference or the transaction hash.
        #[arg(long)]
        external_reference: Option<String>,
    },
    /// The sender moves money to another organisation.
    Transfer {
        #[command(flatten)]
        common: Common,
        /// The receiving NGO or clinic.
        #[arg(long, value_parser = parse_org)]
        to: OrgId,
        #[command(flatten)]
        money: Money,
        /// The programme the money is used for (its earmarked money becomes usable).
        #[arg(long, value_parser = parse_programme)]
        programme: Option<ProgrammeId>,
        /// What the money is for, in words.
        #[arg(long, default_value = "")]
        purpose: String,
    },
    /// The receiver confirms that a transfer arrived.
    Acknowledgement {
        #[command(flatten)]
        common: Common,
        /// The transfer's entry id.
        #[arg(long, value_parser = parse_entry_id)]
        transfer: EntryId,
    },
    /// A clinic or an NGO records a final use of money.
    Spend {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        money: Money,
        /// What it paid for (medicine, consultation, food, ...).
        #[arg(long)]
        category: Category,
        #[command(flatten)]
        recipient: RecipientChoice,
        /// With --new-beneficiary: the NGO's private pseudonym for the person (default: a random one, printed).
        #[arg(long, requires = "new_beneficiary")]
        pseudonym: Option<String>,
        /// With --beneficiary: the private store holding the person (see `aidtrail private`).
        #[arg(long, value_name = "FILE", requires = "beneficiary")]
        private_store: Option<PathBuf>,
        /// The programme the money is used for (its earmarked money becomes usable).
        #[arg(long, value_parser = parse_programme)]
        programme: Option<ProgrammeId>,
        #[command(flatten)]
        evidence: EvidenceChoice,
        /// A description in words (never a person's name).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Money reserved for a receiver, released when the verifier attests the stated result.
    Pledge {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_parser = parse_org)]
        to: OrgId,
        #[command(flatten)]
        money: Money,
        /// The independent organisation that attests the result.
        #[arg(long, value_parser = parse_org)]
        verifier: OrgId,
        /// The result that releases the money.
        #[arg(long)]
        result: String,
        #[command(flatten)]
        expiry: Expiry,
        /// The programme the money is used for (its earmarked money becomes usable).
        #[arg(long, value_parser = parse_programme)]
        programme: Option<ProgrammeId>,
    },
    /// The pledge's verifier attests that the stated result was achieved.
    Attestation {
        #[command(flatten)]
        common: Common,
        /// The pledge's entry id.
        #[arg(long, value_parser = parse_entry_id)]
        pledge: EntryId,
        /// What was verified, in words.
        #[arg(long, default_value = "")]
        statement: String,
        #[command(flatten)]
        evidence: EvidenceChoice,
    },
    /// The pledger (or the receiver) releases an attested pledge.
    PledgeRelease {
        #[command(flatten)]
        common: Common,
        /// The pledge's entry id.
        #[arg(long, value_parser = parse_entry_id)]
        pledge: EntryId,
    },
    /// The pledger takes back an unattested pledge after its expiry.
    PledgeVoid {
        #[command(flatten)]
        common: Common,
        /// The pledge's entry id.
        #[arg(long, value_parser = parse_entry_id)]
        pledge: EntryId,
    },
    /// The original author cancels a donation, transfer or spend.
    Reversal {
        #[command(flatten)]
        common: Common,
        /// The entry id of the donation, transfer or spend to reverse.
        #[arg(long, value_parser = parse_entry_id)]
        target: EntryId,
        /// Why, in words.
        #[arg(long)]
        reason: String,
    },
    /// An organisation's key is replaced (by the organisation, or by the operator to recover a lost key).
    KeyRotation {
        #[command(flatten)]
        common: Common,
        /// The organisation whose key changes (default: the author).
        #[arg(long, value_parser = parse_org)]
        organisation: Option<OrgId>,
        #[command(flatten)]
        new_key: NewKey,
    },
    /// A compromised key is revoked, optionally with a replacement.
    KeyRevocation {
        #[command(flatten)]
        common: Common,
        /// The organisation whose key is revoked (default: the author).
        #[arg(long, value_parser = parse_org)]
        organisation: Option<OrgId>,
        /// The key to revoke: 64 hex or a verifier key.
        #[arg(long, value_parser = parse_public_key)]
        revoked_key: PublicKey,
        /// The key that replaces it: 64 hex or a verifier key.
        #[arg(long, value_parser = parse_public_key, conflicts_with = "replacement_key_file")]
        replacement_key: Option<PublicKey>,
        /// The key file holding the replacement (only its public key is used).
        #[arg(long)]
        replacement_key_file: Option<PathBuf>,
        /// Why, in words.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// The operator replaces its own key (signed with the current one).
    OperatorKeyRotation {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        new_key: NewKey,
    },
    /// An NGO or a clinic exchanges money it holds into another asset (a currency, or fiat to a token and
    /// back). The amount obtained is computed with the ledger's rounding rule and printed with the amount given.
    Conversion {
        #[command(flatten)]
        common: Common,
        /// The asset given up (EUR).
        #[arg(long, value_parser = parse_asset)]
        from_asset: AssetCode,
        /// The amount given up, in major units of --from-asset (1250.00 or 1,250.00).
        #[arg(
            long,
            required_unless_present = "amount_minor",
            conflicts_with = "amount_minor",
            allow_hyphen_values = true
        )]
        amount: Option<String>,
        /// The amount given up, in minor units of --from-asset.
        #[arg(long)]
        amount_minor: Option<u128>,
        /// The asset obtained (USD, USDC).
        #[arg(long, value_parser = parse_asset)]
        to_asset: AssetCode,
        /// Major units of --to-asset per major unit of --from-asset, as a decimal: 1.0835.
        #[arg(long, value_parser = parse_rate)]
        rate: Rate,
        /// Where the rate comes from, e.g. "ECB euro reference rate 2026-03-02".
        #[arg(long)]
        rate_source: String,
        /// The amount obtained in major units, as a check: it must equal the computed one, else nothing is sent.
        #[arg(long, allow_hyphen_values = true)]
        to_amount: Option<String>,
        /// Offline: the decimals of --from-asset (online they come from the log).
        #[arg(long)]
        from_decimals: Option<u8>,
        /// Offline: the decimals of --to-asset (online they come from the log).
        #[arg(long)]
        to_decimals: Option<u8>,
        /// The value date, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_iso_date)]
        value_date: Option<Date>,
    },
    /// The NGO or clinic holding a donation's unspent money gives it back to the donor.
    Refund {
        #[command(flatten)]
        common: Common,
        /// The donation's entry id.
        #[arg(long, value_parser = parse_entry_id)]
        donation: EntryId,
        #[command(flatten)]
        money: Money,
        /// Why, in words.
        #[arg(long)]
        reason: String,
    },
    /// An auditor signs off an organisation's accounts for a period, as the log recorded them.
    SignOff {
        #[command(flatten)]
        common: Common,
        /// The organisation whose accounts were audited.
        #[arg(long, value_parser = parse_org)]
        organisation: OrgId,
        /// The log size the audit read (default: the log's current size; required offline).
        #[arg(long)]
        tree_size: Option<u64>,
        /// The first day of the audited period, YYYY-MM-DD.
        #[arg(long = "from", value_parser = parse_iso_date)]
        period_start: Date,
        /// The last day of the audited period, YYYY-MM-DD.
        #[arg(long = "to", value_parser = parse_iso_date)]
        period_end: Date,
        /// The audit report: its SHA-256 is recorded.
        #[arg(long)]
        report: PathBuf,
        /// The opinion, in words (e.g. "unqualified").
        #[arg(long)]
        opinion: String,
    },
    /// An NGO issues health vouchers for one of its programmes, reserving their face value.
    VoucherIssue {
        #[command(flatten)]
        common: Common,
        /// The programme (one the NGO declared).
        #[arg(long, value_parser = parse_programme)]
        programme: ProgrammeId,
        /// The asset of the face value (EUR).
        #[arg(long, value_parser = parse_asset)]
        asset: AssetCode,
        /// The value of one voucher in major units (25.00).
        #[arg(
            long,
            required_unless_present = "face_value_minor",
            conflicts_with = "face_value_minor",
            allow_hyphen_values = true
        )]
        face_value: Option<String>,
        /// The value of one voucher in minor units (2500).
        #[arg(long)]
        face_value_minor: Option<u128>,
        /// The asset's decimals, needed with --face-value when --offline (online they come from the log).
        #[arg(long)]
        decimals: Option<u8>,
        /// The service a voucher pays for (consultation, medicine, ...).
        #[arg(long)]
        category: Category,
        /// A clinic where the vouchers can be redeemed (repeat, or separate with commas; 1 to 32).
        #[arg(long = "clinic", required = true, value_delimiter = ',', value_parser = parse_org)]
        clinics: Vec<OrgId>,
        #[command(flatten)]
        vouchers: VoucherChoice,
        /// Also write the voucher ids to FILE, one per line (written before the entry is sent; an existing
        /// file is not overwritten).
        #[arg(long, value_name = "FILE")]
        vouchers_out: Option<PathBuf>,
        /// When the vouchers expire: an RFC 3339 time (2026-12-31T18:00:00Z) or a day, YYYY-MM-DD (the end of
        /// that day, UTC).
        #[arg(long, value_parser = parse_moment)]
        expires: u64,
        /// The value date, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_iso_date)]
        value_date: Option<Date>,
    },
    /// A clinic records that it delivered a voucher's service.
    VoucherRedeem {
        #[command(flatten)]
        common: Common,
        /// The voucher's id, 32 hex digits.
        #[arg(long, value_parser = parse_voucher)]
        voucher: VoucherId,
        #[command(flatten)]
        evidence: EvidenceChoice,
    },
    /// The issuing NGO pays a clinic for vouchers the clinic redeemed (all of one issue).
    VoucherSettle {
        #[command(flatten)]
        common: Common,
        /// The clinic paid.
        #[arg(long, value_parser = parse_org)]
        clinic: OrgId,
        /// A redeemed voucher (repeat, or separate with commas).
        #[arg(long = "voucher", value_delimiter = ',', value_parser = parse_voucher, required_unless_present = "vouchers_file", conflicts_with = "vouchers_file")]
        vouchers: Vec<VoucherId>,
        /// A file of voucher ids, one per line (blank lines and lines starting with '#' are skipped).
        #[arg(long, value_name = "FILE")]
        vouchers_file: Option<PathBuf>,
        /// The value date, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_iso_date)]
        value_date: Option<Date>,
    },
    /// The issuing NGO takes back the reserve of an issue's vouchers that expired unredeemed.
    VoucherExpire {
        #[command(flatten)]
        common: Common,
        /// The voucher issue's entry id.
        #[arg(long, value_parser = parse_entry_id)]
        issue: EntryId,
    },
}

/// The vouchers of an issue: new random ones, or ids given.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct VoucherChoice {
    /// Issue N new vouchers with random ids (1 to 1,000); the ids are printed, one per line.
    #[arg(long)]
    pub count: Option<u16>,
    /// A voucher id chosen beforehand, 32 hex digits (repeat, or separate with commas).
    #[arg(long = "voucher", value_delimiter = ',', value_parser = parse_voucher)]
    pub vouchers: Vec<VoucherId>,
}

pub(super) fn parse_org(text: &str) -> Result<OrgId, String> {
    OrgId::new(text).map_err(|error| error.to_string())
}

fn parse_programme(text: &str) -> Result<ProgrammeId, String> {
    ProgrammeId::new(text).map_err(|error| error.to_string())
}

fn parse_asset(text: &str) -> Result<AssetCode, String> {
    AssetCode::new(text).map_err(|error| error.to_string())
}

fn parse_entry_id(text: &str) -> Result<EntryId, String> {
    text.parse().map_err(|_| format!("{text:?} is not an entry id (32 lower-case hex digits)"))
}

fn parse_commitment(text: &str) -> Result<Commitment, String> {
    text.parse().map_err(|_| format!("{text:?} is not 64 lower-case hex digits"))
}

fn parse_digest(text: &str) -> Result<Digest, String> {
    text.parse().map_err(|_| format!("{text:?} is not a SHA-256 digest (64 lower-case hex digits)"))
}

fn parse_secret(text: &str) -> Result<Secret, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| "the secret receipt is not 64 hex digits".to_string())?;
    Ok(Secret(bytes))
}

fn parse_iso_date(text: &str) -> Result<Date, String> {
    text.parse().map_err(|error: ledger::DecodeError| error.to_string())
}

pub(super) fn parse_voucher(text: &str) -> Result<VoucherId, String> {
    text.parse().map_err(|_| format!("{text:?} is not a voucher id (32 lower-case hex digits)"))
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    text.trim().parse().map_err(|error: ledger::DecodeError| error.to_string())
}

/// Milliseconds since 1970 from an RFC 3339 time (`2026-12-31T18:00:00Z`, `2026-12-31T19:00:00.5+01:00`) or
/// from a day `YYYY-MM-DD`, which means the last millisecond of that day, UTC.
pub fn parse_moment(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is neither an RFC 3339 time (2026-12-31T18:00:00Z) nor a day (YYYY-MM-DD)");
    if text.len() == 10 {
        let day: Date = text.parse().map_err(|_| bad())?;
        return Ok((u64::from(day.days()) + 1) * 86_400_000 - 1);
    }
    if text.len() < 20 || !matches!(text.as_bytes()[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let day: Date = text[..10].parse().map_err(|_| bad())?;
    let rest = &text[11..];
    let number = |part: &str| -> Result<u64, String> {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (hour, minute, second) = (number(&rest[0..2])?, number(&rest[3..5])?, number(&rest[6..8])?);
    if &rest[2..3] != ":" || &rest[5..6] != ":" || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let mut rest = &rest[8..];
    let mut millis = 0u64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let kept = &fraction[..digits.min(3)];
        millis = kept.parse::<u64>().map_err(|_| bad())? * 10u64.pow(3 - kept.len() as u32);
        rest = &fraction[digits..];
    }
    let offset_ms: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[0..1], "+" | "-") && &rest[3..4] == ":" => {
            let (hours, minutes) = (number(&rest[1..3])?, number(&rest[4..6])?);
            if hours > 23 || minutes > 59 {
                return Err(bad());
            }
            let magnitude = ((hours * 60 + minutes) * 60_000) as i64;
            if rest.starts_with('-') { -magnitude } else { magnitude }
        }
        _ => return Err(bad()),
    };
    let local = i64::from(day.days()) * 86_400_000 + ((hour * 60 + minute) * 60 + second) as i64 * 1000 + millis as i64;
    u64::try_from(local - offset_ms).map_err(|_| format!("{text:?} is before 1970"))
}

fn parse_earmark(text: &str) -> Result<Earmark, String> {
    super::bulk::parse_earmark(text)
}

/// A public key from 64 hex digits or from a note verifier key (`name+hexid+base64`).
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let text = text.trim();
    if let Ok(key) = text.parse::<PublicKey>() {
        return Ok(key);
    }
    NoteVerifier::parse(text)
        .map(|verifier| PublicKey(verifier.public_key().to_bytes()))
        .map_err(|_| format!("{text:?} is neither 64 lower-case hex digits nor a verifier key (name+hexid+base64)"))
}

fn public_key_of_file(path: &Path) -> anyhow::Result<PublicKey> {
    let signer = crate::keys::read_key_file(path)?;
    Ok(PublicKey(signer.signing_key().verifying_key().to_bytes()))
}

fn new_key(choice: &NewKey) -> anyhow::Result<PublicKey> {
    match (&choice.new_key, &choice.new_key_file) {
        (Some(key), _) => Ok(*key),
        (None, Some(path)) => public_key_of_file(path),
        (None, None) => bail!("give --new-key or --new-key-file"),
    }
}

fn evidence(choice: &EvidenceChoice) -> anyhow::Result<Option<Digest>> {
    match (&choice.evidence, &choice.evidence_file) {
        (Some(digest), _) => Ok(Some(*digest)),
        (None, Some(path)) => Ok(Some(file_digest(path)?)),
        (None, None) => Ok(None),
    }
}

/// The SHA-256 of a file.
pub fn file_digest(path: &Path) -> anyhow::Result<Digest> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading the evidence file {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).with_context(|| format!("reading the evidence file {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(Digest(hasher.finalize().into()))
}

// ------------------------------------------------------------------------------------------------------
// Running.
// ------------------------------------------------------------------------------------------------------

/// Things worth telling the user besides the index: the new beneficiary's salt, the donor reference.
#[derive(Default, Debug, serde::Serialize)]
struct Extra {
    #[serde(skip_serializing_if = "Option::is_none")]
    beneficiary_commitment: Option<String>,
    /// Private: with the pseudonym, it shows which person a spend was for.
    #[serde(skip_serializing_if = "Option::is_none")]
    beneficiary_salt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    beneficiary_pseudonym: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    donor_reference: Option<String>,
    /// A conversion's two legs, in major units with the asset's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    converted_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    converted_into: Option<String>,
    /// The ids of an issue's vouchers.
    #[serde(skip_serializing_if = "Option::is_none")]
    vouchers: Option<Vec<String>>,
}

impl RecordKind {
    fn common(&self) -> &Common {
        match self {
            RecordKind::RegisterOrganisation { common, .. }
            | RecordKind::DeclareAsset { common, .. }
            | RecordKind::DeclareProgramme { common, .. }
            | RecordKind::Donation { common, .. }
            | RecordKind::Transfer { common, .. }
            | RecordKind::Acknowledgement { common, .. }
            | RecordKind::Spend { common, .. }
            | RecordKind::Pledge { common, .. }
            | RecordKind::Attestation { common, .. }
            | RecordKind::PledgeRelease { common, .. }
            | RecordKind::PledgeVoid { common, .. }
            | RecordKind::Reversal { common, .. }
            | RecordKind::KeyRotation { common, .. }
            | RecordKind::KeyRevocation { common, .. }
            | RecordKind::OperatorKeyRotation { common, .. }
            | RecordKind::Conversion { common, .. }
            | RecordKind::Refund { common, .. }
            | RecordKind::SignOff { common, .. }
            | RecordKind::VoucherIssue { common, .. }
            | RecordKind::VoucherRedeem { common, .. }
            | RecordKind::VoucherSettle { common, .. }
            | RecordKind::VoucherExpire { common, .. } => common,
        }
    }
}

/// The decimals of an asset: from the log when online (a given `flag` value must agree), from the `flag`
/// value offline.
fn asset_decimals(asset: &AssetCode, given: Option<u8>, flag: &str, log: Option<&LogContext>) -> anyhow::Result<u8> {
    match log {
        Some(log) => {
            let declared = log.asset_decimals();
            let Some(&decimals) = declared.get(asset) else {
                let names: Vec<String> = declared.keys().map(ToString::to_string).collect();
                bail!("asset {asset} is not declared in this log (declared: {})", names.join(", "));
            };
            if let Some(given) = given
                && given != decimals
            {
                bail!("{flag} {given}, but the log declares {asset} with {decimals} decimals");
            }
            Ok(decimals)
        }
        None => given.with_context(|| format!("offline, amounts of {asset} in major units need its {flag}")),
    }
}

/// Minor units from `--<flag>-minor` as is, or from major units with the asset's decimals; never zero.
fn minor_units(
    flag: &str,
    major: Option<&str>,
    minor: Option<u128>,
    decimals: impl FnOnce() -> anyhow::Result<u8>,
) -> anyhow::Result<u128> {
    let amount = match (major, minor) {
        (_, Some(minor)) => minor,
        (Some(text), None) => {
            parse_amount(text, decimals()?, Locale::En).map_err(|error| anyhow::anyhow!("--{flag}: {error}"))?
        }
        (None, None) => bail!("give --{flag} or --{flag}-minor"),
    };
    if amount == 0 {
        bail!("the amount must be more than zero");
    }
    Ok(amount)
}

/// The minor units of an amount: `--amount-minor` as is, `--amount` with the asset's decimals (from the
/// log when online; from `--decimals` offline).
fn resolve_amount(money: &Money, log: Option<&LogContext>) -> anyhow::Result<Amount> {
    minor_units("amount", money.amount.as_deref(), money.amount_minor, || {
        asset_decimals(&money.asset, money.decimals, "--decimals", log)
    })
    .map(Amount)
}

/// Voucher ids read from a file, one per line; blank lines and `#` comments are skipped.
fn read_voucher_file(path: &Path) -> anyhow::Result<Vec<VoucherId>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut vouchers = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        vouchers.push(
            parse_voucher(line).map_err(|error| anyhow::anyhow!("{}, line {}: {error}", path.display(), number + 1))?,
        );
    }
    Ok(vouchers)
}

/// Sorts and deduplicates a set of voucher ids and checks its size (1 to 1,000).
fn voucher_set(mut vouchers: Vec<VoucherId>) -> anyhow::Result<Vec<VoucherId>> {
    vouchers.sort();
    vouchers.dedup();
    if vouchers.is_empty() || vouchers.len() > VOUCHERS_MAX {
        bail!("an entry names 1 to {VOUCHERS_MAX} vouchers, not {}", vouchers.len());
    }
    Ok(vouchers)
}

/// `count` distinct random voucher ids from the operating system's CSPRNG, sorted.
fn new_vouchers(count: u16) -> anyhow::Result<Vec<VoucherId>> {
    let count = usize::from(count);
    if count == 0 || count > VOUCHERS_MAX {
        bail!("--count must be from 1 to {VOUCHERS_MAX}, not {count}");
    }
    let mut vouchers = std::collections::BTreeSet::new();
    while vouchers.len() < count {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.try_fill_bytes(&mut id).context("the operating system's random number generator")?;
        vouchers.insert(VoucherId(id));
    }
    Ok(vouchers.into_iter().collect())
}

/// The most vouchers one entry names.
const VOUCHERS_MAX: usize = 1_000;
/// The most clinics one voucher issue names.
const VOUCHER_CLINICS_MAX: usize = 32;

fn build_body(
    kind: &RecordKind,
    author: &OrgId,
    log: Option<&LogContext>,
    today: Date,
    prepared: Option<&PreparedLink>,
) -> anyhow::Result<(Body, Extra)> {
    let mut extra = Extra::default();
    let date = |money: &Money| money.value_date.unwrap_or(today);
    let body = match kind {
        RecordKind::RegisterOrganisation {
            organisation,
            role,
            name,
            country,
            iati_identifier,
            attribution_policy,
            public_key,
            ..
        } => Body::RegisterOrganisation {
            organisation: organisation.clone(),
            role: *role,
            name: name.clone(),
            country: *country,
            iati_identifier: iati_identifier.clone(),
            attribution_policy: *attribution_policy,
            public_key: *public_key,
        },
        RecordKind::DeclareAsset { asset, decimals, asset_kind, .. } => {
            Body::DeclareAsset { asset: asset.clone(), decimals: *decimals, asset_kind: *asset_kind }
        }
        RecordKind::DeclareProgramme { programme, name, countries, sector, iati_identifier, .. } => {
            let mut countries = countries.clone();
            countries.sort();
            countries.dedup();
            Body::DeclareProgramme {
                programme: programme.clone(),
                name: name.clone(),
                countries,
                sector: sector.clone(),
                iati_identifier: iati_identifier.clone(),
            }
        }
        RecordKind::Donation { donor, money, earmark, external_reference, .. } => {
            let donor = match (&donor.donor, &donor.anonymous_donor_reference, &donor.anonymous_donor_receipt) {
                (Some(organisation), _, _) => Donor::Organisation(organisation.clone()),
                (None, Some(reference), _) => Donor::Anonymous(*reference),
                (None, None, Some(secret)) => {
                    let reference = donor_reference(&secret.0);
                    extra.donor_reference = Some(reference.to_hex());
                    Donor::Anonymous(reference)
                }
                (None, None, None) => bail!("give --donor, --anonymous-donor-reference or --anonymous-donor-receipt"),
            };
            Body::Donation {
                donor,
                asset: money.asset.clone(),
                amount: resolve_amount(money, log)?,
                value_date: date(money),
                earmark: earmark.clone(),
                external_reference: external_reference.clone(),
            }
        }
        RecordKind::Transfer { to, money, programme, purpose, .. } => Body::Transfer {
            to: to.clone(),
            asset: money.asset.clone(),
            amount: resolve_amount(money, log)?,
            value_date: date(money),
            programme: programme.clone(),
            purpose: purpose.clone(),
        },
        RecordKind::Acknowledgement { transfer, .. } => Body::Acknowledgement { transfer: *transfer },
        RecordKind::Spend {
            money,
            category,
            recipient,
            pseudonym,
            programme,
            evidence: evidence_choice,
            description,
            ..
        } => {
            let recipient = match (&recipient.beneficiary_commitment, recipient.new_beneficiary, &recipient.supplier) {
                _ if recipient.beneficiary.is_some() => {
                    let link = prepared.context("--beneficiary needs the person's link from the private store")?;
                    Recipient::Beneficiary(link.commitment)
                }
                (Some(commitment), _, _) => Recipient::Beneficiary(*commitment),
                (None, true, _) => {
                    let mut salt = [0u8; 32];
                    rand::fill(&mut salt);
                    let pseudonym = pseudonym.clone().unwrap_or_else(|| {
                        let mut random = [0u8; 16];
                        rand::fill(&mut random);
                        hex::encode(random)
                    });
                    let commitment = beneficiary_commitment(&salt, pseudonym.as_bytes());
                    extra.beneficiary_commitment = Some(commitment.to_hex());
                    extra.beneficiary_salt = Some(hex::encode(salt));
                    extra.beneficiary_pseudonym = Some(pseudonym);
                    Recipient::Beneficiary(commitment)
                }
                (None, false, Some(supplier)) => Recipient::Supplier(supplier.clone()),
                (None, false, None) => {
                    bail!("give --beneficiary, --beneficiary-commitment, --new-beneficiary or --supplier")
                }
            };
            Body::Spend {
                asset: money.asset.clone(),
                amount: resolve_amount(money, log)?,
                value_date: date(money),
                category: *category,
                recipient,
                programme: programme.clone(),
                evidence: evidence(evidence_choice)?,
                description: description.clone(),
            }
        }
        RecordKind::Pledge { to, money, verifier, result, expiry, programme, .. } => {
            let expires_at_ms = match (expiry.expires_on, expiry.expires_at_ms) {
                (Some(day), _) => (u64::from(day.days()) + 1) * 86_400_000 - 1,
                (None, Some(ms)) => ms,
                (None, None) => bail!("give --expires-on or --expires-at-ms"),
            };
            Body::Pledge {
                to: to.clone(),
                asset: money.asset.clone(),
                amount: resolve_amount(money, log)?,
                value_date: date(money),
                verifier: verifier.clone(),
                result: result.clone(),
                expires_at_ms,
                programme: programme.clone(),
            }
        }
        RecordKind::Attestation { pledge, statement, evidence: evidence_choice, .. } => {
            Body::Attestation { pledge: *pledge, statement: statement.clone(), evidence: evidence(evidence_choice)? }
        }
        RecordKind::PledgeRelease { pledge, .. } => Body::PledgeRelease { pledge: *pledge },
        RecordKind::PledgeVoid { pledge, .. } => Body::PledgeVoid { pledge: *pledge },
        RecordKind::Reversal { target, reason, .. } => Body::Reversal { target: *target, reason: reason.clone() },
        RecordKind::KeyRotation { organisation, new_key: choice, .. } => Body::KeyRotation {
            organisation: organisation.clone().unwrap_or_else(|| author.clone()),
            new_key: new_key(choice)?,
        },
        RecordKind::KeyRevocation {
            organisation, revoked_key, replacement_key, replacement_key_file, reason, ..
        } => {
            let replacement_key = match (replacement_key, replacement_key_file) {
                (Some(key), _) => Some(*key),
                (None, Some(path)) => Some(public_key_of_file(path)?),
                (None, None) => None,
            };
            Body::KeyRevocation {
                organisation: organisation.clone().unwrap_or_else(|| author.clone()),
                revoked_key: *revoked_key,
                replacement_key,
                reason: reason.clone(),
            }
        }
        RecordKind::OperatorKeyRotation { new_key: choice, .. } => {
            Body::OperatorKeyRotation { new_key: new_key(choice)? }
        }
        RecordKind::Conversion {
            from_asset,
            amount,
            amount_minor,
            to_asset,
            rate,
            rate_source,
            to_amount,
            from_decimals,
            to_decimals,
            value_date,
            ..
        } => {
            if from_asset == to_asset {
                bail!("--from-asset and --to-asset are both {from_asset}: a conversion changes the asset");
            }
            let from_decimals = asset_decimals(from_asset, *from_decimals, "--from-decimals", log)?;
            let to_decimals = asset_decimals(to_asset, *to_decimals, "--to-decimals", log)?;
            let from_amount = minor_units("amount", amount.as_deref(), *amount_minor, || Ok(from_decimals))?;
            let computed = rate.convert(from_amount, from_decimals, to_decimals).with_context(|| {
                format!(
                    "{} {from_asset} at {rate} is too large to compute",
                    Amount(from_amount).format(from_decimals, ',', '.')
                )
            })?;
            let from_text = format!("{} {from_asset}", Amount(from_amount).format(from_decimals, ',', '.'));
            let to_text = format!("{} {to_asset}", Amount(computed).format(to_decimals, ',', '.'));
            if computed == 0 {
                bail!("{from_text} at {rate} rounds to 0 {to_asset}: there is nothing to convert into");
            }
            if let Some(expected) = to_amount {
                let expected = parse_amount(expected, to_decimals, Locale::En)
                    .map_err(|error| anyhow::anyhow!("--to-amount: {error}"))?;
                if expected != computed {
                    bail!(
                        "--to-amount {} {to_asset} does not agree with the rate: {from_text} at {rate} is {to_text} \
                         (the amount × the rate, rounded to the nearest minor unit, halves up); nothing was sent",
                        Amount(expected).format(to_decimals, ',', '.')
                    );
                }
            }
            let source = rate_source.trim();
            if source.is_empty() {
                bail!("--rate-source is empty: say where the rate comes from");
            }
            extra.converted_from = Some(from_text);
            extra.converted_into = Some(to_text);
            Body::Conversion {
                from_asset: from_asset.clone(),
                from_amount: Amount(from_amount),
                to_asset: to_asset.clone(),
                to_amount: Amount(computed),
                rate: *rate,
                rate_source: source.to_string(),
                value_date: value_date.unwrap_or(today),
            }
        }
        RecordKind::Refund { donation, money, reason, .. } => {
            if reason.trim().is_empty() {
                bail!("--reason is empty: say why the money goes back");
            }
            Body::Refund {
                donation: *donation,
                asset: money.asset.clone(),
                amount: resolve_amount(money, log)?,
                value_date: date(money),
                reason: reason.clone(),
            }
        }
        RecordKind::SignOff { organisation, tree_size, period_start, period_end, report, opinion, .. } => {
            if period_end < period_start {
                bail!("the period ends (--to {period_end}) before it starts (--from {period_start})");
            }
            if opinion.trim().is_empty() {
                bail!("--opinion is empty: give the auditor's opinion");
            }
            let tree_size = match (tree_size, log) {
                (Some(size), _) => *size,
                (None, Some(log)) => log.info.tree_size,
                (None, None) => bail!("offline, give the log size the audit read: --tree-size"),
            };
            if tree_size == 0 {
                bail!("--tree-size must be at least 1: an audit reads at least one entry");
            }
            if let Some(log) = log
                && tree_size > log.info.tree_size
            {
                bail!("--tree-size {tree_size} is beyond the log, which holds {} entries", log.info.tree_size);
            }
            let report = file_digest(report).context("--report")?;
            Body::AccountsSignOff {
                organisation: organisation.clone(),
                tree_size,
                period_start: *period_start,
                period_end: *period_end,
                report,
                opinion: opinion.clone(),
            }
        }
        RecordKind::VoucherIssue {
            programme,
            asset,
            face_value,
            face_value_minor,
            decimals,
            category,
            clinics,
            vouchers,
            expires,
            value_date,
            ..
        } => {
            let face_value = minor_units("face-value", face_value.as_deref(), *face_value_minor, || {
                asset_decimals(asset, *decimals, "--decimals", log)
            })?;
            let mut clinics = clinics.clone();
            clinics.sort();
            clinics.dedup();
            if clinics.is_empty() || clinics.len() > VOUCHER_CLINICS_MAX {
                bail!("an issue names 1 to {VOUCHER_CLINICS_MAX} clinics, not {}", clinics.len());
            }
            let vouchers = match (vouchers.count, vouchers.vouchers.is_empty()) {
                (Some(count), _) => new_vouchers(count)?,
                (None, false) => voucher_set(vouchers.vouchers.clone())?,
                (None, true) => bail!("give --count N or --voucher ID"),
            };
            face_value
                .checked_mul(vouchers.len() as u128)
                .context("the face value × the number of vouchers is too large")?;
            extra.vouchers = Some(vouchers.iter().map(VoucherId::to_hex).collect());
            Body::VoucherIssue {
                programme: programme.clone(),
                asset: asset.clone(),
                face_value: Amount(face_value),
                category: *category,
                clinics,
                vouchers,
                value_date: value_date.unwrap_or(today),
                expires_at_ms: *expires,
            }
        }
        RecordKind::VoucherRedeem { voucher, evidence: evidence_choice, .. } => {
            Body::VoucherRedemption { voucher: *voucher, evidence: evidence(evidence_choice)? }
        }
        RecordKind::VoucherSettle { clinic, vouchers, vouchers_file, value_date, .. } => {
            let vouchers = match vouchers_file {
                Some(path) => read_voucher_file(path)?,
                None => vouchers.clone(),
            };
            Body::VoucherSettlement {
                clinic: clinic.clone(),
                vouchers: voucher_set(vouchers)?,
                value_date: value_date.unwrap_or(today),
            }
        }
        RecordKind::VoucherExpire { issue, .. } => Body::VoucherExpiry { issue: *issue },
    };
    Ok((body, extra))
}

fn print_extra(extra: &Extra) {
    if let (Some(from), Some(into)) = (&extra.converted_from, &extra.converted_into) {
        println!("converted: {from} into {into}");
    }
    if let Some(vouchers) = &extra.vouchers {
        println!("vouchers ({}):", vouchers.len());
        for voucher in vouchers {
            println!("{voucher}");
        }
    }
    if let Some(reference) = &extra.donor_reference {
        println!("anonymous donor reference: {reference}");
    }
    if let Some(commitment) = &extra.beneficiary_commitment {
        println!("beneficiary commitment: {commitment}");
        if let (Some(salt), Some(pseudonym)) = (&extra.beneficiary_salt, &extra.beneficiary_pseudonym) {
            println!("beneficiary salt: {salt}");
            println!("beneficiary pseudonym: {pseudonym}");
            println!("keep the salt and the pseudonym private: together they show which person this spend was for");
        }
    }
}

/// Writes voucher ids to a new file, one per line; refuses to overwrite an existing file.
fn write_voucher_file(path: &Path, vouchers: &[VoucherId]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).with_context(|| {
        format!("--vouchers-out: cannot create {} (an existing file is not overwritten)", path.display())
    })?;
    let text: String = vouchers.iter().map(|voucher| format!("{voucher}\n")).collect();
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    file.sync_data().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Appends a signed entry to an offline file as `{"signed_entry": "<hex>"}`.
pub fn append_offline(path: &Path, signed: &SignedEntry) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let line = serde_json::json!({ "signed_entry": hex::encode(signed.bytes()) }).to_string();
    writeln!(file, "{line}").with_context(|| format!("writing {}", path.display()))?;
    file.sync_data().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub async fn run(args: RecordArgs) -> anyhow::Result<()> {
    init_cli_tracing();
    let kind = args.kind;
    let common = kind.common().clone();
    let signer = crate::keys::read_key_file(&common.key)?;
    let author = match &common.author {
        Some(author) => author.clone(),
        None => OrgId::new(signer.name()).map_err(|_| {
            anyhow::anyhow!("the key's name {:?} is not an organisation id: pass --as ORG_ID", signer.name())
        })?,
    };
    let log = match &common.server {
        Some(server) => Some(connect(server, common.log_key.as_deref(), common.origin.as_deref()).await?),
        None => None,
    };
    let origin = match (&log, &common.origin) {
        (Some(log), _) => log.info.origin.clone(),
        (None, Some(origin)) => origin.clone(),
        (None, None) => bail!("offline, the log's --origin is needed (it is part of what is signed)"),
    };
    let now = now_ms();
    let timestamp_ms = match (common.timestamp_ms, &log) {
        (Some(timestamp), _) => timestamp,
        (None, Some(log)) => now.max(latest_timestamp_ms(&log.client, &author).await?),
        (None, None) => now,
    };
    // A spend to a person of the private store: the fresh commitment is made now, the link kept once the
    // log has acknowledged the spend.
    let private = match &kind {
        RecordKind::Spend { recipient, private_store: Some(path), programme, .. } => {
            let person = recipient.beneficiary.as_deref().expect("clap requires --beneficiary with --private-store");
            if log.is_none() {
                bail!(
                    "--beneficiary records the link once the log acknowledges the spend: it needs --server, not --offline"
                );
            }
            let store = crate::private_store::PrivateStore::open(path).await?;
            let prepared = store.prepare_link(person, programme.as_ref()).await;
            match prepared {
                Ok(prepared) => Some((store, prepared)),
                Err(error) => {
                    store.close().await;
                    return Err(error);
                }
            }
        }
        _ => None,
    };
    let (body, extra) =
        build_body(&kind, &author, log.as_ref(), Date::from_timestamp_ms(now), private.as_ref().map(|(_, link)| link))?;
    if let Body::VoucherIssue { expires_at_ms, vouchers, .. } = &body {
        if *expires_at_ms <= timestamp_ms {
            bail!(
                "--expires {} is not after the entry's time {}: the vouchers would be expired when issued",
                crate::api::csv_exports::timestamp_text(*expires_at_ms),
                crate::api::csv_exports::timestamp_text(timestamp_ms)
            );
        }
        if let RecordKind::VoucherIssue { vouchers_out: Some(path), .. } = &kind {
            write_voucher_file(path, vouchers)?;
        }
    }
    let entry_id = common.entry_id.unwrap_or_else(|| {
        let mut id = [0u8; 16];
        rand::fill(&mut id);
        EntryId(id)
    });
    let entry = Entry { entry_id, author: author.clone(), timestamp_ms, body };
    let signed = SignedEntry::sign(entry, &origin, signer.signing_key())
        .map_err(|error| anyhow::anyhow!("cannot sign the entry: {error}"))?;

    let Some(log) = log else {
        let path = common.offline.as_ref().expect("clap requires --server or --offline");
        append_offline(path, &signed)?;
        if common.json {
            let mut value = serde_json::json!({
                "status": "signed_offline",
                "file": path.display().to_string(),
                "entry_id": entry_id.to_hex(),
                "leaf_hash": hex::encode(signed.leaf_hash()),
            });
            value
                .as_object_mut()
                .expect("an object")
                .extend(serde_json::to_value(&extra)?.as_object().cloned().unwrap_or_default());
            println!("{value}");
        } else {
            println!(
                "signed {} entry {entry_id} for {origin} and appended it to {} (not sent)",
                signed.entry().body.kind(),
                path.display()
            );
            println!("submit it later with: aidtrail bulk {} --server URL", path.display());
            print_extra(&extra);
        }
        return Ok(());
    };

    let receipt: ReceiptView = log.client.submit(&signed).await.map_err(explain_rejection)?;
    check_receipt(&receipt, &signed, &log.verifier, &origin)
        .context("the server answered, but its receipt does not prove that the entry is in the log")?;
    if let Some((store, link)) = private {
        let recorded = store.record_link(&link, &author, &entry_id, receipt.index).await;
        store.close().await;
        recorded.with_context(|| {
            format!(
                "the spend is in the log at index {}, but its link to {} could not be kept in the private store: \
                 its commitment now opens to nobody",
                receipt.index, link.person_id
            )
        })?;
        if !common.json {
            println!("linked to {} in the private store", link.person_id);
        }
    }
    if common.json {
        let mut value = serde_json::json!({
            "status": if receipt.duplicate { "already_recorded" } else { "recorded" },
            "index": receipt.index,
            "entry_id": entry_id.to_hex(),
            "leaf_hash": receipt.leaf_hash,
            "duplicate": receipt.duplicate,
            "checkpoint_tree_size": receipt.checkpoint.tree_size,
            "proof_checked": true,
        });
        value
            .as_object_mut()
            .expect("an object")
            .extend(serde_json::to_value(&extra)?.as_object().cloned().unwrap_or_default());
        println!("{value}");
    } else {
        let verb = if receipt.duplicate { "already recorded" } else { "recorded" };
        println!(
            "{verb} at index {} (leaf hash {}; proof checked against checkpoint of size {})",
            receipt.index, receipt.leaf_hash, receipt.checkpoint.tree_size
        );
        println!("entry id: {entry_id}");
        print_extra(&extra);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        kind: RecordKind,
    }

    fn parse(args: &[&str]) -> Result<RecordKind, clap::Error> {
        Cli::try_parse_from(std::iter::once("record").chain(args.iter().copied())).map(|cli| cli.kind)
    }

    #[test]
    fn public_keys_from_hex_or_verifier_keys() {
        let signer = crate::keys::generate("clinique-goma").unwrap();
        let hex_key = hex::encode(signer.verifier().public_key().as_bytes());
        let from_hex = parse_public_key(&hex_key).unwrap();
        let from_verifier = parse_public_key(&signer.verifier().to_string()).unwrap();
        assert_eq!(from_hex, from_verifier);
        assert!(parse_public_key("zz").is_err());
    }

    #[test]
    fn arguments() {
        let transfer = parse(&[
            "transfer",
            "--server",
            "http://x/",
            "--key",
            "k",
            "--to",
            "clinique-goma",
            "--asset",
            "EUR",
            "--amount",
            "1,250.00",
        ])
        .unwrap();
        assert!(matches!(transfer, RecordKind::Transfer { .. }));
        assert!(
            parse(&["transfer", "--key", "k", "--to", "c", "--asset", "EUR", "--amount", "1"]).is_err(),
            "no server"
        );
        assert!(
            parse(&["transfer", "--offline", "f", "--key", "k", "--to", "c", "--asset", "EUR", "--amount", "1"])
                .is_err(),
            "offline needs the origin"
        );
        assert!(
            parse(&[
                "spend",
                "--server",
                "http://x/",
                "--key",
                "k",
                "--asset",
                "EUR",
                "--amount",
                "1",
                "--category",
                "food"
            ])
            .is_err(),
            "a spend names its recipient"
        );
        assert!(
            parse(&[
                "spend",
                "--server",
                "http://x/",
                "--key",
                "k",
                "--asset",
                "EUR",
                "--amount",
                "1",
                "--category",
                "food",
                "--new-beneficiary",
                "--supplier",
                "s",
            ])
            .is_err(),
            "one recipient"
        );
        assert!(
            parse(&[
                "donation",
                "--server",
                "http://x/",
                "--key",
                "k",
                "--asset",
                "EUR",
                "--amount-minor",
                "5",
                "--donor",
                "d"
            ])
            .is_ok()
        );
    }

    #[test]
    fn amounts_use_the_asset_decimals() {
        let money = |amount: &str, decimals: Option<u8>| Money {
            asset: AssetCode::new("EUR").unwrap(),
            amount: Some(amount.to_string()),
            amount_minor: None,
            decimals,
            value_date: None,
        };
        assert_eq!(resolve_amount(&money("1250.00", Some(2)), None).unwrap(), Amount(125_000));
        assert_eq!(resolve_amount(&money("1,250.5", Some(2)), None).unwrap(), Amount(125_050));
        assert!(resolve_amount(&money("1.005", Some(2)), None).is_err());
        assert!(resolve_amount(&money("0", Some(2)), None).is_err());
        assert!(resolve_amount(&money("1", None), None).is_err(), "offline without decimals");
    }

    #[test]
    fn pledge_expiry_is_the_end_of_the_day() {
        let kind = parse(&[
            "pledge",
            "--server",
            "http://x/",
            "--key",
            "k",
            "--to",
            "c",
            "--asset",
            "EUR",
            "--amount-minor",
            "5",
            "--verifier",
            "v",
            "--result",
            "done",
            "--expires-on",
            "2026-12-31",
        ])
        .unwrap();
        let (body, _) =
            build_body(&kind, &OrgId::new("n").unwrap(), None, Date::from_ymd(2026, 1, 1).unwrap(), None).unwrap();
        let Body::Pledge { expires_at_ms, .. } = body else { panic!("a pledge") };
        assert_eq!(Date::from_timestamp_ms(expires_at_ms), Date::from_ymd(2026, 12, 31).unwrap());
        assert_eq!(Date::from_timestamp_ms(expires_at_ms + 1), Date::from_ymd(2027, 1, 1).unwrap());
    }

    #[test]
    fn moments_in_rfc_3339_or_days() {
        let day_end = (u64::from(Date::from_ymd(2026, 12, 31).unwrap().days()) + 1) * 86_400_000 - 1;
        assert_eq!(parse_moment("2026-12-31").unwrap(), day_end);
        assert_eq!(parse_moment("2026-12-31T23:59:59.999Z").unwrap(), day_end);
        assert_eq!(parse_moment("2027-01-01T00:59:59.999+01:00").unwrap(), day_end);
        assert_eq!(parse_moment("2026-12-31T22:59:59.9999-01:00").unwrap(), day_end);
        assert_eq!(parse_moment("2026-12-31T23:59:59.999-01:00").unwrap(), day_end + 3_600_000);
        assert_eq!(parse_moment("1970-01-01T00:00:01.5Z").unwrap(), 1_500);
        for bad in ["2026-12-31T24:00:00Z", "2026-12-31T12:00:00", "2026-13-01", "31/12/2026", "2026-12-31T12:00Z"] {
            assert!(parse_moment(bad).is_err(), "{bad}");
        }
        assert!(parse_moment("1970-01-01T00:00:00+01:00").is_err(), "before 1970");
    }

    fn offline(args: &[&str]) -> anyhow::Result<(Body, Extra)> {
        let mut all = vec![args[0], "--offline", "f", "--origin", "o", "--key", "k"];
        all.extend_from_slice(&args[1..]);
        let kind = parse(&all).map_err(|error| anyhow::anyhow!("{error}"))?;
        build_body(&kind, &OrgId::new("ngo").unwrap(), None, Date::from_ymd(2026, 3, 2).unwrap(), None)
    }

    #[test]
    fn conversions_compute_the_amount_obtained() {
        let base = [
            "conversion",
            "--from-asset",
            "EUR",
            "--from-decimals",
            "2",
            "--to-asset",
            "USD",
            "--to-decimals",
            "2",
            "--rate",
            "1.0835",
            "--rate-source",
            "ECB",
        ];
        let with = |extra: &[&str]| offline(&[&base[..], extra].concat());
        let (body, extra) = with(&["--amount", "100.00"]).unwrap();
        let Body::Conversion { from_amount, to_amount, .. } = body else { panic!("a conversion") };
        assert_eq!((from_amount, to_amount), (Amount(10_000), Amount(10_835)));
        assert_eq!(extra.converted_from.as_deref(), Some("100.00 EUR"));
        assert_eq!(extra.converted_into.as_deref(), Some("108.35 USD"));
        assert!(with(&["--amount", "100.00", "--to-amount", "108.35"]).is_ok());
        let error = with(&["--amount", "100.00", "--to-amount", "108.36"]).unwrap_err().to_string();
        assert!(error.contains("does not agree") && error.contains("108.35 USD"), "{error}");
        // 0.05 EUR × 1.0835 = 0.054175 USD, which rounds to 0.05.
        let (body, _) = with(&["--amount", "0.05"]).unwrap();
        assert!(matches!(body, Body::Conversion { to_amount: Amount(5), .. }));
        assert!(
            offline(&[
                "conversion",
                "--from-asset",
                "EUR",
                "--to-asset",
                "USD",
                "--rate",
                "1",
                "--rate-source",
                "x",
                "--amount",
                "1"
            ])
            .is_err(),
            "offline needs decimals"
        );
        assert!(
            parse(&[
                "conversion",
                "--server",
                "http://x/",
                "--key",
                "k",
                "--from-asset",
                "EUR",
                "--to-asset",
                "USD",
                "--rate",
                "1.0",
                "--rate-source",
                "x",
                "--amount",
                "1"
            ])
            .is_err(),
            "a rate has no trailing zero"
        );
    }

    #[test]
    fn voucher_sets_are_sorted_and_checked() {
        let issue = |extra: &[&str]| {
            let base = [
                "voucher-issue",
                "--programme",
                "p",
                "--asset",
                "EUR",
                "--face-value-minor",
                "2500",
                "--category",
                "consultation",
                "--clinic",
                "c2,c1",
                "--clinic",
                "c1",
                "--expires",
                "2026-12-31",
            ];
            offline(&[&base[..], extra].concat())
        };
        let (body, extra) = issue(&["--count", "5"]).unwrap();
        let Body::VoucherIssue { clinics, vouchers, .. } = body else { panic!("an issue") };
        assert_eq!(clinics, vec![OrgId::new("c1").unwrap(), OrgId::new("c2").unwrap()]);
        assert_eq!(vouchers.len(), 5);
        assert!(vouchers.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(extra.vouchers.unwrap().len(), 5);
        let a = "0".repeat(32);
        let b = "f".repeat(32);
        let (body, _) = issue(&["--voucher", &b, "--voucher", &a, "--voucher", &b]).unwrap();
        let Body::VoucherIssue { vouchers, .. } = body else { panic!("an issue") };
        assert_eq!(vouchers, vec![VoucherId([0; 16]), VoucherId([0xff; 16])]);
        assert!(issue(&["--count", "0"]).is_err());
        assert!(issue(&["--count", "1001"]).is_err());
        assert!(issue(&["--count", "1", "--voucher", &a]).is_err(), "new or given, not both");
        assert!(issue(&["--voucher", "ABC"]).is_err());
    }
}
