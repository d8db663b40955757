//! The private store of an organisation that pays beneficiaries: who the people are, one random HMAC key per
//! programme, for each beneficiary spend the salt and pseudonym that open its commitment
//! (`docs/FORMAT.md` §11), and who holds each health voucher it handed out. It is its own SQLite file, next
//! to the organisation's command line: never the log's database and never served. `docs/PRIVACY.md` says
//! who can link what.
//!
//! Erasing a person deletes their rows with `secure_delete` on (SQLite overwrites deleted content with
//! zeros) and a rollback journal that is deleted at each commit, so the erased bytes survive neither in the
//! file's free pages nor in a journal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use hmac::{Hmac, KeyInit, Mac};
use ledger::{Commitment, EntryId, OrgId, ProgrammeId, VoucherId, beneficiary_commitment};
use sha2::Sha256;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// The longest person identifier or name, in bytes.
pub const PERSON_TEXT_BYTES_MAX: usize = 200;

/// A person's pseudonym in one programme: HMAC-SHA256 keyed with the programme's key, over the person's
/// identifier. Equal for one person within a programme; unrelated across programmes and, without the key,
/// unrelated to the identifier.
pub fn pseudonym(programme_key: &[u8; 32], person_id: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(programme_key).expect("HMAC takes keys of any length");
    mac.update(person_id.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Checks a person identifier or name: 1 to 200 bytes, no control characters, no surrounding white space.
pub fn check_person_text(what: &'static str, text: &str) -> anyhow::Result<()> {
    ledger::types::check_text(what, text, PERSON_TEXT_BYTES_MAX, false).map_err(|error| anyhow::anyhow!("{error}"))
}

/// The programme column's value for a spend without a programme.
const NO_PROGRAMME: &str = "";

/// A person as the organisation knows them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Person {
    pub person_id: String,
    pub name: Option<String>,
    pub added_at_ms: u64,
}

/// A fresh commitment for a spend to a person, before the log has acknowledged the spend.
#[derive(Clone)]
pub struct PreparedLink {
    pub person_id: String,
    pub programme: Option<ProgrammeId>,
    pub pseudonym: [u8; 32],
    pub salt: [u8; 32],
    pub commitment: Commitment,
}

impl std::fmt::Debug for PreparedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedLink({})", self.commitment)
    }
}

/// One beneficiary spend of a person, as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SpendLink {
    pub commitment: String,
    pub organisation: String,
    /// The programme whose key made the pseudonym (`null` for spends without a programme).
    pub programme: Option<String>,
    pub pseudonym: String,
    /// With the pseudonym, it opens the commitment: `SHA-256(prefix || salt || pseudonym)`.
    pub salt: String,
    pub entry_id: String,
    pub log_index: u64,
    pub recorded_at_ms: u64,
}

/// A health voucher handed to a person, as the store holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VoucherHolding {
    pub voucher: String,
    /// The issuing organisation and programme, as the log says.
    pub organisation: String,
    pub programme: String,
    /// The entry id of the voucher's issue.
    pub issue: String,
    pub given_at_ms: u64,
}

/// A voucher of the log handed to a person: what `give_vouchers` records.
#[derive(Clone, Debug)]
pub struct VoucherGift {
    pub voucher: VoucherId,
    pub person_id: String,
    /// The issuing organisation, its programme and the issue's entry id, as the log says.
    pub organisation: OrgId,
    pub programme: ProgrammeId,
    pub issue: EntryId,
}

/// What erasing a person deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Erased {
    pub spend_links: u64,
    pub vouchers: u64,
}

/// The private store: one SQLite file.
pub struct PrivateStore {
    pool: SqlitePool,
    path: PathBuf,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl PrivateStore {
    async fn connect(path: &Path, create: bool) -> anyhow::Result<PrivateStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            // Deleted content is overwritten with zeros, in the table, its indexes and freed pages.
            .pragma("secure_delete", "ON")
            // A rollback journal that is deleted at each commit: no WAL holding old pages.
            .journal_mode(SqliteJournalMode::Delete)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .with_context(|| format!("opening the private store {}", path.display()))?;
        sqlx::migrate!("../migrations/private")
            .run(&pool)
            .await
            .with_context(|| format!("migrating the private store {}", path.display()))?;
        Ok(PrivateStore { pool, path: path.to_path_buf() })
    }

    /// Creates a new store; refuses a file that already exists.
    pub async fn create(path: &Path) -> anyhow::Result<PrivateStore> {
        if path.exists() {
            bail!("{} already exists; refusing to create a private store over it", path.display());
        }
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let store = Self::connect(path, true).await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {} to its owner", path.display()))?;
        }
        Ok(store)
    }

    /// Opens an existing store.
    pub async fn open(path: &Path) -> anyhow::Result<PrivateStore> {
        if !path.is_file() {
            bail!(
                "there is no private store at {}; create one with `aidtrail private init --store FILE`",
                path.display()
            );
        }
        Self::connect(path, false).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connection (the journal is gone once this returns).
    pub async fn close(self) {
        self.pool.close().await;
    }

    pub async fn add_person(&self, person_id: &str, name: Option<&str>) -> anyhow::Result<()> {
        check_person_text("person identifier", person_id)?;
        if let Some(name) = name {
            check_person_text("name", name)?;
        }
        if self.person(person_id).await?.is_some() {
            bail!("person {person_id:?} is already in the private store");
        }
        sqlx::query("INSERT INTO persons (person_id, name, added_at_ms) VALUES ($1, $2, $3)")
            .bind(person_id)
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn person(&self, person_id: &str) -> anyhow::Result<Option<Person>> {
        let row = sqlx::query("SELECT person_id, name, added_at_ms FROM persons WHERE person_id = $1")
            .bind(person_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| Person { person_id: row.get(0), name: row.get(1), added_at_ms: row.get::<i64, _>(2) as u64 }))
    }

    pub async fn persons(&self) -> anyhow::Result<Vec<Person>> {
        let rows = sqlx::query("SELECT person_id, name, added_at_ms FROM persons ORDER BY person_id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| Person { person_id: row.get(0), name: row.get(1), added_at_ms: row.get::<i64, _>(2) as u64 })
            .collect())
    }

    /// The programme's HMAC key, drawn at random the first time a programme is used.
    pub async fn programme_key(&self, programme: Option<&ProgrammeId>) -> anyhow::Result<[u8; 32]> {
        let name = programme.map_or(NO_PROGRAMME, ProgrammeId::as_str);
        let mut fresh = [0u8; 32];
        rand::fill(&mut fresh);
        sqlx::query(
            "INSERT INTO programme_keys (programme, hmac_key, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (programme) DO NOTHING",
        )
        .bind(name)
        .bind(&fresh[..])
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let key: Vec<u8> = sqlx::query_scalar("SELECT hmac_key FROM programme_keys WHERE programme = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        key.try_into().map_err(|_| anyhow::anyhow!("the private store's key of programme {name:?} is not 32 bytes"))
    }

    /// Sets a programme's key (when a store is rebuilt from the organisation's own records); refuses to
    /// replace an existing one, since pseudonyms made with it would no longer match.
    pub async fn set_programme_key(&self, programme: Option<&ProgrammeId>, key: &[u8; 32]) -> anyhow::Result<()> {
        let name = programme.map_or(NO_PROGRAMME, ProgrammeId::as_str);
        let inserted = sqlx::query(
            "INSERT INTO programme_keys (programme, hmac_key, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (programme) DO NOTHING",
        )
        .bind(name)
        .bind(&key[..])
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() != 1 {
            bail!("the private store already has a key for programme {name:?}");
        }
        Ok(())
    }

    /// Refuses a person the store does not know, or one being erased: nothing new may be linked to them.
    async fn check_linkable(&self, person_id: &str) -> anyhow::Result<()> {
        if self.person(person_id).await?.is_none() {
            bail!(
                "person {person_id:?} is not in the private store {}; add them with `aidtrail private person add`",
                self.path.display()
            );
        }
        if self.pending_erasure(person_id).await?.is_some() {
            bail!("person {person_id:?} is being erased; finish with `aidtrail private erase {person_id}`");
        }
        Ok(())
    }

    /// A fresh salted commitment for a spend to a known person (nothing is stored yet).
    pub async fn prepare_link(&self, person_id: &str, programme: Option<&ProgrammeId>) -> anyhow::Result<PreparedLink> {
        self.check_linkable(person_id).await?;
        let key = self.programme_key(programme).await?;
        let pseudonym = pseudonym(&key, person_id);
        let mut salt = [0u8; 32];
        rand::fill(&mut salt);
        let commitment = beneficiary_commitment(&salt, &pseudonym);
        Ok(PreparedLink {
            person_id: person_id.to_string(),
            programme: programme.cloned(),
            pseudonym,
            salt,
            commitment,
        })
    }

    /// Records a link once the log has acknowledged its spend.
    pub async fn record_link(
        &self,
        link: &PreparedLink,
        organisation: &OrgId,
        entry_id: &EntryId,
        log_index: u64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO spend_links (commitment, person_id, organisation, programme, pseudonym, salt, entry_id, \
             log_index, recorded_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (commitment) DO NOTHING",
        )
        .bind(&link.commitment.0[..])
        .bind(&link.person_id)
        .bind(organisation.as_str())
        .bind(link.programme.as_ref().map_or(NO_PROGRAMME, ProgrammeId::as_str))
        .bind(&link.pseudonym[..])
        .bind(&link.salt[..])
        .bind(&entry_id.0[..])
        .bind(i64::try_from(log_index).context("log index")?)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A person's beneficiary spends, in log order.
    pub async fn links(&self, person_id: &str) -> anyhow::Result<Vec<SpendLink>> {
        let rows = sqlx::query(
            "SELECT commitment, organisation, programme, pseudonym, salt, entry_id, log_index, recorded_at_ms \
             FROM spend_links WHERE person_id = $1 ORDER BY log_index",
        )
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let programme: String = row.get(2);
                SpendLink {
                    commitment: hex::encode(row.get::<Vec<u8>, _>(0)),
                    organisation: row.get(1),
                    programme: (programme != NO_PROGRAMME).then_some(programme),
                    pseudonym: hex::encode(row.get::<Vec<u8>, _>(3)),
                    salt: hex::encode(row.get::<Vec<u8>, _>(4)),
                    entry_id: hex::encode(row.get::<Vec<u8>, _>(5)),
                    log_index: row.get::<i64, _>(6) as u64,
                    recorded_at_ms: row.get::<i64, _>(7) as u64,
                }
            })
            .collect())
    }

    /// The commitments of a person's spends recorded by one organisation.
    pub async fn commitments(&self, person_id: &str, organisation: &OrgId) -> anyhow::Result<Vec<Commitment>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT commitment FROM spend_links WHERE person_id = $1 AND organisation = $2")
                .bind(person_id)
                .bind(organisation.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|bytes| {
                Ok(Commitment(bytes.try_into().map_err(|_| anyhow::anyhow!("a stored commitment is not 32 bytes"))?))
            })
            .collect()
    }

    /// The signed tombstone of an erasure not yet acknowledged by the log.
    pub async fn pending_erasure(&self, person_id: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT signed_entry FROM pending_erasures WHERE person_id = $1")
            .bind(person_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn save_pending_erasure(&self, person_id: &str, signed_entry: &[u8]) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO pending_erasures (person_id, signed_entry, created_at_ms) VALUES ($1, $2, $3)")
            .bind(person_id)
            .bind(signed_entry)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a tombstone that the log refused (the person's data stays).
    pub async fn drop_pending_erasure(&self, person_id: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM pending_erasures WHERE person_id = $1").bind(person_id).execute(&self.pool).await?;
        Ok(())
    }

    /// Records that vouchers of the log were handed to people, all or none. Refuses a voucher already given
    /// (a voucher has one holder), given twice in the list, and a person the store does not know or is erasing.
    pub async fn give_vouchers(&self, gifts: &[VoucherGift]) -> anyhow::Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for gift in gifts {
            if !seen.insert(gift.voucher) {
                bail!("voucher {} is listed twice", gift.voucher);
            }
        }
        let persons: std::collections::BTreeSet<&str> = gifts.iter().map(|gift| gift.person_id.as_str()).collect();
        for person_id in persons {
            self.check_linkable(person_id).await?;
        }
        let mut tx = self.pool.begin().await?;
        for gift in gifts {
            let inserted = sqlx::query(
                "INSERT INTO voucher_holders (voucher_id, person_id, organisation, programme, issue_entry_id, \
                 given_at_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (voucher_id) DO NOTHING",
            )
            .bind(&gift.voucher.0[..])
            .bind(&gift.person_id)
            .bind(gift.organisation.as_str())
            .bind(gift.programme.as_str())
            .bind(&gift.issue.0[..])
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() != 1 {
                bail!("voucher {} was already given to someone (see `aidtrail private links`)", gift.voucher);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The vouchers handed to a person, in the order they were given.
    pub async fn vouchers_of(&self, person_id: &str) -> anyhow::Result<Vec<VoucherHolding>> {
        let rows = sqlx::query(
            "SELECT voucher_id, organisation, programme, issue_entry_id, given_at_ms FROM voucher_holders \
             WHERE person_id = $1 ORDER BY given_at_ms, voucher_id",
        )
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| VoucherHolding {
                voucher: hex::encode(row.get::<Vec<u8>, _>(0)),
                organisation: row.get(1),
                programme: row.get(2),
                issue: hex::encode(row.get::<Vec<u8>, _>(3)),
                given_at_ms: row.get::<i64, _>(4) as u64,
            })
            .collect())
    }

    /// The organisations whose spends or vouchers concern a person.
    pub async fn organisations_of(&self, person_id: &str) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT organisation FROM spend_links WHERE person_id = $1 \
             UNION SELECT organisation FROM voucher_holders WHERE person_id = $1 ORDER BY 1",
        )
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes everything about a person in one transaction: their spends' salts, pseudonyms and
    /// commitments, the vouchers they hold, a pending erasure, and the person.
    pub async fn erase_person(&self, person_id: &str) -> anyhow::Result<Erased> {
        let mut tx = self.pool.begin().await?;
        let links =
            sqlx::query("DELETE FROM spend_links WHERE person_id = $1").bind(person_id).execute(&mut *tx).await?;
        let vouchers =
            sqlx::query("DELETE FROM voucher_holders WHERE person_id = $1").bind(person_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM pending_erasures WHERE person_id = $1").bind(person_id).execute(&mut *tx).await?;
        let persons = sqlx::query("DELETE FROM persons WHERE person_id = $1").bind(person_id).execute(&mut *tx).await?;
        if persons.rows_affected() != 1 {
            bail!("person {person_id:?} is not in the private store");
        }
        tx.commit().await?;
        Ok(Erased { spend_links: links.rows_affected(), vouchers: vouchers.rows_affected() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (a key shorter than the block), and a 32-byte key.
    #[test]
    fn pseudonyms_are_hmac_sha256() {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key = [0x0b; 32];
        assert_eq!(pseudonym(&key, "CG-2026-004471"), pseudonym(&key, "CG-2026-004471"));
        assert_ne!(pseudonym(&key, "CG-2026-004471"), pseudonym(&key, "CG-2026-004472"));
        assert_ne!(pseudonym(&key, "CG-2026-004471"), pseudonym(&[0x0c; 32], "CG-2026-004471"));
    }

    #[tokio::test]
    async fn a_store_links_spends_to_people_and_erases_them_with_their_bytes() {
        let directory = std::env::temp_dir().join(format!("aidtrail-private-{}", rand::random::<u64>()));
        let path = directory.join("private.db");
        let store = PrivateStore::create(&path).await.unwrap();
        assert!(PrivateStore::create(&path).await.is_err(), "never over an existing file");
        store.add_person("CG-2026-004471", Some("Amani Zawadi")).await.unwrap();
        store.add_person("CG-2026-004472", None).await.unwrap();
        assert!(store.add_person("CG-2026-004471", None).await.is_err());
        assert!(store.add_person("", None).await.is_err());
        assert!(store.add_person("line\nbreak", None).await.is_err());
        assert!(store.prepare_link("nobody", None).await.is_err());
        let programme = ProgrammeId::new("kivu-health").unwrap();
        let clinic = OrgId::new("clinic-goma").unwrap();
        let first = store.prepare_link("CG-2026-004471", Some(&programme)).await.unwrap();
        let second = store.prepare_link("CG-2026-004471", Some(&programme)).await.unwrap();
        let elsewhere = store.prepare_link("CG-2026-004471", None).await.unwrap();
        let other = store.prepare_link("CG-2026-004472", Some(&programme)).await.unwrap();
        // One pseudonym per person and programme; every commitment fresh.
        assert_eq!(first.pseudonym, second.pseudonym);
        assert_ne!(first.pseudonym, elsewhere.pseudonym);
        assert_ne!(first.pseudonym, other.pseudonym);
        assert_ne!(first.commitment, second.commitment);
        assert_eq!(first.commitment, beneficiary_commitment(&first.salt, &first.pseudonym));
        for (position, link) in [&first, &second, &elsewhere, &other].into_iter().enumerate() {
            store.record_link(link, &clinic, &EntryId([position as u8; 16]), 10 + position as u64).await.unwrap();
        }
        let links = store.links("CG-2026-004471").await.unwrap();
        assert_eq!(links.len(), 3);
        assert_eq!(links[0].salt, hex::encode(first.salt));
        assert_eq!(links[2].programme, None);
        assert_eq!(store.commitments("CG-2026-004471", &clinic).await.unwrap().len(), 3);

        let ngo = OrgId::new("ngo-kivu").unwrap();
        let issue = EntryId([0xee; 16]);
        let (held, kept) = (VoucherId([0xa1; 16]), VoucherId([0xb2; 16]));
        let gift = |voucher: VoucherId, person: &str| VoucherGift {
            voucher,
            person_id: person.to_string(),
            organisation: ngo.clone(),
            programme: programme.clone(),
            issue,
        };
        let fresh = VoucherId([0xc3; 16]);
        store.give_vouchers(&[gift(held, "CG-2026-004471"), gift(kept, "CG-2026-004472")]).await.unwrap();
        // All or nothing: a fresh voucher listed with one already given is not recorded either.
        let again = store.give_vouchers(&[gift(fresh, "CG-2026-004472"), gift(held, "CG-2026-004472")]).await;
        assert!(again.unwrap_err().to_string().contains("already given"));
        let twice = store.give_vouchers(&[gift(fresh, "CG-2026-004472"), gift(fresh, "CG-2026-004471")]).await;
        assert!(twice.unwrap_err().to_string().contains("listed twice"));
        assert!(store.give_vouchers(&[gift(fresh, "nobody")]).await.is_err());
        assert_eq!(store.vouchers_of("CG-2026-004472").await.unwrap().len(), 1, "nothing of the refused lists");
        let holdings = store.vouchers_of("CG-2026-004471").await.unwrap();
        assert_eq!(holdings.len(), 1);
        assert_eq!(holdings[0].voucher, held.to_string());
        assert_eq!(holdings[0].issue, hex::encode(issue.0));
        assert_eq!(store.organisations_of("CG-2026-004471").await.unwrap(), vec!["clinic-goma", "ngo-kivu"]);

        store.save_pending_erasure("CG-2026-004471", b"tombstone").await.unwrap();
        assert!(store.prepare_link("CG-2026-004471", None).await.is_err(), "no new spends while erasing");
        assert!(store.give_vouchers(&[gift(fresh, "CG-2026-004471")]).await.is_err(), "no new vouchers while erasing");
        assert_eq!(store.erase_person("CG-2026-004471").await.unwrap(), Erased { spend_links: 3, vouchers: 1 });
        assert!(store.vouchers_of("CG-2026-004471").await.unwrap().is_empty());
        assert!(store.erase_person("CG-2026-004471").await.is_err());
        assert!(store.links("CG-2026-004471").await.unwrap().is_empty());
        assert_eq!(store.links("CG-2026-004472").await.unwrap().len(), 1);
        store.close().await;
        let bytes = std::fs::read(&path).unwrap();
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|window| window == needle);
        assert!(!contains(b"CG-2026-004471"));
        assert!(!contains(b"Amani Zawadi"));
        for link in [&first, &second, &elsewhere] {
            assert!(!contains(&link.salt), "an erased salt survives in the file");
            assert!(!contains(&link.commitment.0));
        }
        assert!(!contains(&held.0), "an erased person's voucher survives in the file");
        assert!(contains(&other.salt), "the other person's data stays");
        assert!(contains(&kept.0), "the other person's voucher stays");
        let leftovers: Vec<_> =
            std::fs::read_dir(&directory).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("private.db")], "no journal is left behind");
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
