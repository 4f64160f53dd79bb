-- Move delayed entries whose time has come back onto their stream.
-- KEYS[1] delayed set (score = due time in ms), KEYS[2] stream
-- ARGV[1] most entries to move
-- Members are JSON arrays of field/value strings. Returns how many were moved.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  local add = {'XADD', KEYS[2], '*'}
  for _, v in ipairs(cjson.decode(member)) do
    add[#add + 1] = v
  end
  redis.call(unpack(add))
  redis.call('ZREM', KEYS[1], member)
end
return #due
