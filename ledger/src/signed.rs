//! Signed entries: the leaf bytes of the log, the domain-separated signed message, strict Ed25519
//! verification (single and batch, which accept exactly the same signatures), and key checks.

use std::collections::HashMap;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::codec::DecodeError;
use crate::entry::{Entry, check_origin};
use crate::merkle::{Hash, leaf_hash};
use crate::types::{Commitment, PublicKey};

/// The largest encoded signed entry, in bytes: it must fit a C2SP tlog-tiles entry bundle.
pub const ENTRY_BYTES_MAX: usize = 65_535;
/// The bytes of a signed entry around its payload: the length prefix, the signer's key and the signature.
pub const ENTRY_OVERHEAD_BYTES: usize = 2 + 32 + 64;
/// Prefixed to every signed message, so an entry signature can never be taken for another protocol's.
pub const ENTRY_SIGNATURE_DOMAIN: &[u8] = b"aidtrail/entry/v1\0";
/// Prefixed to an anonymous donor's secret receipt to make their donor reference.
pub const DONOR_REFERENCE_DOMAIN: &[u8] = b"aidtrail/donor-reference/v1\0";
/// Prefixed to a beneficiary's salt and private pseudonym to make a beneficiary commitment.
pub const BENEFICIARY_COMMITMENT_DOMAIN: &[u8] = b"aidtrail/beneficiary/v1\0";
/// Prefixed to an erasure's random value and the erased commitments to make an erasure digest.
pub const ERASURE_DIGEST_DOMAIN: &[u8] = b"aidtrail/erasure/v1\0";

/// Why a signed entry could not be decoded, built or verified.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryError {
    #[error("the entry is {size} bytes long; at most {ENTRY_BYTES_MAX} are allowed")]
    TooLarge { size: usize },
    #[error("malformed entry: {0}")]
    Decode(#[from] DecodeError),
    #[error("the signer's public key is not a valid Ed25519 key: {0}")]
    BadKey(KeyError),
    #[error("the signature does not verify for this entry, log origin and signer key")]
    BadSignature,
    #[error("the genesis entry names the log {named:?}, but this log is {origin:?}")]
    OriginMismatch { named: String, origin: String },
}

/// Why a public key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the bytes are not a point on the Ed25519 curve")]
    NotOnCurve,
    #[error("the point is not in its canonical encoding")]
    NonCanonical,
    #[error("the key is weak (a point of small order): signatures under it prove nothing")]
    SmallOrder,
    #[error("the key has a torsion component: single and batch verification could disagree on it")]
    Torsion,
}

/// Checks that 32 bytes are a key whose signatures mean something: on the curve, canonical, of
/// prime order (no small-order or torsion component). Registration and rotation refuse other keys.
pub fn check_public_key(key: &PublicKey) -> Result<VerifyingKey, KeyError> {
    let compressed = CompressedEdwardsY(key.0);
    let point = compressed.decompress().ok_or(KeyError::NotOnCurve)?;
    if point.compress() != compressed {
        return Err(KeyError::NonCanonical);
    }
    if point.is_small_order() {
        return Err(KeyError::SmallOrder);
    }
    if !point.is_torsion_free() {
        return Err(KeyError::Torsion);
    }
    VerifyingKey::from_bytes(&key.0).map_err(|_| KeyError::NotOnCurve)
}

/// The message an entry's author signs: the domain prefix, the log origin (one length byte and its
/// bytes) and the canonical payload. Binding the origin stops an entry from being replayed in another log.
pub fn signed_message(origin: &str, payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(ENTRY_SIGNATURE_DOMAIN.len() + 1 + origin.len() + payload.len());
    message.extend_from_slice(ENTRY_SIGNATURE_DOMAIN);
    message.push(u8::try_from(origin.len()).expect("origins are at most 200 bytes"));
    message.extend_from_slice(origin.as_bytes());
    message.extend_from_slice(payload);
    message
}

/// The donor reference of an anonymous gift: SHA-256 of the domain prefix and the donor's 32-byte secret.
pub fn donor_reference(secret_receipt: &[u8; 32]) -> Commitment {
    let mut hasher = Sha256::new();
    hasher.update(DONOR_REFERENCE_DOMAIN);
    hasher.update(secret_receipt);
    Commitment(hasher.finalize().into())
}

/// A beneficiary commitment: SHA-256 of the domain prefix, a fresh random 32-byte salt and a private
/// pseudonym. Without the salt, nobody can tell which person a commitment stands for or link two of them.
pub fn beneficiary_commitment(salt: &[u8; 32], pseudonym: &[u8]) -> Commitment {
    let mut hasher = Sha256::new();
    hasher.update(BENEFICIARY_COMMITMENT_DOMAIN);
    hasher.update(salt);
    hasher.update(pseudonym);
    Commitment(hasher.finalize().into())
}

/// The digest of an erasure entry: SHA-256 of the domain prefix, a fresh random 32-byte value and the erased
/// commitments in ascending byte order (each once). The organisation draws the random value, computes the
/// digest and destroys the value with the rest of the erased data: afterwards nobody, the organisation
/// included, can test whether a given commitment is among the erased ones.
pub fn erasure_digest(random: &[u8; 32], commitments: &[Commitment]) -> crate::types::Digest {
    let mut sorted: Vec<&Commitment> = commitments.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut hasher = Sha256::new();
    hasher.update(ERASURE_DIGEST_DOMAIN);
    hasher.update(random);
    for commitment in sorted {
        hasher.update(commitment.0);
    }
    crate::types::Digest(hasher.finalize().into())
}

/// A signed entry as it sits in the log: `u16 payload length || payload || signer key (32) || signature (64)`.
/// These bytes are the Merkle leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEntry {
    bytes: Vec<u8>,
    entry: Entry,
}

impl SignedEntry {
    /// Encodes and signs an entry for the log named `origin`.
    pub fn sign(entry: Entry, origin: &str, key: &SigningKey) -> Result<SignedEntry, EntryError> {
        check_origin(origin)?;
        let payload = entry.encode()?;
        let size = payload.len() + ENTRY_OVERHEAD_BYTES;
        if size > ENTRY_BYTES_MAX {
            return Err(EntryError::TooLarge { size });
        }
        let signature = key.sign(&signed_message(origin, &payload));
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(&u16::try_from(payload.len()).expect("checked above").to_be_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(key.verifying_key().as_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(SignedEntry { bytes, entry })
    }

    /// Assembles a signed entry from its parts (a signature made elsewhere, for example by a hardware key).
    pub fn from_parts(entry: Entry, signer: PublicKey, signature: [u8; 64]) -> Result<SignedEntry, EntryError> {
        let payload = entry.encode()?;
        let size = payload.len() + ENTRY_OVERHEAD_BYTES;
        if size > ENTRY_BYTES_MAX {
            return Err(EntryError::TooLarge { size });
        }
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(&u16::try_from(payload.len()).expect("checked above").to_be_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&signer.0);
        bytes.extend_from_slice(&signature);
        Ok(SignedEntry { bytes, entry })
    }

    /// Decodes the leaf bytes of a signed entry. The signature is not checked here: see [`EntryVerifier`].
    pub fn decode(bytes: &[u8]) -> Result<SignedEntry, EntryError> {
        if bytes.len() > ENTRY_BYTES_MAX {
            return Err(EntryError::TooLarge { size: bytes.len() });
        }
        if bytes.len() < ENTRY_OVERHEAD_BYTES {
            return Err(DecodeError::Truncated {
                field: "signed entry",
                offset: 0,
                needed: ENTRY_OVERHEAD_BYTES - bytes.len(),
            }
            .into());
        }
        let payload_len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        let expected = payload_len + ENTRY_OVERHEAD_BYTES;
        if bytes.len() < expected {
            return Err(DecodeError::Truncated {
                field: "signed entry",
                offset: bytes.len(),
                needed: expected - bytes.len(),
            }
            .into());
        }
        if bytes.len() > expected {
            return Err(DecodeError::TrailingBytes { offset: expected, count: bytes.len() - expected }.into());
        }
        let entry = Entry::decode(&bytes[2..2 + payload_len])?;
        Ok(SignedEntry { bytes: bytes.to_vec(), entry })
    }

    /// The leaf bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    pub fn payload(&self) -> &[u8] {
        &self.bytes[2..self.bytes.len() - 96]
    }

    pub fn signer(&self) -> PublicKey {
        let start = self.bytes.len() - 96;
        PublicKey(self.bytes[start..start + 32].try_into().expect("32 bytes"))
    }

    pub fn signature(&self) -> [u8; 64] {
        let start = self.bytes.len() - 64;
        self.bytes[start..].try_into().expect("64 bytes")
    }

    /// The RFC 9162 leaf hash, SHA-256(0x00 || leaf bytes).
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.bytes)
    }
}

/// A signed entry whose signature has been checked by [`EntryVerifier`]; only verification builds one,
/// so code that receives it never needs to ask again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry {
    signed: SignedEntry,
    leaf_hash: Hash,
}

impl VerifiedEntry {
    pub fn signed(&self) -> &SignedEntry {
        &self.signed
    }

    pub fn entry(&self) -> &Entry {
        &self.signed.entry
    }

    pub fn signer(&self) -> PublicKey {
        self.signed.signer()
    }

    pub fn bytes(&self) -> &[u8] {
        self.signed.bytes()
    }

    pub fn leaf_hash(&self) -> Hash {
        self.leaf_hash
    }

    pub fn into_signed(self) -> SignedEntry {
        self.signed
    }
}

/// Verifies entry signatures for one log. It remembers keys it has already checked (the key checks cost
/// about as much as a signature), so verifying a whole log checks each key once.
#[derive(Debug, Clone)]
pub struct EntryVerifier {
    origin: String,
    checked_keys: HashMap<PublicKey, VerifyingKey>,
}

impl EntryVerifier {
    pub fn new(origin: &str) -> Result<Self, DecodeError> {
        check_origin(origin)?;
        Ok(Self { origin: origin.to_string(), checked_keys: HashMap::new() })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many distinct keys this verifier has checked and remembers.
    pub fn checked_key_count(&self) -> usize {
        self.checked_keys.len()
    }

    fn key(&mut self, key: &PublicKey) -> Result<VerifyingKey, EntryError> {
        if let Some(verifying_key) = self.checked_keys.get(key) {
            return Ok(*verifying_key);
        }
        let verifying_key = check_public_key(key).map_err(EntryError::BadKey)?;
        self.checked_keys.insert(*key, verifying_key);
        Ok(verifying_key)
    }

    /// A genesis entry must name the log it is signed for.
    fn check_genesis_origin(&self, signed: &SignedEntry) -> Result<(), EntryError> {
        match &signed.entry().body {
            crate::entry::Body::Genesis { origin, .. } if *origin != self.origin => {
                Err(EntryError::OriginMismatch { named: origin.clone(), origin: self.origin.clone() })
            }
            _ => Ok(()),
        }
    }

    /// Strict verification: the key passes [`check_public_key`], the signature's `s` is canonical and its
    /// `R` is canonical and not of small order, and `[s]B = R + [k]A` holds exactly (no cofactor).
    pub fn verify(&mut self, signed: SignedEntry) -> Result<VerifiedEntry, EntryError> {
        self.check_genesis_origin(&signed)?;
        let verifying_key = self.key(&signed.signer())?;
        let signature = Signature::from_bytes(&signed.signature());
        let message = signed_message(&self.origin, signed.payload());
        verifying_key.verify_strict(&message, &signature).map_err(|_| EntryError::BadSignature)?;
        let leaf_hash = signed.leaf_hash();
        Ok(VerifiedEntry { signed, leaf_hash })
    }

    /// Verifies many entries at once. It accepts exactly what [`EntryVerifier::verify`] accepts: every
    /// condition that the batch equation cannot see (canonical and prime-order `R`, checked keys) is
    /// checked per entry first, and when the batch equation fails each entry is verified alone to say which.
    pub fn verify_batch(&mut self, entries: Vec<SignedEntry>) -> Vec<Result<VerifiedEntry, EntryError>> {
        let mut results: Vec<Option<Result<VerifiedEntry, EntryError>>> = vec![None; entries.len()];
        let mut batch_positions = Vec::with_capacity(entries.len());
        let mut messages = Vec::with_capacity(entries.len());
        let mut signatures = Vec::with_capacity(entries.len());
        let mut keys = Vec::with_capacity(entries.len());
        for (position, signed) in entries.iter().enumerate() {
            if let Err(error) = self.check_genesis_origin(signed) {
                results[position] = Some(Err(error));
                continue;
            }
            let key = match self.key(&signed.signer()) {
                Ok(key) => key,
                Err(error) => {
                    results[position] = Some(Err(error));
                    continue;
                }
            };
            let signature_bytes = signed.signature();
            if !signature_r_is_strict(&signature_bytes) {
                results[position] = Some(Err(EntryError::BadSignature));
                continue;
            }
            batch_positions.push(position);
            messages.push(signed_message(&self.origin, signed.payload()));
            signatures.push(Signature::from_bytes(&signature_bytes));
            keys.push(key);
        }
        let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let batch_ok =
            !batch_positions.is_empty() && ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).is_ok();
        for (slot, signed) in results.iter_mut().zip(entries) {
            if slot.is_some() {
                continue;
            }
            *slot = Some(if batch_ok {
                let leaf_hash = signed.leaf_hash();
                Ok(VerifiedEntry { signed, leaf_hash })
            } else {
                self.verify(signed)
            });
        }
        results.into_iter().map(|result| result.expect("every position was decided")).collect()
    }
}

/// The conditions on a signature's `R` that strict verification implies but the batch equation does not
/// see: canonical encoding, not of small order, and no torsion component.
fn signature_r_is_strict(signature: &[u8; 64]) -> bool {
    let compressed = CompressedEdwardsY(signature[..32].try_into().expect("32 bytes"));
    match compressed.decompress() {
        Some(point) => point.compress() == compressed && !point.is_small_order() && point.is_torsion_free(),
        None => false,
    }
}
