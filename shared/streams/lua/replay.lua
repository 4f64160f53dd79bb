-- Move one dead-lettered entry back to its stream, exactly once.
-- KEYS[1] dlq stream, KEYS[2] origin stream
-- ARGV[1] dlq entry id, ARGV[2..] fields of the entry to publish again
-- Returns the new entry id, or false when the dlq entry is already gone.
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return false
end
local add = {'XADD', KEYS[2], '*'}
for i = 2, #ARGV do
  add[#add + 1] = ARGV[i]
end
return redis.call(unpack(add))
