-- ARGV: P, consumer, instance. Returns when take_due may next hand out an
-- entry (see lua_due), or -1 if the schedule is empty: the due time of an
-- entry without a blocking mark, or the time its mark lapses (its
-- `until`), whichever is later, earliest over the entries. Scans in due
-- order up to the first entry without a blocking mark (nothing after it
-- can be earlier).

local tk = K('retry:taken')
local best = nil
local off = 0
while true do
  local ms = redis.call('ZRANGE', K('retry:due'), off, off + 99, 'WITHSCORES')
  if #ms == 0 then break end
  for i = 1, #ms, 2 do
    local due = tonumber(ms[i + 1])
    if best and due >= best then return best end
    local t = redis.call('HGET', tk, ms[i])
    local till = nil
    if t then
      local c, ti, _, _, u =
        string.match(t, '^(.*) (%S+) (%-?%d+) (%d+) (%-?%d+)$')
      if not (c == ARGV[2] and ti ~= ARGV[3]) then till = tonumber(u) end
    end
    if not till then
      if not best or due < best then best = due end
      return best
    end
    local free_at = math.max(due, till)
    if not best or free_at < best then best = free_at end
  end
  off = off + 100
end
return best or -1
