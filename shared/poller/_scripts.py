"""The poller's Lua scripts and its Redis error translation.

Each script is one atomic step: the poller lease (renew, release), the fenced
publication of an activation, and the circuit breaker's ``allow`` and ``record``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.commands.core import AsyncScript

from shared.streams import Redis, translated

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease, stream, activated, queued markers...
# ARGV: lease value ('' = unfenced), queued ttl ms, now s, min interval s ('' = none),
#       activated ttl ms, event id, field count, field name/value pairs...
# Returns {status, entry id}: 1 published, -1 lease lost, -2 too soon, -3 already queued.
PUBLISH = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {-1, ''}
end
if ARGV[4] ~= '' then
  local last = redis.call('GET', KEYS[3])
  if last and tonumber(ARGV[3]) - tonumber(last) < tonumber(ARGV[4]) then
    return {-2, ''}
  end
end
for i = 4, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {-3, ''} end
end
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], ARGV[6], 'PX', ARGV[2])
end
local fields = {}
for i = 8, 7 + 2 * tonumber(ARGV[7]) do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[5])
return {1, id}
"""

# KEYS: breaker hash. ARGV: now s, probe ttl s.
# Returns 1 closed, 2 this caller holds the half-open probe, 0 refused.
ALLOW = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'closed' then return 1 end
local now = tonumber(ARGV[1])
if now < tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0') then return 0 end
if now < tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0') then return 0 end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[2]))
return 2
"""

# KEYS: breaker hash. ARGV: ok (1/0), now s, threshold, base backoff s, max backoff s, key ttl s.
# Returns the state after recording.
RECORD = """
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1])
  return 'closed'
end
local now = tonumber(ARGV[2])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local backoff = nil
if state == 'half_open' then
  backoff = math.min(tonumber(redis.call('HGET', KEYS[1], 'backoff_s') or ARGV[4]) * 2, tonumber(ARGV[5]))
elseif state == 'closed' and failures >= tonumber(ARGV[3]) then
  backoff = tonumber(ARGV[4])
end
if backoff then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + backoff, 'backoff_s', backoff, 'probe_until', 0)
  state = 'open'
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
return state
"""


def register(redis: Redis, source: str) -> AsyncScript:
    """A script object for ``source`` (EVALSHA, loading it on NOSCRIPT)."""
    return redis.register_script(source)


async def run(script: AsyncScript, keys: Sequence[str], args: Sequence[Any], *, what: str) -> Any:
    """Run ``script``; Redis failures become ``StreamUnavailable``."""
    async with translated(what):
        return await script(keys=list(keys), args=list(args))
