//! `aidtrail key generate` and `aidtrail key show`: an organisation's (or the operator's) Ed25519 key in
//! a file only its owner can read.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::keys::{generate, read_key_file, write_key_file};

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a new key file (permissions 0600; an existing file is never overwritten).
    Generate {
        /// Where to write the key.
        #[arg(long, short)]
        out: PathBuf,
        /// The key's name: the organisation id (or, for a checkpoint key, the log origin).
        #[arg(long)]
        name: String,
    },
    /// Print a key file's public key (hex, for registration) and its note verifier key.
    Show {
        /// The key file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: KeyArgs) -> anyhow::Result<()> {
    match args.command {
        KeyCommand::Generate { out, name } => {
            let signer = generate(&name)?;
            write_key_file(&out, &signer)?;
            println!("key written to {}", out.display());
            println!("public key: {}", hex::encode(signer.verifier().public_key().as_bytes()));
            println!("verifier key: {}", signer.verifier());
        }
        KeyCommand::Show { file, json } => {
            let signer = read_key_file(&file)?;
            let public_key = hex::encode(signer.verifier().public_key().as_bytes());
            if json {
                println!(
                    "{}",
                    serde_json::json!({"name": signer.name(), "public_key": public_key, "verifier_key": signer.verifier().to_string()})
                );
            } else {
                println!("name: {}", signer.name());
                println!("public key: {public_key}");
                println!("verifier key: {}", signer.verifier());
            }
        }
    }
    Ok(())
}
