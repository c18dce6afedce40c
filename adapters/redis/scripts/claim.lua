-- ARGV: P, holder, now, ttl, budget, verify ('1'/'0'), then group, seq,
-- takeover epoch (0: none; see lease_table::claim; negative: the lease of
-- a listener that went down, revoked counting a crash) per request, and with
-- verify the event id too. With verify (after a generation change), a
-- pair whose seq does not hold that event (a copy of the old data) is
-- answered `done` and nothing is written for it.
-- Returns flat: kind, epoch, expires_at, redeliveries.

local holder = ARGV[2]
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local verify = ARGV[6] == '1'
local step = 3
if verify then step = 4 end
-- Epochs for every pair are taken first (INCRBY): if a later command
-- fails, no epoch handed out here can be handed out again. Pairs that get
-- no lease leave a gap.
local npairs = (#ARGV - 6) / step
local epoch = redis.call('INCRBY', K('epoch'), npairs) - npairs
local trimmed = trimmed_to()
-- A first lease is "<epoch>" .. fresh_tail (see lease_str).
local fresh_tail = ' ' .. fmt(now + ttl) .. ' 1 0 0 ' .. holder
local out = {}
local has_rl = {}
local rl_cache = {}
for b = 7, #ARGV, step do
  local g = ARGV[b]
  local s = ARGV[b + 1]
  local sk = GK(g, 'st')
  local v = nil
  local fresh = false
  if not (verify and not holds(g, s, ARGV[b + 3])) then
    -- The common case, a pair without state yet (a first delivery): one
    -- HSETNX grants the lease. A trimmed pair without state was settled
    -- long ago (v stays nil: done).
    local lv = fmt(epoch + 1) .. fresh_tail
    if has_rl[g] == nil then
      has_rl[g] = redis.call('EXISTS', GK(g, 'rl')) == 1
    end
    if tonumber(s) <= trimmed then
      v = redis.call('HGET', sk, s) or nil
    elseif has_rl[g] then
      -- A pair without a state field may be under a read's lease.
      v = redis.call('HGET', sk, s) or false
      if not v then
        local e, x, h = read_lease(g, s, rl_cache)
        if e then
          v = lease_str(e, x, 1, 0, 0, h)
        elseif redis.call('HSETNX', sk, s, lv) == 1 then
          fresh = true
        end
      end
    elseif redis.call('HSETNX', sk, s, lv) == 1 then
      fresh = true
    else
      v = redis.call('HGET', sk, s) or false
    end
  end
  if fresh then
    epoch = epoch + 1
    out[#out + 1] = 0; out[#out + 1] = epoch; out[#out + 1] = now + ttl
    out[#out + 1] = 0
  elseif v == nil or settled_code(v) then
    -- Not this event's seq any more (after a generation change), trimmed,
    -- or settled (done, dead-lettered, purged): a stale copy must not run.
    out[#out + 1] = 2; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local le, lx, lh, lr, lc, lholder = nil, 0, 0, 0, 0, ''
    if v then le, lx, lh, lr, lc, lholder = parse_lease(v) end
    if not le then
      -- No lease yet (or a value we cannot read: treated as none).
      le, lx, lh, lr, lc, lholder = 0, 0, 0, 0, 0, ''
    end
    local tk = tonumber(ARGV[b + 2])
    local crashed = tk < 0
    if crashed then tk = -tk end
    if tk > 0 and lh == 1 and le == tk then
      -- A lease nobody runs under (granted with the read and never run
      -- under, or given up by its listener): replaced as if released (no
      -- crash redelivery). A dead listener's lease: replaced as if it had
      -- expired (a crash redelivery).
      if crashed then lr = lr + 1 end
      lh = 0
    end
    if lh == 1 and now < lx and lholder == holder and lx == now + ttl then
      -- This claim sent again (the connection broke after the first was
      -- sent): the lease it granted.
      out[#out + 1] = 0; out[#out + 1] = le; out[#out + 1] = lx
      out[#out + 1] = lr
    elseif lh == 1 and now < lx then
      out[#out + 1] = 1; out[#out + 1] = le; out[#out + 1] = lx
      out[#out + 1] = lr
    else
      if lh == 1 then
        lr = lr + 1
        lh = 0
      end
      if lr > budget then
        redis.call('HSET', sk, s, lease_str(le, lx, 0, lr, lc, lholder))
        out[#out + 1] = 3; out[#out + 1] = le; out[#out + 1] = 0
        out[#out + 1] = lr
      else
        epoch = epoch + 1
        redis.call('HSET', sk, s, lease_str(epoch, now + ttl, 1, lr, lc, holder))
        out[#out + 1] = 0; out[#out + 1] = epoch; out[#out + 1] = now + ttl
        out[#out + 1] = lr
      end
    end
  end
end
return out
