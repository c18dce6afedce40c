-- ARGV: P, group, patterns ("\31"-joined), from-start ('1'/'0'). Returns
-- the group's start.

local g = ARGV[2]
local start = group_info(g)
if start then
  redis.call('HSET', K('groups'), g, fmt(start) .. '\31' .. ARGV[3])
  return start
end
local head = tonumber(redis.call('GET', K('seq')) or '0')
-- From the start (a group registered again after a loss): from the first
-- entry not trimmed.
if ARGV[4] == '1' then head = trimmed_to() end
local ok = redis.pcall('XGROUP', 'CREATE', K('log'), g, '0-' .. fmt(head),
                       'MKSTREAM')
if type(ok) == 'table' and ok.err then
  if string.find(ok.err, 'BUSYGROUP', 1, true) then
    redis.call('XGROUP', 'SETID', K('log'), g, '0-' .. fmt(head))
  else
    return ok
  end
end
-- A group reading the log from the start (registered again over old data)
-- reads every entry that is still pending again: the mirror members and
-- read lease records of before are void, and since it may meet settled
-- entries, its reads lease only entries appended from now on (see
-- lua_read_after). (A group created at the head reads past every old
-- record and member.)
if ARGV[4] == '1' then
  redis.call('DEL', GK(g, 'rl'), GK(g, 'pel'))
  redis.call('SET', GK(g, 'rlfrom'), redis.call('GET', K('seq')) or '0')
end
redis.call('HSET', K('groups'), g, fmt(head) .. '\31' .. ARGV[3])
return head
