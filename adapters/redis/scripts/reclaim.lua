-- ARGV: P, group, consumer, now, cutoff, max. Returns entries (XCLAIM).
-- The PEL mirror `g:<g>:pel` holds one member per read (the run of seqs it
-- delivered, "<first>-<last>") or per reclaim (its seqs as runs, "a-b,c-d"),
-- scored with the delivery time by the caller's clock; every pending entry
-- is in exactly one member (settled ones are not looked for: XPENDING
-- answers which of a member's seqs still are pending). Members delivered
-- at or before the cutoff are taken oldest first: their pending seqs (up
-- to max) are claimed and go into a new member scored `now`, those left
-- over keep the old score, and the member goes. At most 10000 members are
-- looked at per call.

local g = ARGV[2]
local err = need_group(g)
if err then return err end
local max = tonumber(ARGV[6])
if max <= 0 then return {} end
local pel = GK(g, 'pel')
local rl = GK(g, 'rl')
local st = GK(g, 'st')
local log = K('log')
-- Entries below the group's lowest pending one are all settled: members
-- and read records wholly below it go without a look at each entry.
local sum = redis.call('XPENDING', log, g)
local lowest = math.huge
if tonumber(sum[1]) > 0 and sum[2] then
  lowest = tonumber(string.sub(sum[2], 3))
end
local below = '+inf'
if lowest < math.huge then below = '(' .. fmt(lowest) end
for _, r in ipairs(redis.call('ZRANGEBYSCORE', rl, '-inf', below, 'LIMIT', 0,
                              10000)) do
  local l = tonumber(string.match(r, '^%d+ (%d+) '))
  if l and l < lowest then redis.call('ZREM', rl, r) end
end
local ms = redis.call('ZRANGEBYSCORE', pel, '-inf', ARGV[5], 'WITHSCORES',
                      'LIMIT', 0, 10000)
local ids = {}
local taken = {}
for i = 1, #ms, 2 do
  local runs = runs_of(ms[i])
  local top = 0
  for _, run in ipairs(runs) do top = math.max(top, run[2]) end
  if top < lowest then
    redis.call('ZREM', pel, ms[i])
  elseif #ids < max then
    local mark = #taken + 1
    local rest = {}
    for _, run in ipairs(runs) do
      local a, b = run[1], run[2]
      if #ids >= max then
        rest[#rest + 1] = {a, b}
      else
        local want = max - #ids
        local ps = redis.call('XPENDING', log, g, '0-' .. fmt(a),
                              '0-' .. fmt(b), want)
        for _, p in ipairs(ps) do
          ids[#ids + 1] = p[1]
          taken[#taken + 1] = tonumber(string.sub(p[1], 3))
        end
        if #ps == want and #ps > 0 then
          local l = taken[#taken]
          if l < b then rest[#rest + 1] = {l + 1, b} end
        end
      end
    end
    redis.call('ZREM', pel, ms[i])
    if #rest > 0 then redis.call('ZADD', pel, ms[i + 1], runs_str(rest)) end
    -- A read's member: entries still under the read's lease (no state
    -- field) get it written out, expired, so that their next claim counts
    -- a crash redelivery; the read's record goes with the member's last
    -- part. (The record may start later than the member: see rlfrom.)
    if #runs == 1 then
      local a, b = runs[1][1], runs[1][2]
      local r = redis.call('ZREVRANGEBYSCORE', rl, b, '-inf', 'LIMIT', 0, 1)
      local f, l, base, x, h
      if r[1] then
        f, l, base, x, h = string.match(r[1],
                                        '^(%d+) (%d+) (%d+) (%-?%d+) (.*)$')
      end
      if f and tonumber(f) <= b and a <= tonumber(l) then
        f, l = tonumber(f), tonumber(l)
        for k = mark, #taken do
          local q = taken[k]
          if q >= f and q <= l then
            redis.call('HSETNX', st, fmt(q),
                       lease_str(tonumber(base) + q - f, tonumber(x), 1, 0, 0,
                                 h))
          end
        end
        if #rest == 0 and b >= l then redis.call('ZREM', rl, r[1]) end
      end
    end
  end
end
if #ids == 0 then return {} end
table.sort(taken)
local rs = {}
for _, q in ipairs(taken) do
  local last = rs[#rs]
  if last and last[2] + 1 == q then last[2] = q else rs[#rs + 1] = {q, q} end
end
redis.call('ZADD', pel, ARGV[4], runs_str(rs))
local out = {}
local i = 1
while i <= #ids do
  local chunk = {}
  for j = i, math.min(#ids, i + 999) do chunk[#chunk + 1] = ids[j] end
  local es = redis.call('XCLAIM', log, g, ARGV[3], 0, unpack(chunk))
  for _, e in ipairs(es) do out[#out + 1] = e end
  i = i + 1000
end
return out
