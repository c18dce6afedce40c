-- After the XREADGROUP (same MULTI/EXEC). ARGV: P, group, now, holder,
-- ttl (holder and ttl '' for no leases). Mirrors what it delivered into
-- `g:<g>:pel` as one member, the run of seqs from the noted last delivered
-- one to the new one (seqs are dense), acknowledges entries of types the
-- group does not take, and with a ttl leases the entries to the holder:
-- one record for the whole read (see below). Returns {all (1/0), epoch of
-- `first` (0: no leases), first (the lowest seq leased), seq, ...}, the
-- seqs the caller may hand out listed unless the group takes every type;
-- each seq from `first` on has epoch <epoch of first> + seq - first.

local g = ARGV[2]
local err, start, pats = need_group(g)
if err then return err end
local prev = tonumber(redis.call('GET', GK(g, 'rd')) or '-1')
local last = nil
for _, info in ipairs(redis.call('XINFO', 'GROUPS', K('log'))) do
  if field(info, 'name') == g then
    last = tonumber(string.match(field(info, 'last-delivered-id'),
                                 '%-(%d+)$'))
  end
end
if not last or prev < 0 then
  return redis.error_reply('NOGROUP unknown group')
end
local all = #pats > 0
for _, p in ipairs(pats) do
  if p ~= '*' then all = false break end
end
local leasing = ARGV[5] ~= ''
local acks = {}
local seqs = {}
-- Delayed entries (`delayed`, their entries have the field `n`) are never
-- handed out by a read: the schedule does (see lua_append). They are
-- acknowledged here, so never pending; the client skips them too.
local delayed = {}
if last > prev then
  for _, q in ipairs(redis.call('ZRANGEBYSCORE', K('delayed'), prev + 1,
                                last)) do
    delayed[q] = true
  end
end
if not all and last > prev then
  local match = matcher(pats)
  for _, e in ipairs(redis.call('XRANGE', K('log'), '0-' .. fmt(prev + 1),
                                '0-' .. fmt(last))) do
    local t = e[2] and field(e[2], 't')
    if t and match(t) and not delayed[string.sub(e[1], 3)] then
      seqs[#seqs + 1] = string.sub(e[1], 3)
    else
      acks[#acks + 1] = e[1]
    end
  end
elseif next(delayed) then
  for q in pairs(delayed) do acks[#acks + 1] = '0-' .. q end
end
-- One mirror member for the whole read (see lua_reclaim); the entries of
-- other types in its run are acknowledged, so never pending.
if last > prev then
  redis.call('ZADD', GK(g, 'pel'), ARGV[3],
             fmt(prev + 1) .. '-' .. fmt(last))
end
bulk('XACK', K('log'), g, acks, 1000)
-- Leases: one record for the read's run in g:<g>:rl, "<first> <last>
-- <epoch of first> <expires_at> <holder>" scored by its first seq; the
-- lease of seq q has epoch <epoch of first> + q - first and lives in it
-- until the pair gets a state field of its own (see read_lease). The run
-- starts above g:<g>:rlfrom: entries a group reads again from the start
-- (registered anew over old data) may be settled already and are claimed.
local base = 0
local first = prev + 1
if leasing and last > prev then
  first = math.max(first,
                   tonumber(redis.call('GET', GK(g, 'rlfrom')) or '0') + 1)
  if last >= first then
    local n = last - first + 1
    base = redis.call('INCRBY', K('epoch'), n) - n + 1
    redis.call('ZADD', GK(g, 'rl'), first,
               fmt(first) .. ' ' .. fmt(last) .. ' ' .. fmt(base) .. ' '
               .. fmt(tonumber(ARGV[3]) + tonumber(ARGV[5])) .. ' '
               .. ARGV[4])
  end
end
if all and base == 0 then return {1, 0, 0} end
local out = {all and 1 or 0, base, first}
if not all then
  for _, q in ipairs(seqs) do out[#out + 1] = q end
end
return out
