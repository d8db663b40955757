//! Entries: what each kind of statement says, its canonical byte encoding (`docs/FORMAT.md`) and its
//! lossless JSON view. Encoding is deterministic; decoding accepts only canonical bytes.

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, Reader, Writer};
use crate::types::{
    ASSET_DECIMALS_MAX, Amount, AssetCode, AssetKind, AttributionPolicy, Category, Commitment, Country, Date, Digest,
    EntryId, NAME_BYTES_MAX, OrgId, PROGRAMME_COUNTRIES_MAX, ProgrammeId, PublicKey, REFERENCE_BYTES_MAX, Rate, Role,
    TEXT_BYTES_MAX, VoucherId, check_identifier, check_text,
};

/// The format version that `docs/FORMAT.md` specifies. A new version is a deliberate change of that document.
pub const FORMAT_VERSION: u8 = 2;
/// The most vouchers one issue or settlement names.
pub const VOUCHERS_PER_ENTRY_MAX: usize = 1_000;
/// The most clinics a voucher issue names as places of redemption.
pub const VOUCHER_CLINICS_MAX: usize = 32;
/// The longest log origin, in bytes (it is also the checkpoint's first line).
pub const ORIGIN_BYTES_MAX: usize = 200;

/// One statement by one organisation. The signature lives beside it, in [`crate::SignedEntry`].
/// Reading the JSON view checks the same rules as decoding bytes ([`Entry::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "EntryFields")]
pub struct Entry {
    /// Chosen by the client; resubmitting the same entry is idempotent.
    pub entry_id: EntryId,
    /// The organisation (or the log operator) making the statement.
    pub author: OrgId,
    /// When the author signed it, in milliseconds since 1970-01-01T00:00:00Z.
    pub timestamp_ms: u64,
    pub body: Body,
}

/// The JSON view's fields before [`Entry::validate`] has checked them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFields {
    entry_id: EntryId,
    author: OrgId,
    timestamp_ms: u64,
    body: Body,
}

impl TryFrom<EntryFields> for Entry {
    type Error = DecodeError;

    fn try_from(fields: EntryFields) -> Result<Entry, DecodeError> {
        let entry = Entry {
            entry_id: fields.entry_id,
            author: fields.author,
            timestamp_ms: fields.timestamp_ms,
            body: fields.body,
        };
        entry.validate()?;
        Ok(entry)
    }
}

/// Where an earmarked gift may be used.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Earmark {
    Programme(ProgrammeId),
    Country(Country),
    Clinic(OrgId),
}

/// Who gave a donation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Donor {
    /// A registered donor organisation.
    Organisation(OrgId),
    /// An individual known only by a commitment: SHA-256 of the donor-reference prefix and the donor's secret
    /// receipt (see [`crate::donor_reference`]).
    Anonymous(Commitment),
}

/// Who was paid by a spend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Recipient {
    /// A patient or beneficiary, known only by a fresh salted commitment.
    Beneficiary(Commitment),
    /// A registered supplier.
    Supplier(OrgId),
}

/// The kind-specific part of an entry. The numeric kind codes are part of the format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// Kind 1. Starts the log: names it and the operator who registers organisations and assets.
    Genesis { origin: String, operator: OrgId, operator_key: PublicKey },
    /// Kind 2. The operator replaces its key; signed with the current one.
    OperatorKeyRotation { new_key: PublicKey },
    /// Kind 3. The operator registers an organisation and its first key.
    RegisterOrganisation {
        organisation: OrgId,
        role: Role,
        name: String,
        country: Country,
        iati_identifier: Option<String>,
        attribution_policy: AttributionPolicy,
        public_key: PublicKey,
    },
    /// Kind 4. An organisation's key is replaced, signed by the organisation's current key or by the
    /// operator (recovery of a lost key).
    KeyRotation { organisation: OrgId, new_key: PublicKey },
    /// Kind 5. A key is revoked (compromised), by its organisation or by the operator; an optional
    /// replacement becomes the organisation's key.
    KeyRevocation { organisation: OrgId, revoked_key: PublicKey, replacement_key: Option<PublicKey>, reason: String },
    /// Kind 6. The operator declares an asset.
    DeclareAsset { asset: AssetCode, decimals: u8, asset_kind: AssetKind },
    /// Kind 7. An NGO declares a programme that earmarks can name.
    DeclareProgramme {
        programme: ProgrammeId,
        name: String,
        countries: Vec<Country>,
        /// OECD DAC 5-digit purpose code (IATI sector vocabulary 1), e.g. `12220` (basic health care).
        sector: String,
        iati_identifier: Option<String>,
    },
    /// Kind 8. The receiving NGO or clinic records a donation; it opens a lot.
    Donation {
        donor: Donor,
        asset: AssetCode,
        amount: Amount,
        value_date: Date,
        earmark: Option<Earmark>,
        external_reference: Option<String>,
    },
    /// Kind 9. The sender moves money to another organisation.
    Transfer {
        to: OrgId,
        asset: AssetCode,
        amount: Amount,
        value_date: Date,
        programme: Option<ProgrammeId>,
        purpose: String,
    },
    /// Kind 10. The receiver confirms that a transfer arrived.
    Acknowledgement { transfer: EntryId },
    /// Kind 11. Final use of money by a clinic or an NGO.
    Spend {
        asset: AssetCode,
        amount: Amount,
        value_date: Date,
        category: Category,
        recipient: Recipient,
        programme: Option<ProgrammeId>,
        evidence: Option<Digest>,
        description: String,
    },
    /// Kind 12. Money reserved for a receiver, released when the verifier attests the stated result.
    Pledge {
        to: OrgId,
        asset: AssetCode,
        amount: Amount,
        value_date: Date,
        verifier: OrgId,
        result: String,
        expires_at_ms: u64,
        programme: Option<ProgrammeId>,
    },
    /// Kind 13. The pledge's verifier attests that the stated result was achieved.
    Attestation { pledge: EntryId, statement: String, evidence: Option<Digest> },
    /// Kind 14. The pledger (or the receiver) releases an attested pledge to the receiver.
    PledgeRelease { pledge: EntryId },
    /// Kind 15. The pledger takes back an unattested pledge after its expiry.
    PledgeVoid { pledge: EntryId },
    /// Kind 16. The original author cancels a donation, transfer or spend by returning exactly its lots.
    Reversal { target: EntryId, reason: String },
    /// Kind 17. An organisation exchanges money it holds into another asset (currency exchange, fiat to
    /// token or back): both legs, the rate and where the rate comes from.
    Conversion {
        from_asset: AssetCode,
        from_amount: Amount,
        to_asset: AssetCode,
        to_amount: Amount,
        rate: Rate,
        rate_source: String,
        value_date: Date,
    },
    /// Kind 18. Unspent money of one donation goes back to its donor.
    Refund { donation: EntryId, asset: AssetCode, amount: Amount, value_date: Date, reason: String },
    /// Kind 19. An auditor attests an organisation's accounts for a period, as recorded in the log up to
    /// `tree_size` entries; `report` is the SHA-256 of the audit report.
    AccountsSignOff {
        organisation: OrgId,
        tree_size: u64,
        period_start: Date,
        period_end: Date,
        report: Digest,
        opinion: String,
    },
    /// Kind 20. An NGO issues health vouchers for one of its programmes, reserving their face value from
    /// the money it holds.
    VoucherIssue {
        programme: ProgrammeId,
        asset: AssetCode,
        face_value: Amount,
        category: Category,
        clinics: Vec<OrgId>,
        vouchers: Vec<VoucherId>,
        value_date: Date,
        expires_at_ms: u64,
    },
    /// Kind 21. A clinic records that it delivered the service of a voucher.
    VoucherRedemption { voucher: VoucherId, evidence: Option<Digest> },
    /// Kind 22. The issuing NGO pays a clinic for vouchers it redeemed.
    VoucherSettlement { clinic: OrgId, vouchers: Vec<VoucherId>, value_date: Date },
    /// Kind 23. The issuing NGO takes back the reserve of an issue's vouchers that expired unredeemed.
    VoucherExpiry { issue: EntryId },
    /// Kind 24. An organisation destroyed the private data (salts, pseudonyms, the person) behind `count` of
    /// the beneficiary commitments it recorded. It names none of them, so that it cannot link them to each
    /// other: `digest` commits to the erased commitments with a random value that the erasure destroyed
    /// ([`crate::erasure_digest`], `docs/PRIVACY.md`).
    Erasure { count: u32, digest: Digest, reason: ErasureReason },
}

/// Why an organisation erased beneficiary data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// The person asked for their data to be erased (GDPR article 17).
    DataSubjectRequest = 1,
    /// The person withdrew the consent the data was held on.
    ConsentWithdrawn = 2,
    /// The organisation's retention period for the data ended.
    RetentionExpired = 3,
    /// A law or a court required the erasure.
    LegalObligation = 4,
}

impl ErasureReason {
    pub const ALL: [ErasureReason; 4] = [
        ErasureReason::DataSubjectRequest,
        ErasureReason::ConsentWithdrawn,
        ErasureReason::RetentionExpired,
        ErasureReason::LegalObligation,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<ErasureReason> {
        ErasureReason::ALL.iter().copied().find(|reason| reason.code() == code)
    }

    /// The name used in JSON and on the command line (`data_subject_request`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureReason::DataSubjectRequest => "data_subject_request",
            ErasureReason::ConsentWithdrawn => "consent_withdrawn",
            ErasureReason::RetentionExpired => "retention_expired",
            ErasureReason::LegalObligation => "legal_obligation",
        }
    }
}

impl std::fmt::Display for ErasureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErasureReason {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        ErasureReason::ALL.iter().copied().find(|reason| reason.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = ErasureReason::ALL.iter().map(|reason| reason.as_str()).collect();
            format!("{name:?} is not an erasure reason ({})", names.join(", "))
        })
    }
}

/// The kinds of entry, by their format code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Genesis = 1,
    OperatorKeyRotation = 2,
    RegisterOrganisation = 3,
    KeyRotation = 4,
    KeyRevocation = 5,
    DeclareAsset = 6,
    DeclareProgramme = 7,
    Donation = 8,
    Transfer = 9,
    Acknowledgement = 10,
    Spend = 11,
    Pledge = 12,
    Attestation = 13,
    PledgeRelease = 14,
    PledgeVoid = 15,
    Reversal = 16,
    Conversion = 17,
    Refund = 18,
    AccountsSignOff = 19,
    VoucherIssue = 20,
    VoucherRedemption = 21,
    VoucherSettlement = 22,
    VoucherExpiry = 23,
    Erasure = 24,
}

impl Kind {
    pub const ALL: [Kind; 24] = [
        Kind::Genesis,
        Kind::OperatorKeyRotation,
        Kind::RegisterOrganisation,
        Kind::KeyRotation,
        Kind::KeyRevocation,
        Kind::DeclareAsset,
        Kind::DeclareProgramme,
        Kind::Donation,
        Kind::Transfer,
        Kind::Acknowledgement,
        Kind::Spend,
        Kind::Pledge,
        Kind::Attestation,
        Kind::PledgeRelease,
        Kind::PledgeVoid,
        Kind::Reversal,
        Kind::Conversion,
        Kind::Refund,
        Kind::AccountsSignOff,
        Kind::VoucherIssue,
        Kind::VoucherRedemption,
        Kind::VoucherSettlement,
        Kind::VoucherExpiry,
        Kind::Erasure,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|kind| kind.code() == code)
    }

    /// The first format version that defines this kind: the version byte its payloads carry. Entries of the
    /// kinds of version 1 keep their version-1 bytes, so every version-1 log is a valid version-2 log.
    pub fn version(self) -> u8 {
        if self.code() <= Kind::Reversal.code() { 1 } else { 2 }
    }

    /// The name used in JSON, the API and the command line (`spend`, `pledge_release`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Genesis => "genesis",
            Kind::OperatorKeyRotation => "operator_key_rotation",
            Kind::RegisterOrganisation => "register_organisation",
            Kind::KeyRotation => "key_rotation",
            Kind::KeyRevocation => "key_revocation",
            Kind::DeclareAsset => "declare_asset",
            Kind::DeclareProgramme => "declare_programme",
            Kind::Donation => "donation",
            Kind::Transfer => "transfer",
            Kind::Acknowledgement => "acknowledgement",
            Kind::Spend => "spend",
            Kind::Pledge => "pledge",
            Kind::Attestation => "attestation",
            Kind::PledgeRelease => "pledge_release",
            Kind::PledgeVoid => "pledge_void",
            Kind::Reversal => "reversal",
            Kind::Conversion => "conversion",
            Kind::Refund => "refund",
            Kind::AccountsSignOff => "accounts_sign_off",
            Kind::VoucherIssue => "voucher_issue",
            Kind::VoucherRedemption => "voucher_redemption",
            Kind::VoucherSettlement => "voucher_settlement",
            Kind::VoucherExpiry => "voucher_expiry",
            Kind::Erasure => "erasure",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Body {
    pub fn kind(&self) -> Kind {
        match self {
            Body::Genesis { .. } => Kind::Genesis,
            Body::OperatorKeyRotation { .. } => Kind::OperatorKeyRotation,
            Body::RegisterOrganisation { .. } => Kind::RegisterOrganisation,
            Body::KeyRotation { .. } => Kind::KeyRotation,
            Body::KeyRevocation { .. } => Kind::KeyRevocation,
            Body::DeclareAsset { .. } => Kind::DeclareAsset,
            Body::DeclareProgramme { .. } => Kind::DeclareProgramme,
            Body::Donation { .. } => Kind::Donation,
            Body::Transfer { .. } => Kind::Transfer,
            Body::Acknowledgement { .. } => Kind::Acknowledgement,
            Body::Spend { .. } => Kind::Spend,
            Body::Pledge { .. } => Kind::Pledge,
            Body::Attestation { .. } => Kind::Attestation,
            Body::PledgeRelease { .. } => Kind::PledgeRelease,
            Body::PledgeVoid { .. } => Kind::PledgeVoid,
            Body::Reversal { .. } => Kind::Reversal,
            Body::Conversion { .. } => Kind::Conversion,
            Body::Refund { .. } => Kind::Refund,
            Body::AccountsSignOff { .. } => Kind::AccountsSignOff,
            Body::VoucherIssue { .. } => Kind::VoucherIssue,
            Body::VoucherRedemption { .. } => Kind::VoucherRedemption,
            Body::VoucherSettlement { .. } => Kind::VoucherSettlement,
            Body::VoucherExpiry { .. } => Kind::VoucherExpiry,
            Body::Erasure { .. } => Kind::Erasure,
        }
    }

    /// The asset and amount this entry moves, if it states them (a conversion: the asset and amount it
    /// converts; a voucher issue: the face value of one voucher).
    pub fn money(&self) -> Option<(&AssetCode, Amount)> {
        match self {
            Body::Donation { asset, amount, .. }
            | Body::Transfer { asset, amount, .. }
            | Body::Spend { asset, amount, .. }
            | Body::Pledge { asset, amount, .. }
            | Body::Refund { asset, amount, .. }
            | Body::Conversion { from_asset: asset, from_amount: amount, .. }
            | Body::VoucherIssue { asset, face_value: amount, .. } => Some((asset, *amount)),
            _ => None,
        }
    }

    /// The business date of a money movement.
    pub fn value_date(&self) -> Option<Date> {
        match self {
            Body::Donation { value_date, .. }
            | Body::Transfer { value_date, .. }
            | Body::Spend { value_date, .. }
            | Body::Pledge { value_date, .. }
            | Body::Conversion { value_date, .. }
            | Body::Refund { value_date, .. }
            | Body::VoucherIssue { value_date, .. }
            | Body::VoucherSettlement { value_date, .. } => Some(*value_date),
            _ => None,
        }
    }
}

fn write_earmark(writer: &mut Writer, earmark: &Earmark) {
    match earmark {
        Earmark::Programme(programme) => {
            writer.u8(1);
            writer.str8(programme.as_str());
        }
        Earmark::Country(country) => {
            writer.u8(2);
            writer.fixed(&country.bytes());
        }
        Earmark::Clinic(clinic) => {
            writer.u8(3);
            writer.str8(clinic.as_str());
        }
    }
}

fn read_earmark(reader: &mut Reader) -> Result<Earmark, DecodeError> {
    let offset = reader.offset();
    match reader.u8("earmark type")? {
        1 => Ok(Earmark::Programme(read_programme(reader)?)),
        2 => Ok(Earmark::Country(Country::new(reader.fixed("earmark country")?)?)),
        3 => Ok(Earmark::Clinic(read_org(reader, "earmark clinic")?)),
        other => Err(DecodeError::BadTag { field: "earmark type", value: u64::from(other), offset }),
    }
}

fn read_org(reader: &mut Reader, field: &'static str) -> Result<OrgId, DecodeError> {
    let text = reader.str8(field)?;
    check_identifier(field, text)?;
    OrgId::new(text)
}

fn read_programme(reader: &mut Reader) -> Result<ProgrammeId, DecodeError> {
    ProgrammeId::new(reader.str8("programme id")?)
}

fn read_asset(reader: &mut Reader) -> Result<AssetCode, DecodeError> {
    AssetCode::new(reader.str8("asset code")?)
}

fn read_date(reader: &mut Reader, field: &'static str) -> Result<Date, DecodeError> {
    Date::from_days(reader.u32(field)?)
}

fn read_text16(reader: &mut Reader, field: &'static str, allow_empty: bool) -> Result<String, DecodeError> {
    let text = reader.str16(field)?;
    check_text(field, text, TEXT_BYTES_MAX, allow_empty)?;
    Ok(text.to_string())
}

fn read_name(reader: &mut Reader, field: &'static str) -> Result<String, DecodeError> {
    let text = reader.str8(field)?;
    check_text(field, text, NAME_BYTES_MAX, false)?;
    Ok(text.to_string())
}

fn read_reference(reader: &mut Reader, field: &'static str) -> Result<String, DecodeError> {
    let text = reader.str8(field)?;
    check_text(field, text, REFERENCE_BYTES_MAX, false)?;
    Ok(text.to_string())
}

fn read_enum<T>(reader: &mut Reader, field: &'static str, from_code: fn(u8) -> Option<T>) -> Result<T, DecodeError> {
    let offset = reader.offset();
    let code = reader.u8(field)?;
    from_code(code).ok_or(DecodeError::BadTag { field, value: u64::from(code), offset })
}

fn check_sector(sector: &str) -> Result<(), DecodeError> {
    if sector.len() == 5 && sector.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(DecodeError::Invalid {
            field: "sector",
            reason: format!("{sector:?} is not a 5-digit OECD DAC purpose code"),
        })
    }
}

impl Entry {
    /// Checks the rules that the types alone cannot hold (text lengths, limits). Every encoded entry
    /// passes; [`Entry::encode`] refuses an entry that does not.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match &self.body {
            Body::Genesis { origin, .. } => check_origin(origin),
            Body::RegisterOrganisation { name, iati_identifier, .. } => {
                check_text("organisation name", name, NAME_BYTES_MAX, false)?;
                if let Some(iati) = iati_identifier {
                    check_text("IATI organisation identifier", iati, REFERENCE_BYTES_MAX, false)?;
                }
                Ok(())
            }
            Body::KeyRevocation { reason, .. } => check_text("reason", reason, TEXT_BYTES_MAX, true),
            Body::DeclareAsset { decimals, .. } => {
                if *decimals > ASSET_DECIMALS_MAX {
                    return Err(DecodeError::Invalid {
                        field: "decimals",
                        reason: format!("{decimals} is above the maximum of {ASSET_DECIMALS_MAX}"),
                    });
                }
                Ok(())
            }
            Body::DeclareProgramme { name, countries, sector, iati_identifier, .. } => {
                check_text("programme name", name, NAME_BYTES_MAX, false)?;
                if countries.is_empty() || countries.len() > PROGRAMME_COUNTRIES_MAX {
                    return Err(DecodeError::Invalid {
                        field: "countries",
                        reason: format!("a programme names 1 to {PROGRAMME_COUNTRIES_MAX} countries"),
                    });
                }
                if countries.windows(2).any(|pair| pair[0] >= pair[1]) {
                    return Err(DecodeError::Invalid {
                        field: "countries",
                        reason: "countries must be listed once each, in alphabetical order".into(),
                    });
                }
                check_sector(sector)?;
                if let Some(iati) = iati_identifier {
                    check_text("IATI activity identifier", iati, REFERENCE_BYTES_MAX, false)?;
                }
                Ok(())
            }
            Body::Donation { external_reference, .. } => match external_reference {
                Some(reference) => check_text("external reference", reference, REFERENCE_BYTES_MAX, false),
                None => Ok(()),
            },
            Body::Transfer { purpose, .. } => check_text("purpose", purpose, TEXT_BYTES_MAX, true),
            Body::Spend { description, .. } => check_text("description", description, TEXT_BYTES_MAX, true),
            Body::Pledge { result, .. } => check_text("stated result", result, TEXT_BYTES_MAX, false),
            Body::Attestation { statement, .. } => check_text("statement", statement, TEXT_BYTES_MAX, true),
            Body::Reversal { reason, .. } => check_text("reason", reason, TEXT_BYTES_MAX, false),
            Body::Conversion { rate_source, .. } => check_text("rate source", rate_source, NAME_BYTES_MAX, false),
            Body::Refund { reason, .. } => check_text("reason", reason, TEXT_BYTES_MAX, false),
            Body::AccountsSignOff { period_start, period_end, opinion, .. } => {
                if period_start > period_end {
                    return Err(DecodeError::Invalid {
                        field: "period",
                        reason: format!("the period starts on {period_start}, after its end {period_end}"),
                    });
                }
                check_text("opinion", opinion, TEXT_BYTES_MAX, false)
            }
            Body::VoucherIssue { clinics, vouchers, .. } => {
                check_sorted_set("clinics", clinics, VOUCHER_CLINICS_MAX)?;
                check_sorted_set("vouchers", vouchers, VOUCHERS_PER_ENTRY_MAX)
            }
            Body::VoucherSettlement { vouchers, .. } => check_sorted_set("vouchers", vouchers, VOUCHERS_PER_ENTRY_MAX),
            Body::Erasure { count, .. } => {
                if *count == 0 {
                    return Err(DecodeError::Invalid {
                        field: "erasure count",
                        reason: "an erasure covers at least one beneficiary commitment".into(),
                    });
                }
                Ok(())
            }
            Body::OperatorKeyRotation { .. }
            | Body::KeyRotation { .. }
            | Body::Acknowledgement { .. }
            | Body::PledgeRelease { .. }
            | Body::PledgeVoid { .. }
            | Body::VoucherRedemption { .. }
            | Body::VoucherExpiry { .. } => Ok(()),
        }
    }

    /// The canonical payload bytes (what is signed, after the domain-separation prefix).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        self.validate()?;
        let mut w = Writer::new();
        w.u8(self.body.kind().version());
        w.u8(self.body.kind().code());
        w.fixed(&self.entry_id.0);
        w.str8(self.author.as_str());
        w.u64(self.timestamp_ms);
        match &self.body {
            Body::Genesis { origin, operator, operator_key } => {
                w.str8(origin);
                w.str8(operator.as_str());
                w.fixed(&operator_key.0);
            }
            Body::OperatorKeyRotation { new_key } => w.fixed(&new_key.0),
            Body::RegisterOrganisation {
                organisation,
                role,
                name,
                country,
                iati_identifier,
                attribution_policy,
                public_key,
            } => {
                w.str8(organisation.as_str());
                w.u8(role.code());
                w.str8(name);
                w.fixed(&country.bytes());
                w.option(iati_identifier.as_deref(), |w, iati| w.str8(iati));
                w.u8(attribution_policy.code());
                w.fixed(&public_key.0);
            }
            Body::KeyRotation { organisation, new_key } => {
                w.str8(organisation.as_str());
                w.fixed(&new_key.0);
            }
            Body::KeyRevocation { organisation, revoked_key, replacement_key, reason } => {
                w.str8(organisation.as_str());
                w.fixed(&revoked_key.0);
                w.option(replacement_key.as_ref(), |w, key| w.fixed(&key.0));
                w.str16(reason);
            }
            Body::DeclareAsset { asset, decimals, asset_kind } => {
                w.str8(asset.as_str());
                w.u8(*decimals);
                w.u8(asset_kind.code());
            }
            Body::DeclareProgramme { programme, name, countries, sector, iati_identifier } => {
                w.str8(programme.as_str());
                w.str8(name);
                w.u8(u8::try_from(countries.len()).expect("validated"));
                for country in countries {
                    w.fixed(&country.bytes());
                }
                w.str8(sector);
                w.option(iati_identifier.as_deref(), |w, iati| w.str8(iati));
            }
            Body::Donation { donor, asset, amount, value_date, earmark, external_reference } => {
                match donor {
                    Donor::Organisation(organisation) => {
                        w.u8(1);
                        w.str8(organisation.as_str());
                    }
                    Donor::Anonymous(commitment) => {
                        w.u8(2);
                        w.fixed(&commitment.0);
                    }
                }
                w.str8(asset.as_str());
                w.u128(amount.0);
                w.u32(value_date.days());
                w.option(earmark.as_ref(), write_earmark);
                w.option(external_reference.as_deref(), |w, reference| w.str8(reference));
            }
            Body::Transfer { to, asset, amount, value_date, programme, purpose } => {
                w.str8(to.as_str());
                w.str8(asset.as_str());
                w.u128(amount.0);
                w.u32(value_date.days());
                w.option(programme.as_ref(), |w, programme| w.str8(programme.as_str()));
                w.str16(purpose);
            }
            Body::Acknowledgement { transfer } => w.fixed(&transfer.0),
            Body::Spend { asset, amount, value_date, category, recipient, programme, evidence, description } => {
                w.str8(asset.as_str());
                w.u128(amount.0);
                w.u32(value_date.days());
                w.u8(category.code());
                match recipient {
                    Recipient::Beneficiary(commitment) => {
                        w.u8(1);
                        w.fixed(&commitment.0);
                    }
                    Recipient::Supplier(supplier) => {
                        w.u8(2);
                        w.str8(supplier.as_str());
                    }
                }
                w.option(programme.as_ref(), |w, programme| w.str8(programme.as_str()));
                w.option(evidence.as_ref(), |w, digest| w.fixed(&digest.0));
                w.str16(description);
            }
            Body::Pledge { to, asset, amount, value_date, verifier, result, expires_at_ms, programme } => {
                w.str8(to.as_str());
                w.str8(asset.as_str());
                w.u128(amount.0);
                w.u32(value_date.days());
                w.str8(verifier.as_str());
                w.str16(result);
                w.u64(*expires_at_ms);
                w.option(programme.as_ref(), |w, programme| w.str8(programme.as_str()));
            }
            Body::Attestation { pledge, statement, evidence } => {
                w.fixed(&pledge.0);
                w.str16(statement);
                w.option(evidence.as_ref(), |w, digest| w.fixed(&digest.0));
            }
            Body::PledgeRelease { pledge } | Body::PledgeVoid { pledge } => w.fixed(&pledge.0),
            Body::Reversal { target, reason } => {
                w.fixed(&target.0);
                w.str16(reason);
            }
            Body::Conversion { from_asset, from_amount, to_asset, to_amount, rate, rate_source, value_date } => {
                w.str8(from_asset.as_str());
                w.u128(from_amount.0);
                w.str8(to_asset.as_str());
                w.u128(to_amount.0);
                w.u64(rate.mantissa());
                w.u8(rate.scale());
                w.str8(rate_source);
                w.u32(value_date.days());
            }
            Body::Refund { donation, asset, amount, value_date, reason } => {
                w.fixed(&donation.0);
                w.str8(asset.as_str());
                w.u128(amount.0);
                w.u32(value_date.days());
                w.str16(reason);
            }
            Body::AccountsSignOff { organisation, tree_size, period_start, period_end, report, opinion } => {
                w.str8(organisation.as_str());
                w.u64(*tree_size);
                w.u32(period_start.days());
                w.u32(period_end.days());
                w.fixed(&report.0);
                w.str16(opinion);
            }
            Body::VoucherIssue {
                programme,
                asset,
                face_value,
                category,
                clinics,
                vouchers,
                value_date,
                expires_at_ms,
            } => {
                w.str8(programme.as_str());
                w.str8(asset.as_str());
                w.u128(face_value.0);
                w.u8(category.code());
                w.u8(u8::try_from(clinics.len()).expect("validated"));
                for clinic in clinics {
                    w.str8(clinic.as_str());
                }
                write_vouchers(&mut w, vouchers);
                w.u32(value_date.days());
                w.u64(*expires_at_ms);
            }
            Body::VoucherRedemption { voucher, evidence } => {
                w.fixed(&voucher.0);
                w.option(evidence.as_ref(), |w, digest| w.fixed(&digest.0));
            }
            Body::VoucherSettlement { clinic, vouchers, value_date } => {
                w.str8(clinic.as_str());
                write_vouchers(&mut w, vouchers);
                w.u32(value_date.days());
            }
            Body::VoucherExpiry { issue } => w.fixed(&issue.0),
            Body::Erasure { count, digest, reason } => {
                w.u32(*count);
                w.fixed(&digest.0);
                w.u8(reason.code());
            }
        }
        Ok(w.into_bytes())
    }

    /// Decodes canonical payload bytes; anything else (trailing bytes, unknown tags, malformed fields) is refused.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let mut r = Reader::new(bytes);
        let offset = r.offset();
        let version = r.u8("format version")?;
        if version == 0 || version > FORMAT_VERSION {
            return Err(DecodeError::BadTag { field: "format version", value: u64::from(version), offset });
        }
        let kind = read_enum(&mut r, "entry kind", Kind::from_code)?;
        if kind.version() != version {
            // One encoding per entry: a kind's payload carries the version that defines the kind.
            return Err(DecodeError::Invalid {
                field: "format version",
                reason: format!("a {kind} entry carries version {}, not {version}", kind.version()),
            });
        }
        let entry_id = EntryId(r.fixed("entry id")?);
        let author = read_org(&mut r, "author")?;
        let timestamp_ms = r.u64("timestamp")?;
        let body = match kind {
            Kind::Genesis => {
                let origin = r.str8("origin")?.to_string();
                check_origin(&origin)?;
                Body::Genesis {
                    origin,
                    operator: read_org(&mut r, "operator")?,
                    operator_key: PublicKey(r.fixed("operator key")?),
                }
            }
            Kind::OperatorKeyRotation => Body::OperatorKeyRotation { new_key: PublicKey(r.fixed("new key")?) },
            Kind::RegisterOrganisation => Body::RegisterOrganisation {
                organisation: read_org(&mut r, "organisation")?,
                role: read_enum(&mut r, "role", Role::from_code)?,
                name: read_name(&mut r, "organisation name")?,
                country: Country::new(r.fixed("country")?)?,
                iati_identifier: r
                    .option("IATI organisation identifier", |r| read_reference(r, "IATI organisation identifier"))?,
                attribution_policy: read_enum(&mut r, "attribution policy", AttributionPolicy::from_code)?,
                public_key: PublicKey(r.fixed("public key")?),
            },
            Kind::KeyRotation => Body::KeyRotation {
                organisation: read_org(&mut r, "organisation")?,
                new_key: PublicKey(r.fixed("new key")?),
            },
            Kind::KeyRevocation => Body::KeyRevocation {
                organisation: read_org(&mut r, "organisation")?,
                revoked_key: PublicKey(r.fixed("revoked key")?),
                replacement_key: r.option("replacement key", |r| Ok(PublicKey(r.fixed("replacement key")?)))?,
                reason: read_text16(&mut r, "reason", true)?,
            },
            Kind::DeclareAsset => Body::DeclareAsset {
                asset: read_asset(&mut r)?,
                decimals: r.u8("decimals")?,
                asset_kind: read_enum(&mut r, "asset kind", AssetKind::from_code)?,
            },
            Kind::DeclareProgramme => {
                let programme = read_programme(&mut r)?;
                let name = read_name(&mut r, "programme name")?;
                let count = r.u8("country count")?;
                let countries = (0..count).map(|_| Country::new(r.fixed("country")?)).collect::<Result<Vec<_>, _>>()?;
                let sector = r.str8("sector")?.to_string();
                let iati_identifier =
                    r.option("IATI activity identifier", |r| read_reference(r, "IATI activity identifier"))?;
                Body::DeclareProgramme { programme, name, countries, sector, iati_identifier }
            }
            Kind::Donation => {
                let offset = r.offset();
                let donor = match r.u8("donor type")? {
                    1 => Donor::Organisation(read_org(&mut r, "donor")?),
                    2 => Donor::Anonymous(Commitment(r.fixed("donor reference")?)),
                    other => return Err(DecodeError::BadTag { field: "donor type", value: u64::from(other), offset }),
                };
                Body::Donation {
                    donor,
                    asset: read_asset(&mut r)?,
                    amount: Amount(r.u128("amount")?),
                    value_date: read_date(&mut r, "value date")?,
                    earmark: r.option("earmark", read_earmark)?,
                    external_reference: r.option("external reference", |r| read_reference(r, "external reference"))?,
                }
            }
            Kind::Transfer => Body::Transfer {
                to: read_org(&mut r, "receiver")?,
                asset: read_asset(&mut r)?,
                amount: Amount(r.u128("amount")?),
                value_date: read_date(&mut r, "value date")?,
                programme: r.option("programme", read_programme)?,
                purpose: read_text16(&mut r, "purpose", true)?,
            },
            Kind::Acknowledgement => Body::Acknowledgement { transfer: EntryId(r.fixed("transfer id")?) },
            Kind::Spend => {
                let asset = read_asset(&mut r)?;
                let amount = Amount(r.u128("amount")?);
                let value_date = read_date(&mut r, "value date")?;
                let category = read_enum(&mut r, "category", Category::from_code)?;
                let offset = r.offset();
                let recipient = match r.u8("recipient type")? {
                    1 => Recipient::Beneficiary(Commitment(r.fixed("beneficiary commitment")?)),
                    2 => Recipient::Supplier(read_org(&mut r, "supplier")?),
                    other => {
                        return Err(DecodeError::BadTag { field: "recipient type", value: u64::from(other), offset });
                    }
                };
                Body::Spend {
                    asset,
                    amount,
                    value_date,
                    category,
                    recipient,
                    programme: r.option("programme", read_programme)?,
                    evidence: r.option("evidence", |r| Ok(Digest(r.fixed("evidence")?)))?,
                    description: read_text16(&mut r, "description", true)?,
                }
            }
            Kind::Pledge => Body::Pledge {
                to: read_org(&mut r, "receiver")?,
                asset: read_asset(&mut r)?,
                amount: Amount(r.u128("amount")?),
                value_date: read_date(&mut r, "value date")?,
                verifier: read_org(&mut r, "verifier")?,
                result: read_text16(&mut r, "stated result", false)?,
                expires_at_ms: r.u64("expiry")?,
                programme: r.option("programme", read_programme)?,
            },
            Kind::Attestation => Body::Attestation {
                pledge: EntryId(r.fixed("pledge id")?),
                statement: read_text16(&mut r, "statement", true)?,
                evidence: r.option("evidence", |r| Ok(Digest(r.fixed("evidence")?)))?,
            },
            Kind::PledgeRelease => Body::PledgeRelease { pledge: EntryId(r.fixed("pledge id")?) },
            Kind::PledgeVoid => Body::PledgeVoid { pledge: EntryId(r.fixed("pledge id")?) },
            Kind::Reversal => {
                Body::Reversal { target: EntryId(r.fixed("target id")?), reason: read_text16(&mut r, "reason", false)? }
            }
            Kind::Conversion => Body::Conversion {
                from_asset: read_asset(&mut r)?,
                from_amount: Amount(r.u128("amount converted")?),
                to_asset: read_asset(&mut r)?,
                to_amount: Amount(r.u128("amount received")?),
                rate: {
                    let mantissa = r.u64("rate mantissa")?;
                    Rate::new(mantissa, r.u8("rate scale")?)?
                },
                rate_source: read_name(&mut r, "rate source")?,
                value_date: read_date(&mut r, "value date")?,
            },
            Kind::Refund => Body::Refund {
                donation: EntryId(r.fixed("donation id")?),
                asset: read_asset(&mut r)?,
                amount: Amount(r.u128("amount")?),
                value_date: read_date(&mut r, "value date")?,
                reason: read_text16(&mut r, "reason", false)?,
            },
            Kind::AccountsSignOff => Body::AccountsSignOff {
                organisation: read_org(&mut r, "organisation")?,
                tree_size: r.u64("tree size")?,
                period_start: read_date(&mut r, "period start")?,
                period_end: read_date(&mut r, "period end")?,
                report: Digest(r.fixed("report digest")?),
                opinion: read_text16(&mut r, "opinion", false)?,
            },
            Kind::VoucherIssue => {
                let programme = read_programme(&mut r)?;
                let asset = read_asset(&mut r)?;
                let face_value = Amount(r.u128("face value")?);
                let category = read_enum(&mut r, "category", Category::from_code)?;
                let count = r.u8("clinic count")?;
                let clinics = (0..count).map(|_| read_org(&mut r, "clinic")).collect::<Result<Vec<_>, _>>()?;
                let vouchers = read_vouchers(&mut r)?;
                Body::VoucherIssue {
                    programme,
                    asset,
                    face_value,
                    category,
                    clinics,
                    vouchers,
                    value_date: read_date(&mut r, "value date")?,
                    expires_at_ms: r.u64("expiry")?,
                }
            }
            Kind::VoucherRedemption => Body::VoucherRedemption {
                voucher: VoucherId(r.fixed("voucher id")?),
                evidence: r.option("evidence", |r| Ok(Digest(r.fixed("evidence")?)))?,
            },
            Kind::VoucherSettlement => Body::VoucherSettlement {
                clinic: read_org(&mut r, "clinic")?,
                vouchers: read_vouchers(&mut r)?,
                value_date: read_date(&mut r, "value date")?,
            },
            Kind::VoucherExpiry => Body::VoucherExpiry { issue: EntryId(r.fixed("issue id")?) },
            Kind::Erasure => Body::Erasure {
                count: r.u32("erasure count")?,
                digest: Digest(r.fixed("erasure digest")?),
                reason: read_enum(&mut r, "erasure reason", ErasureReason::from_code)?,
            },
        };
        r.finish()?;
        let entry = Entry { entry_id, author, timestamp_ms, body };
        entry.validate()?;
        Ok(entry)
    }
}

fn write_vouchers(writer: &mut Writer, vouchers: &[VoucherId]) {
    writer.u16(u16::try_from(vouchers.len()).expect("validated"));
    for voucher in vouchers {
        writer.fixed(&voucher.0);
    }
}

fn read_vouchers(reader: &mut Reader) -> Result<Vec<VoucherId>, DecodeError> {
    let count = reader.u16("voucher count")?;
    (0..count).map(|_| Ok(VoucherId(reader.fixed("voucher id")?))).collect()
}

/// A list that is a set: 1 to `max` items, each once, in ascending order (one encoding per set).
fn check_sorted_set<T: Ord>(field: &'static str, items: &[T], max: usize) -> Result<(), DecodeError> {
    if items.is_empty() || items.len() > max {
        return Err(DecodeError::Invalid { field, reason: format!("lists 1 to {max} items, not {}", items.len()) });
    }
    if items.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(DecodeError::Invalid {
            field,
            reason: "items must be listed once each, in ascending order".into(),
        });
    }
    Ok(())
}

/// Checks a log origin: 1 to 200 bytes of printable ASCII without spaces (it is a checkpoint's first line).
pub fn check_origin(origin: &str) -> Result<(), DecodeError> {
    let ok = !origin.is_empty()
        && origin.len() <= ORIGIN_BYTES_MAX
        && origin.bytes().all(|b| b.is_ascii_graphic() && b != b'+');
    if ok {
        Ok(())
    } else {
        Err(DecodeError::Invalid {
            field: "origin",
            reason: format!(
                "{origin:?} must be 1 to {ORIGIN_BYTES_MAX} printable ASCII characters without spaces or '+'"
            ),
        })
    }
}
