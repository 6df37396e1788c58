DROP INDEX rooms_advance_at;
ALTER TABLE rooms DROP COLUMN advance_at;
ALTER TABLE rooms DROP COLUMN queue_version;
ALTER TABLE rooms DROP COLUMN current_item_id;
DROP TABLE counters;
DROP TABLE queue_votes;
DROP TABLE queue_items;
