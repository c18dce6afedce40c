-- ARGV: P, now, offset, count, consumer, instance, hold, call. Returns flat:
-- member, due, delivery JSON ('' for entries that are not free).
--
-- `retry:taken` marks which store object took an entry ("<consumer>
-- <instance> <time> <call>": call numbers this object's take_due calls).
-- An entry is not free while a mark of another store object of any node
-- younger than `hold` ms is on it, nor while this store object's own mark
-- is. Marks go with the settlement (or a DLQ replay);
-- one left behind (a node that died, a reply that got lost) frees the
-- entry after `hold`, when it is handed out again (the lease claim lets one
-- delivery run at a time). Marks of this consumer's earlier store objects
-- (a restart) do not block it; its own mark of the same call (sent again)
-- neither.

local now = tonumber(ARGV[2])
local me = ARGV[5]
local inst = ARGV[6]
local hold = tonumber(ARGV[7])
local tk = K('retry:taken')
local ms = redis.call('ZRANGEBYSCORE', K('retry:due'), '-inf', ARGV[2],
                      'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
local out = {}
for i = 1, #ms, 2 do
  local m = ms[i]
  local data = ''
  local t = redis.call('HGET', tk, m)
  local free = true
  if t then
    local c, ti, at, call = string.match(t, '^(.*) (%S+) (%-?%d+) (%d+)$')
    if c == me and ti ~= inst then
      free = true
    elseif c == me and call == ARGV[8] then
      -- This call sent again (the connection broke after the first was
      -- sent): what the first one took.
      free = true
    else
      free = at == nil or now >= tonumber(at) + hold
    end
  end
  if free then
    data = redis.call('HGET', K('retry:data'), m) or ''
    if data ~= '' then
      redis.call('HSET', tk, m, me .. ' ' .. inst .. ' ' .. ARGV[2] .. ' '
                 .. ARGV[8])
    end
  end
  out[#out + 1] = m
  out[#out + 1] = ms[i + 1]
  out[#out + 1] = data
end
return out
