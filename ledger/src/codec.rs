//! The primitive byte layouts of the canonical encoding: big-endian integers, length-prefixed strings,
//! options and lists. `docs/FORMAT.md` describes each one; decoding is strict so that every value has
//! exactly one encoding (decode then encode gives back the same bytes).

use thiserror::Error;

/// Why a byte string is not a canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes stopped in the middle of a field.
    #[error("the encoding ends early: {field} needs {needed} more byte(s) at offset {offset}")]
    Truncated { field: &'static str, offset: usize, needed: usize },
    /// Bytes remained after the last field.
    #[error("{count} unexpected byte(s) after the end of the encoding at offset {offset}")]
    TrailingBytes { offset: usize, count: usize },
    /// A tag, flag or enumeration byte has a value that the format does not define.
    #[error("{field} has the undefined value {value} at offset {offset}")]
    BadTag { field: &'static str, value: u64, offset: usize },
    /// A text field is not valid UTF-8.
    #[error("{field} is not valid UTF-8 at offset {offset}")]
    BadUtf8 { field: &'static str, offset: usize },
    /// A field decoded but its value breaks the format's rules (a malformed identifier, for example).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Appends canonical encodings to a byte buffer.
#[derive(Default, Debug)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self { bytes: Vec::with_capacity(256) }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    pub fn u128(&mut self, value: u128) {
        self.bytes.extend_from_slice(&value.to_be_bytes());
    }

    pub fn fixed(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
    }

    /// A string of at most 255 bytes: a one-byte length, then the UTF-8 bytes.
    pub fn str8(&mut self, value: &str) {
        let length = u8::try_from(value.len()).expect("str8 fields are validated to at most 255 bytes");
        self.u8(length);
        self.fixed(value.as_bytes());
    }

    /// A string of at most 65,535 bytes: a two-byte length, then the UTF-8 bytes.
    pub fn str16(&mut self, value: &str) {
        let length = u16::try_from(value.len()).expect("str16 fields are validated to at most 65,535 bytes");
        self.u16(length);
        self.fixed(value.as_bytes());
    }

    /// An optional value: 0x00 when absent, 0x01 followed by the value when present.
    pub fn option<T>(&mut self, value: Option<&T>, write: impl FnOnce(&mut Self, &T))
    where
        T: ?Sized,
    {
        match value {
            None => self.u8(0),
            Some(inner) => {
                self.u8(1);
                write(self, inner);
            }
        }
    }
}

/// Reads canonical encodings from a byte slice, refusing anything non-canonical.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.offset == self.bytes.len() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { offset: self.offset, count: self.bytes.len() - self.offset })
        }
    }

    pub fn take(&mut self, field: &'static str, count: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.bytes.len() - self.offset;
        if remaining < count {
            return Err(DecodeError::Truncated { field, offset: self.offset, needed: count - remaining });
        }
        let slice = &self.bytes[self.offset..self.offset + count];
        self.offset += count;
        Ok(slice)
    }

    pub fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let slice = self.take(field, N)?;
        Ok(slice.try_into().expect("take returned exactly N bytes"))
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.fixed::<1>(field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.fixed(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.fixed(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.fixed(field)?))
    }

    pub fn u128(&mut self, field: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_be_bytes(self.fixed(field)?))
    }

    fn utf8(&mut self, field: &'static str, length: usize) -> Result<&'a str, DecodeError> {
        let offset = self.offset;
        let slice = self.take(field, length)?;
        std::str::from_utf8(slice).map_err(|_| DecodeError::BadUtf8 { field, offset })
    }

    pub fn str8(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let length = self.u8(field)? as usize;
        self.utf8(field, length)
    }

    pub fn str16(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let length = self.u16(field)? as usize;
        self.utf8(field, length)
    }

    /// Reads the presence byte of an optional field: only 0x00 and 0x01 are canonical.
    pub fn presence(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let offset = self.offset;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::BadTag { field, value: u64::from(other), offset }),
        }
    }

    pub fn option<T>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.presence(field)? { Ok(Some(read(self)?)) } else { Ok(None) }
    }
}
