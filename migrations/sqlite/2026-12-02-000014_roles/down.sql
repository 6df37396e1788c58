DROP TABLE room_audit;
DROP TABLE room_bans;
-- Before roles there were only hosts and viewers.
CREATE TABLE participants_old (
    room_id   BIGINT NOT NULL REFERENCES rooms (id),
    user_id   BIGINT NOT NULL REFERENCES users (id),
    role      TEXT   NOT NULL CHECK (role IN ('host', 'viewer')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
INSERT INTO participants_old (room_id, user_id, role, joined_at)
    SELECT room_id, user_id, CASE role WHEN 'co_host' THEN 'viewer' ELSE role END, joined_at
    FROM participants;
DROP TABLE participants;
ALTER TABLE participants_old RENAME TO participants;
ALTER TABLE rooms DROP COLUMN playback_version;
ALTER TABLE rooms DROP COLUMN rate;
ALTER TABLE rooms DROP COLUMN queue_mode;
ALTER TABLE rooms DROP COLUMN viewers_can_queue;
ALTER TABLE rooms DROP COLUMN wait_policy;
ALTER TABLE rooms DROP COLUMN on_host_timeout;
ALTER TABLE rooms DROP COLUMN control;
ALTER TABLE rooms DROP COLUMN host_epoch;
DROP TRIGGER rooms_owner_stays_a_user;
DROP TRIGGER rooms_owner_is_a_user;
ALTER TABLE rooms DROP COLUMN owner_id;
