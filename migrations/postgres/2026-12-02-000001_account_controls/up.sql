-- An operator can disable an account (watchparty user disable EMAIL): no login,
-- and its sessions and sockets end. NULL: the account is active.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
