-- Counts an attempt in a window that starts with the first one.
-- KEYS: the counter. ARGV: window (ms). Returns the count so far.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
