-- ARGV: P, group, after-id ('' = the group's last delivered id), chunk.
-- Returns {pending, matched, next-id or ''}. A group whose patterns are
-- all `*` is answered from the head and its last delivered id (O(1));
-- others scan the unread entries in chunks.

local g = ARGV[2]
local err, start, pats = need_group(g)
if err then return err end
local after = ARGV[3]
local pending = nil
local last_id = nil
for _, info in ipairs(redis.call('XINFO', 'GROUPS', K('log'))) do
  if field(info, 'name') == g then
    last_id = field(info, 'last-delivered-id')
    pending = field(info, 'pending')
  end
end
if not last_id then return redis.error_reply('NOGROUP unknown group') end
if after == '' then after = last_id end
local all = #pats > 0
for _, p in ipairs(pats) do
  if p ~= '*' then all = false break end
end
if all then
  -- Every entry is the group's: seqs are dense (entries are removed only
  -- below what every group has read), so the unread ones are counted
  -- without a scan.
  local head = tonumber(redis.call('GET', K('seq')) or '0')
  local last = tonumber(string.match(after, '^%d+%-(%d+)$') or '0')
  -- A group registered from the start after a trim reads nothing below
  -- the trim point.
  last = math.max(last, trimmed_to())
  -- Delayed entries wait in the schedule, not for the read.
  local waiting = redis.call('ZCOUNT', K('delayed'), '(' .. fmt(last), '+inf')
  return {pending, math.max(0, head - last - waiting), ''}
end
local chunk = tonumber(ARGV[4])
local es = redis.call('XRANGE', K('log'), '(' .. after, '+', 'COUNT', chunk)
local match = matcher(pats)
local n = 0
for _, e in ipairs(es) do
  local t = e[2] and field(e[2], 't')
  if t and match(t) and not field(e[2], 'n') then n = n + 1 end
end
local next_id = ''
if #es == chunk then next_id = es[#es][1] end
return {pending, n, next_id}
