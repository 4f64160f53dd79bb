-- Move one dead-lettered entry back to its stream, exactly once.
-- KEYS[1] dlq stream, KEYS[2] origin stream, KEYS[3] dead-letter index
-- ARGV[1] dlq entry id, ARGV[2] the event's id ('' when it has none), ARGV[3..] fields of
-- the entry to publish again
-- Returns the new entry id, or false when the dlq entry is already gone.
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return false
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[2])
end
local add = {'XADD', KEYS[2], '*'}
for i = 3, #ARGV do
  add[#add + 1] = ARGV[i]
end
return redis.call(unpack(add))
