-- ARGV: P, now, window, id key TTL (ms), the appending node's name, then
-- id, type, created, packed
-- fields ('d' of the log entry), not_before ('' unless delayed) and the
-- event's JSON (codec::to_json of the event with seq 0; '' unless delayed)
-- per event. Returns flat: duplicate flag, seq. A new id costs SET NX PX +
-- XADD; an id seen before GET too (and SET PX again if its window has
-- passed by the caller's clock). A delayed event's id key lives longer by
-- its delay; its entry gets the field `n` (its time) and goes into
-- `delayed`, and for every group of its type into the retry schedule, due
-- at its time as a delayed first attempt (`delayed:wait`; see
-- docs/architecture.md, Delayed events). The call's new entries are one
-- range of seqs: `log:a` gets "<first>:<last>:<node>" for it (who accepted
-- them); a duplicate of a logged entry counts in `dups`.

local now = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local log = K('log')
local seq = tonumber(redis.call('GET', K('seq')) or '0')
local out = {}
local added = false
local first_new, latest = nil, nil
-- The groups with their matchers, read at the first delayed event.
local groups = nil
local function schedule(s, nb, t, evjson)
  if not groups then
    groups = {}
    local gs = redis.call('HGETALL', K('groups'))
    for i = 1, #gs, 2 do
      local parts = split(gs[i + 1])
      local pats = {}
      for j = 2, #parts do pats[#pats + 1] = parts[j] end
      groups[#groups + 1] = {gs[i], matcher(pats)}
    end
  end
  redis.call('ZADD', K('delayed'), s, s)
  for _, gr in ipairs(groups) do
    local g = gr[1]
    if gr[2](t) then
      local member = g .. '\31' .. s
      redis.call('ZADD', K('retry:due'), nb, member)
      redis.call('ZADD', K('retry:seq'), s, member)
      redis.call('HSET', K('retry:data'), member,
                 '{"attempt":1,"epoch":0,"redeliveries":0,"history":[],'
                 .. '"group":' .. cjson.encode(g) .. ',"ev":' .. evjson .. '}')
      redis.call('HDEL', K('retry:taken'), member)
      redis.call('ZADD', K('delayed:wait'), nb, member)
      -- In the schedule, no lease (as a DLQ replay).
      redis.call('HSET', GK(g, 'st'), s, lease_str(0, 0, 0, 0, 1, ''))
    end
  end
end
local node = ARGV[5]
local n = (#ARGV - 5) / 6
for k = 0, n - 1 do
  local b = 5 + k * 6
  local ik = P .. 'id:' .. ARGV[b + 1]
  local ss = fmt(seq + 1)
  local val = ss .. ' ' .. ARGV[b + 3]
  local c = tonumber(ARGV[b + 3])
  local nb = ARGV[b + 5]
  local px = ttl
  if nb ~= '' and tonumber(nb) > c then px = ttl + tonumber(nb) - c end
  px = fmt(px)
  local dup = false
  if not redis.call('SET', ik, val, 'NX', 'PX', px) then
    local v = redis.call('GET', ik)
    local s, oc
    if v then s, oc = string.match(v, '^(%d+) (%-?%d+)$') end
    if s and tonumber(oc) + win > now then
      out[#out + 1] = 1
      out[#out + 1] = s
      dup = true
      -- The duplicate submissions of a logged entry: `dups` field <seq> =
      -- "<count>:<first time>:<last time>:<last node>" (trimmed with it).
      if tonumber(s) > trimmed_to() then
        local dk = K('dups')
        local cnt, first = 0, now
        local dv = redis.call('HGET', dk, s)
        if dv then
          local c0, f0 = string.match(dv, '^(%d+):(%-?%d+):')
          if c0 then cnt, first = tonumber(c0), tonumber(f0) end
        end
        redis.call('HSET', dk, s, fmt(cnt + 1) .. ':' .. fmt(first) .. ':'
                   .. fmt(now) .. ':' .. node)
      end
    else
      redis.call('SET', ik, val, 'PX', px)
    end
  end
  if not dup then
    seq = seq + 1
    if not first_new then first_new = seq end
    -- The append time index keeps when an entry's history starts: its
    -- time for a delayed event.
    local hc = c
    if nb ~= '' and tonumber(nb) > hc then hc = tonumber(nb) end
    if not latest or hc > latest then latest = hc end
    if nb ~= '' then
      redis.call('XADD', log, '0-' .. ss, 'i', ARGV[b + 1], 't', ARGV[b + 2],
                 'd', ARGV[b + 4], 'n', nb)
      schedule(ss, nb, ARGV[b + 2], ARGV[b + 6])
    else
      redis.call('XADD', log, '0-' .. ss, 'i', ARGV[b + 1], 't', ARGV[b + 2],
                 'd', ARGV[b + 4])
    end
    out[#out + 1] = 0
    out[#out + 1] = ss
    added = true
  end
end
if added then
  redis.call('SET', K('seq'), fmt(seq))
  -- The append time index for trimming (see lua_trim).
  redis.call('ZADD', K('log:t'), first_new,
             fmt(first_new) .. ':' .. fmt(latest))
  redis.call('ZADD', K('log:a'), first_new,
             fmt(first_new) .. ':' .. fmt(seq) .. ':' .. node)
end
return out
