#include "adapters/redis/redis_store.hpp"

#include "adapters/redis/tls_link.hpp"

#include "adapters/codec.hpp"

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <string_view>
#include <tuple>
#include <sys/socket.h>
#include <sys/time.h>
#include <utility>

/// Key layout: the table "Redis keys" in docs/architecture.md names every
/// key, its type and its content; keep it in step with the scripts below.
///
/// One state field per pair keeps the hot path short: a claim reads and
/// writes one field (done, dead and purged pairs are refused by the same
/// read), a settlement reads the lease and overwrites it with the outcome;
/// only a pair that went through the retry schedule (scheduled = 1) pays
/// for taking it out of `retry:due` again.
///
/// Ledger values ("D..."): `<attempts>` is the settled delivery's history
/// (codec::encode_attempts: fields split by 0x1f, records by 0x1e; texts
/// may hold spaces, newlines and any other byte). It is left out, with its
/// space, when the history is empty. Scripts only look at the first byte;
/// the value is parsed in C++ (history_of: split at the first two spaces;
/// no attempts read as one record with epoch and time).
///
/// Store generation: seqs (and lease epochs) start over when Redis loses its
/// data (a restart without persistence, FLUSHALL), so a seq a node still
/// holds in memory may name another event afterwards. Every script whose
/// work depends on what the caller holds (append, ensure_group, read_group,
/// reclaim, backlog, claim, settle, take_due, the DLQ replay's read and
/// removal, the removal of a purge by event) gets the generation the store
/// object knows as its last argument and first compares it with `gen` (one
/// GET): on a mismatch it answers "GENERATION <token or none>" and does
/// nothing. The store object then adopts the new generation (if `gen` is
/// missing: SET NX a new token, then GET, so racing nodes agree) and throws
/// store_error "<store>: store generation changed (Redis lost or replaced
/// its data): ..."; the next calls work. Appends are the exception: a batch
/// is new input, so append adopts the new generation and sends the batch
/// again into the new data instead of failing (a node appends over a
/// connection of its own, which may learn of a loss after the others). The reader of the log (ensure_group,
/// read_group, reclaim, backlog: the broadcaster) gets that error too if
/// another call noticed the change first, once, so that it drops everything
/// it holds of the old data. From then on the store object's claims and
/// settlements also check that each seq still holds the event they name
/// (GET id:<id>, XRANGE if the newest event with the id has another seq), so
/// that late copies of old events cannot take a seq of the new data; this
/// costs one GET per pair until the node restarts. Read-only queries (find,
/// status, history, list, processed, DLQ list/get) and plain commands (head,
/// ping, is_done, ...) do not check: they answer from the data there is.
///
/// Commands per batch (one EVALSHA round trip each; "GET gen" first in each
/// of the scripts listed above, not repeated below):
/// - append: GET seq; per event SET id:<id> NX PX and XADD log (an id seen
///   before: GET id:<id> too, and SET PX if its window has passed); SET seq.
/// - read_group / read_leased: one MULTI/EXEC: a script (HGET groups, XINFO
///   GROUPS, SET g:<g>:rd), a native XREADGROUP COUNT n, a script (HGET
///   groups, GET rd, XINFO GROUPS, one ZADD pel for the read's run; for
///   groups not of `*` an XRANGE of the delivered entries and one XACK for
///   other types; leasing: GET rlfrom, INCRBY epoch, one ZADD rl), GET gen;
///   repeated only if entries of other types were skipped. Nothing per
///   entry: the run's leases are one record.
/// - claim: INCRBY epoch (by the number of pairs), GET trimmed, EXISTS rl
///   per group; per pair HSETNX st (a pair without state, no read records:
///   granted at once), else HGET st [+ ZREVRANGEBYSCORE rl, once per read]
///   + HSET st. After a generation change also GET id:<id> per pair.
/// - settle (done): per pair HGET st [+ ZREVRANGEBYSCORE rl for a pair under
///   its read's lease, once per read], HSET st (the ledger value carries
///   the encoded attempts, built by the client: no extra command), [HSETNX
///   proc], [ZREM retry:due, HDEL retry:data, HDEL retry:taken: only if
///   scheduled]; per group one XACK. After a generation change also GET
///   id:<id> per item.
/// - reclaim: HGET groups, ZRANGEBYSCORE pel; per member XPENDING per run,
///   ZREM (+ ZADD of what is left), for a read's member ZREVRANGEBYSCORE rl
///   and HSETNX st per taken entry (+ ZREM rl); one ZADD pel, XCLAIM (which
///   moves the entries to this consumer and returns them).
/// - backlog: HGET groups, XINFO GROUPS (pending count and last delivered
///   id); GET seq for a group of `*` only, else XRANGE over the unread
///   entries in chunks of 10000.
/// - take_due: ZRANGEBYSCORE retry:due; per entry HGET retry:taken, and for
///   a free one HGET retry:data + HSET retry:taken. next_due: ZRANGE
///   retry:due in chunks of 100 + HGET retry:taken up to the first entry
///   without a mark.
/// - history_of: GET id:<id>, XRANGE (the entry), HGETALL groups; per group
///   of the event the status lookups of status_of (HGET st, ZSCORE
///   retry:due, XPENDING over its seq) and one read of its history: HGET st (processed), HGET
///   dead + HGET dlq:e:<pos> (dead) or HGET retry:data (otherwise).
/// - list_events: HGETALL groups (HGET for one group); XRANGE log in chunks
///   of up to 256 entries, at most max(limit*4, 256) (<= 5000) entries per
///   call; per entry and group the status lookups, stopping at the first
///   that decides (processed, dead: one HGET st); GET seq for the head.
/// - ping: PING (no script).

namespace onceflow {

namespace {

using json = nlohmann::json;

// -- Lua scripts -------------------------------------------------------------

/// The version of the key layout below (key `layout`). 1: the layout
/// before it (no `layout` key): an `ids` hash, lease and ledger hashes.
/// 2: the PEL mirror held one member per pending seq; layout 3 (runs of
/// seqs per member) reads such members as runs of one, so data of layout 2
/// is taken over as it is (the key says 3 from then on: onceflow versions
/// that write single seqs refuse it).
constexpr const char* layout_version = "3";
constexpr const char* layout_upgradable = "2";

/// How long a retry taken by another node is left to it (see lua_due).
constexpr millis_t retry_hold_ms = 60000;

/// Shared by every script: ARGV[1] is the key prefix; the LAST argument is
/// the store generation the caller knows ('' = no check), removed here so
/// that the scripts' own arguments keep their numbering (and #ARGV). A
/// script given a generation first compares it with the `gen` key: on a
/// mismatch (another token, or none because the data was lost) it returns
/// the error "GENERATION <current token or none>" and does nothing else.
const char* const lua_prelude = R"lua(
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
-- dead ('X'), 1 purged from the DLQ ('P', reads as accepted); nil for a
-- lease or no value (then the retry schedule and the PEL decide).
local function settled_code(v)
  if not v then return nil end
  local c = string.byte(v, 1)
  if c == 68 then return 4 end
  if c == 88 then return 5 end
  if c == 80 then return 1 end
  return nil
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
      local st = settled_code(redis.call('HGET', GK(g, 'st'), s))
      if st then
      elseif redis.call('ZSCORE', K('retry:due'), g .. '\31' .. s) then st = 3
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
)lua";

/// ARGV: P, now, window, id key TTL (ms), then id, type, created, packed
/// fields ('d' of the log entry) per event. Returns flat: duplicate flag, seq. A new id
/// costs SET NX PX + XADD; an id seen before GET too (and SET PX again if
/// its window has passed by the caller's clock).
const char* const lua_append = R"lua(
local now = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local ttl = ARGV[4]
local log = K('log')
local seq = tonumber(redis.call('GET', K('seq')) or '0')
local out = {}
local added = false
local first_new, latest = nil, nil
local n = (#ARGV - 4) / 4
for k = 0, n - 1 do
  local b = 4 + k * 4
  local ik = P .. 'id:' .. ARGV[b + 1]
  local ss = fmt(seq + 1)
  local val = ss .. ' ' .. ARGV[b + 3]
  local dup = false
  if not redis.call('SET', ik, val, 'NX', 'PX', ttl) then
    local v = redis.call('GET', ik)
    local s, c
    if v then s, c = string.match(v, '^(%d+) (%-?%d+)$') end
    if s and tonumber(c) + win > now then
      out[#out + 1] = 1
      out[#out + 1] = s
      dup = true
    else
      redis.call('SET', ik, val, 'PX', ttl)
    end
  end
  if not dup then
    seq = seq + 1
    if not first_new then first_new = seq end
    local c = tonumber(ARGV[b + 3])
    if not latest or c > latest then latest = c end
    redis.call('XADD', log, '0-' .. ss, 'i', ARGV[b + 1], 't', ARGV[b + 2],
               'd', ARGV[b + 4])
    out[#out + 1] = 0
    out[#out + 1] = ss
    added = true
  end
end
if added then
  redis.call('SET', K('seq'), fmt(seq))
  -- The append time index for trimming (see lua_trim).
  redis.call('ZADD', K('log:t'), first_new,
             fmt(first_new) .. ':' .. fmt(latest))
end
return out
)lua";

/// ARGV: P, group, patterns ("\31"-joined), from-start ('1'/'0'). Returns
/// the group's start.
const char* const lua_ensure_group = R"lua(
local g = ARGV[2]
local start = group_info(g)
if start then
  redis.call('HSET', K('groups'), g, fmt(start) .. '\31' .. ARGV[3])
  return start
end
local head = tonumber(redis.call('GET', K('seq')) or '0')
-- From the start (a group registered again after a loss): from the first
-- entry not trimmed.
if ARGV[4] == '1' then head = trimmed_to() end
local ok = redis.pcall('XGROUP', 'CREATE', K('log'), g, '0-' .. fmt(head),
                       'MKSTREAM')
if type(ok) == 'table' and ok.err then
  if string.find(ok.err, 'BUSYGROUP', 1, true) then
    redis.call('XGROUP', 'SETID', K('log'), g, '0-' .. fmt(head))
  else
    return ok
  end
end
-- A group reading the log from the start (registered again over old data)
-- reads every entry that is still pending again: the mirror members and
-- read lease records of before are void, and since it may meet settled
-- entries, its reads lease only entries appended from now on (see
-- lua_read_after). (A group created at the head reads past every old
-- record and member.)
if ARGV[4] == '1' then
  redis.call('DEL', GK(g, 'rl'), GK(g, 'pel'))
  redis.call('SET', GK(g, 'rlfrom'), redis.call('GET', K('seq')) or '0')
end
redis.call('HSET', K('groups'), g, fmt(head) .. '\31' .. ARGV[3])
return head
)lua";

/// The native read (see redis_store::read_group): runs in one MULTI/EXEC
/// around the XREADGROUP. ARGV: P, group. Notes the group's last delivered
/// seq in `g:<g>:rd`, so that lua_read_after knows what the XREADGROUP
/// after it delivered.
const char* const lua_read_before = R"lua(
local g = ARGV[2]
local err = need_group(g)
if err then return err end
for _, info in ipairs(redis.call('XINFO', 'GROUPS', K('log'))) do
  if field(info, 'name') == g then
    local l = string.match(field(info, 'last-delivered-id'), '%-(%d+)$')
    redis.call('SET', GK(g, 'rd'), l)
    return 1
  end
end
return redis.error_reply('NOGROUP unknown group')
)lua";

/// After the XREADGROUP (same MULTI/EXEC). ARGV: P, group, now, holder,
/// ttl (holder and ttl '' for no leases). Mirrors what it delivered into
/// `g:<g>:pel` as one member, the run of seqs from the noted last delivered
/// one to the new one (seqs are dense), acknowledges entries of types the
/// group does not take,
/// and with a ttl leases the entries to the holder: one record for the
/// whole read (see below). Returns {all (1/0), epoch of `first` (0: no
/// leases), first (the lowest seq leased), seq, ...}, the seqs the caller
/// may hand out listed unless the group takes every type; each seq from
/// `first` on has epoch <epoch of first> + seq - first.
const char* const lua_read_after = R"lua(
local g = ARGV[2]
local err, start, pats = need_group(g)
if err then return err end
local prev = tonumber(redis.call('GET', GK(g, 'rd')) or '-1')
local last = nil
for _, info in ipairs(redis.call('XINFO', 'GROUPS', K('log'))) do
  if field(info, 'name') == g then
    last = tonumber(string.match(field(info, 'last-delivered-id'),
                                 '%-(%d+)$'))
  end
end
if not last or prev < 0 then
  return redis.error_reply('NOGROUP unknown group')
end
local all = #pats > 0
for _, p in ipairs(pats) do
  if p ~= '*' then all = false break end
end
local leasing = ARGV[5] ~= ''
local acks = {}
local seqs = {}
if not all and last > prev then
  local match = matcher(pats)
  for _, e in ipairs(redis.call('XRANGE', K('log'), '0-' .. fmt(prev + 1),
                                '0-' .. fmt(last))) do
    local t = e[2] and field(e[2], 't')
    if t and match(t) then
      seqs[#seqs + 1] = string.sub(e[1], 3)
    else
      acks[#acks + 1] = e[1]
    end
  end
end
-- One mirror member for the whole read (see lua_reclaim); the entries of
-- other types in its run are acknowledged, so never pending.
if last > prev then
  redis.call('ZADD', GK(g, 'pel'), ARGV[3],
             fmt(prev + 1) .. '-' .. fmt(last))
end
bulk('XACK', K('log'), g, acks, 1000)
-- Leases: one record for the read's run in g:<g>:rl, "<first> <last>
-- <epoch of first> <expires_at> <holder>" scored by its first seq; the
-- lease of seq q has epoch <epoch of first> + q - first and lives in it
-- until the pair gets a state field of its own (see read_lease). The run
-- starts above g:<g>:rlfrom: entries a group reads again from the start
-- (registered anew over old data) may be settled already and are claimed.
local base = 0
local first = prev + 1
if leasing and last > prev then
  first = math.max(first,
                   tonumber(redis.call('GET', GK(g, 'rlfrom')) or '0') + 1)
  if last >= first then
    local n = last - first + 1
    base = redis.call('INCRBY', K('epoch'), n) - n + 1
    redis.call('ZADD', GK(g, 'rl'), first,
               fmt(first) .. ' ' .. fmt(last) .. ' ' .. fmt(base) .. ' '
               .. fmt(tonumber(ARGV[3]) + tonumber(ARGV[5])) .. ' '
               .. ARGV[4])
  end
end
if all and base == 0 then return {1, 0, 0} end
local out = {all and 1 or 0, base, first}
if not all then
  for _, q in ipairs(seqs) do out[#out + 1] = q end
end
return out
)lua";

/// Checks the store generation only (the prelude does; ARGV: P).
const char* const lua_gen_check = R"lua(
return 1
)lua";

/// ARGV: P, group, consumer, now, cutoff, max. Returns entries (XCLAIM).
/// The PEL mirror `g:<g>:pel` holds one member per read (the run of seqs it
/// delivered, "<first>-<last>") or per reclaim (its seqs as runs, "a-b,c-d"),
/// scored with the delivery time by the caller's clock; every pending entry
/// is in exactly one member (settled ones are not looked for: XPENDING
/// answers which of a member's seqs still are pending). Members delivered
/// at or before the cutoff are taken oldest first: their pending seqs (up
/// to max) are claimed and go into a new member scored `now`, those left
/// over keep the old score, and the member goes. At most 1000 members are
/// looked at per call.
const char* const lua_reclaim = R"lua(
local g = ARGV[2]
local err = need_group(g)
if err then return err end
local max = tonumber(ARGV[6])
if max <= 0 then return {} end
local pel = GK(g, 'pel')
local rl = GK(g, 'rl')
local st = GK(g, 'st')
local log = K('log')
-- Entries below the group's lowest pending one are all settled: members
-- and read records wholly below it go without a look at each entry.
local sum = redis.call('XPENDING', log, g)
local lowest = math.huge
if tonumber(sum[1]) > 0 and sum[2] then
  lowest = tonumber(string.sub(sum[2], 3))
end
local below = '+inf'
if lowest < math.huge then below = '(' .. fmt(lowest) end
for _, r in ipairs(redis.call('ZRANGEBYSCORE', rl, '-inf', below, 'LIMIT', 0,
                              10000)) do
  local l = tonumber(string.match(r, '^%d+ (%d+) '))
  if l and l < lowest then redis.call('ZREM', rl, r) end
end
local ms = redis.call('ZRANGEBYSCORE', pel, '-inf', ARGV[5], 'WITHSCORES',
                      'LIMIT', 0, 10000)
local ids = {}
local taken = {}
for i = 1, #ms, 2 do
  local runs = runs_of(ms[i])
  local top = 0
  for _, run in ipairs(runs) do top = math.max(top, run[2]) end
  if top < lowest then
    redis.call('ZREM', pel, ms[i])
  elseif #ids < max then
    local mark = #taken + 1
    local rest = {}
    for _, run in ipairs(runs) do
      local a, b = run[1], run[2]
      if #ids >= max then
        rest[#rest + 1] = {a, b}
      else
        local want = max - #ids
        local ps = redis.call('XPENDING', log, g, '0-' .. fmt(a),
                              '0-' .. fmt(b), want)
        for _, p in ipairs(ps) do
          ids[#ids + 1] = p[1]
          taken[#taken + 1] = tonumber(string.sub(p[1], 3))
        end
        if #ps == want and #ps > 0 then
          local l = taken[#taken]
          if l < b then rest[#rest + 1] = {l + 1, b} end
        end
      end
    end
    redis.call('ZREM', pel, ms[i])
    if #rest > 0 then redis.call('ZADD', pel, ms[i + 1], runs_str(rest)) end
    -- A read's member: entries still under the read's lease (no state
    -- field) get it written out, expired, so that their next claim counts
    -- a crash redelivery; the read's record goes with the member's last
    -- part. (The record may start later than the member: see rlfrom.)
    if #runs == 1 then
      local a, b = runs[1][1], runs[1][2]
      local r = redis.call('ZREVRANGEBYSCORE', rl, b, '-inf', 'LIMIT', 0, 1)
      local f, l, base, x, h
      if r[1] then
        f, l, base, x, h = string.match(r[1],
                                        '^(%d+) (%d+) (%d+) (%-?%d+) (.*)$')
      end
      if f and tonumber(f) <= b and a <= tonumber(l) then
        f, l = tonumber(f), tonumber(l)
        for k = mark, #taken do
          local q = taken[k]
          if q >= f and q <= l then
            redis.call('HSETNX', st, fmt(q),
                       lease_str(tonumber(base) + q - f, tonumber(x), 1, 0, 0,
                                 h))
          end
        end
        if #rest == 0 and b >= l then redis.call('ZREM', rl, r[1]) end
      end
    end
  end
end
if #ids == 0 then return {} end
table.sort(taken)
local rs = {}
for _, q in ipairs(taken) do
  local last = rs[#rs]
  if last and last[2] + 1 == q then last[2] = q else rs[#rs + 1] = {q, q} end
end
redis.call('ZADD', pel, ARGV[4], runs_str(rs))
local out = {}
local i = 1
while i <= #ids do
  local chunk = {}
  for j = i, math.min(#ids, i + 999) do chunk[#chunk + 1] = ids[j] end
  local es = redis.call('XCLAIM', log, g, ARGV[3], 0, unpack(chunk))
  for _, e in ipairs(es) do out[#out + 1] = e end
  i = i + 1000
end
return out
)lua";

/// ARGV: P, group, after-id ('' = the group's last delivered id), chunk.
/// Returns {pending, matched, next-id or ''}. A group whose patterns are
/// all `*` is answered from the head and its last delivered id (O(1));
/// others scan the unread entries in chunks.
const char* const lua_backlog = R"lua(
local g = ARGV[2]
local err, start, pats = need_group(g)
if err then return err end
local after = ARGV[3]
local pending = nil
local last_id = nil
for _, info in ipairs(redis.call('XINFO', 'GROUPS', K('log'))) do
  if field(info, 'name') == g then
    last_id = field(info, 'last-delivered-id')
    pending = field(info, 'pending')
  end
end
if not last_id then return redis.error_reply('NOGROUP unknown group') end
if after == '' then after = last_id end
local all = #pats > 0
for _, p in ipairs(pats) do
  if p ~= '*' then all = false break end
end
if all then
  -- Every entry is the group's: seqs are dense (entries are removed only
  -- below what every group has read), so the unread ones are counted
  -- without a scan.
  local head = tonumber(redis.call('GET', K('seq')) or '0')
  local last = tonumber(string.match(after, '^%d+%-(%d+)$') or '0')
  -- A group registered from the start after a trim reads nothing below
  -- the trim point.
  last = math.max(last, trimmed_to())
  return {pending, math.max(0, head - last), ''}
end
local chunk = tonumber(ARGV[4])
local es = redis.call('XRANGE', K('log'), '(' .. after, '+', 'COUNT', chunk)
local match = matcher(pats)
local n = 0
for _, e in ipairs(es) do
  local t = e[2] and field(e[2], 't')
  if t and match(t) then n = n + 1 end
end
local next_id = ''
if #es == chunk then next_id = es[#es][1] end
return {pending, n, next_id}
)lua";

/// ARGV: P, holder, now, ttl, budget, verify ('1'/'0'), then group, seq,
/// takeover epoch (0: none; see lease_table::claim) per request, and with
/// verify the event id too. With verify (after a
/// generation change), a pair whose seq does not hold that event (a copy
/// of the old data) is answered `done` and nothing is written for it.
/// Returns flat: kind, epoch, expires_at, redeliveries.
const char* const lua_claim = R"lua(
local holder = ARGV[2]
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local verify = ARGV[6] == '1'
local step = 3
if verify then step = 4 end
-- Epochs for every pair are taken first (INCRBY): if a later command
-- fails, no epoch handed out here can be handed out again. Pairs that get
-- no lease leave a gap.
local npairs = (#ARGV - 6) / step
local epoch = redis.call('INCRBY', K('epoch'), npairs) - npairs
local trimmed = trimmed_to()
-- A first lease is "<epoch>" .. fresh_tail (see lease_str).
local fresh_tail = ' ' .. fmt(now + ttl) .. ' 1 0 0 ' .. holder
local out = {}
local has_rl = {}
local rl_cache = {}
for b = 7, #ARGV, step do
  local g = ARGV[b]
  local s = ARGV[b + 1]
  local sk = GK(g, 'st')
  local v = nil
  local fresh = false
  if not (verify and not holds(g, s, ARGV[b + 3])) then
    -- The common case, a pair without state yet (a first delivery): one
    -- HSETNX grants the lease. A trimmed pair without state was settled
    -- long ago (v stays nil: done).
    local lv = fmt(epoch + 1) .. fresh_tail
    if has_rl[g] == nil then
      has_rl[g] = redis.call('EXISTS', GK(g, 'rl')) == 1
    end
    if tonumber(s) <= trimmed then
      v = redis.call('HGET', sk, s) or nil
    elseif has_rl[g] then
      -- A pair without a state field may be under a read's lease.
      v = redis.call('HGET', sk, s) or false
      if not v then
        local e, x, h = read_lease(g, s, rl_cache)
        if e then
          v = lease_str(e, x, 1, 0, 0, h)
        elseif redis.call('HSETNX', sk, s, lv) == 1 then
          fresh = true
        end
      end
    elseif redis.call('HSETNX', sk, s, lv) == 1 then
      fresh = true
    else
      v = redis.call('HGET', sk, s) or false
    end
  end
  if fresh then
    epoch = epoch + 1
    out[#out + 1] = 0; out[#out + 1] = epoch; out[#out + 1] = now + ttl
    out[#out + 1] = 0
  elseif v == nil or settled_code(v) then
    -- Not this event's seq any more (after a generation change), trimmed,
    -- or settled (done, dead-lettered, purged): a stale copy must not run.
    out[#out + 1] = 2; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local le, lx, lh, lr, lc, lholder = nil, 0, 0, 0, 0, ''
    if v then le, lx, lh, lr, lc, lholder = parse_lease(v) end
    if not le then
      -- No lease yet (or a value we cannot read: treated as none).
      le, lx, lh, lr, lc, lholder = 0, 0, 0, 0, 0, ''
    end
    local tk = tonumber(ARGV[b + 2])
    if tk > 0 and lh == 1 and le == tk then
      -- The lease granted with the read, never run under: replaced as if
      -- released (no crash redelivery).
      lh = 0
    end
    if lh == 1 and now < lx and lholder == holder and lx == now + ttl then
      -- This claim sent again (the connection broke after the first was
      -- sent): the lease it granted.
      out[#out + 1] = 0; out[#out + 1] = le; out[#out + 1] = lx
      out[#out + 1] = lr
    elseif lh == 1 and now < lx then
      out[#out + 1] = 1; out[#out + 1] = le; out[#out + 1] = lx
      out[#out + 1] = lr
    else
      if lh == 1 then
        lr = lr + 1
        lh = 0
      end
      if lr > budget then
        redis.call('HSET', sk, s, lease_str(le, lx, 0, lr, lc, lholder))
        out[#out + 1] = 3; out[#out + 1] = le; out[#out + 1] = 0
        out[#out + 1] = lr
      else
        epoch = epoch + 1
        redis.call('HSET', sk, s, lease_str(epoch, now + ttl, 1, lr, lc, holder))
        out[#out + 1] = 0; out[#out + 1] = epoch; out[#out + 1] = now + ttl
        out[#out + 1] = lr
      end
    end
  end
end
return out
)lua";

/// ARGV: P, now, verify ('1'/'0'), then per item: kind, group, seq, epoch,
/// event id, a1, a2, a3 (done: record JSON or '', encoded attempts or '';
/// retry: due, delivery JSON; dead: reason, error, delivery JSON). With
/// verify (after a generation change), an item whose seq does not hold its
/// event is refused (no_lease) untouched. Returns one fence decision per
/// item.
const char* const lua_settle = R"lua(
local now = tonumber(ARGV[2])
local nows = ARGV[2]
local verify = ARGV[3] == '1'
local out = {}
local rz = K('retry:due')
local rd = K('retry:data')
local rt = K('retry:taken')
-- Per group of this call, in order of appearance: its state key, the pairs
-- seen, and the seqs leaving its pending list.
local per_group = {}
local order = {}
local rl_cache = {}
local function unpend(g, s)
  local l = per_group[g].leaving
  l[#l + 1] = s
end
local function unschedule(member)
  redis.call('ZREM', rz, member)
  redis.call('ZREM', K('retry:seq'), member)
  redis.call('HDEL', rd, member)
  redis.call('HDEL', rt, member)
end
for b = 4, #ARGV, 8 do
  local kind = tonumber(ARGV[b])
  local g = ARGV[b + 1]
  local s = ARGV[b + 2]
  local ep = tonumber(ARGV[b + 3])
  local id = ARGV[b + 4]
  local gi = per_group[g]
  if not gi then
    gi = {sk = GK(g, 'st'), seen = {}, leaving = {}}
    per_group[g] = gi
    order[#order + 1] = g
  end
  local sk = gi.sk
  local member = g .. '\31' .. s
  local d = 0
  -- The same settlement sent again (the connection broke after the first
  -- was sent and the client repeated it): answered as the first one was,
  -- nothing written twice. Recognised by its epoch and `now`, and by not
  -- being the second item for the pair in this very call (that one is a
  -- duplicate, refused).
  local again = false
  local first_here = not gi.seen[s]
  gi.seen[s] = true
  local le, lx, lh, lr, lc = nil, 0, 0, 0, 0
  if verify and not holds(g, s, id) then
    d = 2
  else
    local v = redis.call('HGET', sk, s)
    if v and settled_code(v) then
      d = 2
      local c = string.byte(v, 1)
      if kind == 0 and c == 68 then
        local e, at = string.match(v, '^D(%d+) (%-?%d+)')
        again = tonumber(e) == ep and at == nows
      elseif kind == 2 and c == 88 then
        local r = redis.call('XRANGE', K('dlq'), '0-' .. string.sub(v, 2),
                             '0-' .. string.sub(v, 2))
        again = r[1] ~= nil and field(r[1][2], 't') == nows
                and field(r[1][2], 'g') == g and field(r[1][2], 's') == s
      end
    else
      if v then
        le, lx, lh, lr, lc = parse_lease(v)
      elseif ep > 0 and tonumber(s) > trimmed_to() then
        -- Under a read's lease (no state field of its own yet)? Not for a
        -- trimmed seq: trims delete state fields.
        local e, x = read_lease(g, s, rl_cache)
        if e then le, lx, lh, lr, lc = e, x, 1, 0, 0 end
      end
      if kind == 2 and ep == 0 then
        -- A crash loop's dead-lettering: no lease was granted. A trimmed
        -- pair without state was settled long ago.
        if not v and tonumber(s) <= trimmed_to() then d = 2 else d = 0 end
      elseif not le or le == 0 then
        d = 2
      elseif lh ~= 1 or le ~= ep or now >= lx then
        d = 1
        if le == ep and lh == 0 then
          again = kind == 3
                  or (kind == 1 and lc == 1
                      and redis.call('ZSCORE', K('retry:due'), member)
                          == ARGV[b + 5])
        end
      end
    end
  end
  again = again and first_here
  if again then d = 0 end
  if d == 0 and not again then
    if kind == 0 then
      if tonumber(s) <= trimmed_to() then
        -- A replay of a trimmed event: settled, and as trimmed as the rest
        -- (a claim of a trimmed seq without state answers done).
        redis.call('HDEL', sk, s)
      else
        local lv
        if ARGV[b + 6] ~= '' then
          lv = 'D' .. ARGV[b + 3] .. ' ' .. nows .. ' ' .. ARGV[b + 6]
        else
          lv = 'D' .. ARGV[b + 3] .. ' ' .. nows
        end
        redis.call('HSET', sk, s, lv)
      end
      if ARGV[b + 5] ~= '' then
        -- A second record for a pair would be a double effect: keep it
        -- (in proc:dup) so that it shows instead of overwriting.
        if redis.call('HSETNX', GK(g, 'proc'), s, ARGV[b + 5]) == 0 then
          local dk = GK(g, 'proc:dup')
          local prev = redis.call('HGET', dk, s)
          redis.call('HSET', dk, s, (prev and (prev .. '\n') or '') .. ARGV[b + 5])
        end
      end
      if lc == 1 then unschedule(member) end
      unpend(g, s)
    elseif kind == 1 then
      redis.call('ZADD', rz, ARGV[b + 5], member)
      redis.call('ZADD', K('retry:seq'), s, member)
      redis.call('HSET', rd, member, ARGV[b + 6])
      redis.call('HDEL', rt, member)
      redis.call('HSET', sk, s, lease_str(le, lx, 0, lr, 1, ''))
      unpend(g, s)
    elseif kind == 2 then
      local pos = fmt(redis.call('INCR', K('dlq:seq')))
      redis.call('XADD', K('dlq'), '0-' .. pos, 'g', g, 's', s, 'i', id,
                 'r', ARGV[b + 5], 'e', ARGV[b + 6], 't', nows)
      redis.call('HSET', K('dlq:e:' .. pos), 'd', ARGV[b + 7])
      redis.call('SADD', K('dlq:ev:' .. id), pos)
      redis.call('HSET', GK(g, 'dead'), s, pos)
      redis.call('HSET', sk, s, 'X' .. pos)
      if lc == 1 then unschedule(member) end
      unpend(g, s)
    else
      redis.call('HSET', sk, s, lease_str(le, lx, 0, lr, lc, ''))
    end
  end
  out[#out + 1] = d
end
for _, g in ipairs(order) do
  local ss = per_group[g].leaving
  local ids = {}
  for i, s in ipairs(ss) do ids[i] = '0-' .. s end
  bulk('XACK', K('log'), g, ids, 1000)
end
return out
)lua";

/// ARGV: P, now, offset, count, consumer, instance, hold, call. Returns flat:
/// member, due, delivery JSON ('' for entries that are not free).
///
/// `retry:taken` marks which store object took an entry ("<consumer>
/// <instance> <time> <call>": call numbers this object's take_due calls). An entry is not free while a mark of another store
/// object of any node younger than `hold` ms is on it, nor while this store
/// object's own mark is. Marks go with the settlement (or a DLQ replay);
/// one left behind (a node that died, a reply that got lost) frees the
/// entry after `hold`, when it is handed out again (the lease claim lets one
/// delivery run at a time). Marks of this consumer's earlier store objects
/// (a restart) do not block it; its own mark of the same call (sent again)
/// neither.
const char* const lua_due = R"lua(
local now = tonumber(ARGV[2])
local me = ARGV[5]
local inst = ARGV[6]
local hold = tonumber(ARGV[7])
local tk = K('retry:taken')
local ms = redis.call('ZRANGEBYSCORE', K('retry:due'), '-inf', ARGV[2],
                      'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
local out = {}
for i = 1, #ms, 2 do
  local m = ms[i]
  local data = ''
  local t = redis.call('HGET', tk, m)
  local free = true
  if t then
    local c, ti, at, call = string.match(t, '^(.*) (%S+) (%-?%d+) (%d+)$')
    if c == me and ti ~= inst then
      free = true
    elseif c == me and call == ARGV[8] then
      -- This call sent again (the connection broke after the first was
      -- sent): what the first one took.
      free = true
    else
      free = at == nil or now >= tonumber(at) + hold
    end
  end
  if free then
    data = redis.call('HGET', K('retry:data'), m) or ''
    if data ~= '' then
      redis.call('HSET', tk, m, me .. ' ' .. inst .. ' ' .. ARGV[2] .. ' '
                 .. ARGV[8])
    end
  end
  out[#out + 1] = m
  out[#out + 1] = ms[i + 1]
  out[#out + 1] = data
end
return out
)lua";

/// ARGV: P, consumer, instance, hold. Returns when take_due may next hand
/// out an entry (see lua_due), or -1 if the schedule is empty: the due
/// time of an entry without a blocking mark, or the time its mark stops
/// blocking (mark time + hold), whichever is earliest. Scans in due order up
/// to the first entry without a blocking mark (nothing after it can be
/// earlier).
const char* const lua_next_due = R"lua(
local tk = K('retry:taken')
local hold = tonumber(ARGV[4])
local best = nil
local off = 0
while true do
  local ms = redis.call('ZRANGE', K('retry:due'), off, off + 99, 'WITHSCORES')
  if #ms == 0 then break end
  for i = 1, #ms, 2 do
    local due = tonumber(ms[i + 1])
    if best and due >= best then return best end
    local t = redis.call('HGET', tk, ms[i])
    local at = nil
    if t then
      local c, ti, a = string.match(t, '^(.*) (%S+) (%-?%d+) %d+$')
      if not (c == ARGV[2] and ti ~= ARGV[3]) then at = tonumber(a) end
    end
    if not at then
      if not best or due < best then best = due end
      return best
    end
    local free_at = math.max(due, at + hold)
    if not best or free_at < best then best = free_at end
  end
  off = off + 100
end
return best or -1
)lua";

/// ARGV: P, mode ('id' or 'seq'), value. Returns {seq, fields, g, status,
/// ...} or {} if unknown.
const char* const lua_status = R"lua(
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
)lua";

/// ARGV: P, id. Returns {} or {id, fields}.
const char* const lua_find = R"lua(
local e = find_entry(ARGV[2])
if not e or not e[2] then return {} end
return e
)lua";

/// ARGV: P, id. Returns the processed records (JSON) of the newest event
/// with that id.
const char* const lua_processed_of = R"lua(
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
)lua";

/// ARGV: P, group ('' = all).
const char* const lua_processed_count = R"lua(
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
)lua";

/// ARGV: P, 'list', after, limit, group | P, 'event', id. Returns flat:
/// pos, fields, delivery JSON.
const char* const lua_dlq_read = R"lua(
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
)lua";

/// ARGV: P, mode ('replay' / 'purge' / 'purge_all'), now, then pos, JSON
/// per entry (replay), pos per entry (purge). Returns the number removed.
const char* const lua_dlq_remove = R"lua(
local dlq = K('dlq')
local mode = ARGV[2]
local n = 0
local function remove(e, json)
  local f = e[2]
  local pos = string.sub(e[1], 3)
  local g = field(f, 'g')
  local s = field(f, 's')
  local id = field(f, 'i')
  redis.call('XDEL', dlq, e[1])
  redis.call('DEL', K('dlq:e:' .. pos))
  redis.call('SREM', K('dlq:ev:' .. id), pos)
  redis.call('HDEL', GK(g, 'dead'), s)
  if json then
    local member = g .. '\31' .. s
    redis.call('ZADD', K('retry:due'), ARGV[3], member)
    redis.call('ZADD', K('retry:seq'), s, member)
    redis.call('HSET', K('retry:data'), member, json)
    redis.call('HDEL', K('retry:taken'), member)
    -- No lease, in the retry schedule.
    redis.call('HSET', GK(g, 'st'), s, lease_str(0, 0, 0, 0, 1, ''))
  else
    -- Purged: the pair never runs again (a trimmed one needs no state
    -- for that).
    if tonumber(s) <= trimmed_to() then
      redis.call('HDEL', GK(g, 'st'), s)
    else
      redis.call('HSET', GK(g, 'st'), s, 'P')
    end
  end
  n = n + 1
end
if mode == 'purge_all' then
  while true do
    local es = redis.call('XRANGE', dlq, '-', '+', 'COUNT', 1000)
    if #es == 0 then break end
    for _, e in ipairs(es) do remove(e, nil) end
  end
  return n
end
local step = 1
if mode == 'replay' then step = 2 end
for b = 4, #ARGV, step do
  local r = redis.call('XRANGE', dlq, '0-' .. ARGV[b], '0-' .. ARGV[b])
  if r[1] then
    if mode == 'replay' then remove(r[1], ARGV[b + 1]) else remove(r[1], nil) end
  end
end
return n
)lua";

/// ARGV: P, id. Returns {} if unknown, else {seq, then per group of the
/// event: group, status, history source}: the ledger value (processed), the
/// DLQ entry's delivery JSON (dead), or the retry schedule's delivery JSON
/// (otherwise; '' if the pair is not in the schedule).
const char* const lua_history = R"lua(
local e = find_entry(ARGV[2])
if not e or not e[2] then return {} end
local s = string.sub(e[1], 3)
local out = {s}
local st = statuses(tonumber(s), field(e[2], 't') or '')
for i = 1, #st, 2 do
  local g = st[i]
  local code = st[i + 1]
  local src
  if code == 4 then
    src = string.sub(redis.call('HGET', GK(g, 'st'), s) or '', 2)
  elseif code == 5 then
    local pos = redis.call('HGET', GK(g, 'dead'), s)
    if pos then src = redis.call('HGET', K('dlq:e:' .. pos), 'd') end
  else
    src = redis.call('HGET', K('retry:data'), g .. '\31' .. s)
  end
  out[#out + 1] = g
  out[#out + 1] = code
  out[#out + 1] = src or ''
end
return out
)lua";

/// ARGV: P, status (number), group ('' = all), after, limit, budget.
/// Scans log entries after `after` in seq order, at most `budget`, and
/// stops after the entry whose items reach `limit` (all groups of that entry
/// are listed: a page never splits a seq). Statuses are decided as in
/// `statuses` (ledger > dead > retry > pending > accepted), stopping at the
/// first lookup that decides whether the wanted status holds. Returns {next,
/// then per item: group, id, type, seq}, items of one seq in no particular
/// order; next is 0 when the scan reached the head, else the last scanned
/// seq. An unknown group gives {0}.
const char* const lua_list_events = R"lua(
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
  local c = settled_code(redis.call('HGET', gr[4], s))
  if c then return want == c end
  if want == 4 or want == 5 then return false end
  if redis.call('ZSCORE', rz, gr[7] .. s) then return want == 3 end
  if want == 3 then return false end
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
)lua";

/// ARGV: P, now, retention, max. Removes the oldest log entries up to the
/// trim point (see store::trim), at most `max`, with their state fields
/// (except dead pairs', which the DLQ still needs) and effect records;
/// raises `trimmed`. Returns the number of entries removed.
const char* const lua_trim = R"lua(
local now = tonumber(ARGV[2])
local ret = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
if max <= 0 then return 0 end
local log = K('log')
local head = tonumber(redis.call('GET', K('seq')) or '0')
local done_to = trimmed_to()
-- The lowest seq some group has not settled.
local limit = head + 1
local groups = redis.call('HKEYS', K('groups'))
if #groups > 0 then
  local last = {}
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', log)) do
    last[field(info, 'name')] = field(info, 'last-delivered-id')
  end
  for _, g in ipairs(groups) do
    local l = last[g]
    if not l then return redis.error_reply('NOGROUP unknown group ' .. g) end
    limit = math.min(limit, tonumber(string.match(l, '%-(%d+)$')) + 1)
    local p = redis.call('XPENDING', log, g)
    if p[1] > 0 then
      limit = math.min(limit, tonumber(string.match(p[2], '%-(%d+)$')))
    end
  end
end
-- Retries of entries not trimmed yet (a replay of a trimmed event needs
-- no log entry and holds nothing back).
local r = redis.call('ZRANGEBYSCORE', K('retry:seq'), '(' .. done_to, '+inf',
                    'WITHSCORES', 'LIMIT', 0, 1)
if #r > 0 then limit = math.min(limit, tonumber(r[2])) end
local from = done_to + 1
local hi = math.min(limit - 1, done_to + max)
if hi < from then return 0 end
-- Where the prefix of old entries ends. The append time index `log:t` (one
-- member per append call: score its first seq, member "<first seq>:<latest
-- created_at>") answers for whole batches; only the batch holding the
-- first entry within retention is read entry by entry. Entries without an
-- index member (none) are read.
local function created_of(e)
  local f = e[2]
  local created = nil
  local d = field(f, 'd')
  if d then created = string.match(d, '^%-?%d+\31(%-?%d+)\31') end
  return tonumber(created or field(f, 'c') or '0')
end
-- The last seq in [a, b] before the first entry within retention.
local function scan(a, b)
  local cut = b
  for _, e in ipairs(redis.call('XRANGE', log, '0-' .. fmt(a),
                                '0-' .. fmt(b))) do
    if created_of(e) + ret > now then
      return tonumber(string.sub(e[1], 3)) - 1
    end
  end
  return cut
end
local tk = K('log:t')
local cut = from - 1
local first = redis.call('ZREVRANGEBYSCORE', tk, fmt(from), '-inf',
                         'LIMIT', 0, 1)
if #first == 0 then
  cut = scan(from, hi)
else
  local batches = {first[1]}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', tk, '(' .. fmt(from),
                                fmt(hi))) do
    batches[#batches + 1] = m
  end
  for k, m in ipairs(batches) do
    local s0, mc = string.match(m, '^(%d+):(%-?%d+)$')
    local e0 = hi
    if batches[k + 1] then
      e0 = math.min(hi, tonumber(string.match(batches[k + 1], '^(%d+):')) - 1)
    end
    if tonumber(mc) + ret <= now then
      cut = e0
    else
      cut = scan(math.max(tonumber(s0), from), e0)
      break
    end
  end
end
if cut < from then return 0 end
local seqs = {}
for q = from, cut do seqs[#seqs + 1] = fmt(q) end
local last_seq = seqs[#seqs]
-- The mark first: if a later command fails, claims of these seqs are
-- still refused (never granted again without a state field).
redis.call('SET', K('trimmed'), last_seq)
-- Index members of batches that are gone entirely.
local keep = redis.call('ZREVRANGEBYSCORE', tk, fmt(cut + 1), '-inf',
                        'LIMIT', 0, 1)
if #keep > 0 then
  redis.call('ZREMRANGEBYSCORE', tk, '-inf',
             '(' .. string.match(keep[1], '^(%d+):'))
end
for _, g in ipairs(groups) do
  local sk = GK(g, 'st')
  local i = 1
  while i <= #seqs do
    local chunk = {}
    for j = i, math.min(#seqs, i + 999) do chunk[#chunk + 1] = seqs[j] end
    local vs = redis.call('HMGET', sk, unpack(chunk))
    local gone = {}
    for j = 1, #chunk do
      local v = vs[j]
      if v and string.byte(v, 1) ~= 88 then gone[#gone + 1] = chunk[j] end
    end
    if #gone > 0 then redis.call('HDEL', sk, unpack(gone)) end
    redis.call('HDEL', GK(g, 'proc'), unpack(chunk))
    i = i + 1000
  end  -- Read lease records of runs trimmed entirely.
  local rl = GK(g, 'rl')
  for _, r in ipairs(redis.call('ZRANGEBYSCORE', rl, '-inf', fmt(cut),
                                'LIMIT', 0, 1000)) do
    local l = tonumber(string.match(r, '^%d+ (%d+) '))
    if l and l <= cut then redis.call('ZREM', rl, r) end
  end
end
redis.call('XTRIM', log, 'MINID', '0-' .. fmt(tonumber(last_seq) + 1))
return #seqs
)lua";

enum script_id : size_t {
  sc_append,
  sc_ensure_group,
  sc_reclaim,
  sc_backlog,
  sc_claim,
  sc_settle,
  sc_due,
  sc_next_due,
  sc_status,
  sc_find,
  sc_processed_of,
  sc_processed_count,
  sc_dlq_read,
  sc_dlq_remove,
  sc_history,
  sc_list_events,
  sc_trim,
  sc_read_before,
  sc_read_after,
  sc_gen_check,
  sc_count,
};

const char* const script_bodies[sc_count] = {
  lua_append,       lua_ensure_group, lua_reclaim,
  lua_backlog,      lua_claim,        lua_settle,         lua_due,
  lua_next_due,     lua_status,       lua_find,         lua_processed_of,   lua_processed_count,
  lua_dlq_read,     lua_dlq_remove,   lua_history,        lua_list_events,
  lua_trim,         lua_read_before,  lua_read_after,     lua_gen_check,
};

/// The full text of a script (the shared prelude and its body), built once.
const std::string& script_text(script_id id) {
  static const auto texts = [] {
    std::vector<std::string> out;
    for (size_t i = 0; i < sc_count; ++i)
      out.push_back(std::string(lua_prelude) + script_bodies[i]);
    return out;
  }();
  return texts[id];
}

// -- replies -----------------------------------------------------------------

struct reply_deleter {
  void operator()(redisReply* r) const {
    if (r != nullptr)
      freeReplyObject(r);
  }
};

using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct context_deleter {
  void operator()(redisContext* c) const {
    if (c != nullptr)
      redisFree(c);
  }
};

std::string str_of(const redisReply* r) {
  if (r == nullptr)
    return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
      || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER)
    return std::to_string(r->integer);
  return {};
}

int64_t int_of(const redisReply* r) {
  if (r == nullptr)
    return 0;
  if (r->type == REDIS_REPLY_INTEGER)
    return r->integer;
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
    std::string s(r->str, r->len);
    try {
      size_t used = 0;
      // Scores may come as "1700000000100" or in exponent form.
      if (s.find_first_of(".eE") != std::string::npos)
        return static_cast<int64_t>(std::stod(s));
      auto v = std::stoll(s, &used);
      return v;
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

uint64_t u64_of(const redisReply* r) {
  return static_cast<uint64_t>(int_of(r));
}

bool is_array(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY;
}

using codec::dump;

// -- URL ---------------------------------------------------------------------

struct redis_url {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;
  bool has_auth = false;
  /// rediss://: TLS (tls_link).
  bool tls = false;
};

[[noreturn]] void bad_url(const std::string& url, const std::string& why) {
  throw store_error("bad redis URL '" + url + "': " + why
                    + " (expected redis[s]://[user:password@]host[:port][/db])");
}

std::string percent_decode(const std::string& url, const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size() || !std::isxdigit(static_cast<uint8_t>(in[i + 1]))
          || !std::isxdigit(static_cast<uint8_t>(in[i + 2])))
        bad_url(url, "bad percent escape in the user:password part");
      out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

int parse_number(const std::string& url, const std::string& text,
                 const char* what, int lo, int hi) {
  if (text.empty() || text.size() > 9
      || !std::all_of(text.begin(), text.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    bad_url(url, std::string(what) + " '" + text + "' is not a number");
  auto v = std::stoi(text);
  if (v < lo || v > hi)
    bad_url(url, std::string(what) + " " + text + " is out of range");
  return v;
}

redis_url parse_url(const std::string& url) {
  redis_url out;
  std::string scheme = "redis://";
  if (url.compare(0, 9, "rediss://") == 0) {
    scheme = "rediss://";
    out.tls = true;
  } else if (url.compare(0, scheme.size(), scheme) != 0) {
    bad_url(url, "the scheme must be redis:// or rediss:// (TLS; no unix "
                 "sockets)");
  }
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty())
      out.db = parse_number(url, db, "database", 0, 1 << 20);
  }
  auto at = authority.rfind('@');
  if (at != std::string::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string::npos) {
      out.password = percent_decode(url, userinfo);
    } else {
      out.user = percent_decode(url, userinfo.substr(0, colon));
      out.password = percent_decode(url, userinfo.substr(colon + 1));
    }
    out.has_auth = true;
  }
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      bad_url(url, "unterminated [ in the host");
    out.host = authority.substr(1, close - 1);
    auto tail = authority.substr(close + 1);
    if (!tail.empty()) {
      if (tail[0] != ':')
        bad_url(url, "junk after the host");
      port = tail.substr(1);
      if (port.empty())
        bad_url(url, "empty port");
    }
  } else {
    auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty())
        bad_url(url, "empty port");
    }
  }
  if (out.host.empty())
    bad_url(url, "missing host");
  if (!port.empty())
    out.port = parse_number(url, port, "port", 1, 65535);
  return out;
}

timeval to_timeval(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

std::string lower_first(std::string s) {
  if (!s.empty())
    s[0] = static_cast<char>(std::tolower(static_cast<uint8_t>(s[0])));
  return s;
}

std::string join_patterns(const std::vector<std::string>& patterns) {
  std::string out;
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (i > 0)
      out += '\x1f';
    out += patterns[i];
  }
  return out;
}

// -- the store ---------------------------------------------------------------

class redis_store final : public store {
public:
  explicit redis_store(const redis_options& opts);

  // -- log_port --------------------------------------------------------------

  void ensure_group(const group_spec& spec) override;

  std::vector<append_result> append(std::vector<event>& batch, millis_t now,
                                    millis_t dedup_window) override;

  std::vector<delivery> read_leased(const std::string& group, size_t max,
                                    millis_t now, const std::string& holder,
                                    millis_t ttl, uint32_t) override;
  std::vector<event> read_group(const std::string& group, size_t max,
                                millis_t now) override;

  std::vector<event> reclaim(const std::string& group, millis_t now,
                             millis_t min_idle, size_t max) override;

  uint64_t head() override {
    auto r = command({"GET", key("seq")}, "head");
    return u64_of(r.get());
  }

  uint64_t backlog(const std::string& group) override;

  event find(const std::string& id) override;

  // -- lease_port ------------------------------------------------------------

  std::vector<claim_decision> claim(const std::vector<claim_request>& reqs,
                                    const std::string& holder, millis_t now,
                                    millis_t ttl,
                                    uint32_t crash_budget) override;

  std::vector<fence_decision> settle(const std::vector<settlement>& items,
                                     millis_t now) override;

  bool is_done(const std::string& group, uint64_t seq) override {
    auto r = command({"HGET", gkey(group, "st"), std::to_string(seq)},
                     "is_done");
    return r->type == REDIS_REPLY_STRING && r->len > 0 && r->str[0] == 'D';
  }

  // -- retry_port ------------------------------------------------------------

  std::vector<delivery> take_due(millis_t now, size_t max) override;

  millis_t next_due() override;

  uint64_t scheduled() override {
    auto r = command({"ZCARD", key("retry:due")}, "scheduled");
    return u64_of(r.get());
  }

  // -- dlq_port --------------------------------------------------------------

  dlq_page dlq_list(const dlq_query& q) override;

  std::vector<dlq_entry> dlq_get(const std::string& event_id) override;

  size_t dlq_replay(const std::string& event_id, const std::string& group,
                    millis_t now) override;

  size_t dlq_purge(const std::string& event_id) override;

  uint64_t dlq_size() override {
    auto r = command({"XLEN", key("dlq")}, "dlq_size");
    return u64_of(r.get());
  }

  uint64_t dlq_count(const std::string& group) override {
    // g:<g>:dead holds one field per dead seq of the group.
    auto r = command({"HLEN", gkey(group, "dead")}, "dlq_count");
    return u64_of(r.get());
  }

  // -- processed_port --------------------------------------------------------

  uint64_t processed_count(const std::string& group) override {
    auto r = eval(sc_processed_count, {group}, "processed_count",
                  gen_check::none);
    return u64_of(r.get());
  }

  std::vector<processed_record>
  processed_of(const std::string& event_id) override;

  // -- store -----------------------------------------------------------------

  std::vector<group_status> status_of(const std::string& event_id) override;

  std::vector<group_history>
  history_of(const std::string& event_id) override;

  event_listing list_events(const event_listing_query& q) override;

  void ping() override;

  uint64_t trim(millis_t now, millis_t retention, millis_t,
                size_t max) override {
    // Dedup keys (id:<id>) expire on their own (TTL: max(window,
    // retention)).
    auto r = eval(sc_trim,
                  {std::to_string(now), std::to_string(retention),
                   std::to_string(max)},
                  "trim", gen_check::none);
    return u64_of(r.get());
  }

  std::string describe() const override {
    return base_ + "/" + std::to_string(url_.db) + " prefix=" + prefix_;
  }

  std::vector<std::string> startup_warnings() const override {
    return warnings_;
  }

private:
  std::string key(const char* name) const {
    return prefix_ + name;
  }

  std::string gkey(const std::string& group, const char* kind) const {
    return prefix_ + "g:" + group + ":" + kind;
  }

  [[noreturn]] void
  fail(const std::string& op, const std::string& msg,
       store_error::kind k = store_error::kind::failure) {
    throw store_error(base_ + ": " + op + ": " + msg, k);
  }

  /// Connects (or reconnects) and applies timeout, AUTH and SELECT. After a
  /// failed attempt, further attempts wait for a backoff (100 ms doubling
  /// up to 5 s, with jitter): calls in between fail at once, naming the
  /// last error, instead of each waiting for the connect timeout.
  void connect();

  /// One connection attempt (no backoff).
  void connect_now();

  /// Makes sure the connection is usable.
  void ensure_connected() {
    if (!connected() || broken_)
      connect();
  }

  /// A connection is there (plain or TLS), usable or not.
  bool connected() const {
    return ctx_ != nullptr || tls_ != nullptr;
  }

  /// Sends one command and reads its reply; throws on I/O errors. Error
  /// replies are returned. `repeatable`: see pipeline.
  reply_ptr raw(const std::vector<std::string>& args, const std::string& op,
                bool repeatable = true);

  /// Like `raw`, but throws on error replies (diagnosing WRONGTYPE).
  reply_ptr command(const std::vector<std::string>& args,
                    const std::string& op);

  /// Sends several commands in one round trip. A connection the server
  /// closed while it was idle (restart, idle timeout) is noticed before
  /// sending (a non-blocking peek sees the end of the stream) and replaced
  /// first. If it turns out closed only after the commands were sent, they
  /// may or may not have run: `repeatable` commands (reads, and writes that
  /// come out the same when run twice) are sent once more over a new
  /// connection, the others fail.
  std::vector<reply_ptr> pipeline(const std::vector<std::vector<std::string>>&
                                    cmds,
                                  const std::string& op,
                                  bool repeatable = true);

  /// One attempt of `pipeline`; sets `closed` if the connection turned out
  /// to be closed by the server (EOF, reset) rather than slow or refused.
  std::vector<reply_ptr>
  pipeline_once(const std::vector<std::vector<std::string>>& cmds,
                const std::string& op, bool& closed);

  /// True if the idle connection was closed by the server.
  bool closed_by_server();

  /// How a script call treats the store generation (see the header).
  enum class gen_check {
    /// No check: reads that depend on nothing the caller holds.
    none,
    /// The data must be the generation this store object knows.
    check,
    /// Like check, for the calls of the log's reader (ensure_group,
    /// read_group, reclaim, backlog): a change another call noticed first
    /// is reported to the reader too (once), so that it drops what it
    /// holds.
    reader,
  };

  /// Runs a script (EVALSHA, reloading it on NOSCRIPT); ARGV[1] is the
  /// prefix, followed by `args` and the generation to check ('' for none).
  /// Throws on error replies.
  reply_ptr eval(script_id id, std::vector<std::string> args,
                 const std::string& op, gen_check gc,
                 const std::string& group = {});

  /// Reads the generation at open, creating one (SET NX) if there is none.
  void open_generation();

  /// A script found another generation than ours (`current`: its token, or
  /// "none"): adopts it (creating a new one with SET NX if none) for the
  /// next calls and throws the "store generation changed" error.
  [[noreturn]] void generation_changed(const std::string& op,
                                       const std::string& current,
                                       gen_check gc);

  /// For the reader's calls: reports a change that another call noticed.
  void take_notice(const std::string& op);
  /// read_group, with leases for `holder` when ttl > 0 (read_leased).
  std::vector<delivery> read_impl(const std::string& group, size_t max,
                                  millis_t now, const std::string& holder,
                                  millis_t ttl);

  /// The "store generation changed" error.
  [[noreturn]] void fail_generation(const std::string& op,
                                    const std::string& detail);

  void load_scripts();

  /// Warns (startup_warnings) when Redis may evict keys.
  void check_eviction();

  /// Throws the error of an error reply, naming the key for WRONGTYPE.
  [[noreturn]] void error_reply(const redisReply* r, const std::string& op,
                                const std::string& group);

  /// Checks the types of every key we know of; throws naming a key of the
  /// wrong type.
  void check_types(const std::string& op);

  event decode_event(const redisReply* id, const redisReply* fields);

  delivery decode_delivery(const std::string& text, const std::string& op);

  /// The attempts kept with a ledger value ("<epoch> <at>[ <attempts>]").
  std::vector<attempt_record> decode_ledger(const std::string& value,
                                            const std::string& op);

  std::vector<dlq_entry> read_dlq(const redisReply* r,
                                  std::vector<uint64_t>* positions,
                                  std::vector<std::string>* groups,
                                  const std::string& op);

  redis_options opts_;
  redis_url url_;
  std::string base_;
  std::vector<std::string> warnings_;
  std::string prefix_;
  /// Owned here, so that a constructor that throws frees it too.
  std::unique_ptr<redisContext, context_deleter> ctx_;
  /// The connection instead of ctx_ for rediss:// URLs.
  std::unique_ptr<tls_link> tls_;
  bool broken_ = false;
  /// Reconnect backoff (see connect): the current delay, when the next
  /// attempt may start (steady clock, ms), and the last attempt's error.
  int backoff_ms_ = 0;
  bool connecting_ = false;
  int64_t retry_at_ = 0;
  std::string connect_error_;
  std::string shas_[sc_count];
  /// Numbers take_due calls (marks in `retry:taken`).
  uint64_t take_calls_ = 0;
  /// Identifies this store object in `retry:taken` (a restart is a new
  /// one; so is each further store object of a node).
  std::string instance_ = std::to_string(std::random_device{}())
                          + std::to_string(std::random_device{}());
  /// The generation of the data this store object (its node) works on.
  std::string gen_;
  /// A generation change was seen: claims and settlements check that each
  /// seq still holds the event they name (copies of the old data may still
  /// be around in the node), until the store object is reopened.
  bool verify_ = false;
  /// A call other than the reader's noticed a generation change: the
  /// reader's next call reports it too.
  bool notice_ = false;
};

/// 16 hex digits naming a generation.
std::string new_generation_token() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(v));
  return buf;
}

redis_store::redis_store(const redis_options& opts)
  : opts_(opts), url_(parse_url(opts.url)), prefix_(opts.prefix) {
  base_ = std::string{url_.tls ? "rediss://" : "redis://"} + url_.host + ":"
          + std::to_string(url_.port);
  if (opts_.consumer.empty())
    throw store_error(base_ + ": the consumer name must not be empty");
  connect();
  check_types("open");
  open_generation();
  check_eviction();
}

void redis_store::open_generation() {
  // The layout first: data of another layout (an older onceflow: no
  // `layout` key, but its `ids` hash) is refused instead of misread.
  auto ls = pipeline({{"GET", key("layout")}, {"EXISTS", key("ids")}},
                     "open");
  for (auto& r : ls)
    if (r->type == REDIS_REPLY_ERROR)
      error_reply(r.get(), "open", {});
  auto layout = str_of(ls[0].get());
  if (layout.empty() && int_of(ls[1].get()) == 1)
    fail("open", "the data under prefix '" + prefix_
                   + "' has no layout version (written by an older "
                     "onceflow); drain it and delete its keys, or use "
                     "another prefix");
  if (layout == layout_upgradable) {
    // Entries a group of layout 2 still reads (re-reading from the start,
    // say) may be settled: no group leases with its reads below today's
    // head (see lua_read_after).
    auto script = std::string{
      "local seq = redis.call('GET', KEYS[1]) or '0' "
      "for _, g in ipairs(redis.call('HKEYS', KEYS[2])) do "
      "  redis.call('SET', ARGV[1] .. 'g:' .. g .. ':rlfrom', seq) "
      "end "
      "redis.call('SET', KEYS[3], ARGV[2]) return 1"};
    auto r = command({"EVAL", script, "3", key("seq"), key("groups"),
                      key("layout"), prefix_, layout_version},
                     "open");
    if (r->type == REDIS_REPLY_ERROR)
      error_reply(r.get(), "open", {});
    layout = layout_version;
  }
  if (!layout.empty() && layout != layout_version)
    fail("open", "the data under prefix '" + prefix_ + "' has layout "
                   + layout + ", this onceflow reads layout "
                   + layout_version
                   + "; use the matching onceflow or another prefix");
  auto rs = pipeline({{"SET", key("gen"), new_generation_token(), "NX"},
                      {"GET", key("gen")},
                      {"SET", key("layout"), layout_version, "NX"}},
                     "open");
  for (auto& r : rs)
    if (r->type == REDIS_REPLY_ERROR)
      error_reply(r.get(), "open", {});
  gen_ = str_of(rs[1].get());
  if (gen_.empty())
    fail("open", "cannot read the store generation (key '" + key("gen")
                   + "')");
}

void redis_store::fail_generation(const std::string& op,
                                  const std::string& detail) {
  throw store_error(base_ + ": store generation changed (Redis lost or "
                            "replaced its data): "
                    + op + " refused, " + detail
                      + "; what this node held of the old data is void",
                    store_error::kind::generation_changed);
}

void redis_store::generation_changed(const std::string& op,
                                     const std::string& current,
                                     gen_check gc) {
  auto now_gen = current;
  if (current == "none") {
    // The data was lost: start a new generation. SET NX, then GET: nodes
    // racing here agree on the first token set.
    auto rs = pipeline({{"SET", key("gen"), new_generation_token(), "NX"},
                        {"GET", key("gen")},
                        {"SET", key("layout"), layout_version, "NX"}},
                       op);
    now_gen = rs[1]->type == REDIS_REPLY_ERROR ? std::string{}
                                               : str_of(rs[1].get());
  }
  auto old = gen_;
  if (!now_gen.empty() && now_gen != gen_) {
    gen_ = now_gen;
    verify_ = true;
    notice_ = gc != gen_check::reader;
  }
  fail_generation(op, "generation " + old + " is gone, now "
                        + (now_gen.empty() ? std::string{"none"} : now_gen));
}

void redis_store::take_notice(const std::string& op) {
  if (!notice_)
    return;
  notice_ = false;
  fail_generation(op, "now generation " + gen_
                        + " (noticed by an earlier call)");
}

void redis_store::check_eviction() {
  // An evicting Redis may drop accepted events, leases or ledger entries.
  auto r = raw({"CONFIG", "GET", "maxmemory-policy"}, "open");
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
    warnings_.push_back(base_ + ": cannot read maxmemory-policy (CONFIG GET "
                                "refused?); make sure it is noeviction");
    return;
  }
  auto policy = str_of(r->element[1]);
  if (policy == "noeviction")
    return;
  auto m = raw({"CONFIG", "GET", "maxmemory"}, "open");
  auto limit = m && m->type == REDIS_REPLY_ARRAY && m->elements >= 2
                 ? str_of(m->element[1])
                 : std::string{"?"};
  if (limit == "0")
    return; // No memory limit: nothing is evicted.
  warnings_.push_back(base_ + ": maxmemory-policy is " + policy
                      + " (maxmemory " + limit
                      + "): Redis may evict onceflow keys and lose accepted "
                        "events; set maxmemory-policy noeviction");
}

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

void redis_store::connect() {
  auto now = steady_now_ms();
  if (now < retry_at_)
    throw store_error(connect_error_ + " (reconnecting: next attempt in "
                      + std::to_string(retry_at_ - now) + " ms)");
  connecting_ = true;
  try {
    connect_now();
    connecting_ = false;
    backoff_ms_ = 0;
    retry_at_ = 0;
  } catch (const store_error& ex) {
    connecting_ = false;
    backoff_ms_ = std::min(5000, std::max(100, backoff_ms_ * 2));
    // Jitter: nodes that lost Redis together do not come back in step.
    static thread_local std::minstd_rand rng{std::random_device{}()};
    auto delay = backoff_ms_ / 2
                 + static_cast<int>(rng() % static_cast<unsigned>(
                                      backoff_ms_ / 2 + 1));
    retry_at_ = steady_now_ms() + delay;
    connect_error_ = ex.what();
    throw;
  }
}

void redis_store::connect_now() {
  ctx_.reset();
  tls_.reset();
  broken_ = true;
  if (url_.tls) {
    tls_link_options to;
    to.ca_file = opts_.tls_ca_file;
    to.cert_file = opts_.tls_cert_file;
    to.key_file = opts_.tls_key_file;
    to.connect_timeout_ms = opts_.connect_timeout_ms;
    to.command_timeout_ms = opts_.command_timeout_ms;
    try {
      tls_ = std::make_unique<tls_link>(url_.host, url_.port, to);
    } catch (const tls_link_error& ex) {
      throw store_error(base_ + ": " + ex.what());
    }
  } else {
    ctx_.reset(redisConnectWithTimeout(url_.host.c_str(), url_.port,
                                       to_timeval(opts_.connect_timeout_ms)));
    if (ctx_ == nullptr)
      throw store_error(base_ + ": cannot allocate a redis context");
    if (ctx_->err != 0) {
      std::string msg = lower_first(ctx_->errstr);
      ctx_.reset();
      throw store_error(base_ + ": " + msg);
    }
    if (opts_.command_timeout_ms > 0)
      redisSetTimeout(ctx_.get(), to_timeval(opts_.command_timeout_ms));
  }
  broken_ = false;
  if (url_.has_auth) {
    std::vector<std::string> args{"AUTH"};
    if (!url_.user.empty())
      args.push_back(url_.user);
    args.push_back(url_.password);
    auto r = raw(args, "connect");
    if (r->type == REDIS_REPLY_ERROR) {
      broken_ = true;
      throw store_error(base_ + ": authentication failed (" + str_of(r.get())
                        + ")");
    }
  }
  {
    auto r = raw({"SELECT", std::to_string(url_.db)}, "connect");
    if (r->type == REDIS_REPLY_ERROR) {
      broken_ = true;
      auto msg = str_of(r.get());
      if (msg.rfind("NOAUTH", 0) == 0)
        throw store_error(base_ + ": authentication required (" + msg
                          + "): put user:password into the URL");
      throw store_error(base_ + ": SELECT " + std::to_string(url_.db)
                        + " failed (" + msg + ")");
    }
  }
  load_scripts();
}

void redis_store::load_scripts() {
  std::vector<std::vector<std::string>> cmds;
  for (size_t i = 0; i < sc_count; ++i)
    cmds.push_back({"SCRIPT", "LOAD",
                    script_text(static_cast<script_id>(i))});
  auto replies = pipeline(cmds, "load scripts");
  for (size_t i = 0; i < sc_count; ++i) {
    if (replies[i]->type != REDIS_REPLY_STRING) {
      broken_ = true;
      fail("load scripts", str_of(replies[i].get()));
    }
    shas_[i] = str_of(replies[i].get());
  }
}

reply_ptr redis_store::raw(const std::vector<std::string>& args,
                           const std::string& op, bool repeatable) {
  auto replies = pipeline({args}, op, repeatable);
  return std::move(replies.front());
}

std::vector<reply_ptr>
redis_store::pipeline(const std::vector<std::vector<std::string>>& cmds,
                      const std::string& op, bool repeatable) {
  // Not while setting a connection up (AUTH, SELECT, SCRIPT LOAD).
  if (connected() && !broken_ && !connecting_ && closed_by_server())
    broken_ = true; // Reconnects below, before anything is sent.
  bool was_up = connected() && !broken_ && !connecting_;
  bool closed = false;
  try {
    return pipeline_once(cmds, op, closed);
  } catch (const store_error&) {
    if (!was_up || !closed || !repeatable)
      throw;
  }
  // The connection closed under the call: once more over a fresh one (a
  // server that is down fails here, with the connect error).
  return pipeline_once(cmds, op, closed);
}

bool redis_store::closed_by_server() {
  // Nothing is outstanding between calls, so any readable byte or the end
  // of the stream means the server has closed (or is closing) the
  // connection.
  if (tls_ != nullptr)
    return tls_->closed_by_server();
  return peer_closed(ctx_->fd);
}

std::vector<reply_ptr>
redis_store::pipeline_once(const std::vector<std::vector<std::string>>& cmds,
                           const std::string& op, bool& closed) {
  closed = false;
  if (!connected() || broken_)
    connect();
  if (tls_ != nullptr) {
    std::vector<reply_ptr> out;
    out.reserve(cmds.size());
    try {
      tls_->send(cmds);
      for (size_t i = 0; i < cmds.size(); ++i)
        out.emplace_back(tls_->receive());
    } catch (const tls_link_error& ex) {
      broken_ = true;
      closed = ex.closed;
      fail(op, ex.what());
    }
    return out;
  }
  command_argv cmd;
  for (auto& args : cmds) {
    cmd.set(args);
    if (redisAppendCommandArgv(ctx_.get(), cmd.argc(), cmd.argv.data(),
                               cmd.lens.data())
        != REDIS_OK) {
      broken_ = true;
      closed = ctx_->err == REDIS_ERR_EOF;
      fail(op, lower_first(ctx_->errstr));
    }
  }
  std::vector<reply_ptr> out;
  out.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_.get(), &r) != REDIS_OK || r == nullptr) {
      broken_ = true;
      // EOF, or a reset / broken pipe: the server closed the connection
      // (a timeout is not: the server may still be running the command).
      closed = ctx_->err == REDIS_ERR_EOF
               || (ctx_->err == REDIS_ERR_IO
                   && (errno == ECONNRESET || errno == EPIPE
                       || std::strstr(ctx_->errstr, "reset") != nullptr
                       || std::strstr(ctx_->errstr, "roken pipe")
                            != nullptr));
      std::string msg = ctx_->err != 0 ? lower_first(ctx_->errstr)
                                       : "no reply";
      if (ctx_->err == REDIS_ERR_IO
          && (msg.find("temporarily unavailable") != std::string::npos
              || msg.find("timed out") != std::string::npos))
        msg = "timeout after " + std::to_string(opts_.command_timeout_ms)
              + " ms (" + msg + ")";
      fail(op, msg);
    }
    out.emplace_back(static_cast<redisReply*>(r));
  }
  return out;
}

reply_ptr redis_store::command(const std::vector<std::string>& args,
                               const std::string& op) {
  auto r = raw(args, op);
  if (r->type == REDIS_REPLY_ERROR)
    error_reply(r.get(), op, {});
  return r;
}

reply_ptr redis_store::eval(script_id id, std::vector<std::string> args,
                            const std::string& op, gen_check gc,
                            const std::string& group) {
  ensure_connected();
  args.push_back(gc == gen_check::none ? std::string{} : gen_);
  args.insert(args.begin(), prefix_);
  args.insert(args.begin(), "0");
  args.insert(args.begin(), shas_[id]);
  args.insert(args.begin(), "EVALSHA");
  // When a connection fails under a script, only scripts that answer a
  // second run like the first are sent again: reads, group registration,
  // and claim, settle and take_due, which recognise their own earlier run
  // (same holder/epoch and `now`). The others fail and their callers retry
  // the operation: an append would answer `duplicate` for its own events,
  // a read or reclaim would skip the entries the first run took (they come
  // back through reclaim), a DLQ change would report 0, a trim would trim
  // and count more.
  bool repeatable = id != sc_append && id != sc_reclaim
                    && id != sc_dlq_remove && id != sc_trim;
  auto r = raw(args, op, repeatable);
  if (r->type == REDIS_REPLY_ERROR && str_of(r.get()).rfind("NOSCRIPT", 0) == 0) {
    // The server lost its script cache (restart, SCRIPT FLUSH): the script
    // did not run.
    load_scripts();
    args[1] = shas_[id];
    r = raw(args, op, repeatable);
  }
  if (r->type == REDIS_REPLY_ERROR) {
    auto msg = str_of(r.get());
    if (gc != gen_check::none && msg.rfind("GENERATION ", 0) == 0)
      generation_changed(op, msg.substr(11), gc);
    error_reply(r.get(), op, group);
  }
  return r;
}

void redis_store::error_reply(const redisReply* r, const std::string& op,
                              const std::string& group) {
  auto msg = str_of(r);
  if (msg.find("NOGROUP") != std::string::npos)
    fail(op, group.empty() ? msg : "unknown group '" + group + "'",
         store_error::kind::unknown_group);
  if (msg.find("WRONGTYPE") != std::string::npos) {
    check_types(op);
    fail(op, msg + " (a key under prefix '" + prefix_
               + "' has the wrong type)");
  }
  fail(op, msg);
}

void redis_store::check_types(const std::string& op) {
  std::vector<std::pair<std::string, std::string>> expect{
    {key("seq"), "string"},        {key("log"), "stream"},
    {key("groups"), "hash"},
    {key("epoch"), "string"},      {key("retry:due"), "zset"},
    {key("retry:data"), "hash"},   {key("dlq"), "stream"},
    {key("retry:taken"), "hash"},  {key("retry:seq"), "zset"},
    {key("trimmed"), "string"},    {key("log:t"), "zset"},
    {key("dlq:seq"), "string"},    {key("gen"), "string"},
    {key("layout"), "string"},
  };
  auto check = [&](const std::vector<std::pair<std::string, std::string>>& xs) {
    std::vector<std::vector<std::string>> cmds;
    for (auto& x : xs)
      cmds.push_back({"TYPE", x.first});
    auto replies = pipeline(cmds, op);
    for (size_t i = 0; i < xs.size(); ++i) {
      auto got = str_of(replies[i].get());
      if (replies[i]->type == REDIS_REPLY_ERROR)
        fail(op, "TYPE " + xs[i].first + ": " + got);
      if (got != "none" && got != xs[i].second)
        fail(op, "key '" + xs[i].first + "' holds a " + got + ", expected a "
                   + xs[i].second
                   + " (WRONGTYPE): not an onceflow store, or another "
                     "deployment uses the prefix '"
                   + prefix_ + "'");
    }
  };
  check(expect);
  // Per-group keys of the groups we know of.
  auto r = raw({"HKEYS", key("groups")}, op);
  if (!is_array(r.get()))
    return;
  std::vector<std::pair<std::string, std::string>> per_group;
  for (size_t i = 0; i < r->elements; ++i) {
    auto g = str_of(r->element[i]);
    per_group.emplace_back(gkey(g, "pel"), "zset");
    per_group.emplace_back(gkey(g, "st"), "hash");
    per_group.emplace_back(gkey(g, "rd"), "string");
    per_group.emplace_back(gkey(g, "rl"), "zset");
    per_group.emplace_back(gkey(g, "rlfrom"), "string");
    per_group.emplace_back(gkey(g, "proc"), "hash");
    per_group.emplace_back(gkey(g, "proc:dup"), "hash");
    per_group.emplace_back(gkey(g, "dead"), "hash");
  }
  if (!per_group.empty())
    check(per_group);
}

/// Splits a log entry's `d` field: priority, created_at, trace id, payload
/// (the payload last: it may hold any byte).
void unpack_fields(event& ev, std::string_view d) {
  std::string_view parts[3];
  for (auto& part : parts) {
    auto sep = d.find('\x1f');
    if (sep == std::string_view::npos)
      throw store_error("decode log entry: bad 'd' field");
    part = d.substr(0, sep);
    d.remove_prefix(sep + 1);
  }
  try {
    ev.prio = codec::priority_from_int(std::stoi(std::string(parts[0])));
    ev.created_at = std::stoll(std::string(parts[1]));
  } catch (const std::exception&) {
    throw store_error("decode log entry: bad 'd' field");
  }
  ev.trace_id = std::string(parts[2]);
  ev.payload = std::string(d);
}

event redis_store::decode_event(const redisReply* id,
                                const redisReply* fields) {
  event ev;
  auto sid = str_of(id);
  if (sid.size() > 2)
    ev.seq = std::stoull(sid.substr(2));
  if (!is_array(fields))
    return ev;
  for (size_t j = 0; j + 1 < fields->elements; j += 2) {
    auto name = str_of(fields->element[j]);
    auto* v = fields->element[j + 1];
    if (name == "i")
      ev.id = str_of(v);
    else if (name == "t")
      ev.type = str_of(v);
    else if (name == "p")
      ev.payload = str_of(v);
    else if (name == "r")
      ev.prio = codec::priority_from_int(int_of(v));
    else if (name == "c")
      ev.created_at = int_of(v);
    else if (name == "tr")
      ev.trace_id = str_of(v);
    else if (name == "d" && v != nullptr && v->type == REDIS_REPLY_STRING)
      unpack_fields(ev, std::string_view(v->str, v->len));
  }
  return ev;
}

delivery redis_store::decode_delivery(const std::string& text,
                                      const std::string& op) {
  try {
    return codec::delivery_from_json(text);
  } catch (const codec::decode_error& ex) {
    fail(op, ex.what());
  }
}

std::vector<attempt_record>
redis_store::decode_ledger(const std::string& value, const std::string& op) {
  // "<epoch> <at>" optionally followed by " <encoded attempts>"; the
  // attempts may contain spaces, so only the first two separate fields.
  auto sp1 = value.find(' ');
  auto sp2 = sp1 == std::string::npos ? sp1 : value.find(' ', sp1 + 1);
  auto head_end = sp2 == std::string::npos ? value.size() : sp2;
  std::vector<attempt_record> out;
  if (sp2 != std::string::npos) {
    try {
      out = codec::decode_attempts(value.substr(sp2 + 1));
    } catch (const codec::decode_error& ex) {
      fail(op, ex.what());
    }
  }
  if (out.empty()) {
    // Committed without a history (or before histories were kept): the
    // final attempt only, as far as the ledger knows it.
    if (sp1 == std::string::npos)
      fail(op, "decode ledger entry: bad value");
    attempt_record r;
    try {
      r.epoch = std::stoull(value.substr(0, sp1));
      r.at = std::stoll(value.substr(sp1 + 1, head_end - sp1 - 1));
    } catch (const std::exception&) {
      fail(op, "decode ledger entry: bad value");
    }
    out.push_back(std::move(r));
  }
  return out;
}

/// Reads g, status pairs from `r` starting at element `from`.
std::vector<group_status> read_statuses(const redisReply* r, size_t from) {
  std::vector<group_status> out;
  for (size_t i = from; i + 1 < r->elements; i += 2) {
    group_status gs;
    gs.group = str_of(r->element[i]);
    auto st = int_of(r->element[i + 1]);
    if (st < 0 || st > static_cast<int64_t>(event_status::dead))
      st = 0;
    gs.status = static_cast<event_status>(st);
    out.push_back(std::move(gs));
  }
  return out;
}

// -- log_port ----------------------------------------------------------------

void redis_store::ensure_group(const group_spec& spec) {
  take_notice("ensure_group");
  eval(sc_ensure_group,
       {spec.name, join_patterns(spec.patterns), spec.from_start ? "1" : "0"},
       "ensure_group", gen_check::reader, spec.name);
}

std::vector<append_result> redis_store::append(std::vector<event>& batch,
                                               millis_t now,
                                               millis_t dedup_window) {
  std::vector<append_result> out;
  if (batch.empty())
    return out;
  std::vector<std::string> args;
  args.reserve(3 + batch.size() * 4);
  args.push_back(std::to_string(now));
  args.push_back(std::to_string(dedup_window));
  // An id key lives for the window and for the retention of its event
  // (lookups by id), whichever is longer.
  args.push_back(std::to_string(
    std::max<millis_t>({dedup_window, opts_.retention_ms, 1})));
  for (auto& ev : batch) {
    auto created = std::to_string(ev.created_at != 0 ? ev.created_at : now);
    args.push_back(ev.id);
    args.push_back(ev.type);
    args.push_back(created);
    std::string packed;
    packed.reserve(created.size() + ev.trace_id.size() + ev.payload.size()
                   + 8);
    packed += std::to_string(static_cast<int>(ev.prio));
    packed += '\x1f';
    packed += created;
    packed += '\x1f';
    packed += ev.trace_id;
    packed += '\x1f';
    packed += ev.payload;
    args.push_back(std::move(packed));
  }
  // A batch is new input, not something held from old data: if the store
  // generation changed (this store object learns it here), it goes into
  // the new data, once more.
  auto known = gen_;
  reply_ptr r;
  try {
    r = eval(sc_append, args, "append", gen_check::check);
  } catch (const store_error&) {
    if (gen_ == known)
      throw;
    r = eval(sc_append, std::move(args), "append", gen_check::check);
  }
  if (!is_array(r.get()) || r->elements != batch.size() * 2)
    fail("append", "unexpected reply from the append script");
  out.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    append_result res;
    res.id = batch[i].id;
    res.duplicate = int_of(r->element[2 * i]) == 1;
    res.seq = u64_of(r->element[2 * i + 1]);
    if (res.duplicate) {
      auto st = eval(sc_status, {"seq", std::to_string(res.seq)}, "append",
                     gen_check::none);
      if (is_array(st.get()) && st->elements >= 2)
        res.original = aggregate(read_statuses(st.get(), 2));
    } else {
      batch[i].seq = res.seq;
      if (batch[i].created_at == 0)
        batch[i].created_at = now;
    }
    out.push_back(std::move(res));
  }
  return out;
}

std::vector<event> redis_store::read_group(const std::string& group,
                                           size_t max, millis_t now) {
  auto dls = read_impl(group, max, now, "", 0);
  std::vector<event> out;
  out.reserve(dls.size());
  for (auto& dl : dls)
    out.push_back(std::move(dl.ev));
  return out;
}

std::vector<delivery>
redis_store::read_leased(const std::string& group, size_t max, millis_t now,
                         const std::string& holder, millis_t ttl, uint32_t) {
  // Only entries without a state get a lease (a first claim), so the crash
  // budget never decides here.
  return read_impl(group, max, now, holder, ttl);
}

std::vector<delivery> redis_store::read_impl(const std::string& group,
                                             size_t max, millis_t now,
                                             const std::string& holder,
                                             millis_t ttl) {
  take_notice("read_group");
  if (max == 0) {
    // Still reports an unknown group.
    auto r = command({"HEXISTS", key("groups"), group}, "read_group");
    if (int_of(r.get()) != 1)
      fail("read_group", "unknown group '" + group + "'",
           store_error::kind::unknown_group);
    return {};
  }
  // A native XREADGROUP (its entries go to the client without passing
  // through a script) between two small scripts, in one MULTI/EXEC so
  // that nothing runs in between: the first notes the group's last
  // delivered seq, the second mirrors what the XREADGROUP delivered into
  // the PEL mirror (and acknowledges entries of other types); the last
  // command checks the store generation. The scripts go as EVAL (cached
  // by the server after the first): a server that lost its script cache
  // must not run the XREADGROUP without them.
  const std::string op = "read_group";
  std::vector<delivery> out;
  auto ttl_arg = ttl > 0 ? std::to_string(ttl) : std::string{};
  while (out.size() < max) {
    auto want = max - out.size();
    auto rs = pipeline(
      {{"MULTI"},
       {"EVAL", script_text(sc_read_before), "0", prefix_, group, ""},
       {"XREADGROUP", "GROUP", group, opts_.consumer, "COUNT",
        std::to_string(want), "STREAMS", key("log"), ">"},
       {"EVAL", script_text(sc_read_after), "0", prefix_, group,
        std::to_string(now), ttl > 0 ? holder : std::string{}, ttl_arg, ""},
       {"EVAL", script_text(sc_gen_check), "0", prefix_, gen_},
       {"EXEC"}},
      op, false);
    for (auto& r : rs)
      if (r->type == REDIS_REPLY_ERROR)
        error_reply(r.get(), op, group);
    auto* ex = rs.back().get();
    if (!is_array(ex) || ex->elements != 4)
      fail(op, "unexpected reply to the read transaction");
    // A new generation first: the group is then unknown as well.
    if (ex->element[3]->type == REDIS_REPLY_ERROR) {
      auto msg = str_of(ex->element[3]);
      if (msg.rfind("GENERATION ", 0) == 0)
        generation_changed(op, msg.substr(11), gen_check::reader);
      error_reply(ex->element[3], op, group);
    }
    for (size_t i = 0; i < 3; ++i)
      if (ex->element[i]->type == REDIS_REPLY_ERROR)
        error_reply(ex->element[i], op, group);
    auto* got = ex->element[1];
    auto* mirrored = ex->element[2];
    if (!is_array(got) || got->elements == 0 || !is_array(got->element[0])
        || got->element[0]->elements < 2)
      break; // Nothing new.
    auto* entries = got->element[0]->element[1];
    if (!is_array(entries) || !is_array(mirrored) || mirrored->elements < 3)
      fail(op, "unexpected reply to the read transaction");
    bool all = int_of(mirrored->element[0]) == 1;
    // Leases: seq q >= first has epoch base + q - first (base 0: none).
    auto base = u64_of(mirrored->element[1]);
    auto first = u64_of(mirrored->element[2]);
    // The seqs to hand out, unless the group takes every entry.
    std::unordered_set<uint64_t> take;
    for (size_t i = 3; i < mirrored->elements; ++i)
      take.insert(u64_of(mirrored->element[i]));
    for (size_t i = 0; i < entries->elements; ++i) {
      auto* e = entries->element[i];
      if (!is_array(e) || e->elements < 2)
        continue;
      delivery dl;
      dl.ev = decode_event(e->element[0], e->element[1]);
      if (!all && take.count(dl.ev.seq) == 0)
        continue;
      if (base > 0 && dl.ev.seq >= first) {
        dl.epoch = base + (dl.ev.seq - first);
        dl.lease_until = now + ttl;
      }
      dl.group = group;
      out.push_back(std::move(dl));
    }
    // Entries of other types were skipped: read on while the log may hold
    // more (a short read means it does not).
    if (all || entries->elements < want)
      break;
  }
  return out;
}

std::vector<event> redis_store::reclaim(const std::string& group,
                                        millis_t now, millis_t min_idle,
                                        size_t max) {
  take_notice("reclaim");
  auto r = eval(sc_reclaim,
                {group, opts_.consumer, std::to_string(now),
                 std::to_string(now - min_idle), std::to_string(max)},
                "reclaim", gen_check::reader, group);
  std::vector<event> out;
  if (!is_array(r.get()))
    return out;
  for (size_t i = 0; i < r->elements; ++i) {
    auto* e = r->element[i];
    if (!is_array(e) || e->elements < 2)
      continue;
    out.push_back(decode_event(e->element[0], e->element[1]));
  }
  std::sort(out.begin(), out.end(),
            [](const event& a, const event& b) { return a.seq < b.seq; });
  return out;
}

uint64_t redis_store::backlog(const std::string& group) {
  take_notice("backlog");
  constexpr size_t chunk = 10'000;
  std::string after;
  uint64_t pending = 0;
  uint64_t unread = 0;
  bool first = true;
  do {
    auto r = eval(sc_backlog, {group, after, std::to_string(chunk)},
                  "backlog", gen_check::reader, group);
    if (!is_array(r.get()) || r->elements != 3)
      fail("backlog", "unexpected reply from the backlog script");
    if (first)
      pending = u64_of(r->element[0]);
    first = false;
    unread += u64_of(r->element[1]);
    after = str_of(r->element[2]);
  } while (!after.empty());
  return pending + unread;
}

event redis_store::find(const std::string& id) {
  auto r = eval(sc_find, {id}, "find", gen_check::none);
  if (!is_array(r.get()) || r->elements < 2)
    return event{};
  return decode_event(r->element[0], r->element[1]);
}

// -- lease_port --------------------------------------------------------------

std::vector<claim_decision>
redis_store::claim(const std::vector<claim_request>& reqs,
                   const std::string& holder, millis_t now, millis_t ttl,
                   uint32_t crash_budget) {
  std::vector<claim_decision> out;
  if (reqs.empty())
    return out;
  std::vector<std::string> args;
  args.reserve(5 + reqs.size() * (verify_ ? 4 : 3));
  args.push_back(holder);
  args.push_back(std::to_string(now));
  args.push_back(std::to_string(ttl));
  args.push_back(std::to_string(crash_budget));
  args.push_back(verify_ ? "1" : "0");
  for (auto& rq : reqs) {
    args.push_back(rq.group);
    args.push_back(std::to_string(rq.seq));
    args.push_back(std::to_string(rq.takeover));
    if (verify_)
      args.push_back(rq.event_id);
  }
  auto r = eval(sc_claim, std::move(args), "claim", gen_check::check);
  if (!is_array(r.get()) || r->elements != reqs.size() * 4)
    fail("claim", "unexpected reply from the claim script");
  out.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    claim_decision d;
    d.kind = static_cast<claim_decision::kind_t>(int_of(r->element[4 * i]));
    d.epoch = u64_of(r->element[4 * i + 1]);
    d.expires_at = int_of(r->element[4 * i + 2]);
    d.redeliveries = static_cast<uint32_t>(int_of(r->element[4 * i + 3]));
    out.push_back(d);
  }
  return out;
}

std::vector<fence_decision>
redis_store::settle(const std::vector<settlement>& items, millis_t now) {
  std::vector<fence_decision> out;
  if (items.empty())
    return out;
  std::vector<std::string> args;
  args.reserve(2 + items.size() * 8);
  args.push_back(std::to_string(now));
  args.push_back(verify_ ? "1" : "0");
  for (auto& s : items) {
    args.push_back(std::to_string(static_cast<int>(s.kind)));
    args.push_back(s.dl.group);
    args.push_back(std::to_string(s.dl.ev.seq));
    args.push_back(std::to_string(s.dl.epoch));
    args.push_back(s.dl.ev.id);
    switch (s.kind) {
      case settle_kind::done:
        if (s.record_effect)
          args.push_back(dump(json{{"g", s.dl.group},
                                   {"i", s.dl.ev.id},
                                   {"s", s.dl.ev.seq},
                                   {"t", s.dl.ev.type},
                                   {"e", s.dl.epoch},
                                   {"a", s.dl.attempt},
                                   {"at", now}}));
        else
          args.emplace_back();
        args.push_back(codec::encode_attempts(s.dl.history));
        args.emplace_back();
        break;
      case settle_kind::retry: {
        auto doc = codec::to_json(s.dl);
        doc["attempt"] = s.dl.attempt + 1;
        doc["epoch"] = 0;
        args.push_back(std::to_string(s.due));
        args.push_back(dump(doc));
        args.emplace_back();
        break;
      }
      case settle_kind::dead:
        args.push_back(to_string(s.reason));
        args.push_back(s.error);
        args.push_back(dump(codec::to_json(s.dl)));
        break;
      default:
        args.emplace_back();
        args.emplace_back();
        args.emplace_back();
    }
  }
  auto r = eval(sc_settle, std::move(args), "settle", gen_check::check);
  if (!is_array(r.get()) || r->elements != items.size())
    fail("settle", "unexpected reply from the settle script");
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i)
    out.push_back(static_cast<fence_decision>(int_of(r->element[i])));
  return out;
}

// -- retry_port --------------------------------------------------------------

std::vector<delivery> redis_store::take_due(millis_t now, size_t max) {
  // Entries are marked taken by the script that returns them: whatever was
  // taken reaches the caller, also when a later round fails (the error
  // then surfaces on the next call). An entry whose data cannot be decoded
  // is skipped (it stays in the schedule, reported when nothing else is).
  std::vector<delivery> out;
  std::string bad;
  size_t offset = 0;
  auto call = std::to_string(++take_calls_);
  while (out.size() < max) {
    auto count = max - out.size();
    reply_ptr r;
    try {
      r = eval(sc_due,
               {std::to_string(now), std::to_string(offset),
                std::to_string(count), opts_.consumer, instance_,
                std::to_string(retry_hold_ms), call},
               "take_due", gen_check::check);
    } catch (const store_error&) {
      if (out.empty())
        throw;
      break;
    }
    if (!is_array(r.get()) || r->elements == 0)
      break;
    auto n = r->elements / 3;
    for (size_t i = 0; i < n && out.size() < max; ++i) {
      auto text = str_of(r->element[3 * i + 2]);
      if (text.empty())
        continue;
      try {
        out.push_back(codec::delivery_from_json(text));
      } catch (const codec::decode_error& ex) {
        bad = str_of(r->element[3 * i]) + ": " + ex.what();
      }
    }
    if (n < count)
      break;
    offset += n;
  }
  if (out.empty() && !bad.empty())
    fail("take_due", "bad entry in the retry schedule (" + bad + ")");
  return out;
}

millis_t redis_store::next_due() {
  auto r = eval(sc_next_due,
                {opts_.consumer, instance_, std::to_string(retry_hold_ms)},
                "next_due", gen_check::none);
  return int_of(r.get());
}

// -- dlq_port ----------------------------------------------------------------

std::vector<dlq_entry>
redis_store::read_dlq(const redisReply* r, std::vector<uint64_t>* positions,
                      std::vector<std::string>* groups,
                      const std::string& op) {
  std::vector<dlq_entry> out;
  if (!is_array(r))
    return out;
  for (size_t i = 0; i + 2 < r->elements; i += 3) {
    auto pos = u64_of(r->element[i]);
    auto* f = r->element[i + 1];
    dlq_entry e;
    e.dl = decode_delivery(str_of(r->element[i + 2]), op);
    std::string grp;
    if (is_array(f))
      for (size_t j = 0; j + 1 < f->elements; j += 2) {
        auto name = str_of(f->element[j]);
        auto* v = f->element[j + 1];
        if (name == "r") {
          if (!parse_dlq_reason(str_of(v), e.reason))
            fail(op, "decode dlq entry: bad reason");
        } else if (name == "e") {
          e.last_error = str_of(v);
        } else if (name == "t") {
          e.dead_at = int_of(v);
        } else if (name == "g") {
          grp = str_of(v);
        }
      }
    if (positions != nullptr)
      positions->push_back(pos);
    if (groups != nullptr)
      groups->push_back(std::move(grp));
    out.push_back(std::move(e));
  }
  return out;
}

dlq_page redis_store::dlq_list(const dlq_query& q) {
  dlq_page page;
  if (q.limit == 0)
    return page;
  auto r = eval(sc_dlq_read,
                {"list", std::to_string(q.after), std::to_string(q.limit),
                 q.group},
                "dlq_list", gen_check::none);
  page.entries = read_dlq(r.get(), &page.positions, nullptr, "dlq_list");
  return page;
}

std::vector<dlq_entry> redis_store::dlq_get(const std::string& event_id) {
  auto r = eval(sc_dlq_read, {"event", event_id}, "dlq_get",
                gen_check::none);
  return read_dlq(r.get(), nullptr, nullptr, "dlq_get");
}

size_t redis_store::dlq_replay(const std::string& event_id,
                               const std::string& group, millis_t now) {
  // Both steps check the generation: positions read from one data set
  // must not remove entries of another.
  auto r = eval(sc_dlq_read, {"event", event_id}, "dlq_replay",
                gen_check::check);
  std::vector<uint64_t> positions;
  std::vector<std::string> groups;
  auto entries = read_dlq(r.get(), &positions, &groups, "dlq_replay");
  std::vector<std::string> args{"replay", std::to_string(now)};
  size_t picked = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!group.empty() && groups[i] != group)
      continue;
    auto dl = entries[i].dl;
    dl.attempt = 1;
    dl.epoch = 0;
    dl.redeliveries = 0;
    args.push_back(std::to_string(positions[i]));
    args.push_back(dump(codec::to_json(dl)));
    ++picked;
  }
  if (picked == 0)
    return 0;
  auto n = eval(sc_dlq_remove, std::move(args), "dlq_replay",
                gen_check::check);
  return static_cast<size_t>(int_of(n.get()));
}

size_t redis_store::dlq_purge(const std::string& event_id) {
  if (event_id.empty()) {
    auto n = eval(sc_dlq_remove, {"purge_all", "0"}, "dlq_purge",
                  gen_check::none);
    return static_cast<size_t>(int_of(n.get()));
  }
  auto r = command({"SMEMBERS", key("dlq:ev:") + event_id}, "dlq_purge");
  if (!is_array(r.get()) || r->elements == 0)
    return 0;
  std::vector<std::string> args{"purge", "0"};
  for (size_t i = 0; i < r->elements; ++i)
    args.push_back(str_of(r->element[i]));
  auto n = eval(sc_dlq_remove, std::move(args), "dlq_purge",
                gen_check::check);
  return static_cast<size_t>(int_of(n.get()));
}

// -- processed_port ----------------------------------------------------------

std::vector<processed_record>
redis_store::processed_of(const std::string& event_id) {
  auto r = eval(sc_processed_of, {event_id}, "processed_of",
                gen_check::none);
  std::vector<processed_record> out;
  if (!is_array(r.get()))
    return out;
  for (size_t i = 0; i < r->elements; ++i) {
    try {
      auto doc = json::parse(str_of(r->element[i]));
      processed_record rec;
      doc.at("g").get_to(rec.group);
      doc.at("i").get_to(rec.event_id);
      doc.at("s").get_to(rec.seq);
      doc.at("t").get_to(rec.type);
      doc.at("e").get_to(rec.epoch);
      doc.at("a").get_to(rec.attempt);
      doc.at("at").get_to(rec.at);
      out.push_back(std::move(rec));
    } catch (const json::exception& ex) {
      fail("processed_of", std::string("decode record: ") + ex.what());
    }
  }
  std::sort(out.begin(), out.end(),
            [](const processed_record& a, const processed_record& b) {
              return std::tie(a.at, a.group) < std::tie(b.at, b.group);
            });
  return out;
}

// -- store -------------------------------------------------------------------

std::vector<group_status>
redis_store::status_of(const std::string& event_id) {
  auto r = eval(sc_status, {"id", event_id}, "status_of", gen_check::none);
  if (!is_array(r.get()) || r->elements < 2)
    return {};
  return read_statuses(r.get(), 2);
}

std::vector<group_history>
redis_store::history_of(const std::string& event_id) {
  const std::string op = "history_of";
  auto r = eval(sc_history, {event_id}, op, gen_check::none);
  std::vector<group_history> out;
  if (!is_array(r.get()) || r->elements < 1)
    return out;
  if ((r->elements - 1) % 3 != 0)
    fail(op, "unexpected reply from the history script");
  for (size_t i = 1; i + 2 < r->elements; i += 3) {
    group_history h;
    h.group = str_of(r->element[i]);
    auto st = int_of(r->element[i + 1]);
    if (st < 0 || st > static_cast<int64_t>(event_status::dead))
      st = 0;
    h.status = static_cast<event_status>(st);
    auto src = str_of(r->element[i + 2]);
    if (h.status == event_status::processed)
      h.attempts = decode_ledger(src, op);
    else if (!src.empty())
      h.attempts = decode_delivery(src, op).history;
    out.push_back(std::move(h));
  }
  std::sort(out.begin(), out.end(),
            [](const group_history& a, const group_history& b) {
              return a.group < b.group;
            });
  return out;
}

event_listing redis_store::list_events(const event_listing_query& q) {
  event_listing out;
  auto limit = std::max<size_t>(q.limit, 1);
  auto budget = std::min<size_t>(std::max<size_t>(limit * 4, 256), 5000);
  auto r = eval(sc_list_events,
                {std::to_string(static_cast<int>(q.status)), q.group,
                 std::to_string(q.after), std::to_string(limit),
                 std::to_string(budget)},
                "list_events", gen_check::none, q.group);
  if (!is_array(r.get()) || r->elements < 1 || (r->elements - 1) % 4 != 0)
    fail("list_events", "unexpected reply from the list_events script");
  out.next = u64_of(r->element[0]);
  out.items.reserve((r->elements - 1) / 4);
  for (size_t i = 1; i + 3 < r->elements; i += 4) {
    event_listing_item it;
    it.group = str_of(r->element[i]);
    it.event_id = str_of(r->element[i + 1]);
    it.type = str_of(r->element[i + 2]);
    it.seq = u64_of(r->element[i + 3]);
    it.status = q.status;
    out.items.push_back(std::move(it));
  }
  // The script lists the groups of one seq in hash order.
  std::sort(out.items.begin(), out.items.end(),
            [](const event_listing_item& a, const event_listing_item& b) {
              return std::tie(a.seq, a.group) < std::tie(b.seq, b.group);
            });
  return out;
}

void redis_store::ping() {
  command({"PING"}, "ping");
}

} // namespace

store_ptr make_redis_store(const redis_options& opts) {
  return std::make_unique<redis_store>(opts);
}

} // namespace onceflow
