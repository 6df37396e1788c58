-- Bumps a room's stamp and keeps it for its lifetime after this bump.
-- KEYS: the stamp. ARGV: lifetime (ms). Returns the new stamp.
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
