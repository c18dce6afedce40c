-- The native read (see redis_store::read_group): runs in one MULTI/EXEC
-- around the XREADGROUP. ARGV: P, group. Notes the group's last delivered
-- seq in `g:<g>:rd`, so that read_after.lua knows what the XREADGROUP
-- after it delivered.

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
