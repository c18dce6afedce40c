-- ARGV: P, id, now. Cancels the delayed event with this id in every group
-- where its first attempt has not been claimed: the pair is a delayed
-- first attempt (`delayed:wait`) whose state has no epoch yet (never
-- leased). It leaves the schedule (`retry:due`, `retry:seq`, `retry:data`,
-- `retry:taken`, `delayed:wait`) and its state becomes "C<now>" (status
-- cancelled; a claim answers done, a copy on its way never runs). Returns
-- {} for an unknown id, else {seq, delayed (1/0), n, n groups cancelled,
-- then per group of the event: group, status code} (statuses after the
-- call).

local e = find_entry(ARGV[2])
if not e or not e[2] then return {} end
local s = string.sub(e[1], 3)
local f = e[2]
local delayed = field(f, 'n') ~= nil
local cancelled = {}
if delayed then
  local gs = redis.call('HKEYS', K('groups'))
  for _, g in ipairs(gs) do
    local member = g .. '\31' .. s
    if redis.call('ZSCORE', K('delayed:wait'), member) then
      local sk = GK(g, 'st')
      local v = redis.call('HGET', sk, s)
      local le = v and parse_lease(v)
      if le == 0 then
        redis.call('ZREM', K('retry:due'), member)
        redis.call('ZREM', K('retry:seq'), member)
        redis.call('ZREM', K('delayed:wait'), member)
        redis.call('HDEL', K('retry:data'), member)
        redis.call('HDEL', K('retry:taken'), member)
        redis.call('HSET', sk, s, 'C' .. ARGV[3])
        cancelled[#cancelled + 1] = g
      end
    end
  end
end
local out = {s, delayed and 1 or 0, #cancelled}
for _, g in ipairs(cancelled) do out[#out + 1] = g end
for _, x in ipairs(statuses(tonumber(s), field(f, 't') or '')) do
  out[#out + 1] = x
end
return out
