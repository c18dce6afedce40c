-- ARGV: P, group. Returns how many of the retry schedule's members
-- (`retry:due`, "<group>\31<seq>") are the group's, counted in Redis: the
-- schedule is one sorted set for every group, and the members need not
-- cross the network to be counted.

local prefix = ARGV[2] .. '\31'
local len = #prefix
local n = 0
for _, m in ipairs(redis.call('ZRANGE', K('retry:due'), 0, -1)) do
  if string.sub(m, 1, len) == prefix then n = n + 1 end
end
return n
