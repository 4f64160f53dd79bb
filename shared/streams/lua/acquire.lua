-- Acquire per-agent leases for a batch, each with a fresh fencing token.
-- A lease's value is '<token>:<consumer>': the fencing token and who holds it.
-- KEYS[1]      fencing counter (INCR gives tokens that only ever grow)
-- KEYS[2..n]   lease keys, one per agent
-- ARGV[1]      lease ttl in ms, ARGV[2] this consumer
-- ARGV[3..n+1] per lease, a consumer whose hold may be taken over ('' for none): this
--              consumer itself (its release may still be in flight), or a dead consumer
--              whose entries are being reclaimed
-- Returns one integer per lease: the new token, or 0 when another holder has it.
local out = {}
for i = 2, #KEYS do
  local current = redis.call('GET', KEYS[i])
  local from = ARGV[i + 1]
  local suffix = ':' .. from
  if (not current) or (from ~= '' and string.sub(current, -#suffix) == suffix) then
    local token = redis.call('INCR', KEYS[1])
    redis.call('SET', KEYS[i], token .. ':' .. ARGV[2], 'PX', ARGV[1])
    out[#out + 1] = token
  else
    out[#out + 1] = 0
  end
end
return out
