-- When each person last signed out, for the whole instance (not per workspace):
-- an identity issued before it is refused, so signing out, or being removed from
-- a workspace, ends every session, on every replica.  Kept whole, as JSON text
-- (see 0001); ``email`` is derived from it by the store.
CREATE TABLE connections_sign_outs (
    email text PRIMARY KEY,
    record text NOT NULL
);
