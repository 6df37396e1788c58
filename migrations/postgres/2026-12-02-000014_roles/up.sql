-- Roles, host continuity, moderation and playback rate (contract §7, §8, §11).
-- Every default reproduces what a room did before: its creator owns it and
-- hosts it, only the host controls, the room closes when the host times out.

-- The owner is the creator, for ever. Rooms created before owners existed are
-- owned by their host, who was their creator: hosts never changed until now.
-- `host_id` stays the one record of who hosts; participants.role agrees with
-- it (written in the same transaction) and `host_epoch` grows with each change.
ALTER TABLE rooms ADD COLUMN owner_id BIGINT REFERENCES users (id);
UPDATE rooms SET owner_id = host_id;
ALTER TABLE rooms ALTER COLUMN owner_id SET NOT NULL;
ALTER TABLE rooms ADD COLUMN host_epoch BIGINT NOT NULL DEFAULT 0 CHECK (host_epoch >= 0);
ALTER TABLE rooms ADD COLUMN control TEXT NOT NULL DEFAULT 'host'
    CHECK (control IN ('host', 'everyone'));
ALTER TABLE rooms ADD COLUMN on_host_timeout TEXT NOT NULL DEFAULT 'close'
    CHECK (on_host_timeout IN ('close', 'promote'));
-- `start` waits only for sockets that report PLAYER_STATE, which no client
-- of sections 1–6 sends: for them nothing changes.
ALTER TABLE rooms ADD COLUMN wait_policy TEXT NOT NULL DEFAULT 'start'
    CHECK (wait_policy IN ('off', 'start', 'always'));
ALTER TABLE rooms ADD COLUMN viewers_can_queue BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE rooms ADD COLUMN queue_mode TEXT NOT NULL DEFAULT 'manual'
    CHECK (queue_mode IN ('manual', 'vote'));
ALTER TABLE rooms ADD COLUMN rate DOUBLE PRECISION NOT NULL DEFAULT 1
    CHECK (rate >= 0.25 AND rate <= 4);
ALTER TABLE rooms ADD COLUMN playback_version BIGINT NOT NULL DEFAULT 0
    CHECK (playback_version >= 0);

-- Co-hosts, when they became one (the successor rule), and mutes:
-- muted and muted_until NULL is "until lifted".
ALTER TABLE participants DROP CONSTRAINT participants_role_check;
ALTER TABLE participants ADD CONSTRAINT participants_role_check
    CHECK (role IN ('host', 'co_host', 'viewer'));
ALTER TABLE participants ADD COLUMN became_co_host_at BIGINT;
ALTER TABLE participants ADD COLUMN muted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE participants ADD COLUMN muted_until BIGINT;

-- Kicks and bans in force (a kick is a ban that lapses). One row per user and
-- room: a new ban replaces the old one, lifting or lapsing deletes it. The
-- history is in room_audit.
CREATE TABLE room_bans (
    room_id    BIGINT NOT NULL REFERENCES rooms (id),
    user_id    BIGINT NOT NULL REFERENCES users (id),
    kind       TEXT   NOT NULL CHECK (kind IN ('kick', 'ban')),
    reason     TEXT,
    by_id      BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (room_id, user_id)
);

-- Who changed what (GET …/audit/). actor_id NULL: the server itself.
-- detail is a JSON object, stored as text.
CREATE TABLE room_audit (
    id        BIGSERIAL PRIMARY KEY,
    room_id   BIGINT NOT NULL REFERENCES rooms (id),
    action    TEXT   NOT NULL,
    actor_id  BIGINT REFERENCES users (id),
    target_id BIGINT REFERENCES users (id),
    detail    TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
-- Newest first by room, before an id: one backward range scan.
CREATE INDEX room_audit_by_room ON room_audit (room_id, id);
