-- ARGV: P, id. Returns the processed records (JSON) of the newest event
-- with that id.

local e = find_entry(ARGV[2])
if not e then return {} end
local s = string.sub(e[1], 3)
local out = {}
for _, g in ipairs(redis.call('HKEYS', K('groups'))) do
  local v = redis.call('HGET', GK(g, 'proc'), s)
  if v then out[#out + 1] = v end
  local dups = redis.call('HGET', GK(g, 'proc:dup'), s)
  if dups then
    for line in string.gmatch(dups, '[^\n]+') do out[#out + 1] = line end
  end
end
return out
