-- A node name's claim (run with EVAL, without the prelude; see
-- redis_startup.hpp). KEYS: the name's key (node:<name>); ARGV: the value
-- the key must hold ('': it must be missing), the value to set ('':
-- delete the key), its TTL in ms. Also done if the key holds the value to
-- set already (a renewal). Reply: 1 if done, else what the key holds (0 if
-- it is missing).

local v = redis.call('GET', KEYS[1])
if v == ARGV[2] or v == ARGV[1] or (v == false and ARGV[1] == '') then
  if ARGV[2] == '' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  end
  return 1
end
return v or 0
