-- State snapshots are stored in parts, each written in its own short transaction, so that saving a
-- snapshot of hundreds of megabytes never holds the database's single write lock for long (the sequencer
-- commits between the parts). A snapshot exists once its row in state_snapshots is written, after all its
-- parts; parts of a save that did not finish are removed by a later save. Older snapshots are dropped: a
-- server replays the log once after this migration and saves a new one.
DROP TABLE state_snapshots;

CREATE TABLE state_snapshots (
    tree_size   INTEGER PRIMARY KEY,
    -- The save's own random id: the parts of two saves at one tree size never mix.
    snapshot_id INTEGER NOT NULL UNIQUE,
    format      INTEGER NOT NULL,
    parts       INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    -- SHA-256 of the whole serialised state, checked when it is loaded.
    sha256      BLOB    NOT NULL
);

CREATE TABLE state_snapshot_parts (
    snapshot_id INTEGER NOT NULL,
    part        INTEGER NOT NULL,
    written_at_ms INTEGER NOT NULL,
    bytes       BLOB    NOT NULL,
    PRIMARY KEY (snapshot_id, part)
);
