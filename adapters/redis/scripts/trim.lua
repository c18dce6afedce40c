-- ARGV: P, now, retention, max. Removes the oldest log entries up to the
-- trim point (see store::trim), at most `max`, with their state fields
-- (except dead pairs', which the DLQ still needs) and effect records;
-- raises `trimmed`. Returns the number of entries removed.

local now = tonumber(ARGV[2])
local ret = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
if max <= 0 then return 0 end
local log = K('log')
local head = tonumber(redis.call('GET', K('seq')) or '0')
local done_to = trimmed_to()
-- The lowest seq some group has not settled.
local limit = head + 1
local groups = redis.call('HKEYS', K('groups'))
if #groups > 0 then
  local last = {}
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', log)) do
    last[field(info, 'name')] = field(info, 'last-delivered-id')
  end
  for _, g in ipairs(groups) do
    local l = last[g]
    if not l then return redis.error_reply('NOGROUP unknown group ' .. g) end
    limit = math.min(limit, tonumber(string.match(l, '%-(%d+)$')) + 1)
    local p = redis.call('XPENDING', log, g)
    if p[1] > 0 then
      limit = math.min(limit, tonumber(string.match(p[2], '%-(%d+)$')))
    end
  end
end
-- Retries of entries not trimmed yet (a replay of a trimmed event needs
-- no log entry and holds nothing back).
local r = redis.call('ZRANGEBYSCORE', K('retry:seq'), '(' .. done_to, '+inf',
                    'WITHSCORES', 'LIMIT', 0, 1)
if #r > 0 then limit = math.min(limit, tonumber(r[2])) end
local from = done_to + 1
local hi = math.min(limit - 1, done_to + max)
if hi < from then return 0 end
-- Where the prefix of old entries ends. The append time index `log:t` (one
-- member per append call: score its first seq, member "<first seq>:<latest
-- created_at>") answers for whole batches; only the batch holding the
-- first entry within retention is read entry by entry. Entries without an
-- index member (none) are read.
local function created_of(e)
  local f = e[2]
  local created = nil
  local d = field(f, 'd')
  if d then created = string.match(d, '^%-?%d+\31(%-?%d+)\31') end
  created = tonumber(created or field(f, 'c') or '0')
  -- A delayed event's history counts from its time.
  local nb = tonumber(field(f, 'n') or '0')
  if nb > created then return nb end
  return created
end
-- The last seq in [a, b] before the first entry within retention.
local function scan(a, b)
  local cut = b
  for _, e in ipairs(redis.call('XRANGE', log, '0-' .. fmt(a),
                                '0-' .. fmt(b))) do
    if created_of(e) + ret > now then
      return tonumber(string.sub(e[1], 3)) - 1
    end
  end
  return cut
end
local tk = K('log:t')
local cut = from - 1
local first = redis.call('ZREVRANGEBYSCORE', tk, fmt(from), '-inf',
                         'LIMIT', 0, 1)
if #first == 0 then
  cut = scan(from, hi)
else
  local batches = {first[1]}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', tk, '(' .. fmt(from),
                                fmt(hi))) do
    batches[#batches + 1] = m
  end
  for k, m in ipairs(batches) do
    local s0, mc = string.match(m, '^(%d+):(%-?%d+)$')
    local e0 = hi
    if batches[k + 1] then
      e0 = math.min(hi, tonumber(string.match(batches[k + 1], '^(%d+):')) - 1)
    end
    if tonumber(mc) + ret <= now then
      cut = e0
    else
      cut = scan(math.max(tonumber(s0), from), e0)
      break
    end
  end
end
if cut < from then return 0 end
local seqs = {}
for q = from, cut do seqs[#seqs + 1] = fmt(q) end
local last_seq = seqs[#seqs]
-- The mark first: if a later command fails, claims of these seqs are
-- still refused (never granted again without a state field).
redis.call('SET', K('trimmed'), last_seq)
-- Index members of batches that are gone entirely.
local keep = redis.call('ZREVRANGEBYSCORE', tk, fmt(cut + 1), '-inf',
                        'LIMIT', 0, 1)
if #keep > 0 then
  redis.call('ZREMRANGEBYSCORE', tk, '-inf',
             '(' .. string.match(keep[1], '^(%d+):'))
end
-- The acceptance index `log:a` (lua_append: "<first>:<last>:<node>"):
-- every range that ends at or below the cut.
local ak = K('log:a')
local alast = redis.call('ZREVRANGEBYSCORE', ak, fmt(cut), '-inf',
                         'LIMIT', 0, 1)
if #alast > 0 then
  local f, l = string.match(alast[1], '^(%d+):(%d+):')
  if f and tonumber(l) > cut then
    redis.call('ZREMRANGEBYSCORE', ak, '-inf', '(' .. f)
  elseif f then
    redis.call('ZREMRANGEBYSCORE', ak, '-inf', f)
  end
end
for _, g in ipairs(groups) do
  local sk = GK(g, 'st')
  local i = 1
  while i <= #seqs do
    local chunk = {}
    for j = i, math.min(#seqs, i + 999) do chunk[#chunk + 1] = seqs[j] end
    local vs = redis.call('HMGET', sk, unpack(chunk))
    local gone = {}
    for j = 1, #chunk do
      local v = vs[j]
      if v and string.byte(v, 1) ~= 88 then gone[#gone + 1] = chunk[j] end
    end
    if #gone > 0 then redis.call('HDEL', sk, unpack(gone)) end
    redis.call('HDEL', GK(g, 'proc'), unpack(chunk))
    i = i + 1000
  end  -- Read lease records of runs trimmed entirely.
  local rl = GK(g, 'rl')
  for _, r in ipairs(redis.call('ZRANGEBYSCORE', rl, '-inf', fmt(cut),
                                'LIMIT', 0, 1000)) do
    local l = tonumber(string.match(r, '^%d+ (%d+) '))
    if l and l <= cut then redis.call('ZREM', rl, r) end
  end
end
-- The duplicate counts of the trimmed entries (lua_append).
for i = 1, #seqs, 1000 do
  redis.call('HDEL', K('dups'), unpack(seqs, i, math.min(#seqs, i + 999)))
end
redis.call('XTRIM', log, 'MINID', '0-' .. fmt(tonumber(last_seq) + 1))
redis.call('ZREMRANGEBYSCORE', K('delayed'), '-inf', last_seq)
return #seqs
