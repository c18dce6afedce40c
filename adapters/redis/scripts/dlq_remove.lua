-- ARGV: P, mode ('replay' / 'purge' / 'purge_all' / 'purge_group'), now,
-- then pos, JSON per entry (replay), pos per entry (purge), group and the
-- most entries to remove in this call (purge_group). Returns the number
-- removed.

local dlq = K('dlq')
local mode = ARGV[2]
local n = 0
local function remove(e, json)
  local f = e[2]
  local pos = string.sub(e[1], 3)
  local g = field(f, 'g')
  local s = field(f, 's')
  local id = field(f, 'i')
  redis.call('XDEL', dlq, e[1])
  redis.call('DEL', K('dlq:e:' .. pos))
  redis.call('SREM', K('dlq:ev:' .. id), pos)
  redis.call('HDEL', GK(g, 'dead'), s)
  if json then
    local member = g .. '\31' .. s
    redis.call('ZADD', K('retry:due'), ARGV[3], member)
    redis.call('ZADD', K('retry:seq'), s, member)
    redis.call('HSET', K('retry:data'), member, json)
    redis.call('HDEL', K('retry:taken'), member)
    -- No lease, in the retry schedule.
    redis.call('HSET', GK(g, 'st'), s, lease_str(0, 0, 0, 0, 1, ''))
  else
    -- Purged: the pair never runs again (a trimmed one needs no state
    -- for that).
    if tonumber(s) <= trimmed_to() then
      redis.call('HDEL', GK(g, 'st'), s)
    else
      redis.call('HSET', GK(g, 'st'), s, 'P')
    end
  end
  n = n + 1
end
if mode == 'purge_all' then
  while true do
    local es = redis.call('XRANGE', dlq, '-', '+', 'COUNT', 1000)
    if #es == 0 then break end
    for _, e in ipairs(es) do remove(e, nil) end
  end
  return n
end
if mode == 'purge_group' then
  -- The group's entries from its dead hash (seq -> pos), at most ARGV[5]
  -- per call (the caller calls again while it gets that many).
  local dead = GK(ARGV[4], 'dead')
  local max = tonumber(ARGV[5])
  local cursor = '0'
  repeat
    local r = redis.call('HSCAN', dead, cursor, 'COUNT', 256)
    cursor = r[1]
    local kv = r[2]
    for i = 2, #kv, 2 do
      if n >= max then return n end
      local es = redis.call('XRANGE', dlq, '0-' .. kv[i], '0-' .. kv[i])
      if es[1] then
        remove(es[1], nil)
      else
        redis.call('HDEL', dead, kv[i - 1]) -- names no entry any more
      end
    end
  until cursor == '0' or n >= max
  return n
end
local step = 1
if mode == 'replay' then step = 2 end
for b = 4, #ARGV, step do
  local r = redis.call('XRANGE', dlq, '0-' .. ARGV[b], '0-' .. ARGV[b])
  if r[1] then
    if mode == 'replay' then remove(r[1], ARGV[b + 1]) else remove(r[1], nil) end
  end
end
return n
