-- ARGV: P, id. Returns {} or {id, fields}.

local e = find_entry(ARGV[2])
if not e or not e[2] then return {} end
return e
