-- ARGV: P, status (number), group ('' = all), after, limit, budget.
-- Scans log entries after `after` in seq order, at most `budget`, and
-- stops after the entry whose items reach `limit` (all groups of that entry
-- are listed: a page never splits a seq). Statuses are decided as in
-- `statuses` (settled state > schedule > pending > accepted), stopping at the
-- first lookup that decides whether the wanted status holds. Returns {next,
-- then per item: group, id, type, seq}, items of one seq in no particular
-- order; next is 0 when the scan reached the head, else the last scanned
-- seq. An unknown group gives {0}.

local want = tonumber(ARGV[2])
local only = ARGV[3]
local after = ARGV[4]
local limit = tonumber(ARGV[5])
local budget = tonumber(ARGV[6])
local gs = {}
if only ~= '' then
  local v = redis.call('HGET', K('groups'), only)
  if not v then return {0} end
  gs = {only, v}
else
  gs = redis.call('HGETALL', K('groups'))
end
local groups = {}
for i = 1, #gs, 2 do
  local g = gs[i]
  local parts = split(gs[i + 1])
  local pats = {}
  for j = 2, #parts do pats[#pats + 1] = parts[j] end
  groups[#groups + 1] = {g, tonumber(parts[1]), matcher(pats),
                         GK(g, 'st'), false, false, g .. '\31'}
end
local rz = K('retry:due')
local function has(gr, s)
  local v = redis.call('HGET', gr[4], s)
  local c = settled_code(v)
  if c then return want == c end
  if want == 4 or want == 5 or want == 7 then return false end
  if redis.call('ZSCORE', rz, gr[7] .. s) then
    if want == 1 then return false end
    return want == scheduled_code(gr[7] .. s, v)
  end
  if want == 3 or want == 6 then return false end
  if is_pending(gr[1], s) then return want == 2 end
  return want == 1
end
local out = {0}
local n = 0
local scanned = 0
local last = tonumber(after)
local stopped = false
local exhausted = false
local from = '(0-' .. after
while scanned < budget and not stopped do
  local count = math.min(256, budget - scanned)
  local es = redis.call('XRANGE', K('log'), from, '+', 'COUNT', count)
  for _, e in ipairs(es) do
    local s = string.sub(e[1], 3)
    local seq = tonumber(s)
    scanned = scanned + 1
    last = seq
    local f = e[2]
    if f and #groups > 0 then
      local t = field(f, 't') or ''
      local id = nil
      for _, gr in ipairs(groups) do
        if seq > gr[2] and gr[3](t) and has(gr, s) then
          id = id or field(f, 'i') or ''
          out[#out + 1] = gr[1]
          out[#out + 1] = id
          out[#out + 1] = t
          out[#out + 1] = s
          n = n + 1
        end
      end
    end
    if n >= limit then stopped = true break end
    from = '(' .. e[1]
  end
  if #es < count then exhausted = true break end
end
if (stopped or not exhausted) and scanned > 0 then
  local head = tonumber(redis.call('GET', K('seq')) or '0')
  if last < head then out[1] = last end
end
return out
