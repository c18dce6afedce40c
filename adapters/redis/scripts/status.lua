-- ARGV: P, mode ('id' or 'seq'), value. Returns {seq, fields, g, status,
-- ...} or {} if unknown.

local e
if ARGV[2] == 'id' then
  e = find_entry(ARGV[3])
else
  local r = redis.call('XRANGE', K('log'), '0-' .. ARGV[3], '0-' .. ARGV[3])
  e = r[1]
end
if not e or not e[2] then return {} end
local seq = tonumber(string.sub(e[1], 3))
local out = {string.sub(e[1], 3), e[2]}
for _, x in ipairs(statuses(seq, field(e[2], 't') or '')) do
  out[#out + 1] = x
end
return out
