-- The first schema: connections, members, the key check, the audit trail, and
-- the revision row that every write transaction locks first.
--
-- Records are kept whole, as JSON text written with every non-ASCII character
-- escaped: jsonb refuses \u0000 and the json type refuses lone surrogates and
-- NaN, and the store must hold anything the TinyDB file can.  The columns
-- beside a record are derived from it by the store, for keys and indexes.

-- One row.  Its lock serialises write transactions; ``n`` grows with every
-- transaction that changes connections; ``epoch`` tells this database apart
-- from one created again under the same address.
CREATE TABLE connections_revision (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch uuid NOT NULL DEFAULT gen_random_uuid(),
    n bigint NOT NULL DEFAULT 0
);
INSERT INTO connections_revision DEFAULT VALUES;

CREATE TABLE connections (
    workspace_id text NOT NULL,
    id text NOT NULL,
    record text NOT NULL,
    type text,                    -- NULL when the record's type is not plain text
    is_default boolean NOT NULL,  -- the record's is_default is true
    active boolean NOT NULL,      -- the record is not deleted
    PRIMARY KEY (workspace_id, id)
);
-- Exactly one default per (workspace, type) among undeleted connections,
-- whatever interleaving of writers: the database refuses a second one.
CREATE UNIQUE INDEX connections_one_default ON connections (workspace_id, type)
    WHERE is_default AND active;
CREATE INDEX connections_by_type ON connections (workspace_id, type);

CREATE TABLE connections_members (
    workspace_id text NOT NULL,
    email text NOT NULL,
    record text NOT NULL,
    PRIMARY KEY (workspace_id, email)
);

-- One row (or none before the first write): which key the secrets were sealed with.
CREATE TABLE connections_key_check (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    record text NOT NULL
);

-- Append-only; ``seq`` is the commit order (write transactions are serialised).
CREATE TABLE connections_audit (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id text,            -- NULL when the entry's is not plain text
    at timestamptz,               -- NULL when the entry's time can't be read: kept
    entry text NOT NULL
);
CREATE INDEX connections_audit_by_workspace ON connections_audit (workspace_id, seq);
CREATE INDEX connections_audit_by_time ON connections_audit (at);
