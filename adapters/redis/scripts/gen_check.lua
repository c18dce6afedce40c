-- Checks the store generation only (the prelude does; ARGV: P).

return 1
