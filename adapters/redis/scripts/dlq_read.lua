-- ARGV: P, 'list', after, limit, group | P, 'event', id. Returns flat:
-- pos, fields, delivery JSON.

local dlq = K('dlq')
local out = {}
local function push(e)
  local pos = string.sub(e[1], 3)
  out[#out + 1] = pos
  out[#out + 1] = e[2]
  out[#out + 1] = redis.call('HGET', K('dlq:e:' .. pos), 'd') or ''
end
if ARGV[2] == 'list' then
  local after = '(0-' .. ARGV[3]
  local limit = tonumber(ARGV[4])
  local g = ARGV[5]
  local n = 0
  while n < limit do
    local want = limit - n
    if g ~= '' then want = math.max(want, 256) end
    local es = redis.call('XRANGE', dlq, after, '+', 'COUNT', want)
    if #es == 0 then break end
    for _, e in ipairs(es) do
      if n < limit and (g == '' or field(e[2], 'g') == g) then
        push(e)
        n = n + 1
      end
      after = '(' .. e[1]
    end
    if #es < want then break end
  end
else
  local ps = redis.call('SMEMBERS', K('dlq:ev:' .. ARGV[3]))
  table.sort(ps, function(a, b) return tonumber(a) < tonumber(b) end)
  for _, p in ipairs(ps) do
    local r = redis.call('XRANGE', dlq, '0-' .. p, '0-' .. p)
    if r[1] then push(r[1]) end
  end
end
return out
