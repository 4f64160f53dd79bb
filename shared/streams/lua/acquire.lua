-- Acquire per-agent leases for a batch, each with a fresh fencing token.
-- KEYS[1]      fencing counter (INCR gives tokens that only ever grow)
-- KEYS[2..n]   lease keys, one per agent
-- ARGV[1]      lease ttl in ms
-- ARGV[2..n]   takeover token per lease ('' for none): this runner's own previous
--              token for the agent, whose release may still be in flight
-- Returns one integer per lease: the new token, or 0 when another holder has it.
local out = {}
for i = 2, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if (not current) or (ARGV[i] ~= '' and current == ARGV[i]) then
    local token = redis.call('INCR', KEYS[1])
    redis.call('SET', KEYS[i], token, 'PX', ARGV[1])
    out[#out + 1] = token
  else
    out[#out + 1] = 0
  end
end
return out
