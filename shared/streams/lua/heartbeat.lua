-- Keep one agent's work alive: extend its lease and reset the idle time of the
-- stream entries this consumer holds for it, so XAUTOCLAIM never takes them.
-- KEYS[1] lease key, KEYS[2] stream
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] lease ttl ms, ARGV[4] token ('' = entries without lease)
-- ARGV[5..] entry ids
-- Returns {status, lost ids...}: status -1 when the lease is no longer ours (nothing
-- is touched), else the number of entries refreshed; lost ids are entries another
-- consumer has claimed since.
if ARGV[4] ~= '' then
  if redis.call('GET', KEYS[1]) ~= ARGV[4] then
    return {-1}
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local claim = {'XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0}
local out = {0}
for i = 5, #ARGV do
  -- Only refresh entries still ours: XCLAIM would otherwise steal them back.
  local mine = redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #mine == 1 then
    claim[#claim + 1] = ARGV[i]
  else
    out[#out + 1] = ARGV[i]
  end
end
if #claim > 5 then
  claim[#claim + 1] = 'JUSTID'  -- JUSTID: resets idle time without counting a delivery
  redis.call(unpack(claim))
  out[1] = #claim - 6
end
return out
