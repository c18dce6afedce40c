-- Takes over data of key layout 2 (run with EVAL, without the prelude).
-- KEYS: seq, groups, layout; ARGV: prefix, the layout version to set.
-- Entries a group of layout 2 still reads (re-reading from the start, say)
-- may be settled: no group leases with its reads below today's head (see
-- read_after.lua).

local seq = redis.call('GET', KEYS[1]) or '0'
for _, g in ipairs(redis.call('HKEYS', KEYS[2])) do
  redis.call('SET', ARGV[1] .. 'g:' .. g .. ':rlfrom', seq)
end
redis.call('SET', KEYS[3], ARGV[2])
return 1
