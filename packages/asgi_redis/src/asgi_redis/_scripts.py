"""The Lua scripts that keep every layer operation atomic and one round trip long.

How this works
--------------
All keys of one layer on one Redis server start with the layer's ``prefix`` (``P``):

``P q:<queue>``
    A list of queued messages, oldest first. A *queue* is a channel name, or
    for process-specific channels (``x!y``) the non-local prefix ``x!``, so all
    of a prefix's channels share one queue, one capacity and one order. Each
    entry is ``<expiry in ms, 13 ASCII digits><channel name>\\0<payload>``: the
    expiry sits inside the entry, so there is no separate body key to fetch,
    delete or leak.
``P w:<queue>``
    A list of wake-up tokens, one per queued message. Blocking receives BLPOP
    these instead of the messages themselves, so a receive that waits on many
    shards at once can abandon the shards that did not wake it without losing a
    message (a lost token costs at most one bounded wait, never a message).
``P e``
    A sorted set from each non-empty queue to the expiry of its head entry (or
    an earlier time, corrected when due): the *expiry index*. A once-a-second
    sweep and group operations look there for queues whose head has expired and
    drop the expired entries, evicting their channels from groups; a send that
    finds its queue full does the same first, so capacity counts only live
    messages and abandoned queues disappear.
``P g:<group>`` and ``P m:<channel>``
    A group's members (sorted set, score = time joined in ms) and the reverse
    index from a channel to its groups. Both live on the shard of the member
    channel, next to its queue, so eviction on expiry is atomic and
    ``send_group`` is one script call per shard.

Every key also gets a generous Redis TTL as a safety net, so nothing stays
behind if every process using the layer stops for good. Times come from the
client (``time_fn``) in milliseconds, so tests move a fake clock instead of
sleeping; processes sharing a layer must share a clock (use wall time).
"""

from __future__ import annotations

__all__ = [
    "FLUSH_BATCH",
    "GROUP_ADD",
    "GROUP_CHANNELS",
    "GROUP_DISCARD",
    "GROUP_SEND",
    "RECEIVE",
    "RECEIVE_BATCH",
    "RECEIVE_MANY",
    "SEND",
    "STATS_CHANNEL",
    "STATS_GLOBAL",
]

#: Keys deleted per UNLINK call while flushing.
FLUSH_BATCH = 500

# Shared helpers. ARGV[1] is always the prefix, ARGV[2] the current time in ms, ARGV[3] the
# statistics key prefix and ARGV[4] the statistics TTL in ms.
# Each script is built from the helper fragments it uses: defining unused Lua
# functions on every call would cost measurable time per call.
_HEAD = r"""
local P = ARGV[1]
local now = tonumber(ARGV[2])
local S = ARGV[3]
local stats_ttl = ARGV[4]
local E = P .. 'e'
local second = math.floor(now / 1000)
-- Expired queues cleaned up by the once-a-second sweep, besides the ones touched.
local SWEEP_LIMIT = 100

"""
_COUNT = r"""
-- Count events ('m' messages, 'f' channel full) in a hash: field <kind><second> holds
-- one second's count and <kind>t the total of the seconds folded away. Within a second
-- a count is one HINCRBY; the first count of a new second (the HINCRBY made the field)
-- folds every second before the previous one into the total, drops those fields,
-- refreshes the TTL and returns true. Fields it does not know are dropped too.
local function count_in(key, kind, amount)
  if redis.call('HINCRBY', key, kind .. second, amount) ~= amount then
    return false
  end
  local fields = redis.call('HGETALL', key)
  local total_field = kind .. 't'
  local folded = 0
  local stale = {}
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 1) == kind and name ~= total_field then
      local at = tonumber(string.sub(name, 2))
      if not at then
        stale[#stale + 1] = name
      elseif at < second - 1 then
        folded = folded + tonumber(fields[i + 1])
        stale[#stale + 1] = name
      end
    end
  end
  if #stale > 0 then
    redis.call('HDEL', key, unpack(stale))
  end
  if folded > 0 then
    redis.call('HINCRBY', key, total_field, folded)
  end
  redis.call('PEXPIRE', key, stats_ttl)
  return true
end

"""
_EVICT = r"""
local function channel_of(entry)
  local z = string.find(entry, '\0', 14, true)
  return string.sub(entry, 14, z - 1)
end

local function evict(channel)
  local mk = P .. 'm:' .. channel
  local groups = redis.call('SMEMBERS', mk)
  for _, g in ipairs(groups) do
    redis.call('ZREM', P .. 'g:' .. g, channel)
  end
  if #groups > 0 then
    redis.call('DEL', mk)
  end
end

"""
_TRIM = (
    _EVICT
    + r"""
-- Drop expired entries at the head of a queue; return its live length.
local function trim(queue)
  local qk = P .. 'q:' .. queue
  local wk = P .. 'w:' .. queue
  while true do
    local head = redis.call('LINDEX', qk, 0)
    if not head then
      redis.call('ZREM', E, queue)
      redis.call('DEL', wk)
      return 0
    end
    local expires = tonumber(string.sub(head, 1, 13))
    if expires > now then
      redis.call('ZADD', E, expires, queue)
      return redis.call('LLEN', qk)
    end
    redis.call('LPOP', qk)
    redis.call('LPOP', wk)
    evict(channel_of(head))
  end
end

local function trim_if_due(queue)
  local score = redis.call('ZSCORE', E, queue)
  if score and tonumber(score) <= now then
    trim(queue)
  end
end

local function sweep(limit)
  local due
  if limit > 0 then
    due = redis.call('ZRANGEBYSCORE', E, '-inf', now, 'LIMIT', 0, limit)
  else
    due = redis.call('ZRANGEBYSCORE', E, '-inf', now)
  end
  for _, queue in ipairs(due) do
    trim(queue)
  end
end

"""
)
_PUSH = r"""
-- Append an entry and its wake-up token. A non-empty queue is always in the index,
-- so only a new queue is added there. TTLs are set on a new queue and refreshed
-- when ``refresh`` is true (once a second per channel, see count_in).
local function push(queue, entry, expires, ttl, refresh)
  local qk = P .. 'q:' .. queue
  local wk = P .. 'w:' .. queue
  local length = redis.call('RPUSH', qk, entry)
  redis.call('RPUSH', wk, '')
  if length == 1 then
    redis.call('ZADD', E, expires, queue)
    redis.call('PEXPIRE', E, ttl)
    refresh = true
  end
  if refresh then
    redis.call('PEXPIRE', qk, ttl)
    redis.call('PEXPIRE', wk, ttl)
  end
end

"""
_MEMBERS = (
    _TRIM
    + r"""
local function queue_of(channel)
  local bang = string.find(channel, '!', 1, true)
  if bang then
    return string.sub(channel, 1, bang)
  end
  return channel
end

-- Drop memberships of a group that are older than the cutoff.
local function expire_members(group, cutoff)
  local gk = P .. 'g:' .. group
  local old = redis.call('ZRANGEBYSCORE', gk, '-inf', cutoff)
  for _, channel in ipairs(old) do
    redis.call('ZREM', gk, channel)
    redis.call('SREM', P .. 'm:' .. channel, group)
  end
end

-- Expire member queues (which may evict members); return the live members.
local function live_members(group, cutoff)
  expire_members(group, cutoff)
  local gk = P .. 'g:' .. group
  local members = redis.call('ZRANGE', gk, 0, -1)
  local seen = {}
  for _, channel in ipairs(members) do
    local queue = queue_of(channel)
    if not seen[queue] then
      seen[queue] = true
      trim_if_due(queue)
    end
  end
  return redis.call('ZRANGE', gk, 0, -1)
end
"""
)

#: ARGV 5-10: queue, entry, expires, capacity, ttl, count a refusal (1/0).
#: Return 1 if queued, 0 if full.
SEND = (
    _HEAD
    + _COUNT
    + _TRIM
    + _PUSH
    + r"""
local queue = ARGV[5]
local capacity = tonumber(ARGV[8])
-- Expired entries only matter here when they would make the queue look full.
if redis.call('LLEN', P .. 'q:' .. queue) >= capacity and trim(queue) >= capacity then
  if ARGV[10] == '1' then
    count_in(S .. 'c:' .. queue, 'f', 1)
    count_in(S .. 'all', 'f', 1)
  end
  return 0
end
local new_second = count_in(S .. 'c:' .. queue, 'm', 1)
push(queue, ARGV[6], ARGV[7], ARGV[9], new_second)
if count_in(S .. 'all', 'm', 1) then
  -- Once a second per server: clean up queues whose messages expired unread.
  sweep(SWEEP_LIMIT)
end
return 1
"""
)

_SETTLE = r"""
-- After popping ``popped`` entries from a queue: drop it from the index once empty,
-- else leave one wake-up token per queued message. The index keeps the old head's
-- expiry: an early score only makes a sweep look at this queue sooner, where trim()
-- corrects it.
local function settle_tokens(queue, qk, popped, blocking)
  local wk = P .. 'w:' .. queue
  local left = redis.call('LLEN', qk)
  if left == 0 then
    redis.call('ZREM', E, queue)
    redis.call('DEL', wk)
  elseif blocking then
    -- A blocking receive's BLPOP took one token already: drop only the surplus.
    local tokens = redis.call('LLEN', wk)
    if tokens > left then
      redis.call('LTRIM', wk, tokens - left, -1)
    end
  else
    redis.call('LPOP', wk, popped)
  end
end

"""

_POP_LIVE = r"""
-- Pop entries of queue key qk until ``found`` holds ``want`` live ones or the queue is
-- empty; expired ones evict their channel. Return how many entries were popped.
local function pop_live(qk, want, found)
  local popped = 0
  while #found < want do
    local entries = redis.call('LPOP', qk, want - #found)
    if not entries then
      break
    end
    for _, entry in ipairs(entries) do
      popped = popped + 1
      if tonumber(string.sub(entry, 1, 13)) > now then
        found[#found + 1] = entry
      else
        evict(channel_of(entry))
      end
    end
  end
  return popped
end
"""

_TOP_UP = r"""
-- A blocking receive's BLPOP may have taken the token of a queue other than the
-- one popped from (queue names from ARGV[first]): give every such queue back one
-- token per queued message.
local function top_up_tokens(first, found_queue)
  local others = {}
  local keys = {}
  for i = first, #ARGV do
    if ARGV[i] ~= found_queue then
      others[#others + 1] = ARGV[i]
      keys[#keys + 1] = P .. 'q:' .. ARGV[i]
    end
  end
  -- Usually every other queue is empty: one EXISTS over all of them settles that.
  if #keys == 0 or redis.call('EXISTS', unpack(keys)) == 0 then
    return
  end
  for j, queue in ipairs(others) do
    local left = redis.call('LLEN', keys[j])
    if left > 0 then
      local wk = P .. 'w:' .. queue
      local tokens = redis.call('LLEN', wk)
      for _ = tokens + 1, left do
        redis.call('RPUSH', wk, '')
      end
    end
  end
end
"""

#: ARGV 5-: '1' if a wake-up token may have been taken for this call (blocking receive),
#: then queue names in the order to try. Return the first live entry popped, or false.
RECEIVE = (
    _HEAD
    + _EVICT
    + _SETTLE
    + _TOP_UP
    + r"""
local blocking = ARGV[5] == '1'
local found = false
local found_queue = false
for i = 6, #ARGV do
  local queue = ARGV[i]
  local qk = P .. 'q:' .. queue
  local popped = 0
  while true do
    local entry = redis.call('LPOP', qk)
    if not entry then
      break
    end
    popped = popped + 1
    if tonumber(string.sub(entry, 1, 13)) > now then
      found = entry
      found_queue = queue
      break
    end
    evict(channel_of(entry))
  end
  if popped > 0 then
    settle_tokens(queue, qk, popped, blocking)
  end
  if found then
    break
  end
end
if blocking then
  top_up_tokens(6, found_queue)
end
return found
"""
)

#: ARGV 5-7: group, channel, ttl. Add or refresh a membership.
GROUP_ADD = (
    _HEAD
    + r"""
local gk = P .. 'g:' .. ARGV[5]
local mk = P .. 'm:' .. ARGV[6]
redis.call('ZADD', gk, now, ARGV[6])
redis.call('SADD', mk, ARGV[5])
redis.call('PEXPIRE', gk, ARGV[7])
redis.call('PEXPIRE', mk, ARGV[7])
return 1
"""
)

#: ARGV 5-6: group, channel. Remove a membership if present.
GROUP_DISCARD = (
    _HEAD
    + r"""
redis.call('ZREM', P .. 'g:' .. ARGV[5], ARGV[6])
redis.call('SREM', P .. 'm:' .. ARGV[6], ARGV[5])
return 1
"""
)

#: ARGV 5-6: group, membership cutoff. Return the live members on this shard.
GROUP_CHANNELS = (
    _HEAD
    + _MEMBERS
    + r"""
return live_members(ARGV[5], tonumber(ARGV[6]))
"""
)

#: ARGV 5-: group, cutoff, payload, expires (13 digits), ttl, default capacity, shard count,
#: then mode 'P' with (lua pattern, capacity) pairs or mode 'C' with (channel, capacity)
#: pairs. Normal channels get this shard's share of their capacity (see core.py).
#: Queue a copy for every live member that has room; return {delivered..., '', full...}.
GROUP_SEND = (
    _HEAD
    + _COUNT
    + _PUSH
    + _MEMBERS
    + r"""
local group = ARGV[5]
local cutoff = tonumber(ARGV[6])
local payload = ARGV[7]
local expires = ARGV[8]
local ttl = ARGV[9]
local default_capacity = tonumber(ARGV[10])
local shards = tonumber(ARGV[11])
local mode = ARGV[12]
local patterns = {}
local explicit = {}
local members
if mode == 'C' then
  local live = {}
  for _, channel in ipairs(live_members(group, cutoff)) do
    live[channel] = true
  end
  members = {}
  for i = 13, #ARGV, 2 do
    if live[ARGV[i]] then
      explicit[ARGV[i]] = tonumber(ARGV[i + 1])
      members[#members + 1] = ARGV[i]
    end
  end
else
  for i = 13, #ARGV, 2 do
    patterns[#patterns + 1] = {ARGV[i], tonumber(ARGV[i + 1])}
  end
  members = live_members(group, cutoff)
end
local capacities = {}
local function capacity_of(channel, queue)
  local known = explicit[channel]
  if known then
    return known
  end
  local cached = capacities[queue]
  if cached then
    return cached
  end
  local result = default_capacity
  for _, rule in ipairs(patterns) do
    if string.find(queue, rule[1]) then
      result = rule[2]
      break
    end
  end
  if shards > 1 and not string.find(queue, '[!?]') then
    -- A normal channel's capacity is split over the shards; its home shard (this one)
    -- gets the rounded-up share.
    local share = math.floor(result / shards)
    if result % shards > 0 then
      share = share + 1
    end
    result = share
  end
  capacities[queue] = result
  return result
end
local delivered = {}
local full = {}
for _, channel in ipairs(members) do
  local queue = queue_of(channel)
  if redis.call('LLEN', P .. 'q:' .. queue) < capacity_of(channel, queue) then
    local new_second = count_in(S .. 'c:' .. queue, 'm', 1)
    push(queue, expires .. channel .. '\0' .. payload, expires, ttl, new_second)
    delivered[#delivered + 1] = channel
  else
    count_in(S .. 'c:' .. queue, 'f', 1)
    full[#full + 1] = channel
  end
end
if #delivered > 0 then
  count_in(S .. 'all', 'm', #delivered)
end
if #full > 0 then
  count_in(S .. 'all', 'f', #full)
end
delivered[#delivered + 1] = ''
for _, channel in ipairs(full) do
  delivered[#delivered + 1] = channel
end
return delivered
"""
)

_STATS_FIELDS = r"""
-- Read a count_in hash as {total before the latest second, latest second, its count,
-- the count of the second before it} for messages, then the same for refusals.
local function counters(key)
  local fields = redis.call('HGETALL', key)
  local result = {}
  for _, kind in ipairs({'m', 'f'}) do
    local total = 0
    local latest = false
    local counts = {}
    for i = 1, #fields, 2 do
      local name = fields[i]
      if string.sub(name, 1, 1) == kind then
        local count = tonumber(fields[i + 1])
        local at = tonumber(string.sub(name, 2))
        if at then
          counts[at] = count
          total = total + count
          if not latest or at > latest then
            latest = at
          end
        elseif name == kind .. 't' then
          total = total + count
        end
      end
    end
    if latest then
      local current = counts[latest]
      table.insert(result, total - current)
      table.insert(result, latest)
      table.insert(result, current)
      table.insert(result, counts[latest - 1] or 0)
    else
      table.insert(result, total)
      table.insert(result, false)
      table.insert(result, false)
      table.insert(result, false)
    end
  end
  return result
end

"""

#: ARGV 5: queue. Return {pending, head expiry or -1, counter fields...}.
STATS_CHANNEL = (
    _HEAD
    + _TRIM
    + _STATS_FIELDS
    + r"""
local queue = ARGV[5]
local length = trim(queue)
local head = -1
if length > 0 then
  head = tonumber(string.sub(redis.call('LINDEX', P .. 'q:' .. queue, 0), 1, 13))
end
return {length, head, counters(S .. 'c:' .. queue)}
"""
)

#: Return {pending, oldest head expiry or -1, counter fields...} over the whole shard.
STATS_GLOBAL = (
    _HEAD
    + _TRIM
    + _STATS_FIELDS
    + r"""
sweep(0)
local queues = redis.call('ZRANGE', E, 0, -1)
local pending = 0
local oldest = -1
for _, queue in ipairs(queues) do
  local qk = P .. 'q:' .. queue
  pending = pending + redis.call('LLEN', qk)
  local head = redis.call('LINDEX', qk, 0)
  if head then
    local expires = tonumber(string.sub(head, 1, 13))
    if oldest < 0 or expires < oldest then
      oldest = expires
    end
  end
end
return {pending, oldest, counters(S .. 'all')}
"""
)

#: ARGV 5-7: '1' if a wake-up token may have been taken for this call (blocking receive),
#: the most entries to return, and one queue name. Pop up to that many live entries,
#: oldest first, in one call; return them as a list (empty if none). Only for queues
#: with a single reader (process-specific prefixes), which may keep the extra entries.
RECEIVE_MANY = (
    _HEAD
    + _EVICT
    + _SETTLE
    + _POP_LIVE
    + r"""
local blocking = ARGV[5] == '1'
local limit = tonumber(ARGV[6])
local queue = ARGV[7]
local qk = P .. 'q:' .. queue
local found = {}
local popped = pop_live(qk, limit, found)
if popped > 0 then
  settle_tokens(queue, qk, popped, blocking)
end
return found
"""
)

#: ARGV 5-: '1' if a wake-up token may have been taken for this call (blocking receive),
#: the most entries to return, then queue names in the order to try. Pop live entries
#: from the first queue that has any: at most that many, and at most half of what the
#: queue holds (at least one), so other readers of a backlog always find work. Return
#: them oldest first as a list (empty if none). For workers, which handle the extra
#: entries before asking again (see asgi_redis._batch).
RECEIVE_BATCH = (
    _HEAD
    + _EVICT
    + _SETTLE
    + _POP_LIVE
    + _TOP_UP
    + r"""
local blocking = ARGV[5] == '1'
local limit = tonumber(ARGV[6])
local found = {}
local found_queue = false
for i = 7, #ARGV do
  local queue = ARGV[i]
  local qk = P .. 'q:' .. queue
  local length = redis.call('LLEN', qk)
  if length > 0 then
    local want = math.min(limit, math.max(1, math.floor(length / 2)))
    settle_tokens(queue, qk, pop_live(qk, want, found), blocking)
    if #found > 0 then
      found_queue = queue
      break
    end
  end
end
if blocking then
  top_up_tokens(7, found_queue)
end
return found
"""
)
