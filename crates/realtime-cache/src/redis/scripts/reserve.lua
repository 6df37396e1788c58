-- Counts an attempt under every key, unless one with a limit is full: the
-- check and the counting in one step, so racing attempts cannot all pass.
-- KEYS: counters. ARGV: window (ms), then each key's limit (-1: none).
-- Returns 0 when counted, else the 1-based index of the first full key.
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  if limit >= 0 and tonumber(redis.call('GET', key) or '0') >= limit then return i end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
