-- ARGV: P, now, offset, count, consumer, instance, call, default hold,
-- then group, hold per group with a hold of its own. Returns flat: member,
-- due, delivery JSON ('' for entries that are not free).
--
-- `retry:taken` marks which store object took an entry and until when
-- ("<consumer> <instance> <time> <call> <until>": `call` numbers this
-- object's take_due calls, `time` is the take's, `until` the time the mark
-- lapses: the take's time plus the hold of the entry's group, moved on by
-- lua_renew while the taker holds the entry). A take is a lease: an entry
-- is not free while a mark of any store object of any node has not lapsed.
-- Marks go with the settlement (or a DLQ replay, or lua_renew's release);
-- one left behind (a node that died, a reply that got lost) frees the
-- entry when it lapses, and it is handed out again (the lease claim lets
-- one delivery run at a time). Marks of this consumer's earlier store
-- objects (a restart) do not block it; its own mark of the same call (sent
-- again) neither. A mark of another format (an earlier version) counts as
-- lapsed.

local now = tonumber(ARGV[2])
local me = ARGV[5]
local inst = ARGV[6]
local call = ARGV[7]
local holds = {}
for i = 9, #ARGV - 1, 2 do holds[ARGV[i]] = ARGV[i + 1] end
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
    local c, ti, _, tc, till =
      string.match(t, '^(.*) (%S+) (%-?%d+) (%d+) (%-?%d+)$')
    if c == me and ti ~= inst then
      free = true
    elseif c == me and tc == call then
      -- This call sent again (the connection broke after the first was
      -- sent): what the first one took.
      free = true
    else
      free = till == nil or now >= tonumber(till)
    end
  end
  if free then
    data = redis.call('HGET', K('retry:data'), m) or ''
    if data ~= '' then
      local g = string.match(m, '^(.*)\31')
      local hold = tonumber((g and holds[g]) or ARGV[8])
      redis.call('HSET', tk, m, me .. ' ' .. inst .. ' ' .. ARGV[2] .. ' '
                 .. call .. ' ' .. fmt(now + hold))
    end
  end
  out[#out + 1] = m
  out[#out + 1] = ms[i + 1]
  out[#out + 1] = data
end
return out
