-- ARGV: P, id. Returns {} if unknown, else {seq, then per group of the
-- event: group, status, history source, next attempt}: the ledger value
-- (processed), the DLQ entry's delivery JSON (dead), or the retry
-- schedule's delivery JSON (otherwise; '' if the pair is not in the
-- schedule); the due time of the pair's untaken slot in the retry schedule
-- ('' if none).

local e = find_entry(ARGV[2])
if not e or not e[2] then return {} end
local s = string.sub(e[1], 3)
local out = {s}
local st = statuses(tonumber(s), field(e[2], 't') or '')
for i = 1, #st, 2 do
  local g = st[i]
  local code = st[i + 1]
  local src
  local due = ''
  if code == 4 then
    src = string.sub(redis.call('HGET', GK(g, 'st'), s) or '', 2)
  elseif code == 5 then
    local pos = redis.call('HGET', GK(g, 'dead'), s)
    if pos then src = redis.call('HGET', K('dlq:e:' .. pos), 'd') end
  else
    src = redis.call('HGET', K('retry:data'), g .. '\31' .. s)
    local m = g .. '\31' .. s
    if not redis.call('HGET', K('retry:taken'), m) then
      due = redis.call('ZSCORE', K('retry:due'), m) or ''
    end
  end
  out[#out + 1] = g
  out[#out + 1] = code
  out[#out + 1] = src or ''
  out[#out + 1] = due
end
return out
