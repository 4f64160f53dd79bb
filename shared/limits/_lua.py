"""The Lua scripts behind ``BehaviorLimits``: check-and-count and release, each one atomic step."""

from __future__ import annotations

# KEYS: 1 reserved marker, 2 daily counter, 3 thread counter ("" when none), 4 last-write hash
# ARGV: 1 daily max, 2 per-thread max, 3 min interval s, 4 now (epoch s), 5 activation id,
#       6 daily ttl s, 7 thread ttl s, 8 marker ttl s, 9 daily limit name
# Returns "ok" (allowed and counted, now or before) or the name of the limit that refused.
RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 'ok'
end
local daily = tonumber(redis.call('GET', KEYS[2]) or '0')
if daily >= tonumber(ARGV[1]) then
  return ARGV[9]
end
if KEYS[3] ~= '' then
  local thread = tonumber(redis.call('GET', KEYS[3]) or '0')
  if thread >= tonumber(ARGV[2]) then
    return 'max_responses_per_thread'
  end
end
local now = tonumber(ARGV[4])
local last = redis.call('HMGET', KEYS[4], 'activation', 'at')
if last[1] and last[1] ~= ARGV[5] and now - tonumber(last[2]) < tonumber(ARGV[3]) then
  return 'min_interval_seconds'
end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
if KEYS[3] ~= '' then
  redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[7]))
end
redis.call('HSET', KEYS[4], 'activation', ARGV[5], 'at', ARGV[4])
redis.call('EXPIRE', KEYS[4], math.max(tonumber(ARGV[3]) * 2, 3600))
redis.call('SET', KEYS[1], KEYS[2] .. '\\n' .. KEYS[3], 'EX', tonumber(ARGV[8]))
return 'ok'
"""

# KEYS: 1 reserved marker. The marker holds the counters it incremented ("daily\\nthread").
# Returns 1 when a reservation was undone, 0 when there was none.
RELEASE = """
local held = redis.call('GET', KEYS[1])
if not held then
  return 0
end
local sep = string.find(held, '\\n', 1, true)
local counters = {string.sub(held, 1, sep - 1), string.sub(held, sep + 1)}
for _, key in ipairs(counters) do
  if key ~= '' and tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
redis.call('DEL', KEYS[1])
return 1
"""
