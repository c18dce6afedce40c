-- ARGV: P, now, verify ('1'/'0'), then per item: kind, group, seq, epoch,
-- event id, a1, a2, a3 (done: record JSON or '', encoded attempts or '';
-- retry: due, delivery JSON; dead: reason, error, delivery JSON). With
-- verify (after a generation change), an item whose seq does not hold its
-- event is refused (no_lease) untouched. Returns one fence decision per
-- item.

local now = tonumber(ARGV[2])
local nows = ARGV[2]
local verify = ARGV[3] == '1'
local out = {}
local rz = K('retry:due')
local rd = K('retry:data')
local rt = K('retry:taken')
-- Per group of this call, in order of appearance: its state key, the pairs
-- seen, and the seqs leaving its pending list.
local per_group = {}
local order = {}
local rl_cache = {}
local function unpend(g, s)
  local l = per_group[g].leaving
  l[#l + 1] = s
end
local function unschedule(member)
  redis.call('ZREM', rz, member)
  redis.call('ZREM', K('retry:seq'), member)
  redis.call('ZREM', K('delayed:wait'), member)
  redis.call('HDEL', rd, member)
  redis.call('HDEL', rt, member)
end
for b = 4, #ARGV, 8 do
  local kind = tonumber(ARGV[b])
  local g = ARGV[b + 1]
  local s = ARGV[b + 2]
  local ep = tonumber(ARGV[b + 3])
  local id = ARGV[b + 4]
  local gi = per_group[g]
  if not gi then
    gi = {sk = GK(g, 'st'), seen = {}, leaving = {}}
    per_group[g] = gi
    order[#order + 1] = g
  end
  local sk = gi.sk
  local member = g .. '\31' .. s
  local d = 0
  -- The same settlement sent again (the connection broke after the first
  -- was sent and the client repeated it): answered as the first one was,
  -- nothing written twice. Recognised by its epoch and `now`, and by not
  -- being the second item for the pair in this very call (that one is a
  -- duplicate, refused).
  local again = false
  local first_here = not gi.seen[s]
  gi.seen[s] = true
  local le, lx, lh, lr, lc = nil, 0, 0, 0, 0
  if verify and not holds(g, s, id) then
    d = 2
  else
    local v = redis.call('HGET', sk, s)
    if v and settled_code(v) then
      d = 2
      local c = string.byte(v, 1)
      if kind == 0 and c == 68 then
        local e, at = string.match(v, '^D(%d+) (%-?%d+)')
        again = tonumber(e) == ep and at == nows
      elseif kind == 2 and c == 88 then
        local r = redis.call('XRANGE', K('dlq'), '0-' .. string.sub(v, 2),
                             '0-' .. string.sub(v, 2))
        again = r[1] ~= nil and field(r[1][2], 't') == nows
                and field(r[1][2], 'g') == g and field(r[1][2], 's') == s
      end
    else
      if v then
        le, lx, lh, lr, lc = parse_lease(v)
      elseif ep > 0 and tonumber(s) > trimmed_to() then
        -- Under a read's lease (no state field of its own yet)? Not for a
        -- trimmed seq: trims delete state fields.
        local e, x = read_lease(g, s, rl_cache)
        if e then le, lx, lh, lr, lc = e, x, 1, 0, 0 end
      end
      if kind == 2 and ep == 0 then
        -- A crash loop's dead-lettering: no lease was granted. A trimmed
        -- pair without state was settled long ago.
        if not v and tonumber(s) <= trimmed_to() then d = 2 else d = 0 end
      elseif not le or le == 0 then
        d = 2
      elseif lh ~= 1 or le ~= ep or now >= lx then
        d = 1
        if le == ep and lh == 0 then
          again = kind == 3
                  or (kind == 1 and lc == 1
                      and redis.call('ZSCORE', K('retry:due'), member)
                          == ARGV[b + 5])
        end
      end
    end
  end
  again = again and first_here
  if again then d = 0 end
  if d == 0 and not again then
    if kind == 0 then
      if tonumber(s) <= trimmed_to() then
        -- A replay of a trimmed event: settled, and as trimmed as the rest
        -- (a claim of a trimmed seq without state answers done).
        redis.call('HDEL', sk, s)
      else
        local lv
        if ARGV[b + 6] ~= '' then
          lv = 'D' .. ARGV[b + 3] .. ' ' .. nows .. ' ' .. ARGV[b + 6]
        else
          lv = 'D' .. ARGV[b + 3] .. ' ' .. nows
        end
        redis.call('HSET', sk, s, lv)
      end
      if ARGV[b + 5] ~= '' then
        -- A second record for a pair would be a double effect: keep it
        -- (in proc:dup) so that it shows instead of overwriting.
        if redis.call('HSETNX', GK(g, 'proc'), s, ARGV[b + 5]) == 0 then
          local dk = GK(g, 'proc:dup')
          local prev = redis.call('HGET', dk, s)
          redis.call('HSET', dk, s, (prev and (prev .. '\n') or '') .. ARGV[b + 5])
        end
      end
      if lc == 1 then unschedule(member) end
      unpend(g, s)
    elseif kind == 1 then
      redis.call('ZADD', rz, ARGV[b + 5], member)
      redis.call('ZADD', K('retry:seq'), s, member)
      -- A delayed first attempt that failed is a retry from now on.
      if lc == 1 then redis.call('ZREM', K('delayed:wait'), member) end
      redis.call('HSET', rd, member, ARGV[b + 6])
      redis.call('HDEL', rt, member)
      redis.call('HSET', sk, s, lease_str(le, lx, 0, lr, 1, ''))
      unpend(g, s)
    elseif kind == 2 then
      local pos = fmt(redis.call('INCR', K('dlq:seq')))
      redis.call('XADD', K('dlq'), '0-' .. pos, 'g', g, 's', s, 'i', id,
                 'r', ARGV[b + 5], 'e', ARGV[b + 6], 't', nows)
      redis.call('HSET', K('dlq:e:' .. pos), 'd', ARGV[b + 7])
      redis.call('SADD', K('dlq:ev:' .. id), pos)
      redis.call('HSET', GK(g, 'dead'), s, pos)
      redis.call('HSET', sk, s, 'X' .. pos)
      if lc == 1 then unschedule(member) end
      unpend(g, s)
    else
      redis.call('HSET', sk, s, lease_str(le, lx, 0, lr, lc, ''))
    end
  end
  out[#out + 1] = d
end
for _, g in ipairs(order) do
  local ss = per_group[g].leaving
  local ids = {}
  for i, s in ipairs(ss) do ids[i] = '0-' .. s end
  bulk('XACK', K('log'), g, ids, 1000)
end
return out
