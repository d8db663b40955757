-- The aidtrail log on PostgreSQL. Indexes and sizes are u64 in the format and stored as BIGINT (i64):
-- the service refuses to grow a log past 2^63 entries.

-- One row: the log's identity and its head, locked by every writer (SELECT ... FOR UPDATE) and compared
-- before it is moved (compare-and-swap on tree_size), so that two writers can never fork the log.
CREATE TABLE log_head (
    id           BIGINT  PRIMARY KEY CHECK (id = 1),
    origin       TEXT    NOT NULL,
    verifier_key TEXT    NOT NULL,
    tree_size    BIGINT  NOT NULL,
    root         BYTEA   NOT NULL
);

-- The leaves: each signed entry with the fields the listing filters on.
CREATE TABLE entries (
    entry_index        BIGINT  PRIMARY KEY,
    entry_id           BYTEA   NOT NULL UNIQUE,
    leaf_hash          BYTEA   NOT NULL UNIQUE,
    leaf               BYTEA   NOT NULL,
    kind               TEXT    NOT NULL,
    author             TEXT    NOT NULL,
    counterparty       TEXT,
    asset              TEXT,
    amount             TEXT,
    value_date         BIGINT,
    timestamp_ms       BIGINT  NOT NULL,
    external_reference TEXT
);
CREATE INDEX entries_by_author ON entries (author, entry_index);
CREATE INDEX entries_by_counterparty ON entries (counterparty, entry_index);
CREATE INDEX entries_by_kind ON entries (kind, entry_index);
CREATE INDEX entries_by_asset ON entries (asset, entry_index);
CREATE INDEX entries_by_value_date ON entries (value_date, entry_index);
CREATE INDEX entries_by_external_reference ON entries (external_reference);

-- Every perfect subtree hash of the Merkle tree, addressed by (level, index): proofs and tiles are read
-- from here, never recomputed from the leaves.
CREATE TABLE nodes (
    level      BIGINT  NOT NULL,
    node_index BIGINT  NOT NULL,
    hash       BYTEA   NOT NULL,
    PRIMARY KEY (level, node_index)
);

-- Signed checkpoints (C2SP signed notes), one per tree size: the primary key forbids two of one size.
CREATE TABLE checkpoints (
    tree_size    BIGINT  PRIMARY KEY,
    root         BYTEA   NOT NULL,
    note         TEXT    NOT NULL,
    signed_at_ms BIGINT  NOT NULL
);

-- The ledger state (balances, lots, pledges, ...) serialised at a tree size, so that a restart replays
-- only the entries after the latest snapshot.
CREATE TABLE state_snapshots (
    tree_size BIGINT  PRIMARY KEY,
    format    BIGINT  NOT NULL,
    state     BYTEA   NOT NULL
);

-- Derived state kept current in the same transaction as the entries, for SQL readers.
CREATE TABLE balances (
    organisation TEXT    NOT NULL,
    asset        TEXT    NOT NULL,
    available    TEXT    NOT NULL,
    pledged      TEXT    NOT NULL,
    earmarked    TEXT    NOT NULL,
    tree_size    BIGINT  NOT NULL,
    PRIMARY KEY (organisation, asset)
);

CREATE TABLE pledges (
    entry_index   BIGINT  PRIMARY KEY,
    pledger       TEXT    NOT NULL,
    receiver      TEXT    NOT NULL,
    verifier      TEXT    NOT NULL,
    asset         TEXT    NOT NULL,
    amount        TEXT    NOT NULL,
    expires_at_ms BIGINT  NOT NULL,
    status        TEXT    NOT NULL
);
