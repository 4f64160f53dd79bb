-- Settle a batch of stream entries: for each, its outcome, its lease and its ack together.
-- For entry i (1-based), KEYS[3i-2] is its stream, KEYS[3i-1] its lease key, KEYS[3i] its
-- target (results stream, dlq stream, the stream itself, or its delayed set); the last
-- key is the dead-letter index (event id -> its dlq entry).
-- ARGV[1] group, ARGV[2] consumer, then per entry:
--   entry id, lease token to release ('' = keep), action, delay ms, n, then n payload values
-- Actions:
--   'ack'      XADD each event in the payload to the target, then XACK; the payload is a
--              sequence of [k, field1, value1, ... fieldk, valuek]
--   'requeue'  XADD the payload (one field list) to the target, then XACK
--   'delay'    ZADD the payload (one member) to the target, due in delay ms, then XACK
--   'dead'     the payload is the event id ('' when it has none) and one field list: XADD
--              it to the target (the dlq) with field count, then XACK.
--              An event already in the dlq is one record: its entry is replaced by the new
--              one, count one more, first_at (ms; the first record's own id time) kept.
-- Everything but the lease release happens only while this consumer still owns the
-- entry, so settling twice (a retried pipeline) changes nothing the second time.
-- Returns one integer per entry: 1 when settled, 0 when it was no longer ours.
local group, consumer = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local index = KEYS[#KEYS]
local out = {}
local a = 3

-- count and first_at of the dlq record of event_id, removing it (0 and now when none)
local function previous(dlq, event_id)
  local prev = redis.call('HGET', index, event_id)
  if not prev then
    return 0, now_ms
  end
  local rows = redis.call('XRANGE', dlq, prev, prev)
  if #rows == 0 then
    return 0, now_ms
  end
  local count, first_at = 1, tonumber((string.gsub(prev, '-.*', '')))
  local f = rows[1][2]
  for j = 1, #f, 2 do
    if f[j] == 'count' then
      count = tonumber(f[j + 1]) or 1
    elseif f[j] == 'first_at' then
      first_at = tonumber(f[j + 1]) or first_at
    end
  end
  redis.call('XDEL', dlq, prev)
  return count, first_at
end

for i = 1, (#KEYS - 1) / 3 do
  local stream, lease, target = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local id, token, action, delay_ms, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local first, last = a + 5, a + 4 + n
  a = last + 1
  if token ~= '' and redis.call('GET', lease) == token then
    redis.call('DEL', lease)
  end
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
    out[i] = 0
  else
    if action == 'ack' then
      local j = first
      while j <= last do
        local k = tonumber(ARGV[j])
        local add = {'XADD', target, '*'}
        for x = j + 1, j + 2 * k do
          add[#add + 1] = ARGV[x]
        end
        redis.call(unpack(add))
        j = j + 2 * k + 1
      end
    elseif action == 'requeue' then
      local add = {'XADD', target, '*'}
      for x = first, last do
        add[#add + 1] = ARGV[x]
      end
      redis.call(unpack(add))
    elseif action == 'dead' then
      local event_id = ARGV[first]
      local count, first_at = 0, now_ms
      if event_id ~= '' then
        count, first_at = previous(target, event_id)
      end
      local add = {'XADD', target, '*'}
      for x = first + 1, last do
        add[#add + 1] = ARGV[x]
      end
      add[#add + 1] = 'count'
      add[#add + 1] = tostring(count + 1)
      if count > 0 then
        -- a first record's first_at is its own entry id (XADD may stamp a later ms than TIME)
        add[#add + 1] = 'first_at'
        add[#add + 1] = string.format('%d', first_at)
      end
      local new_id = redis.call(unpack(add))
      if event_id ~= '' then
        redis.call('HSET', index, event_id, new_id)
      end
    elseif action == 'delay' then
      redis.call('ZADD', target, now_ms + tonumber(delay_ms), ARGV[first])
    else
      return redis.error_reply('settle: unknown action ' .. action)
    end
    redis.call('XACK', stream, group, id)
    out[i] = 1
  end
end
return out
