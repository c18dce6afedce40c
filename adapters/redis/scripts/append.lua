-- ARGV: P, now, window, id key TTL (ms), then id, type, created, packed
-- fields ('d' of the log entry) per event. Returns flat: duplicate flag,
-- seq. A new id costs SET NX PX + XADD; an id seen before GET too (and SET
-- PX again if its window has passed by the caller's clock).

local now = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local ttl = ARGV[4]
local log = K('log')
local seq = tonumber(redis.call('GET', K('seq')) or '0')
local out = {}
local added = false
local first_new, latest = nil, nil
local n = (#ARGV - 4) / 4
for k = 0, n - 1 do
  local b = 4 + k * 4
  local ik = P .. 'id:' .. ARGV[b + 1]
  local ss = fmt(seq + 1)
  local val = ss .. ' ' .. ARGV[b + 3]
  local dup = false
  if not redis.call('SET', ik, val, 'NX', 'PX', ttl) then
    local v = redis.call('GET', ik)
    local s, c
    if v then s, c = string.match(v, '^(%d+) (%-?%d+)$') end
    if s and tonumber(c) + win > now then
      out[#out + 1] = 1
      out[#out + 1] = s
      dup = true
    else
      redis.call('SET', ik, val, 'PX', ttl)
    end
  end
  if not dup then
    seq = seq + 1
    if not first_new then first_new = seq end
    local c = tonumber(ARGV[b + 3])
    if not latest or c > latest then latest = c end
    redis.call('XADD', log, '0-' .. ss, 'i', ARGV[b + 1], 't', ARGV[b + 2],
               'd', ARGV[b + 4])
    out[#out + 1] = 0
    out[#out + 1] = ss
    added = true
  end
end
if added then
  redis.call('SET', K('seq'), fmt(seq))
  -- The append time index for trimming (see lua_trim).
  redis.call('ZADD', K('log:t'), first_new,
             fmt(first_new) .. ':' .. fmt(latest))
end
return out
