-- Times are milliseconds since the Unix epoch (BIGINT), the same on both backends.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE rooms (
    id              BIGSERIAL PRIMARY KEY,
    code            TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    host_id         BIGINT  NOT NULL REFERENCES users (id),
    is_private      BOOLEAN NOT NULL,
    is_chat_enabled BOOLEAN NOT NULL,
    media_url       TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('open', 'grace', 'closed', 'deleted')),
    grace_deadline  BIGINT,
    was_playing     BOOLEAN NOT NULL,
    is_playing      BOOLEAN NOT NULL,
    position        DOUBLE PRECISION NOT NULL,
    position_at     BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    deleted_at      BIGINT
);
CREATE INDEX rooms_by_status ON rooms (status, grace_deadline);
CREATE INDEX rooms_public ON rooms (is_private, status, created_at);

CREATE TABLE participants (
    room_id   BIGINT NOT NULL REFERENCES rooms (id),
    user_id   BIGINT NOT NULL REFERENCES users (id),
    role      TEXT   NOT NULL CHECK (role IN ('host', 'viewer')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE chat_messages (
    id         BIGSERIAL PRIMARY KEY,
    room_id    BIGINT NOT NULL REFERENCES rooms (id),
    user_id    BIGINT NOT NULL REFERENCES users (id),
    message    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_messages_by_room ON chat_messages (room_id, id);
