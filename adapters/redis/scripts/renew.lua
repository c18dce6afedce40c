-- ARGV: P, consumer, instance, then member, until per pair ('' to
-- release). Renews (sets the `until` of) or releases (HDEL) the take marks
-- of these members in `retry:taken` (see lua_due) that this store object
-- set; leaves other marks, and members without one, as they are. Returns
-- the number of marks renewed or released. Sent again, it leaves the marks
-- as the first run did (a release answers 0 then).

local tk = K('retry:taken')
local n = 0
for b = 4, #ARGV - 1, 2 do
  local m = ARGV[b]
  local t = redis.call('HGET', tk, m)
  if t then
    local c, ti, at, call =
      string.match(t, '^(.*) (%S+) (%-?%d+) (%d+) %-?%d+$')
    if c == ARGV[2] and ti == ARGV[3] then
      if ARGV[b + 1] == '' then
        redis.call('HDEL', tk, m)
      else
        redis.call('HSET', tk, m, c .. ' ' .. ti .. ' ' .. at .. ' ' .. call
                   .. ' ' .. ARGV[b + 1])
      end
      n = n + 1
    end
  end
end
return n
