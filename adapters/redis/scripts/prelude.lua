-- Shared by every script: ARGV[1] is the key prefix; the LAST argument is
-- the store generation the caller knows ('' = no check), removed here so
-- that the scripts' own arguments keep their numbering (and #ARGV). A
-- script given a generation first compares it with the `gen` key: on a
-- mismatch (another token, or none because the data was lost) it returns
-- the error "GENERATION <current token or none>" and does nothing else.
-- Comments in the scripts name each other as lua_<name> (<name>.lua).

local P = ARGV[1]
local GEN = ARGV[#ARGV]
ARGV[#ARGV] = nil
local function K(s) return P .. s end
if GEN ~= '' then
  local cur = redis.call('GET', K('gen'))
  if cur ~= GEN then
    return redis.error_reply('GENERATION ' .. (cur or 'none'))
  end
end
local function GK(g, s) return P .. 'g:' .. g .. ':' .. s end
local function fmt(n) return string.format('%d', n) end
local function split(v)
  local out = {}
  local i = 1
  while true do
    local j = string.find(v, '\31', i, true)
    if not j then out[#out + 1] = string.sub(v, i) break end
    out[#out + 1] = string.sub(v, i, j - 1)
    i = j + 1
  end
  return out
end
local function glob(p, t)
  local pi, ti, star, mark = 1, 1, 0, 0
  local pn, tn = #p, #t
  while ti <= tn do
    local pc = nil
    if pi <= pn then pc = string.byte(p, pi) end
    if pc == 42 then
      star = pi
      pi = pi + 1
      mark = ti
    elseif pc ~= nil and pc == string.byte(t, ti) then
      pi = pi + 1
      ti = ti + 1
    elseif star > 0 then
      pi = star + 1
      mark = mark + 1
      ti = mark
    else
      return false
    end
  end
  while pi <= pn and string.byte(p, pi) == 42 do pi = pi + 1 end
  return pi > pn
end
local function group_info(g)
  local v = redis.call('HGET', K('groups'), g)
  if not v then return nil end
  local parts = split(v)
  local pats = {}
  for i = 2, #parts do pats[#pats + 1] = parts[i] end
  return tonumber(parts[1]), pats
end
local function need_group(g)
  local start, pats = group_info(g)
  if not start then
    return redis.error_reply('NOGROUP unknown group')
  end
  return nil, start, pats
end
local function matcher(pats)
  local cache = {}
  return function(t)
    local v = cache[t]
    if v == nil then
      v = false
      for _, p in ipairs(pats) do
        if glob(p, t) then v = true break end
      end
      cache[t] = v
    end
    return v
  end
end
local function field(f, name)
  for j = 1, #f, 2 do
    if f[j] == name then return f[j + 1] end
  end
  return nil
end
-- True if seq `s` (decimal string) is the event with id `id` in group `g`:
-- the id key answers for the newest event with the id, the log entry
-- otherwise, and for an entry trimmed from the log the retry schedule's
-- copy of the delivery (a DLQ replay of a trimmed event). Used after a
-- generation change only (claim and settle with `verify`), so that copies
-- of events of the old data that a node still holds cannot claim or
-- settle a seq of the new data.
local function holds(g, s, id)
  local v = redis.call('GET', K('id:' .. id))
  if v and string.match(v, '^(%d+) ') == s then return true end
  local r = redis.call('XRANGE', K('log'), '0-' .. s, '0-' .. s)
  if r[1] ~= nil then
    return r[1][2] ~= nil and field(r[1][2], 'i') == id
  end
  local d = redis.call('HGET', K('retry:data'), g .. '\31' .. s)
  if not d then return false end
  local ok, doc = pcall(cjson.decode, d)
  return ok and type(doc) == 'table' and type(doc.ev) == 'table'
         and doc.ev.id == id
end
local function bulk(cmd, key, extra, list, step)
  local i = 1
  while i <= #list do
    local chunk = {}
    for j = i, math.min(#list, i + step - 1) do chunk[#chunk + 1] = list[j] end
    if extra then
      redis.call(cmd, key, extra, unpack(chunk))
    else
      redis.call(cmd, key, unpack(chunk))
    end
    i = i + step
  end
end
-- The runs of seqs of a g:<g>:pel member ("a-b,c-d"; a single seq "a" is
-- the run a-a), as {{a, b}, ...}.
local function runs_of(m)
  local out = {}
  for part in string.gmatch(m, '[^,]+') do
    local a, b = string.match(part, '^(%d+)%-(%d+)$')
    if a then
      out[#out + 1] = {tonumber(a), tonumber(b)}
    else
      local q = tonumber(part)
      if q then out[#out + 1] = {q, q} end
    end
  end
  return out
end
local function runs_str(rs)
  local parts = {}
  for i, r in ipairs(rs) do parts[i] = fmt(r[1]) .. '-' .. fmt(r[2]) end
  return table.concat(parts, ',')
end
-- True if seq `s` (decimal string) is pending (delivered, not settled) in
-- group g.
local function is_pending(g, s)
  local r = redis.pcall('XPENDING', K('log'), g, '0-' .. s, '0-' .. s, 1)
  return type(r) == 'table' and r.err == nil and r[1] ~= nil
end
-- The lease a leasing read granted on seq s (decimal string) of group g
-- (see lua_read_after), for a pair without a state field: epoch,
-- expires_at, holder; nil if no leasing read covers s. `cache` (one table
-- per script call) keeps the record found last per group, so that the
-- items of one batch, which mostly come from one read, cost one lookup.
local function read_lease(g, s, cache)
  local q = tonumber(s)
  local c = cache[g]
  if not (c and c[1] <= q and q <= c[2]) then
    local r = redis.call('ZREVRANGEBYSCORE', GK(g, 'rl'), q, '-inf', 'LIMIT',
                         0, 1)
    if not r[1] then return nil end
    local f, l, b, x, h = string.match(r[1],
                                       '^(%d+) (%d+) (%d+) (%-?%d+) (.*)$')
    if not f then return nil end
    c = {tonumber(f), tonumber(l), tonumber(b), tonumber(x), h}
    cache[g] = c
    if q > c[2] then return nil end
  end
  return c[3] + q - c[1], c[4], c[5]
end
-- A lease value of g:<g>:st (see the key table); nil for other values.
local function parse_lease(v)
  local e, x, h, r, c, holder =
    string.match(v, '^(%d+) (%-?%d+) (%d) (%d+) (%d) ?(.*)$')
  if not e then return nil end
  return tonumber(e), tonumber(x), tonumber(h), tonumber(r), tonumber(c),
         holder
end
local function lease_str(e, x, h, r, c, holder)
  return fmt(e) .. ' ' .. fmt(x) .. ' ' .. fmt(h) .. ' ' .. fmt(r) .. ' '
         .. fmt(c) .. ' ' .. holder
end
-- The settled status a g:<g>:st value stands for: 4 processed ('D'), 5
-- dead ('X'), 1 purged from the DLQ ('P', reads as accepted), 7 cancelled
-- ('C<time>', a delayed event; see lua_cancel); nil for a lease or no value
-- (then the retry schedule and the PEL decide).
local function settled_code(v)
  if not v then return nil end
  local c = string.byte(v, 1)
  if c == 68 then return 4 end
  if c == 88 then return 5 end
  if c == 80 then return 1 end
  if c == 67 then return 7 end
  return nil
end
-- The status of a pair in the retry schedule (member "<g>\31<s>", state
-- value v): a delayed first attempt (in `delayed:wait`) is 6 scheduled, or
-- 2 in flight while a listener holds its lease; anything else 3 retrying.
local function scheduled_code(member, v)
  if not redis.call('ZSCORE', K('delayed:wait'), member) then return 3 end
  local _, _, h = parse_lease(v or '')
  if h == 1 then return 2 end
  return 6
end
-- Status of seq (of type t) in every group it belongs to: flat g, status.
local function statuses(seq, t)
  local out = {}
  local gs = redis.call('HGETALL', K('groups'))
  local s = fmt(seq)
  for i = 1, #gs, 2 do
    local g = gs[i]
    local parts = split(gs[i + 1])
    local start = tonumber(parts[1])
    local ok = false
    for j = 2, #parts do
      if glob(parts[j], t) then ok = true break end
    end
    if seq > start and ok then
      local v = redis.call('HGET', GK(g, 'st'), s)
      local st = settled_code(v)
      if st then
      elseif redis.call('ZSCORE', K('retry:due'), g .. '\31' .. s) then
        st = scheduled_code(g .. '\31' .. s, v)
      elseif is_pending(g, s) then st = 2
      else st = 1
      end
      out[#out + 1] = g
      out[#out + 1] = st
    end
  end
  return out
end
-- Seqs up to this one were trimmed (see lua_trim).
local trimmed_cache = nil
local function trimmed_to()
  if not trimmed_cache then
    trimmed_cache = tonumber(redis.call('GET', K('trimmed')) or '0')
  end
  return trimmed_cache
end
local function find_entry(id)
  local v = redis.call('GET', K('id:' .. id))
  if not v then return nil end
  local s = string.match(v, '^(%d+) ')
  local r = redis.call('XRANGE', K('log'), '0-' .. s, '0-' .. s)
  if #r == 0 then return nil end
  return r[1]
end
