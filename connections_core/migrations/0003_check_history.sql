-- The check history: one row per check of a connection (a Test, Test all, the
-- command line's test, a scheduled check), appended in the transaction that
-- stores the connection's status.  No message, header or key: only what the
-- check found.  A connection's rows go when it is purged; rows older than
-- CONNECTIONS_HISTORY_DAYS are dropped as new ones are appended.
CREATE TABLE connections_check_history (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id text NOT NULL,
    connection_id text NOT NULL,
    at timestamptz NOT NULL,
    success boolean NOT NULL,
    kind text NOT NULL,
    latency_ms bigint NOT NULL,
    status_code integer,
    source text NOT NULL
);
-- One connection's records over a time range (a card's last day, a month's health).
CREATE INDEX connections_check_history_by_connection
    ON connections_check_history (workspace_id, connection_id, at);
-- Retention: the rows older than a cutoff, whoever they belong to.
CREATE INDEX connections_check_history_by_time ON connections_check_history (at);
