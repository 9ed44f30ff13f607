-- What a workspace's admins set for the whole workspace: today its alert webhook
-- (sealed with the key, as API keys are) and how its last delivery went.  One
-- row per workspace, kept whole as JSON text (see 0001); ``workspace_id`` is
-- derived from it by the store.
CREATE TABLE connections_workspace_settings (
    workspace_id text PRIMARY KEY,
    record text NOT NULL
);
