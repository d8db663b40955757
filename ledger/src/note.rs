//! C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note) and the tlog checkpoints they carry (https://c2sp.org/tlog-checkpoint).
//!
//! A signed note is a text ending in a newline, a blank line, then signature lines
//! `— <key name> <base64(key id || signature)>`. Keys are written as in Go's `golang.org/x/mod/sumdb/note`:
//! a verifier key is `name+hex8+base64(0x01 || public key)` and a private key is
//! `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`, where hex8 is the key id.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::{HASH_SIZE, Hash};

/// The signature type byte of Ed25519 in key ids and key strings.
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;

/// What every signature line starts with: an em dash (U+2014) and a space.
pub const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// The most signature lines a note may carry; the specification requires accepting at least 16.
pub const SIGNATURES_MAX: usize = 100;

/// What a private key string starts with, before the key name.
pub const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// The separator between the parts of a key string.
const KEY_PART_SEPARATOR: char = '+';

/// The number of bytes of the key id at the start of every signature.
const KEY_ID_SIZE: usize = 4;

/// The number of hexadecimal digits of the key id in a key string.
const KEY_ID_HEX_DIGITS: usize = 2 * KEY_ID_SIZE;

/// The number of bytes of an Ed25519 public key, and of the seed of a private key.
const ED25519_KEY_SIZE: usize = 32;

/// The number of bytes of an Ed25519 signature.
const ED25519_SIGNATURE_SIZE: usize = 64;

/// The number of lines a checkpoint has before its optional extension lines.
const CHECKPOINT_MANDATORY_LINES: usize = 3;

/// Why a key, note or checkpoint was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum NoteError {
    /// A key name is empty or holds whitespace or '+'.
    #[error("key name {name:?} is invalid: it must be non-empty and hold no whitespace and no '+'")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// A verifier key string is not `name+hex8+base64`.
    #[error("verifier key {key:?} is not of the form name+keyid+base64key")]
    MalformedVerifierKey {
        /// The rejected key string.
        key: String,
    },
    /// A private key string is not `PRIVATE+KEY+name+hex8+base64`; the string itself is not repeated.
    #[error("private key is not of the form PRIVATE+KEY+name+keyid+base64key")]
    MalformedPrivateKey,
    /// A key string holds a key of another signature type.
    #[error("key type 0x{signature_type:02x} is not supported; only Ed25519 (0x01) is")]
    UnsupportedKeyType {
        /// The type byte found.
        signature_type: u8,
    },
    /// The public key bytes are not a valid Ed25519 point.
    #[error("the public key is not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The key id written in a key string is not the one computed from the name and key.
    #[error("key string states key id {stated:08x} but the name and key give {computed:08x}")]
    KeyIdMismatch {
        /// The key id in the string.
        stated: u32,
        /// The key id computed from the name and key.
        computed: u32,
    },
    /// A note text is empty or does not end with a newline.
    #[error("a note text must be non-empty and end with a newline")]
    TextNotNewlineTerminated,
    /// A note holds an ASCII control character other than newline.
    #[error("the note holds control character U+{character:04X} at byte {offset}; only newline is allowed")]
    ControlCharacter {
        /// The code point of the character.
        character: u32,
        /// Its byte offset in the note.
        offset: usize,
    },
    /// No blank line separates the text from the signatures.
    #[error("the note has no blank line separating its text from its signatures")]
    MissingSignatureSeparator,
    /// The signature block after the blank line is empty.
    #[error("the note has no signature lines")]
    NoSignatures,
    /// A signature line is not `— <name> <base64>` followed by a newline.
    #[error("signature line {line:?} is not of the form \"— <key name> <base64 signature>\"")]
    MalformedSignatureLine {
        /// The rejected line.
        line: String,
    },
    /// The note carries more signature lines than allowed.
    #[error("the note has {count} signature lines, more than the {SIGNATURES_MAX} allowed")]
    TooManySignatures {
        /// The number of signature lines.
        count: usize,
    },
    /// A signature by a trusted key does not verify.
    #[error("the signature by trusted key {name} ({key_id:08x}) does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature is by any of the trusted keys.
    #[error("the note has no signature by a trusted key")]
    NoTrustedSignature,
    /// A checkpoint text has fewer than three lines or an empty line.
    #[error("a checkpoint must have an origin, a tree size and a root hash line, and no empty lines")]
    MalformedCheckpoint,
    /// The checkpoint's tree size is not a decimal u64 without leading zeros.
    #[error("checkpoint tree size {line:?} is not a decimal number without leading zeros")]
    InvalidTreeSize {
        /// The rejected line.
        line: String,
    },
    /// The checkpoint's root hash is not the base64 of exactly 32 bytes.
    #[error("checkpoint root hash {line:?} is not the base64 of a {HASH_SIZE}-byte hash")]
    InvalidRootHash {
        /// The rejected line.
        line: String,
    },
    /// A checkpoint's fields cannot be written as a checkpoint text (empty origin, or a newline in a field).
    #[error(
        "the checkpoint cannot be written as note text: its origin and extension lines must be non-empty single lines"
    )]
    UnrepresentableCheckpoint,
    /// The checkpoint is from another log.
    #[error("the checkpoint's origin is {found:?}, not the expected {expected:?}")]
    OriginMismatch {
        /// The origin the caller expects.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

/// Whether `name` may name a key: non-empty, no Unicode whitespace, no '+'.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|character| character.is_whitespace() || character == KEY_PART_SEPARATOR)
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) { Ok(()) } else { Err(NoteError::InvalidKeyName { name: name.to_owned() }) }
}

/// The key id of an Ed25519 key: the first four bytes, big-endian, of
/// `SHA-256(name || 0x0A || 0x01 || public key)`.
pub fn key_id(name: &str, public_key: &VerifyingKey) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([SIGNATURE_TYPE_ED25519])
        .chain_update(public_key.as_bytes())
        .finalize();
    u32::from_be_bytes(digest[..KEY_ID_SIZE].try_into().expect("a SHA-256 digest is longer than a key id"))
}

/// Rejects ASCII control characters other than newline, which a note must not contain.
fn check_no_control_characters(text: &str) -> Result<(), NoteError> {
    match text.char_indices().find(|&(_, character)| character < ' ' && character != '\n') {
        Some((offset, character)) => Err(NoteError::ControlCharacter { character: u32::from(character), offset }),
        None => Ok(()),
    }
}

/// Splits `name+hex8+base64` into its name, stated key id and decoded Ed25519 key bytes.
fn parse_key_parts(key: &str) -> Option<(&str, u32, [u8; ED25519_KEY_SIZE], u8)> {
    // The base64 part may itself hold '+', so only the first two separators count.
    let (name, rest) = key.split_once(KEY_PART_SEPARATOR)?;
    let (key_id_hex, key_base64) = rest.split_once(KEY_PART_SEPARATOR)?;
    if key_id_hex.len() != KEY_ID_HEX_DIGITS || !key_id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let stated_key_id = u32::from_str_radix(key_id_hex, 16).ok()?;
    let decoded = BASE64.decode(key_base64).ok()?;
    let (&signature_type, key_bytes) = decoded.split_first()?;
    let key_bytes: [u8; ED25519_KEY_SIZE] = key_bytes.try_into().ok()?;
    Some((name, stated_key_id, key_bytes, signature_type))
}

/// Checks the type byte, name and stated key id of a parsed key string.
fn check_key_parts(
    name: &str,
    stated_key_id: u32,
    signature_type: u8,
    public_key: &VerifyingKey,
) -> Result<u32, NoteError> {
    check_key_name(name)?;
    if signature_type != SIGNATURE_TYPE_ED25519 {
        return Err(NoteError::UnsupportedKeyType { signature_type });
    }
    let computed = key_id(name, public_key);
    if computed != stated_key_id {
        return Err(NoteError::KeyIdMismatch { stated: stated_key_id, computed });
    }
    Ok(computed)
}

fn encode_key_string(name: &str, key_id: u32, key_bytes: &[u8; ED25519_KEY_SIZE]) -> String {
    let mut typed_key = Vec::with_capacity(1 + ED25519_KEY_SIZE);
    typed_key.push(SIGNATURE_TYPE_ED25519);
    typed_key.extend_from_slice(key_bytes);
    format!("{name}{KEY_PART_SEPARATOR}{key_id:08x}{KEY_PART_SEPARATOR}{}", BASE64.encode(typed_key))
}

/// A named Ed25519 key that signs notes.
#[derive(Clone, Debug)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    signing_key: SigningKey,
}

impl NoteSigner {
    /// A signer for `key` under `name`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        check_key_name(name)?;
        Ok(NoteSigner { name: name.to_owned(), key_id: key_id(name, &key.verifying_key()), signing_key: key })
    }

    /// Parses `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`, checking the key id against the derived public key.
    pub fn parse_private(private_key: &str) -> Result<Self, NoteError> {
        let key = private_key.strip_prefix(PRIVATE_KEY_PREFIX).ok_or(NoteError::MalformedPrivateKey)?;
        let (name, stated_key_id, seed, signature_type) = parse_key_parts(key).ok_or(NoteError::MalformedPrivateKey)?;
        let signing_key = SigningKey::from_bytes(&seed);
        let key_id = check_key_parts(name, stated_key_id, signature_type, &signing_key.verifying_key())?;
        Ok(NoteSigner { name: name.to_owned(), key_id, signing_key })
    }

    /// The private key string `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`; a secret.
    pub fn private_key_string(&self) -> String {
        format!("{PRIVATE_KEY_PREFIX}{}", encode_key_string(&self.name, self.key_id, self.signing_key.as_bytes()))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 signing key (an organisation's key file also signs its ledger entries with it); a secret.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The verifier matching this signer.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key_id: self.key_id, key: self.signing_key.verifying_key() }
    }

    /// The signature line (with its final newline) this key adds to a note with `text`.
    pub fn signature_line(&self, text: &str) -> Result<String, NoteError> {
        check_note_text(text)?;
        let signature = self.signing_key.sign(text.as_bytes());
        let mut signature_bytes = Vec::with_capacity(KEY_ID_SIZE + ED25519_SIGNATURE_SIZE);
        signature_bytes.extend_from_slice(&self.key_id.to_be_bytes());
        signature_bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!("{SIGNATURE_LINE_PREFIX}{} {}\n", self.name, BASE64.encode(signature_bytes)))
    }

    /// The full signed note: `text`, a blank line, and this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        let signature_line = self.signature_line(text)?;
        Ok(format!("{text}\n{signature_line}"))
    }
}

/// A note text must be non-empty, end with a newline and hold no control characters but newlines.
fn check_note_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotNewlineTerminated);
    }
    check_no_control_characters(text)
}

/// A named Ed25519 public key that verifies notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_key_name(name)?;
        Ok(NoteVerifier { name: name.to_owned(), key_id: key_id(name, &key), key })
    }

    /// Parses `name+hex8+base64(0x01 || public key)`, checking the key id against the name and key.
    pub fn parse(verifier_key: &str) -> Result<Self, NoteError> {
        let (name, stated_key_id, key_bytes, signature_type) = parse_key_parts(verifier_key)
            .ok_or_else(|| NoteError::MalformedVerifierKey { key: verifier_key.to_owned() })?;
        // The type byte is checked before decoding so another key type is reported as such.
        if signature_type != SIGNATURE_TYPE_ED25519 {
            return Err(NoteError::UnsupportedKeyType { signature_type });
        }
        let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| NoteError::InvalidPublicKey)?;
        let key_id = check_key_parts(name, stated_key_id, signature_type, &key)?;
        Ok(NoteVerifier { name: name.to_owned(), key_id, key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Display for NoteVerifier {
    /// Writes the verifier key string `name+hex8+base64(0x01 || public key)`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&encode_key_string(&self.name, self.key_id, self.key.as_bytes()))
    }
}

impl std::str::FromStr for NoteVerifier {
    type Err = NoteError;

    fn from_str(verifier_key: &str) -> Result<Self, NoteError> {
        NoteVerifier::parse(verifier_key)
    }
}

/// A note whose signatures were checked: its text may now be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNote {
    /// The note text, including its final newline.
    pub text: String,
    /// The names of the trusted keys whose signatures verified, in note order, each once.
    pub verified_by: Vec<String>,
    /// The number of signatures by keys not among the verifiers, which were ignored.
    pub other_signatures: usize,
}

/// Checks a signed note against trusted keys and returns its text.
///
/// Signatures by unknown keys (whose name and key id do not both match a verifier) are ignored and
/// counted. Any signature by a trusted key that fails to verify rejects the whole note, and so does a
/// note without a single signature by a trusted key.
pub fn open_note(note: &str, verifiers: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    check_no_control_characters(note)?;
    // The text may hold blank lines itself; the last blank line is the separator.
    let separator = note.rfind("\n\n").ok_or(NoteError::MissingSignatureSeparator)?;
    let (text, signature_block) = (&note[..=separator], &note[separator + 2..]);
    if signature_block.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let Some(signature_block) = signature_block.strip_suffix('\n') else {
        return Err(NoteError::MalformedSignatureLine {
            line: signature_block.rsplit('\n').next().unwrap_or_default().to_owned(),
        });
    };
    let signature_count = signature_block.split('\n').count();
    if signature_count > SIGNATURES_MAX {
        return Err(NoteError::TooManySignatures { count: signature_count });
    }

    let mut verified_by: Vec<String> = Vec::new();
    let mut other_signatures = 0;
    for line in signature_block.split('\n') {
        let malformed = || NoteError::MalformedSignatureLine { line: line.to_owned() };
        let (name, signature_base64) =
            line.strip_prefix(SIGNATURE_LINE_PREFIX).and_then(|rest| rest.split_once(' ')).ok_or_else(malformed)?;
        if !is_valid_key_name(name) {
            return Err(malformed());
        }
        let signature_bytes = BASE64.decode(signature_base64).map_err(|_| malformed())?;
        let Some((key_id_bytes, signature_bytes)) = signature_bytes.split_first_chunk::<KEY_ID_SIZE>() else {
            return Err(malformed());
        };
        if signature_bytes.is_empty() {
            return Err(malformed());
        }
        let signed_key_id = u32::from_be_bytes(*key_id_bytes);
        let Some(verifier) =
            verifiers.iter().find(|verifier| verifier.name == name && verifier.key_id == signed_key_id)
        else {
            other_signatures += 1;
            continue;
        };
        let invalid = || NoteError::InvalidSignature { name: name.to_owned(), key_id: signed_key_id };
        let signature = Signature::from_slice(signature_bytes).map_err(|_| invalid())?;
        verifier.key.verify_strict(text.as_bytes(), &signature).map_err(|_| invalid())?;
        if !verified_by.iter().any(|verified| verified == name) {
            verified_by.push(name.to_owned());
        }
    }
    if verified_by.is_empty() {
        return Err(NoteError::NoTrustedSignature);
    }
    Ok(OpenedNote { text: text.to_owned(), verified_by, other_signatures })
}

/// A transparency log checkpoint: the log's identity, its size and its root hash at that size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, conventionally a schema-less URL such as `example.com/log42`.
    pub origin: String,
    /// The number of leaves in the tree.
    pub tree_size: u64,
    /// The RFC 9162 root hash of the tree.
    pub root: Hash,
    /// Opaque, non-empty lines after the root hash.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, tree_size: u64, root: Hash) -> Self {
        Checkpoint { origin: origin.to_owned(), tree_size, root, extensions: Vec::new() }
    }

    /// The note text: origin, tree size, base64 root hash and extension lines, each ending in a newline.
    pub fn to_note_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.tree_size, BASE64.encode(self.root));
        for extension in &self.extensions {
            text.push_str(extension);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint note text strictly: no empty lines, a canonical decimal size, a canonical base64
    /// root of exactly 32 bytes, and a final newline.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        check_no_control_characters(text)?;
        let body = text.strip_suffix('\n').ok_or(NoteError::TextNotNewlineTerminated)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < CHECKPOINT_MANDATORY_LINES || lines.iter().any(|line| line.is_empty()) {
            return Err(NoteError::MalformedCheckpoint);
        }
        let (origin, size_line, root_line) = (lines[0], lines[1], lines[2]);
        let canonical_decimal =
            size_line.bytes().all(|byte| byte.is_ascii_digit()) && (size_line == "0" || !size_line.starts_with('0'));
        let tree_size = size_line
            .parse::<u64>()
            .ok()
            .filter(|_| canonical_decimal)
            .ok_or_else(|| NoteError::InvalidTreeSize { line: size_line.to_owned() })?;
        // The standard engine rejects missing padding and non-zero trailing bits, so the encoding is canonical.
        let root = BASE64
            .decode(root_line)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| NoteError::InvalidRootHash { line: root_line.to_owned() })?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root,
            extensions: lines[CHECKPOINT_MANDATORY_LINES..].iter().map(|line| (*line).to_owned()).collect(),
        })
    }

    /// The signed checkpoint note. Fails if a field cannot be written as a checkpoint line (an empty origin,
    /// an empty extension, a newline or control character in either).
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        let text = self.to_note_text();
        // Parsing back what was written is the simplest complete check that the text means this checkpoint.
        match Checkpoint::parse(&text) {
            Ok(parsed) if parsed == *self => signer.sign(&text),
            _ => Err(NoteError::UnrepresentableCheckpoint),
        }
    }
}

/// Opens a checkpoint note signed by `verifier` and parses it, checking its origin if one is expected.
pub fn verify_checkpoint(
    note: &str,
    verifier: &NoteVerifier,
    expected_origin: Option<&str>,
) -> Result<Checkpoint, NoteError> {
    let opened = open_note(note, std::slice::from_ref(verifier))?;
    let checkpoint = Checkpoint::parse(&opened.text)?;
    if let Some(expected) = expected_origin
        && checkpoint.origin != expected
    {
        return Err(NoteError::OriginMismatch { expected: expected.to_owned(), found: checkpoint.origin });
    }
    Ok(checkpoint)
}
