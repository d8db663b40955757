-- Entry ids are no longer indexed in SQLite. The ledger state, which the server holds in memory, finds an
-- entry by its id and keeps ids unique (a resubmission is answered from it), and every write first brings
-- the state up to the database's head. The index's keys are random, so every commit rewrote pages all over
-- it: without it SQLite ingests a quarter to a half faster at 1M entries (BENCHMARKS.md, "Log service").
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt with the same rows.
CREATE TABLE entries_rebuilt (
    entry_index        INTEGER PRIMARY KEY,
    entry_id           BLOB    NOT NULL,
    leaf_hash          BLOB    NOT NULL UNIQUE,
    leaf               BLOB    NOT NULL,
    kind               TEXT    NOT NULL,
    author             TEXT    NOT NULL,
    counterparty       TEXT,
    asset              TEXT,
    amount             TEXT,
    value_date         INTEGER,
    timestamp_ms       INTEGER NOT NULL,
    external_reference TEXT
);
INSERT INTO entries_rebuilt (entry_index, entry_id, leaf_hash, leaf, kind, author, counterparty, asset, amount,
                             value_date, timestamp_ms, external_reference)
SELECT entry_index, entry_id, leaf_hash, leaf, kind, author, counterparty, asset, amount, value_date,
       timestamp_ms, external_reference
FROM entries;
DROP TABLE entries;
ALTER TABLE entries_rebuilt RENAME TO entries;
CREATE INDEX entries_by_author ON entries (author, entry_index);
CREATE INDEX entries_by_counterparty ON entries (counterparty, entry_index);
CREATE INDEX entries_by_kind ON entries (kind, entry_index);
CREATE INDEX entries_by_asset ON entries (asset, entry_index);
CREATE INDEX entries_by_value_date ON entries (value_date, entry_index);
CREATE INDEX entries_by_external_reference ON entries (external_reference);
