-- Take over entries left idle past the lease ttl (their consumer died or stalled),
-- with the delivery count of each, so the caller can retry or dead-letter.
-- KEYS[1] stream
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms, ARGV[4] cursor, ARGV[5] count
-- Returns {next cursor, entries, delivery counts, deleted ids}.
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local counts = {}
for i, entry in ipairs(r[2]) do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
  counts[i] = p[1] and p[1][4] or 1
end
return {r[1], r[2], counts, r[3] or {}}
