-- ARGV: P, mode ('replay' / 'purge' / 'purge_all'), now, then pos, JSON
-- per entry (replay), pos per entry (purge). Returns the number removed.

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
local step = 1
if mode == 'replay' then step = 2 end
for b = 4, #ARGV, step do
  local r = redis.call('XRANGE', dlq, '0-' .. ARGV[b], '0-' .. ARGV[b])
  if r[1] then
    if mode == 'replay' then remove(r[1], ARGV[b + 1]) else remove(r[1], nil) end
  end
end
return n
