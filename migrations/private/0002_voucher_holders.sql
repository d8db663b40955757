-- Who holds each health voucher the organisation handed out. The voucher's id is public (it is in the
-- log's voucher issue and redemption entries); this row is the only link from it to a person. Erasing the
-- person deletes it (docs/PRIVACY.md).
CREATE TABLE voucher_holders (
    voucher_id BLOB PRIMARY KEY NOT NULL CHECK (length(voucher_id) = 16),
    person_id TEXT NOT NULL REFERENCES persons (person_id),
    -- The issuing organisation and programme, and the voucher issue's entry id, as the log says.
    organisation TEXT NOT NULL,
    programme TEXT NOT NULL,
    issue_entry_id BLOB NOT NULL CHECK (length(issue_entry_id) = 16),
    given_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX voucher_holders_by_person ON voucher_holders (person_id);
