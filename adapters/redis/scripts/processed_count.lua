-- ARGV: P, group ('' = all).

local function count(g)
  return redis.call('HLEN', GK(g, 'proc'))
         + redis.call('HLEN', GK(g, 'proc:dup'))
end
if ARGV[2] ~= '' then return count(ARGV[2]) end
local n = 0
for _, g in ipairs(redis.call('HKEYS', K('groups'))) do
  n = n + count(g)
end
return n
