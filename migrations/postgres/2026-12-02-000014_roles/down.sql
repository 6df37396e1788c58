DROP TABLE room_audit;
DROP TABLE room_bans;
ALTER TABLE participants DROP COLUMN muted_until;
ALTER TABLE participants DROP COLUMN muted;
ALTER TABLE participants DROP COLUMN became_co_host_at;
-- Before roles there were only hosts and viewers.
UPDATE participants SET role = 'viewer' WHERE role = 'co_host';
ALTER TABLE participants DROP CONSTRAINT participants_role_check;
ALTER TABLE participants ADD CONSTRAINT participants_role_check
    CHECK (role IN ('host', 'viewer'));
ALTER TABLE rooms DROP COLUMN playback_version;
ALTER TABLE rooms DROP COLUMN rate;
ALTER TABLE rooms DROP COLUMN queue_mode;
ALTER TABLE rooms DROP COLUMN viewers_can_queue;
ALTER TABLE rooms DROP COLUMN wait_policy;
ALTER TABLE rooms DROP COLUMN on_host_timeout;
ALTER TABLE rooms DROP COLUMN control;
ALTER TABLE rooms DROP COLUMN host_epoch;
ALTER TABLE rooms DROP COLUMN owner_id;
