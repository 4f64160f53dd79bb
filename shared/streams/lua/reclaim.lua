-- Take over entries left idle past the lease ttl (their consumer died or stalled).
-- KEYS[1] stream
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms, ARGV[4] most entries
-- Returns {entries, previous owners, delivery counts}: the previous owner names the
-- consumer whose agent leases the caller may now take over; the count includes this
-- delivery.
-- (XAUTOCLAIM would claim the same entries but forgets whose they were.)
local idle = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[4])
if #idle == 0 then
  return {{}, {}, {}}
end
local owner, count = {}, {}
local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3]}
for _, p in ipairs(idle) do
  owner[p[1]] = p[2]
  count[p[1]] = p[4] + 1
  claim[#claim + 1] = p[1]
end
local entries = redis.call(unpack(claim))
local owners, counts, kept = {}, {}, {}
for _, entry in ipairs(entries) do
  if entry then  -- XCLAIM leaves out entries deleted from the stream since
    kept[#kept + 1] = entry
    owners[#owners + 1] = owner[entry[1]]
    counts[#counts + 1] = count[entry[1]]
  end
end
return {kept, owners, counts}
