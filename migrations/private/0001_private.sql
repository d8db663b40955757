-- The private store of an organisation that records spends to beneficiaries: who its beneficiaries are and
-- which of its spends concern whom. It is a file of its own next to the organisation's command line or
-- service: never the log's database, never served. See docs/PRIVACY.md.

-- The people the organisation helps, under its own identifier (a file number) and, optionally, a name.
CREATE TABLE persons (
    person_id TEXT PRIMARY KEY NOT NULL CHECK (length(person_id) BETWEEN 1 AND 200),
    name TEXT,
    added_at_ms INTEGER NOT NULL
) STRICT;

-- One random HMAC-SHA256 key per programme ('' for spends that name no programme). A person's pseudonym
-- in a programme is HMAC(key, person_id): equal within a programme, unrelated across programmes.
CREATE TABLE programme_keys (
    programme TEXT PRIMARY KEY NOT NULL,
    hmac_key BLOB NOT NULL CHECK (length(hmac_key) = 32),
    created_at_ms INTEGER NOT NULL
) STRICT;

-- One row per beneficiary spend acknowledged by the log: the salt and the pseudonym that open its
-- commitment, and the person they stand for.
CREATE TABLE spend_links (
    commitment BLOB PRIMARY KEY NOT NULL CHECK (length(commitment) = 32),
    person_id TEXT NOT NULL REFERENCES persons (person_id),
    organisation TEXT NOT NULL,
    programme TEXT NOT NULL,
    pseudonym BLOB NOT NULL CHECK (length(pseudonym) = 32),
    salt BLOB NOT NULL CHECK (length(salt) = 32),
    entry_id BLOB NOT NULL CHECK (length(entry_id) = 16),
    log_index INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX spend_links_by_person ON spend_links (person_id);
CREATE INDEX spend_links_by_pseudonym ON spend_links (programme, pseudonym);

-- An erasure whose tombstone was signed but not yet acknowledged by the log. The person's data is deleted
-- only once the log holds the tombstone; until then running the erasure again resends the same entry.
CREATE TABLE pending_erasures (
    person_id TEXT PRIMARY KEY NOT NULL REFERENCES persons (person_id),
    signed_entry BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
