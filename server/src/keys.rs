//! Key files: an Ed25519 signing key in the C2SP signed-note private-key form
//! (`PRIVATE+KEY+name+hexid+base64`), written with 0600 permissions and refused when others can read it.

use std::fs::OpenOptions;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use ledger::note::NoteSigner;

/// Writes a new key file; refuses to overwrite an existing one.
pub fn write_key_file(path: &Path, signer: &NoteSigner) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} already exists; refusing to overwrite a key file", path.display())
        }
        _ => anyhow::Error::new(error).context(format!("creating the key file {}", path.display())),
    })?;
    writeln!(file, "{}", signer.private_key_string()).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()?;
    Ok(())
}

/// Reads a key file, checking that only its owner can read it.
pub fn read_key_file(path: &Path) -> anyhow::Result<NoteSigner> {
    let metadata = std::fs::metadata(path).with_context(|| format!("reading the key file {}", path.display()))?;
    #[cfg(unix)]
    {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "the key file {} has permissions {mode:o}: others can read it; run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?;
    parse_private_key(text.trim())
        .with_context(|| format!("the key file {} is not a valid aidtrail key", path.display()))
}

/// Parses a private key string (`PRIVATE+KEY+name+hexid+base64`).
pub fn parse_private_key(text: &str) -> anyhow::Result<NoteSigner> {
    NoteSigner::parse_private(text).map_err(|error| anyhow::anyhow!("{error}"))
}

/// A fresh key named `name`, from the operating system's randomness.
pub fn generate(name: &str) -> anyhow::Result<NoteSigner> {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    NoteSigner::new(name, SigningKey::from_bytes(&seed)).map_err(|error| anyhow::anyhow!("{error}"))
}

/// The checkpoint-signing key: from the environment variable, else the given file, else the data
/// directory's `checkpoint.key`, created on first start.
pub fn checkpoint_signer(
    from_environment: Option<&str>,
    key_file: Option<&Path>,
    data_dir: &Path,
    origin: &str,
) -> anyhow::Result<NoteSigner> {
    if let Some(text) = from_environment {
        return parse_private_key(text.trim()).context("AIDTRAIL_CHECKPOINT_KEY is not a valid private key");
    }
    if let Some(path) = key_file {
        return read_key_file(path);
    }
    let path = data_dir.join("checkpoint.key");
    if path.exists() {
        return read_key_file(&path);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let signer = generate(origin)?;
    write_key_file(&path, &signer)?;
    tracing::info!(path = %path.display(), "created a new checkpoint-signing key");
    Ok(signer)
}
