-- Application tokens: what lets an application read its workspace's default
-- credentials over the HTTP API without the encryption key.  One row per token,
-- kept whole as JSON text (see 0001); ``workspace_id``, ``id`` and ``hash``
-- (SHA-256 of the secret, which is never stored) are derived from it by the
-- store.  Every API request finds its token by ``hash``: the unique index.
CREATE TABLE connections_app_tokens (
    workspace_id text NOT NULL,
    id text NOT NULL,
    hash text NOT NULL UNIQUE,
    record text NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
