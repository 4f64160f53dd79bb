-- Settle one stream entry atomically: its outcome, its lease and its ack together.
-- KEYS[1] stream, KEYS[2] lease key, KEYS[3] target (results stream, dlq stream,
--         the stream itself, or its delayed set)
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] entry id, ARGV[4] lease token to release ('' = keep)
-- ARGV[5] action:
--   'ack'      XADD each event in the payload to KEYS[3], then XACK
--   'requeue'  XADD the payload (one field list) to KEYS[3], then XACK
--   'delay'    ZADD the payload (ARGV[7], one member) to KEYS[3] due in ARGV[6] ms, then XACK
--   'dead'     XADD the payload (one field list) to KEYS[3] (the dlq), then XACK
-- ARGV[7..] payload; for 'ack' a sequence of [n, field1, value1, ... fieldn, valuen]
-- Everything but the lease release happens only while this consumer still owns the
-- entry, so settling twice (a retried pipeline) changes nothing the second time.
-- Returns 1 when settled, 0 when the entry was no longer ours.
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #mine == 0 then
  return 0
end
local action = ARGV[5]
if action == 'ack' then
  local i = 7
  while i <= #ARGV do
    local n = tonumber(ARGV[i])
    local add = {'XADD', KEYS[3], '*'}
    for j = i + 1, i + 2 * n do
      add[#add + 1] = ARGV[j]
    end
    redis.call(unpack(add))
    i = i + 2 * n + 1
  end
elseif action == 'requeue' or action == 'dead' then
  local add = {'XADD', KEYS[3], '*'}
  for j = 7, #ARGV do
    add[#add + 1] = ARGV[j]
  end
  redis.call(unpack(add))
elseif action == 'delay' then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[6]), ARGV[7])
else
  return redis.error_reply('settle: unknown action ' .. action)
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return 1
