-- The queue (contract §12). Column for column the same schema as the SQLite
-- migration.

-- Every item, waiting or current. Played items are deleted when the room
-- moves on. `sort_key` gives the manual order: keys are spread apart, so a
-- move rewrites one row. Ids come from `counters` (reserved before the rules
-- run, so that the rules see the new item's id).
CREATE TABLE queue_items (
    id         BIGINT  PRIMARY KEY,
    room_id    BIGINT  NOT NULL REFERENCES rooms (id),
    media_url  TEXT    NOT NULL,
    title      TEXT,
    duration   DOUBLE PRECISION CHECK (duration > 0),
    added_by   BIGINT  NOT NULL REFERENCES users (id),
    added_at   BIGINT  NOT NULL,
    sort_key   BIGINT  NOT NULL,
    is_current BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX queue_items_by_room ON queue_items (room_id, sort_key);
-- At most one current item per room.
CREATE UNIQUE INDEX queue_items_one_current ON queue_items (room_id) WHERE is_current;

-- One vote per user and item.
CREATE TABLE queue_votes (
    item_id BIGINT NOT NULL REFERENCES queue_items (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (item_id, user_id)
);

-- Named counters, each taken by one UPDATE … RETURNING.
CREATE TABLE counters (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('queue_item', 0);

-- The room's current item (also in queue_items, is_current), the version of
-- its queue, and when the server advances by itself (the current item's end
-- while playing): the sweeper's timer, as grace_deadline is for grace.
ALTER TABLE rooms ADD COLUMN current_item_id BIGINT;
ALTER TABLE rooms ADD COLUMN queue_version BIGINT NOT NULL DEFAULT 0 CHECK (queue_version >= 0);
ALTER TABLE rooms ADD COLUMN advance_at BIGINT;
CREATE INDEX rooms_advance_at ON rooms (advance_at) WHERE advance_at IS NOT NULL;

-- A room's video before queues existed becomes its current item.
INSERT INTO queue_items (id, room_id, media_url, added_by, added_at, sort_key, is_current)
    SELECT id, id, media_url, host_id, created_at, 0, TRUE FROM rooms WHERE media_url IS NOT NULL;
UPDATE rooms SET current_item_id = id WHERE media_url IS NOT NULL;
UPDATE counters SET value = (SELECT COALESCE(MAX(id), 0) FROM queue_items) WHERE name = 'queue_item';
