"""The poller's Lua scripts and its Redis error translation.

Each script is one atomic step: the poller lease (renew, release), the fenced
publication of an activation (or joining the agent's open one), the runner sealing what
an activation carries, and the circuit breaker's ``allow`` and ``record``.
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

# KEYS: lease, stream, activated, open marker, joined set, queued markers...
# ARGV: lease value ('' = unfenced), queued ttl ms, now s, min interval s ('' = none),
#       activated ttl ms, event id, most notifications one activation may carry (0 = never
#       join or open one), sealed-set key prefix, join only ('1': never publish), field
#       count, field name/value pairs..., notification ids...
# Returns {status, id}: 1 published (the entry id), 2 joined the agent's open activation (its
# event id), 0 not joined (join only), -1 lease lost, -2 too soon, -3 already queued.
# The joined set holds every notification of the open activation, its own included, so its
# size is the activation's. An open activation too full to join is sealed as it stands
# (its joined set renamed to its sealed set: the one key this script builds, from the
# open event's id) and the new activation opens in its place.
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
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {-3, ''} end
end
local most = tonumber(ARGV[7])
local first_id = 11 + 2 * tonumber(ARGV[10])
local ids = {}
for i = first_id, #ARGV do ids[#ids + 1] = ARGV[i] end
local open = most > 0 and #ids > 0 and redis.call('GET', KEYS[4])
if open then
  if redis.call('SCARD', KEYS[5]) + #ids <= most then
    for i = 6, #KEYS do redis.call('SET', KEYS[i], open, 'PX', ARGV[2]) end
    redis.call('SADD', KEYS[5], unpack(ids))
    redis.call('PEXPIRE', KEYS[5], ARGV[2])
    redis.call('PEXPIRE', KEYS[4], ARGV[2])
    return {2, open}
  end
  if ARGV[9] == '1' then return {0, ''} end
  local sealed = ARGV[8] .. open
  if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], sealed) end
  redis.call('SADD', sealed, '')
  redis.call('PEXPIRE', sealed, ARGV[2])
end
if ARGV[9] == '1' then return {0, ''} end
for i = 6, #KEYS do
  redis.call('SET', KEYS[i], ARGV[6], 'PX', ARGV[2])
end
local fields = {}
for i = 11, first_id - 1 do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[5])
if most > 0 and #ids > 0 then
  redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[2])
  redis.call('DEL', KEYS[5])
  redis.call('SADD', KEYS[5], unpack(ids))
  redis.call('PEXPIRE', KEYS[5], ARGV[2])
end
return {1, id}
"""

# KEYS: open marker, joined set, this event's sealed set. ARGV: event id, ttl ms.
# Returns what the event carries beyond its own notification ids, plus '' (the seal): the
# joined set if the event was still open, else nothing; the same on every retry.
SEAL = """
if redis.call('EXISTS', KEYS[3]) == 0 then
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[3]) end
  end
  redis.call('SADD', KEYS[3], '')
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return redis.call('SMEMBERS', KEYS[3])
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
