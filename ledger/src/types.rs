//! The small value types that entries are made of: identifiers, amounts, dates, roles and categories.
//! Each type can only hold a valid value; parsing from text (JSON, CSV) and from bytes checks the same rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::DecodeError;

/// The longest organisation, programme or operator identifier, in bytes.
pub const IDENTIFIER_BYTES_MAX: usize = 63;
/// The longest display name (organisation, programme), in bytes of UTF-8.
pub const NAME_BYTES_MAX: usize = 200;
/// The longest free text (purpose, stated result, reason), in bytes of UTF-8.
pub const TEXT_BYTES_MAX: usize = 1_000;
/// The longest external reference (bank transfer id, transaction hash), in bytes.
pub const REFERENCE_BYTES_MAX: usize = 120;
/// The longest asset code, in bytes.
pub const ASSET_CODE_BYTES_MAX: usize = 12;
/// The most countries a programme may name.
pub const PROGRAMME_COUNTRIES_MAX: usize = 50;
/// The largest number of decimals an asset may declare.
pub const ASSET_DECIMALS_MAX: u8 = 18;

fn invalid(field: &'static str, reason: impl Into<String>) -> DecodeError {
    DecodeError::Invalid { field, reason: reason.into() }
}

/// Checks an identifier: 1 to 63 bytes of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit.
pub fn check_identifier(field: &'static str, value: &str) -> Result<(), DecodeError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > IDENTIFIER_BYTES_MAX {
        return Err(invalid(field, format!("must be 1 to {IDENTIFIER_BYTES_MAX} characters, got {}", bytes.len())));
    }
    if !bytes[0].is_ascii_lowercase() && !bytes[0].is_ascii_digit() {
        return Err(invalid(field, format!("{value:?} must start with a lower-case letter or a digit")));
    }
    if let Some(bad) =
        bytes.iter().find(|&&b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'))
    {
        return Err(invalid(
            field,
            format!("{value:?} may only hold a-z, 0-9, '.', '_' and '-' (found {:?})", char::from(*bad)),
        ));
    }
    Ok(())
}

/// Checks a text field: at most `max` bytes of UTF-8 without control characters; `allow_empty` says
/// whether the field may be empty.
pub fn check_text(field: &'static str, value: &str, max: usize, allow_empty: bool) -> Result<(), DecodeError> {
    if value.len() > max {
        return Err(invalid(field, format!("is {} bytes long; at most {max} are allowed", value.len())));
    }
    if !allow_empty && value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters (line breaks, tabs, ...)"));
    }
    if value.trim() != value {
        return Err(invalid(field, "must not start or end with white space"));
    }
    Ok(())
}

macro_rules! string_identifier {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, DecodeError> {
                let value = value.into();
                check_identifier($field, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;
            fn from_str(value: &str) -> Result<Self, DecodeError> {
                Self::new(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::new(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_identifier!(
    /// An organisation's identifier, chosen at registration (`msf-fr`, `clinique-goma`).
    OrgId,
    "organisation id"
);
string_identifier!(
    /// A programme's identifier, chosen by the NGO that declares it (`cd-north-kivu-health`).
    ProgrammeId,
    "programme id"
);

/// An asset code: 2 to 12 upper-case letters or digits (`EUR`, `USD`, `USDC`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetCode(String);

impl AssetCode {
    pub fn new(value: impl Into<String>) -> Result<Self, DecodeError> {
        let value = value.into();
        let ok = (2..=ASSET_CODE_BYTES_MAX).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(invalid("asset code", format!("{value:?} must be 2 to 12 upper-case letters or digits")));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for AssetCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AssetCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// An ISO 3166-1 alpha-2 country code, two upper-case ASCII letters (`CD`, `FR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    pub fn new(bytes: [u8; 2]) -> Result<Self, DecodeError> {
        if bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Self(bytes))
        } else {
            Err(invalid("country", format!("{:?} is not two upper-case letters (ISO 3166-1 alpha-2)", bytes)))
        }
    }

    pub fn bytes(&self) -> [u8; 2] {
        self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a country code is ASCII")
    }
}

impl FromStr for Country {
    type Err = DecodeError;
    fn from_str(value: &str) -> Result<Self, DecodeError> {
        let bytes: [u8; 2] = value
            .as_bytes()
            .try_into()
            .map_err(|_| invalid("country", format!("{value:?} is not two upper-case letters (ISO 3166-1 alpha-2)")))?;
        Self::new(bytes)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! hex_bytes {
    ($(#[$meta:meta])* $name:ident, $len:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;
            fn from_str(value: &str) -> Result<Self, DecodeError> {
                let mut bytes = [0u8; $len];
                let lower_hex = value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !lower_hex || hex::decode_to_slice(value, &mut bytes).is_err() {
                    return Err(invalid(
                        stringify!($name),
                        format!("{value:?} is not {} lower-case hexadecimal digits", $len * 2),
                    ));
                }
                Ok(Self(bytes))
            }
        }

        /// Lower-case hexadecimal in human-readable formats (JSON), the raw bytes in binary ones (the
        /// server's state snapshots, the state's compact entry records).
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_hex())
                } else {
                    self.0.serialize(serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; $len]>::deserialize(deserializer).map(Self)
                }
            }
        }
    };
}

hex_bytes!(
    /// The client-chosen 128-bit identifier of an entry, unique in the log.
    EntryId,
    16
);
hex_bytes!(
    /// An Ed25519 public key, 32 bytes.
    PublicKey,
    32
);
hex_bytes!(
    /// 32 opaque bytes that stand for a person without naming them: a beneficiary commitment or an
    /// anonymous donor reference.
    Commitment,
    32
);
hex_bytes!(
    /// A SHA-256 digest of a document kept off the ledger (an invoice, an exam result, an audit report).
    Digest,
    32
);

hex_bytes!(
    /// The random public id of a health voucher, 16 bytes. Who holds a voucher is known only in the
    /// issuing organisation's private store.
    VoucherId,
    16
);

/// The most decimal places of an exchange rate.
pub const RATE_SCALE_MAX: u8 = 18;

/// An exchange rate: how many major units of the target asset one major unit of the source asset buys,
/// as a decimal `mantissa / 10^scale` with `0 < mantissa < 10^19` and no trailing zero in the fraction
/// (one way to write each rate). Its JSON view is the decimal string, e.g. `"1.0835"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    mantissa: u64,
    scale: u8,
}

/// The largest rate mantissa plus one: 10^19.
const RATE_MANTISSA_LIMIT: u64 = 10_000_000_000_000_000_000;

impl Rate {
    /// A rate from its canonical parts; `None` if they are not canonical.
    pub fn new(mantissa: u64, scale: u8) -> Result<Rate, DecodeError> {
        let canonical = mantissa > 0
            && mantissa < RATE_MANTISSA_LIMIT
            && scale <= RATE_SCALE_MAX
            && (scale == 0 || !mantissa.is_multiple_of(10));
        if canonical {
            Ok(Rate { mantissa, scale })
        } else {
            Err(invalid(
                "rate",
                format!(
                    "mantissa {mantissa} with {scale} decimals is not a canonical rate (more than zero, at most \
                     19 digits, at most {RATE_SCALE_MAX} decimals, no trailing zero)"
                ),
            ))
        }
    }

    pub fn mantissa(self) -> u64 {
        self.mantissa
    }

    pub fn scale(self) -> u8 {
        self.scale
    }

    /// Converts `amount` minor units of an asset with `from_decimals` into minor units of an asset with
    /// `to_decimals`: `amount × rate × 10^to_decimals / 10^from_decimals`, rounded to the nearest minor
    /// unit, halves rounded up. `None` if `amount × mantissa × 10^to_decimals` does not fit 128 bits.
    pub fn convert(self, amount: u128, from_decimals: u8, to_decimals: u8) -> Option<u128> {
        let numerator =
            amount.checked_mul(u128::from(self.mantissa))?.checked_mul(10u128.checked_pow(u32::from(to_decimals))?)?;
        let denominator = 10u128.checked_pow(u32::from(self.scale) + u32::from(from_decimals))?;
        let (quotient, remainder) = (numerator / denominator, numerator % denominator);
        if remainder.checked_mul(2)? >= denominator { quotient.checked_add(1) } else { Some(quotient) }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        let scale = usize::from(self.scale);
        if scale == 0 {
            return f.write_str(&digits);
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{whole}.{fraction}")
    }
}

impl FromStr for Rate {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Rate, DecodeError> {
        let bad = || invalid("rate", format!("{text:?} is not a decimal rate such as \"1.0835\""));
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !digits_only(whole)
            || !digits_only(fraction)
            || (text.contains('.') && fraction.is_empty())
        {
            return Err(bad());
        }
        if whole.len() > 1 && whole.starts_with('0') {
            return Err(bad());
        }
        let scale = u8::try_from(fraction.len()).map_err(|_| bad())?;
        let mantissa: u64 = format!("{whole}{fraction}").parse().map_err(|_| bad())?;
        Rate::new(mantissa, scale)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount in an asset's minor units (cents for EUR). Never a float; arithmetic is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount(pub u128);

impl Amount {
    pub fn minor_units(self) -> u128 {
        self.0
    }

    /// Writes the amount with the asset's decimals and a thousands separator, e.g. `1,250.00`.
    pub fn format(self, decimals: u8, thousands: char, decimal_point: char) -> String {
        let digits = self.0.to_string();
        let decimals = usize::from(decimals);
        let (whole, fraction) =
            if digits.len() > decimals { digits.split_at(digits.len() - decimals) } else { ("0", "") };
        let fraction = if digits.len() > decimals { fraction.to_string() } else { format!("{digits:0>decimals$}") };
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (position, digit) in whole.chars().enumerate() {
            if position > 0 && (whole.len() - position).is_multiple_of(3) {
                grouped.push(thousands);
            }
            grouped.push(digit);
        }
        if decimals == 0 { grouped } else { format!("{grouped}{decimal_point}{fraction}") }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // JSON numbers lose precision above 2^53, so amounts travel as decimal strings of minor units.
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let canonical =
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
        if !canonical {
            return Err(serde::de::Error::custom(format!(
                "amount {text:?} must be a whole number of minor units written as a decimal string, e.g. \"125000\""
            )));
        }
        text.parse::<u128>()
            .map(Amount)
            .map_err(|_| serde::de::Error::custom(format!("amount {text:?} is larger than 2^128 - 1")))
    }
}

/// A calendar date (UTC), stored as the number of days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(u32);

impl Date {
    /// The latest date the format accepts, 9999-12-31.
    pub const MAX_DAYS: u32 = 2_932_896;

    pub fn from_days(days: u32) -> Result<Self, DecodeError> {
        if days > Self::MAX_DAYS {
            return Err(invalid("date", format!("day number {days} is after 9999-12-31")));
        }
        Ok(Self(days))
    }

    pub fn days(self) -> u32 {
        self.0
    }

    pub fn from_ymd(year: i64, month: u32, day: u32) -> Result<Self, DecodeError> {
        let bad = || invalid("date", format!("{year:04}-{month:02}-{day:02} is not a calendar date"));
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return Err(bad());
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if day > month_days[(month - 1) as usize] {
            return Err(bad());
        }
        // Days from civil (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let m = i64::from(month);
        let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        let days = era * 146_097 + day_of_era - 719_468;
        Self::from_days(u32::try_from(days).map_err(|_| bad())?)
    }

    pub fn ymd(self) -> (i64, u32, u32) {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    /// The date of a Unix timestamp in milliseconds (UTC).
    pub fn from_timestamp_ms(timestamp_ms: u64) -> Self {
        let days = (timestamp_ms / 86_400_000).min(u64::from(Self::MAX_DAYS));
        Self(days as u32)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl FromStr for Date {
    type Err = DecodeError;
    fn from_str(value: &str) -> Result<Self, DecodeError> {
        let bad = || invalid("date", format!("{value:?} is not a date written YYYY-MM-DD"));
        let bytes = value.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let number = |range: std::ops::Range<usize>| -> Result<u32, DecodeError> {
            let part = &value[range];
            if part.bytes().all(|b| b.is_ascii_digit()) { part.parse().map_err(|_| bad()) } else { Err(bad()) }
        };
        Self::from_ymd(i64::from(number(0..4)?), number(5..7)?, number(8..10)?)
    }
}

/// `YYYY-MM-DD` in human-readable formats (JSON), the day number in binary ones.
impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_string())
        } else {
            serializer.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
        } else {
            Self::from_days(u32::deserialize(deserializer)?).map_err(serde::de::Error::custom)
        }
    }
}

macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident = $code:literal, $text:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn code(self) -> u8 {
                match self { $($name::$variant => $code,)+ }
            }

            pub fn from_code(code: u8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;
            fn from_str(value: &str) -> Result<Self, DecodeError> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(invalid($field, format!(
                        "{value:?} is not one of: {}",
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        /// The text in human-readable formats (JSON), the format code in binary ones.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(self.as_str())
                } else {
                    serializer.serialize_u8(self.code())
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
                } else {
                    let code = u8::deserialize(deserializer)?;
                    Self::from_code(code).ok_or_else(|| {
                        serde::de::Error::custom(format!("{code} is not a {} code", $field))
                    })
                }
            }
        }
    };
}

coded_enum!(
    /// What an organisation is, which decides what it may do.
    Role, "role" {
        /// Gives money from outside the ledger; named on donations, never holds funds.
        Donor = 1, "donor";
        /// Receives donations, transfers, spends, pledges and declares programmes.
        Ngo = 2, "ngo";
        /// A field clinic: receives transfers and spends on care.
        Clinic = 3, "clinic";
        /// Is paid by spends; holds no funds on the ledger.
        Supplier = 4, "supplier";
        /// Verifies results and attests pledges; holds no funds.
        Auditor = 5, "auditor";
    }
);

impl Role {
    /// Whether organisations of this role hold money on the ledger (receive donations and transfers).
    pub fn holds_funds(self) -> bool {
        matches!(self, Role::Ngo | Role::Clinic)
    }
}

coded_enum!(
    /// How an organisation's outgoing money is attributed to the lots (donations) it holds.
    AttributionPolicy, "attribution policy" {
        /// Oldest lots first.
        Fifo = 1, "fifo";
        /// In proportion to every eligible lot, rounded by largest remainder.
        ProRata = 2, "pro-rata";
    }
);

coded_enum!(
    /// Whether an asset is a fiat currency or a token.
    AssetKind, "asset kind" {
        Fiat = 1, "fiat";
        Token = 2, "token";
    }
);

coded_enum!(
    /// What a spend paid for.
    Category, "category" {
        Consultation = 1, "consultation";
        Medicine = 2, "medicine";
        Surgery = 3, "surgery";
        MaternalCare = 4, "maternal-care";
        Vaccination = 5, "vaccination";
        Laboratory = 6, "laboratory";
        Food = 7, "food";
        Shelter = 8, "shelter";
        WaterSanitation = 9, "water-sanitation";
        Transport = 10, "transport";
        CashAssistance = 11, "cash-assistance";
        Equipment = 12, "equipment";
        Staff = 13, "staff";
        Training = 14, "training";
        Administration = 15, "administration";
        BankFees = 16, "bank-fees";
        Other = 255, "other";
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_day_numbers() {
        for (text, days) in
            [("1970-01-01", 0), ("2000-02-29", 11_016), ("2026-11-28", 20_785), ("9999-12-31", 2_932_896)]
        {
            let date: Date = text.parse().unwrap();
            assert_eq!(date.days(), days, "{text}");
            assert_eq!(date.to_string(), text);
        }
        for bad in ["2026-02-29", "2026-13-01", "1969-12-31", "2026-1-01", "2026-01-00", "+026-01-01"] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
        for days in (0..Date::MAX_DAYS).step_by(997) {
            let date = Date::from_days(days).unwrap();
            assert_eq!(date.to_string().parse::<Date>().unwrap(), date);
        }
    }

    #[test]
    fn amounts_format_with_decimals_and_separators() {
        assert_eq!(Amount(125_000).format(2, ',', '.'), "1,250.00");
        assert_eq!(Amount(125_000).format(2, '\u{202f}', ','), "1\u{202f}250,00");
        assert_eq!(Amount(5).format(2, ',', '.'), "0.05");
        assert_eq!(Amount(1_000_000).format(0, ',', '.'), "1,000,000");
    }

    #[test]
    fn identifiers_refuse_what_they_cannot_hold() {
        assert!(OrgId::new("clinique-goma").is_ok());
        for bad in ["", "Clinique", "-x", "a b", "é", &"a".repeat(64)] {
            assert!(OrgId::new(bad).is_err(), "{bad:?}");
        }
        assert!(AssetCode::new("EUR").is_ok());
        assert!(AssetCode::new("eur").is_err());
        assert!("cd".parse::<Country>().is_err());
        assert!("CD".parse::<Country>().is_ok());
    }
}
