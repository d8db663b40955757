//! `aidtrail private`: the recording organisation's private store (`crate::private_store`): people, the
//! spends that concern each of them, and erasure.
//!
//! Erasure order: the tombstone is signed and kept in the store as pending, then sent; only once the log
//! has acknowledged it (receipt checked) is the person's data deleted, in one transaction. If the log
//! refuses the tombstone, the pending entry is dropped and nothing is erased; if the answer is lost
//! (network, crash), the data stays and running the same command again resends the same signed entry (the
//! log accepts it once), then deletes. So a failure never leaves data erased without a tombstone, nor a
//! tombstone whose data survives once the command has succeeded.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ledger::trace::VoucherView;
use ledger::{Body, Entry, EntryId, ErasureReason, OrgId, SignedEntry, VoucherId, erasure_digest};

use super::client::{Client, ServerError, check_receipt};
use super::record::{
    connect, explain_rejection, init_cli_tracing, latest_timestamp_ms, now_ms, parse_org, parse_voucher,
};
use crate::api::entries::ReceiptView;
use crate::private_store::{PrivateStore, VoucherGift};

#[derive(Args, Debug)]
pub struct PrivateArgs {
    #[command(subcommand)]
    pub command: PrivateCommand,
}

/// Where the private store is.
#[derive(Args, Debug, Clone)]
pub struct StoreArg {
    /// The private store's file (never the log's database).
    #[arg(long, env = "AIDTRAIL_PRIVATE_STORE")]
    pub store: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum PrivateCommand {
    /// Create an empty private store.
    Init {
        #[command(flatten)]
        store: StoreArg,
    },
    /// The people in the store.
    Person {
        #[command(subcommand)]
        command: PersonCommand,
    },
    /// Health vouchers handed to people.
    Voucher {
        #[command(subcommand)]
        command: VoucherCommand,
    },
    /// A person's beneficiary spends (entry, programme, commitment, and the salt and pseudonym that open
    /// it) and the vouchers they hold.
    Links {
        #[command(flatten)]
        store: StoreArg,
        /// The organisation's identifier of the person.
        person: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Erase a person: append a signed tombstone (kind 24) to the log, then delete the person, their salts
    /// and pseudonyms from the store.
    Erase {
        #[command(flatten)]
        store: StoreArg,
        /// The organisation's identifier of the person.
        person: String,
        /// The server's URL, e.g. http://127.0.0.1:8080/.
        #[arg(long)]
        server: String,
        /// The key file of the organisation that recorded the spends.
        #[arg(long)]
        key: PathBuf,
        /// The organisation (default: the key's name).
        #[arg(long = "as", value_name = "ORG_ID", value_parser = parse_org)]
        author: Option<OrgId>,
        /// Why: data_subject_request, consent_withdrawn, retention_expired or legal_obligation.
        #[arg(long, default_value = "data_subject_request")]
        reason: ErasureReason,
        /// Pin the log's checkpoint verifier key (`name+hexid+base64`).
        #[arg(long, value_name = "VERIFIER_KEY", env = "AIDTRAIL_LOG_KEY")]
        log_key: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum VoucherCommand {
    /// Record who received which voucher: one VOUCHER PERSON pair, or a CSV file of `voucher,person` lines.
    /// Each voucher is checked against the log first (issued, not redeemed, not expired); all are recorded
    /// or none.
    Give {
        #[command(flatten)]
        store: StoreArg,
        /// The server's URL, e.g. http://127.0.0.1:8080/.
        #[arg(long)]
        server: String,
        /// The voucher's id, 32 hex digits.
        #[arg(value_parser = parse_voucher, requires = "person", required_unless_present = "csv")]
        voucher: Option<VoucherId>,
        /// The organisation's identifier of the person who received it.
        person: Option<String>,
        /// A CSV file of `voucher,person` lines (a header line `voucher,person` is allowed).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["voucher", "person"])]
        csv: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PersonCommand {
    /// Add a person under the organisation's own identifier (a file number), with an optional name.
    Add {
        #[command(flatten)]
        store: StoreArg,
        person: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List the people.
    List {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: PrivateArgs) -> anyhow::Result<()> {
    init_cli_tracing();
    match args.command {
        PrivateCommand::Init { store } => {
            let opened = PrivateStore::create(&store.store).await?;
            opened.close().await;
            println!(
                "created the private store {} (keep it off the log's machine; back it up privately)",
                store.store.display()
            );
        }
        PrivateCommand::Person { command: PersonCommand::Add { store, person, name } } => {
            let opened = PrivateStore::open(&store.store).await?;
            let result = opened.add_person(&person, name.as_deref()).await;
            opened.close().await;
            result?;
            println!("added {person}");
        }
        PrivateCommand::Person { command: PersonCommand::List { store, json } } => {
            let opened = PrivateStore::open(&store.store).await?;
            let persons = opened.persons().await;
            opened.close().await;
            let persons = persons?;
            if json {
                println!("{}", serde_json::json!({ "persons": persons }));
            } else {
                for person in persons {
                    println!("{}\t{}", person.person_id, person.name.unwrap_or_default());
                }
            }
        }
        PrivateCommand::Voucher { command: VoucherCommand::Give { store, server, voucher, person, csv } } => {
            let pairs = match (voucher, person, csv) {
                (Some(voucher), Some(person), None) => vec![(voucher, person)],
                (None, None, Some(csv)) => read_voucher_pairs(&csv)?,
                _ => bail!("give one VOUCHER PERSON pair or --csv FILE"),
            };
            let opened = PrivateStore::open(&store.store).await?;
            let result = give_vouchers(&opened, &server, pairs).await;
            opened.close().await;
            let given = result?;
            println!("recorded {given} voucher holder(s) in {}", store.store.display());
        }
        PrivateCommand::Links { store, person, json } => {
            let opened = PrivateStore::open(&store.store).await?;
            let found = opened.person(&person).await;
            let links = opened.links(&person).await;
            let vouchers = opened.vouchers_of(&person).await;
            opened.close().await;
            if found?.is_none() {
                bail!("person {person:?} is not in the private store {}", store.store.display());
            }
            let (links, vouchers) = (links?, vouchers?);
            if json {
                println!("{}", serde_json::json!({ "person": person, "spends": links, "vouchers": vouchers }));
            } else {
                println!("{} beneficiary spend(s) of {person}:", links.len());
                for link in links {
                    println!(
                        "  index {} entry {} by {} programme {}: commitment {} (salt {}, pseudonym {})",
                        link.log_index,
                        link.entry_id,
                        link.organisation,
                        link.programme.as_deref().unwrap_or("-"),
                        link.commitment,
                        link.salt,
                        link.pseudonym
                    );
                }
                println!("{} voucher(s) held by {person}:", vouchers.len());
                for holding in vouchers {
                    println!(
                        "  voucher {} of issue {} by {} programme {}",
                        holding.voucher, holding.issue, holding.organisation, holding.programme
                    );
                }
            }
        }
        PrivateCommand::Erase { store, person, server, key, author, reason, log_key, json } => {
            let opened = PrivateStore::open(&store.store).await?;
            let result = erase(&opened, &person, &server, &key, author, reason, log_key.as_deref(), json).await;
            opened.close().await;
            result?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn erase(
    store: &PrivateStore,
    person: &str,
    server: &str,
    key: &std::path::Path,
    author: Option<OrgId>,
    reason: ErasureReason,
    log_key: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    if store.person(person).await?.is_none() {
        bail!("person {person:?} is not in the private store {}", store.path().display());
    }
    let signer = crate::keys::read_key_file(key)?;
    let author = match author {
        Some(author) => author,
        None => OrgId::new(signer.name()).map_err(|_| {
            anyhow::anyhow!("the key's name {:?} is not an organisation id: pass --as ORG_ID", signer.name())
        })?,
    };
    let others: Vec<String> =
        store.organisations_of(person).await?.into_iter().filter(|org| org != author.as_str()).collect();
    if !others.is_empty() {
        bail!(
            "spends of {person:?} were recorded by {}, not only by {author}: each organisation erases with its own key",
            others.join(", ")
        );
    }
    let log = connect(server, log_key, None).await?;
    let origin = log.info.origin.clone();

    // Resume an erasure whose tombstone was signed earlier, or sign a new one.
    let (signed, resumed) = match store.pending_erasure(person).await? {
        Some(bytes) => {
            let signed = SignedEntry::decode(&bytes).context("the pending tombstone in the private store")?;
            if signed.entry().author != author {
                bail!("the pending erasure of {person:?} was signed by {}, not {author}", signed.entry().author);
            }
            (signed, true)
        }
        None => {
            let commitments = store.commitments(person, &author).await?;
            if commitments.is_empty() {
                // Nothing public commits to the person: a voucher's id is random and its holder is known only
                // here, so deleting the link is the whole erasure.
                let erased = store.erase_person(person).await?;
                debug_assert_eq!(erased.spend_links, 0);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "status": "erased",
                            "index": null,
                            "count": 0,
                            "links_deleted": 0,
                            "vouchers_deleted": erased.vouchers,
                            "resumed": false,
                        })
                    );
                } else {
                    println!(
                        "{person} had no beneficiary spend in the log: erased from the private store with {} voucher \
                         holding(s), no tombstone needed",
                        erased.vouchers
                    );
                }
                return Ok(());
            }
            let count = u32::try_from(commitments.len()).context("too many spends for one erasure")?;
            let mut random = [0u8; 32];
            rand::fill(&mut random);
            let digest = erasure_digest(&random, &commitments);
            // The random value is never written anywhere: once it is gone, nobody can test a commitment
            // against the digest.
            random.fill(0);
            let mut id = [0u8; 16];
            rand::fill(&mut id);
            let timestamp_ms = now_ms().max(latest_timestamp_ms(&log.client, &author).await?);
            let entry = Entry {
                entry_id: EntryId(id),
                author: author.clone(),
                timestamp_ms,
                body: Body::Erasure { count, digest, reason },
            };
            let signed = SignedEntry::sign(entry, &origin, signer.signing_key())
                .map_err(|error| anyhow::anyhow!("cannot sign the tombstone: {error}"))?;
            store.save_pending_erasure(person, signed.bytes()).await?;
            (signed, false)
        }
    };

    let receipt: ReceiptView = match log.client.submit(&signed).await {
        Ok(receipt) => receipt,
        Err(error) => {
            if error.downcast_ref::<ServerError>().is_some_and(|refusal| (400..500).contains(&refusal.status)) {
                store.drop_pending_erasure(person).await?;
                return Err(explain_rejection(error).context(format!(
                    "the log refused the tombstone: nothing of {person:?} was erased from the private store"
                )));
            }
            return Err(error.context(format!(
                "the tombstone could not be sent: nothing of {person:?} was erased yet; run the same command again \
                 to resend it and finish"
            )));
        }
    };
    check_receipt(&receipt, &signed, &log.verifier, &origin).context(
        "the server answered, but its receipt does not prove that the tombstone is in the log: nothing was erased yet",
    )?;
    let erased = store.erase_person(person).await?;
    let Body::Erasure { count, .. } = &signed.entry().body else { unreachable!("a tombstone is an erasure") };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "status": "erased",
                "index": receipt.index,
                "entry_id": signed.entry().entry_id.to_hex(),
                "count": count,
                "links_deleted": erased.spend_links,
                "vouchers_deleted": erased.vouchers,
                "resumed": resumed,
                "proof_checked": true,
            })
        );
    } else {
        println!(
            "tombstone recorded at index {} (entry {}; proof checked): the beneficiary data behind {count} spend(s) is erased",
            receipt.index,
            signed.entry().entry_id
        );
        println!(
            "deleted {person}, {} spend link(s) and {} voucher holding(s) from {}",
            erased.spend_links,
            erased.vouchers,
            store.path().display()
        );
    }
    Ok(())
}

/// Reads `voucher,person` lines; a first line `voucher,person` is a header. Blank lines are skipped.
fn read_voucher_pairs(path: &std::path::Path) -> anyhow::Result<Vec<(VoucherId, String)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut pairs = Vec::new();
    for (number, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}, line {}", path.display(), number + 1))?;
        if number == 0 && record.iter().map(str::to_ascii_lowercase).eq(["voucher", "person"]) {
            continue;
        }
        let (Some(voucher), Some(person), None) = (record.get(0), record.get(1), record.get(2)) else {
            bail!("{}, line {}: expected two fields, voucher,person", path.display(), number + 1);
        };
        let voucher = parse_voucher(voucher)
            .map_err(|error| anyhow::anyhow!("{}, line {}: {error}", path.display(), number + 1))?;
        pairs.push((voucher, person.to_string()));
    }
    if pairs.is_empty() {
        bail!("{} lists no voucher", path.display());
    }
    Ok(pairs)
}

/// Checks each voucher against the log, then records all the holders in one transaction.
async fn give_vouchers(store: &PrivateStore, server: &str, pairs: Vec<(VoucherId, String)>) -> anyhow::Result<usize> {
    let client = Client::new(server)?;
    let now = now_ms();
    let mut gifts = Vec::with_capacity(pairs.len());
    for (voucher, person_id) in pairs {
        let view: VoucherView = match client.get_json(&format!("/api/v1/vouchers/{voucher}")).await {
            Ok(view) => view,
            Err(error) if error.downcast_ref::<ServerError>().is_some_and(|refusal| refusal.status == 404) => {
                bail!("voucher {voucher} was not issued in the log at {server}: nothing was recorded")
            }
            Err(error) => return Err(error.context(format!("asking the log about voucher {voucher}"))),
        };
        if view.status != "issued" {
            bail!("voucher {voucher} is already {}: nothing was recorded", view.status);
        }
        if view.expires_at_ms <= now {
            bail!("voucher {voucher} has expired: nothing was recorded");
        }
        gifts.push(VoucherGift {
            voucher,
            person_id,
            organisation: view.issuer,
            programme: view.programme,
            issue: view.issue,
        });
    }
    store.give_vouchers(&gifts).await?;
    Ok(gifts.len())
}
