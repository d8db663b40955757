//! Tests of C2SP signed notes and checkpoints against published vectors, tampering, and an independent Python verifier.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use ed25519_dalek::SigningKey;
use ledger::merkle::Hash;
use ledger::note::{
    Checkpoint, NoteError, NoteSigner, NoteVerifier, SIGNATURES_MAX, key_id, open_note, verify_checkpoint,
};

struct NoteVector {
    source: String,
    verifier_key: String,
    signer_key: Option<String>,
    note: String,
}

fn note_vectors() -> Vec<NoteVector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/note/vectors.json");
    let vectors: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| NoteVector {
            source: case["source"].as_str().unwrap().to_owned(),
            verifier_key: case["verifier_key"].as_str().unwrap().to_owned(),
            signer_key: case["signer_key"].as_str().map(str::to_owned),
            note: case["note"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// A deterministic test key; tests pass randomness in as bytes, as the crate does.
fn test_signer(name: &str, seed_byte: u8) -> NoteSigner {
    NoteSigner::new(name, SigningKey::from_bytes(&[seed_byte; 32])).unwrap()
}

fn test_checkpoint() -> Checkpoint {
    let root: Hash = core::array::from_fn(|position| position as u8);
    Checkpoint::new("aidtrail.example/log", 1_234_567, root)
}

#[test]
fn published_vectors_verify_strictly() {
    let vectors = note_vectors();
    assert_eq!(vectors.len(), 2);
    for vector in &vectors {
        let verifier =
            NoteVerifier::parse(&vector.verifier_key).unwrap_or_else(|error| panic!("{}: {error}", vector.source));
        assert_eq!(verifier.to_string(), vector.verifier_key, "{}", vector.source);
        let opened = open_note(&vector.note, std::slice::from_ref(&verifier))
            .unwrap_or_else(|error| panic!("{}: {error}", vector.source));
        assert_eq!(opened.verified_by, vec![verifier.name().to_owned()]);
        assert_eq!(opened.other_signatures, 0);
        assert!(vector.note.starts_with(&opened.text));
        assert!(opened.text.ends_with('\n'));
    }
    let spec = &vectors[0];
    assert_eq!(
        open_note(&spec.note, &[NoteVerifier::parse(&spec.verifier_key).unwrap()]).unwrap().text,
        "This is an example message.\n"
    );
}

#[test]
fn go_signer_key_parses_and_re_signs_identically() {
    let vector =
        note_vectors().into_iter().find(|vector| vector.signer_key.is_some()).expect("a vector with a signer key");
    let private_key = vector.signer_key.as_deref().unwrap();
    let signer = NoteSigner::parse_private(private_key).unwrap();
    assert_eq!(signer.private_key_string(), private_key);
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.verifier(), NoteVerifier::parse(&vector.verifier_key).unwrap());
    assert_eq!(signer.verifier().to_string(), vector.verifier_key);
    assert_eq!(key_id(signer.name(), signer.verifier().public_key()), signer.key_id());
    let text = open_note(&vector.note, &[signer.verifier()]).unwrap().text;
    // Ed25519 signatures are deterministic, so re-signing reproduces the note byte for byte.
    assert_eq!(signer.sign(&text).unwrap(), vector.note);
}

#[test]
fn any_single_byte_change_breaks_the_published_notes() {
    for vector in note_vectors() {
        let verifier = NoteVerifier::parse(&vector.verifier_key).unwrap();
        let bytes = vector.note.as_bytes();
        let mut tried = 0;
        for position in 0..bytes.len() {
            for bit in 0..8 {
                let mut tampered = bytes.to_vec();
                tampered[position] ^= 1 << bit;
                // A change that breaks UTF-8 cannot even be passed in as a note.
                let Ok(tampered) = String::from_utf8(tampered) else {
                    continue;
                };
                tried += 1;
                assert!(
                    open_note(&tampered, std::slice::from_ref(&verifier)).is_err(),
                    "{}: flipping bit {bit} of byte {position} still verifies: {tampered:?}",
                    vector.source
                );
            }
        }
        assert!(tried > bytes.len(), "{}: too few variants tried", vector.source);
    }
}

#[test]
fn signing_produces_the_specified_format() {
    let signer = test_signer("aidtrail.example/log", 7);
    let note = signer.sign("hello\n").unwrap();
    let (text, signature_line) = note.split_once("\n\n").unwrap();
    assert_eq!(text, "hello");
    let encoded = signature_line.strip_prefix("\u{2014} aidtrail.example/log ").unwrap().strip_suffix('\n').unwrap();
    use base64::Engine as _;
    let signature = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    assert_eq!(signature.len(), 4 + 64);
    assert_eq!(signature[..4], signer.key_id().to_be_bytes());

    // Texts may hold blank lines; the last blank line separates the signatures.
    let text_with_blank_lines = "first\n\nsecond\n\n";
    let note = signer.sign(text_with_blank_lines).unwrap();
    assert_eq!(open_note(&note, &[signer.verifier()]).unwrap().text, text_with_blank_lines);

    assert_eq!(signer.sign(""), Err(NoteError::TextNotNewlineTerminated));
    assert_eq!(signer.sign("no newline"), Err(NoteError::TextNotNewlineTerminated));
    assert_eq!(signer.sign("tab\there\n"), Err(NoteError::ControlCharacter { character: 9, offset: 3 }));
    assert!(signer.sign("carriage return\r\n").is_err());
}

#[test]
fn key_names_and_key_strings_are_validated() {
    let key = SigningKey::from_bytes(&[1; 32]);
    for name in ["", "with space", "with+plus", "tab\tname", "nbsp\u{a0}name", "line\nbreak"] {
        assert_eq!(
            NoteSigner::new(name, key.clone()).err(),
            Some(NoteError::InvalidKeyName { name: name.to_owned() }),
            "{name:?}"
        );
    }
    let signer = test_signer("example.org/key", 2);
    let verifier_key = signer.verifier().to_string();
    assert_eq!(NoteVerifier::parse(&verifier_key), Ok(signer.verifier()));
    assert_eq!(verifier_key.parse::<NoteVerifier>(), Ok(signer.verifier()));
    assert_eq!(NoteSigner::parse_private(&signer.private_key_string()).unwrap().verifier(), signer.verifier());

    let (name, rest) = verifier_key.split_once('+').unwrap();
    let (key_id_hex, key_base64) = rest.split_once('+').unwrap();
    let wrong_id = format!("{name}+{:08x}+{key_base64}", signer.key_id() ^ 1);
    assert_eq!(
        NoteVerifier::parse(&wrong_id),
        Err(NoteError::KeyIdMismatch { stated: signer.key_id() ^ 1, computed: signer.key_id() })
    );
    let renamed = format!("other.org/key+{key_id_hex}+{key_base64}");
    assert!(matches!(NoteVerifier::parse(&renamed), Err(NoteError::KeyIdMismatch { .. })));
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut typed_key = engine.decode(key_base64).unwrap();
    typed_key[0] = 0x02;
    assert_eq!(
        NoteVerifier::parse(&format!("{name}+{key_id_hex}+{}", engine.encode(&typed_key))),
        Err(NoteError::UnsupportedKeyType { signature_type: 2 })
    );
    for malformed in [
        "",
        "name",
        "name+",
        &format!("{name}+{key_id_hex}"),
        &format!("{name}+{}+{key_base64}", &key_id_hex[..7]),
        &format!("{name}+{key_id_hex}0+{key_base64}"),
        &format!("{name}+{key_id_hex}+{}", &key_base64[..key_base64.len() - 4]),
        &format!("{name}+{key_id_hex}+{key_base64}AAAA"),
        &format!("{name}+{key_id_hex}+!{key_base64}"),
    ] {
        assert!(
            matches!(NoteVerifier::parse(malformed), Err(NoteError::MalformedVerifierKey { .. })),
            "{malformed:?}: {:?}",
            NoteVerifier::parse(malformed)
        );
    }
    for malformed in [
        "",
        "PRIVATE+KEY+",
        "PRIVATE+KEY",
        &verifier_key,
        &signer.private_key_string().replacen("PRIVATE", "private", 1),
    ] {
        assert!(NoteSigner::parse_private(malformed).is_err(), "{malformed:?}");
    }
}

#[test]
fn open_note_handles_known_unknown_and_bad_signatures() {
    let log = test_signer("aidtrail.example/log", 3);
    let witness = test_signer("witness.example/w1", 4);
    let text = "some text\n";
    let note = format!("{}{}", log.sign(text).unwrap(), witness.signature_line(text).unwrap());

    let opened = open_note(&note, &[log.verifier()]).unwrap();
    assert_eq!(opened.verified_by, vec!["aidtrail.example/log".to_owned()]);
    assert_eq!(opened.other_signatures, 1);
    let opened = open_note(&note, &[witness.verifier(), log.verifier()]).unwrap();
    assert_eq!(opened.verified_by, vec!["aidtrail.example/log".to_owned(), "witness.example/w1".to_owned()]);
    assert_eq!(open_note(&note, &[test_signer("third", 5).verifier()]), Err(NoteError::NoTrustedSignature));
    assert_eq!(open_note(&note, &[]), Err(NoteError::NoTrustedSignature));

    // Same name, other key: an unknown key, ignored rather than failed.
    let impostor = test_signer("aidtrail.example/log", 6);
    assert_eq!(open_note(&note, &[impostor.verifier()]), Err(NoteError::NoTrustedSignature));

    // A known key's signature over another text fails the whole note.
    let other_signature = log.signature_line("other text\n").unwrap();
    let forged = format!("{text}\n{other_signature}");
    assert_eq!(
        open_note(&forged, &[log.verifier()]),
        Err(NoteError::InvalidSignature { name: "aidtrail.example/log".into(), key_id: log.key_id() })
    );
    let forged_with_good = format!("{note}{other_signature}");
    assert!(matches!(open_note(&forged_with_good, &[log.verifier()]), Err(NoteError::InvalidSignature { .. })));
}

#[test]
fn malformed_notes_are_rejected() {
    let signer = test_signer("k", 9);
    let verifiers = [signer.verifier()];
    let note = signer.sign("text\n").unwrap();
    let signature_line = signer.signature_line("text\n").unwrap();

    assert_eq!(open_note("text\n", &verifiers), Err(NoteError::MissingSignatureSeparator));
    assert_eq!(open_note("text\n\n", &verifiers), Err(NoteError::NoSignatures));
    assert!(matches!(
        open_note(note.trim_end_matches('\n'), &verifiers),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
    // A trailing blank line is the last blank line, so the signatures become text and none remain.
    assert_eq!(open_note(&format!("text\n\n{signature_line}\n"), &verifiers), Err(NoteError::NoSignatures));
    assert!(matches!(
        open_note(&note.replace('\u{2014}', "-"), &verifiers),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
    assert!(matches!(
        open_note(&note.replace("\u{2014} k ", "\u{2014} k+1 "), &verifiers),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
    assert!(matches!(
        open_note("text\n\n\u{2014} k AAAA\n", &verifiers),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
    assert!(matches!(
        open_note("text\n\n\u{2014} k not-base64\n", &verifiers),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
    assert!(matches!(
        open_note(&format!("te\u{7}xt\n{}", &note[4..]), &verifiers),
        Err(NoteError::ControlCharacter { character: 7, .. })
    ));
    assert!(matches!(
        open_note(&note.replace('\n', "\r\n"), &verifiers),
        Err(NoteError::ControlCharacter { character: 13, .. })
    ));

    let mut crowded = note.clone();
    for signer_number in 0..SIGNATURES_MAX {
        crowded.push_str(&test_signer(&format!("w{signer_number}"), 10).signature_line("text\n").unwrap());
    }
    assert_eq!(open_note(&crowded, &verifiers), Err(NoteError::TooManySignatures { count: SIGNATURES_MAX + 1 }));
    let at_limit: String = crowded.lines().take(2 + SIGNATURES_MAX).collect::<Vec<_>>().join("\n") + "\n";
    assert_eq!(open_note(&at_limit, &verifiers).unwrap().other_signatures, SIGNATURES_MAX - 1);
}

#[test]
fn checkpoints_round_trip_and_parse_strictly() {
    let spec_text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let checkpoint = Checkpoint::parse(spec_text).unwrap();
    assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
    assert_eq!(checkpoint.tree_size, 20_852_163);
    assert!(checkpoint.extensions.is_empty());
    assert_eq!(checkpoint.to_note_text(), spec_text);

    let mut with_extensions = test_checkpoint();
    with_extensions.extensions = vec!["first extension".into(), "second".into()];
    let text = with_extensions.to_note_text();
    assert!(text.ends_with("\nfirst extension\nsecond\n"));
    assert_eq!(Checkpoint::parse(&text), Ok(with_extensions));

    let zero = Checkpoint::new("o", 0, [0; 32]);
    assert_eq!(Checkpoint::parse(&zero.to_note_text()), Ok(zero));
    let max = Checkpoint::new("o", u64::MAX, [0xff; 32]);
    assert_eq!(Checkpoint::parse(&max.to_note_text()), Ok(max));

    let root_line = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    for (text, expected) in [
        ("o\n1\n", NoteError::MalformedCheckpoint),
        (&format!("\n1\n{root_line}\n") as &str, NoteError::MalformedCheckpoint),
        (&format!("o\n1\n{root_line}\n\n"), NoteError::MalformedCheckpoint),
        (&format!("o\n1\n{root_line}\next\n\n"), NoteError::MalformedCheckpoint),
        (&format!("o\n1\n{root_line}"), NoteError::TextNotNewlineTerminated),
        (&format!("o\n01\n{root_line}\n"), NoteError::InvalidTreeSize { line: "01".into() }),
        (&format!("o\n00\n{root_line}\n"), NoteError::InvalidTreeSize { line: "00".into() }),
        (&format!("o\n+1\n{root_line}\n"), NoteError::InvalidTreeSize { line: "+1".into() }),
        (&format!("o\n-1\n{root_line}\n"), NoteError::InvalidTreeSize { line: "-1".into() }),
        (&format!("o\n 1\n{root_line}\n"), NoteError::InvalidTreeSize { line: " 1".into() }),
        (
            &format!("o\n18446744073709551616\n{root_line}\n"),
            NoteError::InvalidTreeSize { line: "18446744073709551616".into() },
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
            NoteError::InvalidRootHash { line: "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I".into() },
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",
            NoteError::InvalidRootHash { line: "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=".into() },
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n",
            NoteError::InvalidRootHash { line: "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx".into() },
        ),
    ] {
        assert_eq!(Checkpoint::parse(text), Err(expected), "{text:?}");
    }
}

#[test]
fn checkpoints_sign_and_verify() {
    let signer = test_signer("aidtrail.example/log", 11);
    let checkpoint = test_checkpoint();
    let note = checkpoint.sign(&signer).unwrap();
    assert!(note.starts_with(&checkpoint.to_note_text()));
    let verifier = signer.verifier();
    assert_eq!(verify_checkpoint(&note, &verifier, Some("aidtrail.example/log")), Ok(checkpoint.clone()));
    assert_eq!(verify_checkpoint(&note, &verifier, None), Ok(checkpoint.clone()));
    assert_eq!(
        verify_checkpoint(&note, &verifier, Some("other.example/log")),
        Err(NoteError::OriginMismatch { expected: "other.example/log".into(), found: "aidtrail.example/log".into() })
    );
    assert_eq!(
        verify_checkpoint(&note, &test_signer("aidtrail.example/log", 12).verifier(), None),
        Err(NoteError::NoTrustedSignature)
    );
    // A correctly signed note that is not a checkpoint is still rejected.
    let not_a_checkpoint = signer.sign("just text\n").unwrap();
    assert_eq!(verify_checkpoint(&not_a_checkpoint, &verifier, None), Err(NoteError::MalformedCheckpoint));

    for unrepresentable in [
        Checkpoint::new("", 1, [0; 32]),
        Checkpoint::new("two\nlines", 1, [0; 32]),
        Checkpoint::new("tab\there", 1, [0; 32]),
        Checkpoint { extensions: vec![String::new()], ..test_checkpoint() },
        Checkpoint { extensions: vec!["a\nb".into()], ..test_checkpoint() },
    ] {
        assert_eq!(unrepresentable.sign(&signer), Err(NoteError::UnrepresentableCheckpoint), "{unrepresentable:?}");
    }
}

/// Verifies a signed note with Python's `cryptography` package, independently of this crate: parses the
/// verifier key, recomputes the key id, finds the matching signature line and checks the Ed25519 signature.
const PYTHON_NOTE_VERIFIER: &str = r#"
import base64, hashlib, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

name, key_id_hex, key_base64 = sys.argv[1].split("+", 2)
typed_key = base64.b64decode(key_base64, validate=True)
if len(typed_key) != 33 or typed_key[0] != 1:
    sys.exit("not an Ed25519 verifier key")
key_id = hashlib.sha256(name.encode() + b"\n" + typed_key).digest()[:4]
if key_id.hex() != key_id_hex:
    sys.exit("key id mismatch")
note = sys.stdin.buffer.read().decode("utf-8")
separator = note.rindex("\n\n")
text, signature_block = note[: separator + 1], note[separator + 2 :]
prefix = "\u2014 " + name + " "
for line in signature_block.split("\n"):
    if not line.startswith(prefix):
        continue
    signature = base64.b64decode(line[len(prefix) :], validate=True)
    if signature[:4] != key_id:
        continue
    try:
        Ed25519PublicKey.from_public_bytes(typed_key[1:]).verify(signature[4:], text.encode())
    except InvalidSignature:
        sys.exit("bad signature")
    print("OK")
    sys.exit(0)
sys.exit("no signature by this key")
"#;

fn python_with_cryptography_available() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography.hazmat.primitives.asymmetric.ed25519"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs the Python verifier; returns whether it printed OK, and its error output.
fn python_verifies(note: &str, verifier_key: &str) -> (bool, String) {
    let mut child = Command::new("python3")
        .args(["-c", PYTHON_NOTE_VERIFIER, verifier_key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child.stdin.take().unwrap().write_all(note.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said_ok = output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "OK";
    (said_ok, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn python_cryptography_verifies_our_checkpoints() {
    if !python_with_cryptography_available() {
        assert!(std::env::var_os("CI").is_none(), "python3 with cryptography is required in CI");
        println!("skipped: python3 with cryptography not available");
        return;
    }
    let signer = test_signer("aidtrail.example/log", 21);
    let verifier_key = signer.verifier().to_string();
    let note = test_checkpoint().sign(&signer).unwrap();
    let (ok, errors) = python_verifies(&note, &verifier_key);
    assert!(ok, "Python rejected our note: {errors}\n{note}");

    // The published vector too, as a check of the script itself.
    let vector = &note_vectors()[1];
    assert!(python_verifies(&vector.note, &vector.verifier_key).0);

    let tampered = note.replacen("1234567", "1234568", 1);
    let (ok, errors) = python_verifies(&tampered, &verifier_key);
    assert!(!ok, "Python accepted a tampered note");
    assert!(errors.contains("bad signature"), "{errors}");
    let other_key = test_signer("aidtrail.example/log", 22).verifier().to_string();
    assert!(!python_verifies(&note, &other_key).0);
}
