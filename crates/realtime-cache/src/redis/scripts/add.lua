-- Registers a connection. KEYS: conns, counts, names, participants, live.
-- ARGV: conn, user, name, instance, code. Returns 0 (known), 1 (user's first), 2.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[4] .. '|' .. ARGV[2]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[5])
if n == 1 then return 1 end
return 2
