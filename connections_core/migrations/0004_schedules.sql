-- Scheduled checks: when each connection's next background check is due.
--
-- Derived from the record by the store on every write, as ``type`` and
-- ``active`` are (see 0001): NULL unless the connection is undeleted and has a
-- schedule.  A replica's scheduler claims the due ones with
-- ``WHERE next_check_at <= now ORDER BY next_check_at ... FOR UPDATE SKIP LOCKED``
-- and moves their time on in the same transaction, so each due check is taken
-- by one replica only; the partial index holds only the scheduled connections.
ALTER TABLE connections ADD COLUMN next_check_at timestamptz;
CREATE INDEX connections_due ON connections (next_check_at)
    WHERE next_check_at IS NOT NULL;
